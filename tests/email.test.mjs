// Black-box tests of the main job: the built worker in workerd (Miniflare) with local D1, fed through loopback
// fakes of Google OAuth, Gmail and the LLM. Every e-mail of ../shared/corpus/eml goes through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, pbkdf2Sync } from 'node:crypto';
import { startEdgedesk, emlFiles, CORPUS, FIXTURES, MAILBOX, JWT_SECRET } from './support/worker.mjs';
import { email, header } from './support/mail.mjs';

const text = (buf) => Buffer.from(buf).toString('utf8');
const ticketsOf = (h) => h.rows('SELECT * FROM tickets ORDER BY ticket_number');
const queue = (h) => h.rows('SELECT * FROM mail_queue');

async function withWorker(opts, fn) {
  const h = await startEdgedesk(opts);
  try {
    return await fn(h, await h.login());
  } finally {
    await h.dispose();
  }
}

test('every corpus e-mail becomes a ticket message or is skipped with a reason; re-polls change nothing', async () => {
  const files = [...emlFiles(CORPUS), ...emlFiles(FIXTURES)];
  await withWorker({ eml: files, vars: { POLL_MAX_MESSAGES: '100', POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    const r = await h.poll(token);
    assert.deepEqual(r.errors, []);
    assert.equal(r.fetched, files.length);
    assert.equal(r.tickets_created + r.messages_appended + r.skipped, files.length);
    const q = await queue(h);
    assert.equal(q.length, files.length);
    for (const row of q) {
      assert.ok(['done', 'skipped'].includes(row.status), `${row.gmail_message_id}: ${row.status} ${row.last_error}`);
      assert.ok(row.outcome, 'every message records its outcome');
    }
    const tickets = await ticketsOf(h);
    assert.equal(tickets.length, r.tickets_created);
    assert.deepEqual(tickets.map((t) => t.ticket_number), tickets.map((_, i) => `TKT-${String(i + 1).padStart(6, '0')}`));
    const subjects = tickets.map((t) => t.subject);
    assert.ok(subjects.includes('こんにちは'), 'RFC 2047 UTF-8 subject decoded');
    assert.ok(subjects.includes('(no subject)'), 'a message without Subject still becomes a ticket');
    assert.ok(tickets.some((t) => t.customer_email === null), 'a message without From still becomes a ticket');
    const jose = tickets.find((t) => t.customer_email === 'jose.garcia@example.org');
    assert.equal(jose?.customer_name, 'José García');
    const list = q.find((row) => /Precedence: list/.test(row.outcome ?? ''));
    assert.ok(list, 'the mailing-list message (Precedence: list) is skipped as bulk mail');
    assert.ok(q.some((row) => /auto-reply/.test(row.outcome ?? '')), 'the out-of-office is skipped');

    const again = await h.poll(token);
    assert.equal(again.fetched, 0);
    assert.equal(again.tickets_created + again.messages_appended, 0);
    assert.equal((await ticketsOf(h)).length, tickets.length);
    const marked = [...h.fakes.messages.values()].filter((m) => m.labelIds.includes('INBOX') && m.labelIds.includes('UNREAD'));
    assert.equal(marked.length, 0, 'processed mail is marked read');
  });
});

test('triage, SLA and threading of the demo mailbox; the urgent follow-up joins its ticket', async () => {
  await withWorker({ eml: emlFiles(FIXTURES) }, async (h, token) => {
    const r = await h.poll(token);
    assert.equal(r.tickets_created, 3);
    assert.equal(r.messages_appended, 1);
    assert.equal(r.skipped, 1);
    const list = await h.api('GET', '/api/v1/tickets?status=open', { token });
    assert.equal(list.status, 200);
    const urgent = list.json.tickets.find((t) => t.priority === 'urgent');
    assert.equal(urgent.category, 'order');
    assert.equal(urgent.channel, 'email');
    const due = Date.parse(urgent.sla_due_at) - Date.parse(urgent.created_at);
    assert.ok(due >= 3600e3 && due < 3600e3 + 120e3, 'urgent SLA is one hour');
    const detail = await h.api('GET', `/api/v1/tickets/${urgent.ticket_number}`, { token });
    assert.equal(detail.json.messages.length, 2);
    assert.deepEqual(detail.json.messages.map((m) => m.sender_type), ['customer', 'customer']);
    assert.match(detail.json.messages[1].content, /Still no reply/);
    assert.deepEqual(detail.json.messages[0].attachments, [], 'attachments are a JSON array');
    const byId = await h.api('GET', `/api/v1/tickets/${urgent.ticket_id}`, { token });
    assert.equal(byId.json.ticket.ticket_number, urgent.ticket_number);
  });
});

test('a reply that starts a new Gmail thread joins by References; duplicates and loops are not stored twice', async () => {
  await withWorker({ vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    h.fakes.addMessage({ raw: email({ messageId: '<first@example.com>', subject: 'Broken zipper' }) });
    await h.poll(token);
    // Read in Gmail before the poll: must still be ingested (no reliance on is:unread).
    h.fakes.addMessage({
      raw: email({ messageId: '<second@example.com>', subject: 'Another zipper thing', headers: { References: '<first@example.com>' } }),
      labelIds: ['INBOX'],
    });
    // The same mail delivered twice (two Gmail ids, one Message-ID).
    const dup = email({ messageId: '<dup@example.com>', subject: 'Same subject', body: 'one' });
    h.fakes.addMessage({ raw: dup });
    h.fakes.addMessage({ raw: dup });
    // Same subject, no references: never merged by subject alone.
    h.fakes.addMessage({ raw: email({ messageId: '<unrelated@example.com>', subject: 'Broken zipper' }) });
    // Our own address: a loop.
    h.fakes.addMessage({ raw: email({ from: `Support <${MAILBOX}>`, subject: 'Loop' }) });
    const r = await h.poll(token);
    assert.deepEqual(r.errors, []);
    assert.equal(r.messages_appended, 1);
    assert.equal(r.tickets_created, 2);
    assert.equal(r.skipped, 2);
    const tickets = await ticketsOf(h);
    assert.equal(tickets.length, 3);
    const first = tickets.find((t) => t.ticket_number === 'TKT-000001');
    const msgs = await h.rows('SELECT * FROM ticket_messages WHERE ticket_id = ?', first.ticket_id);
    assert.equal(msgs.length, 2);
    assert.equal((await h.rows("SELECT * FROM emails WHERE rfc_message_id = 'dup@example.com'")).length, 1);
    const outcomes = (await queue(h)).map((q) => q.outcome);
    assert.ok(outcomes.some((o) => /duplicate/.test(o)));
    assert.ok(outcomes.some((o) => /own address/.test(o)));
  });
});

test('AI drafts: one Gmail draft per customer message, in the thread, with correct reply headers', async () => {
  await withWorker({}, async (h, token) => {
    const { threadId } = h.fakes.addMessage({
      raw: email({ messageId: '<card@example.com>', subject: 'Refund please', body: 'Refund my card 4111 1111 1111 1111 please', headers: { References: '<older@example.com>' } }),
    });
    const r = await h.poll(token);
    assert.equal(r.drafts_created, 1);
    assert.equal(h.fakes.drafts.length, 1);
    const d = h.fakes.drafts[0];
    const raw = text(d.message.raw);
    assert.equal(d.message.threadId, threadId, 'draft is in the customer thread');
    assert.equal(header(raw, 'In-Reply-To'), '<card@example.com>');
    assert.equal(header(raw, 'References'), '<older@example.com> <card@example.com>');
    assert.equal(header(raw, 'Subject'), 'Re: Refund please');
    assert.match(header(raw, 'To'), /ana@example.com/);
    const llmCall = h.fakes.requests.find((q) => q.path === '/v1/chat/completions');
    assert.ok(llmCall, 'the LLM was asked');
    assert.doesNotMatch(llmCall.body, /4111[\s-]*1111/, 'card numbers are masked before the LLM sees them');
    assert.match(llmCall.body, /\*\*\*\*/);
    const detail = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.equal(detail.json.draft.status, 'created');
    assert.equal(detail.json.draft.source, 'llm');
    assert.equal(detail.json.draft.gmail_draft_id, d.id);
    assert.match(raw, new RegExp(detail.json.draft.content.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await h.poll(token);
    await h.poll(token);
    assert.equal(h.fakes.drafts.length, 1, 'never two drafts for one message');
    assert.equal((await h.rows('SELECT * FROM drafts')).length, 1);

    const sent = await h.api('POST', '/api/v1/tickets/TKT-000001/reply', { token, body: { content: 'Refund issued.' } });
    assert.equal(sent.status, 201);
    assert.equal(h.fakes.drafts.length, 0, 'the stale AI draft is deleted from Gmail after an agent reply');
    const after = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.equal(after.json.draft, null, 'a superseded draft is no longer offered');
  });
});

test('without LLM_API_KEY drafts come from templates; off mode drafts nothing; auto mode sends', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { LLM_API_KEY: undefined } }, async (h, token) => {
    const r = await h.poll(token);
    assert.equal(r.drafts_created, 3, 'one per ticket (the out-of-office gets none)');
    const d = await h.api('GET', '/api/v1/tickets/TKT-000002', { token });
    assert.equal(d.json.draft.source, 'template');
    assert.match(d.json.draft.content, /billing/);
    assert.ok(!h.fakes.requests.some((q) => q.path.startsWith('/v1/')), 'no LLM call');
  });
  await withWorker({ eml: emlFiles(FIXTURES), vars: { AI_RESPONSE_MODE: 'off' } }, async (h, token) => {
    const r = await h.poll(token);
    assert.equal(r.drafts_created, 0);
    assert.equal(h.fakes.drafts.length, 0);
  });
  await withWorker({ eml: emlFiles(FIXTURES), vars: { AI_RESPONSE_MODE: 'auto' } }, async (h, token) => {
    const r = await h.poll(token);
    assert.equal(r.drafts_created, 3);
    assert.equal(h.fakes.sent.length, 3);
    assert.equal(h.fakes.drafts.length, 0);
    const t = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.ok(t.json.ticket.first_response_at, 'an auto reply is the first response');
    assert.equal(t.json.messages.at(-1).sender_type, 'agent');
    assert.match(t.json.messages.at(-1).message_id_header, /@mail\.gmail\.com$/, 'the Message-ID Gmail gave is recorded');
  });
});

test('Gmail and LLM failures lose nothing and duplicate nothing', async () => {
  await withWorker({}, async (h, token) => {
    h.fakes.addMessage({ raw: email({ subject: 'Where is my order', messageId: '<o1@example.com>' }) });
    h.fakes.fail(/^POST \/batch\/gmail\/v1/, { status: 503 });
    let r = await h.poll(token);
    assert.equal(r.tickets_created, 0);
    assert.match(r.errors.join('\n'), /gmail: HTTP 503/);
    assert.equal((await queue(h))[0].status, 'pending', 'discovered mail stays queued');
    await h.db.prepare('UPDATE mail_queue SET next_attempt_at = 0').run(); // skip the backoff wait
    h.fakes.fail(/^POST \/v1\/chat\/completions/, { status: 500 });
    r = await h.poll(token);
    assert.equal(r.tickets_created, 1);
    assert.equal(r.drafts_created, 0);
    assert.match(r.errors.join('\n'), /llm: HTTP 500/);
    const [draft] = await h.rows('SELECT * FROM drafts');
    assert.equal(draft.status, 'pending');
    assert.equal(draft.attempts, 1);
    assert.match(draft.last_error, /500/);
    await h.db.prepare('UPDATE drafts SET next_attempt_at = 0').run();
    r = await h.poll(token);
    assert.equal(r.drafts_created, 1);
    assert.deepEqual(r.errors, []);
    assert.equal((await ticketsOf(h)).length, 1);
    assert.equal(h.fakes.drafts.length, 1);

    // One message of a batch failing does not hold up the others.
    const bad = h.fakes.addMessage({ raw: email({ subject: 'Second', messageId: '<o2@example.com>' }) });
    h.fakes.addMessage({ raw: email({ subject: 'Third', messageId: '<o3@example.com>' }) });
    h.fakes.fail(new RegExp(`^GET /gmail/v1/users/me/messages/${bad.id}\\?format=raw`), { status: 500 });
    r = await h.poll(token);
    assert.equal(r.tickets_created, 1);
    assert.equal((await h.rows("SELECT * FROM mail_queue WHERE status = 'pending'")).length, 1);
    await h.db.prepare('UPDATE mail_queue SET next_attempt_at = 0').run();
    r = await h.poll(token);
    assert.equal(r.tickets_created, 1);
    assert.equal((await ticketsOf(h)).length, 3);
  });
});

test('a permanently failing message is given up after 5 attempts; a transiently failing one keeps its place', async () => {
  await withWorker({ vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    const bad = h.fakes.addMessage({ raw: email({ subject: 'Cursed' }) });
    const flaky = h.fakes.addMessage({ raw: email({ subject: 'Flaky' }) });
    h.fakes.fail(new RegExp(`messages/${bad.id}\\?format=raw`), { status: 400, times: Infinity });
    h.fakes.fail(new RegExp(`messages/${flaky.id}\\?format=raw`), { status: 503, times: Infinity });
    for (let i = 0; i < 5; i++) {
      await h.poll(token);
      await h.db.prepare('UPDATE mail_queue SET next_attempt_at = 0').run();
    }
    const rows = Object.fromEntries((await queue(h)).map((r) => [r.gmail_message_id, r]));
    assert.equal(rows[bad.id].status, 'failed');
    assert.equal(rows[bad.id].attempts, 5);
    assert.match(rows[bad.id].last_error, /400/);
    assert.equal(rows[flaky.id].status, 'pending', 'an outage never loses mail');
    assert.equal(rows[flaky.id].attempts, 5);
    assert.match(rows[flaky.id].last_error, /503/);
  });
});

test('OAuth failure is reported, not fatal; expired history triggers a full re-sync without duplicates', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { GMAIL_REFRESH_TOKEN: 'revoked-token' } }, async (h, token) => {
    const r = await h.poll(token);
    assert.equal(r.fetched, 0);
    assert.match(r.errors.join('\n'), /google-oauth: HTTP 400: invalid_grant/);
    assert.doesNotMatch(JSON.stringify(r), /revoked-token|test-client-secret/, 'no secret in the report');
  });
  await withWorker({ eml: emlFiles(FIXTURES), vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    await h.poll(token);
    h.fakes.addMessage({ raw: email({ subject: 'After expiry', messageId: '<late@example.com>' }) });
    h.fakes.expireHistory();
    const r = await h.poll(token);
    assert.deepEqual(r.errors, []);
    assert.equal(r.tickets_created, 1, 'only the new message becomes a ticket');
    assert.equal((await ticketsOf(h)).length, 4);
    assert.equal(h.fakes.tokensIssued, 1, 'the access token is reused until it expires');

    // A cached token Gmail refuses (revoked): the poll refreshes it once and goes on in the same run.
    await h.db.prepare("UPDATE mailboxes SET access_token = 'stale-token', access_token_expires_at = ?").bind(Date.now() + 3600e3).run();
    h.fakes.addMessage({ raw: email({ subject: 'After revocation', messageId: '<late2@example.com>' }) });
    const after = await h.poll(token);
    assert.deepEqual(after.errors, []);
    assert.equal(after.tickets_created, 1);
    assert.equal(h.fakes.tokensIssued, 2);
  });
});

test('agent reply goes out through Gmail in the thread; the customer answer to it joins the ticket and reopens it', async () => {
  await withWorker({ vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    const { threadId } = h.fakes.addMessage({ raw: email({ subject: 'Login problem', messageId: '<lp@example.com>' }) });
    await h.poll(token);
    const reply = await h.api('POST', '/api/v1/tickets/TKT-000001/reply', { token, body: { content: 'Please reset your password.' } });
    assert.equal(reply.status, 201, reply.text);
    assert.equal(h.fakes.sent.length, 1);
    const sent = h.fakes.sent[0];
    const raw = text(sent.raw);
    assert.equal(sent.threadId, threadId);
    assert.equal(header(raw, 'In-Reply-To'), '<lp@example.com>');
    assert.match(raw, /Please reset your password\./);
    const gmailId = header(raw, 'Message-ID');
    assert.equal(`<${reply.json.message.message_id_header}>`, gmailId, 'the id Gmail assigned is stored');
    let t = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.ok(t.json.ticket.first_response_at);
    assert.equal(t.json.messages[1].sender_type, 'agent');

    const resolved = await h.api('PATCH', '/api/v1/tickets/TKT-000001', { token, body: { status: 'resolved' } });
    assert.equal(resolved.json.status, 'resolved');
    assert.ok(resolved.json.resolved_at);
    // The customer's client starts a new thread, but References names our sent reply.
    h.fakes.addMessage({ raw: email({ subject: 'still broken', messageId: '<lp2@example.com>', headers: { 'In-Reply-To': gmailId } }) });
    const r = await h.poll(token);
    assert.equal(r.messages_appended, 1);
    t = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.equal(t.json.ticket.status, 'open', 'a customer reply reopens a resolved ticket');
    assert.equal(t.json.messages.length, 3);
  });
});

test('the cron handler runs the same poll; concurrent polls never duplicate tickets or drafts', async () => {
  await withWorker({ eml: emlFiles(FIXTURES) }, async (h, token) => {
    const results = await Promise.all([h.poll(token), h.poll(token), h.cron()]);
    assert.ok(results.slice(0, 2).some((r) => /another poll is running/.test(r.errors.join('\n'))) || results[2] !== undefined);
    for (let i = 0; i < 3; i++) await h.cron();
    assert.equal((await ticketsOf(h)).length, 3);
    assert.equal((await h.rows('SELECT * FROM emails')).length, 4);
    assert.equal((await h.rows('SELECT * FROM drafts')).length, 3);
    assert.equal(h.fakes.drafts.length, 3, 'one Gmail draft per ticket, never two');
    const [mb] = await h.rows('SELECT lease_until, lease_owner FROM mailboxes');
    assert.equal(mb.lease_until, null, 'the last poll freed its lease');
  });
});

test('per-run cap: the rest waits for the next run; a 3 MB body is truncated, not fatal', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { POLL_MAX_MESSAGES: '2', POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    h.fakes.addMessage({ raw: email({ subject: 'Huge', body: 'x'.repeat(3 * 1024 * 1024) }) });
    const first = await h.poll(token);
    assert.equal(first.fetched, 2);
    let total = first.fetched;
    for (let i = 0; i < 3; i++) total += (await h.poll(token)).fetched;
    assert.equal(total, 6);
    const [huge] = await h.rows("SELECT content FROM ticket_messages WHERE content LIKE 'xxx%'");
    assert.ok(huge.content.length <= 512 * 1024);
    assert.match(huge.content, /truncated by Edgedesk/);
  });
});

function jwt(payload, { alg = 'HS256', secret = JWT_SECRET } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(payload)}`;
  const sig = alg === 'none' ? '' : createHmac('sha256', secret).update(head).digest('base64url');
  return `${head}.${sig}`;
}

test('auth: login, bad credentials, bad signatures, alg none, expiry, roles', async () => {
  await withWorker({}, async (h, token) => {
    const wrong = await h.api('POST', '/api/v1/auth/login', { body: { email: 'owner@demo.edgedesk.test', password: 'nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'unauthorized');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
    assert.deepEqual(Object.keys(claims).sort(), ['exp', 'iat', 'role', 'sub', 'tenant', 'ver']);
    assert.equal(claims.role, 'owner');
    assert.equal(claims.tenant, 'default');
    const [row] = await h.rows('SELECT password_hash FROM staff');
    assert.match(row.password_hash, /^pbkdf2-sha256\$100000\$/);
    assert.doesNotMatch(row.password_hash, /demo-password/);

    const now = Math.floor(Date.now() / 1000);
    const cases = {
      none: undefined,
      garbage: 'not-a-jwt',
      forged: jwt({ ...claims }, { secret: 'another-secret-another-secret-00' }),
      algNone: jwt({ ...claims }, { alg: 'none' }),
      expired: jwt({ ...claims, exp: now - 3600 }),
    };
    for (const [name, t] of Object.entries(cases)) {
      const r = await h.api('GET', '/api/v1/tickets', { token: t });
      assert.equal(r.status, 401, name);
      assert.equal(r.json.error.code, 'unauthorized', name);
    }
    const valid = await h.api('GET', '/api/v1/tickets', { token: jwt({ ...claims, exp: now + 60 }) });
    assert.equal(valid.status, 200);

    await h.db.prepare("INSERT INTO staff (staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at) VALUES ('agent-1','default','agent@x.test','Agent','agent','active','x','t','t')").run();
    const agent = jwt({ sub: 'agent-1', tenant: 'default', role: 'agent', exp: now + 60 });
    assert.equal((await h.api('POST', '/api/v1/admin/email-poll', { token: agent })).status, 403);
    const otherTenant = jwt({ sub: claims.sub, tenant: 'other', role: 'owner', exp: now + 60 });
    assert.equal((await h.api('GET', '/api/v1/tickets', { token: otherTenant })).status, 401);
  });
});

test('bad input gets clear JSON errors and writes nothing', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    await h.poll(token);
    const before = JSON.stringify(await ticketsOf(h));
    const cases = [
      ['GET', '/api/v1/tickets/TKT-999999', undefined, 404, 'not_found'],
      ['GET', '/api/v1/tickets?status=bogus', undefined, 422, 'validation_failed'],
      ['GET', '/api/v1/tickets?limit=1000', undefined, 422, 'validation_failed'],
      ['GET', '/api/v1/tickets?cursor=zzz', undefined, 422, 'validation_failed'],
      ['PATCH', '/api/v1/tickets/TKT-000001', { status: 'done' }, 422, 'validation_failed'],
      ['PATCH', '/api/v1/tickets/TKT-000001', { assigned_to: 'nobody' }, 422, 'validation_failed'],
      ['PATCH', '/api/v1/tickets/TKT-000001', '{"status":', 400, 'bad_request'],
      ['POST', '/api/v1/tickets/TKT-000001/reply', { content: '  ' }, 422, 'validation_failed'],
      ['GET', '/api/v1/nothing-here', undefined, 404, 'not_found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await h.api(method, path, { token, body });
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(r.json.error.code, code, `${method} ${path}`);
      assert.ok(r.json.error.message.length > 0);
    }
    assert.equal(JSON.stringify(await ticketsOf(h)), before);
    assert.equal(h.fakes.sent.length, 0);

    const page1 = await h.api('GET', '/api/v1/tickets?limit=2', { token });
    assert.equal(page1.json.tickets.length, 2);
    const page2 = await h.api('GET', `/api/v1/tickets?limit=2&cursor=${page1.json.next_cursor}`, { token });
    assert.equal(page2.json.tickets.length, 1);
    assert.equal(page2.json.next_cursor, null);
    const search = await h.api('GET', '/api/v1/tickets?q=INV-2291', { token });
    assert.deepEqual(search.json.tickets.map((t) => t.ticket_number), ['TKT-000002']);
  });
});

test('a missing or invalid variable is reported by name, not a crash', async () => {
  await withWorker({}, async (h) => {
    const r = await h.api('POST', '/api/v1/auth/login', { body: { email: 'a@b.c', password: 'x' } });
    assert.equal(r.status, 401);
  });
  const h = await startEdgedesk({ vars: { JWT_SECRET: undefined } });
  try {
    const r = await h.api('POST', '/api/v1/auth/login', { body: { email: 'a@b.c', password: 'x' } });
    assert.equal(r.status, 500);
    assert.equal(r.json.error.code, 'config_error');
    assert.match(r.json.error.message, /JWT_SECRET/);
  } finally {
    await h.dispose();
  }
  const bad = await startEdgedesk({ vars: { AI_RESPONSE_MODE: 'sometimes' } });
  try {
    const r = await bad.api('POST', '/api/v1/auth/login', { body: { email: 'a@b.c', password: 'x' } });
    assert.equal(r.status, 500);
    assert.match(r.json.error.message, /AI_RESPONSE_MODE/);
  } finally {
    await bad.dispose();
  }
});

test('a reply staff send from Gmail (the approved AI draft) is recorded as the first response; answers to it thread', async () => {
  await withWorker({}, async (h, token) => {
    h.fakes.addMessage({ raw: email({ subject: 'Size exchange', messageId: '<ex@example.com>' }) });
    await h.poll(token);
    assert.equal(h.fakes.drafts.length, 1);
    // Staff open the draft in Gmail and press Send: Gmail removes the draft and adds a SENT message with its own id.
    const [draft] = h.fakes.drafts.splice(0, 1);
    h.fakes.messages.delete(draft.message.id);
    const sentRaw = text(draft.message.raw).replace(/^Message-ID: .*$/m, 'Message-ID: <CA+sentFromGmail@mail.gmail.com>');
    h.fakes.addMessage({ raw: sentRaw, threadId: draft.message.threadId, labelIds: ['SENT'] });
    const r = await h.poll(token);
    assert.deepEqual(r.errors, []);
    assert.equal(r.messages_appended, 1);
    let t = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.deepEqual(t.json.messages.map((m) => m.sender_type), ['customer', 'agent']);
    assert.ok(t.json.ticket.first_response_at, 'sending the draft from Gmail is the first response');
    assert.equal(t.json.draft, null, 'the draft is no longer pending');
    assert.equal(h.fakes.drafts.length, 0, 'no new draft for our own mail');
    // The customer answers in a new thread, referencing only the mail Gmail sent.
    h.fakes.addMessage({ raw: email({ subject: 'thanks!', messageId: '<ex2@example.com>', headers: { 'In-Reply-To': '<CA+sentFromGmail@mail.gmail.com>' } }) });
    await h.poll(token);
    t = await h.api('GET', '/api/v1/tickets/TKT-000001', { token });
    assert.equal(t.json.messages.length, 3);
    assert.equal((await ticketsOf(h)).length, 1);
  });
});

test('drafts answer Reply-To (web forms), and a Gmail failure after the LLM does not call the LLM again', async () => {
  await withWorker({}, async (h, token) => {
    h.fakes.addMessage({ raw: email({ from: 'Web Form <noreply@forms.example.net>', subject: 'Contact form: broken zip',
      headers: { 'Reply-To': 'Kim Lee <kim@example.com>' } }) });
    h.fakes.fail(/^POST \/gmail\/v1\/users\/me\/drafts/, { status: 500 });
    let r = await h.poll(token);
    assert.equal(r.drafts_created, 0);
    assert.match(r.errors.join('\n'), /gmail: HTTP 500/);
    let [row] = await h.rows('SELECT * FROM drafts');
    assert.equal(row.status, 'generated', 'the text is kept for the retry');
    await h.db.prepare('UPDATE drafts SET next_attempt_at = 0').run();
    r = await h.poll(token);
    assert.equal(r.drafts_created, 1);
    assert.equal(h.fakes.requests.filter((q) => q.path === '/v1/chat/completions').length, 1, 'one LLM call in all');
    const raw = text(h.fakes.drafts[0].message.raw);
    assert.match(header(raw, 'To'), /kim@example.com/);
    const [t] = await ticketsOf(h);
    assert.equal(t.customer_email, 'kim@example.com');
  });
});

test('Gmail 429 keeps mail queued; mail deleted before ingest is skipped and the rest is still marked read', async () => {
  await withWorker({ vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    const a = h.fakes.addMessage({ raw: email({ subject: 'First' }) });
    h.fakes.addMessage({ raw: email({ subject: 'Second' }) });
    h.fakes.fail(/^POST \/batch\/gmail\/v1/, { status: 429 });
    let r = await h.poll(token);
    assert.match(r.errors.join('\n'), /HTTP 429/);
    const q = await queue(h);
    assert.deepEqual(q.map((x) => [x.status, x.attempts]), [['pending', 1], ['pending', 1]]);
    h.fakes.messages.delete(a.id); // gone from Gmail before the retry
    await h.db.prepare('UPDATE mail_queue SET next_attempt_at = 0').run();
    r = await h.poll(token);
    assert.deepEqual(r.errors, []);
    assert.equal(r.tickets_created, 1);
    assert.equal(r.skipped, 1);
    const unread = [...h.fakes.messages.values()].filter((m) => m.labelIds.includes('UNREAD'));
    assert.equal(unread.length, 0, 'batchModify is not spoiled by the deleted id');
  });
});

test('auto mode: a re-poll never sends twice; GMAIL_QUERY filters inbox mail but never our sent replies', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { AI_RESPONSE_MODE: 'auto' } }, async (h, token) => {
    await h.poll(token);
    assert.equal(h.fakes.sent.length, 3);
    const r = await h.poll(token);
    assert.equal(h.fakes.sent.length, 3, 'no second send');
    assert.equal(r.skipped, 3, 'the SENT copies of our replies are known duplicates');
    assert.equal((await h.rows("SELECT * FROM ticket_messages WHERE sender_type = 'agent'")).length, 3);
  });
  await withWorker({ eml: emlFiles(FIXTURES), vars: { GMAIL_QUERY: 'invoice', POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    let r = await h.poll(token);
    assert.equal(r.tickets_created, 1, 'only the invoice mail on the full sync');
    const q = h.fakes.requests.find((x) => x.path.includes('/messages?'));
    assert.match(decodeURIComponent(q.path.replace(/\+/g, ' ')), /in:inbox -in:chats newer_than:7d invoice/);
    h.fakes.addMessage({ raw: email({ subject: 'Wrong invoice', body: 'invoice 7 is wrong' }) });
    h.fakes.addMessage({ raw: email({ subject: 'Newsletter', body: 'hello' }) });
    const reply = await h.api('POST', '/api/v1/tickets/TKT-000001/reply', { token, body: { content: 'Refunded.' } });
    assert.equal(reply.status, 201);
    r = await h.poll(token);
    assert.equal(r.tickets_created, 1, 'the matching new mail only');
    assert.equal(r.skipped, 1, 'our sent reply was seen (a known duplicate), not filtered away');
  });
});

test('one message D1 refuses does not hold back the others of its run', async () => {
  await withWorker({ vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    // Fault injection inside local D1: any e-mail with this subject is refused, as D1 would refuse a bad value.
    await h.db.prepare(`CREATE TRIGGER poison BEFORE INSERT ON emails WHEN NEW.subject = 'POISON'
      BEGIN SELECT RAISE(ABORT, 'value refused'); END`).run();
    h.fakes.addMessage({ raw: email({ subject: 'Good one' }) });
    const bad = h.fakes.addMessage({ raw: email({ subject: 'POISON' }) });
    h.fakes.addMessage({ raw: email({ subject: 'Good two' }) });
    const r = await h.poll(token);
    assert.equal(r.tickets_created, 2);
    assert.match(r.errors.join('\n'), /storing message .* failed: .*value refused/);
    const rows = Object.fromEntries((await queue(h)).map((q) => [q.gmail_message_id, q]));
    assert.equal(rows[bad.id].status, 'pending');
    assert.match(rows[bad.id].last_error, /value refused/);
    assert.ok(h.fakes.messages.get(bad.id).labelIds.includes('UNREAD'), 'the refused message is not marked read');
    const numbers = (await ticketsOf(h)).map((t) => t.ticket_number);
    assert.deepEqual(numbers, ['TKT-000001', 'TKT-000003'], 'the refused message’s number is never reused');
    await h.db.prepare('DROP TRIGGER poison').run();
    await h.db.prepare('UPDATE mail_queue SET next_attempt_at = 0').run();
    assert.equal((await h.poll(token)).tickets_created, 1);
    assert.equal((await ticketsOf(h)).length, 3);
  });
});

test('tenants are isolated: staff see and touch only their own tickets', async () => {
  await withWorker({ eml: emlFiles(FIXTURES), vars: { POLL_MAX_DRAFTS: '0' } }, async (h, token) => {
    await h.poll(token);
    const salt = Buffer.alloc(16, 7);
    const hash = pbkdf2Sync('other-password-1', salt, 100000, 32, 'sha256');
    const now = new Date().toISOString();
    await h.db.batch([
      h.db.prepare("INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'Acme', ?)").bind(now),
      h.db.prepare(`INSERT INTO staff (staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at)
        VALUES ('acme-1', 'acme', 'agent@acme.test', 'Acme Agent', 'admin', 'active', ?, ?, ?)`)
        .bind(`pbkdf2-sha256$100000$${salt.toString('base64')}$${hash.toString('base64')}`, now, now),
      h.db.prepare(`INSERT INTO tickets (ticket_id, tenant_id, ticket_number, subject, created_at, updated_at)
        VALUES ('acme-t1', 'acme', 'TKT-000001', 'Acme only', ?, ?)`).bind(now, now),
    ]);
    const acme = await h.login('agent@acme.test', 'other-password-1');
    const mine = await h.api('GET', '/api/v1/tickets', { token: acme });
    assert.deepEqual(mine.json.tickets.map((t) => t.subject), ['Acme only']);
    const own = await h.api('GET', '/api/v1/tickets/TKT-000001', { token: acme });
    assert.equal(own.json.ticket.ticket_id, 'acme-t1', 'ticket numbers are per tenant');
    const defaults = await h.api('GET', '/api/v1/tickets', { token });
    assert.ok(!defaults.json.tickets.some((t) => t.ticket_id === 'acme-t1'));
    assert.equal((await h.api('GET', '/api/v1/tickets/acme-t1', { token })).status, 404);
    assert.equal((await h.api('PATCH', '/api/v1/tickets/acme-t1', { token, body: { status: 'closed' } })).status, 404);
    const other = (await h.api('GET', '/api/v1/tickets?limit=1', { token })).json.tickets[0];
    assert.equal((await h.api('GET', `/api/v1/tickets/${other.ticket_id}`, { token: acme })).status, 404);
    const poll = await h.api('POST', '/api/v1/admin/email-poll', { token: acme });
    assert.deepEqual(poll.json.errors, ['tenant acme has no Gmail mailbox configured'], 'no poll of another tenant’s mailbox');
  });
});

test('a vendor that does not answer in HTTP_TIMEOUT_MS is abandoned and retried later, losing nothing', async () => {
  await withWorker({ vars: { HTTP_TIMEOUT_MS: '300' } }, async (h, token) => {
    h.fakes.addMessage({ raw: email({ subject: 'Slow day' }) });
    h.fakes.delay(/^POST \/v1\/chat\/completions/, { ms: 2000 });
    let r = await h.poll(token);
    assert.equal(r.tickets_created, 1);
    assert.equal(r.drafts_created, 0);
    assert.match(r.errors.join('\n'), /llm: no answer within 300 ms/);
    await h.db.prepare('UPDATE drafts SET next_attempt_at = 0').run();
    r = await h.poll(token);
    assert.equal(r.drafts_created, 1);
  });
});
