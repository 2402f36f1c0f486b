/**
 * API tests of accounts, sessions, roles, tenants and the ticket work of the dashboard (issue 3), against the BUILT
 * worker in workerd (Miniflare) with local D1, the TenantHub Durable Object, rate-limiting bindings and the fake
 * Gmail/OAuth/LLM. Run: node --test tests/staff.test.mjs (needs build/worker/shim.mjs).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN, FIXTURES, emlFiles, migrationStatements, startEdgedesk } from './support/worker.mjs';
import { email, header } from './support/mail.mjs';

const ROLES = ['owner', 'admin', 'supervisor', 'team_lead', 'agent'];

/** Signs in and returns `{token, cookie, staff}`; `cookie` is the `name=value` of the session cookie. */
async function signIn(h, emailAddress, password) {
  const r = await h.api('POST', '/api/v1/auth/login', { body: { email: emailAddress, password } });
  assert.equal(r.status, 200, r.text);
  const setCookie = r.headers.get('set-cookie');
  return { token: r.json.token, cookie: setCookie.split(';')[0], setCookie, staff: r.json.staff };
}

/** Creates a staff member through the API and signs them in. */
async function hire(h, ownerToken, { name, role, team }) {
  const address = `${name.toLowerCase()}@demo.edgedesk.test`;
  const r = await h.api('POST', '/api/v1/staff', { token: ownerToken, body: { email: address, name, role, team } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.temporary_password, /^[A-Za-z2-9]{4}(-[A-Za-z2-9]{4}){3}$/);
  assert.equal(r.json.staff.must_change_password, true);
  return { ...(await signIn(h, address, r.json.temporary_password)), password: r.json.temporary_password, id: r.json.staff.staff_id };
}

const ticketNumbers = (r) => r.json.tickets.map((t) => t.ticket_number).sort();

describe('roles, sessions and tenants', () => {
  let h;
  let owner;
  const team = {};
  let tickets;

  before(async () => {
    h = await startEdgedesk({ eml: emlFiles(FIXTURES) });
    owner = await signIn(h, ADMIN.email, ADMIN.password);
    await h.poll(owner.token);
    team.owner = owner;
    team.admin = await hire(h, owner.token, { name: 'Ada', role: 'admin' });
    team.supervisor = await hire(h, owner.token, { name: 'Sam', role: 'supervisor' });
    team.team_lead = await hire(h, owner.token, { name: 'Lea', role: 'team_lead', team: 'red' });
    team.agent = await hire(h, owner.token, { name: 'Ari', role: 'agent', team: 'red' });
    team.blue = await hire(h, owner.token, { name: 'Bea', role: 'agent', team: 'blue' });
    // TKT-000001 → Ari (red), TKT-000002 → Bea (blue), TKT-000003 unassigned.
    for (const [n, who] of [['TKT-000001', team.agent], ['TKT-000002', team.blue]]) {
      const r = await h.api('PATCH', `/api/v1/tickets/${n}`, { token: owner.token, body: { assigned_to: who.id } });
      assert.equal(r.status, 200, r.text);
    }
    tickets = Object.fromEntries((await h.api('GET', '/api/v1/tickets', { token: owner.token })).json.tickets
      .map((t) => [t.ticket_number, t]));
  });
  after(() => h?.dispose());

  test('every role × route permission is enforced by the API', async () => {
    const dummy = await hire(h, owner.token, { name: 'Dummy', role: 'agent' });
    const matrix = [
      // [method, path, body, expected status per role owner/admin/supervisor/team_lead/agent]
      ['GET', '/api/v1/staff', undefined, [200, 200, 200, 200, 200]],
      ['GET', '/api/v1/reports/overview?days=7', undefined, [200, 200, 200, 403, 403]],
      ['GET', '/api/v1/tenants', undefined, [200, 403, 403, 403, 403]],
      ['POST', '/api/v1/admin/email-poll', undefined, [200, 200, 403, 403, 403]],
      ['GET', '/api/v1/canned-responses', undefined, [200, 200, 200, 200, 200]],
      ['GET', '/api/v1/tickets/TKT-000001', undefined, [200, 200, 200, 200, 200]], // Ari's (red team)
      ['GET', '/api/v1/tickets/TKT-000002', undefined, [200, 200, 200, 403, 403]], // Bea's (blue team)
      ['GET', '/api/v1/tickets/TKT-000003', undefined, [200, 200, 200, 200, 200]], // unassigned
      ['POST', '/api/v1/tickets/TKT-000002/notes', { content: 'checking' }, [201, 201, 201, 403, 403]],
      ['GET', '/api/v1/auth/me', undefined, [200, 200, 200, 200, 200]],
      ['PATCH', '/api/v1/tickets/TKT-000002', { category: tickets['TKT-000002'].category }, [200, 200, 200, 403, 403]],
      ['POST', '/api/v1/tickets/TKT-000001/merge', { source: 'TKT-000002' }, [409, 409, 409, 403, 403]],
      ['DELETE', '/api/v1/tickets/TKT-000002/draft', undefined, [204, 404, 404, 403, 403]],
      ['PATCH', `/api/v1/staff/${dummy.id}`, { name: 'Dummy' }, [200, 200, 403, 403, 403]],
      ['POST', `/api/v1/staff/${dummy.id}/reset-password`, undefined, [200, 200, 403, 403, 403]],
      ['POST', '/api/v1/tenants', { id: 'X', name: 'x', owner_email: 'x', owner_name: 'x' }, [422, 403, 403, 403, 403]],
      ['DELETE', '/api/v1/canned-responses/no-such-id', undefined, [404, 404, 403, 403, 403]],
      ['POST', '/api/v1/tickets/bulk', { ticket_ids: ['TKT-000002'], changes: { add_tags: ['seen'] } }, [200, 200, 200, 200, 200]],
    ];
    // Bulk answers 200 to everyone, and denies per ticket what the role may not work.
    const bulk = await h.api('POST', '/api/v1/tickets/bulk', { token: team.agent.token, body: { ticket_ids: ['TKT-000002'], changes: { add_tags: ['x'] } } });
    assert.deepEqual(bulk.json.denied.map((d) => d.ticket_number), ['TKT-000002']);
    for (const [method, path, body, expected] of matrix) {
      for (const [i, role] of ROLES.entries()) {
        const r = await h.api(method, path, { token: team[role].token, body });
        assert.equal(r.status, expected[i], `${role} ${method} ${path}: ${r.text}`);
        if (r.status === 403) assert.equal(r.json.error.code, 'forbidden');
      }
    }
    // Staff and canned-response management: admins and owners only.
    for (const [i, role] of ROLES.entries()) {
      const r = await h.api('POST', '/api/v1/canned-responses', {
        token: team[role].token, body: { title: `Hi ${role}`, shortcut: `hi-${role}`, body: 'Hello {{customer_name}}' },
      });
      assert.equal(r.status, i < 2 ? 201 : 403, `${role}: ${r.text}`);
      const s = await h.api('POST', '/api/v1/staff', {
        token: team[role].token, body: { email: `new-${role}@demo.edgedesk.test`, name: `New ${role}`, role: 'agent' },
      });
      assert.equal(s.status, i < 2 ? 201 : 403, `${role}: ${s.text}`);
    }
  });

  test('agents and team leads see only what they may work; supervisors see all', async () => {
    const seen = async (who) => ticketNumbers(await h.api('GET', '/api/v1/tickets', { token: team[who].token }));
    assert.deepEqual(await seen('agent'), ['TKT-000001', 'TKT-000003']);
    assert.deepEqual(await seen('blue'), ['TKT-000002', 'TKT-000003']);
    assert.deepEqual(await seen('team_lead'), ['TKT-000001', 'TKT-000003']);
    assert.deepEqual(await seen('supervisor'), ['TKT-000001', 'TKT-000002', 'TKT-000003']);
    const mine = await h.api('GET', '/api/v1/tickets?view=mine', { token: team.agent.token });
    assert.deepEqual(ticketNumbers(mine), ['TKT-000001']);
    const unassigned = await h.api('GET', '/api/v1/tickets?view=unassigned', { token: team.supervisor.token });
    assert.deepEqual(ticketNumbers(unassigned), ['TKT-000003']);
  });

  test('assignment follows the role: agents take, team leads assign in their team, supervisors anywhere', async () => {
    const assign = (who, n, to) => h.api('PATCH', `/api/v1/tickets/${n}`, { token: team[who].token, body: { assigned_to: to } });
    assert.equal((await assign('agent', 'TKT-000003', team.blue.id)).status, 403);
    assert.equal((await assign('team_lead', 'TKT-000003', team.blue.id)).status, 403, 'Bea is not in the red team');
    assert.equal((await assign('agent', 'TKT-000003', team.agent.id)).status, 200, 'agents take unassigned tickets');
    assert.equal((await assign('agent', 'TKT-000003', null)).status, 200, 'and give their own back');
    assert.equal((await assign('team_lead', 'TKT-000003', team.agent.id)).status, 200, 'Ari is in the red team');
    assert.equal((await assign('supervisor', 'TKT-000003', team.blue.id)).status, 200);
    const events = (await h.api('GET', '/api/v1/tickets/TKT-000003', { token: owner.token })).json.events
      .filter((e) => e.kind === 'assigned');
    assert.deepEqual(events.map((e) => [e.actor_name, e.detail.to]),
      [['Ari', team.agent.id], ['Ari', null], ['Lea', team.agent.id], ['Sam', team.blue.id]]);
    await assign('owner', 'TKT-000003', null);
  });

  test('only owners grant owner; nobody demotes themselves; the last owner stays', async () => {
    const r1 = await h.api('PATCH', `/api/v1/staff/${team.agent.id}`, { token: team.admin.token, body: { role: 'owner' } });
    assert.equal(r1.status, 403);
    const r2 = await h.api('PATCH', `/api/v1/staff/${owner.staff.staff_id}`, { token: team.admin.token, body: { status: 'inactive' } });
    assert.equal(r2.status, 403, 'an admin cannot touch an owner');
    const r3 = await h.api('PATCH', `/api/v1/staff/${owner.staff.staff_id}`, { token: owner.token, body: { role: 'admin' } });
    assert.equal(r3.status, 409);
    const r4 = await h.api('PATCH', `/api/v1/staff/${team.agent.id}`, { token: team.admin.token, body: { role: 'superhero' } });
    assert.equal(r4.status, 422);
    assert.match(r4.json.error.message, /role must be one of owner admin supervisor team_lead agent/);
    const dup = await h.api('POST', '/api/v1/staff', { token: owner.token, body: { email: 'ARI@demo.edgedesk.test', name: 'Ari 2', role: 'agent' } });
    assert.equal(dup.status, 409);
    const bad = await h.api('POST', '/api/v1/staff', { token: owner.token, body: { email: 'not-an-email', name: 'X', role: 'agent' } });
    assert.equal(bad.status, 422);
    assert.match(bad.json.error.message, /^email:/);
  });

  test('a demoted supervisor loses reports at once; a deactivated account is locked out at once', async () => {
    const sup = await hire(h, owner.token, { name: 'Sid', role: 'supervisor' });
    assert.equal((await h.api('GET', '/api/v1/reports/overview', { token: sup.token })).status, 200);
    await h.api('PATCH', `/api/v1/staff/${sup.id}`, { token: owner.token, body: { role: 'agent' } });
    assert.equal((await h.api('GET', '/api/v1/reports/overview', { token: sup.token })).status, 403);
    const r = await h.api('PATCH', `/api/v1/staff/${sup.id}`, { token: team.admin.token, body: { status: 'inactive' } });
    assert.equal(r.json.staff.status, 'inactive');
    for (const auth of [{ token: sup.token }, { headers: { cookie: sup.cookie } }]) {
      const me = await h.api('GET', '/api/v1/auth/me', auth);
      assert.equal(me.status, 401);
    }
    const again = await h.api('POST', '/api/v1/auth/login', { body: { email: 'sid@demo.edgedesk.test', password: sup.password } });
    assert.equal(again.status, 401);
  });

  test('the session cookie is HttpOnly, Secure and SameSite=Strict; logout clears it', async () => {
    const s = await signIn(h, 'ari@demo.edgedesk.test', team.agent.password);
    assert.match(s.setCookie, /^edgedesk_session=[^;]+;/);
    for (const attr of [/HttpOnly/i, /Secure/i, /SameSite=Strict/i, /Path=\//i, /Max-Age=43200/i]) assert.match(s.setCookie, attr);
    const me = await h.api('GET', '/api/v1/auth/me', { headers: { cookie: s.cookie } });
    assert.equal(me.status, 200);
    assert.equal(me.json.staff.email, 'ari@demo.edgedesk.test');
    assert.equal(me.json.staff.password_hash, undefined);
    assert.deepEqual(me.json.tenant, { id: 'default', name: 'Default' });
    const out = await h.api('POST', '/api/v1/auth/logout', { headers: { cookie: s.cookie, origin: h.url } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie'), /^edgedesk_session=;.*Max-Age=0/i);
    assert.equal((await h.api('GET', '/api/v1/auth/me')).status, 401);
  });

  test('a state-changing cookie request needs our Origin; a forged one writes nothing', async () => {
    const s = await signIn(h, 'ari@demo.edgedesk.test', team.agent.password);
    const note = { content: 'csrf probe' };
    const count = async () => (await h.rows("SELECT count(*) AS n FROM ticket_messages WHERE content = 'csrf probe'"))[0].n;
    const noOrigin = await h.api('POST', '/api/v1/tickets/TKT-000001/notes', { body: note, headers: { cookie: s.cookie } });
    assert.equal(noOrigin.status, 403);
    const evil = await h.api('POST', '/api/v1/tickets/TKT-000001/notes', { body: note, headers: { cookie: s.cookie, origin: 'https://evil.example' } });
    assert.equal(evil.status, 403);
    assert.match(evil.json.error.message, /evil\.example/);
    const patch = await h.api('PATCH', '/api/v1/tickets/TKT-000001', { body: { priority: 'low' }, headers: { cookie: s.cookie, origin: 'https://evil.example' } });
    assert.equal(patch.status, 403);
    assert.equal(await count(), 0);
    assert.notEqual((await h.api('GET', '/api/v1/tickets/TKT-000001', { token: owner.token })).json.ticket.priority, 'low');
    const ok = await h.api('POST', '/api/v1/tickets/TKT-000001/notes', { body: note, headers: { cookie: s.cookie, origin: h.url } });
    assert.equal(ok.status, 201, ok.text);
    const bearer = await h.api('POST', '/api/v1/tickets/TKT-000001/notes', { body: note, token: s.token });
    assert.equal(bearer.status, 201, 'bearer requests need no Origin');
    assert.equal(await count(), 2);
  });

  test('changing the password ends older sessions; a reset ends them too', async () => {
    const lea = await signIn(h, 'lea@demo.edgedesk.test', team.team_lead.password);
    const weak = await h.api('POST', '/api/v1/auth/password', { token: lea.token, body: { current_password: team.team_lead.password, new_password: 'short' } });
    assert.equal(weak.status, 422);
    const wrong = await h.api('POST', '/api/v1/auth/password', { token: lea.token, body: { current_password: 'nope-nope-nope', new_password: 'a-much-better-secret' } });
    assert.equal(wrong.status, 401);
    const r = await h.api('POST', '/api/v1/auth/password', { token: lea.token, body: { current_password: team.team_lead.password, new_password: 'a-much-better-secret' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.staff.must_change_password, false);
    assert.equal((await h.api('GET', '/api/v1/auth/me', { token: lea.token })).status, 401, 'the old token is dead');
    assert.equal((await h.api('GET', '/api/v1/auth/me', { token: team.team_lead.token })).status, 401);
    assert.equal((await h.api('GET', '/api/v1/auth/me', { token: r.json.token })).status, 200);
    const reset = await h.api('POST', `/api/v1/staff/${team.team_lead.id}/reset-password`, { token: team.admin.token });
    assert.equal(reset.status, 200);
    assert.equal((await h.api('GET', '/api/v1/auth/me', { token: r.json.token })).status, 401);
    team.team_lead = { ...(await signIn(h, 'lea@demo.edgedesk.test', reset.json.temporary_password)), id: team.team_lead.id, password: reset.json.temporary_password };
    assert.equal(team.team_lead.staff.must_change_password, true);
  });

  test('a new tenant sees only itself: another tenant\'s ticket answers 404', async () => {
    const created = await h.api('POST', '/api/v1/tenants', {
      token: owner.token, body: { id: 'acme', name: 'Acme Ltd', owner_email: 'boss@acme.test', owner_name: 'Boss' },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.owner.role, 'owner');
    const notRoot = await h.api('POST', '/api/v1/tenants', {
      token: team.admin.token, body: { id: 'other', name: 'Other', owner_email: 'x@other.test', owner_name: 'X' },
    });
    assert.equal(notRoot.status, 403);
    const dup = await h.api('POST', '/api/v1/tenants', {
      token: owner.token, body: { id: 'acme', name: 'Again', owner_email: 'y@acme.test', owner_name: 'Y' },
    });
    assert.equal(dup.status, 409);
    const boss = await signIn(h, 'boss@acme.test', created.json.temporary_password);
    assert.equal(boss.staff.tenant, 'acme');
    assert.deepEqual((await h.api('GET', '/api/v1/tickets', { token: boss.token })).json.tickets, []);
    const t1 = tickets['TKT-000001'];
    for (const [method, path, body] of [
      ['GET', '/api/v1/tickets/TKT-000001'], ['GET', `/api/v1/tickets/${t1.ticket_id}`],
      ['PATCH', `/api/v1/tickets/${t1.ticket_id}`, { status: 'closed' }],
      ['POST', `/api/v1/tickets/${t1.ticket_id}/notes`, { content: 'x' }],
      ['POST', `/api/v1/tickets/${t1.ticket_id}/reply`, { content: 'x' }],
    ]) {
      const r = await h.api(method, path, { token: boss.token, body });
      assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
    }
    const bulk = await h.api('POST', '/api/v1/tickets/bulk', { token: boss.token, body: { ticket_ids: [t1.ticket_id], changes: { status: 'closed' } } });
    assert.deepEqual(bulk.json.changed, []);
    assert.equal(bulk.json.denied[0].reason, 'not found');
    const staffList = (await h.api('GET', '/api/v1/staff', { token: boss.token })).json.staff;
    assert.deepEqual(staffList.map((s) => s.email), ['boss@acme.test']);
    const assignOut = await h.api('PATCH', `/api/v1/tickets/${t1.ticket_id}`, { token: owner.token, body: { assigned_to: boss.staff.staff_id } });
    assert.equal(assignOut.status, 422, 'staff of another tenant cannot be assigned');
    assert.equal((await h.api('GET', '/api/v1/tickets/TKT-000001', { token: owner.token })).json.ticket.status, t1.status);
    const list = (await h.api('GET', '/api/v1/tenants', { token: owner.token })).json.tenants;
    assert.deepEqual(list.map((t) => [t.id, t.staff_count]).find(([id]) => id === 'acme'), ['acme', 1]);
  });
});

describe('login rate limits', () => {
  test('too many attempts for one account answer 429 with Retry-After, even with the right password', async () => {
    const h = await startEdgedesk({ loginLimits: { account: 3, ip: 100 } });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await h.api('POST', '/api/v1/auth/login', { body: { email: ADMIN.email, password: 'wrong-password' } });
        assert.equal(r.status, 401);
      }
      const limited = await h.api('POST', '/api/v1/auth/login', { body: ADMIN });
      assert.equal(limited.status, 429);
      assert.equal(limited.json.error.code, 'rate_limited');
      assert.equal(limited.headers.get('retry-after'), '60');
      assert.equal(limited.headers.get('set-cookie'), null);
      const other = await h.api('POST', '/api/v1/auth/login', { body: { email: 'someone@else.test', password: 'whatever-123' } });
      assert.equal(other.status, 401, 'another account is not limited');
    } finally {
      await h.dispose();
    }
  });

  test('too many attempts from one IP answer 429 whatever the account', async () => {
    const h = await startEdgedesk({ loginLimits: { account: 100, ip: 3 } });
    try {
      const headers = { 'cf-connecting-ip': '203.0.113.9' };
      for (let i = 0; i < 3; i++) {
        const r = await h.api('POST', '/api/v1/auth/login', { headers, body: { email: `probe${i}@x.test`, password: 'guess-guess' } });
        assert.equal(r.status, 401);
      }
      const r = await h.api('POST', '/api/v1/auth/login', { headers, body: ADMIN });
      assert.equal(r.status, 429);
      const elsewhere = await h.api('POST', '/api/v1/auth/login', { headers: { 'cf-connecting-ip': '198.51.100.7' }, body: ADMIN });
      assert.equal(elsewhere.status, 200);
    } finally {
      await h.dispose();
    }
  });
});

describe('ticket work: search, tags, bulk, merge, notes, drafts, reports, live', () => {
  let h;
  let token;
  let agent;

  before(async () => {
    h = await startEdgedesk({ eml: emlFiles(FIXTURES) });
    token = await h.login();
    await h.poll(token);
    // A second, separate ticket from Priya (a new subject, no reply headers): a merge candidate.
    h.fakes.addMessage({ raw: email({ from: 'Priya Raman <priya.raman@example.com>', subject: 'Invoice address change',
      body: 'Please change the invoice address to Kastanienallee 12, Berlin.' }) });
    await h.poll(token);
    agent = await hire(h, token, { name: 'Ari', role: 'agent' });
  });
  after(() => h?.dispose());

  test('full-text search finds words in message bodies, with prefixes and accents folded', async () => {
    const byBody = await h.api('GET', '/api/v1/tickets?q=kastanien', { token });
    assert.deepEqual(ticketNumbers(byBody), ['TKT-000004']);
    const across = await h.api('GET', '/api/v1/tickets?q=invoice%20kastanien', { token });
    assert.deepEqual(ticketNumbers(across), ['TKT-000004'], 'one word in the subject, one in a message');
    const invoice = await h.api('GET', '/api/v1/tickets?q=invoice', { token });
    assert.deepEqual(ticketNumbers(invoice), ['TKT-000002', 'TKT-000004']);
    const hostile = await h.api('GET', `/api/v1/tickets?q=${encodeURIComponent('NEAR( "x OR -y:')}`, { token });
    assert.equal(hostile.status, 200, 'FTS syntax in the input is never interpreted');
    const byNumber = await h.api('GET', '/api/v1/tickets?q=tkt-000002', { token });
    assert.deepEqual(ticketNumbers(byNumber), ['TKT-000002']);
    const byName = await h.api('GET', '/api/v1/tickets?q=jose', { token });
    assert.deepEqual(ticketNumbers(byName), ['TKT-000002'], 'José matches jose');
  });

  test('tags: set with PATCH, filter with ?tag=, sorted and de-duplicated', async () => {
    const r = await h.api('PATCH', '/api/v1/tickets/TKT-000001', { token, body: { tags: ['VIP', 'shipping', 'vip'] } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.tags, ['shipping', 'vip']);
    assert.deepEqual(ticketNumbers(await h.api('GET', '/api/v1/tickets?tag=vip', { token })), ['TKT-000001']);
    const bad = await h.api('PATCH', '/api/v1/tickets/TKT-000001', { token, body: { tags: ['two words'] } });
    assert.equal(bad.status, 422);
    const ev = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json.events.find((e) => e.kind === 'tags');
    assert.deepEqual(ev.detail, { added: ['shipping', 'vip'], removed: [] });
  });

  test('sorting and cursor pagination walk every ticket once in each order', async () => {
    for (const sort of ['newest', 'oldest', 'updated', 'priority', 'sla']) {
      const seen = [];
      let cursor = '';
      for (let i = 0; i < 10; i++) {
        const r = await h.api('GET', `/api/v1/tickets?sort=${sort}&limit=1${cursor ? `&cursor=${cursor}` : ''}`, { token });
        assert.equal(r.status, 200, r.text);
        seen.push(...r.json.tickets.map((t) => t.ticket_number));
        if (!r.json.next_cursor) break;
        cursor = r.json.next_cursor;
      }
      assert.deepEqual([...seen].sort(), ['TKT-000001', 'TKT-000002', 'TKT-000003', 'TKT-000004'], sort);
    }
    const prio = await h.api('GET', '/api/v1/tickets?sort=priority', { token });
    assert.equal(prio.json.tickets[0].priority, 'urgent');
    const wrongSort = await h.api('GET', `/api/v1/tickets?sort=oldest&cursor=${(await h.api('GET', '/api/v1/tickets?limit=1', { token })).json.next_cursor}`, { token });
    assert.equal(wrongSort.status, 422, 'a cursor of another sort is refused');
  });

  test('bulk changes report what changed, what did not and what was denied', async () => {
    await h.api('PATCH', '/api/v1/tickets/TKT-000003', { token, body: { assigned_to: agent.id } });
    const owner = (await h.api('GET', '/api/v1/auth/me', { token })).json.staff;
    await h.api('PATCH', '/api/v1/tickets/TKT-000004', { token, body: { assigned_to: owner.staff_id } });
    await h.api('PATCH', '/api/v1/tickets/TKT-000002', { token, body: { status: 'pending' } });
    const r = await h.api('POST', '/api/v1/tickets/bulk', {
      token: agent.token,
      body: { ticket_ids: ['TKT-000002', 'TKT-000003', 'TKT-000004'], changes: { status: 'pending', add_tags: ['followup'] } },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.changed.sort(), ['TKT-000002', 'TKT-000003']);
    assert.deepEqual(r.json.denied.map((d) => d.ticket_number), ['TKT-000004']);
    assert.match(r.json.summary, /^2 tickets changed: status → pending, tag \+followup; 1 denied$/);
    const again = await h.api('POST', '/api/v1/tickets/bulk', { token, body: { ticket_ids: ['TKT-000002'], changes: { status: 'pending' } } });
    assert.deepEqual(again.json.unchanged, ['TKT-000002']);
    assert.match(again.json.summary, /0 tickets changed; 1 unchanged/);
    const empty = await h.api('POST', '/api/v1/tickets/bulk', { token, body: { ticket_ids: ['TKT-000002'], changes: {} } });
    assert.equal(empty.status, 422);
    await h.api('PATCH', '/api/v1/tickets/TKT-000004', { token, body: { assigned_to: null } });
  });

  test('merge moves messages and e-mails, closes the source with a pointer, and later replies thread into the target', async () => {
    const other = await h.api('POST', '/api/v1/tickets/TKT-000001/merge', { token, body: { source: 'TKT-000002' } });
    assert.equal(other.status, 409, 'different customers');
    const self = await h.api('POST', '/api/v1/tickets/TKT-000001/merge', { token, body: { source: 'TKT-000001' } });
    assert.equal(self.status, 409);
    const before = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json.messages.length;
    const sourceDraft = (await h.api('GET', '/api/v1/tickets/TKT-000004', { token })).json.draft?.gmail_draft_id;
    assert.ok(h.fakes.drafts.some((d) => d.id === sourceDraft));
    const r = await h.api('POST', '/api/v1/tickets/TKT-000001/merge', { token, body: { source: 'TKT-000004' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.merged.status, 'closed');
    assert.equal(r.json.merged.merged_into, 'TKT-000001');
    const target = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json;
    assert.equal(target.messages.length, before + 2, 'the moved customer message and a system line');
    assert.ok(target.messages.some((m) => m.content.includes('Kastanienallee')));
    assert.ok(target.messages.some((m) => m.sender_type === 'system' && /merged TKT-000004 into TKT-000001/.test(m.content)));
    assert.ok(target.events.some((e) => e.kind === 'merged_from' && e.detail.from === 'TKT-000004'));
    const again = await h.api('POST', '/api/v1/tickets/TKT-000001/merge', { token, body: { source: 'TKT-000004' } });
    assert.equal(again.status, 409);
    const left = await h.rows('SELECT d.id FROM drafts d JOIN tickets t ON t.ticket_id = d.ticket_id WHERE t.ticket_number = ?', 'TKT-000004');
    assert.deepEqual(left, [], 'the source\'s drafts moved with its messages');
    assert.ok(sourceDraft, 'the poll had drafted a reply on the source');
    assert.ok(!h.fakes.drafts.some((d) => d.id === sourceDraft), 'the source\'s Gmail draft is deleted');
    assert.deepEqual(ticketNumbers(await h.api('GET', '/api/v1/tickets?q=kastanien', { token })), ['TKT-000001'], 'search follows the move');
    // The customer answers the merged ticket's mail: it lands in the target.
    const moved = target.messages.find((m) => m.content.includes('Kastanienallee'));
    h.fakes.addMessage({ raw: email({ from: 'Priya Raman <priya.raman@example.com>', subject: 'Re: Invoice address change',
      body: 'Any news on the address?', headers: { 'In-Reply-To': `<${moved.message_id_header}>`, References: `<${moved.message_id_header}>` } }) });
    const report = await h.poll(token);
    assert.equal(report.tickets_created, 0);
    const after = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json;
    assert.ok(after.messages.some((m) => m.content.includes('Any news on the address?')));
  });

  test('internal notes are notes: shown as such, never e-mailed, never sent to the LLM', async () => {
    const sentBefore = h.fakes.sent.length;
    const big = await h.api('POST', '/api/v1/tickets/TKT-000003/notes', { token, body: { content: 'x'.repeat(1_100_000) } });
    assert.equal(big.status, 400);
    assert.match(big.json.error.message, /larger than 1048576 bytes/);
    const n = await h.api('POST', '/api/v1/tickets/TKT-000003/notes', { token, body: { content: 'Secret internal remark 7781' } });
    assert.equal(n.status, 201, n.text);
    assert.equal(n.json.message.sender_type, 'note');
    const detail = (await h.api('GET', '/api/v1/tickets/TKT-000003', { token })).json;
    assert.equal(detail.messages.at(-1).sender_type, 'note');
    assert.equal(detail.messages.at(-1).sender_name, 'Owner');
    assert.equal(h.fakes.sent.length, sentBefore);
    const regen = await h.api('POST', '/api/v1/tickets/TKT-000003/draft/regenerate', { token });
    assert.equal(regen.status, 200, regen.text);
    const llmCalls = h.fakes.requests.filter((r) => r.path?.startsWith('/v1/chat/completions'));
    assert.ok(llmCalls.length > 0);
    assert.ok(!String(llmCalls.at(-1).body).includes('internal remark 7781'), 'the note is not in the prompt');
  });

  test('AI drafts: regenerate replaces the Gmail draft, discard removes it, sending an edit records the edit distance', async () => {
    const d0 = (await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json.draft;
    assert.ok(d0?.gmail_draft_id, 'the poll drafted a reply');
    h.fakes.llmReply = () => 'Hello José, we have refunded the double charge. Kind regards';
    const regen = await h.api('POST', '/api/v1/tickets/TKT-000002/draft/regenerate', { token });
    assert.equal(regen.status, 200, regen.text);
    const d1 = regen.json.draft;
    assert.equal(d1.content, 'Hello José, we have refunded the double charge. Kind regards');
    assert.notEqual(d1.gmail_draft_id, d0.gmail_draft_id);
    assert.ok(!h.fakes.drafts.some((d) => d.id === d0.gmail_draft_id), 'the old Gmail draft is deleted');
    assert.ok(h.fakes.drafts.some((d) => d.id === d1.gmail_draft_id));

    const discard = await h.api('DELETE', '/api/v1/tickets/TKT-000002/draft', { token });
    assert.equal(discard.status, 204);
    assert.equal((await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json.draft, null);
    assert.ok(!h.fakes.drafts.some((d) => d.id === d1.gmail_draft_id));
    assert.equal((await h.api('DELETE', '/api/v1/tickets/TKT-000002/draft', { token })).status, 404);

    const d2 = (await h.api('POST', '/api/v1/tickets/TKT-000002/draft/regenerate', { token })).json.draft;
    const detailBefore = (await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json;
    const edited = 'Hello José, we have refunded the double charge today. Kind regards, Ana';
    const sent = await h.api('POST', '/api/v1/tickets/TKT-000002/reply', { token, body: { content: edited, draft_id: d2.id, status: 'resolved' } });
    assert.equal(sent.status, 201, sent.text);
    assert.equal(sent.json.ticket.status, 'resolved');
    const raw = Buffer.from(h.fakes.sent.at(-1).raw).toString('utf8');
    assert.match(raw, /refunded the double charge today/);
    const customerThread = detailBefore.messages.find((m) => m.sender_type === 'customer').gmail_thread_id;
    assert.equal(h.fakes.sent.at(-1).threadId, customerThread, 'sent in the customer\'s Gmail thread');
    assert.match(header(raw, 'In-Reply-To'), /^<.+>$/);
    const detail = (await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json;
    const ev = detail.events.find((e) => e.kind === 'draft_sent');
    assert.equal(ev.detail.edit_distance, 11, 'inserted " today" (6) and ", Ana" (5)');
    assert.equal(detail.draft, null);
    assert.ok(detail.events.some((e) => e.kind === 'status' && e.detail.to === 'resolved'));
    const [row] = await h.rows('SELECT status, edit_distance, sent_by FROM drafts WHERE id = ?', d2.id);
    assert.equal(row.status, 'sent');
    assert.equal(row.edit_distance, 11);
    const foreign = await h.api('POST', '/api/v1/tickets/TKT-000003/reply', { token, body: { content: 'x', draft_id: d2.id } });
    assert.equal(foreign.status, 422, 'a draft of another ticket is refused before anything is sent');
  });

  test('canned responses: CRUD by admins, unique shortcuts', async () => {
    const c = await h.api('POST', '/api/v1/canned-responses', { token, body: { title: 'Thanks', shortcut: '/Thanks', body: 'Thanks {{customer_name}}!' } });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.shortcut, 'thanks');
    const dup = await h.api('POST', '/api/v1/canned-responses', { token, body: { title: 'Again', shortcut: 'thanks', body: 'x' } });
    assert.equal(dup.status, 409);
    const upd = await h.api('PUT', `/api/v1/canned-responses/${c.json.id}`, { token, body: { title: 'Thanks!', shortcut: 'thx', body: 'Thank you' } });
    assert.equal(upd.json.shortcut, 'thx');
    const list = await h.api('GET', '/api/v1/canned-responses', { token: agent.token });
    assert.deepEqual(list.json.canned_responses.map((x) => x.title), ['Thanks!']);
    assert.equal((await h.api('DELETE', `/api/v1/canned-responses/${c.json.id}`, { token: agent.token })).status, 403);
    assert.equal((await h.api('DELETE', `/api/v1/canned-responses/${c.json.id}`, { token })).status, 204);
    assert.equal((await h.api('DELETE', `/api/v1/canned-responses/${c.json.id}`, { token })).status, 404);
  });

  test('reports count what happened', async () => {
    const r = await h.api('GET', '/api/v1/reports/overview?days=30', { token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.created_per_day.length, 30);
    const total = r.json.created_per_day.reduce((a, d) => a + d.count, 0);
    const all = await h.rows("SELECT count(*) AS n FROM tickets WHERE merged_into IS NULL AND created_at >= ?", r.json.from);
    assert.equal(total, all[0].n);
    assert.equal(r.json.ai_drafts.sent, 1);
    assert.equal(r.json.ai_drafts.mean_edit_distance, 11);
    assert.equal(r.json.first_response.count, 1);
    assert.equal(typeof r.json.first_response.median_minutes, 'number');
    assert.deepEqual(Object.keys(r.json.open_by_priority).sort(), ['high', 'low', 'medium', 'urgent']);
    assert.ok(r.json.agents.some((a) => a.name === 'Ari'));
    assert.equal((await h.api('GET', '/api/v1/reports/overview?days=12', { token })).status, 422);
  });

  test('live: dashboards get ticket changes and see who else views a ticket', async () => {
    const wsUrl = `${h.url.replace(/^http/, 'ws')}/api/v1/live`;
    const plain = await h.api('GET', '/api/v1/live', { token });
    assert.equal(plain.status, 400, 'not a WebSocket upgrade');
    const refused = await new Promise((resolve) => {
      const ws = new WebSocket(wsUrl);
      ws.onopen = () => resolve('opened');
      ws.onerror = () => resolve('refused');
    });
    assert.equal(refused, 'refused', 'no session, no socket');
    const open = (tok) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}?token=${tok}`);
      const frames = [];
      ws.onmessage = (e) => frames.push(JSON.parse(e.data));
      ws.onopen = () => resolve({ ws, frames });
      ws.onerror = (e) => reject(new Error(`websocket error: ${e.message ?? e.type}`));
    });
    const waitFor = async (frames, pred) => {
      for (let i = 0; i < 200; i++) {
        const f = frames.find(pred);
        if (f) return f;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no matching frame in ${JSON.stringify(frames)}`);
    };
    const a = await open(token);
    const b = await open(agent.token);
    try {
      const t3 = (await h.api('GET', '/api/v1/tickets/TKT-000003', { token })).json.ticket;
      a.ws.send(JSON.stringify({ type: 'viewing', ticket_id: t3.ticket_id }));
      b.ws.send(JSON.stringify({ type: 'viewing', ticket_id: t3.ticket_id }));
      b.ws.send('not json at all');
      const both = await waitFor(a.frames, (f) => f.type === 'presence' && f.viewers.length === 2);
      assert.deepEqual(both.viewers.map((v) => v.name), ['Ari', 'Owner']);
      await h.api('PATCH', '/api/v1/tickets/TKT-000003', { token, body: { priority: 'high' } });
      const change = await waitFor(b.frames, (f) => f.type === 'ticket' && f.ticket_number === 'TKT-000003');
      assert.equal(change.event, 'updated');
      a.frames.length = 0; // only presence sent after b leaves counts (earlier one-viewer frames would match too)
      b.ws.close();
      const alone = await waitFor(a.frames, (f) => f.type === 'presence' && f.viewers.length === 1);
      assert.deepEqual(alone.viewers.map((v) => v.name), ['Owner']);
      h.fakes.addMessage({ raw: email({ from: 'New Person <new@example.net>', subject: 'Brand new question' }) });
      await h.poll(token);
      await waitFor(a.frames, (f) => f.type === 'ticket' && f.event === 'created' && f.count >= 1);
    } finally {
      a.ws.close();
      b.ws.close();
    }
  });
});

describe('migrations 0003+ on a database with data', () => {
  test('staff, assignments, messages and search survive the upgrade from schema v2; customers are backfilled', async () => {
    const h = await startEdgedesk({ migrations: (f) => f < '0003' });
    try {
      const now = new Date().toISOString();
      await h.db.batch([
        h.db.prepare(`INSERT INTO staff (staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at)
          VALUES ('s1', 'default', 'ana@x.test', 'Ana', 'admin', 'active', 'x', ?, ?)`).bind(now, now),
        h.db.prepare(`INSERT INTO tickets (ticket_id, tenant_id, ticket_number, subject, customer_email, customer_name, assigned_to,
          created_at, updated_at) VALUES ('t1', 'default', 'TKT-000001', 'Broken zipper', 'zip@x.test', 'Zip Per', 's1', ?, ?)`).bind(now, now),
        h.db.prepare(`INSERT INTO ticket_messages (id, tenant_id, ticket_id, sender_type, content, created_at)
          VALUES ('m1', 'default', 't1', 'customer', 'The zipper of my jacket broke', ?)`).bind(now),
      ]);
      await h.db.batch(migrationStatements((f) => f >= '0003').map((q) => h.db.prepare(q)));
      assert.deepEqual(await h.rows('SELECT staff_id, role, session_version FROM staff'), [{ staff_id: 's1', role: 'admin', session_version: 1 }]);
      assert.deepEqual(await h.rows('SELECT assigned_to FROM tickets'), [{ assigned_to: 's1' }]);
      assert.deepEqual(await h.rows("SELECT ticket_id FROM search_fts WHERE search_fts MATCH '\"jacket\"*'"), [{ ticket_id: 't1' }]);
      assert.deepEqual(await h.rows("SELECT name FROM sqlite_master WHERE name IN ('assignments_v3', 'backfill_v5')"), []);
      const [customer] = await h.rows('SELECT id, name FROM customers');
      assert.equal(customer.name, 'Zip Per', 'schema v5 backfills a customer per e-mail');
      assert.deepEqual(await h.rows('SELECT customer_id FROM tickets'), [{ customer_id: customer.id }]);
      assert.deepEqual(await h.rows('SELECT kind, value FROM customer_identities'), [{ kind: 'email', value: 'zip@x.test' }]);
    } finally {
      await h.dispose();
    }
  });
});

describe('review fixes', () => {
  let h;
  let token;
  before(async () => {
    h = await startEdgedesk({ eml: emlFiles(FIXTURES) });
    token = await h.login();
    await h.poll(token);
  });
  after(() => h?.dispose());

  test('a draft without text never blocks a reply, and discard also clears a failed draft', async () => {
    const t = (await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json;
    await h.db.prepare("UPDATE drafts SET status = 'failed', content = NULL WHERE id = ?").bind(t.draft.id).run();
    assert.equal((await h.api('GET', '/api/v1/tickets/TKT-000002', { token })).json.draft, null, 'no text, no draft');
    const r = await h.api('POST', '/api/v1/tickets/TKT-000002/reply', { token, body: { content: 'We are on it.', draft_id: t.draft.id } });
    assert.equal(r.status, 201, r.text);
    const t3 = (await h.api('GET', '/api/v1/tickets/TKT-000003', { token })).json;
    await h.db.prepare("UPDATE drafts SET status = 'failed' WHERE id = ?").bind(t3.draft.id).run();
    assert.equal((await h.api('DELETE', '/api/v1/tickets/TKT-000003/draft', { token })).status, 204);
    assert.equal((await h.api('GET', '/api/v1/tickets/TKT-000003', { token })).json.draft, null);
  });

  test('closing a resolved ticket keeps resolved_at; reopening clears it', async () => {
    const patch = (status) => h.api('PATCH', '/api/v1/tickets/TKT-000003', { token, body: { status } });
    const resolved = (await patch('resolved')).json.resolved_at;
    assert.ok(resolved);
    assert.equal((await patch('closed')).json.resolved_at, resolved);
    assert.equal((await patch('open')).json.resolved_at, null);
  });

  test('bulk names the assignee; the same ticket by id and number counts once', async () => {
    const me = (await h.api('GET', '/api/v1/auth/me', { token })).json.staff;
    const t1 = (await h.api('GET', '/api/v1/tickets/TKT-000001', { token })).json.ticket;
    const r = await h.api('POST', '/api/v1/tickets/bulk', { token, body: { ticket_ids: [t1.ticket_id, 'TKT-000001'], changes: { assigned_to: me.staff_id } } });
    assert.deepEqual(r.json.changed, ['TKT-000001']);
    assert.equal(r.json.summary, '1 ticket changed: assigned → Owner');
  });

  test('login refuses a foreign Origin and a non-JSON body (login CSRF)', async () => {
    const evil = await h.api('POST', '/api/v1/auth/login', { body: ADMIN, headers: { origin: 'https://evil.example' } });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get('set-cookie'), null);
    const form = await h.api('POST', '/api/v1/auth/login', { body: JSON.stringify(ADMIN), headers: { 'content-type': 'text/plain' } });
    assert.equal(form.status, 400);
    assert.match(form.json.error.message, /application\/json/);
  });

  test('deactivation closes open live sockets, and reactivation does not revive old tokens', async () => {
    const r = await h.api('POST', '/api/v1/staff', { token, body: { email: 'kim@demo.edgedesk.test', name: 'Kim', role: 'agent' } });
    const kim = await signIn(h, 'kim@demo.edgedesk.test', r.json.temporary_password);
    const ws = new WebSocket(`${h.url.replace(/^http/, 'ws')}/api/v1/live?token=${kim.token}`);
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
    await h.api('PATCH', `/api/v1/staff/${r.json.staff.staff_id}`, { token, body: { status: 'inactive' } });
    assert.equal(await closed, 4001);
    await h.api('PATCH', `/api/v1/staff/${r.json.staff.staff_id}`, { token, body: { status: 'active' } });
    assert.equal((await h.api('GET', '/api/v1/auth/me', { token: kim.token })).status, 401);
  });
});
