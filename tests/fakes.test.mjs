/**
 * Tests of the Google/Gmail/LLM fakes themselves (tests/fakes/google.mjs) and of the demo CLI.
 * Run: node --test tests/fakes.test.mjs
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startFakes } from './fakes/google.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS_DIR = '/work/shared/corpus/eml';
const DEMO_DIR = path.join(here, 'fixtures/eml');
const MAILBOX = 'support@demo.edgedesk.test';
const CREDENTIALS = { grant_type: 'refresh_token', client_id: 'test-client-id', client_secret: 'test-client-secret', refresh_token: 'test-refresh-token' };

const emlIn = (dir) => readdirSync(dir).filter((n) => n.endsWith('.eml')).sort().map((n) => path.join(dir, n));
const b64url = (text) => Buffer.from(text).toString('base64url');

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

const requestToken = (fake, fields = CREDENTIALS) =>
  call(`${fake.url}/token`, { method: 'POST', body: new URLSearchParams(fields) });

/** A Gmail client bound to one fake: `gmail('GET', 'messages?q=…')`, `gmail('POST', 'drafts', body)`. */
async function gmailClient(fake) {
  const { json: { access_token: token } } = await requestToken(fake);
  const gmail = (method, rel, body) => call(`${fake.url}/gmail/v1/users/me/${rel}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body && { 'content-type': 'application/json' }) },
    body: body && JSON.stringify(body),
  });
  return { token, gmail };
}

function email({ subject, messageId, inReplyTo, from = 'Cara <cara@example.com>', to = MAILBOX, body = 'Hello there.' }) {
  return [
    `From: ${from}`, ...(to ? [`To: ${to}`] : []), `Subject: ${subject}`, 'MIME-Version: 1.0',
    ...(messageId ? [`Message-ID: ${messageId}`] : []),
    ...(inReplyTo ? [`In-Reply-To: ${inReplyTo}`, `References: ${inReplyTo}`] : []),
    'Content-Type: text/plain; charset=UTF-8', '', body, '',
  ].join('\r\n');
}

/** Builds a Gmail batch body from [{id, method, path, body?}]. */
function batchBody(boundary, calls) {
  return calls.map((c) => `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <${c.id}>\r\n\r\n`
    + `${c.method} ${c.path}\r\n${c.body ? `Content-Type: application/json\r\n\r\n${JSON.stringify(c.body)}\r\n` : '\r\n'}`)
    .join('') + `--${boundary}--\r\n`;
}

/** Parses a batch response into [{contentId, status, json}]. */
function parseBatch(contentType, text) {
  const boundary = /boundary=([^;]+)/.exec(contentType)[1];
  return text.split(`--${boundary}`).slice(1, -1).map((part) => {
    const [partHead, httpHead, body] = part.trim().split('\r\n\r\n');
    return {
      contentId: /Content-ID: (.*)/.exec(partHead)?.[1],
      status: Number(/^HTTP\/1\.1 (\d+)/.exec(httpHead)[1]),
      json: body ? JSON.parse(body) : undefined,
    };
  });
}

describe('OAuth token endpoint', () => {
  let fake;
  before(async () => { fake = await startFakes({ mailboxAddress: MAILBOX }); });
  after(() => fake.close());

  test('refresh_token grant issues a bearer token usable for Gmail', async () => {
    const { status, json } = await requestToken(fake);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(json).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(json.expires_in, 3599);
    assert.equal(json.token_type, 'Bearer');
    assert.equal(json.scope, 'https://www.googleapis.com/auth/gmail.modify');
    assert.equal(fake.tokensIssued, 1);
    const profile = await call(`${fake.url}/gmail/v1/users/${encodeURIComponent(MAILBOX)}/profile`, {
      headers: { authorization: `Bearer ${json.access_token}` },
    });
    assert.equal(profile.status, 200);
    assert.equal(profile.json.emailAddress, MAILBOX);
    assert.match(profile.json.historyId, /^\d+$/);
  });

  test('wrong client, refresh token or grant type are rejected like Google does', async () => {
    const wrongClient = await requestToken(fake, { ...CREDENTIALS, client_id: 'nope' });
    assert.equal(wrongClient.status, 401);
    assert.deepEqual(wrongClient.json, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
    const wrongToken = await requestToken(fake, { ...CREDENTIALS, refresh_token: 'revoked' });
    assert.equal(wrongToken.status, 400);
    assert.equal(wrongToken.json.error, 'invalid_grant');
    const wrongGrant = await requestToken(fake, { ...CREDENTIALS, grant_type: 'authorization_code' });
    assert.equal(wrongGrant.status, 400);
    assert.equal(wrongGrant.json.error, 'unsupported_grant_type');
  });

  test('Gmail calls without a valid bearer token get Google\'s 401; other users get 403', async () => {
    const expected = {
      error: {
        code: 401,
        message: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        errors: [{ message: 'Invalid Credentials', domain: 'global', reason: 'authError', location: 'Authorization', locationType: 'header' }],
        status: 'UNAUTHENTICATED',
      },
    };
    for (const headers of [{}, { authorization: 'Bearer ya29.made-up' }]) {
      const res = await call(`${fake.url}/gmail/v1/users/me/profile`, { headers });
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, expected);
    }
    const { gmail } = await gmailClient(fake);
    const other = await call(`${fake.url}/gmail/v1/users/someone@example.com/profile`, {
      headers: { authorization: `Bearer ${(await requestToken(fake)).json.access_token}` },
    });
    assert.equal(other.status, 403);
    assert.equal(other.json.error.status, 'PERMISSION_DENIED');
    assert.equal((await gmail('GET', 'nonsense')).status, 404);
    assert.equal((await call(`${fake.url}/nowhere`)).status, 404);
  });
});

describe('messages.list / messages.get over the real-world corpus', () => {
  let fake; let gmail;
  const files = emlIn(CORPUS_DIR);
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX, emlFiles: files });
    ({ gmail } = await gmailClient(fake));
  });
  after(() => fake.close());

  test('every corpus file round-trips byte for byte through list + get(format=raw)', async () => {
    const ids = [];
    let pageToken;
    do {
      const page = await gmail('GET', `messages?q=in:inbox&maxResults=7${pageToken ? `&pageToken=${pageToken}` : ''}`);
      assert.equal(page.status, 200);
      assert.equal(page.json.resultSizeEstimate, files.length);
      ids.push(...page.json.messages.map((m) => m.id));
      pageToken = page.json.nextPageToken;
    } while (pageToken);
    assert.equal(ids.length, files.length);
    // newest first: the last file loaded is listed first
    const byId = new Map(ids.map((id, i) => [id, files[files.length - 1 - i]]));
    for (const [id, file] of byId) {
      const { status, json } = await gmail('GET', `messages/${id}?format=raw`);
      assert.equal(status, 200);
      assert.doesNotMatch(json.raw, /[+/=]/, 'raw is unpadded base64url');
      assert.deepEqual(Buffer.from(json.raw, 'base64url'), readFileSync(file), file);
      assert.match(json.internalDate, /^\d+$/);
      assert.equal(json.payload, undefined);
    }
  });

  test('format=full and format=metadata parse every corpus file', async () => {
    for (const msg of fake.messages.values()) {
      const full = await gmail('GET', `messages/${msg.id}?format=full`);
      assert.equal(full.status, 200);
      assert.equal(full.json.payload.partId, '');
      assert.ok(Array.isArray(full.json.payload.headers));
      const meta = await gmail('GET', `messages/${msg.id}?format=metadata&metadataHeaders=Subject&metadataHeaders=From`);
      assert.ok(meta.json.payload.headers.every((h) => ['subject', 'from'].includes(h.name.toLowerCase())));
    }
  });

  test('unknown and malformed ids', async () => {
    const missing = await gmail('GET', 'messages/0123456789abcdef');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.errors[0].reason, 'notFound');
    assert.equal((await gmail('GET', 'messages/not-an-id')).status, 400);
  });
});

describe('demo fixtures', () => {
  let fake; let gmail;
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX, emlFiles: emlIn(DEMO_DIR) });
    ({ gmail } = await gmailClient(fake));
  });
  after(() => fake.close());

  test('five messages; the follow-up joins the first thread, the others are separate', () => {
    const [first, second, followup, fourth, ooo] = fake.messages.values();
    assert.equal(fake.messages.size, 5);
    assert.equal(followup.threadId, first.threadId);
    assert.equal(new Set([first, second, fourth, ooo].map((m) => m.threadId)).size, 4);
  });

  test('headers decode RFC 2047, snippets come from the text (or HTML-only) part', async () => {
    const [, refund, , feedback] = fake.messages.values();
    const full = await gmail('GET', `messages/${refund.id}`);
    const from = full.json.payload.headers.find((h) => h.name === 'From').value;
    assert.equal(from, 'José García <jose.garcia@example.org>');
    assert.deepEqual(full.json.payload.parts.map((p) => p.mimeType), ['text/plain', 'text/html']);
    assert.match(Buffer.from(full.json.payload.parts[0].body.data, 'base64url').toString(), /€89\.00 on 28 May and again on 29 May/);
    const html = await gmail('GET', `messages/${feedback.id}?format=minimal`);
    assert.match(html.json.snippet, /^Hello Edgedesk Outdoor team, Just some feedback/);
  });

  test('search terms', async () => {
    const ids = async (q) => ((await gmail('GET', `messages?q=${encodeURIComponent(q)}`)).json.messages ?? []).map((m) => m.id);
    const [first, refund, followup, feedback, ooo] = [...fake.messages.values()].map((m) => m.id);
    assert.deepEqual(await ids('rfc822msgid:<CAF7m2Q1x9Zt4Lw8Kq3v@mail.example.com>'), [first]);
    assert.deepEqual(await ids('rfc822msgid:CAF7m2Q1x9Zt4Lw8Kq3v@mail.example.com'), [first]);
    assert.deepEqual(await ids('from:jose.garcia@example.org'), [refund]);
    assert.deepEqual(await ids('from:García'), [refund]);
    assert.deepEqual(await ids('subject:"Order #48213"'), [followup, first]);
    assert.deepEqual(await ids('petite'), [feedback]);
    assert.deepEqual(await ids('in:inbox is:unread -in:chats newer_than:1d'), [ooo, feedback, followup, refund, first]);
    assert.deepEqual(await ids(`after:${Math.floor(Date.now() / 1000) + 60}`), []);
    assert.deepEqual(await ids('older_than:1d'), []);
    await gmail('POST', `messages/${ooo}/modify`, { removeLabelIds: ['UNREAD'], addLabelIds: ['Label_7'] });
    assert.deepEqual(await ids('is:read'), [ooo]);
    assert.deepEqual(await ids('label:label_7'), [ooo]);
    assert.deepEqual(await ids('in:inbox -label:Label_7 -is:read'), [feedback, followup, refund, first]);
    assert.equal((await gmail('GET', 'messages?labelIds=INBOX&labelIds=Label_7')).json.resultSizeEstimate, 1);
    const empty = await gmail('GET', 'messages?q=in:sent');
    assert.deepEqual(empty.json, { resultSizeEstimate: 0 });
    assert.equal((await gmail('GET', `messages?q=${encodeURIComponent('a OR b')}`)).status, 400);
  });
});

describe('history', () => {
  let fake; let gmail;
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX });
    ({ gmail } = await gmailClient(fake));
  });
  after(() => fake.close());

  test('messagesAdded and label changes after startHistoryId, with labelId and historyTypes filters', async () => {
    const start = (await gmail('GET', 'profile')).json.historyId;
    const a = fake.addMessage({ raw: email({ subject: 'First', messageId: '<h1@example.com>' }) });
    const b = fake.addMessage({ raw: email({ subject: 'Spam', messageId: '<h2@example.com>' }), labelIds: ['SPAM'] });
    await gmail('POST', `messages/${a.id}/modify`, { removeLabelIds: ['UNREAD'] });

    const all = await gmail('GET', `history?startHistoryId=${start}`);
    assert.equal(all.status, 200);
    const [added, spam, read] = all.json.history;
    assert.deepEqual(added.messagesAdded, [{ message: { id: a.id, threadId: a.threadId, labelIds: ['INBOX', 'UNREAD'] } }]);
    assert.deepEqual(added.messages, [{ id: a.id, threadId: a.threadId }]);
    assert.equal(spam.messagesAdded[0].message.id, b.id);
    assert.deepEqual(read.labelsRemoved, [{ message: { id: a.id, threadId: a.threadId, labelIds: ['INBOX'] }, labelIds: ['UNREAD'] }]);
    assert.ok(Number(added.id) > Number(start) && Number(spam.id) > Number(added.id) && Number(read.id) > Number(spam.id));
    assert.equal(all.json.historyId, (await gmail('GET', 'profile')).json.historyId);
    assert.equal((await gmail('GET', `messages/${a.id}?format=minimal`)).json.historyId, read.id);

    const inbox = await gmail('GET', `history?startHistoryId=${start}&labelId=INBOX&historyTypes=messageAdded`);
    assert.deepEqual(inbox.json.history.map((h) => h.id), [added.id]);
    const afterAll = await gmail('GET', `history?startHistoryId=${read.id}`);
    assert.equal(afterAll.json.history, undefined);
    const paged = await gmail('GET', `history?startHistoryId=${start}&maxResults=2`);
    assert.equal(paged.json.history.length, 2);
    assert.equal((await gmail('GET', `history?startHistoryId=${start}&pageToken=${paged.json.nextPageToken}`)).json.history[0].id, read.id);
  });

  test('missing startHistoryId is 400; expired ones are 404', async () => {
    assert.equal((await gmail('GET', 'history')).status, 400);
    const old = (await gmail('GET', 'profile')).json.historyId;
    fake.addMessage({ raw: email({ subject: 'Later' }) });
    fake.expireHistory();
    const expired = await gmail('GET', `history?startHistoryId=${old}`);
    assert.equal(expired.status, 404);
    assert.equal(expired.json.error.status, 'NOT_FOUND');
    const current = (await gmail('GET', 'profile')).json.historyId;
    assert.equal((await gmail('GET', `history?startHistoryId=${current}`)).status, 200);
  });
});

describe('batch', () => {
  let fake; let gmail; let token; let ids;
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX, emlFiles: emlIn(DEMO_DIR).slice(0, 3) });
    ({ gmail, token } = await gmailClient(fake));
    ids = [...fake.messages.keys()];
  });
  after(() => fake.close());

  const postBatch = (body, headers = {}) => call(`${fake.url}/batch/gmail/v1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/mixed; boundary=b0undary', ...headers },
    body,
  });

  test('batch get of three messages (raw) answers in order with response Content-IDs', async () => {
    const calls = ids.map((id, i) => ({ id: `item${i}`, method: 'GET', path: `/gmail/v1/users/me/messages/${id}?format=raw` }));
    const before = fake.requests.length;
    const res = await postBatch(batchBody('b0undary', calls));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^multipart\/mixed; boundary=batch_/);
    const parts = parseBatch(res.headers.get('content-type'), res.text);
    assert.deepEqual(parts.map((p) => p.contentId), ['<response-item0>', '<response-item1>', '<response-item2>']);
    assert.deepEqual(parts.map((p) => p.status), [200, 200, 200]);
    assert.deepEqual(parts.map((p) => p.json.id), ids);
    assert.deepEqual(Buffer.from(parts[0].json.raw, 'base64url'), fake.messages.get(ids[0]).raw);
    const logged = fake.requests.slice(before);
    assert.equal(logged.length, 4);
    assert.equal(logged[0].path, '/batch/gmail/v1');
    assert.ok(logged.slice(1).every((r) => r.batchInner && r.headers.authorization === `Bearer ${token}`));
  });

  test('inner POST bodies, per-part faults and errors', async () => {
    fake.fail(new RegExp(`GET /gmail/v1/users/me/messages/${ids[1]}`), { status: 429 });
    const res = await postBatch(batchBody('b0undary', [
      { id: 'a', method: 'POST', path: `/gmail/v1/users/me/messages/${ids[0]}/modify`, body: { removeLabelIds: ['UNREAD'] } },
      { id: 'b', method: 'GET', path: `/gmail/v1/users/me/messages/${ids[1]}?format=minimal` },
      { id: 'c', method: 'GET', path: '/gmail/v1/users/me/messages/0123456789abcdef' },
    ]));
    const [modified, limited, missing] = parseBatch(res.headers.get('content-type'), res.text);
    assert.deepEqual(modified.json.labelIds, ['INBOX']);
    assert.equal(limited.status, 429);
    assert.equal(limited.json.error.errors[0].reason, 'rateLimitExceeded');
    assert.equal(limited.json.error.status, 'RESOURCE_EXHAUSTED');
    assert.equal(missing.status, 404);
    assert.equal((await gmail('GET', `messages/${ids[1]}?format=minimal`)).status, 200, 'the fault was used up');
  });

  test('more than 100 parts, a missing boundary or no credentials', async () => {
    const many = Array.from({ length: 101 }, (_, i) => ({ id: `x${i}`, method: 'GET', path: '/gmail/v1/users/me/profile' }));
    assert.equal((await postBatch(batchBody('b0undary', many))).status, 400);
    assert.equal((await postBatch('x', { 'content-type': 'text/plain' })).status, 400);
    const anonymous = await call(`${fake.url}/batch/gmail/v1`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/mixed; boundary=zz' },
      body: batchBody('zz', [{ id: 'p', method: 'GET', path: '/gmail/v1/users/me/profile' }]),
    });
    assert.equal(anonymous.status, 200);
    assert.equal(parseBatch(anonymous.headers.get('content-type'), anonymous.text)[0].status, 401);
  });
});

describe('drafts and send', () => {
  let fake; let gmail; let token; let original;
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX });
    ({ gmail, token } = await gmailClient(fake));
    original = fake.addMessage({ raw: email({ subject: 'Broken zipper', messageId: '<orig-1@example.com>' }) });
  });
  after(() => fake.close());

  const reply = (overrides) => b64url(email({ from: MAILBOX, to: 'cara@example.com', subject: 'Re: Broken zipper', inReplyTo: '<orig-1@example.com>', ...overrides }));

  test('drafts.create honours threadId only with a matching subject and references', async () => {
    const inThread = await gmail('POST', 'drafts', { message: { raw: reply(), threadId: original.threadId } });
    assert.equal(inThread.status, 200);
    assert.match(inThread.json.id, /^r\d+$/);
    assert.equal(inThread.json.message.threadId, original.threadId);
    assert.deepEqual(inThread.json.message.labelIds, ['DRAFT']);

    const otherSubject = await gmail('POST', 'drafts', { message: { raw: reply({ subject: 'Re: Something else' }), threadId: original.threadId } });
    assert.notEqual(otherSubject.json.message.threadId, original.threadId);
    const noReferences = await gmail('POST', 'drafts', { message: { raw: reply({ inReplyTo: undefined }), threadId: original.threadId } });
    assert.notEqual(noReferences.json.message.threadId, original.threadId);
    const padded = Buffer.from(email({ subject: 'Fwd: Broken zipper', inReplyTo: '<orig-1@example.com>' })).toString('base64');
    const fwd = await gmail('POST', 'drafts', { message: { raw: padded, threadId: original.threadId } });
    assert.equal(fwd.json.message.threadId, original.threadId);

    const listed = await gmail('GET', 'drafts?q=subject:else');
    assert.deepEqual(listed.json, { drafts: [{ id: otherSubject.json.id, message: { id: otherSubject.json.message.id, threadId: otherSubject.json.message.threadId } }], resultSizeEstimate: 1 });
    const got = await gmail('GET', `drafts/${inThread.json.id}?format=raw`);
    assert.equal(Buffer.from(got.json.message.raw, 'base64url').toString(), email({ from: MAILBOX, to: 'cara@example.com', subject: 'Re: Broken zipper', inReplyTo: '<orig-1@example.com>' }));
    assert.equal((await gmail('DELETE', `drafts/${inThread.json.id}`)).status, 204);
    assert.equal((await gmail('GET', `drafts/${inThread.json.id}`)).status, 404);
    assert.equal(fake.drafts.length, 3);
  });

  test('messages.send stores the message with a server-generated Message-ID', async () => {
    const sent = await gmail('POST', 'messages/send', { raw: reply({ messageId: '<client-chosen@edgedesk.test>' }), threadId: original.threadId });
    assert.equal(sent.status, 200);
    assert.deepEqual(sent.json.labelIds, ['SENT']);
    assert.equal(sent.json.threadId, original.threadId);
    const raw = Buffer.from((await gmail('GET', `messages/${sent.json.id}?format=raw`)).json.raw, 'base64url').toString();
    assert.doesNotMatch(raw, /client-chosen/);
    assert.match(raw, /^Message-ID: <CA\+fake[\w-]+@mail\.gmail\.com>$/m);
    assert.equal(fake.sent.length, 1);
    assert.equal(fake.sent[0].id, sent.json.id);
    assert.deepEqual((await gmail('GET', 'messages?q=in:sent')).json.messages, [{ id: sent.json.id, threadId: original.threadId }]);
    // a customer reply to the sent message lands in the same thread
    const sentId = /^Message-ID: (.*)$/m.exec(raw)[1];
    const answer = fake.addMessage({ raw: email({ subject: 'Re: Broken zipper', inReplyTo: sentId }) });
    assert.equal(answer.threadId, original.threadId);
  });

  test('invalid bodies are 400 INVALID_ARGUMENT', async () => {
    for (const [rel, body] of [['messages/send', {}], ['drafts', {}], ['messages/send', { raw: '***' }], ['messages/send', { raw: reply({ to: null }) }]]) {
      const res = await gmail('POST', rel, body);
      assert.equal(res.status, 400, `${rel} ${JSON.stringify(body)}`);
      assert.equal(res.json.error.status, 'INVALID_ARGUMENT');
      assert.equal(res.json.error.errors[0].reason, 'invalidArgument');
    }
    const broken = await call(`${fake.url}/gmail/v1/users/me/drafts`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{nope',
    });
    assert.equal(broken.status, 400);
  });

  test('batchModify answers 204 and records label history', async () => {
    const start = (await gmail('GET', 'profile')).json.historyId;
    const res = await gmail('POST', 'messages/batchModify', { ids: [original.id], addLabelIds: ['STARRED'] });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const { history } = (await gmail('GET', `history?startHistoryId=${start}&historyTypes=labelAdded`)).json;
    assert.deepEqual(history[0].labelsAdded[0].labelIds, ['STARRED']);
  });
});

describe('fault injection', () => {
  let fake; let gmail;
  before(async () => {
    fake = await startFakes({ mailboxAddress: MAILBOX });
    ({ gmail } = await gmailClient(fake));
  });
  after(() => fake.close());

  test('Google default bodies, times, custom body and headers', async () => {
    fake.fail(/^GET \/gmail\/v1\/users\/me\/profile/, { status: 500, times: 2 });
    for (let i = 0; i < 2; i += 1) {
      const res = await gmail('GET', 'profile');
      assert.equal(res.status, 500);
      assert.deepEqual(res.json, { error: { code: 500, message: 'Backend Error', errors: [{ message: 'Backend Error', domain: 'global', reason: 'backendError' }], status: 'INTERNAL' } });
    }
    assert.equal((await gmail('GET', 'profile')).status, 200);
    fake.fail(/messages\?/, { status: 503, body: { custom: true }, headers: { 'Retry-After': '7' } });
    const custom = await gmail('GET', 'messages?q=x');
    assert.equal(custom.status, 503);
    assert.deepEqual(custom.json, { custom: true });
    assert.equal(custom.headers.get('retry-after'), '7');
    fake.fail(/profile/, { status: 404 });
    assert.equal((await gmail('GET', 'profile')).json.error.errors[0].reason, 'notFound');
  });

  test('OAuth and LLM faults use their vendor shapes', async () => {
    fake.fail(/^POST \/token$/, { status: 400 });
    const token = await requestToken(fake);
    assert.deepEqual(token.json, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    fake.fail(/chat\/completions/, { status: 429 });
    const llm = await call(`${fake.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer test-llm-key' }, body: '{}' });
    assert.equal(llm.status, 429);
    assert.deepEqual(Object.keys(llm.json.error), ['message', 'type', 'param', 'code']);
    assert.equal(llm.json.error.code, 'rate_limit_exceeded');
    assert.equal(llm.json.error.param, null);
  });
});

describe('LLM chat completions', () => {
  let fake;
  before(async () => { fake = await startFakes({ mailboxAddress: MAILBOX }); });
  after(() => fake.close());

  const complete = (body, key = 'test-llm-key') => call(`${fake.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const messages = [
    { role: 'system', content: 'You are a helpful support agent.' },
    { role: 'user', content: 'My order #48213 never arrived and the tracking number has not updated for twelve days.' },
  ];

  test('default reply quotes the last user message', async () => {
    const { status, json } = await complete({ model: 'gpt-4o-mini', messages, temperature: 0.2, max_tokens: 300 });
    assert.equal(status, 200);
    assert.match(json.id, /^chatcmpl-/);
    assert.equal(json.object, 'chat.completion');
    assert.equal(json.model, 'gpt-4o-mini');
    assert.equal(json.choices[0].finish_reason, 'stop');
    assert.equal(json.choices[0].message.role, 'assistant');
    assert.equal(json.choices[0].message.content,
      'Thank you for your message about "My order #48213 never arrived and the tracking number has no". We are looking into it.');
    assert.equal(json.usage.total_tokens, json.usage.prompt_tokens + json.usage.completion_tokens);
  });

  test('llmReply can be replaced; bad key and missing messages are OpenAI errors', async () => {
    fake.llmReply = (body) => `echo:${body.messages.length}`;
    assert.equal((await complete({ model: 'm', messages })).json.choices[0].message.content, 'echo:2');
    const badKey = await complete({ model: 'm', messages }, 'sk-wrong-key-123456');
    assert.equal(badKey.status, 401);
    assert.equal(badKey.json.error.code, 'invalid_api_key');
    const missing = await complete({ model: 'm' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.param, 'messages');
  });
});

test('demo-mailbox CLI serves the fixtures, injects messages and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(here, 'fakes/demo-mailbox.mjs'), '--port', '0', '--mailbox', MAILBOX,
    '--eml-dir', DEMO_DIR, '--inject-every', '0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /^DEMO_MAILBOX_URL=(\S+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`CLI exited early: ${out}`)));
  });
  const fake = { url };
  const { gmail } = await gmailClient(fake);
  let listed;
  for (let i = 0; i < 50; i += 1) {
    listed = (await gmail('GET', 'messages?q=in:inbox')).json;
    if (listed.resultSizeEstimate === 8) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(listed.resultSizeEstimate, 8);
  const threads = new Map();
  for (const { threadId } of listed.messages) threads.set(threadId, (threads.get(threadId) ?? 0) + 1);
  assert.deepEqual([...threads.values()].sort(), [1, 1, 1, 2, 3]);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
