/**
 * Tests of the LiveChat Agent Chat Web API fake itself (tests/fakes/livechat.mjs).
 * Run: node --test tests/livechat-fake.test.mjs
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startLiveChat } from './fakes/livechat.mjs';

const ACCOUNT = 'b7eff798-f8df-4364-8059-649c35c9ed0c';
const PAT = 'fra:Tq3vXyZ-AbCdEfGhIjKlMnOp';
const LC_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const LC_ID = /^[A-Z0-9]{10}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const basic = (user = ACCOUNT, pass = PAT) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

describe('LiveChat fake', () => {
  let lc;
  const action = (name, body, { version = '3.5', authorization = basic(), headers = {} } = {}) => call(`${lc.url}/v${version}/agent/action/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body ?? {}),
  });
  const newCustomer = async (body = { name: 'Jane Caller', email: 'jane@example.com' }) => (await action('create_customer', body)).json.customer_id;
  const handoff = async (customerId, extra = {}) => action('start_chat', {
    chat: {
      users: [{ id: customerId, type: 'customer' }],
      thread: {
        events: [
          { type: 'message', text: 'Hi, my order never arrived.', visibility: 'all', author_id: customerId },
          { type: 'message', text: 'AI: I am handing you to a human.', visibility: 'all' },
        ],
        properties: { edgedesk: { conversation_id: 'conv-1' } },
      },
      ...extra,
    },
    active: true,
  });

  before(async () => {
    lc = await startLiveChat({
      accountId: ACCOUNT,
      token: PAT,
      agents: [
        { id: 'smith@example.com', name: 'Agent Smith', email: 'smith@example.com', accepting: true, group_ids: [0, 19] },
        { email: 'jones@example.com', name: 'Agent Jones', accepting: false },
      ],
      waitSeconds: 90,
      legacyUntil: '2026-12-31',
    });
  });
  after(() => lc.close());
  beforeEach(() => {
    lc.setAccepting('smith@example.com', true);
    lc.setAccepting('jones@example.com', false);
    for (const chat of lc.chats) for (const t of chat.threads) { t.active = false; t.queue = null; }
  });

  test('auth is Basic base64(account_id:PAT), split at the first colon; anything else is 401 authentication', async () => {
    const bad = [null, basic(ACCOUNT, 'fra:wrong'), basic('someone-else', PAT), `Bearer ${PAT}`, `Basic ${PAT}`];
    for (const authorization of bad) {
      const res = await action('create_customer', {}, { authorization });
      assert.equal(res.status, 401, String(authorization));
      assert.deepEqual(res.json, { error: { type: 'authentication', message: 'Invalid access token' } });
    }
    const ok = await action('create_customer', {}, { headers: { 'x-region': 'fra' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('legacy'), '2026-12-31', 'v3.5 is a legacy version');
    assert.equal(lc.requests.at(-1).headers['x-region'], 'fra');
  });

  test('create_customer → {customer_id}; get_customer returns the Customer', async () => {
    const res = await action('create_customer', { name: 'Thomas Anderson', email: 't.anderson@example.com', session_fields: [{ phone: '+14155550142' }, { source: 'sms' }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json), ['customer_id']);
    assert.match(res.json.customer_id, UUID);
    const got = await action('get_customer', { id: res.json.customer_id });
    assert.equal(got.json.type, 'customer');
    assert.equal(got.json.name, 'Thomas Anderson');
    assert.deepEqual(got.json.session_fields, [{ phone: '+14155550142' }, { source: 'sms' }]);
    assert.match(got.json.created_at, LC_TIME);
    assert.equal(got.json.chat_ids, undefined, 'chat_ids only once the customer had a chat');
    const bad = await action('create_customer', { session_fields: { phone: '1' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.type, 'validation');
    const missing = await action('get_customer', { id: 'nope' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.type, 'not_found');
  });

  test('create_customer was removed in v3.6 (404 there); unsupported versions are rejected', async () => {
    const v36 = await action('create_customer', { name: 'x' }, { version: '3.6' });
    assert.equal(v36.status, 404);
    assert.equal(v36.json.error.type, 'not_found');
    assert.equal(v36.headers.get('legacy'), null);
    const old = await action('create_customer', {}, { version: '3.1' });
    assert.equal(old.status, 400);
    assert.deepEqual(old.json.error, { type: 'unsupported_version', message: 'Cannot call unsupported API versions.' });
  });

  test('start_chat with transcript routes to the first accepting agent', async () => {
    const customerId = await newCustomer();
    const res = await handoff(customerId);
    assert.equal(res.status, 200, res.text);
    assert.match(res.json.chat_id, LC_ID);
    assert.match(res.json.thread_id, LC_ID);
    assert.deepEqual(res.json.event_ids, [`${res.json.thread_id}_1`, `${res.json.thread_id}_2`]);

    const chat = (await action('get_chat', { chat_id: res.json.chat_id })).json;
    assert.equal(chat.id, res.json.chat_id);
    assert.equal(chat.thread.id, res.json.thread_id);
    assert.equal(chat.thread.active, true);
    assert.equal(chat.thread.queue, undefined, 'no queue when an agent took it');
    assert.match(chat.thread.created_at, LC_TIME);
    assert.deepEqual(chat.thread.properties, { edgedesk: { conversation_id: 'conv-1' } });
    assert.deepEqual(chat.access, { group_ids: [0] });
    assert.deepEqual(chat.users.map((u) => [u.type, u.id]), [['customer', customerId], ['agent', lc.requester.id], ['agent', 'smith@example.com']]);
    const smith = chat.users.find((u) => u.id === 'smith@example.com');
    assert.deepEqual(smith, { id: 'smith@example.com', name: 'Agent Smith', email: 'smith@example.com', type: 'agent', present: true, visibility: 'all' });
    assert.deepEqual(chat.thread.user_ids, [customerId, lc.requester.id, 'smith@example.com']);
    const [first, second] = chat.thread.events;
    assert.equal(first.type, 'message');
    assert.equal(first.text, 'Hi, my order never arrived.');
    assert.equal(first.author_id, customerId);
    assert.equal(first.visibility, 'all');
    assert.match(first.created_at, LC_TIME);
    assert.equal(second.author_id, lc.requester.id);
    assert.deepEqual(lc.view(res.json.chat_id), chat);
    assert.deepEqual((await action('get_customer', { id: customerId })).json.chat_ids, [res.json.chat_id]);
  });

  test('start_chat: initial events are always visibility "all"; send_event keeps "agents"', async () => {
    const customerId = await newCustomer();
    const res = await action('start_chat', { chat: { users: [{ id: customerId, type: 'customer' }], thread: { events: [{ type: 'message', text: 'internal note', visibility: 'agents' }] } } });
    assert.equal(res.status, 200);
    const chat = lc.view(res.json.chat_id);
    assert.equal(chat.thread.events[0].visibility, 'all', 'the docs: initial events are set to all and cannot be changed');
    const note = await action('send_event', { chat_id: res.json.chat_id, event: { type: 'message', text: 'Summary for the agent', visibility: 'agents' } });
    assert.equal(note.status, 200, note.text);
    assert.equal(note.json.event_id, `${res.json.thread_id}_2`);
    assert.equal(lc.view(res.json.chat_id).thread.events[1].visibility, 'agents');
  });

  test('no accepting agent: the thread is queued with position and wait_time; accepting later routes it', async () => {
    lc.setAccepting('smith@example.com', false);
    const a = await handoff(await newCustomer());
    const b = await handoff(await newCustomer());
    const qa = (await action('get_chat', { chat_id: a.json.chat_id })).json;
    const qb = (await action('get_chat', { chat_id: b.json.chat_id })).json;
    assert.deepEqual(Object.keys(qa.thread.queue), ['position', 'wait_time', 'queued_at']);
    assert.equal(qa.thread.queue.position, 1);
    assert.equal(qb.thread.queue.position, 2);
    assert.equal(qa.thread.queue.wait_time, 90);
    assert.match(qa.thread.queue.queued_at, LC_TIME);
    assert.ok(!qa.users.some((u) => u.id === 'smith@example.com'));

    lc.setAccepting('jones@example.com', true);
    const routed = lc.view(a.json.chat_id);
    assert.equal(routed.thread.queue, undefined);
    assert.equal(typeof routed.thread.queues_duration, 'number');
    assert.ok(routed.users.some((u) => u.id === 'jones@example.com' && u.name === 'Agent Jones'));
    assert.ok(lc.view(b.json.chat_id).users.some((u) => u.id === 'jones@example.com'));
  });

  test('maxChats: a busy agent is skipped, queue positions move up when a chat is deactivated', async () => {
    lc.agents[0].maxChats = 1;
    try {
      const first = await handoff(await newCustomer());
      const second = await handoff(await newCustomer());
      assert.ok(lc.view(first.json.chat_id).users.some((u) => u.id === 'smith@example.com'));
      assert.equal(lc.view(second.json.chat_id).thread.queue.position, 1);
      const done = await action('deactivate_chat', { id: first.json.chat_id });
      assert.equal(done.status, 200);
      assert.deepEqual(done.json, {});
      assert.equal(lc.view(first.json.chat_id).thread.active, false);
      assert.ok(lc.view(second.json.chat_id).users.some((u) => u.id === 'smith@example.com'), 'freed capacity routes the queue');
      const again = await action('deactivate_chat', { id: first.json.chat_id });
      assert.equal(again.status, 400);
      assert.deepEqual(again.json, { error: { type: 'chat_inactive', message: 'Chat is inactive' } });
    } finally {
      lc.agents[0].maxChats = Infinity;
    }
  });

  test('start_chat validation errors are 400 validation', async () => {
    const customerId = await newCustomer();
    const cases = [
      { chat: { users: [{ id: 'ghost', type: 'customer' }] } },
      { chat: { users: [{ id: customerId, type: 'visitor' }] } },
      { chat: { users: [{ id: customerId, type: 'customer' }], thread: { events: [{ type: 'message' }] } } },
      { chat: { users: [{ id: customerId, type: 'customer' }], thread: { events: [{ type: 'message', text: 'x'.repeat(16 * 1024 + 1) }] } } },
      { chat: { users: [{ id: customerId, type: 'customer' }], thread: { events: [{ type: 'form', fields: [] }] } } },
      { chat: { thread: { events: [{ type: 'message', text: 'hi', author_id: customerId }] } } },
      { chat: { users: [{ id: customerId, type: 'customer' }], thread: { events: [{ type: 'message', text: 'hi', visibility: 'everyone' }] } } },
      { chat: [] },
    ];
    for (const body of cases) {
      const res = await action('start_chat', body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 120));
      assert.equal(res.json.error.type, 'validation');
      assert.equal(typeof res.json.error.message, 'string');
    }
    const notJson = await action('start_chat', '{nope');
    assert.equal(notJson.status, 400);
    assert.deepEqual(notJson.json, { error: { type: 'validation', message: 'Invalid message' } });
    const empty = await action('start_chat', {});
    assert.equal(empty.status, 200, 'every start_chat parameter is optional');
    assert.equal(empty.json.event_ids, undefined, 'event_ids only with initial events');
  });

  test('get_chat: thread_id, unknown chat / thread 404 not_found, chat_id required', async () => {
    const res = await handoff(await newCustomer());
    assert.equal((await action('get_chat', { chat_id: res.json.chat_id, thread_id: res.json.thread_id })).json.thread.id, res.json.thread_id);
    const missing = await action('get_chat', { chat_id: 'NOSUCHCHAT' });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.type, 'not_found');
    assert.equal((await action('get_chat', { chat_id: res.json.chat_id, thread_id: 'NOPE' })).status, 404);
    assert.equal((await action('get_chat', {})).status, 400);
    assert.equal((await action('no_such_action', {})).status, 404);
    const get = await call(`${lc.url}/v3.5/agent/action/get_chat`, { headers: { authorization: basic() } });
    assert.equal(get.status, 405);
  });

  test('transfer_chat to an agent / group, ignore_agents_availability queues, requester presence', async () => {
    const res = await handoff(await newCustomer());
    const chatId = res.json.chat_id;
    const busy = await action('transfer_chat', { id: chatId, target: { type: 'agent', ids: ['jones@example.com'] } });
    assert.equal(busy.status, 400);
    assert.equal(busy.json.error.type, 'agent_offline');

    const queued = await action('transfer_chat', { id: chatId, target: { type: 'agent', ids: ['jones@example.com'] }, ignore_agents_availability: true });
    assert.equal(queued.status, 200, queued.text);
    const view = lc.view(chatId);
    assert.equal(view.thread.queue.position, 1);
    assert.deepEqual(view.users.map((u) => u.type), ['customer'], 'the previous agents (and the requester) left');

    const noRequester = await action('transfer_chat', { id: chatId, target: { type: 'group', ids: [19] } });
    assert.equal(noRequester.status, 400);
    assert.equal(noRequester.json.error.type, 'validation');
    const toGroup = await action('transfer_chat', { id: chatId, target: { type: 'group', ids: [19] }, ignore_requester_presence: true });
    assert.equal(toGroup.status, 200, toGroup.text);
    const after = lc.view(chatId);
    assert.equal(after.thread.queue, undefined);
    assert.deepEqual(after.access, { group_ids: [19] });
    assert.ok(after.users.some((u) => u.id === 'smith@example.com'));

    const closed = await action('deactivate_chat', { id: chatId });
    assert.equal(closed.status, 400, 'the requester is no longer in the chat');
    assert.equal((await action('deactivate_chat', { id: chatId, ignore_requester_presence: true })).status, 200);
    assert.equal((await action('transfer_chat', { id: chatId, ignore_requester_presence: true })).json.error.type, 'chat_inactive');
  });

  test('fail(): 429 too_many_requests, 500 internal, 503, custom type/message/data, retryAfter only when asked', async () => {
    lc.fail(/start_chat/, { status: 429, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await action('start_chat', {});
      assert.equal(res.status, 429);
      assert.deepEqual(res.json, { error: { type: 'too_many_requests', message: 'Too many requests' } });
      assert.equal(res.headers.get('retry-after'), null);
    }
    assert.equal((await action('start_chat', {})).status, 200);

    lc.fail(/get_chat/, { status: 500 });
    assert.deepEqual((await action('get_chat', { chat_id: 'X' })).json, { error: { type: 'internal', message: 'Internal server error' } });
    lc.fail(/get_chat/, { status: 503, retryAfter: 4 });
    const down = await action('get_chat', { chat_id: 'X' });
    assert.equal(down.json.error.type, 'service_unavailable');
    assert.equal(down.headers.get('retry-after'), '4');
    // Node's fetch (undici) retries a 421 once on a fresh connection, hence times: 2.
    lc.fail(/create_customer/, { status: 421, times: 2, data: { region: 'fra' } });
    assert.deepEqual((await action('create_customer', {})).json, { error: { type: 'misdirected_request', message: 'Wrong region', data: { region: 'fra' } } });
    lc.fail(/create_customer/, { status: 400, type: 'license_expired', message: 'License expired' });
    assert.deepEqual((await action('create_customer', {})).json, { error: { type: 'license_expired', message: 'License expired' } });
    lc.fail(/create_customer/, { status: 401 });
    assert.equal((await action('create_customer', {})).json.error.type, 'authentication');
  });

  test('delay() and the request log', async () => {
    lc.delay(/get_chat/, { ms: 120 });
    const t0 = Date.now();
    await action('get_chat', { chat_id: 'X' });
    assert.ok(Date.now() - t0 >= 110);
    lc.delay(/get_chat/, { ms: Infinity });
    await assert.rejects(fetch(`${lc.url}/v3.5/agent/action/get_chat`, { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(100) }), /TimeoutError|aborted/);
    const started = lc.requests.find((r) => r.path === '/v3.5/agent/action/start_chat' && r.json?.chat?.thread?.events?.length === 2);
    assert.equal(started.json.chat.thread.events[0].text, 'Hi, my order never arrived.');
    assert.equal(started.headers.authorization, basic());
  });

  test('setAccepting() rejects unknown agents', () => {
    assert.throws(() => lc.setAccepting('nobody@example.com', true), TypeError);
  });
});
