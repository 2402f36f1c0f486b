/**
 * End-to-end tests of the staff dashboard (dashboard/, the Vite build in dashboard/dist) in headless Chromium,
 * against the BUILT worker in Miniflare with local D1, the TenantHub Durable Object and the loopback fakes of
 * Gmail/OAuth/LLM (tests/support/worker.mjs). One worker per describe; tests inside a describe run in order and
 * build on each other (like an agent's shift).
 *
 * Run: source scripts/env.sh && vite build dashboard && node --test --test-concurrency=1 tests/dashboard.test.mjs
 * Screenshots: test-output/screens/*.png (with UPDATE_DOC_SCREENS=1, inbox and ticket also to docs/screens/).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { ADMIN, FIXTURES, MAILBOX, ROOT, emlFiles, startEdgedesk } from './support/worker.mjs';
import { email } from './support/mail.mjs';
import { decodeMessage, launch, login, openPage, rowNumbers, screenshot, settle, waitForRows } from './support/browser.mjs';

const DEMO_SUBJECTS = {
  'TKT-000001': 'URGENT: Order #48213 never arrived and your site is not working',
  'TKT-000002': 'Refund for double charge on invoice INV-2291?',
  'TKT-000003': 'Suggestion: more sizes and colours for the Ridge rain jacket',
};
const DEMO = Object.keys(DEMO_SUBJECTS);

/** Fails with the page errors listed, if any. */
function assertNoPageErrors(...lists) {
  assert.deepEqual(lists.flat().map(String), []);
}

/** A staff member created through the API (as the owner), with their temporary password replaced by `password`. */
async function createStaff(h, ownerToken, { email: address, name, role, password }) {
  const created = await h.api('POST', '/api/v1/staff', { token: ownerToken, body: { email: address, name, role } });
  assert.equal(created.status, 201, created.text);
  const temp = created.json.temporary_password;
  const token = await h.login(address, temp);
  const changed = await h.api('POST', '/api/v1/auth/password', { token, body: { current_password: temp, new_password: password } });
  assert.equal(changed.status, 200, changed.text);
  return created.json.staff;
}

describe('dashboard: an agent shift', () => {
  let h;
  let browser;
  let page;
  let context;
  let errors;
  let token;
  let owner;
  let anaTempPassword;
  const extraErrors = [];

  before(async () => {
    h = await startEdgedesk({ eml: emlFiles(FIXTURES) });
    browser = await launch();
    ({ page, context, errors } = await openPage(browser));
    token = await h.login();
  });
  after(async () => {
    await browser?.close();
    await h?.dispose();
  });

  const ticketApi = async (id) => (await h.api('GET', `/api/v1/tickets/${id}`, { token })).json;

  test('login: a wrong password shows the API error; the session is an HttpOnly cookie', async () => {
    await page.goto(`${h.url}/`);
    await page.getByTestId('login-form').waitFor();
    await screenshot(page, 'login');

    await login(page, h.url, { password: 'not-the-password', expect: 'none' });
    const error = page.getByTestId('login-error');
    await error.waitFor();
    assert.ok((await error.textContent()).trim().length > 0);
    assert.equal(await page.getByTestId('nav-inbox').count(), 0);

    await page.getByTestId('login-password').fill(ADMIN.password);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('nav-inbox').waitFor();
    owner = (await h.api('GET', '/api/v1/auth/me', { token })).json.staff;
    assert.match(await page.getByTestId('whoami').textContent(), new RegExp(owner.name));

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'edgedesk_session');
    assert.ok(session, 'the login set the session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('edgedesk_session'), 'document.cookie cannot read it');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ[\w-]+\.[\w-]+\./, 'no JWT in web storage');
  });

  test('"Poll Gmail now" shows the report and the demo tickets appear in the inbox', async () => {
    await page.getByTestId('poll-button').click();
    await page.getByTestId('poll-result').waitFor();
    assert.equal(await page.getByTestId('poll-fetched').textContent(), '5');
    assert.equal(await page.getByTestId('poll-created').textContent(), '3');
    await waitForRows(page, DEMO);

    for (const [number, subject] of Object.entries(DEMO_SUBJECTS)) {
      const row = page.locator(`[data-testid=ticket-row][data-ticket-number="${number}"]`);
      assert.equal(await row.getByTestId('row-subject').textContent(), subject);
    }
    const urgent = page.locator('[data-testid=ticket-row][data-ticket-number="TKT-000001"]');
    assert.equal(await urgent.getByTestId('row-customer').textContent(), 'Priya Raman');
    assert.equal(await urgent.getByTestId('row-priority').getAttribute('data-value'), 'urgent');
    assert.equal(await urgent.getByTestId('row-status').getAttribute('data-value'), 'open');
    assert.match(await urgent.getByTestId('row-assignee').textContent(), /Unassigned/);
    assert.match(await urgent.getByTestId('sla').textContent(), /^in \d/);
    assert.equal(await page.getByTestId('view-open').getAttribute('aria-current'), 'page');
    assert.equal(await page.getByTestId('load-more').count(), 0, 'three tickets fit one page');
  });

  test('filters (priority, status), views and sort narrow the list', async () => {
    await page.getByTestId('filter-priority').selectOption('urgent');
    await waitForRows(page, ['TKT-000001']);
    assert.match(page.url(), /priority=urgent/);
    await page.getByTestId('filter-priority').selectOption('');
    await waitForRows(page, DEMO);

    await page.getByTestId('filter-status').selectOption('resolved');
    await page.getByTestId('inbox-empty').waitFor();
    await page.getByTestId('clear-filters').click();
    await waitForRows(page, DEMO);

    await page.getByTestId('view-mine').click();
    await page.getByTestId('inbox-empty').waitFor();
    assert.equal(await page.getByTestId('view-mine').getAttribute('aria-current'), 'page');
    assert.equal(await page.getByTestId('view-open').getAttribute('aria-current'), null);
    await page.getByTestId('view-unassigned').click();
    await waitForRows(page, DEMO);

    await page.getByTestId('sort').selectOption('priority');
    await page.waitForFunction(() => document.querySelector('[data-testid=ticket-row]')?.dataset.ticketNumber === 'TKT-000001');
    await page.getByTestId('view-open').click();
    await waitForRows(page, DEMO);
  });

  test('search (full text) finds a ticket by a word that is only in a message body', async () => {
    const search = page.getByTestId('search');
    await search.fill('petite'); // only in the HTML body of Mei Lin's mail
    await search.press('Enter');
    await waitForRows(page, ['TKT-000003']);
    await search.fill('Larch'); // only in Priya's follow-up, appended to TKT-000001
    await search.press('Enter');
    await waitForRows(page, ['TKT-000001']);
    await search.fill('');
    await search.press('Enter');
    await waitForRows(page, DEMO);
  });

  test('opening a ticket shows the thread in order and the AI draft in the composer', async () => {
    await page.locator('[data-testid=ticket-row][data-ticket-number="TKT-000001"]').getByTestId('row-subject').click();
    await page.waitForURL(/\/tickets\/TKT-000001$/);
    await page.getByTestId('thread').waitFor();
    assert.equal(await page.getByTestId('ticket-number').textContent(), 'TKT-000001');
    assert.equal(await page.getByTestId('ticket-subject').textContent(), DEMO_SUBJECTS['TKT-000001']);
    assert.equal(await page.getByTestId('customer-email').textContent(), 'priya.raman@example.com');

    const kinds = await page.getByTestId('message').evaluateAll((n) => n.map((m) => m.dataset.senderType));
    assert.deepEqual(kinds, ['customer', 'customer']);
    const bodies = await page.getByTestId('message-body').allTextContents();
    assert.match(bodies[0], /^Hello,\n\nI placed order #48213/);
    assert.match(bodies[1], /^Hi again,\n\nStill no reply/);

    const { draft } = await ticketApi('TKT-000001');
    assert.equal(draft.source, 'llm');
    const composer = page.getByTestId('composer-text');
    await page.waitForFunction((text) => document.querySelector('[data-testid=composer-text]')?.value === text, draft.content);
    assert.equal(await composer.getAttribute('data-from-draft'), 'true');
    assert.equal(await page.getByTestId('draft-badge').textContent(), 'AI draft');
    await page.getByTestId('composer').scrollIntoViewIfNeeded();
    await screenshot(page, 'ticket', { doc: true });
  });

  test('the edited draft is sent through Gmail in the customer thread, with its edit distance recorded', async () => {
    const before = await ticketApi('TKT-000001');
    const edited = 'Hi Priya,\n\nSorry about order #48213: a replacement ships by express today.\nTracking follows by e-mail.\n\nBest regards,\nSupport';
    await page.getByTestId('composer-text').fill(edited);
    await page.getByTestId('send-status').selectOption('pending');
    await page.getByTestId('send-button').click();
    await page.locator('[data-testid=message][data-sender-type=agent]').waitFor();

    assert.equal(h.fakes.sent.length, 1);
    const sent = h.fakes.sent[0];
    assert.equal(sent.threadId, before.messages[0].gmail_thread_id, 'the reply joined the customer thread in Gmail');
    const { head, body } = decodeMessage(sent.raw);
    assert.ok(body.includes(edited), `the sent body holds the edited text:\n${body}`);
    assert.match(head, /^To:.*priya\.raman@example\.com/im);
    assert.match(head, new RegExp(`^From:.*${MAILBOX.replace(/\./g, '\\.')}`, 'im'));

    const after = await ticketApi('TKT-000001');
    const sentEvent = after.events.find((e) => e.kind === 'draft_sent');
    assert.ok(sentEvent, `a draft_sent event: ${JSON.stringify(after.events.map((e) => e.kind))}`);
    assert.ok(sentEvent.detail.edit_distance > 0);
    assert.equal(after.ticket.status, 'pending');
    assert.equal(after.draft, null);

    await page.locator('[data-testid=event][data-kind=draft_sent]').waitFor();
    await page.locator('[data-testid=ticket-status][data-value=pending]').waitFor();
    assert.equal(await page.locator('[data-testid=message][data-sender-type=agent] [data-testid=message-body]').textContent(), edited);
    assert.equal(await page.getByTestId('composer-text').inputValue(), '');
    assert.equal(await page.getByTestId('draft-banner').count(), 0);
  });

  test('an internal note (key n) is shown as a note and not sent to Gmail', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('n');
    await page.locator('[data-testid=composer][data-mode=note]').waitFor();
    await page.waitForFunction(() => document.activeElement?.dataset.testid === 'composer-text');
    const text = 'Called the courier: parcel is stuck in Leeds depot.';
    await page.keyboard.type(text);
    await page.getByTestId('note-button').click();
    const note = page.locator('[data-testid=message][data-sender-type=note]');
    await note.waitFor();
    assert.equal(await note.getByTestId('message-kind').textContent(), 'Internal note');
    assert.equal(await note.getByTestId('message-body').textContent(), text);
    const colors = await page.evaluate(() => ['customer', 'note'].map((k) =>
      getComputedStyle(document.querySelector(`[data-testid=message][data-sender-type=${k}]`)).backgroundColor));
    assert.notEqual(colors[0], colors[1], 'notes look different from customer mail');
    assert.equal(h.fakes.sent.length, 1, 'nothing more was sent');
    const { messages } = await ticketApi('TKT-000001');
    assert.equal(messages.filter((m) => m.sender_type === 'note').length, 1);
  });

  test('"Assign to me" assigns the ticket and logs it', async () => {
    await page.getByTestId('assign-me').click();
    await page.waitForFunction((id) => document.querySelector('[data-testid=field-assignee]')?.value === id, owner.staff_id);
    await page.locator('[data-testid=event][data-kind=assigned]').waitFor();
    assert.equal((await ticketApi('TKT-000001')).ticket.assigned_to, owner.staff_id);
    assert.equal(await page.getByTestId('assign-me').count(), 0);
  });

  test('canned responses: created on their page, inserted with /shortcut + Tab and from the picker', async () => {
    await page.getByTestId('nav-canned').click();
    await page.getByTestId('canned-new').click();
    await page.getByTestId('canned-title').fill('Greeting');
    await page.getByTestId('canned-shortcut').fill('greet');
    await page.getByTestId('canned-body').fill('Hi {{customer_name}}, thanks for contacting us about {{ticket_number}}.');
    await page.getByTestId('canned-save').click();
    await page.locator('[data-testid=canned-item][data-shortcut=greet]').waitFor();

    // The composer asks for the canned list as it appears: Tab before the answer would have nothing to expand.
    const cannedLoaded = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/api/v1/canned-responses');
    await page.goto(`${h.url}/tickets/TKT-000002`);
    const composer = page.getByTestId('composer-text');
    await composer.waitFor();
    await cannedLoaded;
    await composer.fill('');
    await composer.type('/greet');
    await composer.press('Tab');
    assert.equal(await composer.inputValue(), 'Hi José García, thanks for contacting us about TKT-000002.');
    await composer.fill('');
    await page.getByTestId('canned-button').click();
    await page.locator('[data-testid=canned-option][data-shortcut=greet]').click();
    assert.match(await composer.inputValue(), /^Hi José García/);
  });

  test('the AI draft can be regenerated and discarded', async () => {
    // Still on TKT-000002 (José), whose draft the previous test left in Gmail.
    const before = (await ticketApi('TKT-000002')).draft;
    assert.ok(before);
    const llm = h.fakes.llmReply;
    h.fakes.llmReply = () => 'Hello José, the duplicate charge of INV-2291 is refunded today.';
    try {
      await page.getByTestId('draft-regenerate').click();
      await page.getByTestId('draft-banner').waitFor();
    } finally {
      h.fakes.llmReply = llm;
    }
    const regenerated = (await ticketApi('TKT-000002')).draft;
    assert.equal(regenerated.content, 'Hello José, the duplicate charge of INV-2291 is refunded today.');
    assert.notEqual(regenerated.gmail_draft_id, before.gmail_draft_id, 'the Gmail draft was replaced');
    assert.equal(await page.getByTestId('composer-text').inputValue(), regenerated.content);

    await page.getByTestId('draft-discard').click();
    await page.getByTestId('draft-banner').waitFor({ state: 'detached' });
    await page.getByTestId('draft-discard').waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('composer-text').inputValue(), '');
    const after = await ticketApi('TKT-000002');
    assert.equal(after.draft, null);
    const kinds = after.events.map((e) => e.kind);
    assert.ok(kinds.includes('draft_regenerated') && kinds.includes('draft_discarded'), JSON.stringify(kinds));
    await page.locator('[data-testid=event][data-kind=draft_discarded]').waitFor();
  });

  test('bulk change: the status of two tickets, with the API summary shown', async () => {
    await page.getByTestId('nav-inbox').click();
    await waitForRows(page, DEMO);
    for (const n of ['TKT-000002', 'TKT-000003']) {
      await page.locator(`[data-testid=ticket-row][data-ticket-number="${n}"]`).getByTestId('row-check').check();
    }
    assert.match(await page.getByTestId('bulk-count').textContent(), /^2 tickets selected/);
    await page.getByTestId('bulk-status').selectOption('pending');
    const summary = page.getByTestId('bulk-summary');
    await summary.waitFor();
    assert.match(await summary.textContent(), /2 tickets changed/);
    for (const n of ['TKT-000002', 'TKT-000003']) {
      await page.locator(`[data-testid=ticket-row][data-ticket-number="${n}"] [data-testid=row-status][data-value=pending]`).waitFor();
      assert.equal((await ticketApi(n)).ticket.status, 'pending');
    }
    assert.equal(await page.getByTestId('bulk-bar').count(), 0, 'the selection is cleared');

    for (const n of ['TKT-000002', 'TKT-000003']) {
      await page.locator(`[data-testid=ticket-row][data-ticket-number="${n}"]`).getByTestId('row-check').check();
    }
    await page.getByTestId('bulk-tag').fill('vip');
    await page.getByTestId('bulk-tag-add').click();
    await page.waitForFunction(() => /tag \+vip/.test(document.querySelector('[data-testid=bulk-summary]')?.textContent ?? ''));
    for (const n of ['TKT-000002', 'TKT-000003']) {
      await page.locator(`[data-testid=ticket-row][data-ticket-number="${n}"] [data-testid=row-tags]`, { hasText: 'vip' }).waitFor();
    }
  });

  test('merge: another ticket of the same customer moves into this one; the source shows "merged into"', async () => {
    h.fakes.addMessage({
      raw: email({
        from: 'Priya Raman <priya.raman@example.com>', subject: 'Wrong size in order #48990',
        body: 'Hello, the shoes from order #48990 are one size too small. Can I exchange them?',
      }),
    });
    await h.poll(token);
    const { json } = await h.api('GET', '/api/v1/tickets?q=48990', { token });
    const source = json.tickets.find((t) => t.subject === 'Wrong size in order #48990').ticket_number;

    await page.goto(`${h.url}/tickets/TKT-000001`);
    await page.locator(`[data-testid=customer-ticket][data-ticket-number="${source}"]`).waitFor();

    await page.getByTestId('merge-input').fill('TKT-000002'); // José's ticket: another customer
    await page.getByTestId('merge-button').click();
    const mergeError = page.getByTestId('merge-error');
    await mergeError.waitFor();
    assert.ok((await mergeError.textContent()).trim());

    await page.getByTestId('merge-input').fill(source);
    await page.getByTestId('merge-button').click();
    await page.locator('[data-testid=message-body]', { hasText: 'one size too small' }).waitFor();
    await page.locator('[data-testid=event][data-kind=merged_from]').waitFor();

    await page.locator(`[data-testid=customer-ticket][data-ticket-number="${source}"]`).click();
    await page.waitForURL(new RegExp(`/tickets/${source}$`));
    const banner = page.getByTestId('merged-banner');
    await banner.waitFor();
    assert.match(await banner.textContent(), /merged into\s*TKT-000001/);
    assert.equal(await page.getByTestId('composer').count(), 0, 'no composer on a merged ticket');
    assert.equal((await ticketApi(source)).ticket.merged_into, 'TKT-000001');
  });

  test('keyboard: j/k move, o opens, / searches, r/n/a in a ticket, Esc goes back, ? shows help', async () => {
    await page.goto(`${h.url}/`);
    await page.getByTestId('ticket-row').first().waitFor();
    /** Waits until the highlighted (keyboard-selected) row is `number`. */
    const selected = (number) => page.locator(`[data-testid=ticket-row][aria-selected=true][data-ticket-number="${number}"]`).waitFor();
    /** Waits until the focused element has data-testid `id`. */
    const focused = (id) => page.waitForFunction((want) => document.activeElement?.dataset.testid === want, id);
    const numbers = await rowNumbers(page);
    assert.ok(numbers.length >= 3);
    await selected(numbers[0]);
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await selected(numbers[2]);
    await page.keyboard.press('k');
    await selected(numbers[1]);

    await page.keyboard.press('/');
    await focused('search');
    await page.keyboard.type('jk'); // typing in a field never triggers shortcuts
    assert.equal(await page.getByTestId('search').inputValue(), 'jk');
    await selected(numbers[1]);
    await page.getByTestId('search').fill('');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => document.activeElement === document.body);

    await page.keyboard.press('?');
    await page.getByTestId('shortcuts-help').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('shortcuts-help').waitFor({ state: 'detached' });

    await page.keyboard.press('o');
    await page.waitForURL(new RegExp(`/tickets/${numbers[1]}$`));
    await page.getByTestId('thread').waitFor();
    await page.keyboard.press('r');
    await focused('composer-text');
    assert.equal(await page.getByTestId('composer').getAttribute('data-mode'), 'reply');
    await page.keyboard.press('Escape'); // leaves the text box, stays on the ticket
    await page.waitForFunction(() => document.activeElement === document.body);
    assert.match(page.url(), new RegExp(`/tickets/${numbers[1]}$`));
    await page.keyboard.press('a');
    await focused('field-assignee');
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('?');
    await page.getByTestId('shortcuts-help').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('shortcuts-help').waitFor({ state: 'detached' });
    await page.keyboard.press('Escape');
    await page.waitForURL(`${h.url}/`);
    await page.getByTestId('ticket-row').first().waitFor();
  });

  test('live: a mail polled through the API appears in the open inbox without a reload', async () => {
    if (new URL(page.url()).pathname !== '/') await page.goto(`${h.url}/`);
    await page.getByTestId('ticket-row').first().waitFor();
    await page.locator('[data-testid=live-status][data-status=open]').waitFor();
    await page.evaluate(() => { window.__sameDocument = 'yes'; });
    const subject = 'Live test: tracking page shows the wrong address';
    h.fakes.addMessage({ raw: email({ from: 'Noor Haddad <noor.haddad@example.com>', subject, body: 'Please fix the address.' }) });
    const report = await h.poll(token);
    assert.equal(report.tickets_created, 1);
    await page.getByTestId('row-subject').filter({ hasText: subject }).waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), 'yes', 'no reload happened');
    await screenshot(page, 'inbox', { doc: true });
  });

  test('reports: KPIs and uPlot charts render', async () => {
    await page.getByTestId('nav-reports').click();
    const canvas = page.locator('[data-testid=chart-created] canvas');
    await canvas.waitFor();
    const box = await canvas.boundingBox();
    assert.ok(box.width > 0 && box.height > 0, `canvas size ${JSON.stringify(box)}`);
    for (const id of ['chart-status', 'chart-priority', 'chart-agents']) {
      await page.locator(`[data-testid=${id}] canvas`).waitFor();
    }
    assert.match(await page.getByTestId('kpi-created-value').textContent(), /^\d+$/);
    assert.match(await page.getByTestId('kpi-ai').textContent(), /edit distance/);
    await page.getByTestId('range-30').click();
    await page.getByTestId('kpi-created').filter({ hasText: 'last 30 days' }).waitFor();
    await page.locator('[data-testid=chart-created] canvas').waitFor();
    await screenshot(page, 'reports');
  });

  test('staff: the owner adds a supervisor and sees the temporary password once', async () => {
    await page.getByTestId('nav-staff').click();
    await page.getByTestId('new-staff-name').fill('Ana Silva');
    await page.getByTestId('new-staff-email').fill('ana.silva@demo.edgedesk.test');
    await page.getByTestId('new-staff-role').selectOption('supervisor');
    await page.getByTestId('new-staff-submit').click();
    const secret = page.getByTestId('temp-password');
    await secret.waitFor();
    anaTempPassword = (await secret.textContent()).trim();
    assert.ok(anaTempPassword.length >= 8);
    await page.locator('[data-testid=staff-row][data-email="ana.silva@demo.edgedesk.test"]').waitFor();
    await screenshot(page, 'staff');
  });

  test('staff: team, deactivate/reactivate and password reset', async () => {
    await page.getByTestId('new-staff-name').fill('Sam Temp');
    await page.getByTestId('new-staff-email').fill('sam.temp@demo.edgedesk.test');
    await page.getByTestId('new-staff-submit').click();
    const sam = page.locator('[data-testid=staff-row][data-email="sam.temp@demo.edgedesk.test"]');
    await sam.waitFor();
    const first = (await page.getByTestId('temp-password').textContent()).trim();

    await sam.getByTestId('staff-team').fill('emea');
    await sam.getByTestId('staff-team').press('Enter');
    await page.getByTestId('staff-notice').filter({ hasText: 'team emea' }).waitFor();
    await sam.getByTestId('staff-toggle').click();
    await sam.locator('[data-testid=staff-status]', { hasText: 'inactive' }).waitFor();
    await sam.getByTestId('staff-toggle').click();
    await sam.locator('[data-testid=staff-status]', { hasText: /^active$/ }).waitFor();

    page.once('dialog', (d) => d.accept());
    await sam.getByTestId('staff-reset').click();
    await page.waitForFunction((old) => {
      const text = document.querySelector('[data-testid=temp-password]')?.textContent?.trim();
      return text && text !== old;
    }, first);
    const { json } = await h.api('GET', '/api/v1/staff', { token });
    const stored = json.staff.find((x) => x.email === 'sam.temp@demo.edgedesk.test');
    assert.equal(stored.team, 'emea');
    assert.equal(stored.status, 'active');
    assert.equal(stored.must_change_password, true);
  });

  test('collision warning: two staff on the same ticket see each other', async () => {
    const ana = await openPage(browser);
    try {
      // First login with the temporary password: the app asks for a new one.
      await ana.page.goto(`${h.url}/`);
      await login(ana.page, h.url, { email: 'ana.silva@demo.edgedesk.test', password: anaTempPassword, expect: 'password' });
      await ana.page.getByTestId('password-new').fill('ana-new-password-2026');
      await ana.page.getByTestId('password-confirm').fill('ana-new-password-2026');
      await ana.page.getByTestId('password-submit').click();
      await ana.page.getByTestId('nav-inbox').waitFor();

      await page.goto(`${h.url}/tickets/TKT-000002`);
      await ana.page.goto(`${h.url}/tickets/TKT-000002`);
      const mine = page.getByTestId('presence-banner');
      const hers = ana.page.getByTestId('presence-banner');
      await mine.waitFor();
      await hers.waitFor();
      assert.match(await mine.textContent(), /Ana Silva is also viewing this/);
      assert.match(await hers.textContent(), new RegExp(`${owner.name} is also viewing this`));

      await ana.page.keyboard.press('Escape'); // Ana leaves the ticket
      await mine.waitFor({ state: 'detached' });
    } finally {
      extraErrors.push(...ana.errors);
      await ana.context.close();
    }
  });

  test('roles: an agent sees no Staff/Reports navigation, and /reports says not allowed', async () => {
    const alex = await createStaff(h, token, { email: 'alex.agent@demo.edgedesk.test', name: 'Alex Agent', role: 'agent', password: 'alex-password-2026' });
    const agent = await openPage(browser);
    try {
      await login(agent.page, h.url, { email: 'alex.agent@demo.edgedesk.test', password: 'alex-password-2026' });
      await agent.page.getByTestId('nav-canned').waitFor();
      for (const nav of ['nav-reports', 'nav-staff', 'nav-tenants']) assert.equal(await agent.page.getByTestId(nav).count(), 0, nav);
      assert.equal(await agent.page.getByTestId('poll-button').count(), 0);
      await agent.page.goto(`${h.url}/reports`);
      await agent.page.getByTestId('not-allowed').waitFor();
      assert.match(await agent.page.getByTestId('not-allowed').textContent(), /not allowed/i);
      await agent.page.goto(`${h.url}/staff`);
      await agent.page.getByTestId('not-allowed').waitFor();
      await agent.page.goto(`${h.url}/canned`);
      await agent.page.locator('[data-testid=canned-item][data-shortcut=greet]').waitFor();
      assert.equal(await agent.page.getByTestId('canned-new').count(), 0, 'agents read canned responses only');
      assert.equal(await agent.page.getByTestId('canned-edit').count(), 0);

      // An admin resets Alex's password: his session ends, and his next API call (401) shows the login form.
      const reset = await h.api('POST', `/api/v1/staff/${alex.staff_id}/reset-password`, { token });
      assert.equal(reset.status, 200, reset.text);
      await agent.page.getByTestId('nav-inbox').click();
      await agent.page.getByTestId('login-form').waitFor();
      assert.match(await agent.page.getByTestId('login-notice').textContent(), /session has ended/);
    } finally {
      extraErrors.push(...agent.errors);
      await agent.context.close();
    }
  });

  test('tenants: the owner of the default tenant creates one and gets its owner password', async () => {
    await page.getByTestId('nav-tenants').click();
    await page.getByTestId('tenant-id').fill('acme-outdoor');
    await page.getByTestId('tenant-name').fill('Acme Outdoor');
    await page.getByTestId('tenant-owner-email').fill('boss@acme.example');
    await page.getByTestId('tenant-owner-name').fill('Bo Boss');
    await page.getByTestId('tenant-submit').click();
    await page.getByTestId('tenant-temp-password').waitFor();
    await page.getByTestId('tenant-row').filter({ hasText: 'acme-outdoor' }).waitFor();
  });

  test('logout ends the session; the app is back at the login form after a reload', async () => {
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    await page.reload();
    await page.getByTestId('login-form').waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(status, 401);
  });

  test('no JavaScript errors on any page', () => {
    assertNoPageErrors(errors, extraErrors);
  });
});

describe('dashboard: hostile customer HTML', () => {
  let h;
  let browser;
  before(async () => {
    h = await startEdgedesk({ eml: [join(ROOT, 'tests', 'fixtures', 'xss', 'xss.eml')] });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await h?.dispose();
  });

  test('script, handlers, javascript: links, SVG, iframes, forms and remote images are neutralised', async () => {
    const token = await h.login();
    const report = await h.poll(token);
    assert.equal(report.tickets_created, 1);
    const { json } = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.match(json.messages[0].body_html ?? '', /<script>/, 'the API hands the raw HTML to the dashboard');

    const { page, errors, requests } = await openPage(browser);
    await login(page, h.url);
    await page.goto(`${h.url}/tickets/TKT-000001`);
    const mail = page.getByTestId('mail-html');
    await mail.waitFor();
    await settle(page);

    // The evil link lost its href; clicking it does nothing.
    await mail.getByText('click', { exact: true }).click();
    await settle(page);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);

    const findings = await mail.evaluate((root) => {
      const all = [...root.querySelectorAll('*')];
      return {
        handlers: all.flatMap((el) => [...el.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${el.tagName}@${a.name}`)),
        jsUrls: all.flatMap((el) => [...el.attributes].filter((a) => /^\s*javascript:/i.test(a.value)).map((a) => `${el.tagName}@${a.name}`)),
        forbidden: all.filter((el) => /^(script|iframe|svg|form|input|button|object|embed|style|meta|math)$/i.test(el.tagName)).map((el) => el.tagName),
        imgSrcs: [...root.querySelectorAll('img')].map((img) => img.getAttribute('src')),
        links: [...root.querySelectorAll('a[href]')].map((a) => ({ href: a.getAttribute('href'), target: a.target, rel: a.rel })),
        text: root.textContent,
      };
    });
    assert.deepEqual(findings.handlers, []);
    assert.deepEqual(findings.jsUrls, []);
    assert.deepEqual(findings.forbidden, []);
    assert.ok(findings.imgSrcs.every((src) => src === null), `no image keeps a src: ${findings.imgSrcs}`);
    assert.deepEqual(findings.links, [{ href: 'https://shop.example.com/orders/55120', target: '_blank', rel: 'noopener noreferrer' }]);
    assert.match(findings.text, /My order #55120 shows as delivered/);
    assert.ok(await page.getByTestId('nav-inbox').isVisible(), "the mail's CSS did not hide the app");

    const foreign = requests.filter((u) => !u.startsWith(h.url) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'no remote image or tracking pixel was requested');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    // Chromium reports the mail's on* attributes as blocked inline handlers while the sanitizer parses it
    // (DOMParser documents inherit the page's CSP): the CSP holding as a second line. Nothing else may show up.
    assertNoPageErrors(errors.filter((e) => !/^CSP: Executing inline event handler/.test(String(e))));
  });

  test('attachments are listed with type and size; a hostile file name stays text', async () => {
    const evilName = '<img src=x onerror=window.__pwned=9>.pdf';
    h.fakes.addMessage({
      raw: [
        'From: Ana Costa <ana.costa@example.com>', `To: ${MAILBOX}`, 'Subject: Photo of the damaged box',
        'Message-ID: <attachments-1@example.com>', 'Date: Mon, 02 Jun 2025 16:10:00 +0000', 'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b-outer"', '',
        '--b-outer', 'Content-Type: text/plain; charset=UTF-8', '', 'The box arrived crushed, photo and invoice attached.',
        '--b-outer', 'Content-Type: image/jpeg; name="box.jpg"', 'Content-Disposition: attachment; filename="box.jpg"',
        'Content-Transfer-Encoding: base64', '', Buffer.alloc(2048, 7).toString('base64').replace(/.{76}/g, '$&\r\n'),
        '--b-outer', 'Content-Type: application/pdf', `Content-Disposition: attachment; filename="${evilName}"`,
        'Content-Transfer-Encoding: base64', '', Buffer.from('%PDF-1.4 fake').toString('base64'),
        '--b-outer--', '',
      ].join('\r\n'),
    });
    const token = await h.login();
    await h.poll(token);
    const { json } = await h.api('GET', '/api/v1/tickets?q=damaged', { token });
    const number = json.tickets[0].ticket_number;

    const { page, errors } = await openPage(browser);
    await login(page, h.url);
    await page.goto(`${h.url}/tickets/${number}`);
    const first = page.getByTestId('message').first();
    await first.getByTestId('attachments').waitFor();
    assert.deepEqual(await first.getByTestId('attachment-name').allTextContents(), ['box.jpg', evilName]);
    assert.equal(await first.getByTestId('attachment-meta').first().textContent(), 'image/jpeg, 2.0 KB');
    await settle(page);
    assert.equal(await page.locator('[data-testid=thread] img').count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assertNoPageErrors(errors);
  });
});

describe('dashboard: pagination', () => {
  let h;
  let browser;
  before(async () => {
    h = await startEdgedesk({ vars: { POLL_MAX_MESSAGES: '50', POLL_MAX_DRAFTS: '0' } });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await h?.dispose();
  });

  test('"Load more" fetches the next page with next_cursor until the list is complete', async () => {
    const total = 30;
    for (let i = 1; i <= total; i += 1) {
      const n = String(i).padStart(2, '0');
      h.fakes.addMessage({
        raw: email({ from: `Customer ${n} <customer${n}@example.com>`, subject: `Question number ${n}`, body: `Question ${n}, please help.` }),
        internalDate: Date.now() - (total - i) * 1000,
      });
    }
    const token = await h.login();
    for (let polls = 0; polls < 5 && (await h.rows('SELECT COUNT(*) AS n FROM tickets'))[0].n < total; polls += 1) await h.poll(token);

    const { page, errors } = await openPage(browser);
    await login(page, h.url);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=ticket-row]').length === 25);
    await page.getByTestId('load-more').click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=ticket-row]').length === n, total);
    assert.equal(new Set(await rowNumbers(page)).size, total, 'no ticket shown twice');
    assert.equal(await page.getByTestId('load-more').count(), 0, 'no further page');
    assertNoPageErrors(errors);
  });
});
