/**
 * The customer registry (issue 6, first part): customers with identities across channels, created from e-mail
 * (and SMS) automatically, CRUD/search/upsert/block/merge, and GDPR erasure. Built worker in workerd with local D1.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, emlFiles, startEdgedesk } from './support/worker.mjs';
import { email } from './support/mail.mjs';

describe('customer registry', () => {
  let h;
  let token;
  before(async () => {
    h = await startEdgedesk({ eml: emlFiles(FIXTURES), vars: { POLL_MAX_DRAFTS: '0' } });
    token = await h.login();
    await h.poll(token);
  });
  after(() => h?.dispose());

  const api = (method, path, body, t = token) => h.api(method, path, { token: t, body });

  test('e-mail ingest finds or creates the customer of every ticket', async () => {
    const r = await api('GET', '/api/v1/customers?platform=email');
    assert.equal(r.status, 200, r.text);
    const emails = r.json.customers.map((c) => c.identities.find((i) => i.kind === 'email').value).sort();
    assert.deepEqual(emails, ['jose.garcia@example.org', 'mei.lin@example.org', 'priya.raman@example.com']);
    const priya = r.json.customers.find((c) => c.name === 'Priya Raman');
    assert.equal(priya.ticket_count, 1, 'her follow-up joined her ticket');
    assert.ok(priya.last_interaction_at);
    const tickets = (await api('GET', '/api/v1/tickets')).json.tickets;
    assert.ok(tickets.every((t) => t.customer_id), 'every ticket points at its customer');
    const hers = (await api('GET', `/api/v1/tickets?customer=${priya.id}`)).json.tickets;
    assert.deepEqual(hers.map((t) => t.customer_email), ['priya.raman@example.com'], '?customer= lists their tickets');
    assert.equal(tickets.find((t) => t.customer_email === 'priya.raman@example.com').customer_id, priya.id);
  });

  test('create, search, update identities, conflicts and tenant isolation', async () => {
    const c = await api('POST', '/api/v1/customers', {
      name: 'Lucas Meyer', emails: ['Lucas@Example.net'], phones: ['(555) 010-0777'],
      meta_ids: [{ platform: 'facebook', id: '2468013579', page_id: '1122334455' }],
    });
    assert.equal(c.status, 201, c.text);
    assert.deepEqual(c.json.identities.map((i) => `${i.kind}:${i.value}`).sort(),
      ['email:lucas@example.net', 'phone:+15550100777', 'psid:2468013579']);
    const dup = await api('POST', '/api/v1/customers', { name: 'Other', emails: ['lucas@example.net'] });
    assert.equal(dup.status, 409);
    const bad = await api('POST', '/api/v1/customers', { emails: ['nope'] });
    assert.equal(bad.status, 422);
    assert.match(bad.json.error.message, /^emails/);
    for (const q of ['lucas', 'example.net', '0100777', '2468013579']) {
      const found = await api('GET', `/api/v1/customers?q=${encodeURIComponent(q)}`);
      assert.deepEqual(found.json.customers.map((x) => x.id), [c.json.id], q);
    }
    assert.deepEqual((await api('GET', '/api/v1/customers?platform=facebook')).json.customers.map((x) => x.id), [c.json.id]);
    assert.equal((await api('GET', '/api/v1/customers/psid/2468013579')).json.id, c.json.id);
    assert.equal((await api('GET', '/api/v1/customers/psid/999999999')).status, 404);
    const put = await api('PUT', `/api/v1/customers/${c.json.id}`, { notes: 'Prefers phone', emails: ['lucas.m@example.net'], phones: [] });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json.identities.map((i) => i.value), ['lucas.m@example.net']);
    assert.equal(put.json.notes, 'Prefers phone');
    const page1 = await api('GET', '/api/v1/customers?limit=2');
    const page2 = await api('GET', `/api/v1/customers?limit=2&cursor=${page1.json.next_cursor}`);
    const all = [...page1.json.customers, ...page2.json.customers].map((x) => x.id);
    assert.equal(new Set(all).size, all.length, 'pages do not overlap');
    const other = await api('POST', '/api/v1/tenants', { id: 'acme', name: 'Acme', owner_email: 'o@acme.test', owner_name: 'O' });
    const acme = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'o@acme.test', password: other.json.temporary_password } })).json.token;
    assert.equal((await api('GET', `/api/v1/customers/${c.json.id}`, undefined, acme)).status, 404);
    assert.deepEqual((await api('GET', '/api/v1/customers', undefined, acme)).json.customers, []);
    const same = await api('POST', '/api/v1/customers', { emails: ['lucas.m@example.net'] }, acme);
    assert.equal(same.status, 201, 'identities are per tenant');
  });

  test('upsert is idempotent by identity', async () => {
    const body = { name: 'Sofia Rossi', phones: ['+39 06 1234 5678'], meta_ids: [{ platform: 'instagram', id: '178414000001', page_id: '17841400099' }] };
    const a = await api('POST', '/api/v1/customers/upsert', body);
    assert.equal(a.status, 201, a.text);
    const b = await api('POST', '/api/v1/customers/upsert', body);
    assert.equal(b.status, 200);
    assert.equal(b.json.id, a.json.id);
    assert.deepEqual(b.json.identities, a.json.identities);
    const more = await api('POST', '/api/v1/customers/upsert', { phones: ['+390612345678'], emails: ['sofia@example.it'] });
    assert.equal(more.json.id, a.json.id);
    assert.equal(more.json.identities.length, 3);
    const clash = await api('POST', '/api/v1/customers/upsert', { emails: ['sofia@example.it', 'lucas.m@example.net'] });
    assert.equal(clash.status, 409);
    assert.equal((await api('POST', '/api/v1/customers/upsert', { name: 'x' })).status, 422);
  });

  test('block, unblock and interaction', async () => {
    const [c] = (await api('GET', '/api/v1/customers?q=sofia')).json.customers;
    assert.equal((await api('POST', `/api/v1/customers/${c.id}/block`)).json.blocked, true);
    assert.deepEqual((await api('GET', '/api/v1/customers?blocked=true')).json.customers.map((x) => x.id), [c.id]);
    assert.equal((await api('POST', `/api/v1/customers/${c.id}/unblock`)).json.blocked, false);
    const t = await api('PATCH', `/api/v1/customers/${c.id}/interaction`, { at: '2026-11-20T10:00:00.000Z' });
    assert.equal(t.json.last_interaction_at, '2026-11-20T10:00:00.000Z');
    const older = await api('PATCH', `/api/v1/customers/${c.id}/interaction`, { at: '2026-01-01T00:00:00.000Z' });
    assert.equal(older.json.last_interaction_at, '2026-11-20T10:00:00.000Z', 'never moves back');
  });

  test('merge moves identities and tickets; the duplicate is gone', async () => {
    const list = (await api('GET', '/api/v1/customers?platform=email')).json.customers;
    const mei = list.find((c) => c.name === 'Mei Lin');
    const sofia = (await api('GET', '/api/v1/customers?q=sofia')).json.customers[0];
    const r = await api('POST', `/api/v1/customers/${sofia.id}/merge`, { other_id: mei.id });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.identities.some((i) => i.value === 'mei.lin@example.org'));
    assert.equal(r.json.ticket_count, 1);
    assert.equal((await api('GET', `/api/v1/customers/${mei.id}`)).status, 404);
    assert.equal((await api('POST', `/api/v1/customers/${sofia.id}/merge`, { other_id: sofia.id })).status, 409);
  });

  test('erasure (admin only) removes personal data and keeps the ticket numbers and metrics', async () => {
    const jose = (await api('GET', '/api/v1/customers?q=jose')).json.customers[0];
    const agent = await api('POST', '/api/v1/staff', { email: 'ag@demo.edgedesk.test', name: 'Ag', role: 'agent' });
    const agentToken = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'ag@demo.edgedesk.test', password: agent.json.temporary_password } })).json.token;
    assert.equal((await api('DELETE', `/api/v1/customers/${jose.id}`, undefined, agentToken)).status, 403);
    const before = (await api('GET', '/api/v1/tickets?q=INV-2291')).json.tickets;
    assert.equal(before.length, 1);
    assert.equal((await api('DELETE', `/api/v1/customers/${jose.id}`)).status, 204);
    const erased = (await api('GET', `/api/v1/customers/${jose.id}`)).json;
    assert.ok(erased.erased_at);
    assert.equal(erased.name, null);
    assert.deepEqual(erased.identities, []);
    const t = (await api('GET', `/api/v1/tickets/${before[0].ticket_number}`)).json;
    assert.equal(t.ticket.ticket_number, before[0].ticket_number, 'the number stays');
    assert.equal(t.ticket.customer_email, null);
    assert.equal(t.ticket.subject, 'Erased customer');
    assert.equal(t.ticket.priority, before[0].priority);
    assert.ok(t.messages.filter((m) => m.sender_type === 'customer').every((m) => /erased/.test(m.content) && !m.body_html));
    assert.deepEqual((await api('GET', '/api/v1/tickets?q=INV-2291')).json.tickets, [], 'nothing of it is searchable');
    const rows = await h.rows("SELECT count(*) AS n FROM emails WHERE from_email = 'jose.garcia@example.org'");
    assert.equal(rows[0].n, 0);
    const left = await h.rows(`SELECT count(*) AS n FROM emails WHERE ticket_id = ? AND (to_email IS NOT NULL
      OR rfc_message_id IS NOT NULL OR subject IS NOT NULL)`, t.ticket.ticket_id);
    assert.equal(left[0].n, 0, 'no address, header or subject is left on the e-mails');
    assert.ok(t.messages.every((m) => /erased/.test(m.content)), 'every message body, whoever wrote it');
    const reports = await api('GET', '/api/v1/reports/overview?days=7');
    assert.equal(reports.json.created_per_day.reduce((a, d) => a + d.count, 0), 3, 'the ticket still counts');
  });
});

describe('blocked customers', () => {
  test('get no AI drafts for their e-mails (recorded all the same)', async () => {
    const h = await startEdgedesk({ eml: emlFiles(FIXTURES) });
    try {
      const token = await h.login();
      await h.poll(token);
      const [jose] = (await h.api('GET', '/api/v1/customers?q=jose', { token })).json.customers;
      await h.api('POST', `/api/v1/customers/${jose.id}/block`, { token });
      h.fakes.addMessage({ raw: email({ from: 'José García <jose.garcia@example.org>', subject: 'Another question', body: 'Where is my refund?' }) });
      const report = await h.poll(token);
      assert.equal(report.tickets_created, 1);
      assert.deepEqual(report.errors, []);
      const [t] = (await h.api('GET', '/api/v1/tickets?q=jose.garcia@example.org&sort=newest', { token })).json.tickets;
      assert.equal(t.subject, 'Another question');
      assert.equal(t.customer_id, jose.id);
      const drafts = await h.rows("SELECT status FROM drafts WHERE ticket_id = ? AND status != 'superseded'", t.ticket_id);
      assert.deepEqual(drafts, [], 'no draft for a blocked customer');
    } finally {
      await h.dispose();
    }
  });
});
