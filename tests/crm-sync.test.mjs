/**
 * Ticket sync with a CRM (issue 5, the optional `sync_tickets`): Edgedesk tickets mirrored once as Zendesk tickets
 * (idempotent by the stored external id), status changes flowing both ways on each run of the sync cron, Edgedesk
 * winning when both sides changed — against the BUILT worker and the Zendesk fake (tests/fakes/crm.mjs); and, for
 * all four CRMs, no duplicate when a create's answer was lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { startFreshdesk, startHubSpot, startZendesk } from './fakes/crm.mjs';
import { startSalesforce } from './fakes/salesforce.mjs';
import { email } from './support/mail.mjs';

const ZD_TOKEN = 'zd-api-token-sync-0123456789';
const KEY = Buffer.alloc(32, 4).toString('base64');
const SF = { clientId: '3MVG9-edgedesk-sync-key', clientSecret: 'sf-sync-secret-0123456789', refreshToken: '5Aep861-sync-refresh-token' };

/** The built worker with the demo mailbox, a signed-in owner, and `run()`: one run of the CRM cron (enrichment + sync). */
async function startSync() {
  const h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { CS_ENCRYPTION_KEY: KEY } });
  const token = await h.login();
  const api = (method, path, body) => h.api(method, path, { token, body });
  const worker = await h.mf.getWorker();
  return { h, token, api, run: () => worker.scheduled({ cron: '*/2 * * * *' }) };
}

test('tickets are mirrored once; status changes flow both ways; Edgedesk wins a conflict', async () => {
  const zd = await startZendesk({ email: 'admin@acme.test', apiToken: ZD_TOKEN });
  const { h, token, api, run } = await startSync();
  try {
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

    await Promise.all([run(), run()]); // overlapping cron runs: each ticket is claimed by one of them
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

// A create whose answer was lost (the vendor wrote the ticket, then answered 5xx) must not become a second CRM
// ticket: the next run looks for it first (Zendesk external_id, Freshdesk tag, exact subject at HubSpot and
// Salesforce). A create that really failed is made on the next run, once.
const VENDORS = [
  {
    type: 'zendesk',
    start: () => startZendesk({ email: 'admin@acme.test', apiToken: ZD_TOKEN }),
    connection: (url) => ({ settings: { email: 'admin@acme.test' }, secrets: { api_token: ZD_TOKEN }, base_url: url }),
    create: /^POST \/api\/v2\/tickets(\.json)?$/,
    subjects: (f) => f.tickets.map((t) => t.subject),
  },
  {
    type: 'hubspot',
    start: () => startHubSpot({ token: 'hs-private-app-token-sync' }),
    connection: (url) => ({ secrets: { token: 'hs-private-app-token-sync' }, base_url: url }),
    create: /^POST \/crm\/v3\/objects\/tickets$/,
    subjects: (f) => f.tickets.map((t) => t.properties.subject),
  },
  {
    type: 'freshdesk',
    start: () => startFreshdesk({ apiKey: 'fd-api-key-sync-0123' }),
    connection: (url) => ({ secrets: { api_key: 'fd-api-key-sync-0123' }, base_url: url }),
    create: /^POST \/api\/v2\/tickets$/,
    subjects: (f) => f.tickets.map((t) => t.subject),
  },
  {
    type: 'salesforce',
    start: () => startSalesforce({ ...SF }),
    connection: (url) => ({ settings: { client_id: SF.clientId, login_url: url },
      secrets: { client_secret: SF.clientSecret, refresh_token: SF.refreshToken }, base_url: url }),
    create: /^POST \/services\/data\/v[\d.]+\/sobjects\/Case$/,
    subjects: (f) => f.cases.map((t) => t.Subject),
  },
];

for (const v of VENDORS) {
  test(`${v.type}: a create whose answer was lost is found, not made twice; a create that failed is made once`, async () => {
    const fake = await v.start();
    const { h, token, api, run } = await startSync();
    try {
      const conn = v.connection(fake.url);
      const c = await api('POST', '/api/v1/admin/connections', { type: v.type, name: v.type, ...conn,
        settings: { ...conn.settings, sync_tickets: true } });
      assert.equal(c.status, 201, c.text);
      await h.poll(token);
      const ours = await h.rows('SELECT ticket_number, subject FROM tickets ORDER BY created_at');
      assert.ok(ours.length >= 2, 'two tickets at least: one lost answer, one real failure');
      const links = () => h.rows('SELECT ticket_id, external_id, attempts FROM crm_ticket_links');
      const mirrored = () => v.subjects(fake).filter((s) => /^\[TKT-\d+\]/.test(s ?? ''));

      // Run 1: the first create is carried out at the vendor, but its answer is a 500; the run stops there.
      // Cut to 255 characters (Salesforce and Freshdesk refuse longer subjects); ASCII subjects here.
      const subjectOf = (t) => {
        const full = `[${t.ticket_number}] ${t.subject}`;
        return full.length <= 255 ? full : `${full.slice(0, 254)}…`;
      };
      const count = (t) => mirrored().filter((x) => x === subjectOf(t)).length;
      fake.fail(v.create, { status: 500, times: 1, after: true });
      await run();
      assert.equal(mirrored().length, 1, 'the vendor has the ticket');
      assert.equal((await links()).filter((l) => l.external_id).length, 0, 'Edgedesk does not know it');
      // A failed create waits (5 min × attempts) before it is tried again: the vendor's search index may lag.
      const failedLinks = await h.rows(`SELECT l.attempts, l.retry_at_ms, t.ticket_number, t.subject FROM crm_ticket_links l
        JOIN tickets t ON t.ticket_id = l.ticket_id WHERE l.attempts > 0`);
      assert.equal(failedLinks.length, 1);
      const [failed] = failedLinks;
      const first = failed; // the ticket whose create answered 500
      assert.equal(count(first), 1);
      assert.equal(failed.attempts, 1);
      assert.ok(failed.retry_at_ms - Date.now() > 4 * 60_000, `retry_at_ms ${failed.retry_at_ms}`);

      // Run 2, before it is due: the other tickets are mirrored; the first is left alone (not even looked for).
      await run();
      assert.equal(mirrored().length, ours.length);
      assert.equal(count(first), 1, 'not created again');
      const [paused] = await h.rows('SELECT external_id, attempts FROM crm_ticket_links WHERE attempts > 0');
      assert.deepEqual([paused.external_id, paused.attempts], [null, 1], 'still paused, untouched');
      const due = () => h.rows('UPDATE crm_ticket_links SET retry_at_ms = 0 WHERE external_id IS NULL'); // time passes

      // Run 3, due: the lost one is found and linked, not created again.
      await due();
      await run();
      assert.equal(count(first), 1, `found, not created again: ${JSON.stringify(await links())}`);
      let linked = await links();
      assert.equal(linked.length, ours.length);
      assert.ok(linked.every((l) => l.external_id), JSON.stringify(linked));

      // A create that fails for real (nothing written at the vendor) is made on a later run, once; its subject
      // is longer than any CRM takes.
      const long = `Where is my parcel ${'and why '.repeat(40)}`.trim();
      h.fakes.addMessage({ raw: email({ from: 'Late Comer <late@example.net>', subject: long }) });
      await h.poll(token);
      const [late] = await h.rows("SELECT ticket_number, subject FROM tickets WHERE subject LIKE 'Where is my parcel%'");
      assert.ok(late.subject.length > 255, 'the long subject is kept in Edgedesk');
      fake.fail(v.create, { status: 500, times: 1 });
      await run();
      assert.equal(count(late), 0);
      await due();
      await run();
      await run();
      assert.equal(count(late), 1);
      const all = [...ours, late];
      assert.equal(mirrored().length, all.length, JSON.stringify(mirrored()));
      for (const t of all) assert.equal(count(t), 1, t.ticket_number);
      linked = await links();
      assert.equal(linked.length, all.length);
      assert.ok(linked.every((l) => l.external_id), JSON.stringify(linked));
      assert.equal(new Set(linked.map((l) => l.external_id)).size, all.length, 'each linked to its own CRM ticket');

      // A ticket the CRM refuses (4xx) does not hold up the others in the same run; it is tried again later.
      for (const subject of ['Refused one', 'Accepted one']) {
        h.fakes.addMessage({ raw: email({ from: `${subject} <${subject.split(' ')[0].toLowerCase()}@example.net>`, subject }) });
      }
      await h.poll(token);
      const pair = await h.rows("SELECT ticket_id, ticket_number, subject FROM tickets WHERE subject IN ('Refused one', 'Accepted one')");
      assert.equal(pair.length, 2);
      fake.fail(v.create, { status: 400, times: 1 });
      await run();
      assert.equal(pair.filter((t) => count(t) === 1).length, 1, 'the other one went through in the same run');
      const refused = await h.rows('SELECT attempts FROM crm_ticket_links WHERE external_id IS NULL');
      assert.deepEqual(refused.map((r) => r.attempts), [1]);
      await due();
      await run();
      for (const t of pair) assert.equal(count(t), 1, t.ticket_number);
    } finally {
      await h.dispose();
      await fake.close();
    }
  });
}
