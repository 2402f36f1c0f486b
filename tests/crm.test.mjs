/**
 * CRM proxies (issue 5, first part: connections, Zendesk and HubSpot behind the unified API) against loopback
 * fakes that follow each vendor's documented request and error shapes (tests/fakes/crm.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { startFreshdesk, startHubSpot, startZendesk } from './fakes/crm.mjs';

const ZD_TOKEN = 'zd-api-token-0123456789abcdef';
const HS_TOKEN = 'pat-na1-0123456789abcdef-0123';

describe('CRM connections and the unified API', () => {
  let h; let token; let zd; let hs;
  before(async () => {
    zd = await startZendesk({
      email: 'admin@acme.test', apiToken: ZD_TOKEN,
      users: [{ id: 7001, name: 'Priya Raman', email: 'priya.raman@example.com', phone: '+15550100007', user_fields: { tier: 'gold' } }],
      tickets: [{ id: 9001, subject: 'Broken zipper', description: 'It broke', status: 'hold', priority: 'normal', requester_id: 7001 }],
    });
    hs = await startHubSpot({
      token: HS_TOKEN,
      contacts: [{ id: '51', properties: { email: 'jose.garcia@example.org', firstname: 'José', lastname: 'García', phone: '+15550100051', lifecyclestage: 'customer' } }],
      tickets: [{ id: '801', properties: { subject: 'Refund', content: 'Double charge', hs_pipeline: '0', hs_pipeline_stage: '2', hs_ticket_priority: 'HIGH' } }],
    });
    h = await startEdgedesk({ vars: { CS_ENCRYPTION_KEY: Buffer.alloc(32, 4).toString('base64'), CRM_TIMEOUT_MS: '2500' } });
    token = await h.login();
  });
  after(async () => {
    await h?.dispose();
    await zd?.close();
    await hs?.close();
  });

  const api = (method, path, body) => h.api(method, path, { token, body });

  test('connections: created with write-only secrets, validated, admin-only, testable', async () => {
    const z = await api('POST', '/api/v1/admin/connections', { type: 'zendesk', name: 'Zendesk (EU)', base_url: zd.url,
      settings: { email: 'admin@acme.test', subdomain: 'acme' }, secrets: { api_token: ZD_TOKEN } });
    assert.equal(z.status, 201, z.text);
    assert.equal(z.json.has_secrets, true);
    assert.equal(z.json.is_primary, true, 'the first connection is the primary one');
    const hub = await api('POST', '/api/v1/admin/connections', { type: 'hubspot', name: 'HubSpot', base_url: hs.url, secrets: { token: HS_TOKEN } });
    assert.equal(hub.status, 201, hub.text);
    const list = await api('GET', '/api/v1/admin/connections');
    assert.equal(list.json.connections.length, 2);
    for (const r of [z, hub, list]) assert.ok(!r.text.includes(ZD_TOKEN) && !r.text.includes(HS_TOKEN), 'secrets are never returned');
    const [row] = await h.rows("SELECT secrets_enc FROM crm_connections WHERE type = 'zendesk'");
    assert.match(row.secrets_enc, /^v1:/);
    assert.ok(!row.secrets_enc.includes(ZD_TOKEN));
    assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'zendesk', settings: { email: 'x@y.test' }, base_url: zd.url })).status, 422, 'no secret');
    assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'sugarcrm' })).status, 422);
    const t = await api('POST', `/api/v1/admin/connections/${z.json.id}/test`);
    assert.equal(t.json.ok, true, t.text);
    const agent = await api('POST', '/api/v1/staff', { email: 'ag@demo.edgedesk.test', name: 'Ag', role: 'agent' });
    const agentToken = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'ag@demo.edgedesk.test', password: agent.json.temporary_password } })).json.token;
    assert.equal((await h.api('GET', '/api/v1/admin/connections', { token: agentToken })).status, 403);
    const health = await h.api('GET', '/api/v1/crm/health', { token: agentToken });
    assert.deepEqual(health.json.connections.map((c) => [c.type, c.supported]), [['zendesk', true], ['hubspot', true]]);
  });

  test('customers by id, e-mail and phone on Zendesk and HubSpot; 404; cached until ?fresh=true', async () => {
    const byId = await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', customer_id: '7001' });
    assert.equal(byId.status, 200, byId.text);
    assert.deepEqual([byId.json.id, byId.json.name, byId.json.email, byId.json.tier], ['7001', 'Priya Raman', 'priya.raman@example.com', 'gold']);
    const byMail = await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', email: 'Priya.Raman@example.com' });
    assert.equal(byMail.json.id, '7001');
    const byPhone = await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', phone: '(555) 010-0007' });
    assert.equal(byPhone.json.id, '7001');
    const hsMail = await api('POST', '/api/v1/crm/customer', { crm_type: 'hubspot', email: 'jose.garcia@example.org' });
    assert.deepEqual([hsMail.json.id, hsMail.json.name, hsMail.json.tier], ['51', 'José García', 'customer']);
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'hubspot', phone: '+15550100051' })).json.id, '51');
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'hubspot', customer_id: '51' })).json.email, 'jose.garcia@example.org');
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', email: 'nobody@example.com' })).status, 404);
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', email: 'a@b.co', phone: '+15550100007' })).status, 422);
    assert.equal((await api('POST', '/api/v1/crm/customer', { crm_type: 'salesforce', email: 'a@b.co' })).status, 404, 'no such connection');
    const calls = zd.requests.length;
    await api('POST', '/api/v1/crm/customer', { crm_type: 'zendesk', customer_id: '7001' });
    assert.equal(zd.requests.length, calls, 'served from the cache');
    await h.api('POST', '/api/v1/crm/customer?fresh=true', { token, body: { crm_type: 'zendesk', customer_id: '7001' } });
    assert.equal(zd.requests.length, calls + 1, 'fresh=true asks the vendor');
  });

  test('tickets: get, create and update with each vendor\'s statuses and priorities mapped', async () => {
    const zt = await api('POST', '/api/v1/crm/ticket', { crm_type: 'zendesk', ticket_id: '9001' });
    assert.deepEqual([zt.json.status, zt.json.priority, zt.json.customer_id], ['pending', 'medium', '7001'], 'hold → pending, normal → medium');
    const ht = await api('POST', '/api/v1/crm/ticket', { crm_type: 'hubspot', ticket_id: '801' });
    assert.deepEqual([ht.json.status, ht.json.priority], ['pending', 'high'], 'stage 2 → pending');
    const created = await api('POST', '/api/v1/crm/tickets', { crm_type: 'zendesk', subject: 'From Edgedesk', description: 'Customer called', priority: 'urgent', customer_id: '7001' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.priority, 'urgent');
    const zdTicket = zd.tickets.find((t) => String(t.id) === created.json.id);
    assert.equal(zdTicket.priority, 'urgent');
    const upd = await api('PATCH', `/api/v1/crm/tickets/zendesk/${created.json.id}`, { status: 'solved', priority: 'medium' });
    assert.equal(upd.status, 200, upd.text);
    assert.deepEqual([upd.json.status, upd.json.priority], ['solved', 'medium']);
    assert.equal(zd.tickets.find((t) => String(t.id) === created.json.id).priority, 'normal', 'medium → normal at Zendesk');
    const hc = await api('POST', '/api/v1/crm/tickets', { crm_type: 'hubspot', subject: 'Callback', priority: 'low' });
    assert.equal(hc.status, 201, hc.text);
    assert.deepEqual([hc.json.status, hc.json.priority], ['new', 'low']);
    const hu = await api('PATCH', `/api/v1/crm/tickets/hubspot/${hc.json.id}`, { status: 'closed' });
    assert.equal(hu.json.status, 'closed');
    assert.equal((await api('PATCH', `/api/v1/crm/tickets/hubspot/${hc.json.id}`, { status: 'done' })).status, 422);
    assert.equal((await api('POST', '/api/v1/crm/ticket', { crm_type: 'zendesk', ticket_id: '424242' })).status, 404);
  });

  test('vendor failures: refused credentials 502, rate limits retried then 503 with Retry-After, 5xx retried, timeouts 504', async () => {
    zd.fail(/users\/7001/, { status: 401 });
    const auth = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'zendesk', customer_id: '7001' });
    assert.equal(auth.status, 502);
    assert.equal(auth.json.error.code, 'crm_auth_failed');
    assert.match(auth.json.error.message, /Zendesk \(EU\)/);
    assert.ok(!auth.text.includes("Couldn't authenticate"), 'no vendor body is echoed');
    zd.fail(/users\/7001/, { status: 503, times: 1 });
    const retried = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'zendesk', customer_id: '7001' });
    assert.equal(retried.status, 200, 'a 5xx is retried');
    zd.fail(/users\/7001/, { status: 429, retryAfter: 1, times: 20 });
    const limited = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'zendesk', customer_id: '7001' });
    assert.equal(limited.status, 503);
    assert.equal(limited.json.error.code, 'crm_rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.ok(zd.requests.filter((r) => /users\/7001/.test(r.path)).length >= 2, 'it retried after Retry-After');
    hs.delay(/contacts\/51/, { ms: Infinity, times: 1 });
    const slow = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'hubspot', customer_id: '51' });
    assert.equal(slow.status, 504);
    assert.equal(slow.json.error.code, 'crm_timeout');
  });
});

describe('ticket enrichment from the primary CRM', () => {
  test('a ticket from e-mail shows the customer\'s CRM record, and the AI draft prompt includes it', async () => {
    const zd = await startZendesk({ email: 'admin@acme.test', apiToken: ZD_TOKEN,
      users: [{ id: 7001, name: 'Priya Raman', email: 'priya.raman@example.com', user_fields: { tier: 'gold' } }] });
    const h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: Buffer.alloc(32, 4).toString('base64') } });
    try {
      const token = await h.login();
      const c = await h.api('POST', '/api/v1/admin/connections', { token, body: { type: 'zendesk', name: 'Zendesk', base_url: zd.url,
        settings: { email: 'admin@acme.test' }, secrets: { api_token: ZD_TOKEN }, is_primary: true } });
      assert.equal(c.status, 201, c.text);
      const report = await h.poll(token);
      assert.ok(report.drafts_created >= 1, JSON.stringify(report));
      const prompts = h.fakes.requests.filter((r) => r.path?.startsWith('/v1/chat/completions')).map((r) => String(r.body));
      const priyaPrompt = prompts.find((p) => p.includes('TKT-000001'));
      assert.match(priyaPrompt, /zendesk customer 7001, name Priya Raman, tier gold/, 'the CRM summary is in the prompt');
      const other = prompts.find((p) => p.includes('TKT-000002'));
      assert.ok(!/tier gold/.test(other), 'nobody else gets her record');
      const t = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json;
      assert.deepEqual([t.crm_customer.crm_type, t.crm_customer.customer.id, t.crm_customer.customer.tier], ['zendesk', '7001', 'gold']);
      const lookups = zd.requests.filter((r) => /users\/search/.test(r.path)).length;
      await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
      assert.equal(zd.requests.filter((r) => /users\/search/.test(r.path)).length, lookups, 'stored on the ticket: no second lookup');
      const unknown = (await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json;
      assert.equal(unknown.crm_customer, null, 'a customer the CRM does not know has no record');
      const [row] = await h.rows("SELECT crm_customer FROM tickets WHERE ticket_number = 'TKT-000002'");
      assert.match(row.crm_customer, /"found":false/, 'and that is remembered, so the CRM is not asked again');
    } finally {
      await h.dispose();
      await zd.close();
    }
  });
});

describe('Freshdesk', () => {
  test('customers by id, e-mail and phone; tickets with status and priority mapped; refused key 502', async () => {
    const KEY = 'fd-api-key-0123456789';
    const fd = await startFreshdesk({ apiKey: KEY,
      contacts: [{ id: 4301, name: 'Mei Lin', email: 'mei.lin@example.org', phone: '+15550104301', company_id: 88 }],
      tickets: [{ id: 12, subject: 'Jacket sizes', description: '<p>More sizes?</p>', status: 3, priority: 1, requester_id: 4301 }] });
    const h = await startEdgedesk({ vars: { CS_ENCRYPTION_KEY: Buffer.alloc(32, 4).toString('base64'), CRM_TIMEOUT_MS: '2500' } });
    try {
      const token = await h.login();
      const api = (method, path, body) => h.api(method, path, { token, body });
      const c = await api('POST', '/api/v1/admin/connections', { type: 'freshdesk', name: 'Freshdesk', base_url: fd.url, secrets: { api_key: KEY } });
      assert.equal(c.status, 201, c.text);
      assert.ok(!c.text.includes(KEY));
      for (const body of [{ customer_id: '4301' }, { email: 'mei.lin@example.org' }, { phone: '+1 555 010 4301' }]) {
        const r = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'freshdesk', ...body });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual([r.json.id, r.json.name, r.json.tier], ['4301', 'Mei Lin', 'company 88'], JSON.stringify(body));
      }
      const t = await api('POST', '/api/v1/crm/ticket', { crm_type: 'freshdesk', ticket_id: '12' });
      assert.deepEqual([t.json.status, t.json.priority, t.json.customer_id], ['pending', 'low', '4301']);
      const created = await api('POST', '/api/v1/crm/tickets', { crm_type: 'freshdesk', subject: 'Callback', description: 'Call her', priority: 'high', customer_id: '4301' });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual([created.json.status, created.json.priority], ['open', 'high']);
      const upd = await api('PATCH', `/api/v1/crm/tickets/freshdesk/${created.json.id}`, { status: 'solved' });
      assert.equal(upd.json.status, 'solved');
      assert.equal(fd.tickets.find((x) => String(x.id) === created.json.id).status, 4, 'solved → 4 Resolved');
      fd.fail(/contacts\/4301/, { status: 401 });
      const refused = await api('POST', '/api/v1/crm/customer?fresh=true', { crm_type: 'freshdesk', customer_id: '4301' });
      assert.equal(refused.status, 502);
      assert.equal(refused.json.error.code, 'crm_auth_failed');
    } finally {
      await h.dispose();
      await fd.close();
    }
  });
});
