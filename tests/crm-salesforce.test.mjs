/**
 * CRM proxies, second part (issue 5): Salesforce behind the unified API (OAuth 2.0 refresh-token flow, SOQL, Case),
 * the LiveChat handoff, and enrichment of tickets from every channel by the per-minute sweep — against the BUILT
 * worker in workerd with local D1 and the loopback fakes tests/fakes/salesforce.mjs and tests/fakes/livechat.mjs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { startSalesforce } from './fakes/salesforce.mjs';
import { startLiveChat } from './fakes/livechat.mjs';
import { postWebhook, smsParams, startTwilio } from './fakes/twilio.mjs';
import { startZapier } from './fakes/zapier.mjs';

const KEY = Buffer.alloc(32, 4).toString('base64');
const SF = { clientId: '3MVG9-edgedesk-consumer-key', clientSecret: 'sf-consumer-secret-0123456789', refreshToken: '5Aep861-refresh-token-abcdef' };
const LC = { accountId: 'a1b2c3d4-account', token: 'dal:pat-secret-0123456789' };

async function until(probe, what) {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Salesforce', () => {
  let h; let token; let sf; let api;
  before(async () => {
    sf = await startSalesforce({
      ...SF,
      accounts: [{ Id: '001000000000001', Name: 'Acme Outdoor', Type: 'Customer - Direct' }],
      contacts: [
        { FirstName: 'Priya', LastName: 'Raman', Email: 'priya.raman@example.com', Phone: '+15550100007', Tier__c: 'Gold', AccountId: '001000000000001' },
        { FirstName: "Liam", LastName: "O'Brien", Email: "liam.o'brien@example.com", MobilePhone: '(555) 010-0099' },
      ],
    });
    h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: KEY, CRM_TIMEOUT_MS: '2500' } });
    token = await h.login();
    api = (method, path, body) => h.api(method, path, { token, body });
  });
  after(async () => {
    await h?.dispose();
    await sf?.close();
  });

  test('connection: client id and both secrets required; secrets never returned; test refreshes a token', async () => {
    const base = { type: 'salesforce', name: 'Salesforce (prod)', base_url: sf.url };
    assert.equal((await api('POST', '/api/v1/admin/connections', { ...base, settings: { login_url: sf.url }, secrets: { client_secret: SF.clientSecret, refresh_token: SF.refreshToken } })).status, 422, 'no client_id');
    const noRefresh = await api('POST', '/api/v1/admin/connections', { ...base, settings: { client_id: SF.clientId, login_url: sf.url }, secrets: { client_secret: SF.clientSecret } });
    assert.equal(noRefresh.status, 422);
    assert.match(noRefresh.json.error.message, /secrets\.refresh_token/);
    assert.equal((await api('POST', '/api/v1/admin/connections', { ...base, settings: { client_id: SF.clientId, tier_field: 'Tier__c; DELETE' }, secrets: { client_secret: 'x', refresh_token: 'y' } })).status, 422, 'tier_field must be an API name');
    const c = await api('POST', '/api/v1/admin/connections', { ...base, is_primary: true,
      settings: { client_id: SF.clientId, login_url: sf.url, tier_field: 'Tier__c' },
      secrets: { client_secret: SF.clientSecret, refresh_token: SF.refreshToken } });
    assert.equal(c.status, 201, c.text);
    const t = await api('POST', `/api/v1/admin/connections/${c.json.id}/test`);
    assert.equal(t.json.ok, true, t.text);
    const tokenCalls = sf.requests.filter((r) => r.path.startsWith('/services/oauth2/token'));
    assert.equal(tokenCalls.length, 1, 'one refresh-token grant');
    assert.match(tokenCalls[0].body, /grant_type=refresh_token/);
    const list = await api('GET', '/api/v1/admin/connections');
    for (const r of [c, t, list]) {
      for (const secret of [SF.clientSecret, SF.refreshToken, ...sf.tokens]) assert.ok(!r.text.includes(secret), 'no secret or access token in a response');
    }
    const cached = await h.rows("SELECT value FROM crm_cache WHERE key = 'oauth:access_token'");
    assert.equal(cached.length, 1, 'the access token is kept for later invocations');
    assert.ok(!cached[0].value.includes(sf.tokens[0]), 'sealed, not in clear');
  });

  test('customers by id, e-mail (SOQL, quotes escaped) and phone; tier from the configured field', async () => {
    const priya = sf.contacts[0];
    const byId = await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', customer_id: priya.Id });
    assert.equal(byId.status, 200, byId.text);
    assert.deepEqual([byId.json.id, byId.json.name, byId.json.email, byId.json.tier], [priya.Id, 'Priya Raman', 'priya.raman@example.com', 'Gold']);
    const byMail = await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', email: 'Priya.Raman@example.com' });
    assert.equal(byMail.json.id, priya.Id);
    assert.equal(byMail.json.metadata.account_name, 'Acme Outdoor');
    const liam = await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', email: "liam.o'brien@example.com" });
    assert.equal(liam.status, 200, liam.text);
    assert.equal(liam.json.name, "Liam O'Brien");
    const byMobile = await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', phone: '+1 555 010 0099' });
    assert.equal(byMobile.json.name, "Liam O'Brien", 'a MobilePhone stored as typed matches (SOSL phone search)');
    assert.ok(sf.requests.some((r) => r.path.includes('/search/?') && decodeURIComponent(r.path.replace(/\+/g, ' ')).includes('FIND {15550100099} IN PHONE FIELDS')));
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', email: 'nobody@example.com' })).status, 404);
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', customer_id: '003000000000000AAA' })).status, 404);
    const queries = sf.requests.filter((r) => r.path.includes('/query?')).map((r) => decodeURIComponent(r.path.replace(/\+/g, ' ')));
    assert.ok(queries.some((q) => q.includes("Email = 'liam.o\\'brien@example.com'")), 'the quote is escaped in SOQL');
  });

  test('cases: create, get, update with status and priority mapped', async () => {
    const priya = sf.contacts[0];
    const created = await api('POST', '/api/v1/crm/tickets', { crm_type: 'salesforce', subject: 'Tent pole snapped', description: 'On the first night', priority: 'urgent', customer_id: priya.Id });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual([created.json.status, created.json.priority, created.json.customer_id], ['new', 'high', priya.Id], 'urgent is High at Salesforce');
    assert.match(created.json.metadata.case_number, /^\d{8}$/);
    const sfCase = sf.cases.find((x) => x.Id === created.json.id);
    assert.deepEqual([sfCase.Status, sfCase.Priority, sfCase.Origin], ['New', 'High', 'Web']);
    const got = await api('POST', '/api/v1/crm/ticket', { crm_type: 'salesforce', ticket_id: created.json.id });
    assert.equal(got.json.subject, 'Tent pole snapped');
    const upd = await api('PATCH', `/api/v1/crm/tickets/salesforce/${created.json.id}`, { status: 'pending', priority: 'low' });
    assert.equal(upd.status, 200, upd.text);
    assert.deepEqual([upd.json.status, upd.json.priority], ['pending', 'low']);
    assert.equal(sf.cases.find((x) => x.Id === created.json.id).Status, 'On Hold');
    const closed = await api('PATCH', `/api/v1/crm/tickets/salesforce/${created.json.id}`, { status: 'solved' });
    assert.equal(closed.json.status, 'closed', 'solved is Closed at Salesforce');
    assert.equal(sf.cases.find((x) => x.Id === created.json.id).IsClosed, true);
    // Reopen for the enrichment test below: an open case of Priya's.
    await api('PATCH', `/api/v1/crm/tickets/salesforce/${created.json.id}`, { status: 'open' });
    assert.equal((await api('PATCH', '/api/v1/crm/tickets/salesforce/500000000000000AAA', { status: 'open' })).status, 404);
  });

  test('an expired session is refreshed once and the call repeated; the new token is kept', async () => {
    const grants = () => sf.requests.filter((r) => r.path.startsWith('/services/oauth2/token')).length;
    const before = grants();
    await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(grants(), before, 'the kept token is reused: no grant');
    sf.expireTokens();
    const r = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(r.status, 200, r.text);
    assert.equal(grants(), before + 1, 'INVALID_SESSION_ID → one refresh');
    await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(grants(), before + 1, 'and the refreshed token is used by the next request');

    // The token endpoint's own 5xx is tried again; one that keeps failing is a 502 without the vendor's body.
    sf.expireTokens();
    // retryAfter 0: no backoff, so the suite's short CRM_TIMEOUT_MS leaves room for every attempt on a slow machine.
    sf.fail(/oauth2\/token/, { status: 503, times: 1, retryAfter: 0 });
    const retried = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(retried.status, 200, retried.text);
    assert.equal(grants(), before + 3, 'a failed grant, then a good one');
    sf.expireTokens();
    sf.fail(/oauth2\/token/, { status: 500, times: 3, retryAfter: 0 }); // a fourth attempt would succeed (and fail this test)
    const down = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(down.status, 502, down.text);
    assert.equal(down.json.error.code, 'crm_error');
    assert.equal(grants(), before + 6, 'three attempts, then it gives up');
    assert.ok(!down.text.includes('unknown_error'), 'no vendor body is echoed');
  });

  test('REQUEST_LIMIT_EXCEEDED is retried, then 503; a revoked refresh token is 502 crm_auth_failed', async () => {
    sf.fail(/\/query\?/, { status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED', times: 1 });
    const retried = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', email: 'priya.raman@example.com' });
    assert.equal(retried.status, 200, 'one org-limit answer is retried');
    sf.fail(/\/query\?/, { status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED', times: 50 });
    const limited = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', email: 'priya.raman@example.com' });
    assert.equal(limited.status, 503, limited.text);
    assert.equal(limited.json.error.code, 'crm_rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(!limited.text.includes('TotalRequests'), 'no vendor body is echoed');
    sf.revokeRefreshToken();
    const refused = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', customer_id: sf.contacts[0].Id });
    assert.equal(refused.status, 502, refused.text);
    assert.equal(refused.json.error.code, 'crm_auth_failed');
    assert.match(refused.json.error.message, /Salesforce \(prod\)/);
    assert.ok(!refused.text.includes('expired access/refresh token'));
  });
});

describe('enrichment from every channel', () => {
  test('an e-mail ticket\'s AI draft prompt names the open Salesforce cases; an SMS ticket is enriched by phone by the sweep', async () => {
    const sf = await startSalesforce({ ...SF,
      contacts: [
        { FirstName: 'Priya', LastName: 'Raman', Email: 'priya.raman@example.com', Tier__c: 'Gold' },
        { FirstName: 'Maya', LastName: 'Patel', Phone: '(555) 777-0001', Tier__c: 'Silver' },
      ] });
    const twilio = await startTwilio();
    const zap = await startZapier({ secret: 'zap-secret-1' });
    const h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: KEY, TWILIO_API_BASE: twilio.url } });
    try {
      const token = await h.login();
      const api = (method, path, body) => h.api(method, path, { token, body });
      const c = await api('POST', '/api/v1/admin/connections', { type: 'salesforce', name: 'Salesforce', base_url: sf.url, is_primary: true, cache_ttl_seconds: 0,
        settings: { client_id: SF.clientId, login_url: sf.url, tier_field: 'Tier__c' }, secrets: { client_secret: SF.clientSecret, refresh_token: SF.refreshToken } });
      assert.equal(c.status, 201, c.text);
      const kase = await api('POST', '/api/v1/crm/tickets', { crm_type: 'salesforce', subject: 'Tent pole snapped', priority: 'high', customer_id: sf.contacts[0].Id });
      assert.equal(kase.status, 201, kase.text);
      await api('POST', '/api/v1/crm/tickets', { crm_type: 'salesforce', subject: 'Old closed case', customer_id: sf.contacts[0].Id })
        .then((r) => api('PATCH', `/api/v1/crm/tickets/salesforce/${r.json.id}`, { status: 'closed' }));
      const report = await h.poll(token);
      assert.ok(report.drafts_created >= 1, JSON.stringify(report));
      const prompt = h.fakes.requests.filter((r) => r.path?.startsWith('/v1/chat/completions')).map((r) => String(r.body)).find((p) => p.includes('TKT-000001'));
      assert.match(prompt, /salesforce customer 003\w+, name Priya Raman, tier Gold, open CRM tickets 1 \(#500\w+ Tent pole snapped \[new\]\)/);
      assert.ok(!prompt.includes('Old closed case'), 'closed cases are not "open"');

      // SMS: the ticket is created at once; the enrichment sweep attaches the CRM record found by phone.
      const put = await api('PUT', '/api/v1/admin/customer-service/config', { is_enabled: true, zapier_webhook_url: zap.hookUrl,
        zapier_callback_secret: 'zap-secret-1', account_sid: twilio.accountSid, auth_token: twilio.authToken, phone_numbers: ['+15550100001'] });
      assert.equal(put.status, 200, put.text);
      const sms = await postWebhook(h.url, '/api/v1/customer-service/sms/inbound',
        smsParams({ from: '+15557770001', to: '+15550100001', body: 'What time do you open?', accountSid: twilio.accountSid }), { authToken: twilio.authToken });
      assert.equal(sms.status, 200);
      const [ticket] = await until(async () => {
        const r = await h.rows("SELECT ticket_id, ticket_number, crm_customer FROM tickets WHERE channel = 'sms'");
        return r.length ? r : null;
      }, 'the SMS ticket');
      assert.equal(ticket.crm_customer, null, 'creation does not wait for the CRM');
      const worker = await h.mf.getWorker();
      await worker.scheduled({ cron: '*/2 * * * *' });
      const [after] = await h.rows('SELECT crm_customer FROM tickets WHERE ticket_id = ?', ticket.ticket_id);
      const stored = JSON.parse(after.crm_customer);
      assert.deepEqual([stored.crm_type, stored.customer.name, stored.customer.tier], ['salesforce', 'Maya Patel', 'Silver']);
      const detail = await api('GET', `/api/v1/tickets/${ticket.ticket_number}`);
      assert.equal(detail.json.crm_customer.customer.name, 'Maya Patel', 'the ticket detail shows it');
      const phoneQueries = sf.requests.filter((r) => r.path.includes('/search/?') && decodeURIComponent(r.path).includes('15557770001')).length;
      assert.equal(phoneQueries, 1);
      await worker.scheduled({ cron: '*/2 * * * *' });
      assert.equal(sf.requests.filter((r) => r.path.includes('/search/?') && decodeURIComponent(r.path).includes('15557770001')).length, phoneQueries, 'enriched once (no cache: the ticket keeps its record)');

      // A failing CRM: the attempt is recorded and retried only after a back-off, so it never blocks the sweep.
      const sms2 = await postWebhook(h.url, '/api/v1/customer-service/sms/inbound',
        smsParams({ from: '+15557770002', to: '+15550100001', body: 'Hello again', accountSid: twilio.accountSid }), { authToken: twilio.authToken });
      assert.equal(sms2.status, 200);
      const [t2] = await until(async () => {
        const r = await h.rows("SELECT ticket_id FROM tickets WHERE channel = 'sms' AND customer_phone = '+15557770002'");
        return r.length ? r : null;
      }, 'the second SMS ticket');
      sf.fail(/\/search\//, { status: 500, times: 100 });
      const before = sf.requests.length;
      await worker.scheduled({ cron: '*/2 * * * *' });
      const [failed] = await h.rows('SELECT crm_customer, crm_attempts, crm_retry_at_ms FROM tickets WHERE ticket_id = ?', t2.ticket_id);
      assert.deepEqual([failed.crm_customer, failed.crm_attempts], [null, 1]);
      assert.ok(failed.crm_retry_at_ms > Date.now() + 30_000, 'retried after a minute, not at once');
      const tried = sf.requests.length;
      assert.ok(tried > before);
      await worker.scheduled({ cron: '*/2 * * * *' });
      assert.equal(sf.requests.length, tried, 'backing off: not asked again on the next run');
    } finally {
      await h.dispose();
      await sf.close();
      await twilio.close();
      await zap.close();
    }
  });
});

describe('LiveChat handoff', () => {
  let h; let token; let lc; let api;
  before(async () => {
    lc = await startLiveChat({ ...LC, agents: [{ id: 'smith@example.com', name: 'Agent Smith', accepting: true }], waitSeconds: 90 });
    h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: KEY, CRM_TIMEOUT_MS: '2500' } });
    token = await h.login();
    api = (method, path, body) => h.api(method, path, { token, body });
  });
  after(async () => {
    await h?.dispose();
    await lc?.close();
  });

  test('without a LiveChat connection: 404; the connection needs the account id and is never primary', async () => {
    assert.equal((await api('POST', '/api/v1/handoff/create', { customer_name: 'Ana', transcript: [] })).status, 404);
    assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'livechat', base_url: lc.url, secrets: { personal_access_token: LC.token } })).status, 422);
    assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'livechat', base_url: lc.url, is_primary: true, settings: { account_id: LC.accountId }, secrets: { personal_access_token: LC.token } })).status, 422);
    const c = await api('POST', '/api/v1/admin/connections', { type: 'livechat', name: 'LiveChat', base_url: lc.url, settings: { account_id: LC.accountId, agent_id: 'handoff@edgedesk.test' }, secrets: { personal_access_token: LC.token } });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.is_primary, false);
    assert.ok(!c.text.includes(LC.token));
  });

  test('a call handed over with its transcript reaches an available agent', async () => {
    const r = await api('POST', '/api/v1/handoff/create', { call_id: 'CA0123456789abcdef0123456789abcdef', customer_name: 'Maya Patel',
      customer_email: 'maya@example.com', reason: 'wants to dispute a charge', urgency: 'high',
      transcript: [{ role: 'customer', text: 'I was charged twice' }, { role: 'assistant', text: 'Let me get a person for you.' }],
      metadata: { membership: 'Gold' } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.json.status, r.json.agent_name, r.json.agent_id, r.json.estimated_wait_seconds], ['assigned', 'Agent Smith', 'smith@example.com', 0]);
    assert.equal(r.json.chat_url, `https://my.livechatinc.com/chats/${r.json.handoff_id}`);
    const chat = lc.chats.find((c) => c.id === r.json.handoff_id) ?? lc.view(r.json.handoff_id);
    const texts = JSON.stringify(lc.view(r.json.handoff_id));
    assert.ok(chat, 'the chat exists at LiveChat');
    for (const part of ['Maya Patel', 'maya@example.com', 'wants to dispute a charge', 'Customer: I was charged twice', 'Assistant: Let me get a person for you.', 'membership: Gold', 'CA0123456789abcdef0123456789abcdef']) {
      assert.ok(texts.includes(part), `the agent sees ${part}`);
    }
    const note = lc.view(r.json.handoff_id).thread.events.find((e) => e.text?.includes('wants to dispute a charge'));
    assert.equal(note.visibility, 'agents', 'the handoff note is for agents only');
    const auth = lc.requests.find((q) => q.path.includes('start_chat')).headers.authorization;
    assert.equal(auth, `Basic ${Buffer.from(`${LC.accountId}:${LC.token}`).toString('base64')}`);
    const [row] = await h.rows('SELECT chat_id, status, agent_name, urgency FROM crm_handoffs');
    assert.deepEqual([row.chat_id, row.status, row.agent_name, row.urgency], [r.json.handoff_id, 'assigned', 'Agent Smith', 'high']);
  });

  test('a ticket handed over while nobody is free: queued with the wait, transcript from the ticket, logged on it', async () => {
    await h.poll(token);
    const note = await api('POST', '/api/v1/tickets/TKT-000001/notes', { content: 'internal: VIP, be nice' });
    assert.equal(note.status, 201, note.text);
    lc.setAccepting('smith@example.com', false);
    const r = await api('POST', '/api/v1/handoff/create', { ticket_id: 'TKT-000001', reason: 'needs a live agent' });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.json.status, r.json.agent_name, r.json.estimated_wait_seconds], ['queued', null, 90]);
    const shown = JSON.stringify(lc.view(r.json.handoff_id));
    assert.ok(shown.includes('Edgedesk ticket TKT-000001'), 'the ticket is named');
    assert.ok(shown.includes('Customer: '), 'the customer\'s mail is in the transcript');
    assert.ok(!shown.includes('VIP, be nice'), 'internal notes stay inside Edgedesk');
    const t = (await api('GET', '/api/v1/tickets/TKT-000001')).json;
    assert.ok(t.events.some((e) => e.kind === 'handoff'), 'an activity entry');
    assert.ok(t.messages.some((m) => m.sender_type === 'system' && /Handed over to LiveChat .*queued; estimated wait 90 s/.test(m.content)));
  });

  test('bad input 422 and nothing sent; refused token 502; LiveChat rate limit 503', async () => {
    const sent = lc.requests.length;
    assert.equal((await api('POST', '/api/v1/handoff/create', { customer_name: 'A', urgency: 'panic' })).status, 422);
    assert.equal((await api('POST', '/api/v1/handoff/create', { customer_name: 'A', transcript: [{ role: 'robot', text: 'x' }] })).status, 422);
    assert.equal((await api('POST', '/api/v1/handoff/create', { transcript: [] })).status, 422, 'no customer name and no ticket');
    assert.equal(lc.requests.length, sent, 'nothing reached LiveChat');
    assert.equal((await api('POST', '/api/v1/handoff/create', { customer_name: 'A', call_id: 'CAnope' })).status, 201, 'an unknown call with a name still hands over');
    assert.ok(lc.requests.length > sent);
    // LiveChat fails after the chat exists: answered `pending` (recorded), not an error a retry would duplicate.
    lc.fail(/transfer_chat/, { status: 500 });
    const partial = await api('POST', '/api/v1/handoff/create', { customer_name: 'Partial' });
    assert.equal(partial.status, 201, partial.text);
    assert.equal(partial.json.status, 'pending');
    assert.equal((await h.rows("SELECT status FROM crm_handoffs WHERE chat_id = ?", partial.json.handoff_id))[0].status, 'pending');
    const starts = () => lc.requests.filter((q) => q.path.includes('start_chat')).length;
    const startsBefore = starts();
    lc.fail(/start_chat/, { status: 503 });
    const down = await api('POST', '/api/v1/handoff/create', { customer_name: 'Down' });
    assert.equal(down.status, 502);
    assert.equal(starts(), startsBefore + 1, 'a create that failed with a 5xx is not repeated (it may have happened)');
    lc.fail(/start_chat/, { status: 401 });
    const refused = await api('POST', '/api/v1/handoff/create', { customer_name: 'A' });
    assert.equal(refused.status, 502);
    assert.equal(refused.json.error.code, 'crm_auth_failed');
    lc.fail(/start_chat/, { status: 429, retryAfter: 1, times: 20 });
    const limited = await api('POST', '/api/v1/handoff/create', { customer_name: 'A' });
    assert.equal(limited.status, 503);
    assert.equal(limited.json.error.code, 'crm_rate_limited');
  });
});

describe('secrets never reach the logs', () => {
  test('failures are logged (kind, connection, what happened) without tokens, keys or vendor bodies', async () => {
    const sf = await startSalesforce({ ...SF, contacts: [{ FirstName: 'Ada', LastName: 'Log', Email: 'ada@example.com' }] });
    const lc = await startLiveChat({ ...LC });
    const h = await startEdgedesk({ captureLogs: true, vars: { CS_ENCRYPTION_KEY: KEY, CRM_TIMEOUT_MS: '2500' } });
    try {
      const token = await h.login();
      const api = (method, path, body) => h.api(method, path, { token, body });
      assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'salesforce', name: 'SF logs', base_url: sf.url,
        settings: { client_id: SF.clientId, login_url: sf.url }, secrets: { client_secret: SF.clientSecret, refresh_token: SF.refreshToken } })).status, 201);
      assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'livechat', name: 'LC logs', base_url: lc.url,
        settings: { account_id: LC.accountId }, secrets: { personal_access_token: LC.token } })).status, 201);
      assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', email: 'ada@example.com' })).status, 200);
      sf.expireTokens();
      sf.revokeRefreshToken();
      assert.equal((await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'salesforce', email: 'ada@example.com' })).status, 502);
      lc.fail(/start_chat/, { status: 401 });
      assert.equal((await api('POST', '/api/v1/handoff/create', { customer_name: 'Ada' })).status, 502);
      // The worker's console output reaches us through workerd's pipe, a moment after the responses.
      for (let i = 0; i < 250 && !/"SF logs".*[\s\S]*"LC logs"|"LC logs"[\s\S]*"SF logs"/.test(h.logs.join('')); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const logged = h.logs.join('');
      assert.match(logged, /salesforce connection "SF logs": crm_auth_failed/, 'the failure is logged');
      assert.match(logged, /livechat connection "LC logs": crm_auth_failed/);
      for (const secret of [SF.clientSecret, SF.refreshToken, LC.token, KEY, ...sf.tokens,
        Buffer.from(`${LC.accountId}:${LC.token}`).toString('base64'), 'expired access/refresh token', 'Invalid access token']) {
        assert.ok(!logged.includes(secret), `not in the logs: ${secret.slice(0, 12)}…`);
      }
    } finally {
      await h.dispose();
      await sf.close();
      await lc.close();
    }
  });
});
