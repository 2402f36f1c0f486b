/**
 * Tests of the Twilio and Zapier fakes themselves (tests/fakes/twilio.mjs, tests/fakes/zapier.mjs).
 * Run: node --test tests/cs-fakes.test.mjs
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  API_VERSION, DEFAULT_ACCOUNT_SID, postWebhook, segmentCount, smsParams, startTwilio, twilioSignature, voiceParams,
} from './fakes/twilio.mjs';
import { startZapier } from './fakes/zapier.mjs';

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`; // made up, assembled so no SID-shaped literal is committed
const AUTH_TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const SERVICE_SID = 'MG0123456789abcdef0123456789abcdef';
const SHOP = '+14155550100';
const CUSTOMER = '+14155550123';
const RFC2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

const basic = (user, pass) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

/** A stand-in for the worker: records requests and answers `respond(req)` (default 200 {"ok":true}). */
async function startReceiver(respond = () => ({ status: 200, body: { ok: true } })) {
  const seen = [];
  const server = http.createServer((incoming, res) => {
    const chunks = [];
    incoming.on('data', (c) => chunks.push(c));
    incoming.on('end', () => {
      const req = { method: incoming.method, url: incoming.url, headers: incoming.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(req);
      const { status, body } = respond(req);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------

describe('Twilio REST fake', () => {
  let twilio;
  const messagesUrl = () => `${twilio.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
  const send = (fields, auth = basic(ACCOUNT_SID, AUTH_TOKEN)) => call(messagesUrl(), {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });

  before(async () => { twilio = await startTwilio({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN }); });
  after(() => twilio.close());

  test('creates a Message resource shaped like Twilio\'s and fetches it back', async () => {
    const { status, json, headers } = await send({ To: CUSTOMER, From: SHOP, Body: 'Your class starts at 5pm.' });
    assert.equal(status, 201);
    assert.match(headers.get('content-type'), /^application\/json/);
    assert.match(headers.get('twilio-request-id'), /^RQ[0-9a-f]{32}$/);
    assert.match(json.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(json.sid.length, 34);
    assert.deepEqual(Object.keys(json).sort(), [
      'account_sid', 'api_version', 'body', 'date_created', 'date_sent', 'date_updated', 'direction', 'error_code',
      'error_message', 'from', 'messaging_service_sid', 'num_media', 'num_segments', 'price', 'price_unit', 'sid',
      'status', 'subresource_uris', 'to', 'uri',
    ]);
    assert.equal(json.account_sid, ACCOUNT_SID);
    assert.equal(json.api_version, '2010-04-01');
    assert.equal(json.status, 'queued');
    assert.equal(json.direction, 'outbound-api');
    assert.equal(json.to, CUSTOMER);
    assert.equal(json.from, SHOP);
    assert.equal(json.body, 'Your class starts at 5pm.');
    assert.equal(json.num_segments, '1');
    assert.equal(json.num_media, '0');
    assert.equal(json.date_sent, null);
    assert.equal(json.price, null);
    assert.equal(json.messaging_service_sid, null);
    assert.match(json.date_created, RFC2822);
    assert.equal(json.uri, `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${json.sid}.json`);
    assert.equal(json.subresource_uris.media, `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${json.sid}/Media.json`);
    assert.deepEqual(twilio.messages.at(-1), json);
    assert.deepEqual(twilio.requests.at(-1).form, { To: CUSTOMER, From: SHOP, Body: 'Your class starts at 5pm.' });

    const fetched = await call(`${twilio.url}${json.uri}`, { headers: { authorization: basic(ACCOUNT_SID, AUTH_TOKEN) } });
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.json, json);
  });

  test('MessagingServiceSid without From is "accepted" with no sender yet', async () => {
    const { status, json } = await send({ To: CUSTOMER, MessagingServiceSid: SERVICE_SID, Body: 'Hi' });
    assert.equal(status, 201);
    assert.equal(json.status, 'accepted');
    assert.equal(json.from, null);
    assert.equal(json.messaging_service_sid, SERVICE_SID);
    assert.equal(json.num_segments, '0');
  });

  test('num_segments follows GSM-7 and UCS-2 segment sizes', async () => {
    assert.equal(segmentCount('a'.repeat(160)), 1);
    assert.equal(segmentCount('a'.repeat(161)), 2);
    assert.equal(segmentCount('{'.repeat(80)), 1); // escape characters count as two septets
    assert.equal(segmentCount('{'.repeat(81)), 2);
    assert.equal(segmentCount('é'.repeat(160)), 1); // é is in the GSM-7 basic set
    assert.equal(segmentCount('ê'.repeat(70)), 1); // ê is not: UCS-2
    assert.equal(segmentCount('ê'.repeat(71)), 2);
    const { json } = await send({ To: CUSTOMER, From: SHOP, Body: 'x'.repeat(307) });
    assert.equal(json.num_segments, '3');
  });

  test('bad or missing credentials answer 401 code 20003', async () => {
    const expected = {
      code: 20003,
      detail: 'Your AccountSid or AuthToken was incorrect.',
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    };
    for (const auth of [undefined, basic(ACCOUNT_SID, 'wrong'), basic('AC' + '0'.repeat(32), AUTH_TOKEN), 'Bearer x']) {
      const before = twilio.messages.length;
      const res = await call(messagesUrl(), {
        method: 'POST',
        headers: { ...(auth && { authorization: auth }), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ To: CUSTOMER, From: SHOP, Body: 'x' }),
      });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, expected);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Twilio API"');
      assert.equal(twilio.messages.length, before);
    }
  });

  test('another account in the path, or an unknown Message SID, is 404 code 20404', async () => {
    const other = 'AC' + 'f'.repeat(32);
    const res = await call(`${twilio.url}/2010-04-01/Accounts/${other}/Messages.json`, {
      method: 'POST', headers: { authorization: basic(ACCOUNT_SID, AUTH_TOKEN) }, body: new URLSearchParams({ To: CUSTOMER }),
    });
    assert.equal(res.status, 404);
    assert.equal(res.json.code, 20404);
    const missing = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SM${'0'.repeat(32)}.json`;
    const get = await call(`${twilio.url}${missing}`, { headers: { authorization: basic(ACCOUNT_SID, AUTH_TOKEN) } });
    assert.equal(get.status, 404);
    assert.deepEqual(get.json, {
      code: 20404, message: `The requested resource ${missing} was not found`, more_info: 'https://www.twilio.com/docs/errors/20404', status: 404,
    });
  });

  const errorCases = [
    ['missing To', { From: SHOP, Body: 'x' }, 21604, "A 'To' phone number is required."],
    ['non-E.164 To', { To: '5551234567', From: SHOP, Body: 'x' }, 21211, "The 'To' number 5551234567 is not a valid phone number."],
    ['To with spaces', { To: '+1 415 555 0123', From: SHOP, Body: 'x' }, 21211, "The 'To' number +1 415 555 0123 is not a valid phone number."],
    ['no From nor MessagingServiceSid', { To: CUSTOMER, Body: 'x' }, 21603, "A 'From' phone number is required."],
    ['missing Body', { To: CUSTOMER, From: SHOP }, 21602, 'Message body is required.'],
    ['empty Body', { To: CUSTOMER, From: SHOP, Body: '' }, 21602, 'Message body is required.'],
    ['Body over 1600 characters', { To: CUSTOMER, From: SHOP, Body: 'x'.repeat(1601) }, 21617,
      'The concatenated message body exceeds the 1600 character limit.'],
  ];
  for (const [name, fields, code, message] of errorCases) {
    test(`${name} answers 400 code ${code}`, async () => {
      const before = twilio.messages.length;
      const { status, json } = await send(fields);
      assert.equal(status, 400);
      assert.deepEqual(json, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 });
      assert.equal(twilio.messages.length, before);
    });
  }

  test('a JSON body is not read: To is missing', async () => {
    const res = await call(messagesUrl(), {
      method: 'POST',
      headers: { authorization: basic(ACCOUNT_SID, AUTH_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ To: CUSTOMER, From: SHOP, Body: 'x' }),
    });
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 21604);
  });

  test('an opted-out recipient answers 400 code 21610 until opted back in', async () => {
    const number = '+14155550177';
    twilio.optOut(number);
    const refused = await send({ To: number, From: SHOP, Body: 'Reminder' });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.json, {
      code: 21610, message: 'Attempt to send to unsubscribed recipient', more_info: 'https://www.twilio.com/docs/errors/21610', status: 400,
    });
    assert.equal((await send({ To: CUSTOMER, From: SHOP, Body: 'others still work' })).status, 201);
    twilio.optIn(number);
    assert.equal((await send({ To: number, From: SHOP, Body: 'Reminder' })).status, 201);
  });

  test('fail() injects Twilio-shaped errors for the matching requests only, `times` times', async () => {
    twilio.fail(/^POST .*\/Messages\.json$/, { status: 503, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await send({ To: CUSTOMER, From: SHOP, Body: 'x' });
      assert.equal(res.status, 503);
      assert.deepEqual(res.json, { code: 20503, message: 'Service Unavailable', more_info: 'https://www.twilio.com/docs/errors/20503', status: 503 });
    }
    assert.equal((await send({ To: CUSTOMER, From: SHOP, Body: 'x' })).status, 201);

    twilio.fail(/Messages\.json/, { status: 429, code: 20429, message: 'Too Many Requests', headers: { 'Retry-After': '1' } });
    const limited = await send({ To: CUSTOMER, From: SHOP, Body: 'x' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(limited.json.code, 20429);

    twilio.fail(/Messages\.json/, { status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
    assert.equal((await send({ To: CUSTOMER, From: SHOP, Body: 'x' })).json.code, 21610);
  });

  test('delay() holds the response', async () => {
    twilio.delay(/Messages\.json/, { ms: 150 });
    const started = Date.now();
    assert.equal((await send({ To: CUSTOMER, From: SHOP, Body: 'slow' })).status, 201);
    assert.ok(Date.now() - started >= 140);
  });

  test('defaults: a fresh fake uses DEFAULT_ACCOUNT_SID and exposes its credentials', async () => {
    const other = await startTwilio();
    try {
      assert.equal(other.accountSid, DEFAULT_ACCOUNT_SID);
      const res = await call(`${other.url}/2010-04-01/Accounts/${other.accountSid}/Messages.json`, {
        method: 'POST',
        headers: { authorization: basic(other.accountSid, other.authToken) },
        body: new URLSearchParams({ To: CUSTOMER, From: SHOP, Body: 'x' }),
      });
      assert.equal(res.status, 201);
    } finally {
      await other.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('Twilio webhook helpers', () => {
  const DOC_URL = 'https://mycompany.com/myapp.php?foo=1&bar=2';

  test('twilioSignature reproduces the worked example of Twilio\'s webhook security page', () => {
    // https://www.twilio.com/docs/usage/webhooks/webhooks-security (current text of the example)
    const params = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
    assert.equal(twilioSignature(DOC_URL, params, '12345'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    // The older revision of the same example (https://www.twilio.com/docs/usage/security#validating-requests,
    // also in twilio-php's docs/usage/validation.rst).
    const older = { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' };
    assert.equal(twilioSignature(DOC_URL, older, '12345'), 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  test('twilioSignature sorts by name: input order and form (object, pairs, URLSearchParams) do not matter', () => {
    const pairs = [['To', '+18005551212'], ['From', '+12349013030'], ['Digits', '1234'], ['Caller', '+12349013030'], ['CallSid', 'CA1234567890ABCDE']];
    assert.equal(twilioSignature(DOC_URL, pairs, '12345'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    assert.equal(twilioSignature(DOC_URL, new URLSearchParams(pairs), '12345'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    assert.notEqual(twilioSignature(DOC_URL, pairs, '12346'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    assert.notEqual(twilioSignature(DOC_URL.replace('bar=2', 'bar=3'), pairs, '12345'), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    // No parameters: the URL alone.
    const urlOnly = createHmac('sha1', '12345').update(DOC_URL).digest('base64');
    assert.equal(twilioSignature(DOC_URL, undefined, '12345'), urlOnly);
    assert.equal(twilioSignature(DOC_URL, {}, '12345'), urlOnly);
  });

  test('twilioSignature: repeated names each contribute name+value, sorted by value within a name', () => {
    const expected = createHmac('sha1', 't').update('https://x.test/hAa1Aa2B0').digest('base64');
    assert.equal(twilioSignature('https://x.test/h', [['B', '0'], ['Aa', '2'], ['Aa', '1']], 't'), expected);
    assert.equal(twilioSignature('https://x.test/h', { B: '0', Aa: ['2', '1'] }, 't'), expected);
    // Names sort before values: "Reason" < "ReasonConferenceEnded" whatever the values (twilio-go #139).
    const sig = createHmac('sha1', 't').update('https://x.test/hReasonzReasonConferenceEndeda').digest('base64');
    assert.equal(twilioSignature('https://x.test/h', { ReasonConferenceEnded: 'a', Reason: 'z' }, 't'), sig);
  });

  test('smsParams is a full incoming-message parameter set', () => {
    const p = smsParams({ from: CUSTOMER, to: SHOP, body: 'When is my next class?', accountSid: ACCOUNT_SID });
    assert.match(p.MessageSid, /^SM[0-9a-f]{32}$/);
    assert.equal(p.SmsSid, p.MessageSid);
    assert.equal(p.SmsMessageSid, p.MessageSid);
    assert.deepEqual({ ...p, MessageSid: 'x', SmsSid: 'x', SmsMessageSid: 'x' }, {
      ToCountry: 'US', ToState: 'CA', SmsMessageSid: 'x', NumMedia: '0', ToCity: 'SAN FRANCISCO', FromZip: '94105',
      SmsSid: 'x', FromState: 'CA', SmsStatus: 'received', FromCity: 'SAN FRANCISCO', Body: 'When is my next class?',
      FromCountry: 'US', To: SHOP, ToZip: '94105', NumSegments: '1', MessageSid: 'x', AccountSid: ACCOUNT_SID,
      From: CUSTOMER, ApiVersion: API_VERSION,
    });
    const withService = smsParams({ from: '+447700900123', to: SHOP, body: 'hi', messageSid: 'SM' + 'a'.repeat(32), messagingServiceSid: SERVICE_SID });
    assert.equal(withService.MessagingServiceSid, SERVICE_SID);
    assert.equal(withService.FromCountry, 'GB');
    assert.equal(withService.FromCity, '');
    assert.equal(withService.AccountSid, DEFAULT_ACCOUNT_SID);
    assert.equal(smsParams({ from: CUSTOMER, to: SHOP, body: 'x', extra: { NumMedia: '1', MediaUrl0: 'https://x' } }).NumMedia, '1');
    assert.throws(() => smsParams({ to: SHOP }), TypeError);
  });

  test('voiceParams: an incoming call, and a speech <Gather> result', () => {
    const ring = voiceParams({ from: CUSTOMER, to: SHOP, accountSid: ACCOUNT_SID });
    assert.match(ring.CallSid, /^CA[0-9a-f]{32}$/);
    assert.equal(ring.CallStatus, 'ringing');
    assert.equal(ring.Direction, 'inbound');
    assert.equal(ring.Caller, CUSTOMER);
    assert.equal(ring.Called, SHOP);
    assert.equal(ring.From, CUSTOMER);
    assert.equal(ring.To, SHOP);
    assert.equal(ring.ApiVersion, '2010-04-01');
    assert.equal(ring.AccountSid, ACCOUNT_SID);
    assert.equal(ring.CallerCity, 'SAN FRANCISCO');
    assert.equal(ring.ToCountry, 'US');
    assert.equal(ring.SpeechResult, undefined);

    const gather = voiceParams({ from: CUSTOMER, to: SHOP, callSid: ring.CallSid, speechResult: 'What is my balance?', confidence: 0.87 });
    assert.equal(gather.CallSid, ring.CallSid);
    assert.equal(gather.CallStatus, 'in-progress');
    assert.equal(gather.SpeechResult, 'What is my balance?');
    assert.equal(gather.Confidence, '0.87');
  });

  describe('postWebhook', () => {
    let worker;
    before(async () => { worker = await startReceiver(() => ({ status: 200, body: { ok: true } })); });
    after(() => worker.close());

    test('posts the form as Twilio does, signed over workerUrl + path', async () => {
      const params = smsParams({ from: CUSTOMER, to: SHOP, body: 'Hi there & welcome = 100%' });
      const res = await postWebhook(worker.url, '/api/v1/customer-service/sms/inbound?tenant=demo', params, { authToken: AUTH_TOKEN });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{"ok":true}');
      assert.equal(res.headers['content-type'], 'application/json');
      const req = worker.seen.at(-1);
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/api/v1/customer-service/sms/inbound?tenant=demo');
      assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded; charset=UTF-8');
      assert.equal(req.headers['user-agent'], 'TwilioProxy/1.1');
      assert.match(req.headers['i-twilio-idempotency-token'], /^[0-9a-f-]{36}$/);
      const received = [...new URLSearchParams(req.body)];
      assert.deepEqual(Object.fromEntries(received), params);
      // Verified independently of the helper: HMAC-SHA1 over the URL + sorted name/value pairs.
      const data = `${worker.url}${req.url}` + received.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => k + v).join('');
      assert.equal(req.headers['x-twilio-signature'], createHmac('sha1', AUTH_TOKEN).update(data).digest('base64'));
    });

    test('publicUrl, an explicit signature, omitSignature and a repeated idempotency token', async () => {
      const params = voiceParams({ from: CUSTOMER, to: SHOP });
      const publicUrl = 'https://desk.example.com/api/v1/customer-service/voice/inbound';
      await postWebhook(worker.url, '/api/v1/customer-service/voice/inbound', params, { authToken: AUTH_TOKEN, publicUrl, idempotencyToken: 'tok-1' });
      let req = worker.seen.at(-1);
      assert.equal(req.headers['x-twilio-signature'], twilioSignature(publicUrl, params, AUTH_TOKEN));
      assert.equal(req.headers['i-twilio-idempotency-token'], 'tok-1');

      await postWebhook(worker.url, '/hook', params, { signature: 'forged=' });
      assert.equal(worker.seen.at(-1).headers['x-twilio-signature'], 'forged=');

      await postWebhook(worker.url, '/hook', params, { omitSignature: true });
      req = worker.seen.at(-1);
      assert.equal(req.headers['x-twilio-signature'], undefined);
      assert.equal(req.headers['user-agent'], 'TwilioProxy/1.1');

      await assert.rejects(postWebhook(worker.url, '/hook', params, {}), TypeError); // nothing to sign with
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------

const SECRET = 'zap-callback-secret';
const CUSTOMERS = {
  '+15551234567': {
    jackrabbit_id: 'JR-1042', name: 'Dana Reyes', email: 'dana@example.com',
    customer_data: { balance: 45.5, membership_type: 'Monthly Unlimited', classes: ['Tumbling 1 (Tue 5pm)', 'Ninja Kids (Sat 10am)'] },
  },
  '+15557654321': { jackrabbit_id: 'JR-7', name: 'Sam Lee', email: 'sam@example.com', balance: 0, membership_type: 'Drop-in', classes: [] },
};
const ANSWERS = [
  { match: /\bbalance\b/i, answer: 'Your balance is $45.50, due on the 1st.' },
  { match: 'next class', answer: (req) => `Hi ${req.customer?.name ?? 'there'}, your next class is Tuesday at 5pm.` },
];

function verifySignature(header, raw, secret = SECRET) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  return createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest('hex') === m[2];
}

describe('Zapier fake', () => {
  let zapier;
  let worker;
  let callbackUrl;

  const hook = (body, url = zapier.hookUrl) => call(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const lookup = (phone, id = `corr-${Math.random().toString(16).slice(2)}`) =>
    ({ type: 'customer_lookup', correlation_id: id, phone_number: phone, callback_url: callbackUrl });

  before(async () => {
    worker = await startReceiver((req) => ({ status: verifySignature(req.headers['x-edgedesk-signature'], req.body) ? 200 : 401, body: { received: true } }));
    callbackUrl = `${worker.url}/api/v1/zapier/callback`;
    zapier = await startZapier({ secret: SECRET, customers: CUSTOMERS, answers: ANSWERS });
  });
  after(async () => {
    await zapier.close();
    await worker.close();
  });

  test('the Catch Hook answers like Zapier and records the body', async () => {
    assert.match(zapier.hookUrl, /^http:\/\/127\.0\.0\.1:\d+\/hooks\/catch\/\d+\/\w+\/$/);
    const body = { type: 'ping' };
    const res = await hook(body);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(Object.keys(res.json), ['attempt', 'id', 'request_id', 'status']);
    assert.equal(res.json.status, 'success');
    assert.match(res.json.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(res.json.attempt, res.json.id);
    assert.equal(res.json.request_id, res.json.id);
    assert.deepEqual(zapier.received.at(-1), body);
    // Any catch-hook URL answers (Zapier does not say whether a Zap is behind it); other paths do not.
    assert.equal((await hook(body, `${zapier.url}/hooks/catch/1/other`)).status, 200);
    assert.equal((await hook(body, `${zapier.url}/nope`)).status, 404);
    assert.equal((await call(zapier.hookUrl)).status, 405);
  });

  test('customer_lookup of a known number calls back found:true with the CRM record, signed', async () => {
    const request = lookup('+15551234567', 'corr-found');
    const before = zapier.callbacks.length;
    await hook(request);
    await zapier.idle();
    assert.equal(zapier.callbacks.length, before + 1);
    const cb = zapier.callbacks.at(-1);
    const expected = {
      correlation_id: 'corr-found',
      type: 'customer_lookup',
      status: 'success',
      data: {
        found: true, jackrabbit_id: 'JR-1042', name: 'Dana Reyes', email: 'dana@example.com', phone: '+15551234567',
        customer_data: { balance: 45.5, membership_type: 'Monthly Unlimited', classes: ['Tumbling 1 (Tue 5pm)', 'Ninja Kids (Sat 10am)'] },
      },
    };
    assert.deepEqual(cb.request, expected);
    assert.equal(cb.url, callbackUrl);
    assert.equal(cb.status, 200);
    assert.deepEqual(cb.body, { received: true });
    const req = worker.seen.at(-1);
    assert.equal(req.url, '/api/v1/zapier/callback');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], 'Zapier');
    assert.deepEqual(JSON.parse(req.body), expected);
    assert.ok(verifySignature(req.headers['x-edgedesk-signature'], req.body));
    const t = Number(/^t=(\d+)/.exec(req.headers['x-edgedesk-signature'])[1]);
    assert.ok(Math.abs(t - Date.now() / 1000) < 5);
  });

  test('customer data given at top level is gathered into customer_data', async () => {
    await hook(lookup('+15557654321', 'corr-flat'));
    await zapier.idle();
    assert.deepEqual(zapier.callbacks.at(-1).request.data, {
      found: true, jackrabbit_id: 'JR-7', name: 'Sam Lee', email: 'sam@example.com', phone: '+15557654321',
      customer_data: { balance: 0, membership_type: 'Drop-in', classes: [] },
    });
  });

  test('customer_lookup of an unknown or non-normalised number calls back found:false', async () => {
    for (const phone of ['+15550000000', '(555) 123-4567', '5551234567']) {
      await hook(lookup(phone, `corr-${phone}`));
      await zapier.idle();
      assert.deepEqual(zapier.callbacks.at(-1).request, {
        correlation_id: `corr-${phone}`, type: 'customer_lookup', status: 'success', data: { found: false },
      });
    }
  });

  test('customer_query answers from the first matching entry, or has_answer:false', async () => {
    const query = (question, id) => hook({
      type: 'customer_query', correlation_id: id, question, callback_url: callbackUrl,
      customer: { jackrabbit_id: 'JR-1042', name: 'Dana Reyes', phone: '+15551234567' },
    });
    await query('What is my BALANCE?', 'q1');
    await query('When is my next class?', 'q2');
    await query('Do you sell gift cards?', 'q3');
    await zapier.idle();
    const byId = Object.fromEntries(zapier.callbacks.map((c) => [c.request.correlation_id, c.request]));
    assert.deepEqual(byId.q1, { correlation_id: 'q1', type: 'customer_query', status: 'success', data: { has_answer: true, answer: 'Your balance is $45.50, due on the 1st.' } });
    assert.deepEqual(byId.q2.data, { has_answer: true, answer: 'Hi Dana Reyes, your next class is Tuesday at 5pm.' });
    assert.deepEqual(byId.q3.data, { has_answer: false });
  });

  test('requests without callback_url/correlation_id, or of another type, get no callback', async () => {
    const before = zapier.callbacks.length;
    await hook({ type: 'customer_lookup', phone_number: '+15551234567', correlation_id: 'x' });
    await hook({ type: 'customer_lookup', phone_number: '+15551234567', callback_url: callbackUrl });
    await hook({ type: 'something_else', correlation_id: 'y', callback_url: callbackUrl });
    await zapier.idle();
    assert.equal(zapier.callbacks.length, before);
  });

  test('the worker\'s refusal is recorded, and an unreachable callback_url is recorded as status 0', async () => {
    const other = await startZapier({ secret: 'a-different-secret', customers: CUSTOMERS });
    try {
      await hook(lookup('+15551234567', 'corr-badsig'), other.hookUrl);
      await hook({ ...lookup('+15551234567', 'corr-down'), callback_url: 'http://127.0.0.1:9/unreachable' }, other.hookUrl);
      await other.idle();
      const byId = Object.fromEntries(other.callbacks.map((c) => [c.request.correlation_id, c]));
      assert.equal(byId['corr-badsig'].status, 401);
      assert.equal(byId['corr-down'].status, 0);
      assert.ok(byId['corr-down'].error);
    } finally {
      await other.close();
    }
  });

  test('without a secret, callbacks carry no signature and sign() refuses', async () => {
    const plain = await startZapier({ customers: CUSTOMERS });
    try {
      await hook(lookup('+15551234567'), plain.hookUrl);
      await plain.idle();
      assert.equal(worker.seen.at(-1).headers['x-edgedesk-signature'], undefined);
      assert.throws(() => plain.sign('{}'), TypeError);
    } finally {
      await plain.close();
    }
  });

  test('mode "never" accepts the hook but never calls back; delayMs is honoured', async () => {
    zapier.setMode('never');
    const before = zapier.callbacks.length;
    const res = await hook(lookup('+15551234567'));
    assert.equal(res.status, 200);
    await sleep(150);
    assert.equal(zapier.callbacks.length, before);

    zapier.setMode('callback', { delayMs: 800 });
    const started = Date.now();
    await hook(lookup('+15551234567'));
    await sleep(80); // far below the delay, so a loaded machine cannot make this race
    assert.equal(zapier.callbacks.length, before, 'not yet');
    await zapier.idle();
    assert.equal(zapier.callbacks.length, before + 1);
    assert.ok(Date.now() - started >= 790);
    zapier.setMode('callback', { delayMs: 50 });
    assert.throws(() => zapier.setMode('sometimes'), TypeError);
  });

  test('mode "fail" answers 500 and records nothing', async () => {
    zapier.setMode('fail');
    const received = zapier.received.length;
    const callbacks = zapier.callbacks.length;
    const res = await hook(lookup('+15551234567'));
    assert.equal(res.status, 500);
    await sleep(100);
    assert.equal(zapier.received.length, received);
    assert.equal(zapier.callbacks.length, callbacks);
    zapier.setMode('callback');
  });

  test('callback() posts by hand: replays, bad signatures, stale timestamps, no signature', async () => {
    const body = { correlation_id: 'manual-1', type: 'customer_lookup', status: 'success', data: { found: false } };
    const raw = JSON.stringify(body);
    const t = Math.floor(Date.now() / 1000) - 3600;

    const header = zapier.sign(raw, { t });
    assert.equal(header, `t=${t},v1=${createHmac('sha256', SECRET).update(`${t}.${raw}`).digest('hex')}`);

    const seen = worker.seen.length;
    const first = await zapier.callback(body, { t });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { received: true });
    assert.equal(worker.seen.at(-1).headers['x-edgedesk-signature'], header);
    assert.equal(worker.seen.at(-1).body, raw);
    assert.equal(worker.seen.at(-1).url, '/api/v1/zapier/callback'); // the latest request's callback_url

    await zapier.callback(raw, { signature: header }); // a byte-identical replay
    assert.equal(worker.seen.at(-1).body, raw);
    assert.equal(worker.seen.at(-1).headers['x-edgedesk-signature'], header);

    const forged = await zapier.callback(body, { signature: `t=${t},v1=${'0'.repeat(64)}` });
    assert.equal(forged.status, 401);

    await zapier.callback(body, { signature: null });
    assert.equal(worker.seen.at(-1).headers['x-edgedesk-signature'], undefined);

    await zapier.callback(body, { url: `${worker.url}/elsewhere` });
    assert.equal(worker.seen.at(-1).url, '/elsewhere');
    assert.equal(worker.seen.length, seen + 5);
    assert.ok(!zapier.callbacks.some((c) => c.request?.correlation_id === 'manual-1'), 'manual callbacks are not recorded');
  });
});
