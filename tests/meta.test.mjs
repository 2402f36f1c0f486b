/**
 * Instagram and Facebook Messenger as channels (issue 6): the subscription handshake, signed webhook deliveries
 * built from Meta's documented sample payloads (tests/fakes/meta.mjs), DMs recorded as tickets of registry
 * customers, profile fetching with caching and retry, agents' replies through the Send API inside the 24-hour
 * window, blocking, merge, erasure and tenant isolation. Built worker in workerd with local D1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEdgedesk } from './support/worker.mjs';
import {
  DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ACCESS_TOKEN, DEFAULT_PAGE_ID, instagramEvent, messengerEvent, newIgsid, newPsid,
  postMetaWebhook, startMeta, verifyMetaSubscription,
} from './fakes/meta.mjs';

const APP_SECRET = 'meta-app-secret-0123456789';
const VERIFY = 'edgedesk-verify-token-42';

async function until(probe, what) {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Instagram and Messenger', () => {
  let h; let meta; let token; let hook;
  const PSID = newPsid();
  const IGSID = newIgsid();
  before(async () => {
    meta = await startMeta({ profiles: {
      [PSID]: { first_name: 'Carla', last_name: 'Mendes', profile_pic: 'https://scontent.xx.fbcdn.net/carla.jpg' },
      [IGSID]: { name: 'Kai Tanaka', username: 'kai.t', profile_pic: 'https://scontent.cdninstagram.com/kai.jpg', platform: 'instagram' },
    } });
    h = await startEdgedesk({ vars: { META_GRAPH_API_BASE: meta.url, CS_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64') } });
    token = await h.login();
    hook = `${h.url}/api/v1/webhooks/meta`;
    const put = await h.api('PUT', '/api/v1/admin/meta/config', { token, body: {
      page_id: DEFAULT_PAGE_ID, instagram_account_id: DEFAULT_IG_ACCOUNT_ID, verify_token: VERIFY,
      page_access_token: DEFAULT_PAGE_ACCESS_TOKEN, app_secret: APP_SECRET } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.has_app_secret, true);
    assert.ok(!put.text.includes(APP_SECRET) && !put.text.includes(DEFAULT_PAGE_ACCESS_TOKEN));
  });
  after(async () => {
    await h?.dispose();
    await meta?.close();
  });

  const ticketOf = async (channel) => (await h.api('GET', `/api/v1/tickets?channel=${channel}`, { token })).json.tickets[0];

  test('the subscription handshake echoes the challenge only for our verify token', async () => {
    const ok = await verifyMetaSubscription(hook, { verifyToken: VERIFY });
    assert.equal(ok.passed, true);
    const wrong = await verifyMetaSubscription(hook, { verifyToken: 'nope-nope' });
    assert.equal(wrong.status, 403);
    const mode = await verifyMetaSubscription(hook, { verifyToken: VERIFY, mode: 'unsubscribe' });
    assert.equal(mode.status, 403);
  });

  test('a bad or missing signature is refused with 403 and writes nothing', async () => {
    const body = messengerEvent({ psid: PSID, text: 'forged' });
    assert.equal((await postMetaWebhook(hook, body, { appSecret: 'not-the-secret' })).status, 403);
    assert.equal((await postMetaWebhook(hook, body, { omitSignature: true })).status, 403);
    assert.equal((await h.rows('SELECT count(*) AS n FROM ticket_messages'))[0].n, 0);
    assert.equal((await h.rows('SELECT count(*) AS n FROM customers'))[0].n, 0);
  });

  test('a Messenger DM becomes a ticket of a new customer whose profile is fetched after the answer', async () => {
    const body = messengerEvent({ psid: PSID, text: 'Olá! Is the Ridge jacket waterproof? <3' });
    const r = await postMetaWebhook(hook, body, { appSecret: APP_SECRET });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'EVENT_RECEIVED');
    const t = await until(() => ticketOf('facebook'), 'the facebook ticket');
    const thread = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.messages;
    assert.equal(thread[0].content, 'Olá! Is the Ridge jacket waterproof? <3', 'escaped JSON decoded, signature over raw bytes');
    const customer = await until(async () => {
      const c = (await h.api('GET', `/api/v1/customers/psid/${PSID}`, { token })).json;
      return c.profile_status === 'fetched' && c;
    }, 'the profile');
    assert.equal(customer.name, 'Carla Mendes');
    assert.equal(customer.profile_pic_url, 'https://scontent.xx.fbcdn.net/carla.jpg');
    assert.deepEqual(customer.identities, [{ kind: 'psid', scope: DEFAULT_PAGE_ID, value: PSID }]);
    assert.equal((await ticketOf('facebook')).customer_name, 'Carla Mendes');
    const draft = await until(async () => (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.draft, 'the AI draft');
    assert.equal(draft.source, 'llm');
    assert.equal(draft.gmail_draft_id, null, 'a DM draft lives on the ticket only');
    assert.ok(draft.content.length > 0);
  });

  test('a redelivered mid and our own echoes add nothing; a second DM joins the open ticket; the profile is cached', async () => {
    const profileCalls = () => meta.requests.filter((r) => r.method === 'GET' && r.path.includes(PSID)).length;
    const calls = profileCalls();
    const body = messengerEvent({ psid: PSID, text: 'Also: do you ship to Porto?' });
    await postMetaWebhook(hook, body, { appSecret: APP_SECRET });
    await postMetaWebhook(hook, body, { appSecret: APP_SECRET });
    await postMetaWebhook(hook, messengerEvent({ psid: PSID, text: 'our own reply', isEcho: true }), { appSecret: APP_SECRET });
    const t = await ticketOf('facebook');
    const thread = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.messages.map((m) => m.content);
    assert.equal(thread.filter((c) => c === 'Also: do you ship to Porto?').length, 1);
    assert.ok(!thread.includes('our own reply'));
    assert.equal((await h.api('GET', '/api/v1/tickets?channel=facebook', { token })).json.tickets.length, 1);
    assert.equal(profileCalls(), calls, 'a fresh profile is not fetched again');
  });

  test('an agent replies through the Send API; outside the 24-hour window nothing is sent', async () => {
    const t = await ticketOf('facebook');
    const draft = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.draft;
    const r = await h.api('POST', `/api/v1/tickets/${t.ticket_id}/reply`, { token, body: { content: 'Yes, fully waterproof. We ship to Porto.', draft_id: draft.id } });
    assert.equal(r.status, 201, r.text);
    const ev = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.events.find((e) => e.kind === 'draft_sent');
    assert.equal(typeof ev?.detail.edit_distance, 'number', 'the edit distance of the DM draft is recorded');
    assert.equal(meta.sent.at(-1).recipient_id, PSID);
    assert.equal(meta.sent.at(-1).text, 'Yes, fully waterproof. We ship to Porto.');
    assert.equal(meta.sent.at(-1).messaging_type, 'RESPONSE');
    await h.db.prepare("UPDATE ticket_messages SET created_at = '2026-01-01T00:00:00.000Z' WHERE sender_type = 'customer' AND ticket_id = ?").bind(t.ticket_id).run();
    const sent = meta.sent.length;
    const late = await h.api('POST', `/api/v1/tickets/${t.ticket_id}/reply`, { token, body: { content: 'Hello again' } });
    assert.equal(late.status, 409);
    assert.match(late.json.error.message, /24-hour window/);
    assert.equal(meta.sent.length, sent);
  });

  test('an Instagram DM with a failing profile lookup is retried later, never shown with a placeholder', async () => {
    meta.fail(new RegExp(IGSID), { code: 4, times: 1 });
    await postMetaWebhook(hook, instagramEvent({ igsid: IGSID, text: 'Do you have the jacket in XS?' }), { appSecret: APP_SECRET });
    const c = await until(async () => {
      const x = (await h.api('GET', `/api/v1/customers/psid/${IGSID}`, { token })).json;
      return x.profile_status === 'failed' && x;
    }, 'the failed profile');
    assert.equal(c.name, null, 'no placeholder name');
    const t = await ticketOf('instagram');
    assert.equal(t.customer_name, null);
    const retry = await h.api('POST', `/api/v1/customers/${c.id}/fetch-profile`, { token });
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.json.name, 'Kai Tanaka');
    assert.equal((await ticketOf('instagram')).customer_name, 'Kai Tanaka');
  });

  test('the per-minute sweep retries profiles that could not be read', async () => {
    const igsid = newIgsid();
    meta.profiles[igsid] = { name: 'Noor Haddad', username: 'noor.h', platform: 'instagram' };
    meta.fail(new RegExp(igsid), { code: 613, times: 1 });
    await postMetaWebhook(hook, instagramEvent({ igsid, text: 'hi there' }), { appSecret: APP_SECRET });
    await until(async () => (await h.api('GET', `/api/v1/customers/psid/${igsid}`, { token })).json.profile_status === 'failed', 'the failed fetch');
    await h.db.prepare("UPDATE customers SET updated_at = '2026-01-01T00:00:00.000Z' WHERE profile_status = 'failed'").run(); // its back-off has passed
    const worker = await h.mf.getWorker();
    await worker.scheduled({ cron: '* * * * *' });
    const c = (await h.api('GET', `/api/v1/customers/psid/${igsid}`, { token })).json;
    assert.equal(c.profile_status, 'fetched');
    assert.equal(c.name, 'Noor Haddad');
  });

  test('blocked customers are recorded but get no replies', async () => {
    const c = (await h.api('GET', `/api/v1/customers/psid/${IGSID}`, { token })).json;
    await h.api('POST', `/api/v1/customers/${c.id}/block`, { token });
    await postMetaWebhook(hook, instagramEvent({ igsid: IGSID, text: 'hello?' }), { appSecret: APP_SECRET });
    const t = (await h.api('GET', '/api/v1/tickets?channel=instagram', { token })).json.tickets.find((x) => x.customer_id === c.id);
    const thread = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.messages.map((m) => m.content);
    assert.ok(thread.includes('hello?'), 'recorded');
    const sent = meta.sent.length;
    const r = await h.api('POST', `/api/v1/tickets/${t.ticket_id}/reply`, { token, body: { content: 'hi' } });
    assert.equal(r.status, 409);
    assert.match(r.json.error.message, /blocked/);
    assert.equal(meta.sent.length, sent);
    await h.api('POST', `/api/v1/customers/${c.id}/unblock`, { token });
  });

  test('the same person on Messenger and by e-mail is merged into one customer', async () => {
    const carla = (await h.api('GET', `/api/v1/customers/psid/${PSID}`, { token })).json;
    const byMail = await h.api('POST', '/api/v1/customers', { token, body: { name: 'Carla M.', emails: ['carla@example.pt'] } });
    const m = await h.api('POST', `/api/v1/customers/${carla.id}/merge`, { token, body: { other_id: byMail.json.id } });
    assert.equal(m.status, 200, m.text);
    assert.deepEqual(m.json.identities.map((i) => i.kind).sort(), ['email', 'psid']);
    await postMetaWebhook(hook, messengerEvent({ psid: PSID, text: 'still me' }), { appSecret: APP_SECRET });
    assert.equal((await h.api('GET', `/api/v1/customers/psid/${PSID}`, { token })).json.id, carla.id);
  });

  test('erasure removes the DM content and the identity', async () => {
    const carla = (await h.api('GET', `/api/v1/customers/psid/${PSID}`, { token })).json;
    assert.equal((await h.api('DELETE', `/api/v1/customers/${carla.id}`, { token })).status, 204);
    assert.equal((await h.api('GET', `/api/v1/customers/psid/${PSID}`, { token })).status, 404);
    const t = (await h.api('GET', '/api/v1/tickets?channel=facebook', { token })).json.tickets[0];
    const thread = (await h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token })).json.messages;
    assert.ok(thread.filter((x) => x.sender_type === 'customer').every((x) => /erased/.test(x.content)));
  });

  test('another tenant cannot claim our page, and sees none of our customers', async () => {
    const other = await h.api('POST', '/api/v1/tenants', { token, body: { id: 'acme', name: 'Acme', owner_email: 'o@acme.test', owner_name: 'O' } });
    const acme = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'o@acme.test', password: other.json.temporary_password } })).json.token;
    const clash = await h.api('PUT', '/api/v1/admin/meta/config', { token: acme, body: { page_id: DEFAULT_PAGE_ID } });
    assert.equal(clash.status, 409);
    const crossed = await h.api('PUT', '/api/v1/admin/meta/config', { token: acme, body: { page_id: DEFAULT_IG_ACCOUNT_ID } });
    assert.equal(crossed.status, 409, 'our Instagram account id cannot become their page id either');
    assert.deepEqual((await h.api('GET', '/api/v1/customers', { token: acme })).json.customers, []);
    assert.equal((await h.api('GET', `/api/v1/customers/psid/${IGSID}`, { token: acme })).status, 404);
    const unknownPage = messengerEvent({ pageId: '999999999999', psid: newPsid(), text: 'hi' });
    assert.equal((await postMetaWebhook(hook, unknownPage, { appSecret: APP_SECRET })).status, 403);
  });
});
