/**
 * Ticket sync with a CRM (issue 5, the optional `sync_tickets`): Edgedesk tickets mirrored once as Zendesk tickets
 * (idempotent by the stored external id), status changes flowing both ways on each run of the sync cron, Edgedesk
 * winning when both sides changed — against the BUILT worker and the Zendesk fake (tests/fakes/crm.mjs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { startZendesk } from './fakes/crm.mjs';

const ZD_TOKEN = 'zd-api-token-sync-0123456789';
const KEY = Buffer.alloc(32, 4).toString('base64');

test('tickets are mirrored once; status changes flow both ways; Edgedesk wins a conflict', async () => {
  const zd = await startZendesk({ email: 'admin@acme.test', apiToken: ZD_TOKEN });
  const h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: KEY } });
  try {
    const token = await h.login();
    const api = (method, path, body) => h.api(method, path, { token, body });
    const worker = await h.mf.getWorker();
    const run = () => worker.scheduled({ cron: '*/2 * * * *' });
    const zdAuth = `Basic ${Buffer.from(`admin@acme.test/token:${ZD_TOKEN}`).toString('base64')}`;
    const zdPut = (id, ticket) => fetch(`${zd.url}/api/v2/tickets/${id}.json`, { method: 'PUT',
      headers: { authorization: zdAuth, 'content-type': 'application/json' }, body: JSON.stringify({ ticket }) });

    assert.equal((await api('POST', '/api/v1/admin/connections', { type: 'zendesk', base_url: zd.url,
      settings: { email: 'admin@acme.test', sync_tickets: 'yes' }, secrets: { api_token: ZD_TOKEN } })).status, 422);
    const c = await api('POST', '/api/v1/admin/connections', { type: 'zendesk', name: 'Zendesk', base_url: zd.url,
      settings: { email: 'admin@acme.test', sync_tickets: true }, secrets: { api_token: ZD_TOKEN } });
    assert.equal(c.status, 201, c.text);
    assert.ok(c.json.settings.sync_since, 'tickets from now on are mirrored');
    await h.poll(token);
    const ours = await h.rows('SELECT ticket_id, ticket_number, subject FROM tickets ORDER BY ticket_number');
    assert.ok(ours.length >= 2);

    await run();
    const mirrored = () => zd.tickets.filter((t) => /^\[TKT-\d+\]/.test(t.subject));
    assert.equal(mirrored().length, ours.length, `one CRM ticket per Edgedesk ticket: ${JSON.stringify(await h.rows('SELECT ticket_id, external_id, attempts, last_error FROM crm_ticket_links'))}`);
    for (const t of ours) assert.ok(mirrored().some((z) => z.subject === `[${t.ticket_number}] ${t.subject}`));
    const detail = (await api('GET', '/api/v1/tickets/TKT-000001')).json;
    const [link] = detail.crm_links;
    assert.equal(link.type, 'zendesk');
    const zt = () => zd.tickets.find((z) => String(z.id) === link.external_id);
    assert.ok(zt(), 'the link holds the Zendesk ticket id');

    await run();
    assert.equal(mirrored().length, ours.length, 'idempotent: a second run creates nothing');

    // Edgedesk → Zendesk.
    assert.equal((await api('PATCH', '/api/v1/tickets/TKT-000001', { status: 'pending' })).status, 200);
    await run();
    assert.equal(zt().status, 'pending');

    // Zendesk → Edgedesk.
    assert.equal((await zdPut(link.external_id, { status: 'solved' })).status, 200);
    await run();
    const after = (await api('GET', '/api/v1/tickets/TKT-000001')).json;
    assert.equal(after.ticket.status, 'resolved');
    assert.ok(after.ticket.resolved_at, 'resolved_at follows, as for a staff change');
    const ev = after.events.find((e) => e.kind === 'crm_sync');
    assert.ok(ev, 'an activity entry says where the change came from');

    // Stable: nothing flips back and forth.
    const puts = () => zd.requests.filter((r) => r.method === 'PUT').length;
    const before = puts();
    await run();
    await run();
    assert.equal(puts(), before, 'no further writes once both sides agree');
    assert.equal((await api('GET', '/api/v1/tickets/TKT-000001')).json.ticket.status, 'resolved');

    // Both change between two runs: Edgedesk wins.
    assert.equal((await api('PATCH', '/api/v1/tickets/TKT-000001', { status: 'open' })).status, 200);
    assert.equal((await zdPut(link.external_id, { status: 'pending' })).status, 200);
    await run();
    assert.equal(zt().status, 'open');
    assert.equal((await api('GET', '/api/v1/tickets/TKT-000001')).json.ticket.status, 'open');
  } finally {
    await h.dispose();
    await zd.close();
  }
});
