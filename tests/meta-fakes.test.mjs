/**
 * Tests of the Meta (Messenger / Instagram Graph API) fake itself (tests/fakes/meta.mjs).
 * Run: node --test tests/meta-fakes.test.mjs
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  DEFAULT_APP_ID, DEFAULT_IG_ACCOUNT_ID, DEFAULT_PAGE_ACCESS_TOKEN, DEFAULT_PAGE_ID, batchWebhooks, instagramEvent,
  messengerEvent, metaJson, metaSignature, newIgsid, newInstagramMid, newMessengerMid, newPsid, postMetaWebhook,
  startMeta, verifyMetaSubscription,
} from './fakes/meta.mjs';

const PAGE_ID = '112233445566778';
const IG_ACCOUNT_ID = '17841400000012345';
const TOKEN = 'EAAB-test-page-token-0123456789abcdefABCDEF';
const VERSION = 'v21.0';
const PSID = '6543210987654321';
const IGSID = '1122334455667788';
const APP_SECRET = 'f3c9a1e07b5d4c2a9e8f7d6c5b4a3928';
const MESSENGER_MID = /^m_[A-Za-z0-9_-]{86}$/;
const INSTAGRAM_MID = /^aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE[A-Za-z0-9]+ZDZD$/;
const TRACE = /^A[A-Za-z0-9_-]{22}$/;

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

/** A stand-in for the worker's webhook endpoint: records requests (raw bytes too) and answers `respond(req)`. */
async function startReceiver(respond = () => ({ status: 200, body: 'EVENT_RECEIVED' })) {
  const seen = [];
  const server = http.createServer((incoming, res) => {
    const chunks = [];
    incoming.on('data', (c) => chunks.push(c));
    incoming.on('end', () => {
      const raw = Buffer.concat(chunks);
      const req = { method: incoming.method, url: incoming.url, headers: incoming.headers, raw, body: raw.toString('utf8') };
      seen.push(req);
      const { status, body } = respond(req);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
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

function assertGraphError(res, { status = 400, code, subcode, type = 'OAuthException', message }) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const { error } = res.json;
  assert.equal(error.code, code);
  assert.equal(error.type, type);
  if (subcode === undefined) assert.equal(error.error_subcode, undefined);
  else assert.equal(error.error_subcode, subcode);
  if (message instanceof RegExp) assert.match(error.message, message);
  else if (message !== undefined) assert.equal(error.message, message);
  assert.match(error.fbtrace_id, TRACE);
  assert.equal(res.headers.get('x-fb-trace-id'), error.fbtrace_id);
  return error;
}

// ---------------------------------------------------------------------------------------------------------------

describe('Meta Graph fake: User Profile API', () => {
  let meta;
  const profileUrl = (id, query = {}) => {
    const u = new URL(`${meta.url}/${VERSION}/${id}`);
    for (const [k, v] of Object.entries({ access_token: TOKEN, ...query })) if (v !== undefined) u.searchParams.set(k, v);
    return u;
  };

  before(async () => {
    meta = await startMeta({
      pageId: PAGE_ID,
      igAccountId: IG_ACCOUNT_ID,
      pageAccessToken: TOKEN,
      version: VERSION,
      profiles: {
        [PSID]: { first_name: 'Peter', last_name: 'Chang', profile_pic: 'https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=6543210987654321' },
        [IGSID]: { name: 'Peter Chang', username: 'peter_chang_live', profile_pic: 'https://scontent.cdninstagram.com/v/t51.2885-19/p.jpg', follower_count: 1234 },
      },
    });
  });
  after(() => meta.close());

  test('a PSID answers the requested Messenger fields in request order, then id', async () => {
    const res = await call(profileUrl(PSID, { fields: 'first_name,last_name,profile_pic' }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json; charset=UTF-8$/);
    assert.equal(res.headers.get('facebook-api-version'), VERSION);
    assert.match(res.headers.get('x-fb-trace-id'), TRACE);
    assert.deepEqual(Object.keys(res.json), ['first_name', 'last_name', 'profile_pic', 'id']);
    assert.deepEqual(res.json, {
      first_name: 'Peter',
      last_name: 'Chang',
      profile_pic: 'https://platform-lookaside.fbsbx.com/platform/profilepic/?psid=6543210987654321',
      id: PSID,
    });
  });

  test('without fields: name (derived from first/last for Messenger) and id', async () => {
    assert.deepEqual((await call(profileUrl(PSID))).json, { name: 'Peter Chang', id: PSID });
    assert.deepEqual((await call(profileUrl(IGSID))).json, { name: 'Peter Chang', id: IGSID });
  });

  test('an IGSID answers the Instagram fields; fields without a value are omitted', async () => {
    const res = await call(profileUrl(IGSID, { fields: 'name,username,profile_pic,is_user_follow_business' }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {
      name: 'Peter Chang',
      username: 'peter_chang_live',
      profile_pic: 'https://scontent.cdninstagram.com/v/t51.2885-19/p.jpg',
      id: IGSID,
    });
  });

  test('a field of the other platform is (#100) Tried accessing nonexisting field', async () => {
    assertGraphError(await call(profileUrl(PSID, { fields: 'name,username' })), {
      code: 100, message: '(#100) Tried accessing nonexisting field (username) on node type (User)',
    });
    assertGraphError(await call(profileUrl(IGSID, { fields: 'first_name' })), {
      code: 100, message: '(#100) Tried accessing nonexisting field (first_name) on node type (IGBusinessScopedID)',
    });
  });

  test('an unknown id is 400 GraphMethodException 100/33 "Unsupported get request"', async () => {
    assertGraphError(await call(profileUrl('999999999999999', { fields: 'first_name' })), {
      code: 100,
      subcode: 33,
      type: 'GraphMethodException',
      message: /^Unsupported get request\. Object with ID '999999999999999' does not exist, cannot be loaded due to missing permissions, or does not support this operation\./,
    });
  });

  test('a wrong token is 190 with WWW-Authenticate; a missing one is 104 (2500 on /me)', async () => {
    const wrong = await call(profileUrl(PSID, { access_token: 'EAAB-not-the-token' }));
    assertGraphError(wrong, { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' });
    assert.equal(wrong.headers.get('www-authenticate'),
      'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"');
    assertGraphError(await call(profileUrl(PSID, { access_token: undefined })), {
      code: 104, message: 'An access token is required to request this resource.',
    });
    assertGraphError(await call(`${meta.url}/${VERSION}/me`), { code: 2500 });
  });

  test('the token may also come as Authorization: Bearer', async () => {
    const res = await call(`${meta.url}/${VERSION}/${PSID}?fields=first_name`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.deepEqual(res.json, { first_name: 'Peter', id: PSID });
  });

  test('profiles is a live, editable map; `platform` picks the node type and is never returned', async () => {
    meta.profiles['5550001112223334'] = { platform: 'instagram', name: 'Ada' };
    assert.deepEqual((await call(profileUrl('5550001112223334', { fields: 'name,username' }))).json, { name: 'Ada', id: '5550001112223334' });
    delete meta.profiles['5550001112223334'];
    assert.equal((await call(profileUrl('5550001112223334'))).status, 400);
  });

  test('/me and /{page-id} describe the Page; another version is "Unknown path components"', async () => {
    assert.deepEqual((await call(`${meta.url}/${VERSION}/me?access_token=${TOKEN}`)).json, { name: 'Edgedesk Test Page', id: PAGE_ID });
    assert.deepEqual((await call(`${meta.url}/${VERSION}/${PAGE_ID}?fields=instagram_business_account&access_token=${TOKEN}`)).json,
      { instagram_business_account: { id: IG_ACCOUNT_ID }, id: PAGE_ID });
    assertGraphError(await call(`${meta.url}/v19.0/${PSID}?access_token=${TOKEN}`), {
      code: 2500, message: `Unknown path components: /v19.0/${PSID}`,
    });
  });

  test('revokeToken(): later calls are 190 subcode 460', async () => {
    const m = await startMeta({ pageAccessToken: TOKEN, profiles: { [PSID]: { first_name: 'A' } } });
    try {
      assert.equal((await call(`${m.url}/${m.version}/${PSID}?access_token=${TOKEN}`)).status, 200);
      m.revokeToken();
      assertGraphError(await call(`${m.url}/${m.version}/${PSID}?access_token=${TOKEN}`), {
        code: 190, subcode: 460, message: /^Error validating access token: The session has been invalidated/,
      });
    } finally {
      await m.close();
    }
  });
});

describe('Meta Graph fake: Send API', () => {
  let meta;
  const messagesUrl = (node = 'me', token = TOKEN) => `${meta.url}/${VERSION}/${node}/messages${token ? `?access_token=${encodeURIComponent(token)}` : ''}`;
  const sendJson = (body, node, token) => call(messagesUrl(node, token), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const reply = (id, text, extra = {}) => ({ recipient: { id }, messaging_type: 'RESPONSE', message: { text }, ...extra });

  beforeEach(async () => {
    await meta?.close();
    meta = await startMeta({
      pageId: PAGE_ID,
      igAccountId: IG_ACCOUNT_ID,
      pageAccessToken: TOKEN,
      profiles: {
        [PSID]: { first_name: 'Peter', last_name: 'Chang' },
        [IGSID]: { name: 'Peter Chang', username: 'peter_chang_live' },
      },
    });
  });
  after(() => meta.close());

  test('a Messenger reply answers {recipient_id, message_id} and is recorded in sent', async () => {
    const res = await sendJson(reply(PSID, 'Hello, Peter!'));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json), ['recipient_id', 'message_id']);
    assert.equal(res.json.recipient_id, PSID);
    assert.match(res.json.message_id, MESSENGER_MID);
    assert.equal(meta.sent.length, 1);
    assert.deepEqual(
      { ...meta.sent[0], at: undefined },
      { recipient_id: PSID, text: 'Hello, Peter!', message_id: res.json.message_id, platform: 'facebook', messaging_type: 'RESPONSE',
        tag: undefined, attachment: undefined, path: `/${VERSION}/me/messages`, at: undefined },
    );
    assert.equal(meta.requests.at(-1).params.access_token, TOKEN);
  });

  test('an Instagram reply gets an Instagram-shaped message_id and platform "instagram"', async () => {
    for (const node of ['me', PAGE_ID, IG_ACCOUNT_ID]) {
      const res = await sendJson(reply(IGSID, 'Hi from IG'), node);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.recipient_id, IGSID);
      assert.match(res.json.message_id, INSTAGRAM_MID);
      assert.ok(Buffer.from(res.json.message_id.slice(34, -4), 'base64').toString().startsWith(`:${IG_ACCOUNT_ID}:`));
    }
    assert.deepEqual(meta.sent.map((s) => s.platform), ['instagram', 'instagram', 'instagram']);
  });

  test('the docs\' form/query style (JSON-valued parameters, single quotes) works too', async () => {
    const body = new URLSearchParams({ recipient: `{'id':'${PSID}'}`, messaging_type: 'RESPONSE', message: "{'text':'hello, world'}", access_token: TOKEN });
    const res = await call(`${meta.url}/${VERSION}/${PAGE_ID}/messages`, { method: 'POST', body });
    assert.equal(res.status, 200, res.text);
    assert.equal(meta.sent[0].text, 'hello, world');
    assert.equal(meta.sent[0].platform, 'facebook');
  });

  test('a PSID cannot be reached through the Instagram account\'s edge: (#100) No matching user found', async () => {
    assertGraphError(await sendJson(reply(PSID, 'x'), IG_ACCOUNT_ID), { code: 100, subcode: 2018001, message: '(#100) No matching user found' });
  });

  test('token checks come first: wrong 190, missing 2500 on /me; nothing is sent', async () => {
    assertGraphError(await sendJson(reply(PSID, 'x'), 'me', 'EAAB-wrong'), { code: 190 });
    assertGraphError(await sendJson(reply(PSID, 'x'), 'me', null), { code: 2500 });
    assert.equal(meta.sent.length, 0);
  });

  const invalid = [
    ['no recipient', { messaging_type: 'RESPONSE', message: { text: 'x' } }, 100, undefined, '(#100) The parameter recipient is required'],
    ['no messaging_type', { recipient: { id: PSID }, message: { text: 'x' } }, 100, undefined, '(#100) The parameter messaging_type is required'],
    ['a bad messaging_type', reply(PSID, 'x', { messaging_type: 'REPLY' }), 100, undefined,
      '(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG} - got "REPLY"'],
    ['MESSAGE_TAG without tag', reply(PSID, 'x', { messaging_type: 'MESSAGE_TAG' }), 100, undefined, '(#100) The parameter tag is required'],
    ['an Instagram tag other than HUMAN_AGENT', reply(IGSID, 'x', { messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE' }), 100, undefined,
      '(#100) Param tag must be one of {HUMAN_AGENT} - got "ACCOUNT_UPDATE"'],
    ['an empty message', reply(PSID, ''), 100, undefined, '(#100) Message cannot be empty, must provide valid attachment or text'],
    ['Messenger text over 2000 characters', reply(PSID, 'é'.repeat(2001)), 100, undefined,
      '(#100) Length of param message[text] must be less than or equal to 2000'],
    ['Instagram text over 1000 bytes', reply(IGSID, 'é'.repeat(501)), 100, undefined,
      '(#100) Length of param message[text] must be less than or equal to 1000'],
    ['an unknown recipient', reply('4040404040404040', 'x'), 100, 2018001, '(#100) No matching user found'],
    ['message and sender_action together', reply(PSID, 'x', { sender_action: 'typing_on' }), 100, undefined,
      '(#100) Cannot send both message and state at the same time.'],
  ];
  for (const [name, body, code, subcode, message] of invalid) {
    test(`${name} answers 400 code ${code}${subcode ? `/${subcode}` : ''}`, async () => {
      assertGraphError(await sendJson(body), { code, subcode, message });
      assert.equal(meta.sent.length, 0);
    });
  }

  test('exactly 2000 Messenger characters / 1000 Instagram bytes pass', async () => {
    assert.equal((await sendJson(reply(PSID, '😀'.repeat(2000)))).status, 200);
    assert.equal((await sendJson(reply(IGSID, 'é'.repeat(500)))).status, 200);
  });

  test('closeWindow(): 10/2018278 outside the window; HUMAN_AGENT passes unless closed past it; openWindow()', async () => {
    meta.closeWindow(PSID);
    const err = assertGraphError(await sendJson(reply(PSID, 'late')), { code: 10, subcode: 2018278 });
    assert.match(err.message, /^\(#10\) This message is sent outside of allowed window\./);
    assert.equal((await sendJson(reply(PSID, 'agent', { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' }))).status, 200);
    meta.closeWindow(PSID, { humanAgent: true });
    assert.equal((await sendJson(reply(PSID, 'agent', { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' }))).status, 400);
    meta.openWindow(PSID);
    assert.equal((await sendJson(reply(PSID, 'back'))).status, 200);
    assert.deepEqual(meta.sent.map((s) => [s.text, s.tag]), [['agent', 'HUMAN_AGENT'], ['back', undefined]]);
  });

  test('a sender_action answers {recipient_id} only and is not recorded in sent', async () => {
    const res = await sendJson({ recipient: { id: PSID }, sender_action: 'typing_on' });
    assert.deepEqual(res.json, { recipient_id: PSID });
    assert.equal(meta.sent.length, 0);
  });

  test('an attachment message is accepted as given', async () => {
    const attachment = { type: 'image', payload: { url: 'https://example.com/a.png', is_reusable: true } };
    const res = await sendJson({ recipient: { id: PSID }, messaging_type: 'UPDATE', message: { attachment } });
    assert.equal(res.status, 200);
    assert.deepEqual(meta.sent[0].attachment, attachment);
    assert.equal(meta.sent[0].text, undefined);
  });

  test('fail(): rate-limit codes 4, 17, 32, 613 with Graph\'s messages, `times` times, matching requests only', async () => {
    meta.fail(/^POST \/v21\.0\/me\/messages/, { code: 613, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await sendJson(reply(PSID, 'x'));
      const error = assertGraphError(res, { code: 613, message: '(#613) Calls to this api have exceeded the rate limit.' });
      assert.equal(error.is_transient, true);
      assert.equal(res.headers.get('www-authenticate'),
        'OAuth "Facebook Platform" "invalid_request" "(#613) Calls to this api have exceeded the rate limit."');
    }
    assert.equal((await sendJson(reply(PSID, 'x'))).status, 200);
    assert.equal((await call(`${meta.url}/${VERSION}/${PSID}?access_token=${TOKEN}`)).status, 200);

    meta.fail(/messages/, { code: 4 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 4, message: '(#4) Application request limit reached' });
    meta.fail(/messages/, { code: 17 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 17, message: '(#17) User request limit reached' });
    meta.fail(/messages/, { code: 32 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 32, message: '(#32) Page request limit reached' });
    assert.equal(meta.sent.length, 1);
  });

  test('fail(): code 10 defaults to subcode 2018278; 190; status-only defaults; custom fields and bodies', async () => {
    meta.fail(/messages/, { code: 10 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 10, subcode: 2018278 });
    meta.fail(/messages/, { code: 190, subcode: 463, message: 'Error validating access token: Session has expired.' });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 190, subcode: 463, message: 'Error validating access token: Session has expired.' });
    meta.fail(/messages/, { status: 500 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { status: 500, code: 1, message: 'An unknown error occurred' });
    meta.fail(/messages/, { status: 503 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { status: 503, code: 2 });
    meta.fail(/messages/, { code: 551 });
    assertGraphError(await sendJson(reply(PSID, 'x')), { code: 551, subcode: 1545041 });
    meta.fail(/messages/, { status: 502, body: '<html>Bad Gateway</html>', headers: { 'Content-Type': 'text/html' } });
    const raw = await call(messagesUrl(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(reply(PSID, 'x')) });
    assert.equal(raw.status, 502);
    assert.equal(raw.text, '<html>Bad Gateway</html>');
    assert.throws(() => meta.fail('messages', { code: 4 }), TypeError);
    assert.throws(() => meta.fail(/x/, {}), TypeError);
    assert.equal(meta.sent.length, 0);
  });

  test('delay() holds the response', async () => {
    meta.delay(/messages/, { ms: 600 });
    const t0 = Date.now();
    assert.equal((await sendJson(reply(PSID, 'slow'))).status, 200);
    assert.ok(Date.now() - t0 >= 590);
    const t1 = Date.now();
    await sendJson(reply(PSID, 'fast'));
    assert.ok(Date.now() - t1 < 500, 'the delay applies once'); // wide margin: a loaded machine is slow, not 500 ms slow
  });

  test('defaults: a fresh fake uses the DEFAULT_* ids and token', async () => {
    const m = await startMeta();
    try {
      assert.equal(m.pageId, DEFAULT_PAGE_ID);
      assert.equal(m.igAccountId, DEFAULT_IG_ACCOUNT_ID);
      assert.equal(m.pageAccessToken, DEFAULT_PAGE_ACCESS_TOKEN);
      assert.equal(m.version, 'v21.0');
      assert.deepEqual((await call(`${m.url}/v21.0/me?access_token=${DEFAULT_PAGE_ACCESS_TOKEN}`)).json.id, DEFAULT_PAGE_ID);
    } finally {
      await m.close();
    }
  });
});

describe('Meta webhook helpers', () => {
  test('metaSignature matches RFC 4231 test case 2 and an independent node:crypto HMAC', () => {
    // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
    assert.equal(metaSignature('Jefe', 'what do ya want for nothing?'),
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    const raw = '{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}';
    const expected = createHmac('sha256', APP_SECRET).update(Buffer.from(raw, 'utf8')).digest('hex');
    assert.equal(metaSignature(APP_SECRET, raw), `sha256=${expected}`);
    assert.equal(metaSignature(APP_SECRET, Buffer.from(raw)), `sha256=${expected}`);
    assert.notEqual(metaSignature(APP_SECRET, `${raw} `), `sha256=${expected}`);
    assert.throws(() => metaSignature('', raw), TypeError);
  });

  test('metaJson escapes like Meta (non-ASCII lowercase \\u, slashes, <, %, @) and round-trips', () => {
    const value = { text: 'äöå 😀 <b> 50% a@b.c', url: 'https://scontent.xx.fbcdn.net/v/x.jpg' };
    const raw = metaJson(value);
    assert.equal(raw, '{"text":"\\u00e4\\u00f6\\u00e5 \\ud83d\\ude00 \\u003Cb> 50\\u0025 a\\u0040b.c","url":"https:\\/\\/scontent.xx.fbcdn.net\\/v\\/x.jpg"}');
    assert.match(raw, /^[\x20-\x7e]*$/);
    assert.deepEqual(JSON.parse(raw), value);
    assert.deepEqual(JSON.parse(metaJson({ s: 'back\\slash/' })), { s: 'back\\slash/' });
  });

  test('messengerEvent: a customer message, shaped like the messages webhook example', () => {
    const body = messengerEvent({ pageId: PAGE_ID, psid: PSID, text: 'hello, world!', mid: 'm_abc', timestamp: 1458692752478 });
    assert.deepEqual(body, {
      object: 'page',
      entry: [{
        id: PAGE_ID,
        time: 1458692752728,
        messaging: [{ sender: { id: PSID }, recipient: { id: PAGE_ID }, timestamp: 1458692752478, message: { mid: 'm_abc', text: 'hello, world!' } }],
      }],
    });
    const generated = messengerEvent({ psid: PSID, text: 'x' });
    assert.equal(generated.entry[0].id, DEFAULT_PAGE_ID);
    assert.match(generated.entry[0].messaging[0].message.mid, MESSENGER_MID);
    assert.ok(generated.entry[0].time >= generated.entry[0].messaging[0].timestamp);
    assert.throws(() => messengerEvent({ text: 'x' }), TypeError);
  });

  test('messengerEvent: attachments and echoes', () => {
    const attachments = [{ type: 'image', payload: { url: 'https://scontent.xx.fbcdn.net/v/t1.15752-9/1.jpg' } }];
    const withImage = messengerEvent({ pageId: PAGE_ID, psid: PSID, attachments, mid: 'm_img', timestamp: 5 });
    assert.deepEqual(withImage.entry[0].messaging[0].message, { mid: 'm_img', attachments });
    const echo = messengerEvent({ pageId: PAGE_ID, psid: PSID, text: 'our reply', isEcho: true, mid: 'm_echo', timestamp: 7 });
    assert.deepEqual(echo.entry[0].messaging[0], {
      sender: { id: PAGE_ID },
      recipient: { id: PSID },
      timestamp: 7,
      message: { is_echo: true, app_id: DEFAULT_APP_ID, mid: 'm_echo', text: 'our reply' },
    });
  });

  test('instagramEvent: a DM and an echo, object "instagram" keyed by the account id', () => {
    const body = instagramEvent({ igAccountId: IG_ACCOUNT_ID, igsid: IGSID, text: 'hi', timestamp: 1569262485349 });
    assert.equal(body.object, 'instagram');
    assert.equal(body.entry[0].id, IG_ACCOUNT_ID);
    const [event] = body.entry[0].messaging;
    assert.deepEqual(event.sender, { id: IGSID });
    assert.deepEqual(event.recipient, { id: IG_ACCOUNT_ID });
    assert.equal(event.timestamp, 1569262485349);
    assert.match(event.message.mid, INSTAGRAM_MID);
    assert.equal(event.message.text, 'hi');
    const echo = instagramEvent({ igAccountId: IG_ACCOUNT_ID, igsid: IGSID, text: 'reply', isEcho: true, mid: 'aWdfX' });
    assert.deepEqual(echo.entry[0].messaging[0].sender, { id: IG_ACCOUNT_ID });
    assert.deepEqual(echo.entry[0].messaging[0].recipient, { id: IGSID });
    assert.deepEqual(echo.entry[0].messaging[0].message, { is_echo: true, mid: 'aWdfX', text: 'reply' });
  });

  test('id helpers and batchWebhooks', () => {
    assert.match(newPsid(), /^[1-9]\d{15}$/);
    assert.match(newIgsid(), /^[1-9]\d{15}$/);
    assert.match(newMessengerMid(), MESSENGER_MID);
    assert.match(newInstagramMid(), INSTAGRAM_MID);
    assert.notEqual(newMessengerMid(), newMessengerMid());
    const a = messengerEvent({ psid: '1', text: 'a' });
    const b = messengerEvent({ psid: '2', text: 'b' });
    assert.deepEqual(batchWebhooks(a, b), { object: 'page', entry: [...a.entry, ...b.entry] });
    assert.throws(() => batchWebhooks(a, instagramEvent({ igsid: '3' })), TypeError);
  });

  describe('postMetaWebhook / verifyMetaSubscription', () => {
    let receiver;
    before(async () => {
      receiver = await startReceiver((req) => {
        if (req.method === 'GET') {
          const q = new URL(req.url, 'http://x').searchParams;
          const ok = q.get('hub.mode') === 'subscribe' && q.get('hub.verify_token') === 'verify-me';
          return ok ? { status: 200, body: q.get('hub.challenge') } : { status: 403, body: 'Forbidden' };
        }
        return { status: 200, body: 'EVENT_RECEIVED' };
      });
    });
    after(() => receiver.close());

    test('posts the escaped raw body with Meta\'s headers; the signature verifies over the received bytes', async () => {
      const body = messengerEvent({ pageId: PAGE_ID, psid: PSID, text: 'Grüße / <3 @ 100%' });
      const res = await postMetaWebhook(`${receiver.url}/webhooks/meta`, body, { appSecret: APP_SECRET });
      assert.equal(res.status, 200);
      assert.equal(res.text, 'EVENT_RECEIVED');
      const req = receiver.seen.at(-1);
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/webhooks/meta');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['user-agent'], 'facebookexternalua');
      assert.equal(req.body, metaJson(body));
      assert.equal(req.body, res.rawBody);
      assert.match(req.body, /Gr\\u00fc\\u00dfe \\\/ \\u003C3 \\u0040 100\\u0025/);
      assert.deepEqual(JSON.parse(req.body), body);
      const header = req.headers['x-hub-signature-256'];
      assert.match(header, /^sha256=[0-9a-f]{64}$/);
      const mine = createHmac('sha256', APP_SECRET).update(req.raw).digest();
      assert.ok(timingSafeEqual(Buffer.from(header.slice(7), 'hex'), mine));
      assert.equal(req.headers['x-hub-signature'], `sha1=${createHmac('sha1', APP_SECRET).update(req.raw).digest('hex')}`);
      // Re-serialising the parsed body (what a careless worker would do) does not match.
      assert.notEqual(createHmac('sha256', APP_SECRET).update(JSON.stringify(JSON.parse(req.body))).digest('hex'), header.slice(7));
    });

    test('a string body is sent verbatim; explicit signature; omitSignature', async () => {
      const raw = '{"object":"instagram","entry":[]}';
      await postMetaWebhook(receiver.url, raw, { appSecret: APP_SECRET });
      assert.equal(receiver.seen.at(-1).body, raw);
      assert.equal(receiver.seen.at(-1).headers['x-hub-signature-256'], metaSignature(APP_SECRET, raw));

      await postMetaWebhook(receiver.url, raw, { signature: 'sha256=deadbeef' });
      assert.equal(receiver.seen.at(-1).headers['x-hub-signature-256'], 'sha256=deadbeef');
      assert.equal(receiver.seen.at(-1).headers['x-hub-signature'], undefined);

      await postMetaWebhook(receiver.url, raw, { omitSignature: true });
      assert.equal(receiver.seen.at(-1).headers['x-hub-signature-256'], undefined);
      await assert.rejects(postMetaWebhook(receiver.url, raw, {}), TypeError);
    });

    test('verifyMetaSubscription sends hub.mode/hub.challenge/hub.verify_token', async () => {
      const ok = await verifyMetaSubscription(`${receiver.url}/webhooks/meta`, { verifyToken: 'verify-me', challenge: '1158201444' });
      assert.deepEqual(ok, { status: 200, text: '1158201444', challenge: '1158201444', passed: true });
      const req = receiver.seen.at(-1);
      assert.equal(req.method, 'GET');
      const q = new URL(req.url, 'http://x').searchParams;
      assert.deepEqual([q.get('hub.mode'), q.get('hub.challenge'), q.get('hub.verify_token')], ['subscribe', '1158201444', 'verify-me']);
      const bad = await verifyMetaSubscription(receiver.url, { verifyToken: 'nope' });
      assert.equal(bad.status, 403);
      assert.equal(bad.passed, false);
      assert.match(bad.challenge, /^\d+$/);
    });
  });
});
