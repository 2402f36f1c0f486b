/**
 * Tests of the Zendesk, HubSpot and Freshdesk fakes themselves (tests/fakes/crm.mjs).
 * Run: node --test tests/crm-fakes.test.mjs
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFreshdesk, startHubSpot, startZendesk } from './fakes/crm.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZENDESK_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const HUBSPOT_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

// ---------------------------------------------------------------------------------------------------------------

describe('Zendesk fake', () => {
  const EMAIL = 'agent@edgedesk.test';
  const TOKEN = '6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv';
  let zd;
  const auth = (user = `${EMAIL}/token`, pass = TOKEN) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const get = (path, headers = {}) => call(`${zd.url}${path}`, { headers: { authorization: auth(), accept: 'application/json', ...headers } });
  const send = (method, path, body) => call(`${zd.url}${path}`, {
    method,
    headers: { authorization: auth(), 'content-type': 'application/json', accept: 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  before(async () => {
    zd = await startZendesk({
      email: EMAIL,
      apiToken: TOKEN,
      users: [
        { id: 35436, name: 'Johnny Customer', email: 'Johnny@Example.com', phone: '+1 (415) 555-0142', tags: ['vip'], user_fields: { plan: 'pro' } },
        { id: 35437, name: 'Mary Other', email: 'mary@example.com', phone: '+442071838750' },
        { id: 35438, name: 'Many Tickets', email: 'many@example.com' },
      ],
      tickets: [
        { id: 35, subject: 'Printer on fire', description: 'The smoke is very colorful.', status: 'open', priority: 'high', requester_id: 35436, tags: ['fire'] },
        { id: 36, subject: 'Old one', description: 'Done', status: 'closed', requester_id: 35436 },
        { id: 40, subject: 'A', status: 'open', requester_id: 35438, created_at: '2024-01-01T10:00:00Z', updated_at: '2024-03-01T10:00:00Z' },
        { id: 41, subject: 'B', status: 'solved', requester_id: 35438, created_at: '2024-02-01T10:00:00Z', updated_at: '2024-02-02T10:00:00Z' },
        { id: 42, subject: 'C', status: 'pending', requester_id: 35438, created_at: '2024-03-01T10:00:00Z', updated_at: '2024-03-05T10:00:00Z' },
        { id: 43, subject: 'D', status: 'new', requester_id: 35438, created_at: '2024-04-01T10:00:00Z', updated_at: '2024-04-01T10:00:00Z' },
      ],
    });
  });
  after(() => zd.close());

  test('authentication is Basic {email}/token:{api_token}; anything else is 401', async () => {
    for (const headers of [{}, { authorization: auth(EMAIL, TOKEN) }, { authorization: auth(`${EMAIL}/token`, 'wrong') }, { authorization: `Bearer ${TOKEN}` }]) {
      const res = await call(`${zd.url}/api/v2/users/35436.json`, { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, { error: "Couldn't authenticate you" });
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Web Password"');
    }
    assert.equal((await get('/api/v2/users/35436.json')).status, 200);
  });

  test('show user: the documented User shape; unknown ids are RecordNotFound', async () => {
    const res = await get('/api/v2/users/35436.json');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.equal(res.headers.get('x-rate-limit'), '700');
    assert.match(res.headers.get('x-rate-limit-remaining'), /^\d+$/);
    const { user } = res.json;
    assert.equal(user.id, 35436);
    assert.equal(user.url, `${zd.url}/api/v2/users/35436.json`);
    assert.equal(user.name, 'Johnny Customer');
    assert.equal(user.email, 'Johnny@Example.com');
    assert.equal(user.phone, '+1 (415) 555-0142');
    assert.equal(user.role, 'end-user');
    assert.equal(user.organization_id, null);
    assert.deepEqual(user.tags, ['vip']);
    assert.deepEqual(user.user_fields, { plan: 'pro' });
    assert.match(user.created_at, ZENDESK_TIME);
    assert.match(user.updated_at, ZENDESK_TIME);
    for (const key of ['active', 'verified', 'locale', 'time_zone', 'external_id', 'suspended']) assert.ok(key in user, key);

    const missing = await get('/api/v2/users/999.json');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { error: 'RecordNotFound', description: 'Not found' });
    const bogus = await get('/api/v2/nothing-here.json');
    assert.equal(bogus.status, 404);
    assert.deepEqual(bogus.json, { error: 'InvalidEndpoint', description: 'Not found' });
  });

  test('search users by exact email (case-insensitive) and by phone digits', async () => {
    const byEmail = await get(`/api/v2/users/search.json?query=${encodeURIComponent('email:johnny@example.com')}`);
    assert.equal(byEmail.status, 200);
    assert.equal(byEmail.json.count, 1);
    assert.equal(byEmail.json.next_page, null);
    assert.equal(byEmail.json.users[0].id, 35436);
    assert.equal(byEmail.headers.get('ratelimit-limit'), '700');

    // '+' percent-encoded, '+' left raw (decoded as a space), and the documented bare-digits form.
    for (const q of ['query=phone%3A%2B14155550142', 'query=phone:+14155550142', 'query=phone:14155550142', 'query=phone:*5550142']) {
      const res = await get(`/api/v2/users/search.json?${q}`);
      assert.deepEqual(res.json.users.map((u) => u.id), [35436], q);
    }
    const none = await get('/api/v2/users/search.json?query=email:nobody@example.com');
    assert.deepEqual(none.json, { users: [], next_page: null, previous_page: null, count: 0 });
    const partial = await get('/api/v2/users/search.json?query=email:johnny');
    assert.equal(partial.json.count, 0, 'email: is exact, not a prefix');
  });

  test('show ticket', async () => {
    const res = await get('/api/v2/tickets/35.json');
    assert.equal(res.status, 200);
    const { ticket } = res.json;
    assert.equal(ticket.id, 35);
    assert.equal(ticket.url, `${zd.url}/api/v2/tickets/35.json`);
    assert.equal(ticket.subject, 'Printer on fire');
    assert.equal(ticket.description, 'The smoke is very colorful.');
    assert.equal(ticket.status, 'open');
    assert.equal(ticket.priority, 'high');
    assert.equal(ticket.requester_id, 35436);
    assert.deepEqual(ticket.tags, ['fire']);
    assert.match(ticket.created_at, ZENDESK_TIME);
    assert.equal((await get('/api/v2/tickets/404.json')).status, 404);
  });

  test('list tickets requested by a user: every status, oldest first, offset pages, sort_by/sort_order, 404', async () => {
    const res = await get('/api/v2/users/35438/tickets/requested.json');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.tickets.map((t) => t.id), [40, 41, 42, 43]);
    assert.deepEqual(res.json.tickets.map((t) => t.status), ['open', 'solved', 'pending', 'new'], 'no status filter on this endpoint');
    assert.equal(res.json.count, 4);
    assert.equal(res.json.next_page, null);
    assert.equal(res.json.previous_page, null);
    assert.equal(res.json.tickets[0].url, `${zd.url}/api/v2/tickets/40.json`);
    assert.equal(res.headers.get('ratelimit-limit'), '700');
    assert.deepEqual((await get('/api/v2/users/35438/tickets/requested')).json.tickets.map((t) => t.id), [40, 41, 42, 43], '.json is optional');

    const sorted = await get('/api/v2/users/35438/tickets/requested.json?sort_by=updated_at&sort_order=desc');
    assert.deepEqual(sorted.json.tickets.map((t) => t.id), [43, 42, 40, 41]);

    const page1 = await get('/api/v2/users/35438/tickets/requested.json?per_page=2');
    assert.deepEqual(page1.json.tickets.map((t) => t.id), [40, 41]);
    assert.equal(page1.json.count, 4);
    assert.ok(page1.json.next_page.startsWith(`${zd.url}/api/v2/users/35438/tickets/requested.json?`));
    const page2 = await call(page1.json.next_page, { headers: { authorization: auth() } });
    assert.deepEqual(page2.json.tickets.map((t) => t.id), [42, 43]);
    assert.equal(page2.json.next_page, null);
    assert.ok(page2.json.previous_page.includes('page=1'));

    const none = await get('/api/v2/users/35437/tickets/requested.json');
    assert.equal(none.status, 200);
    assert.ok(none.json.tickets.every((t) => t.requester_id === 35437));
    const missing = await get('/api/v2/users/999/tickets/requested.json');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, { error: 'RecordNotFound', description: 'Not found' });
  });

  test('list tickets requested by a user: cursor pagination (page[size], links.next, meta.has_more, sort=-field)', async () => {
    const first = await get('/api/v2/users/35438/tickets/requested.json?page[size]=3');
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json.tickets.map((t) => t.id), [40, 41, 42]);
    assert.equal(first.json.meta.has_more, true);
    assert.equal(typeof first.json.meta.after_cursor, 'string');
    assert.equal(first.json.count, undefined, 'no count with cursor pagination');
    const next = await call(first.json.links.next, { headers: { authorization: auth() } });
    assert.deepEqual(next.json.tickets.map((t) => t.id), [43]);
    assert.equal(next.json.meta.has_more, false);
    const back = await call(next.json.links.prev, { headers: { authorization: auth() } });
    assert.deepEqual(back.json.tickets.map((t) => t.id), [40, 41, 42]);

    const newest = await get(`/api/v2/users/35438/tickets/requested.json?${encodeURIComponent('page[size]')}=2&sort=-updated_at`);
    assert.deepEqual(newest.json.tickets.map((t) => t.id), [43, 42]);
    const bad = await get('/api/v2/users/35438/tickets/requested.json?page[size]=2&page[after]=!!');
    assert.equal(bad.status, 400);
  });

  test('create ticket with a new requester {email,name}: 201, Location, new end-user, audit', async () => {
    const res = await send('POST', '/api/v2/tickets.json', {
      ticket: { subject: 'Where is my order?', comment: { body: 'Order #1234 has not arrived.' }, priority: 'normal', requester: { email: 'new.person@example.org', name: 'New Person' } },
    });
    assert.equal(res.status, 201, res.text);
    const { ticket, audit } = res.json;
    assert.equal(res.headers.get('location'), ticket.url);
    assert.equal(ticket.status, 'new');
    assert.equal(ticket.priority, 'normal');
    assert.equal(ticket.description, 'Order #1234 has not arrived.');
    assert.equal(ticket.via.channel, 'api');
    assert.ok(ticket.id > 36);
    const requester = zd.users.find((u) => u.id === ticket.requester_id);
    assert.equal(requester.email, 'new.person@example.org');
    assert.equal(requester.name, 'New Person');
    assert.equal(requester.role, 'end-user');
    assert.equal(ticket.submitter_id, zd.agent.id);
    assert.equal(audit.ticket_id, ticket.id);
    assert.equal(audit.events[0].type, 'Comment');
    assert.equal(audit.events[0].body, 'Order #1234 has not arrived.');
    assert.equal(zd.comments.at(-1).ticket_id, ticket.id);
    assert.deepEqual((await get(`/api/v2/tickets/${ticket.id}.json`)).json.ticket, ticket);

    // An existing requester (by email) is reused; requester_id works too.
    const again = await send('POST', '/api/v2/tickets.json', { ticket: { subject: 'x', comment: { body: 'y' }, requester: { email: 'NEW.person@example.org' } } });
    assert.equal(again.json.ticket.requester_id, ticket.requester_id);
    const byId = await send('POST', '/api/v2/tickets.json', { ticket: { subject: 's', comment: { body: 'b' }, requester_id: 35437, priority: 'urgent' } });
    assert.equal(byId.status, 201);
    assert.equal(byId.json.ticket.requester_id, 35437);
    assert.equal(byId.json.ticket.priority, 'urgent');
  });

  test('create ticket validation: RecordInvalid 422', async () => {
    const blank = await send('POST', '/api/v2/tickets.json', { ticket: { subject: 'no body' } });
    assert.equal(blank.status, 422);
    assert.equal(blank.json.error, 'RecordInvalid');
    assert.equal(blank.json.description, 'Record validation errors');
    assert.equal(blank.json.details.base[0].description, 'Description: cannot be blank');

    const badPriority = await send('POST', '/api/v2/tickets.json', { ticket: { comment: { body: 'x' }, priority: 'critical' } });
    assert.equal(badPriority.status, 422);
    assert.ok(badPriority.json.details.priority);
    const badRequester = await send('POST', '/api/v2/tickets.json', { ticket: { comment: { body: 'x' }, requester_id: 1 } });
    assert.equal(badRequester.status, 422);
    assert.ok(badRequester.json.details.requester);
    const notJson = await send('POST', '/api/v2/tickets.json', '{nope');
    assert.equal(notJson.status, 400);
  });

  test('update ticket: status, priority, subject, comment; closed tickets refuse updates', async () => {
    const before = zd.comments.length;
    const res = await send('PUT', '/api/v2/tickets/35.json', { ticket: { status: 'pending', priority: 'urgent', subject: 'Printer still on fire', comment: { body: 'We are on it.', public: false } } });
    assert.equal(res.status, 200, res.text);
    const { ticket, audit } = res.json;
    assert.equal(ticket.status, 'pending');
    assert.equal(ticket.priority, 'urgent');
    assert.equal(ticket.subject, 'Printer still on fire');
    assert.equal(ticket.description, 'The smoke is very colorful.', 'description stays the first comment');
    assert.equal(zd.comments.length, before + 1);
    assert.equal(zd.comments.at(-1).public, false);
    assert.deepEqual(audit.events.filter((e) => e.type === 'Change').map((e) => e.field_name).sort(), ['priority', 'status', 'subject']);

    const bad = await send('PUT', '/api/v2/tickets/35.json', { ticket: { status: 'done' } });
    assert.equal(bad.status, 422);
    const closed = await send('PUT', '/api/v2/tickets/36.json', { ticket: { status: 'open' } });
    assert.equal(closed.status, 422);
    assert.equal(closed.json.details.status[0].description, 'Status: closed prevents ticket update');
    assert.equal((await send('PUT', '/api/v2/tickets/999.json', { ticket: { status: 'open' } })).status, 404);
  });

  test('fail(): 429 with Retry-After, 401, 503, times; then normal service', async () => {
    zd.fail(/^GET \/api\/v2\/users\/35436/, { status: 429, retryAfter: 7, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await get('/api/v2/users/35436.json');
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '7');
      assert.equal(res.headers.get('x-rate-limit-remaining'), '0');
      assert.match(res.headers.get('content-type'), /^text\/plain/);
      assert.equal(res.text, 'Number of allowed API requests per minute exceeded');
    }
    assert.equal((await get('/api/v2/users/35436.json')).status, 200);

    zd.fail(/users\/search/, { status: 429 });
    assert.equal((await get('/api/v2/users/search.json?query=email:x@y.z')).headers.get('retry-after'), '1');

    zd.fail(/tickets/, { status: 401 });
    const unauth = await send('POST', '/api/v2/tickets.json', { ticket: { comment: { body: 'x' } } });
    assert.equal(unauth.status, 401);
    assert.deepEqual(unauth.json, { error: "Couldn't authenticate you" });

    zd.fail(/tickets\/35/, { status: 503, retryAfter: 30 });
    const down = await get('/api/v2/tickets/35.json');
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '30');
    zd.fail(/tickets\/35/, { status: 500 });
    assert.equal((await get('/api/v2/tickets/35.json')).status, 500);
    assert.equal((await get('/api/v2/tickets/35.json')).status, 200);
    assert.throws(() => zd.fail('tickets', { status: 500 }), TypeError);
  });

  test('delay(): slow responses, and timeouts on the client side', async () => {
    zd.delay(/tickets\/35/, { ms: 150 });
    const t0 = Date.now();
    assert.equal((await get('/api/v2/tickets/35.json')).status, 200);
    assert.ok(Date.now() - t0 >= 140);

    zd.delay(/tickets\/35/, { ms: Infinity });
    await assert.rejects(fetch(`${zd.url}/api/v2/tickets/35.json`, { headers: { authorization: auth() }, signal: AbortSignal.timeout(100) }), /TimeoutError|aborted/);
  });

  test('list tickets by external_id: exact match, shared ids all listed, none is an empty list; create keeps external_id', async () => {
    const ext = 'edgedesk-3f1c2a4e-9b7d-4c1e-8a2f-000000000001';
    const create = (extra = {}) => send('POST', '/api/v2/tickets.json', { ticket: { subject: 'Call from +14155550142', comment: { body: 'Caller asked for a refund' }, requester_id: 35437, external_id: ext, ...extra } });
    const created = await create();
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.ticket.external_id, ext);

    const byExt = (value, suffix = '.json') => get(`/api/v2/tickets${suffix}?external_id=${encodeURIComponent(value)}`);
    const found = await byExt(ext);
    assert.equal(found.status, 200, found.text);
    assert.deepEqual(Object.keys(found.json), ['tickets', 'next_page', 'previous_page', 'count']);
    assert.deepEqual(found.json.tickets.map((t) => t.id), [created.json.ticket.id]);
    assert.equal(found.json.count, 1);
    assert.equal(found.json.next_page, null);
    assert.equal(found.json.previous_page, null);
    assert.deepEqual(found.json.tickets[0], (await get(`/api/v2/tickets/${created.json.ticket.id}.json`)).json.ticket);
    assert.equal(found.headers.get('ratelimit-limit'), '700', 'a list endpoint');
    assert.deepEqual((await byExt(ext, '')).json.tickets.map((t) => t.id), [created.json.ticket.id], 'without .json too');

    for (const other of [ext.slice(0, -1), ext.toUpperCase(), `${ext}0`, 'nothing']) {
      assert.deepEqual((await byExt(other)).json, { tickets: [], next_page: null, previous_page: null, count: 0 }, other);
    }

    // "External ids don't have to be unique": a second ticket with the same one is listed too, oldest first.
    const twin = await create({ subject: 'Twin' });
    assert.deepEqual((await byExt(ext)).json.tickets.map((t) => t.id), [created.json.ticket.id, twin.json.ticket.id]);
    assert.equal((await byExt(ext)).json.count, 2);

    // Update Ticket sets external_id; List Tickets without it lists every ticket, paged.
    assert.equal((await send('PUT', '/api/v2/tickets/43.json', { ticket: { external_id: 'legacy-43' } })).status, 200);
    assert.deepEqual((await byExt('legacy-43')).json.tickets.map((t) => t.id), [43]);
    const all = await get('/api/v2/tickets.json?per_page=2');
    assert.equal(all.status, 200);
    assert.equal(all.json.count, zd.tickets.length);
    assert.equal(all.json.tickets.length, 2);
    assert.match(all.json.next_page, /\/api\/v2\/tickets\.json\?.*page=2/);
    assert.equal((await send('POST', '/api/v2/tickets.json', { ticket: { comment: { body: 'x' }, requester_id: 35437 } })).json.ticket.external_id, null);
  });

  test('fail({after: true}): the request is carried out, the answer is the fault; the external_id lookup finds the ticket', async () => {
    const ext = 'edgedesk-3f1c2a4e-9b7d-4c1e-8a2f-000000000002';
    const count = zd.tickets.length;
    zd.fail(/^POST \/api\/v2\/tickets\.json$/, { status: 500, after: true });
    const lost = await send('POST', '/api/v2/tickets.json', { ticket: { subject: 'Lost answer', comment: { body: 'x' }, requester_id: 35437, external_id: ext } });
    assert.equal(lost.status, 500);
    assert.match(lost.headers.get('content-type'), /^text\/plain/);
    assert.equal(lost.text, 'Internal Server Error');
    assert.equal(zd.tickets.length, count + 1, 'the ticket was created all the same');
    const made = zd.tickets.at(-1);
    assert.equal(made.external_id, ext);
    assert.equal(made.subject, 'Lost answer');
    assert.deepEqual((await get(`/api/v2/tickets.json?external_id=${ext}`)).json.tickets.map((t) => t.id), [made.id]);

    // On an update: the change is applied, the answer is a 503 with Retry-After.
    zd.fail(/^PUT \/api\/v2\/tickets\/35\.json$/, { status: 503, after: true, retryAfter: 2 });
    const update = await send('PUT', '/api/v2/tickets/35.json', { ticket: { priority: 'low' } });
    assert.equal(update.status, 503);
    assert.equal(update.text, 'Service Unavailable');
    assert.equal(update.headers.get('retry-after'), '2');
    assert.equal(zd.tickets.find((t) => t.id === 35).priority, 'low');

    // Without `after` nothing is created; a request the fake refuses (no comment) still gets the fault status.
    zd.fail(/^POST \/api\/v2\/tickets\.json$/, { status: 500 });
    assert.equal((await send('POST', '/api/v2/tickets.json', { ticket: { comment: { body: 'x' }, external_id: ext } })).status, 500);
    zd.fail(/^POST \/api\/v2\/tickets\.json$/, { status: 502, after: true });
    assert.equal((await send('POST', '/api/v2/tickets.json', { ticket: { subject: 'no body' } })).status, 502);
    assert.equal(zd.tickets.length, count + 1);
    assert.equal((await get(`/api/v2/tickets.json?external_id=${ext}`)).json.count, 1);
    assert.throws(() => zd.fail(/x/, { status: 500, after: 'yes' }), TypeError);
  });

  test('delay(): the request is carried out on arrival and only the answer is held; after: false holds the request itself', async () => {
    const post = (subject, signal) => fetch(`${zd.url}/api/v2/tickets.json`, {
      method: 'POST',
      headers: { authorization: auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ ticket: { subject, comment: { body: 'x' }, requester_id: 35437 } }),
      signal,
    });
    const count = zd.tickets.length;
    zd.delay(/^POST \/api\/v2\/tickets\.json$/, { ms: Infinity });
    await assert.rejects(post('Timed out after the write', AbortSignal.timeout(100)), /TimeoutError|aborted/);
    assert.equal(zd.tickets.length, count + 1, 'created although the client timed out');
    assert.equal(zd.tickets.at(-1).subject, 'Timed out after the write');

    zd.delay(/^POST \/api\/v2\/tickets\.json$/, { ms: Infinity, after: false });
    await assert.rejects(post('Never carried out', AbortSignal.timeout(100)), /TimeoutError|aborted/);
    assert.equal(zd.tickets.length, count + 1, 'held before the write: never created');

    zd.delay(/^POST \/api\/v2\/tickets\.json$/, { ms: 200, after: false });
    const t0 = Date.now();
    const pending = post('Carried out late');
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(zd.tickets.length, count + 1, 'not yet carried out while held');
    const res = await pending;
    assert.equal(res.status, 201);
    assert.ok(Date.now() - t0 >= 190);
    assert.equal(zd.tickets.length, count + 2);
    assert.throws(() => zd.delay(/x/, { ms: 1, after: 1 }), TypeError);
  });

  test('requests are logged with the parsed JSON body', () => {
    const posted = zd.requests.filter((r) => r.method === 'POST');
    assert.ok(posted.length > 0);
    assert.equal(posted[0].path, '/api/v2/tickets.json');
    assert.equal(posted[0].json.ticket.subject, 'Where is my order?');
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('HubSpot fake', () => {
  const TOKEN = 'pat-na1-11111111-2222-3333-4444-555555555555';
  let hs;
  const headers = (extra = {}) => ({ authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...extra });
  const get = (path) => call(`${hs.url}${path}`, { headers: headers() });
  const send = (method, path, body) => call(`${hs.url}${path}`, { method, headers: headers(), body: typeof body === 'string' ? body : JSON.stringify(body) });

  before(async () => {
    hs = await startHubSpot({
      token: TOKEN,
      contacts: [
        { id: '101', properties: { email: 'Jane@Example.com', firstname: 'Jane', lastname: 'Doe', phone: '+14155550142', hs_lead_status: 'OPEN', lifecyclestage: 'customer' } },
        { id: '102', email: 'bob@example.com', firstname: 'Bob', lastname: 'Roe' },
        { id: '103', email: 'carol@example.com', firstname: 'Carol', phone: '+14155550142' },
      ],
      tickets: [
        { id: '2001', properties: { subject: 'Broken widget', content: 'It broke.', hs_pipeline_stage: '1', hs_ticket_priority: 'HIGH' } },
        { id: '2002', properties: { subject: 'Open one', hs_pipeline_stage: '1' }, createdAt: '2024-01-01T10:00:00.000Z', associations: { contacts: ['101'] } },
        { id: '2003', properties: { subject: 'Closed one', hs_pipeline_stage: '4' }, createdAt: '2024-02-01T10:00:00.000Z', associations: { contacts: [{ id: '101' }] } },
        { id: '2004', properties: { subject: 'Bob\'s', hs_pipeline_stage: '2' }, associations: [{ to: { id: '102' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 16 }] }] },
        { id: '2005', properties: { subject: 'Waiting on us', hs_pipeline_stage: '3' }, createdAt: '2024-03-01T10:00:00.000Z', associations: { contacts: { results: [{ id: '101', type: 'ticket_to_contact' }] } } },
      ],
    });
  });
  after(() => hs.close());

  test('authentication is a Bearer private-app token; anything else is 401 INVALID_AUTHENTICATION', async () => {
    for (const h of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${TOKEN}` }]) {
      const res = await call(`${hs.url}/crm/v3/objects/contacts/101`, { headers: h });
      assert.equal(res.status, 401);
      assert.equal(res.json.status, 'error');
      assert.match(res.json.message, /^Authentication credentials not found\./);
      assert.match(res.json.correlationId, UUID);
      assert.equal(res.json.category, 'INVALID_AUTHENTICATION');
      assert.equal(res.headers.get('x-hubspot-correlation-id'), res.json.correlationId);
    }
  });

  test('get contact: default properties, requested properties (null when empty), 404 OBJECT_NOT_FOUND', async () => {
    const res = await get('/crm/v3/objects/contacts/101');
    assert.equal(res.status, 200);
    assert.equal(res.json.id, '101');
    assert.deepEqual(Object.keys(res.json.properties), ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname']);
    assert.equal(res.json.properties.hs_object_id, '101');
    assert.equal(res.json.archived, false);
    assert.match(res.json.createdAt, HUBSPOT_TIME);
    assert.match(res.json.updatedAt, HUBSPOT_TIME);
    assert.equal(res.headers.get('x-hubspot-ratelimit-max'), '190');
    assert.equal(res.headers.get('x-hubspot-ratelimit-interval-milliseconds'), '10000');

    const some = await get('/crm/v3/objects/contacts/102?properties=email,phone,hs_lead_status,lifecyclestage,firstname,lastname');
    assert.deepEqual(some.json.properties, {
      createdate: some.json.createdAt,
      email: 'bob@example.com',
      firstname: 'Bob',
      hs_lead_status: null,
      hs_object_id: '102',
      lastmodifieddate: some.json.updatedAt,
      lastname: 'Roe',
      lifecyclestage: null,
      phone: null,
    });
    const byEmail = await get('/crm/v3/objects/contacts/jane%40example.com?idProperty=email&properties=phone');
    assert.equal(byEmail.json.id, '101');
    assert.equal(byEmail.json.properties.phone, '+14155550142');

    const missing = await get('/crm/v3/objects/contacts/999');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.status, 'error');
    assert.equal(missing.json.message, 'Object not found.  objectId are usually numeric.');
    assert.deepEqual(missing.json.context, { id: ['999'] });
    assert.equal(missing.json.category, 'OBJECT_NOT_FOUND');
    assert.match(missing.json.correlationId, UUID);
  });

  test('search contacts by email (EQ, case-insensitive) and phone; limit and paging', async () => {
    const body = (propertyName, value, extra = {}) => ({ filterGroups: [{ filters: [{ propertyName, operator: 'EQ', value }] }], ...extra });
    const res = await send('POST', '/crm/v3/objects/contacts/search', body('email', 'jane@example.com', { properties: ['email', 'phone', 'firstname', 'lastname'], limit: 1 }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.total, 1);
    assert.equal(res.json.results[0].id, '101');
    assert.equal(res.json.results[0].properties.phone, '+14155550142');
    assert.equal(res.json.paging, undefined);
    assert.equal(res.headers.get('x-hubspot-ratelimit-max'), null, 'no rate-limit headers on search');
    assert.ok(res.headers.get('x-hubspot-correlation-id'));

    const byPhone = await send('POST', '/crm/v3/objects/contacts/search', body('phone', '+14155550142', { limit: 1 }));
    assert.equal(byPhone.json.total, 2);
    assert.deepEqual(byPhone.json.results.map((r) => r.id), ['101']);
    assert.deepEqual(byPhone.json.paging, { next: { after: '1' } });
    assert.deepEqual(Object.keys(byPhone.json.results[0].properties), ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname']);
    const next = await send('POST', '/crm/v3/objects/contacts/search', body('phone', '+14155550142', { limit: 1, after: '1' }));
    assert.deepEqual(next.json.results.map((r) => r.id), ['103']);

    const none = await send('POST', '/crm/v3/objects/contacts/search', body('email', 'nobody@example.com'));
    assert.deepEqual(none.json, { total: 0, results: [] });
    const badOp = await send('POST', '/crm/v3/objects/contacts/search', { filterGroups: [{ filters: [{ propertyName: 'email', operator: 'LIKE', value: 'x' }] }] });
    assert.equal(badOp.status, 400);
    assert.equal(badOp.json.category, 'VALIDATION_ERROR');
  });

  test('tickets: get, create 201, invalid options 400, patch 200, 404', async () => {
    const got = await get('/crm/v3/objects/tickets/2001');
    assert.equal(got.status, 200);
    assert.deepEqual(Object.keys(got.json.properties), ['content', 'createdate', 'hs_lastmodifieddate', 'hs_object_id', 'hs_pipeline', 'hs_pipeline_stage', 'hs_ticket_category', 'hs_ticket_priority', 'subject']);
    assert.equal(got.json.properties.hs_pipeline, '0');
    assert.equal(got.json.properties.hs_ticket_category, null);

    const created = await send('POST', '/crm/v3/objects/tickets', {
      properties: { subject: 'Refund please', content: 'Charged twice', hs_pipeline: '0', hs_pipeline_stage: '1', hs_ticket_priority: 'URGENT' },
      associations: [{ to: { id: '101' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 16 }] }],
    });
    assert.equal(created.status, 201, created.text);
    const { id } = created.json;
    assert.match(id, /^\d+$/);
    assert.equal(created.json.properties.subject, 'Refund please');
    assert.equal(created.json.properties.hs_ticket_priority, 'URGENT');
    assert.equal(created.json.properties.hs_object_id, id);
    assert.equal(hs.tickets.at(-1).id, id);
    const assoc = await get(`/crm/v3/objects/tickets/${id}?associations=contacts`);
    assert.deepEqual(assoc.json.associations, { contacts: { results: [{ id: '101', type: 'ticket_to_contact' }] } });

    const badPriority = await send('POST', '/crm/v3/objects/tickets', { properties: { subject: 'x', hs_pipeline_stage: '1', hs_ticket_priority: 'PANIC' } });
    assert.equal(badPriority.status, 400);
    assert.equal(badPriority.json.category, 'VALIDATION_ERROR');
    assert.match(badPriority.json.message, /^Property values were not valid: .*INVALID_OPTION/);
    const noStage = await send('POST', '/crm/v3/objects/tickets', { properties: { subject: 'x' } });
    assert.equal(noStage.status, 400);
    const unknownProp = await send('PATCH', `/crm/v3/objects/tickets/${id}`, { properties: { colour: 'red' } });
    assert.equal(unknownProp.status, 400);
    assert.match(unknownProp.json.message, /PROPERTY_DOESNT_EXIST/);

    await new Promise((r) => setTimeout(r, 5));
    const patched = await send('PATCH', `/crm/v3/objects/tickets/${id}`, { properties: { hs_pipeline_stage: '4', hs_ticket_priority: 'LOW' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.properties.hs_pipeline_stage, '4');
    assert.equal(patched.json.properties.hs_ticket_priority, 'LOW');
    assert.notEqual(patched.json.updatedAt, created.json.updatedAt);
    assert.equal(patched.json.properties.hs_lastmodifieddate, patched.json.updatedAt);
    assert.ok(hs.tickets.at(-1).properties.closed_date);

    const missing = await send('PATCH', '/crm/v3/objects/tickets/424242', { properties: { hs_pipeline_stage: '2' } });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.category, 'OBJECT_NOT_FOUND');
    assert.deepEqual(missing.json.context, { id: ['424242'] });
  });

  test('create contact: 201; duplicate email 409 CONFLICT', async () => {
    const res = await send('POST', '/crm/v3/objects/contacts', { properties: { email: 'dan@example.com', firstname: 'Dan' } });
    assert.equal(res.status, 201);
    assert.equal(res.json.properties.email, 'dan@example.com');
    const dup = await send('POST', '/crm/v3/objects/contacts', { properties: { email: 'DAN@example.com' } });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.message, `Contact already exists. Existing ID: ${res.json.id}`);
    assert.equal(dup.json.category, 'CONFLICT');
  });

  test('fail(): 429 TEN_SECONDLY_ROLLING (Retry-After only when asked), 401, 500, 503', async () => {
    hs.fail(/contacts\/101/, { status: 429 });
    const limited = await get('/crm/v3/objects/contacts/101');
    assert.equal(limited.status, 429);
    assert.deepEqual(Object.keys(limited.json), ['status', 'message', 'errorType', 'correlationId', 'policyName', 'category']);
    assert.equal(limited.json.message, 'You have reached your ten_secondly_rolling limit.');
    assert.equal(limited.json.errorType, 'RATE_LIMIT');
    assert.equal(limited.json.policyName, 'TEN_SECONDLY_ROLLING');
    assert.equal(limited.json.category, 'RATE_LIMITS');
    assert.equal(limited.headers.get('retry-after'), null);
    assert.equal(limited.headers.get('x-hubspot-ratelimit-remaining'), '0');

    hs.fail(/contacts\/search/, { status: 429, retryAfter: 3, policy: 'DAILY' });
    const daily = await send('POST', '/crm/v3/objects/contacts/search', {});
    assert.equal(daily.headers.get('retry-after'), '3');
    assert.equal(daily.json.policyName, 'DAILY');
    assert.equal(daily.json.message, 'You have reached your daily limit.');

    hs.fail(/tickets/, { status: 401 });
    const unauth = await get('/crm/v3/objects/tickets/2001');
    assert.equal(unauth.json.category, 'INVALID_AUTHENTICATION');

    hs.fail(/tickets/, { status: 500, times: 2 });
    assert.equal((await get('/crm/v3/objects/tickets/2001')).status, 500);
    const second = await get('/crm/v3/objects/tickets/2001');
    assert.deepEqual(Object.keys(second.json), ['status', 'message', 'correlationId']);
    hs.fail(/tickets/, { status: 503, body: 'upstream connect error' });
    const raw = await get('/crm/v3/objects/tickets/2001');
    assert.equal(raw.status, 503);
    assert.equal(raw.text, 'upstream connect error');
    assert.equal((await get('/crm/v3/objects/tickets/2001')).status, 200);
  });

  test('tickets search on associations.contact (seeded and created associations), open stages, sorts', async () => {
    const byContact = (contactId, extra = [], body = {}) => send('POST', '/crm/v3/objects/tickets/search', {
      filterGroups: [{ filters: [{ propertyName: 'associations.contact', operator: 'EQ', value: contactId }, ...extra] }],
      properties: ['subject', 'hs_pipeline_stage'],
      limit: 100,
      ...body,
    });
    const all = await byContact('101');
    assert.equal(all.status, 200, all.text);
    const ids = all.json.results.map((r) => r.id);
    for (const id of ['2002', '2003', '2005']) assert.ok(ids.includes(id), id);
    assert.ok(!ids.includes('2001') && !ids.includes('2004'));

    const open = await byContact('101', [{ propertyName: 'hs_pipeline_stage', operator: 'NEQ', value: '4' }], {
      sorts: [{ propertyName: 'createdate', direction: 'DESCENDING' }],
    });
    assert.deepEqual(open.json.results.map((r) => r.id), ['2005', '2002']);
    assert.equal(open.json.total, 2);
    assert.deepEqual(open.json.results[0].properties.subject, 'Waiting on us');

    assert.deepEqual((await byContact('102')).json.results.map((r) => r.id), ['2004']);
    assert.deepEqual((await byContact('999')).json, { total: 0, results: [] });
    const unassociated = await send('POST', '/crm/v3/objects/tickets/search', { filterGroups: [{ filters: [{ propertyName: 'associations.contact', operator: 'NOT_HAS_PROPERTY' }] }] });
    assert.ok(unassociated.json.results.some((r) => r.id === '2001'));
    assert.ok(!unassociated.json.results.some((r) => r.id === '2002'));

    // A ticket created with associations (create form) is found the same way.
    const created = await send('POST', '/crm/v3/objects/tickets', {
      properties: { subject: 'From the phone', hs_pipeline_stage: '1' },
      associations: [{ to: { id: '103' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 16 }] }],
    });
    assert.deepEqual((await byContact('103')).json.results.map((r) => r.id), [created.json.id]);
    assert.deepEqual((await get('/crm/v3/objects/tickets/2005?associations=contacts')).json.associations, { contacts: { results: [{ id: '101', type: 'ticket_to_contact' }] } });
    assert.deepEqual(hs.tickets.find((t) => t.id === '2002').associations, [{ to: { id: '101' }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 16 }] }]);
  });

  test('tickets search by exact subject (EQ): the whole value, case-insensitively; a create whose answer was lost is found', async () => {
    const subject = 'Call from +1 (415) 555-0142: "refund" [edgedesk] 50% off_now';
    const search = (value, body = {}) => send('POST', '/crm/v3/objects/tickets/search', {
      filterGroups: [{ filters: [{ propertyName: 'subject', operator: 'EQ', value }] }],
      properties: ['subject', 'content', 'hs_pipeline_stage', 'hs_ticket_priority'],
      limit: 5,
      ...body,
    });
    assert.deepEqual((await search(subject)).json, { total: 0, results: [] });

    hs.fail(/^POST \/crm\/v3\/objects\/tickets$/, { status: 500, after: true });
    const lost = await send('POST', '/crm/v3/objects/tickets', { properties: { subject, content: 'Caller asked for a refund', hs_pipeline: '0', hs_pipeline_stage: '1' } });
    assert.equal(lost.status, 500);
    assert.deepEqual(Object.keys(lost.json), ['status', 'message', 'correlationId'], 'the `after` option is not part of the body');
    assert.equal(lost.json.message, 'internal error');
    const made = hs.tickets.at(-1);
    assert.equal(made.properties.subject, subject, 'created all the same');

    const found = await search(subject);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.total, 1);
    assert.deepEqual(found.json.results, [{
      id: made.id,
      properties: {
        content: 'Caller asked for a refund',
        createdate: made.createdAt,
        hs_lastmodifieddate: made.updatedAt,
        hs_object_id: made.id,
        hs_pipeline_stage: '1',
        hs_ticket_priority: null,
        subject,
      },
      createdAt: made.createdAt,
      updatedAt: made.updatedAt,
      archived: false,
    }]);
    assert.deepEqual((await search(subject.toUpperCase())).json.results.map((r) => r.id), [made.id], 'EQ is case-insensitive');
    for (const part of [subject.slice(0, 20), 'refund', `${subject}!`]) {
      assert.deepEqual((await search(part)).json, { total: 0, results: [] }, part);
    }

    // Two tickets with the subject: both found; newest first with a createdate sort.
    await new Promise((r) => setTimeout(r, 5));
    const again = await send('POST', '/crm/v3/objects/tickets', { properties: { subject, hs_pipeline_stage: '1' } });
    assert.equal(again.status, 201);
    const both = await search(subject, { sorts: [{ propertyName: 'createdate', direction: 'DESCENDING' }] });
    assert.deepEqual(both.json.results.map((r) => r.id), [again.json.id, made.id]);
    assert.equal(both.json.total, 2);
  });

  test('delay(): slow responses', async () => {
    hs.delay(/^POST \/crm\/v3\/objects\/contacts\/search/, { ms: 120 });
    const t0 = Date.now();
    const res = await send('POST', '/crm/v3/objects/contacts/search', {});
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 >= 110);
    assert.ok(hs.requests.some((r) => r.path === '/crm/v3/objects/contacts/search' && r.json !== undefined));
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('Freshdesk fake', () => {
  const KEY = 'sFa8x2rLkQ9mZ1pT4vWy';
  const daysAgo = (n) => new Date(Date.now() - n * 86400000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  let fd;
  const auth = (user = KEY, pass = 'X') => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const get = (path) => call(`${fd.url}${path}`, { headers: { authorization: auth() } });
  const send = (method, path, body) => call(`${fd.url}${path}`, {
    method,
    headers: { authorization: auth(), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  before(async () => {
    fd = await startFreshdesk({
      apiKey: KEY,
      contacts: [
        { id: 432, name: 'Jane Doe', email: 'Jane@Example.com', phone: '+1 415 555 0142', mobile: '+14155550199', company_id: 7 },
        { id: 433, name: 'Bob Roe', email: 'bob@example.com' },
      ],
      tickets: [
        { id: 20, subject: 'Broken widget', description: '<div>It <b>broke</b>.</div>', status: 2, priority: 3, requester_id: 432 },
        { id: 21, subject: 'Resolved', description: 'r', status: 4, requester_id: 432, created_at: daysAgo(5) },
        { id: 22, subject: 'Old but pending', description: 'p', status: 3, requester_id: 432, created_at: daysAgo(45), updated_at: daysAgo(2) },
        { id: 23, subject: 'Bob', description: 'b', status: 2, requester_id: 433 },
        { id: 24, subject: 'Spam', description: 's', status: 2, requester_id: 432, spam: true },
      ],
    });
  });
  after(() => fd.close());

  test('authentication is Basic {apiKey}:X; anything else is 401 invalid_credentials', async () => {
    for (const authorization of [undefined, auth('wrong'), `Bearer ${KEY}`]) {
      const res = await call(`${fd.url}/api/v2/contacts/432`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, { code: 'invalid_credentials', message: 'You have to be logged in to perform this action.' });
    }
    const ok = await get('/api/v2/contacts/432');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-ratelimit-total'), '700');
    assert.ok(Number(ok.headers.get('x-ratelimit-remaining')) < 700);
  });

  test('contacts: view, 404 with an empty body, filter by email / phone', async () => {
    const res = await get('/api/v2/contacts/432');
    for (const k of ['id', 'name', 'email', 'phone', 'mobile', 'company_id', 'created_at', 'updated_at']) assert.ok(k in res.json, k);
    assert.equal(res.json.company_id, 7);
    assert.match(res.json.created_at, ZENDESK_TIME);
    const missing = await get('/api/v2/contacts/999');
    assert.equal(missing.status, 404);
    assert.equal(missing.text, '');

    const byEmail = await get('/api/v2/contacts?email=jane%40example.com');
    assert.equal(byEmail.status, 200);
    assert.deepEqual(byEmail.json.map((c) => c.id), [432]);
    assert.deepEqual((await get(`/api/v2/contacts?phone=${encodeURIComponent('+14155550142')}`)).json.map((c) => c.id), [432]);
    assert.deepEqual((await get('/api/v2/contacts?email=nobody%40example.com')).json, []);
    assert.equal((await get('/api/v2/contacts')).json.length, 2);
  });

  test('tickets: view, create 201, validation 400, update 200, 404', async () => {
    const got = await get('/api/v2/tickets/20');
    assert.equal(got.status, 200);
    assert.equal(got.json.description_text, 'It broke.');
    assert.equal(got.json.status, 2);
    assert.equal(got.json.priority, 3);
    assert.equal(got.json.requester_id, 432);
    assert.equal((await get('/api/v2/tickets/999')).status, 404);

    const created = await send('POST', '/api/v2/tickets', { subject: 'Refund', description: 'Charged twice', email: 'bob@example.com', status: 2, priority: 4 });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.requester_id, 433);
    assert.equal(created.json.priority, 4);
    assert.equal(created.headers.get('location'), `${fd.url}/api/v2/tickets/${created.json.id}`);
    assert.equal(fd.tickets.at(-1).id, created.json.id);

    const newContact = await send('POST', '/api/v2/tickets', { subject: 'Hi', description: 'x', email: 'new@example.com', status: 2, priority: 1 });
    assert.equal(newContact.status, 201);
    assert.equal(fd.contacts.at(-1).email, 'new@example.com');
    assert.equal(newContact.json.requester_id, fd.contacts.at(-1).id);

    const bad = await send('POST', '/api/v2/tickets', { subject: 'x', description: 'y', status: 9, priority: 'high', colour: 'red' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.description, 'Validation failed');
    const codes = Object.fromEntries(bad.json.errors.map((e) => [e.field, e.code]));
    assert.deepEqual(codes, { colour: 'invalid_field', status: 'invalid_value', priority: 'datatype_mismatch', requester_id: 'missing_field' });
    for (const e of bad.json.errors) assert.equal(typeof e.message, 'string');
    assert.equal((await send('POST', '/api/v2/tickets', '{nope')).json.code, 'invalid_json');

    const updated = await send('PUT', `/api/v2/tickets/${created.json.id}`, { status: 4, priority: 2 });
    assert.equal(updated.status, 200);
    assert.equal(updated.json.status, 4);
    assert.equal(updated.json.priority, 2);
    assert.equal((await send('PUT', '/api/v2/tickets/20', { status: 6 })).status, 400);
    assert.equal((await send('PUT', '/api/v2/tickets/999', { status: 4 })).status, 404);
  });

  test('list all tickets: requester_id / email, past 30 days unless updated_since, order, include, pages', async () => {
    const res = await get('/api/v2/tickets?requester_id=432');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.map((t) => t.id), [20, 21], 'created in the last 30 days, newest first, no spam');
    assert.ok(!('description' in res.json[0]) && !('description_text' in res.json[0]), 'description only with include');
    assert.equal(res.json[1].status, 4, 'every status is listed');
    assert.equal(res.headers.get('link'), null);
    assert.deepEqual((await get('/api/v2/tickets?email=JANE%40example.com')).json.map((t) => t.id), [20, 21]);

    const withOld = await get(`/api/v2/tickets?requester_id=432&updated_since=${encodeURIComponent(daysAgo(10))}`);
    assert.deepEqual(withOld.json.map((t) => t.id), [20, 21, 22]);
    const byUpdate = await get(`/api/v2/tickets?requester_id=432&updated_since=${encodeURIComponent(daysAgo(10))}&order_by=updated_at&order_type=asc`);
    assert.deepEqual(byUpdate.json.map((t) => t.id), [21, 22, 20]);

    const included = await get('/api/v2/tickets?requester_id=432&include=description,requester');
    assert.equal(included.json[0].description_text, 'It broke.');
    assert.deepEqual(included.json[0].requester, { email: 'Jane@Example.com', id: 432, mobile: '+14155550199', name: 'Jane Doe', phone: '+1 415 555 0142' });

    const page1 = await get('/api/v2/tickets?requester_id=432&per_page=1');
    assert.deepEqual(page1.json.map((t) => t.id), [20]);
    const link = /^<([^>]+)>; rel="next"$/.exec(page1.headers.get('link'));
    assert.ok(link, page1.headers.get('link'));
    const page2 = await call(link[1], { headers: { authorization: auth() } });
    assert.deepEqual(page2.json.map((t) => t.id), [21]);
    assert.equal(page2.headers.get('link'), null);

    assert.deepEqual((await get('/api/v2/tickets?filter=spam')).json.map((t) => t.id), [24]);
    assert.deepEqual((await get('/api/v2/tickets?requester_id=999')).json, []);
    const unknownEmail = await get('/api/v2/tickets?email=nobody%40example.com');
    assert.equal(unknownEmail.status, 400);
    assert.equal(unknownEmail.json.errors[0].field, 'email');
    const bad = await get('/api/v2/tickets?status=2&order_by=priority&per_page=101');
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.fromEntries(bad.json.errors.map((e) => [e.field, e.code])), { status: 'invalid_field', order_by: 'invalid_value', per_page: 'invalid_value' });
  });

  test('fail(): 429 with Retry-After, 500, times; delay()', async () => {
    fd.fail(/^GET \/api\/v2\/contacts/, { status: 429, times: 2 });
    const limited = await get('/api/v2/contacts?email=bob%40example.com');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '60');
    assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
    fd.fail(/tickets/, { status: 429, retryAfter: 5 });
    assert.equal((await get('/api/v2/tickets/20')).headers.get('retry-after'), '5');
    assert.equal((await get('/api/v2/contacts/432')).status, 429);
    assert.equal((await get('/api/v2/contacts/432')).status, 200);
    fd.fail(/tickets/, { status: 401 });
    assert.equal((await get('/api/v2/tickets/20')).json.code, 'invalid_credentials');
    fd.fail(/tickets/, { status: 500 });
    assert.equal((await get('/api/v2/tickets/20')).status, 500);

    fd.delay(/tickets\/20/, { ms: 120 });
    const t0 = Date.now();
    assert.equal((await get('/api/v2/tickets/20')).status, 200);
    assert.ok(Date.now() - t0 >= 110);
    assert.ok(fd.requests.some((r) => r.method === 'POST' && r.json?.subject === 'Refund'));
  });

  test('filter tickets (search/tickets): tag, status, priority with AND / OR / ( ); {results, total}; create keeps tags', async () => {
    const tag = 'edgedesk-tkt-000015-3f1c2a4e';
    const created = await send('POST', '/api/v2/tickets', { subject: 'Call', description: 'x', email: 'bob@example.com', status: 2, priority: 2, tags: [tag, 'phone'] });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.tags, [tag, 'phone']);
    const refund = fd.tickets.find((t) => t.subject === 'Refund'); // created (status 4, priority 2) by an earlier test

    const search = (query, extra = '') => get(`/api/v2/search/tickets?query=${encodeURIComponent(`"${query}"`)}${extra}`);
    const ids = async (query) => {
      const res = await search(query);
      assert.equal(res.status, 200, `${query}: ${res.text}`);
      return res.json.results.map((t) => t.id);
    };
    const byTag = await search(`tag:'${tag}'`);
    assert.equal(byTag.status, 200, byTag.text);
    assert.deepEqual(Object.keys(byTag.json), ['results', 'total']);
    assert.equal(byTag.json.total, 1);
    assert.deepEqual(byTag.json.results.map((t) => t.id), [created.json.id]);
    assert.ok(!('description' in byTag.json.results[0]) && !('description_text' in byTag.json.results[0]));
    assert.deepEqual(byTag.json.results[0].tags, [tag, 'phone']);
    assert.equal(byTag.headers.get('x-ratelimit-total'), '700');
    // The documented raw form (double quotes in the URL, encoded by the client as it likes).
    const raw = await call(`${fd.url}/api/v2/search/tickets?query="tag:'${tag}'"`, { headers: { authorization: auth() } });
    assert.deepEqual(raw.json.results.map((t) => t.id), [created.json.id]);
    assert.deepEqual((await search("tag:'edgedesk-nope'")).json, { results: [], total: 0 });
    assert.deepEqual(await ids(`tag:'${tag.slice(0, -1)}'`), [], 'a tag matches whole');

    assert.deepEqual(await ids('status:2 AND priority:3'), [20]);
    assert.deepEqual(await ids('(status:3 OR status:4) AND priority:1'), [21, 22], 'newest first; no 30-day window');
    assert.deepEqual(await ids('status:3 OR status:4'), [refund.id, 21, 22]);
    assert.deepEqual(await ids("tag:'phone' AND status:2"), [created.json.id]);
    assert.deepEqual(await ids("status:2 AND priority:3 OR tag:'phone'"), [created.json.id, 20], 'AND binds tighter than OR');
    assert.deepEqual(await ids('priority:>4'), []);
    assert.deepEqual(await ids('priority:>3'), [20], ':> is "greater than or equal to"');
    assert.deepEqual(await ids('priority:>3 AND status:<2'), [20], ':< is "less than or equal to"');
    assert.deepEqual(await ids('priority:>3 AND status:<1'), []);
    assert.deepEqual(await ids(`created_at:<'${daysAgo(30).slice(0, 10)}'`), [22]);
    assert.ok(!(await ids('status:2')).includes(24), 'spam is left out');
    const untagged = await ids('tag:null');
    assert.ok(untagged.includes(20) && !untagged.includes(created.json.id));
  });

  test('filter tickets: 30 per page, page 1..10, total counts every hit', async () => {
    const many = await startFreshdesk({ apiKey: KEY, tickets: Array.from({ length: 31 }, (_, i) => ({ subject: `T${i}`, tags: ['bulk'], priority: 2 })) });
    try {
      const page = (n) => call(`${many.url}/api/v2/search/tickets?query=${encodeURIComponent('"tag:\'bulk\' AND priority:2"')}${n ? `&page=${n}` : ''}`, { headers: { authorization: auth() } });
      const first = await page();
      assert.equal(first.json.total, 31);
      assert.equal(first.json.results.length, 30);
      const second = await page(2);
      assert.equal(second.json.total, 31);
      assert.equal(second.json.results.length, 1);
      assert.equal(new Set([...first.json.results, ...second.json.results].map((t) => t.id)).size, 31);
      assert.deepEqual((await page(10)).json, { results: [], total: 31 });
      const eleven = await page(11);
      assert.equal(eleven.status, 400);
      assert.deepEqual(eleven.json.errors.map((e) => [e.field, e.code]), [['page', 'invalid_value']]);
    } finally {
      await many.close();
    }
  });

  test('filter tickets: a bad query is 400 Validation failed on `query`', async () => {
    const bad = async (path) => {
      const res = await get(path);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json.description, 'Validation failed');
      assert.equal(res.json.errors.length, 1);
      const [error] = res.json.errors;
      assert.equal(typeof error.message, 'string');
      return error;
    };
    const q = (query) => `/api/v2/search/tickets?query=${encodeURIComponent(query)}`;
    for (const query of [
      'status:2', // not enclosed in double quotes
      "'status:2'",
      '"tag:bare"', // a string value must be single-quoted
      "\"status:'2'\"", // a number must not be
      "\"colour:'red'\"", // no such field
      '"Status:2"', // field names are case-sensitive
      '"status:2 AND"',
      '"(status:2"',
      '"status:2 and priority:1"',
      "\"tag:>'x'\"",
      '""',
      `"${'status:2 OR '.repeat(50)}status:3"`, // over 512 characters
    ]) {
      assert.deepEqual({ ...(await bad(q(query))), message: undefined }, { field: 'query', message: undefined, code: 'invalid_value' }, query);
    }
    assert.deepEqual(await bad('/api/v2/search/tickets'), { field: 'query', message: 'It should be a/an String', code: 'missing_field' });
    assert.equal((await bad(`${q('"status:2"')}&per_page=5`)).code, 'invalid_field');
    const tags = await send('POST', '/api/v2/tickets', { subject: 's', description: 'd', email: 'bob@example.com', tags: 'edgedesk-x' });
    assert.equal(tags.status, 400);
    assert.deepEqual(tags.json.errors.map((e) => [e.field, e.code]), [['tags', 'datatype_mismatch']]);
    const long = await send('POST', '/api/v2/tickets', { subject: 's', description: 'd', email: 'bob@example.com', tags: ['x'.repeat(33)] });
    assert.equal(long.status, 400, 'a tag over 32 characters is refused');
    assert.deepEqual(long.json.errors.map((e) => [e.field, e.code]), [['tags', 'invalid_value']]);
  });

  test('fail({after: true}) on create: the ticket exists although the answer was a 503; the tag lookup finds it', async () => {
    const tag = 'edgedesk-tkt-000170-3f1c2a4e';
    const count = fd.tickets.length;
    fd.fail(/^POST \/api\/v2\/tickets$/, { status: 503, after: true });
    const lost = await send('POST', '/api/v2/tickets', { subject: 'Lost', description: 'x', email: 'bob@example.com', status: 2, priority: 1, tags: [tag] });
    assert.equal(lost.status, 503);
    assert.equal(fd.tickets.length, count + 1);
    const res = await get(`/api/v2/search/tickets?query=${encodeURIComponent(`"tag:'${tag}'"`)}`);
    assert.deepEqual(res.json.results.map((t) => t.id), [fd.tickets.at(-1).id]);
    assert.equal(res.json.results[0].subject, 'Lost');
  });
});
