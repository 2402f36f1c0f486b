/**
 * The customer registry in the dashboard (issue 6): the Customers page lists the customers that e-mail ingest
 * created (and an Instagram customer whose profile lookup failed, shown without a made-up name), search and
 * filters narrow it, and a customer's page edits notes, blocks and unblocks, fetches the Meta profile, merges a
 * duplicate and erases (GDPR, owner, with a confirm step). The ticket side panel links to the customer. Real
 * headless Chromium against the built worker (Miniflare, local D1) with the Gmail/LLM and Meta Graph fakes.
 *
 * Run: source scripts/env.sh && vite build dashboard && node --test --test-concurrency=1 tests/dashboard-customers.test.mjs
 * Screenshots: test-output/screens/customers.png (the list) and customer.png (a customer's page).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { launch, login, openPage, screenshot, settle } from './support/browser.mjs';
import {
  DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ACCESS_TOKEN, DEFAULT_PAGE_ID, instagramEvent, newIgsid, postMetaWebhook, startMeta,
} from './fakes/meta.mjs';

const APP_SECRET = 'meta-app-secret-customers-01';
const IGSID = newIgsid();
const IG_PICTURE = 'https://scontent.cdninstagram.com/kai-customers.jpg';

async function until(probe, what) {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('dashboard: customers', () => {
  let h; let meta; let token; let browser; let page; let errors; let requests;
  /** e-mail → customer (from the API), filled by the first test. */
  const byEmail = {};
  let ig;

  before(async () => {
    meta = await startMeta({ profiles: {
      [IGSID]: { name: 'Kai Tanaka', username: 'kai.t', profile_pic: IG_PICTURE, platform: 'instagram' },
    } });
    h = await startEdgedesk({
      eml: emlFiles(FIXTURES),
      vars: { META_GRAPH_API_BASE: meta.url, CS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') },
    });
    token = await h.login();
    const report = await h.poll(token);
    assert.equal(report.tickets_created, 3);

    // An Instagram DM whose profile lookup fails (twice: after the webhook and at the first manual fetch).
    const put = await h.api('PUT', '/api/v1/admin/meta/config', { token, body: {
      page_id: DEFAULT_PAGE_ID, instagram_account_id: DEFAULT_IG_ACCOUNT_ID, verify_token: 'customers-verify-token',
      page_access_token: DEFAULT_PAGE_ACCESS_TOKEN, app_secret: APP_SECRET } });
    assert.equal(put.status, 200, put.text);
    meta.fail(new RegExp(IGSID), { code: 4, times: 2 });
    const hook = await postMetaWebhook(`${h.url}/api/v1/webhooks/meta`,
      instagramEvent({ igsid: IGSID, text: 'Do you ship the Ridge jacket to Osaka?' }), { appSecret: APP_SECRET });
    assert.equal(hook.status, 200, hook.text);
    ig = await until(async () => {
      const c = (await h.api('GET', `/api/v1/customers/psid/${IGSID}`, { token })).json;
      return c?.profile_status === 'failed' && c;
    }, 'the failed Instagram profile');
    assert.equal(ig.name, null);

    browser = await launch();
    ({ page, errors, requests } = await openPage(browser));
  });
  after(async () => {
    await browser?.close();
    await h?.dispose();
    await meta?.close();
  });

  const customerApi = async (id) => h.api('GET', `/api/v1/customers/${id}`, { token });
  const rowIds = () => page.getByTestId('customer-row').evaluateAll((rows) => rows.map((r) => r.dataset.customerId).sort());
  /** Waits until the list shows exactly `ids` (any order). */
  const waitForCustomers = (ids) => page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('[data-testid=customer-row]')].map((r) => r.dataset.customerId).sort();
    return JSON.stringify(got) === JSON.stringify(want);
  }, [...ids].sort());
  const row = (id) => page.locator(`[data-testid=customer-row][data-customer-id="${id}"]`);
  const chips = (scope) => scope.getByTestId('identity').evaluateAll((n) => n.map((c) => `${c.dataset.kind}:${c.dataset.value}`));

  test('the customers that e-mail ingest created are listed, with identities and ticket counts', async () => {
    const all = (await h.api('GET', '/api/v1/customers', { token })).json.customers;
    for (const c of all) for (const i of c.identities) if (i.kind === 'email') byEmail[i.value] = c;
    assert.deepEqual(Object.keys(byEmail).sort(), ['jose.garcia@example.org', 'mei.lin@example.org', 'priya.raman@example.com']);

    await login(page, h.url);
    await page.getByTestId('nav-customers').click();
    await page.waitForURL(`${h.url}/customers`);
    assert.equal(await page.getByTestId('nav-customers').getAttribute('aria-current'), 'page');
    await waitForCustomers(all.map((c) => c.id));

    const priya = row(byEmail['priya.raman@example.com'].id);
    assert.equal(await priya.getByTestId('customer-row-name').textContent(), 'Priya Raman');
    assert.deepEqual(await chips(priya), ['email:priya.raman@example.com']);
    assert.equal(await priya.getByTestId('customer-row-tickets').textContent(), '1', 'the follow-up joined TKT-000001');
    assert.equal(await row(byEmail['jose.garcia@example.org'].id).getByTestId('customer-row-name').textContent(), 'José García');

    // The Instagram customer has no name: a clear marker, never a placeholder name.
    const kai = row(ig.id);
    const marker = kai.getByTestId('customer-row-name');
    assert.equal(await marker.getAttribute('data-missing'), 'failed');
    assert.equal(await marker.textContent(), 'Name not available yet — profile fetch failed');
    assert.deepEqual(await chips(kai), [`igsid:${IGSID}`]);
    assert.equal(await page.getByTestId('blocked-badge').count(), 0);
  });

  test('search (name, e-mail, PSID) and the platform filter narrow the list; the URL keeps them', async () => {
    const search = page.getByTestId('customer-search');
    await search.fill('priya');
    await waitForCustomers([byEmail['priya.raman@example.com'].id]);
    assert.match(page.url(), /[?&]q=priya/);

    await search.fill('example.org');
    await search.press('Enter');
    await waitForCustomers([byEmail['jose.garcia@example.org'].id, byEmail['mei.lin@example.org'].id]);

    await search.fill(IGSID.slice(0, 8));
    await waitForCustomers([ig.id]);
    await search.fill('nobody-like-this');
    await page.getByTestId('customers-empty').waitFor();

    await search.fill('');
    await search.press('Enter');
    await page.getByTestId('customer-filter-platform').selectOption('instagram');
    await waitForCustomers([ig.id]);
    assert.match(page.url(), /[?&]platform=instagram/);
    await page.getByTestId('customer-filter-platform').selectOption('email');
    await waitForCustomers(Object.values(byEmail).map((c) => c.id));
    await page.getByTestId('customer-clear-filters').click();
    await waitForCustomers([...Object.values(byEmail).map((c) => c.id), ig.id]);

    // `/` focuses the search box; typing there triggers no shortcut.
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('/');
    await page.waitForFunction(() => document.activeElement?.dataset.testid === 'customer-search');
    await page.keyboard.press('Escape');
  });

  test("a customer's page: tickets, notes (saved), block (badge) and unblock", async () => {
    const priya = byEmail['priya.raman@example.com'];
    await row(priya.id).getByTestId('customer-row-link').click();
    await page.waitForURL(`${h.url}/customers/${priya.id}`);
    await page.getByTestId('customer-page').waitFor();
    assert.equal(await page.getByTestId('customer-name').textContent(), 'Priya Raman');
    assert.deepEqual(await chips(page.getByTestId('customer-identities')), ['email:priya.raman@example.com']);
    await page.getByTestId('customer-ticket-row').first().waitFor();
    assert.deepEqual(await page.getByTestId('customer-ticket-row').evaluateAll((n) => n.map((r) => r.dataset.ticketNumber)), ['TKT-000001']);
    assert.equal(await page.getByTestId('customer-tickets-partial').count(), 0);
    assert.equal(await page.getByTestId('fetch-profile').count(), 0, 'no Meta id, no "Fetch profile"');

    const notes = page.getByTestId('customer-notes');
    assert.ok(await page.getByTestId('customer-notes-save').isDisabled(), 'nothing to save yet');
    await notes.fill('VIP since 2024.\nPrefers e-mail, never calls.');
    await page.getByTestId('customer-notes-save').click();
    await page.getByTestId('customer-notice').filter({ hasText: 'Notes saved.' }).waitFor();
    assert.equal((await customerApi(priya.id)).json.notes, 'VIP since 2024.\nPrefers e-mail, never calls.');
    await page.reload();
    await page.getByTestId('customer-page').waitFor();
    assert.equal(await page.getByTestId('customer-notes').inputValue(), 'VIP since 2024.\nPrefers e-mail, never calls.');

    await page.getByTestId('block-toggle').click();
    await page.getByTestId('blocked-badge').waitFor();
    assert.equal(await page.getByTestId('block-toggle').textContent(), 'Unblock');
    assert.equal((await customerApi(priya.id)).json.blocked, true);
    // The list shows the badge, and the blocked filter finds her.
    await page.getByTestId('customers-back').click();
    await page.waitForURL(`${h.url}/customers`);
    await row(priya.id).getByTestId('blocked-badge').waitFor();
    await page.getByTestId('customer-filter-blocked').selectOption('true');
    await waitForCustomers([priya.id]);
    await page.getByTestId('customer-clear-filters').click();

    await row(priya.id).click();
    await page.waitForURL(`${h.url}/customers/${priya.id}`);
    await page.getByTestId('block-toggle').filter({ hasText: 'Unblock' }).click();
    await page.getByTestId('block-toggle').filter({ hasText: 'Block customer' }).waitFor();
    assert.equal(await page.getByTestId('blocked-badge').count(), 0);
    assert.equal((await customerApi(priya.id)).json.blocked, false);
  });

  test('the ticket side panel links to the customer; an Instagram ticket without a name says so', async () => {
    const priya = byEmail['priya.raman@example.com'];
    await page.goto(`${h.url}/tickets/TKT-000001`);
    await page.getByTestId('thread').waitFor();
    assert.equal(await page.getByTestId('customer-link').getAttribute('href'), `/customers/${priya.id}`);
    assert.equal(await page.getByTestId('customer-name').textContent(), 'Priya Raman');

    const igTicket = (await h.api('GET', '/api/v1/tickets?channel=instagram', { token })).json.tickets[0];
    assert.equal(igTicket.customer_id, ig.id);
    await page.goto(`${h.url}/?channel=instagram`);
    const igRow = page.locator(`[data-testid=ticket-row][data-ticket-number="${igTicket.ticket_number}"]`);
    assert.equal(await igRow.getByTestId('row-customer').textContent(), 'Instagram user — profile pending');
    await igRow.getByTestId('row-subject').click();
    await page.getByTestId('thread').waitFor();
    assert.equal(await page.getByTestId('customer-name').textContent(), 'Instagram user — profile pending');
    await page.getByTestId('customer-link').click();
    await page.waitForURL(`${h.url}/customers/${ig.id}`);
    assert.equal(await page.getByTestId('customer-name').getAttribute('data-missing'), 'failed');
    await page.locator(`[data-testid=customer-ticket-row][data-ticket-number="${igTicket.ticket_number}"]`).waitFor();

    // The first manual fetch fails (the fake's second fault): the API's message is shown. The second works.
    await page.getByTestId('fetch-profile').click();
    const failure = page.getByTestId('fetch-profile-error');
    await failure.waitFor();
    const direct = await h.api('GET', `/api/v1/customers/${ig.id}`, { token });
    assert.equal(direct.json.profile_status, 'failed');
    assert.ok((await failure.textContent()).trim().length > 10, await failure.textContent());
    await page.getByTestId('fetch-profile').click();
    await page.getByTestId('customer-name').filter({ hasText: 'Kai Tanaka' }).waitFor();
    assert.equal(await failure.count(), 0);
    assert.equal(await page.getByTestId('profile-status').getAttribute('data-status'), 'fetched');
    // The remote picture is linked, never loaded (img-src 'self' data:): initials instead.
    assert.equal(await page.getByTestId('picture-link').getAttribute('href'), IG_PICTURE);
    assert.equal(await page.locator('.customer-page img').count(), 0);
    assert.equal(await page.locator('.customer-title .avatar').textContent(), 'KT');
    await settle(page);
    assert.ok(!requests.some((u) => u.includes('cdninstagram')), 'the picture was never requested');
  });

  test('a duplicate created through the API is merged from the UI: its e-mail moves over', async () => {
    const priya = byEmail['priya.raman@example.com'];
    const created = await h.api('POST', '/api/v1/customers', { token, body: {
      name: 'P. Raman (work)', emails: ['priya.r@work-mail.example.net'] } });
    assert.equal(created.status, 201, created.text);
    const dup = created.json;

    await page.goto(`${h.url}/customers/${priya.id}`);
    await page.getByTestId('customer-page').waitFor();
    await page.getByTestId('merge-customer-search').fill('work-mail');
    const candidate = page.locator(`[data-testid=merge-candidate][data-customer-id="${dup.id}"]`);
    await candidate.waitFor();
    assert.equal(await page.getByTestId('merge-candidate').count(), 1, 'only the match, never the customer itself');
    await candidate.click();
    await page.getByTestId('merge-customer-confirm-box').waitFor();
    assert.match(await page.getByTestId('merge-customer-confirm-box').textContent(), /Merge P\. Raman \(work\) into Priya Raman\?/);
    await page.getByTestId('merge-customer-confirm').click();
    await page.getByTestId('customer-notice').filter({ hasText: 'P. Raman (work) was merged into this customer.' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=customer-identities] [data-testid=identity]').length === 2);
    assert.deepEqual(await chips(page.getByTestId('customer-identities')),
      ['email:priya.r@work-mail.example.net', 'email:priya.raman@example.com']);
    assert.equal((await customerApi(dup.id)).status, 404, 'the duplicate is gone');
    assert.equal(await page.getByTestId('customer-name').textContent(), 'Priya Raman');

    // The list no longer has the duplicate.
    await page.getByTestId('nav-customers').click();
    await waitForCustomers([...Object.values(byEmail).map((c) => c.id), ig.id]);
    assert.deepEqual(await chips(row(priya.id)), ['email:priya.r@work-mail.example.net', 'email:priya.raman@example.com']);
    assert.deepEqual(await rowIds(), [...Object.values(byEmail).map((c) => c.id), ig.id].sort());
  });

  test('an owner erases a customer after a confirm step and sees the erased state', async () => {
    const mei = byEmail['mei.lin@example.org'];
    await row(mei.id).click();
    await page.waitForURL(`${h.url}/customers/${mei.id}`);
    await page.getByTestId('customer-ticket-row').first().waitFor();

    await page.getByTestId('erase-customer').click();
    await page.getByTestId('erase-confirm-box').waitFor();
    await page.getByTestId('erase-cancel').click();
    await page.getByTestId('erase-confirm-box').waitFor({ state: 'detached' });
    assert.equal((await customerApi(mei.id)).json.erased_at, null, 'cancel erases nothing');

    await page.getByTestId('erase-customer').click();
    await page.getByTestId('erase-confirm').click();
    await page.getByTestId('erased-banner').waitFor();
    assert.equal(await page.getByTestId('customer-name').getAttribute('data-missing'), 'erased');
    assert.equal(await page.getByTestId('customer-name').textContent(), 'Erased customer');
    await page.getByTestId('erased-badge').waitFor();
    assert.equal(await page.getByTestId('customer-identities').getByTestId('identity').count(), 0);
    assert.equal(await page.getByTestId('customer-notes').count(), 0, 'nothing left to annotate');
    assert.equal(await page.getByTestId('erase-customer').count(), 0);
    assert.equal(await page.getByTestId('merge-customer-search').count(), 0);
    // The erased customer's tickets are still listed (by customer id): numbers and status stay.
    await page.getByTestId('customer-ticket-row').first().waitFor();

    const after = (await customerApi(mei.id)).json;
    assert.ok(after.erased_at);
    assert.equal(after.name, null);
    assert.deepEqual(after.identities, []);
    const ticket = (await h.api('GET', '/api/v1/tickets/TKT-000003', { token })).json.ticket;
    assert.equal(ticket.subject, 'Erased customer');
    assert.equal(ticket.customer_email, null);

    // Its row says so too.
    await page.getByTestId('customers-back').click();
    await row(mei.id).getByTestId('erased-badge').waitFor();
    assert.equal(await row(mei.id).getByTestId('customer-row-name').textContent(), 'Erased customer');
  });

  test('an agent sees customers but no erase button', async () => {
    const created = await h.api('POST', '/api/v1/staff', { token, body: { email: 'cam@demo.edgedesk.test', name: 'Cam Agent', role: 'agent' } });
    assert.equal(created.status, 201, created.text);
    const temp = created.json.temporary_password;
    const agentToken = await h.login('cam@demo.edgedesk.test', temp);
    const changed = await h.api('POST', '/api/v1/auth/password', { token: agentToken,
      body: { current_password: temp, new_password: 'cam-password-123' } });
    assert.equal(changed.status, 200, changed.text);

    const agent = await openPage(browser);
    try {
      await login(agent.page, h.url, { email: 'cam@demo.edgedesk.test', password: 'cam-password-123' });
      await agent.page.getByTestId('nav-customers').click();
      const jose = byEmail['jose.garcia@example.org'];
      await agent.page.locator(`[data-testid=customer-row][data-customer-id="${jose.id}"]`).getByTestId('customer-row-link').click();
      await agent.page.getByTestId('block-toggle').waitFor();
      assert.equal(await agent.page.getByTestId('erase-customer').count(), 0);
      assert.deepEqual(agent.errors.map(String), []);
    } finally {
      await agent.context.close();
    }
  });

  test('screenshots; no page errors or CSP violations', async () => {
    // A blocked customer in the list, for the picture.
    await h.api('POST', `/api/v1/customers/${byEmail['jose.garcia@example.org'].id}/block`, { token });
    await page.goto(`${h.url}/customers`);
    await page.getByTestId('customer-row').first().waitFor();
    await row(byEmail['jose.garcia@example.org'].id).getByTestId('blocked-badge').waitFor();
    await settle(page);
    await screenshot(page, 'customers');

    await row(ig.id).getByTestId('customer-row-link').click();
    await page.getByTestId('customer-ticket-row').first().waitFor();
    await settle(page);
    await screenshot(page, 'customer');
    assert.deepEqual(errors.map(String), []);
  });
});
