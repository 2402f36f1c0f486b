/**
 * End-to-end tests of the staff dashboard (dashboard/*) in real headless Chromium, against the BUILT worker running
 * in Miniflare with the dashboard as static assets and loopback fakes of Gmail/OAuth/LLM (tests/support/worker.mjs).
 * Run: node --test tests/dashboard.test.mjs   (needs build/worker/shim.mjs and /usr/bin/chromium)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { ADMIN, FIXTURES, MAILBOX, emlFiles, startEdgedesk } from './support/worker.mjs';

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const SCREENSHOT = '/tmp/dashboard-ticket.png';
const SESSION_KEY = 'edgedesk.session';

const DEMO_SUBJECTS = {
  'TKT-000001': 'URGENT: Order #48213 never arrived and your site is not working',
  'TKT-000002': 'Refund for double charge on invoice INV-2291?',
  'TKT-000003': 'Suggestion: more sizes and colours for the Ridge rain jacket',
};

/** One harness + browser per suite; `close()` always disposes both, even if one of them fails. */
async function setup({ eml = [] } = {}) {
  const h = await startEdgedesk({ eml });
  let browser;
  try {
    browser = await chromium.launch(CHROMIUM);
  } catch (error) {
    await h.dispose();
    throw error;
  }
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error));
  return {
    h, browser, context, page, pageErrors,
    async close() {
      try {
        await browser.close();
      } finally {
        await h.dispose();
      }
    },
  };
}

async function login(page, url, { email = ADMIN.email, password = ADMIN.password } = {}) {
  await page.goto(`${url}/`);
  await page.locator('#login-form').waitFor({ state: 'visible' });
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
}

const storedSession = (page) => page.evaluate((key) => sessionStorage.getItem(key), SESSION_KEY);

/** Ticket numbers currently in the table, in display order. */
const tableNumbers = (page) => page.locator('#ticket-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.ticketNumber));

/** Decodes a raw RFC 5322 message as messages.send receives it: headers plus the transfer-decoded body. */
function decodeRaw(raw) {
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  let body = split ? text.slice(split.index + split[0].length) : '';
  const cte = /^content-transfer-encoding:\s*([^\s;]+)/im.exec(head)?.[1]?.toLowerCase();
  if (cte === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (cte === 'quoted-printable') {
    body = Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
  }
  return { head, body: body.replace(/\r\n/g, '\n') };
}

const sendRequests = (fakes) => fakes.requests.filter((r) => r.method === 'POST' && /\/messages\/send(?:\?|$)/.test(r.path));

describe('staff dashboard', () => {
  let env;
  let page;
  let h;
  before(async () => {
    env = await setup({ eml: emlFiles(FIXTURES) });
    ({ page, h } = env);
  });
  after(async () => {
    await env?.close();
  });

  test('a wrong password shows the API error and stores no token', async () => {
    await login(page, h.url, { password: 'not-the-password' });
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /wrong e-mail or password/);
    assert.equal(await storedSession(page), null);
    assert.ok(await page.locator('#list-view').isHidden());
  });

  test('logging in shows the (empty) ticket list and keeps the token in sessionStorage', async () => {
    await page.fill('#password', ADMIN.password);
    await page.click('#login-form button[type=submit]');
    await page.locator('#list-view').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#login-view').isHidden());
    assert.ok(await page.locator('#login-error').isHidden());
    assert.match(await page.textContent('#whoami'), /Owner \(owner\)/);
    const session = JSON.parse(await storedSession(page));
    assert.match(session.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await page.locator('#list-empty').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#ticket-table tbody tr').count(), 0);
  });

  test('"Poll Gmail now" reports the poll and the new tickets appear in the table', async () => {
    await page.click('#poll-button');
    const result = page.locator('#poll-result');
    await result.waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#poll-result').textContent.startsWith('Poll done'));
    const summary = await result.textContent();
    // 5 demo mails: 3 new tickets, the follow-up appended to TKT-000001, the out-of-office skipped.
    assert.match(summary, /fetched 5/);
    assert.match(summary, /3 new tickets/);
    assert.match(summary, /1 appended/);
    assert.match(summary, /1 skipped/);
    assert.doesNotMatch(summary, /error/);

    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 3);
    assert.deepEqual((await tableNumbers(page)).sort(), Object.keys(DEMO_SUBJECTS));
    for (const [number, subject] of Object.entries(DEMO_SUBJECTS)) {
      const row = page.locator(`#ticket-table tbody tr[data-ticket-number="${number}"]`);
      assert.equal(await row.locator('td.subject').textContent(), subject);
    }
    const urgent = page.locator('#ticket-table tbody tr[data-ticket-number="TKT-000001"]');
    assert.equal(await urgent.locator('td.customer').textContent(), 'Priya Raman');
    assert.equal(await urgent.locator('.badge.status-open').textContent(), 'open');
    assert.equal(await urgent.locator('.badge.priority-urgent').textContent(), 'urgent');
    assert.equal(await urgent.locator('td.category').textContent(), 'order');
    assert.ok(await page.locator('#load-more').isHidden(), 'no next page for 3 tickets');
  });

  test('the search box and the status filter narrow the list', async () => {
    await page.fill('#search', 'refund');
    await page.press('#search', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 1);
    assert.deepEqual(await tableNumbers(page), ['TKT-000002']);

    await page.fill('#search', '');
    await page.press('#search', 'Enter');
    await page.selectOption('#status-filter', 'resolved');
    await page.locator('#list-empty').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#ticket-table tbody tr').count(), 0);

    await page.selectOption('#status-filter', '');
    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 3);
  });

  test('an unanswered ticket past its SLA is shown as overdue', async () => {
    // The urgent ticket's SLA is one hour; a second tab whose clock runs three hours ahead sees it overdue.
    const context = await env.browser.newContext();
    try {
      const later = await context.newPage();
      later.setDefaultTimeout(15_000);
      later.on('pageerror', (error) => env.pageErrors.push(error));
      await later.clock.setFixedTime(Date.now() + 3 * 3600_000);
      await login(later, h.url);
      await later.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 3);
      const sla = (number) => later.locator(`#ticket-table tbody tr[data-ticket-number="${number}"] td.sla`).textContent();
      assert.equal(await sla('TKT-000001'), 'overdue');
      assert.notEqual(await sla('TKT-000002'), 'overdue'); // medium: 24 h
      assert.notEqual(await sla('TKT-000003'), 'overdue'); // low: 72 h
    } finally {
      await context.close();
    }
    // At the real time nothing is overdue yet.
    assert.equal(await page.locator('#ticket-table .badge.overdue').count(), 0);
  });

  test('opening the urgent ticket shows both customer messages in order and the AI draft', async () => {
    await page.click('#ticket-table tbody tr[data-ticket-number="TKT-000001"] td.subject');
    await page.waitForURL(/#\/tickets\/TKT-000001$/);
    await page.locator('#ticket-view #thread').waitFor({ state: 'visible' });

    assert.equal(await page.textContent('#ticket-number'), 'TKT-000001');
    assert.equal(await page.textContent('#ticket-subject'), DEMO_SUBJECTS['TKT-000001']);
    assert.equal(await page.textContent('#ticket-customer'), 'Priya Raman <priya.raman@example.com>');
    assert.equal(await page.inputValue('#status-select'), 'open');
    assert.equal(await page.inputValue('#priority-select'), 'urgent');

    const messages = page.locator('#thread .msg');
    assert.equal(await messages.count(), 2);
    assert.equal(await page.locator('#thread .msg.customer').count(), 2);
    const bodies = await page.locator('#thread .msg .msg-body').allTextContents();
    assert.match(bodies[0], /^Hello,\n\nI placed order #48213 on 20 May/);
    assert.match(bodies[1], /^Hi again,\n\nStill no reply and still no parcel/);
    assert.equal(await page.locator('#thread .msg-body').first().evaluate((n) => getComputedStyle(n).whiteSpace), 'pre-wrap');

    const { json } = await h.api('GET', '/api/v1/tickets/TKT-000001', { token: await h.login() });
    assert.equal(json.draft.source, 'llm');
    assert.ok(json.draft.content);
    assert.equal(await page.inputValue('#draft-text'), json.draft.content);
    assert.match(await page.inputValue('#draft-text'), /Still no reply/, 'the fake LLM quotes the newest customer mail');
    assert.equal(await page.textContent('#draft-source'), 'AI draft');
    assert.match(await page.textContent('#draft-status'), /saved as Gmail draft/);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test('sending the edited draft replies through Gmail in the thread and shows the agent message', async () => {
    const edited = 'Hi Priya,\n\nSorry about order #48213 - a replacement ships by express today.\nTracking follows by e-mail.\n\nBest regards,\nSupport';
    await page.fill('#draft-text', edited);
    await page.click('#send-reply');
    await page.locator('#thread .msg.agent').waitFor({ state: 'visible' });

    const sends = sendRequests(h.fakes);
    assert.equal(sends.length, 1);
    const request = JSON.parse(sends[0].body);
    const { head, body } = decodeRaw(request.raw);
    assert.ok(body.includes(edited), `sent body should contain the edited text, got:\n${body}`);
    assert.match(head, /^In-Reply-To:\s*<CAF7m2Q3r8Yb2Nd5Hs6u@mail\.example\.com>/im);
    assert.match(head, /^References:[^\n]*<CAF7m2Q1x9Zt4Lw8Kq3v@mail\.example\.com>/im);
    assert.match(head, /^To:.*priya\.raman@example\.com/im);
    assert.match(head, new RegExp(`^From:.*${MAILBOX.replace(/\./g, '\\.')}`, 'im'));
    assert.equal(h.fakes.sent.length, 1);
    assert.equal(h.fakes.sent[0].threadId, request.threadId, 'the reply joined the customer thread in Gmail');

    const kinds = await page.locator('#thread .msg').evaluateAll((nodes) => nodes.map((n) => n.dataset.senderType));
    assert.deepEqual(kinds, ['customer', 'customer', 'agent']);
    assert.equal(await page.locator('#thread .msg.agent .msg-body').textContent(), edited);
    assert.match(await page.textContent('#ticket-notice'), /Reply sent/);
    // The draft is superseded by the reply: the panel is now a plain reply box.
    assert.equal(await page.locator('#draft-text').count(), 0);
    assert.equal(await page.inputValue('#reply-text'), '');
  });

  test('changing the status to resolved persists across a reload', async () => {
    await page.selectOption('#status-select', 'resolved');
    await page.waitForFunction(() => /saved: resolved/.test(document.querySelector('#patch-result')?.textContent ?? ''));
    assert.equal(await page.textContent('#ticket-badges .badge.status-resolved'), 'resolved');

    await page.reload();
    await page.locator('#ticket-view #thread').waitFor({ state: 'visible' });
    assert.equal(await page.inputValue('#status-select'), 'resolved');
    const { json } = await h.api('GET', '/api/v1/tickets/TKT-000001', { token: await h.login() });
    assert.equal(json.ticket.status, 'resolved');
    assert.ok(json.ticket.resolved_at);
    assert.ok(json.ticket.first_response_at);
  });

  test('logout clears the token, and a rejected token (401) goes back to the login form', async () => {
    await page.click('#logout-button');
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.equal(await storedSession(page), null);
    assert.ok(await page.locator('#ticket-view').isHidden());

    await page.evaluate((key) => sessionStorage.setItem(key, JSON.stringify({ token: 'not.a.token' })), SESSION_KEY);
    await page.reload(); // the app starts with the stored (bogus) token and its first API call answers 401
    await page.locator('#login-error').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#login-error'), /session has ended/);
    assert.equal(await storedSession(page), null);
    assert.ok(await page.locator('#list-view').isHidden());
  });

  test('the page raised no JavaScript errors', () => {
    assert.deepEqual(env.pageErrors.map(String), []);
  });
});

describe('staff dashboard: customer content', () => {
  let env;
  before(async () => {
    env = await setup();
  });
  after(async () => {
    await env?.close();
  });

  test('HTML and scripts in a customer e-mail are shown as text and never run', async () => {
    const { page, h } = env;
    const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    const subject = 'Help <img src=x onerror="window.__pwned=3">';
    h.fakes.addMessage({
      raw: [
        'From: Mallory <mallory@example.com>',
        `To: ${MAILBOX}`,
        `Subject: ${subject}`,
        'Message-ID: <xss-test-1@example.com>',
        'Date: Mon, 02 Jun 2025 16:00:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=UTF-8',
        'Content-Transfer-Encoding: 7bit',
        '',
        payload,
        '',
      ].join('\r\n'),
    });

    await login(page, h.url);
    await page.locator('#list-view').waitFor({ state: 'visible' });
    await page.click('#poll-button');
    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 1);
    assert.equal(await page.textContent('#ticket-table tbody tr td.subject'), subject);

    await page.click('#ticket-table tbody tr td.subject');
    await page.waitForURL(/#\/tickets\/TKT-000001$/);
    await page.locator('#thread .msg.customer').waitFor({ state: 'visible' });
    await page.waitForTimeout(300); // give an injected onerror handler the chance to fire

    assert.equal(await page.textContent('#thread .msg.customer .msg-body'), payload);
    assert.ok(await page.getByText(payload, { exact: true }).isVisible(), 'the literal markup is visible as text');
    assert.equal(await page.textContent('#ticket-subject'), subject);
    assert.equal(await page.locator('#ticket-view img, #ticket-view script, #ticket-table img').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    if (await page.locator('#draft-text').count()) {
      assert.ok((await page.inputValue('#draft-text')).includes('<img src=x'), 'draft text is a plain textarea value');
    }
    assert.deepEqual(env.pageErrors.map(String), []);
  });

  test('attachments are listed (names as text) and an appended auto-reply is marked', async () => {
    const { page, h } = env;
    const evilName = '<img src=x onerror=window.__pwned=5>.pdf'; // no quotes: it sits in a quoted MIME parameter
    h.fakes.addMessage({
      raw: [
        'From: Ana Silva <ana.silva@example.com>',
        `To: ${MAILBOX}`,
        'Subject: Photo of the damaged box',
        'Message-ID: <attachments-1@example.com>',
        'Date: Mon, 02 Jun 2025 16:10:00 +0000',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b-outer"',
        '',
        '--b-outer',
        'Content-Type: text/plain; charset=UTF-8',
        '',
        'The box arrived crushed, photo and invoice attached.',
        '--b-outer',
        'Content-Type: image/jpeg; name="box.jpg"',
        'Content-Disposition: attachment; filename="box.jpg"',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.alloc(2048, 7).toString('base64').replace(/.{76}/g, '$&\r\n'),
        '--b-outer',
        'Content-Type: application/pdf',
        `Content-Disposition: attachment; filename="${evilName}"`,
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from('%PDF-1.4 fake').toString('base64'),
        '--b-outer--',
        '',
      ].join('\r\n'),
    });
    h.fakes.addMessage({
      raw: [
        'From: Ana Silva <ana.silva@example.com>',
        `To: ${MAILBOX}`,
        'Subject: Automatic reply: Photo of the damaged box',
        'Message-ID: <attachments-1-ooo@example.com>',
        'In-Reply-To: <attachments-1@example.com>',
        'References: <attachments-1@example.com>',
        'Date: Mon, 02 Jun 2025 16:11:00 +0000',
        'Auto-Submitted: auto-replied',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=UTF-8',
        '',
        'I am away until Monday.',
        '',
      ].join('\r\n'),
    });

    await page.goto(`${h.url}/#/tickets`);
    await page.locator('#list-view').waitFor({ state: 'visible' });
    await page.click('#poll-button');
    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 2);
    assert.match(await page.textContent('#poll-result'), /1 new ticket, 1 appended/);

    await page.click('#ticket-table tbody tr td.subject:text-is("Photo of the damaged box")');
    await page.waitForURL(/#\/tickets\/TKT-\d{6}$/);
    await page.locator('#thread .msg').nth(1).waitFor({ state: 'visible' });

    const first = page.locator('#thread .msg').nth(0);
    assert.deepEqual(await first.locator('.attachments .att-name').allTextContents(), ['box.jpg', evilName]);
    assert.match(await first.locator('.attachments li').first().textContent(), /image\/jpeg, 2\.0 KB/);
    assert.equal(await first.locator('[data-testid=auto-marker]').count(), 0);

    const auto = page.locator('#thread .msg').nth(1);
    assert.equal(await auto.getAttribute('data-sender-type'), 'customer');
    assert.match(await auto.locator('[data-testid=auto-marker]').textContent(), /auto/i);
    assert.equal(await auto.locator('.msg-body').textContent(), 'I am away until Monday.');

    await page.waitForTimeout(300);
    assert.equal(await page.locator('#ticket-view img').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.deepEqual(env.pageErrors.map(String), []);
  });
});

describe('staff dashboard: pagination', () => {
  let env;
  before(async () => {
    env = await setup();
  });
  after(async () => {
    await env?.close();
  });

  test('"Load more" fetches the next page with next_cursor until the list is complete', async () => {
    const { page, h } = env;
    const total = 30;
    for (let i = 1; i <= total; i += 1) {
      const n = String(i).padStart(2, '0');
      h.fakes.addMessage({
        raw: [`From: Customer ${n} <customer${n}@example.com>`, `To: ${MAILBOX}`, `Subject: Question number ${n}`,
          `Message-ID: <page-${n}@example.com>`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=UTF-8', '',
          `Question ${n}, please help.`, ''].join('\r\n'),
        internalDate: Date.now() - (total - i) * 1000,
      });
    }
    await login(page, h.url);
    await page.locator('#list-view').waitFor({ state: 'visible' });
    // One poll ingests at most POLL_MAX_MESSAGES; poll until every mail became a ticket.
    for (let polls = 0; polls < 5 && (await h.rows('SELECT COUNT(*) AS n FROM tickets'))[0].n < total; polls += 1) {
      await page.click('#poll-button');
      await page.waitForFunction(() => document.querySelector('#poll-result').textContent.startsWith('Poll done'));
      await page.waitForFunction(() => !document.querySelector('#poll-button').disabled);
    }
    await page.waitForFunction(() => document.querySelectorAll('#ticket-table tbody tr').length === 25);
    assert.ok(await page.locator('#load-more').isVisible());
    await page.click('#load-more');
    await page.waitForFunction((n) => document.querySelectorAll('#ticket-table tbody tr').length === n, total);
    const numbers = await tableNumbers(page);
    assert.equal(new Set(numbers).size, total, 'no ticket shown twice');
    assert.ok(await page.locator('#load-more').isHidden(), 'no further page');
    assert.deepEqual(env.pageErrors.map(String), []);
  });
});
