/**
 * Phone and SMS customer service (issue 4) against the BUILT worker in workerd (Miniflare) with local D1 and
 * loopback fakes: Twilio's REST API and signed webhooks (tests/fakes/twilio.mjs), the tenant's Zap
 * (tests/fakes/zapier.mjs: Catch Hook + signed callbacks) and the LLM (tests/fakes/google.mjs).
 * Background work runs in `ctx.wait_until`; tests wait for its visible effects (never for a fixed time).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEdgedesk } from './support/worker.mjs';
import { postWebhook, smsParams, startTwilio, voiceParams } from './fakes/twilio.mjs';
import { startZapier } from './fakes/zapier.mjs';

const OUR = '+15550100001';
const KNOWN = '+15557770001';
const SECRET = 'zap-callback-secret-123';
const KEY = Buffer.alloc(32, 9).toString('base64');

/** Waits (bounded) until `probe()` returns something truthy; returns it. */
async function until(probe, what) {
  for (let i = 0; i < 300; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function setup({ config = {}, zapier = {} } = {}) {
  const twilio = await startTwilio();
  const zap = await startZapier({
    secret: SECRET,
    customers: { [KNOWN]: { jackrabbit_id: 'JR-77', name: 'Maya Patel', email: 'maya@example.com',
      customer_data: { balance: '40.00', membership_type: 'Gold', classes: ['Swim 2 (Mon 5pm)'] } } },
    answers: [{ match: /balance/i, answer: 'Your balance is $40.00, Maya.' }],
    ...zapier,
  });
  const h = await startEdgedesk({ vars: { TWILIO_API_BASE: twilio.url, CS_ENCRYPTION_KEY: KEY } });
  const token = await h.login();
  const put = await h.api('PUT', '/api/v1/admin/customer-service/config', { token, body: {
    is_enabled: true, zapier_webhook_url: zap.hookUrl, zapier_callback_secret: SECRET,
    account_sid: twilio.accountSid, auth_token: twilio.authToken, phone_numbers: [OUR], ...config,
  } });
  assert.equal(put.status, 200, put.text);
  h.fakes.llmReply = () => 'We are open 9 to 5 on weekdays.';
  const sms = (from, body, extra = {}) => postWebhook(h.url, '/api/v1/customer-service/sms/inbound',
    smsParams({ from, to: OUR, body, accountSid: twilio.accountSid, ...extra }), { authToken: twilio.authToken });
  const sentTo = (n) => twilio.messages.filter((m) => m.to === n);
  return {
    h, token, twilio, zap, sms, sentTo,
    async sweep() {
      const worker = await h.mf.getWorker();
      return worker.scheduled({ cron: '* * * * *' });
    },
    async close() {
      await h.dispose();
      await twilio.close();
      await zap.close();
    },
  };
}

describe('configuration', () => {
  let s;
  before(async () => { s = await setup(); });
  after(() => s?.close());

  test('secrets are write-only, fields are validated by name, numbers belong to one tenant', async () => {
    const { h, token } = s;
    const got = await h.api('GET', '/api/v1/admin/customer-service/config', { token });
    assert.equal(got.status, 200);
    assert.equal(got.json.has_auth_token, true);
    assert.equal(got.json.has_zapier_callback_secret, true);
    assert.ok(!got.text.includes(s.twilio.authToken) && !got.text.includes(SECRET), 'no secret is ever returned');
    assert.deepEqual(got.json.phone_numbers, [OUR]);
    assert.equal(got.json.customer_lookup_timeout_seconds, 30);
    assert.equal(got.json.query_timeout_seconds, 45);
    assert.deepEqual(got.json.routing_rules, { enable_sms: true, enable_voice: true, fallback_to_lead_capture: true, auto_respond_pending_lookup: true });
    const [row] = await h.rows('SELECT twilio_auth_token_enc FROM cs_configs');
    assert.match(row.twilio_auth_token_enc, /^v1:/);
    assert.ok(!row.twilio_auth_token_enc.includes(s.twilio.authToken), 'encrypted at rest');
    for (const [body, field] of [
      [{ query_timeout_seconds: 2 }, 'query_timeout_seconds'],
      [{ phone_numbers: ['call me'] }, 'phone_numbers'],
      [{ account_sid: 'AC123' }, 'account_sid'],
      [{ zapier_webhook_url: 'ftp://x' }, 'zapier_webhook_url'],
      [{ routing_rules: { enable_fax: true } }, 'routing_rules'],
    ]) {
      const r = await h.api('PUT', '/api/v1/admin/customer-service/config', { token, body });
      assert.equal(r.status, 422, JSON.stringify(body));
      assert.match(r.json.error.message, new RegExp(field));
    }
    const other = await h.api('POST', '/api/v1/tenants', { token, body: { id: 'acme', name: 'Acme', owner_email: 'o@acme.test', owner_name: 'O' } });
    const acme = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'o@acme.test', password: other.json.temporary_password } })).json.token;
    const clash = await h.api('PUT', '/api/v1/admin/customer-service/config', { token: acme, body: { phone_numbers: ['(555) 010-0001'] } });
    assert.equal(clash.status, 409);
    const agent = await h.api('POST', '/api/v1/staff', { token, body: { email: 'ag@demo.edgedesk.test', name: 'Ag', role: 'agent' } });
    const agentToken = (await h.api('POST', '/api/v1/auth/login', { body: { email: 'ag@demo.edgedesk.test', password: agent.json.temporary_password } })).json.token;
    assert.equal((await h.api('GET', '/api/v1/admin/customer-service/config', { token: agentToken })).status, 403);
    const unsigned = await h.api('PUT', '/api/v1/admin/customer-service/config', { token, body: { zapier_callback_secret: null } });
    assert.equal(unsigned.status, 422, 'an enabled tenant must sign its callbacks');
    assert.match(unsigned.json.error.message, /^zapier_callback_secret/);
  });

  test('test-zapier pings the hook and reports status and latency', async () => {
    const r = await s.h.api('POST', '/api/v1/admin/customer-service/test-zapier', { token: s.token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.status, 200);
    assert.equal(typeof r.json.latency_ms, 'number');
    assert.equal(s.zap.received.at(-1).type, 'ping');
  });
});

describe('SMS', () => {
  let s;
  before(async () => { s = await setup(); });
  after(() => s?.close());

  test('a bad or missing signature is refused with 403 and writes nothing', async () => {
    const params = smsParams({ from: KNOWN, to: OUR, body: 'hello' });
    const before = (await s.h.rows('SELECT count(*) AS n FROM ticket_messages'))[0].n;
    const bad = await postWebhook(s.h.url, '/api/v1/customer-service/sms/inbound', params, { authToken: 'wrong-token-000' });
    assert.equal(bad.status, 403);
    const none = await postWebhook(s.h.url, '/api/v1/customer-service/sms/inbound', params, { omitSignature: true });
    assert.equal(none.status, 403);
    const otherUrl = await postWebhook(s.h.url, '/api/v1/customer-service/sms/inbound', params, { authToken: s.twilio.authToken, publicUrl: 'https://evil.example/api/v1/customer-service/sms/inbound' });
    assert.equal(otherUrl.status, 403);
    assert.equal((await s.h.rows('SELECT count(*) AS n FROM ticket_messages'))[0].n, before);
    assert.equal((await s.h.rows('SELECT count(*) AS n FROM cs_webhooks'))[0].n, 0);
    assert.equal(s.zap.received.length, 0);
  });

  test('a known customer is answered from CRM data through a signed Zapier lookup and query', async () => {
    const r = await s.sms(KNOWN, 'Hi, what is my balance?');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /text\/xml/);
    assert.match(r.text, /<Message>Thanks! One moment while we look up your account.<\/Message>/);
    const sent = await until(() => s.sentTo(KNOWN).find((m) => /balance is \$40/.test(m.body)), 'the CRM answer by SMS');
    assert.equal(sent.from, OUR);
    const types = s.zap.received.map((x) => x.type);
    assert.deepEqual(types, ['customer_lookup', 'customer_query']);
    assert.equal(s.zap.received[0].phone_number, KNOWN);
    assert.match(s.zap.received[0].callback_url, /\/api\/v1\/zapier\/callback$/);
    assert.equal(s.zap.received[1].customer_id, 'JR-77');
    assert.deepEqual(s.zap.callbacks.map((c) => c.status), [200, 200]);
    const [t] = (await s.h.api('GET', '/api/v1/tickets?channel=sms', { token: s.token })).json.tickets;
    assert.equal(t.customer_name, 'Maya Patel');
    assert.equal(t.customer_phone, KNOWN);
    const customer = (await s.h.api('GET', `/api/v1/customers/${t.customer_id}`, { token: s.token })).json;
    assert.deepEqual(customer.identities, [{ kind: 'email', scope: '', value: 'maya@example.com' }, { kind: 'phone', scope: '', value: KNOWN }],
      'the caller is in the registry, with the e-mail the CRM knows');
    const detail = (await s.h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token: s.token })).json;
    assert.deepEqual(detail.messages.map((m) => m.sender_type), ['customer', 'system', 'system']);
    assert.equal(detail.messages[2].content, 'Your balance is $40.00, Maya.');
    const reqs = await s.h.rows("SELECT type, status, latency_ms FROM zapier_requests ORDER BY created_at_ms");
    assert.deepEqual(reqs.map((x) => [x.type, x.status]), [['customer_lookup', 'completed'], ['customer_query', 'completed']]);
  });

  test('within the cache TTL a generic question skips Zapier and the LLM answers', async () => {
    const lookups = s.zap.received.length;
    await s.sms(KNOWN, 'What are your opening hours?');
    await until(() => s.sentTo(KNOWN).find((m) => /open 9 to 5/.test(m.body)), 'the LLM answer');
    assert.equal(s.zap.received.length, lookups, 'no lookup, no query');
    const llm = s.h.fakes.requests.filter((r) => r.path?.startsWith('/v1/chat/completions')).at(-1);
    assert.match(String(llm.body), /Maya Patel/, 'the customer data is the context');
  });

  test('a CRM question Zapier cannot answer falls back to the LLM', async () => {
    await s.sms(KNOWN, 'When is my next class?');
    await until(() => s.zap.callbacks.length >= 3, 'the query callback');
    await until(() => s.sentTo(KNOWN).filter((m) => /open 9 to 5/.test(m.body)).length >= 2, 'the fallback answer');
  });

  test('a Twilio retry of the same MessageSid gets the same TwiML and changes nothing', async () => {
    const params = smsParams({ from: '+15557770009', to: OUR, body: 'hello there', accountSid: s.twilio.accountSid });
    const first = await postWebhook(s.h.url, '/api/v1/customer-service/sms/inbound', params, { authToken: s.twilio.authToken });
    const msgs = (await s.h.rows('SELECT count(*) AS n FROM ticket_messages'))[0].n;
    const again = await postWebhook(s.h.url, '/api/v1/customer-service/sms/inbound', params, { authToken: s.twilio.authToken });
    assert.equal(again.status, 200);
    assert.equal(again.text, first.text);
    assert.equal((await s.h.rows('SELECT count(*) AS n FROM ticket_messages'))[0].n, msgs);
  });

  test('an unknown number goes through lead capture and becomes a lead ticket', async () => {
    const lead = '+15557770042';
    await s.sms(lead, 'Do you have swim classes for kids?');
    await until(() => s.sentTo(lead).find((m) => /What is your name/.test(m.body)), 'the name question');
    const name = await s.sms(lead, 'Ana Lima');
    assert.match(name.text, /Thanks, Ana Lima! What is your e-mail address\?/);
    const bad = await s.sms(lead, 'not telling');
    assert.match(bad.text, /does not look like an e-mail/);
    const done = await s.sms(lead, 'ana.lima@example.com');
    assert.match(done.text, /A member of our team will contact you at ana.lima@example.com/);
    const [t] = (await s.h.api('GET', '/api/v1/tickets?tag=lead', { token: s.token })).json.tickets;
    assert.equal(t.customer_name, 'Ana Lima');
    assert.equal(t.customer_email, 'ana.lima@example.com');
    assert.equal(t.channel, 'sms');
    const thread = (await s.h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token: s.token })).json.messages;
    assert.ok(thread.some((m) => m.content === 'Do you have swim classes for kids?'), 'the transcript is the thread');
    assert.ok(thread.some((m) => /New lead: Ana Lima/.test(m.content)));
  });

  test('STOP opts out: nothing is sent until START; agents cannot text the number either', async () => {
    const who = '+15557770077';
    const stop = await s.sms(who, 'STOP');
    assert.equal(stop.text, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    const asked = await s.sms(who, 'what is my balance');
    assert.equal(asked.text, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    const ticket = (await s.h.api('GET', '/api/v1/tickets?channel=sms', { token: s.token })).json.tickets
      .find((x) => x.customer_phone === who);
    assert.ok(ticket, 'the STOP conversation is a ticket too');
    const reply = await s.h.api('POST', `/api/v1/tickets/${ticket.ticket_id}/reply`, { token: s.token, body: { content: 'Hello?' } });
    assert.equal(reply.status, 409);
    assert.equal(s.sentTo(who).length, 0);
    assert.equal(s.zap.received.filter((x) => x.phone_number === who).length, 0);
    const start = await s.sms(who, 'START');
    assert.match(start.text, /subscribed again/);
    const ok = await s.h.api('POST', `/api/v1/tickets/${ticket.ticket_id}/reply`, { token: s.token, body: { content: 'Welcome back!' } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(s.sentTo(who).at(-1).body, 'Welcome back!');
    const detail = (await s.h.api('GET', `/api/v1/tickets/${ticket.ticket_id}`, { token: s.token })).json;
    assert.ok(detail.ticket.first_response_at, 'an agent reply is the first response');
  });

  test('callbacks: unknown id 404, bad signature or stale timestamp 401, a replay has no second effect', async () => {
    const unknown = await s.zap.callback({ correlation_id: '00000000-0000-0000-0000-000000000000', type: 'customer_lookup', status: 'success', data: { found: false } });
    assert.equal(unknown.status, 404);
    const [done] = await s.h.rows("SELECT correlation_id FROM zapier_requests WHERE type = 'customer_query' AND status = 'completed' LIMIT 1");
    const body = JSON.stringify({ correlation_id: done.correlation_id, type: 'customer_query', status: 'success', data: { has_answer: true, answer: 'Second answer' } });
    const forged = await s.zap.callback(body, { signature: 't=1,v1=00' });
    assert.equal(forged.status, 401);
    const stale = await s.zap.callback(body, { t: Math.floor(Date.now() / 1000) - 301 });
    assert.equal(stale.status, 401);
    const unsigned = await s.zap.callback(body, { signature: null });
    assert.equal(unsigned.status, 401);
    const sent = s.twilio.messages.length;
    const replay = await s.zap.callback(body);
    assert.equal(replay.status, 200);
    assert.equal(JSON.parse(replay.text).status, 'already_processed');
    assert.equal(s.twilio.messages.length, sent);
    assert.ok(!s.twilio.messages.some((m) => m.body === 'Second answer'));
  });

  test('a blocked customer\'s texts are recorded and get no answer', async () => {
    const [t] = (await s.h.api('GET', '/api/v1/tickets?channel=sms', { token: s.token })).json.tickets.filter((x) => x.customer_phone === KNOWN);
    await s.h.api('POST', `/api/v1/customers/${t.customer_id}/block`, { token: s.token });
    const sent = s.twilio.messages.length;
    const r = await s.sms(KNOWN, 'What is my balance now?');
    assert.equal(r.text, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    const thread = (await s.h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token: s.token })).json.messages.map((m) => m.content);
    assert.ok(thread.includes('What is my balance now?'), 'recorded');
    const reply = await s.h.api('POST', `/api/v1/tickets/${t.ticket_id}/reply`, { token: s.token, body: { content: 'hi' } });
    assert.equal(reply.status, 409);
    assert.equal(s.twilio.messages.length, sent);
    await s.h.api('POST', `/api/v1/customers/${t.customer_id}/unblock`, { token: s.token });
  });

  test('customer-update invalidates the cache; the next text looks the customer up again', async () => {
    const body = JSON.stringify({ tenant_id: 'default', phone_number: '(555) 777-0001', action: 'invalidate' });
    const r = await s.zap.callback(body, { url: `${s.h.url}/api/v1/zapier/customer-update` });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).status, 'ok');
    const unsigned = await s.zap.callback(body, { url: `${s.h.url}/api/v1/zapier/customer-update`, signature: null });
    assert.equal(unsigned.status, 401, 'cache changes must be signed');
    const lookups = s.zap.received.filter((x) => x.type === 'customer_lookup').length;
    await s.sms(KNOWN, 'Thanks!');
    await until(() => s.zap.received.filter((x) => x.type === 'customer_lookup').length === lookups + 1, 'a new lookup');
  });

  test('lookup-stats counts requests by status, latency and the cache hit rate', async () => {
    await until(async () => (await s.h.rows("SELECT count(*) AS n FROM zapier_requests WHERE status = 'pending'"))[0].n === 0, 'no pending lookup');
    const r = await s.h.api('GET', '/api/v1/admin/customer-service/lookup-stats?days=7', { token: s.token });
    assert.equal(r.status, 200, r.text);
    const rows = await s.h.rows("SELECT status, count(*) AS n FROM zapier_requests WHERE type = 'customer_lookup' GROUP BY status");
    for (const { status, n } of rows) assert.equal(r.json.lookups_by_status[status], n);
    assert.equal(r.json.latency_ms.count, rows.find((x) => x.status === 'completed').n);
    assert.equal(typeof r.json.latency_ms.median, 'number');
    const [c] = await s.h.rows('SELECT sum(cache_hit) AS hits, count(*) AS n FROM cs_lookups');
    assert.equal(r.json.cache.hits, c.hits);
    assert.equal(r.json.cache.misses, c.n - c.hits);
    assert.ok(r.json.cache.hit_rate > 0 && r.json.cache.hit_rate < 1);
  });
});

describe('timeouts and disabled channels', () => {
  test('a lookup without callback times out in the sweep and the LLM answers', async () => {
    const s = await setup();
    try {
      s.zap.setMode('never');
      await s.sms('+15557770100', 'What are your opening hours?');
      await until(async () => (await s.h.rows("SELECT count(*) AS n FROM zapier_requests WHERE status = 'pending'"))[0].n === 1, 'a pending lookup');
      await s.sweep();
      assert.equal(s.sentTo('+15557770100').length, 0, 'not before its timeout');
      await s.h.db.prepare('UPDATE zapier_requests SET timeout_at_ms = 0').run(); // its 30 s have passed
      await s.sweep();
      const [req] = await s.h.rows('SELECT status FROM zapier_requests');
      assert.equal(req.status, 'timeout');
      await until(() => s.sentTo('+15557770100').find((m) => /open 9 to 5/.test(m.body)), 'the fallback answer');
    } finally {
      await s.close();
    }
  });

  test('a disabled channel answers with a polite refusal and sends nothing', async () => {
    const s = await setup({ config: { routing_rules: { enable_sms: false, enable_voice: false } } });
    try {
      const r = await s.sms(KNOWN, 'hello');
      assert.match(r.text, /<Message>Thanks for your message\. .* does not answer text messages/);
      const stop = await s.sms('+15557770300', 'STOP');
      assert.equal(stop.text, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      assert.deepEqual(await s.h.rows('SELECT phone_number FROM cs_opt_outs'), [{ phone_number: '+15557770300' }],
        'STOP is honoured even while the channel is off');
      const v = await postWebhook(s.h.url, '/api/v1/customer-service/voice/inbound',
        voiceParams({ from: KNOWN, to: OUR, accountSid: s.twilio.accountSid }), { authToken: s.twilio.authToken });
      assert.match(v.text, /<Say>.*does not take calls right now.*<\/Say><Hangup\/>/);
      assert.equal(s.zap.received.length, 0);
      assert.equal(s.twilio.messages.length, 0);
      assert.equal((await s.h.rows('SELECT count(*) AS n FROM tickets'))[0].n, 0);
    } finally {
      await s.close();
    }
  });
});

describe('voice', () => {
  test('a call: greeting and speech gather, a bounded pause/redirect loop, the answer spoken, then gather again', async () => {
    const s = await setup();
    try {
      const call = voiceParams({ from: KNOWN, to: OUR, accountSid: s.twilio.accountSid });
      const post = (path, params) => postWebhook(s.h.url, path, params, { authToken: s.twilio.authToken });
      const start = await post('/api/v1/customer-service/voice/inbound', call);
      assert.equal(start.status, 200, start.text);
      assert.match(start.text, /<Say>Thank you for calling .*<\/Say><Gather input="speech" action="http:\/\/127\.0\.0\.1:\d+\/api\/v1\/customer-service\/voice\/gather\?turn=1" method="POST" speechTimeout="auto">/);
      await until(async () => (await s.h.rows("SELECT count(*) AS n FROM zapier_requests WHERE status = 'completed'"))[0].n === 1, 'the caller looked up');
      /** Asks a question on turn `turn` and polls until an answer is spoken; returns the TwiML. */
      const ask = async (turn, question) => {
        const asked = await post(`/api/v1/customer-service/voice/gather?turn=${turn}`, { ...call, SpeechResult: question, Confidence: '0.92' });
        assert.match(asked.text, new RegExp(`<Say>One moment please\\.<\\/Say><Pause length="2"\\/><Redirect method="POST">.*\\/voice\\/gather\\?turn=${turn}&amp;wait=1<\\/Redirect>`));
        for (let n = 1; n <= 8; n++) {
          const poll = await post(`/api/v1/customer-service/voice/gather?turn=${turn}&wait=${n}`, call);
          if (/<Say>One moment/.test(poll.text) || /<Pause/.test(poll.text)) {
            assert.match(poll.text, new RegExp(`turn=${turn}&amp;wait=${n + 1}<\\/Redirect>`));
            await until(async () => (await s.h.rows("SELECT answer FROM cs_conversations WHERE channel = 'voice'"))[0].answer, 'the answer');
            continue;
          }
          return poll.text;
        }
        throw new Error('no answer spoken');
      };
      const spoken = await ask(1, 'What is my balance');
      assert.match(spoken, /<Say>Your balance is \$40\.00, Maya\.<\/Say><Gather input="speech" action="[^"]*turn=2"/);
      assert.match(spoken, /<Hangup\/><\/Response>$/);
      const second = await ask(2, 'What are your opening hours');
      assert.match(second, /<Say>We are open 9 to 5 on weekdays\.<\/Say><Gather input="speech" action="[^"]*turn=3"/,
        'the second question gets its own answer, not the first one again');
      const over = await post('/api/v1/customer-service/voice/gather?turn=2&wait=8', call);
      assert.match(over.text, /taking longer than expected.*<Hangup\/>/);
      const [t] = (await s.h.api('GET', '/api/v1/tickets?channel=voice', { token: s.token })).json.tickets;
      const thread = (await s.h.api('GET', `/api/v1/tickets/${t.ticket_id}`, { token: s.token })).json.messages.map((m) => m.content);
      for (const line of ['What is my balance', 'Your balance is $40.00, Maya.', 'What are your opening hours', 'We are open 9 to 5 on weekdays.']) {
        assert.ok(thread.includes(line), line);
      }
      const retry = await post('/api/v1/customer-service/voice/inbound', call);
      assert.equal(retry.text, start.text, 'a retried webhook gets the same TwiML');
      assert.equal((await s.h.rows("SELECT count(*) AS n FROM cs_conversations WHERE channel = 'voice'"))[0].n, 1);
    } finally {
      await s.close();
    }
  });

  test('a stalled Zap does not keep a caller waiting: halfway through the polls the LLM answers', async () => {
    const s = await setup();
    try {
      const call = voiceParams({ from: '+15557770500', to: OUR, accountSid: s.twilio.accountSid });
      const post = (path, params) => postWebhook(s.h.url, path, params, { authToken: s.twilio.authToken });
      s.zap.setMode('never');
      await post('/api/v1/customer-service/voice/inbound', call);
      await post('/api/v1/customer-service/voice/gather?turn=1', { ...call, SpeechResult: 'Are you open on Sunday?' });
      let text = '';
      for (let n = 1; n <= 8 && !/<Say>We are open/.test(text); n++) {
        text = (await post(`/api/v1/customer-service/voice/gather?turn=1&wait=${n}`, call)).text;
        if (n >= 4 && !/<Say>We are open/.test(text)) {
          await until(async () => (await s.h.rows("SELECT answer FROM cs_conversations"))[0].answer, 'the fallback answer');
        }
      }
      assert.match(text, /<Say>We are open 9 to 5 on weekdays\.<\/Say>/);
      const [req] = await s.h.rows('SELECT status FROM zapier_requests');
      assert.equal(req.status, 'timeout');
    } finally {
      await s.close();
    }
  });

  test('a caller with a withheld number is greeted and not looked up', async () => {
    const s = await setup();
    try {
      const r = await postWebhook(s.h.url, '/api/v1/customer-service/voice/inbound',
        voiceParams({ from: 'anonymous', to: OUR, accountSid: s.twilio.accountSid }), { authToken: s.twilio.authToken });
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /<Gather input="speech"/);
      assert.equal(s.zap.received.length, 0);
    } finally {
      await s.close();
    }
  });
});
