/**
 * Loopback HTTP fake of the three remote services Edgedesk talks to, for black-box tests and the local demo:
 *
 *   POST /token                     Google OAuth 2.0 token endpoint (refresh_token grant only)
 *   /gmail/v1/users/{userId}/...    Gmail REST API v1: profile, messages (list/get/modify/batchModify/send,
 *                                   attachments.get), history.list, drafts (create/list/get/delete)
 *   POST /batch/gmail/v1            Gmail batch endpoint (multipart/mixed of application/http parts)
 *   POST /v1/chat/completions       OpenAI-compatible chat completions
 *
 * Faithful to the vendors' documented shapes:
 * - Google error bodies `{error:{code,message,errors:[{message,domain,reason}],status}}`, OAuth error bodies
 *   `{error,error_description}`, OpenAI error bodies `{error:{message,type,param,code}}`; pretty-printed JSON.
 * - Message ids are 16 hex digits derived from internalDate (as Gmail's are), a thread's id is the id of its first
 *   message, historyIds are decimal strings that increase with random gaps, internalDate is an epoch-ms string.
 * - `raw` is returned as unpadded base64url; requests may use padded/unpadded base64 or base64url.
 * - format=full parses the MIME tree into MessagePart objects (partId "", "0", "1.0", ...; body.data for inline
 *   parts, body.attachmentId for parts with a filename); header values have RFC 2047 encoded-words decoded.
 * - `snippet` is the start of the first text part (HTML stripped if only HTML), HTML-escaped as Gmail does.
 * - messages.list/drafts.list/history.list: newest first (history oldest first), `maxResults` default 100 and
 *   max 500, `nextPageToken`, list fields omitted when empty, SPAM/TRASH excluded unless asked for.
 * - drafts.create / messages.send honour `threadId` only when the Subject matches (ignoring Re:/Fwd:) and
 *   References/In-Reply-To name a message of that thread; messages.send replaces the client's Message-ID with a
 *   server-generated `<CA+fake…@mail.gmail.com>` and requires a recipient.
 * - history.list: records strictly after startHistoryId, 404 for ids older than the last `expireHistory()`.
 * - Batch: at most 100 parts, outer Authorization inherited by inner requests, `Content-ID: <response-…>`.
 *
 * Simplified (deliberately):
 * - One mailbox. Labels are free-form ids (no labels resource); any id may be added/removed except that a label
 *   cannot be both added and removed in one call. Unknown ids in batchModify answer 404 rather than being skipped.
 * - Search `q` supports the terms listed at `termPredicate` plus bare words/quoted phrases (matched
 *   case-insensitively against the raw message, its decoded headers and decoded text parts). OR, braces and
 *   parentheses, and unknown `operator:` terms answer 400 so an unsupported query never silently matches nothing.
 *   Dates in `after:`/`before:` yyyy/mm/dd are UTC (Gmail uses the account's zone). resultSizeEstimate is exact.
 * - Page tokens are plain offsets. message/rfc822 parts are leaves, RFC 2231 parameter continuations are not
 *   joined. history `labelId` keeps records whose message carried the label at the time, or whose label change
 *   involved it. No threads.*, labels.*, drafts.update/send, upload endpoints, streaming chat completions, quotas.
 * - Access tokens expire after expires_in like Google's, but are never revoked. /token takes the client
 *   credentials from the form body only (no HTTP Basic). An injected /token fault defaults to invalid_grant for
 *   4xx but to `{"error":"server_error"}` for 5xx, so that a transient failure never looks like a revoked grant.
 */
import http from 'node:http';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';

const GMAIL_SCOPE = 'https://www.googleapis.com/auth/gmail.modify';
const TOKEN_LIFETIME_S = 3599;
const MAX_PAGE = 500;
const MAX_BATCH_PARTS = 100;
const MAX_BATCH_MODIFY_IDS = 1000;
const JSON_TYPE = 'application/json; charset=UTF-8';
const AUTH_MESSAGE = 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or '
  + 'other valid authentication credential.';

// ---------------------------------------------------------------------------------------------------------------
// Responses and vendor-shaped errors. A response is `{status, headers, body: string}`; handlers throw HttpError.

class HttpError extends Error {
  constructor(response) {
    super(`HTTP ${response.status}`);
    this.response = response;
  }
}

function json(status, value, headers = {}) {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value, null, 2) };
}

const noContent = () => ({ status: 204, headers: {}, body: '' });

/** Google's canonical error per HTTP status: [status enum, errors[].reason, default message, extra errors[] fields]. */
const GOOGLE_ERRORS = {
  400: ['INVALID_ARGUMENT', 'invalidArgument', 'Request contains an invalid argument.'],
  401: ['UNAUTHENTICATED', 'authError', AUTH_MESSAGE,
    { message: 'Invalid Credentials', location: 'Authorization', locationType: 'header' }],
  403: ['PERMISSION_DENIED', 'forbidden', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'notFound', 'Requested entity was not found.'],
  429: ['RESOURCE_EXHAUSTED', 'rateLimitExceeded', 'Resource has been exhausted (e.g. check quota).'],
  500: ['INTERNAL', 'backendError', 'Backend Error'],
  503: ['UNAVAILABLE', 'backendError', 'The service is currently unavailable.'],
};

function googleErrorBody(code, message) {
  const [status, reason, defaultMessage, extra] = GOOGLE_ERRORS[code] ?? GOOGLE_ERRORS[code >= 500 ? 500 : 400];
  const text = message ?? defaultMessage;
  return { error: { code, message: text, errors: [{ message: text, domain: 'global', reason, ...extra }], status } };
}

function googleError(code, message) {
  const headers = code === 401
    ? { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' } : {};
  return new HttpError(json(code, googleErrorBody(code, message), headers));
}

function oauthErrorBody(status, error, description) {
  if (error) return { error, error_description: description };
  return status >= 500
    ? { error: 'server_error', error_description: 'Backend Error' }
    : { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' };
}

const oauthError = (status, error, description) => new HttpError(json(status, oauthErrorBody(status, error, description)));

/** OpenAI's error per HTTP status: [message, type, code]. */
const OPENAI_ERRORS = {
  400: ['Invalid request.', 'invalid_request_error', null],
  401: ['Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'],
  404: ['The requested resource was not found.', 'invalid_request_error', null],
  429: ['Rate limit reached for requests', 'requests', 'rate_limit_exceeded'],
  500: ['The server had an error while processing your request. Sorry about that!', 'server_error', null],
  503: ['The engine is currently overloaded, please try again later.', 'server_error', null],
};

function openaiErrorBody(status, message, code, param = null) {
  const [defaultMessage, type, defaultCode] = OPENAI_ERRORS[status] ?? OPENAI_ERRORS[status >= 500 ? 500 : 400];
  return { error: { message: message ?? defaultMessage, type, param, code: code === undefined ? defaultCode : code } };
}

const openaiError = (status, message, code, param) => new HttpError(json(status, openaiErrorBody(status, message, code, param)));

/** The vendor whose error shape a path answers with. */
function surfaceOf(pathname) {
  if (pathname === '/token') return 'oauth';
  if (pathname.startsWith('/v1/')) return 'openai';
  return 'google';
}

const DEFAULT_ERROR_BODY = { oauth: oauthErrorBody, openai: openaiErrorBody, google: googleErrorBody };

// ---------------------------------------------------------------------------------------------------------------
// Small codecs.

const randomToken = (bytes) => randomBytes(bytes).toString('base64url');

/** Decodes Gmail's `raw` (base64 or base64url, padded or not); `field` names the field in the error message. */
function decodeRaw(value, field) {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) {
    throw googleError(400, `Invalid value at '${field}' (TYPE_BYTES), Base64 decoding failed for "${value.slice(0, 40)}"`);
  }
  return Buffer.from(compact, 'base64url'); // Node's base64url decoder also accepts the base64 alphabet and padding
}

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

function decodeText(bytes, charset = 'utf-8') {
  try {
    return new TextDecoder(charset.trim()).decode(bytes);
  } catch {
    return bytes.toString('utf8'); // unknown charset label
  }
}

function htmlToText(html) {
  return html.replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ').replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ').replace(/&lt;/gi, '<').replace(/&gt;/gi, '>').replace(/&quot;/gi, '"')
    .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n))).replace(/&amp;/gi, '&');
}

// ---------------------------------------------------------------------------------------------------------------
// RFC 5322 / MIME parsing. Messages are handled as "binary strings" (latin1: one char per byte) so that 8-bit
// content survives splitting; header values are then read as UTF-8 and RFC 2047 encoded-words are decoded.

/** Splits at the first empty line (or at a leading empty line: no headers). `sep` is the empty line itself. */
function splitHeaderBody(bin) {
  const m = /^\r?\n|\r?\n\r?\n/.exec(bin);
  if (!m) return { head: bin, sep: '', body: '' };
  return { head: bin.slice(0, m.index), sep: m[0], body: bin.slice(m.index + m[0].length) };
}

/** Unfolds a header block into [{name, value}] (values still binary strings); lines without a colon are skipped. */
function parseHeaderBlock(head) {
  const headers = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length) headers.at(-1).value += line;
    else if (line.includes(':')) {
      const i = line.indexOf(':');
      headers.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1) });
    }
  }
  return headers.map(({ name, value }) => ({ name, value: value.trim() }));
}

const headerValue = (headers, name) => headers.find((h) => h.name.toLowerCase() === name)?.value;

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function decodeEncodedWords(s) {
  return s.replace(/(\?=)\s+(?==\?)/g, '$1').replace(ENCODED_WORD, (_, charset, encoding, text) => {
    const bytes = encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return decodeText(bytes, charset.split('*')[0]);
  });
}

const decodeHeader = (binValue) => decodeEncodedWords(Buffer.from(binValue, 'latin1').toString('utf8'));

/** `type/sub; a=b; c="d"` → {value: 'type/sub', params: {a, c}}; `name*=charset''%xx…` (RFC 2231) is decoded. */
function parseParams(header = '') {
  const [value] = header.split(';', 1);
  const params = {};
  for (const [, rawKey, rawVal] of header.slice(value.length).matchAll(/;\s*([^=\s;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g)) {
    const key = rawKey.toLowerCase();
    const val = rawVal.startsWith('"') ? rawVal.slice(1, -1).replace(/\\(.)/g, '$1') : rawVal.trim();
    const extended = /^([^']*)'[^']*'(.*)$/.exec(val);
    if (key.endsWith('*') && extended) {
      const bytes = Buffer.from(extended[2].replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
      params[key.slice(0, -1)] = decodeText(bytes, extended[1] || 'utf-8');
    } else params[key] ??= val;
  }
  return { value: value.trim(), params };
}

/** Splits a multipart body on its boundary; the preamble and epilogue are dropped. */
function splitMultipart(body, boundary) {
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${escaped}(--)?[ \\t]*(?:\\r?\\n|$)`, 'g');
  const parts = [];
  let start = -1;
  for (const m of body.matchAll(delimiter)) {
    if (start >= 0) parts.push(body.slice(start, m.index));
    if (m[1]) return parts;
    start = m.index + m[0].length;
  }
  if (start >= 0) parts.push(body.slice(start)); // no closing delimiter
  return parts;
}

function decodeTransfer(body, encoding = '') {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
    case 'quoted-printable':
      return Buffer.from(body.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '')
        .replace(/=([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    default:
      return Buffer.from(body, 'latin1');
  }
}

const attachmentIdFor = (partId) => `ANGjdJ${Buffer.from(`part:${partId}`).toString('base64url')}`;

function partIdOfAttachment(attachmentId) {
  const m = /^ANGjdJ([A-Za-z0-9_-]+)$/.exec(attachmentId);
  const decoded = m && Buffer.from(m[1], 'base64url').toString();
  return decoded?.startsWith('part:') ? decoded.slice(5) : null;
}

/** Parses one MIME entity into a Gmail MessagePart; every leaf is also pushed to `leaves` with its decoded bytes. */
function parsePart(bin, partId, leaves) {
  const { head, body } = splitHeaderBody(bin);
  const headers = parseHeaderBlock(head).map(({ name, value }) => ({ name, value: decodeHeader(value) }));
  const contentType = parseParams(headerValue(headers, 'content-type'));
  const mimeType = contentType.value.toLowerCase() || 'text/plain';
  const filename = parseParams(headerValue(headers, 'content-disposition')).params.filename ?? contentType.params.name ?? '';
  const part = { partId, mimeType, filename, headers, body: { size: 0 } };
  if (mimeType.startsWith('multipart/') && contentType.params.boundary) {
    part.parts = splitMultipart(body, contentType.params.boundary)
      .map((child, i) => parsePart(child, partId === '' ? String(i) : `${partId}.${i}`, leaves));
    return part;
  }
  const data = decodeTransfer(body, headerValue(headers, 'content-transfer-encoding'));
  part.body = filename
    ? { attachmentId: attachmentIdFor(partId), size: data.length }
    : { size: data.length, data: data.toString('base64url') };
  leaves.push({ partId, mimeType, filename, charset: contentType.params.charset, data });
  return part;
}

const messageIdsIn = (value = '') => value.match(/<[^<>\s]+>/g) ?? [];

/** Everything the fake needs to know about a raw message, parsed once per raw buffer. */
const analysisCache = new WeakMap();

function analyze(raw) {
  let info = analysisCache.get(raw);
  if (info) return info;
  const leaves = [];
  const payload = parsePart(raw.toString('latin1'), '', leaves);
  const header = (name) => headerValue(payload.headers, name);
  const inline = leaves.filter((leaf) => !leaf.filename);
  const textOf = (leaf) => decodeText(leaf.data, leaf.charset);
  const plain = inline.find((leaf) => leaf.mimeType === 'text/plain');
  const html = inline.find((leaf) => leaf.mimeType === 'text/html');
  const preview = plain ? textOf(plain) : html ? htmlToText(textOf(html)) : '';
  const ownId = header('message-id') ?? '';
  info = {
    payload,
    leaves,
    header,
    subject: header('subject') ?? '',
    messageId: messageIdsIn(ownId)[0] ?? ownId.trim(),
    // References first, In-Reply-To (the direct parent) last: callers walk it backwards, closest ancestor first.
    references: [...new Set([...messageIdsIn(header('references')), ...messageIdsIn(header('in-reply-to'))])],
    snippet: escapeHtml(preview.replace(/\s+/g, ' ').trim().slice(0, 200).trim()),
    searchText: [raw.toString('utf8'), ...payload.headers.map((h) => h.value), ...inline.map(textOf)].join('\n').toLowerCase(),
  };
  analysisCache.set(raw, info);
  return info;
}

const normalizeSubject = (subject) =>
  subject.replace(/^\s*((re|fwd?|aw|wg|sv)\s*(\[\d+\])?\s*:\s*)+/i, '').replace(/\s+/g, ' ').trim().toLowerCase();

/** Removes every Message-ID header (with its folded lines) and appends `Message-ID: newId` to the header block. */
function replaceMessageId(raw, newId) {
  const { head, sep, body } = splitHeaderBody(raw.toString('latin1'));
  const eol = head.includes('\r\n') ? '\r\n' : '\n';
  const kept = [];
  let dropping = false;
  for (const line of head.split(/\r?\n/)) {
    dropping = /^message-id\s*:/i.test(line) || (dropping && /^[ \t]/.test(line));
    if (!dropping) kept.push(line);
  }
  kept.push(`Message-ID: ${newId}`);
  return Buffer.from(kept.join(eol) + (sep || eol + eol) + body, 'latin1');
}

// ---------------------------------------------------------------------------------------------------------------
// Gmail search (`q`).

const IN_LABELS = {
  inbox: 'INBOX', sent: 'SENT', draft: 'DRAFT', drafts: 'DRAFT', spam: 'SPAM', trash: 'TRASH', chats: 'CHAT',
  starred: 'STARRED', important: 'IMPORTANT',
};
const IS_LABELS = { unread: 'UNREAD', starred: 'STARRED', important: 'IMPORTANT' };
const DAY_MS = 86_400_000;
const AGE_UNIT_MS = { d: DAY_MS, m: 30 * DAY_MS, y: 365 * DAY_MS };
const labelKey = (label) => label.toLowerCase().replace(/[\s/]+/g, '-');
const hasLabel = (label) => (msg) => msg.labelIds.includes(label);

/** epoch seconds or yyyy/mm/dd (also yyyy-mm-dd) → epoch ms. */
function parseSearchDate(value) {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const m = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$/.exec(value);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN;
}

/** Compiles one search term into `(msg, info) => boolean`; throws 400 for what this fake does not understand. */
function termPredicate(operator, value, now) {
  const unsupported = () => googleError(400, `Fake Gmail does not support the search term "${operator ? `${operator}:` : ''}${value}"`);
  const needle = value.toLowerCase();
  switch (operator) {
    case undefined:
      return (msg, info) => info.searchText.includes(needle);
    case 'in':
      if (needle === 'anywhere') return () => true;
      if (!IN_LABELS[needle]) throw unsupported();
      return hasLabel(IN_LABELS[needle]);
    case 'is':
      if (needle === 'read') return (msg) => !msg.labelIds.includes('UNREAD');
      if (!IS_LABELS[needle]) throw unsupported();
      return hasLabel(IS_LABELS[needle]);
    case 'label':
      return (msg) => msg.labelIds.some((label) => labelKey(label) === labelKey(value));
    case 'rfc822msgid': {
      const wanted = value.replace(/^<|>$/g, '');
      return (msg, info) => info.messageId.replace(/^<|>$/g, '') === wanted;
    }
    case 'from': case 'to': case 'cc': case 'subject':
      return (msg, info) => (info.header(operator) ?? '').toLowerCase().includes(needle);
    case 'newer_than': case 'older_than': {
      const m = /^(\d+)([dmy])$/.exec(needle);
      if (!m) throw unsupported();
      const cutoff = now - Number(m[1]) * AGE_UNIT_MS[m[2]];
      return operator === 'newer_than' ? (msg) => msg.internalDate > cutoff : (msg) => msg.internalDate < cutoff;
    }
    case 'after': case 'before': {
      const t = parseSearchDate(value);
      if (Number.isNaN(t)) throw unsupported();
      return operator === 'after' ? (msg) => msg.internalDate > t : (msg) => msg.internalDate < t;
    }
    default:
      throw unsupported();
  }
}

/** Compiles `q` into a predicate; `reachesSpamTrash` is true when a term asks for SPAM/TRASH explicitly. */
function compileQuery(q = '') {
  const now = Date.now();
  const terms = [];
  let reachesSpamTrash = false;
  for (const [token, negated, operator, quoted, bare] of q.matchAll(/(-)?(?:([A-Za-z_0-9]+):)?(?:"([^"]*)"|([^\s"]+))/g)) {
    if (token === 'AND') continue;
    if (token === 'OR' || /[{}()]/.test(token)) {
      throw googleError(400, `Fake Gmail does not support OR/grouping in search queries: "${q}"`);
    }
    const op = operator?.toLowerCase();
    const value = quoted ?? bare;
    if (op === 'in' && !negated && ['spam', 'trash', 'anywhere'].includes(value.toLowerCase())) reachesSpamTrash = true;
    const test = termPredicate(op, value, now);
    terms.push(negated ? (msg, info) => !test(msg, info) : test);
  }
  return { reachesSpamTrash, matches: (msg) => terms.every((test) => test(msg, analyze(msg.raw))) };
}

// ---------------------------------------------------------------------------------------------------------------
// Query-string helpers.

/** Repeated query parameter, also accepting comma-separated values and the `name[]` spelling. */
const listParam = (query, name) =>
  [...query.getAll(name), ...query.getAll(`${name}[]`)].flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

function uintParam(query, name, fallback) {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) {
    throw googleError(400, `Invalid value at '${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}' (TYPE_UINT32), "${raw}"`);
  }
  return Number(raw);
}

/** Slices one page per `maxResults`/`pageToken` (tokens are offsets); returns the page and the next token. */
function paginate(items, query) {
  const size = Math.min(uintParam(query, 'maxResults', 100) || 100, MAX_PAGE);
  const token = query.get('pageToken');
  if (token && !/^\d+$/.test(token)) throw googleError(400, 'Invalid pageToken');
  const offset = Number(token ?? 0);
  const next = offset + size < items.length ? String(offset + size) : undefined;
  return { page: items.slice(offset, offset + size), nextPageToken: next };
}

const omitEmpty = (object) => Object.fromEntries(Object.entries(object)
  .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));

function readJsonObject(body) {
  let value;
  try {
    value = body.trim() ? JSON.parse(body) : {};
  } catch {
    throw googleError(400, 'Invalid JSON payload received. Unexpected token.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw googleError(400, 'Invalid JSON payload received. Root element must be a message.');
  }
  return value;
}

function stringArrayField(body, field) {
  const value = body[field] ?? [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw googleError(400, `Invalid value at '${field}': expected a list of strings`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// The mailbox: messages, threads, drafts and history.

const HISTORY_KEYS = {
  messageAdded: 'messagesAdded', messageDeleted: 'messagesDeleted', labelAdded: 'labelsAdded', labelRemoved: 'labelsRemoved',
};

const messageRef = (msg) => ({ id: msg.id, threadId: msg.threadId });
const messageSnapshot = (msg) => ({ ...messageRef(msg), labelIds: [...msg.labelIds] });

class Mailbox {
  /** @type {Map<string, {id: string, threadId: string, labelIds: string[], raw: Buffer, internalDate: number, historyId: number}>} */
  messages = new Map();
  drafts = [];
  sent = [];
  history = [];
  historyId = 1_000_000;
  oldestValidHistoryId = 0;
  #messageSeq = 0;
  #draftSeq = 0;

  constructor(address) {
    this.address = address;
  }

  #record(msg, change) {
    this.historyId += randomInt(1, 10); // Gmail history ids increase, but not contiguously
    msg.historyId = this.historyId;
    this.history.push({ id: String(this.historyId), messages: [messageRef(msg)], ...change });
  }

  /** Stores a message (threadId undefined → a new thread) and records `messagesAdded`. */
  add({ raw, threadId, labelIds, internalDate = Date.now() }) {
    const date = Number(internalDate);
    if (!Number.isSafeInteger(date)) throw new TypeError(`internalDate must be epoch milliseconds, got ${internalDate}`);
    this.#messageSeq = (this.#messageSeq + 1) % 0x100000;
    const id = ((BigInt(date) << 20n) + BigInt(this.#messageSeq)).toString(16);
    const msg = { id, threadId: threadId ?? id, labelIds: [...labelIds], raw, internalDate: date, historyId: 0 };
    this.messages.set(id, msg);
    this.#record(msg, { messagesAdded: [{ message: messageSnapshot(msg) }] });
    return msg;
  }

  get(id) {
    if (!/^[0-9a-f]{1,16}$/i.test(id)) throw googleError(400, 'Invalid id value');
    const msg = this.messages.get(id);
    if (!msg) throw googleError(404);
    return msg;
  }

  /** Deletes a message permanently and records `messagesDeleted`. */
  remove(msg) {
    this.messages.delete(msg.id);
    this.#record(msg, { messagesDeleted: [{ message: messageSnapshot(msg) }] });
  }

  modify(msg, add, remove) {
    const both = add.find((label) => remove.includes(label));
    if (both) throw googleError(400, `Label ${both} cannot be both added and removed`);
    const added = [...new Set(add)].filter((label) => !msg.labelIds.includes(label));
    const removed = [...new Set(remove)].filter((label) => msg.labelIds.includes(label));
    if (!added.length && !removed.length) return;
    msg.labelIds = [...msg.labelIds.filter((label) => !removed.includes(label)), ...added];
    const change = {};
    if (added.length) change.labelsAdded = [{ message: messageSnapshot(msg), labelIds: added }];
    if (removed.length) change.labelsRemoved = [{ message: messageSnapshot(msg), labelIds: removed }];
    this.#record(msg, change);
  }

  byMessageId(rfcMessageId) {
    return [...this.messages.values()].find((msg) => analyze(msg.raw).messageId === rfcMessageId);
  }

  /** Inbound threading: the thread of the closest ancestor named by In-Reply-To/References, else undefined. */
  inboundThreadId(raw) {
    const ancestor = analyze(raw).references.toReversed().map((ref) => this.byMessageId(ref)).find(Boolean);
    return ancestor?.threadId;
  }

  /**
   * Gmail's documented rule for `threadId` on drafts.create/messages.send: honoured only if the Subject matches
   * the thread's and References/In-Reply-To name a message of the thread; otherwise the message starts a thread.
   */
  replyThreadId(raw, requested) {
    if (requested === undefined) return undefined;
    if (typeof requested !== 'string' || !/^[0-9a-f]{1,16}$/i.test(requested)) throw googleError(400, 'Invalid thread_id value');
    const members = [...this.messages.values()].filter((msg) => msg.threadId === requested);
    if (!members.length) throw googleError(404);
    const info = analyze(raw);
    const subjectMatches = normalizeSubject(analyze(members[0].raw).subject) === normalizeSubject(info.subject);
    const referencesThread = members.some((msg) => info.references.includes(analyze(msg.raw).messageId));
    return subjectMatches && referencesThread ? requested : undefined;
  }

  createDraft(raw, threadId) {
    const message = this.add({ raw, threadId: this.replyThreadId(raw, threadId), labelIds: ['DRAFT'] });
    const draft = { id: `r${5_000_000_000_000_000_000n + BigInt(++this.#draftSeq)}`, message };
    this.drafts.push(draft);
    return draft;
  }

  draft(id) {
    const draft = this.drafts.find((d) => d.id === id);
    if (!draft) throw googleError(404);
    return draft;
  }

  deleteDraft(draft) {
    this.drafts.splice(this.drafts.indexOf(draft), 1);
    this.remove(draft.message);
  }

  send(raw, threadId) {
    if (!['to', 'cc', 'bcc'].some((name) => analyze(raw).header(name))) throw googleError(400, 'Recipient address required');
    const rewritten = replaceMessageId(raw, `<CA+fake${randomToken(30)}@mail.gmail.com>`);
    const msg = this.add({ raw: rewritten, threadId: this.replyThreadId(rewritten, threadId), labelIds: ['SENT'] });
    this.sent.push(msg);
    return msg;
  }

  /** Messages newest first (ties: most recently stored first) filtered like messages.list. */
  search(candidates, query) {
    const { matches, reachesSpamTrash } = compileQuery(query.get('q') ?? '');
    const required = listParam(query, 'labelIds');
    const withSpamTrash = reachesSpamTrash || query.get('includeSpamTrash') === 'true';
    return candidates.toReversed().sort((a, b) => b.internalDate - a.internalDate).filter((msg) =>
      required.every((label) => msg.labelIds.includes(label))
      && (withSpamTrash || !msg.labelIds.some((label) => label === 'SPAM' || label === 'TRASH'))
      && matches(msg));
  }

  /** history.list records strictly after `start`, restricted to `types` and `labelId` when given. */
  historySince(start, types, labelId) {
    if (start < this.oldestValidHistoryId) throw googleError(404);
    const keys = types.map((type) => HISTORY_KEYS[type]);
    const restrict = (record) => {
      if (!keys.length) return record;
      const kept = Object.fromEntries(keys.filter((key) => record[key]).map((key) => [key, record[key]]));
      return Object.keys(kept).length ? { id: record.id, messages: record.messages, ...kept } : null;
    };
    const involvesLabel = (record) => Object.values(HISTORY_KEYS).some((key) => (record[key] ?? [])
      .some((entry) => entry.message.labelIds.includes(labelId) || entry.labelIds?.includes(labelId)));
    return this.history.filter((record) => Number(record.id) > start).map(restrict)
      .filter((record) => record && (!labelId || involvesLabel(record)));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Gmail REST resources and routes.

const FORMATS = ['minimal', 'full', 'raw', 'metadata'];

function messageResource(msg, format, metadataHeaders = []) {
  const info = analyze(msg.raw);
  const resource = omitEmpty({
    id: msg.id, threadId: msg.threadId, labelIds: [...msg.labelIds], snippet: info.snippet,
    sizeEstimate: msg.raw.length, historyId: String(msg.historyId), internalDate: String(msg.internalDate),
  });
  if (format === 'raw') resource.raw = msg.raw.toString('base64url');
  if (format === 'full') resource.payload = info.payload;
  if (format === 'metadata') {
    const wanted = metadataHeaders.map((name) => name.toLowerCase());
    const headers = info.payload.headers.filter((h) => !wanted.length || wanted.includes(h.name.toLowerCase()));
    resource.payload = { partId: '', mimeType: info.payload.mimeType, filename: '', headers, body: { size: 0 } };
  }
  return resource;
}

function formatParam(query, fallback) {
  const format = (query.get('format') ?? fallback).toLowerCase();
  if (!FORMATS.includes(format)) throw googleError(400, `Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), "${format}"`);
  return format;
}

function rawField(value, field, missingMessage) {
  if (typeof value !== 'string' || !value) throw googleError(400, missingMessage);
  return decodeRaw(value, field);
}

/** Route table: [method, pattern relative to /gmail/v1/users/{userId}/, handler(request, mailbox, ...captures)]. */
const GMAIL_ROUTES = [
  ['GET', /^profile$/, (req, box) => json(200, {
    emailAddress: box.address,
    messagesTotal: box.messages.size,
    threadsTotal: new Set([...box.messages.values()].map((msg) => msg.threadId)).size,
    historyId: String(box.historyId),
  })],
  ['GET', /^messages$/, (req, box) => {
    const found = box.search([...box.messages.values()], req.query);
    const { page, nextPageToken } = paginate(found, req.query);
    return json(200, omitEmpty({ messages: page.map(messageRef), nextPageToken, resultSizeEstimate: found.length }));
  }],
  ['POST', /^messages\/send$/, (req, box) => {
    const body = readJsonObject(req.body);
    const raw = rawField(body.raw, 'raw', "'raw' RFC822 payload message string or uploading message via /upload/* URL required");
    const msg = box.send(raw, body.threadId);
    return json(200, { id: msg.id, threadId: msg.threadId, labelIds: [...msg.labelIds] });
  }],
  ['POST', /^messages\/batchModify$/, (req, box) => {
    const body = readJsonObject(req.body);
    const ids = stringArrayField(body, 'ids');
    if (!ids.length) throw googleError(400, 'ids must be non-empty');
    if (ids.length > MAX_BATCH_MODIFY_IDS) throw googleError(400, `Too many ids: at most ${MAX_BATCH_MODIFY_IDS} allowed`);
    const targets = ids.map((id) => box.get(id));
    const add = stringArrayField(body, 'addLabelIds');
    const remove = stringArrayField(body, 'removeLabelIds');
    for (const msg of targets) box.modify(msg, add, remove);
    return noContent();
  }],
  ['GET', /^messages\/([^/]+)$/, (req, box, id) =>
    json(200, messageResource(box.get(id), formatParam(req.query, 'full'), listParam(req.query, 'metadataHeaders')))],
  ['POST', /^messages\/([^/]+)\/modify$/, (req, box, id) => {
    const msg = box.get(id);
    const body = readJsonObject(req.body);
    box.modify(msg, stringArrayField(body, 'addLabelIds'), stringArrayField(body, 'removeLabelIds'));
    return json(200, { id: msg.id, threadId: msg.threadId, labelIds: [...msg.labelIds] });
  }],
  ['GET', /^messages\/([^/]+)\/attachments\/([^/]+)$/, (req, box, id, attachmentId) => {
    const partId = partIdOfAttachment(attachmentId);
    const leaf = analyze(box.get(id).raw).leaves.find((l) => l.filename && l.partId === partId);
    if (!leaf) throw googleError(400, 'Invalid attachment token');
    return json(200, { size: leaf.data.length, data: leaf.data.toString('base64url') });
  }],
  ['GET', /^history$/, (req, box) => {
    const start = req.query.get('startHistoryId');
    if (!start) throw googleError(400, 'Required parameter: startHistoryId');
    if (!/^\d+$/.test(start)) throw googleError(400, `Invalid value at 'start_history_id' (TYPE_UINT64), "${start}"`);
    const types = listParam(req.query, 'historyTypes');
    const unknown = types.find((type) => !HISTORY_KEYS[type]);
    if (unknown) throw googleError(400, `Invalid value at 'history_types' (type.googleapis.com/google.apps.gmail.v1.HistoryType), "${unknown}"`);
    const records = box.historySince(Number(start), types, req.query.get('labelId'));
    const { page, nextPageToken } = paginate(records, req.query);
    return json(200, omitEmpty({ history: page, nextPageToken, historyId: String(box.historyId) }));
  }],
  ['POST', /^drafts$/, (req, box) => {
    const { message } = readJsonObject(req.body);
    if (message === null || typeof message !== 'object') throw googleError(400, 'Missing draft message');
    const raw = rawField(message.raw, 'message.raw', 'Missing draft message');
    const draft = box.createDraft(raw, message.threadId);
    return json(200, { id: draft.id, message: { ...messageRef(draft.message), labelIds: ['DRAFT'] } });
  }],
  ['GET', /^drafts$/, (req, box) => {
    const byMessage = new Map(box.drafts.map((d) => [d.message, d]));
    const found = box.search(box.drafts.map((d) => d.message), req.query);
    const { page, nextPageToken } = paginate(found, req.query);
    const drafts = page.map((msg) => ({ id: byMessage.get(msg).id, message: messageRef(msg) }));
    return json(200, omitEmpty({ drafts, nextPageToken, resultSizeEstimate: found.length }));
  }],
  ['GET', /^drafts\/([^/]+)$/, (req, box, id) => {
    const draft = box.draft(id);
    return json(200, { id: draft.id, message: messageResource(draft.message, formatParam(req.query, 'full')) });
  }],
  ['DELETE', /^drafts\/([^/]+)$/, (req, box, id) => {
    box.deleteDraft(box.draft(id));
    return noContent();
  }],
];

// ---------------------------------------------------------------------------------------------------------------
// Batch: parsing the multipart request and serializing the multipart response.

/** Parses one `application/http` part into a request; the outer Authorization applies unless the part has its own. */
function parseBatchPart(part, outerAuthorization) {
  const { head, body } = splitHeaderBody(part);
  const partHeaders = parseHeaderBlock(head);
  if (!/^application\/http\b/i.test(headerValue(partHeaders, 'content-type') ?? '')) {
    throw googleError(400, 'Each part of a batch request must have Content-Type: application/http');
  }
  const inner = splitHeaderBody(body.replace(/^(\r?\n)+/, ''));
  const [requestLine = '', ...headerLines] = inner.head.split(/\r?\n/);
  const line = /^([A-Z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(requestLine.trim());
  if (!line) throw googleError(400, `Invalid request line in batch part: "${requestLine}"`);
  const url = new URL(line[2], 'http://batch.invalid');
  const headers = Object.fromEntries(parseHeaderBlock(headerLines.join('\n')).map(({ name, value }) => [name.toLowerCase(), value]));
  if (!headers.authorization && outerAuthorization) headers.authorization = outerAuthorization;
  const contentId = headerValue(partHeaders, 'content-id');
  return {
    contentId: contentId && `<response-${contentId.replace(/^<|>$/g, '')}>`,
    request: { method: line[1], path: url.pathname + url.search, headers, body: inner.body.replace(/\r?\n$/, '') },
  };
}

function serializeBatch(boundary, results) {
  const parts = results.map(({ contentId, response }) => {
    const headers = { ...response.headers };
    if (response.body) headers['content-length'] = String(Buffer.byteLength(response.body));
    const headerLines = Object.entries(headers).map(([name, value]) => `${name.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase())}: ${value}\r\n`);
    return `--${boundary}\r\nContent-Type: application/http\r\n${contentId ? `Content-ID: ${contentId}\r\n` : ''}\r\n`
      + `HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] ?? ''}\r\n${headerLines.join('')}\r\n${response.body}\r\n`;
  });
  return `${parts.join('')}--${boundary}--\r\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAI chat completions helpers.

const contentText = (content) => (Array.isArray(content)
  ? content.filter((part) => part?.type === 'text').map((part) => part.text).join(' ')
  : String(content ?? ''));

/** Default assistant reply: quotes the first 60 characters of the last user message. */
function defaultLlmReply(request) {
  const lastUser = request.messages.findLast((m) => m?.role === 'user');
  const topic = contentText(lastUser?.content).replace(/\s+/g, ' ').trim().slice(0, 60);
  return `Thank you for your message about "${topic}". We are looking into it.`;
}

const estimateTokens = (text) => Math.max(1, Math.ceil(text.length / 4));

const maskKey = (key) => (key.length > 8 ? `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}` : '*'.repeat(key.length));

// ---------------------------------------------------------------------------------------------------------------

/**
 * Starts the fake services on 127.0.0.1.
 * @param {{port?: number, mailboxAddress: string, clientId?: string, clientSecret?: string, refreshToken?: string,
 *          llmApiKey?: string, emlFiles?: string[]}} opts
 */
export async function startFakes(opts = {}) {
  const {
    port = 0, mailboxAddress, clientId = 'test-client-id', clientSecret = 'test-client-secret',
    refreshToken = 'test-refresh-token', llmApiKey = 'test-llm-key', emlFiles = [],
  } = opts;
  if (!mailboxAddress) throw new TypeError('startFakes: mailboxAddress is required');

  const box = new Mailbox(mailboxAddress);
  const requests = [];
  const faults = [];
  const delays = [];
  const accessTokens = new Map(); // token -> expiry (epoch ms)
  let tokensIssued = 0;

  // --- OAuth ------------------------------------------------------------------------------------------------
  function tokenEndpoint(req) {
    const form = Object.fromEntries(new URLSearchParams(req.body));
    if (!form.grant_type) throw oauthError(400, 'invalid_request', 'Missing required parameter: grant_type');
    if (form.grant_type !== 'refresh_token') throw oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type}`);
    if (!form.client_id) throw oauthError(400, 'invalid_request', 'Could not determine client ID from request.');
    if (form.client_id !== clientId) throw oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    if (form.client_secret !== clientSecret) throw oauthError(401, 'invalid_client', 'Unauthorized');
    if (!form.refresh_token) throw oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
    if (form.refresh_token !== refreshToken) throw oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    const accessToken = `ya29.fake-${randomToken(48)}`;
    accessTokens.set(accessToken, Date.now() + TOKEN_LIFETIME_S * 1000);
    tokensIssued += 1;
    return json(200, { access_token: accessToken, expires_in: TOKEN_LIFETIME_S, scope: GMAIL_SCOPE, token_type: 'Bearer' },
      { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' });
  }

  // --- Gmail ------------------------------------------------------------------------------------------------
  function gmail(req, url) {
    const m = /^\/gmail\/v1\/users\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) throw googleError(404, 'Not Found');
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!(accessTokens.get(token) > Date.now())) throw googleError(401);
    const userId = decodeURIComponent(m[1]);
    if (userId !== 'me' && userId.toLowerCase() !== mailboxAddress.toLowerCase()) {
      throw googleError(403, `Delegation denied for ${userId}`);
    }
    for (const [method, pattern, handler] of GMAIL_ROUTES) {
      const match = pattern.exec(m[2]);
      if (match && method === req.method) {
        return handler({ ...req, query: url.searchParams }, box, ...match.slice(1).map(decodeURIComponent));
      }
    }
    throw googleError(404, 'Not Found');
  }

  function batch(req) {
    const { value, params } = parseParams(req.headers['content-type']);
    if (value.toLowerCase() !== 'multipart/mixed' || !params.boundary) {
      throw googleError(400, 'Batch requests must have Content-Type: multipart/mixed with a boundary');
    }
    const parts = splitMultipart(req.body, params.boundary);
    if (!parts.length) throw googleError(400, 'Batch request contains no parts');
    if (parts.length > MAX_BATCH_PARTS) throw googleError(400, `Too many requests in batch: at most ${MAX_BATCH_PARTS} allowed`);
    const calls = parts.map((part) => parseBatchPart(part, req.headers.authorization));
    const results = calls.map(({ contentId, request }) => ({
      contentId,
      response: dispatch(request, gmail, { batchInner: true }),
    }));
    const boundary = `batch_${randomToken(18)}`;
    return { status: 200, headers: { 'content-type': `multipart/mixed; boundary=${boundary}` }, body: serializeBatch(boundary, results) };
  }

  // --- LLM --------------------------------------------------------------------------------------------------
  function chatCompletions(req) {
    const key = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!key) {
      throw openaiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header "
        + 'using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).', 'invalid_api_key');
    }
    if (key !== llmApiKey) {
      throw openaiError(401, `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`);
    }
    let body;
    try {
      body = JSON.parse(req.body);
    } catch {
      throw openaiError(400, 'We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.');
    }
    if (typeof body?.model !== 'string' || !body.model) throw openaiError(400, 'you must provide a model parameter');
    if (!Array.isArray(body.messages) || !body.messages.length) {
      throw openaiError(400, "Missing required parameter: 'messages'.", 'missing_required_parameter', 'messages');
    }
    if (body.stream) throw openaiError(400, 'This fake does not support stream=true.', null, 'stream');
    const content = String(fake.llmReply(body));
    const promptTokens = estimateTokens(body.messages.map((m) => contentText(m?.content)).join('\n'));
    const completionTokens = estimateTokens(content);
    return json(200, {
      id: `chatcmpl-${randomToken(22)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
  }

  // --- Dispatch, faults, request log ------------------------------------------------------------------------
  function route(req, url) {
    const { pathname } = url;
    if (req.method === 'POST' && pathname === '/token') return tokenEndpoint(req);
    if (req.method === 'POST' && pathname === '/batch/gmail/v1') return batch(req);
    if (req.method === 'POST' && pathname === '/v1/chat/completions') return chatCompletions(req);
    if (pathname.startsWith('/gmail/v1/')) return gmail(req, url);
    if (surfaceOf(pathname) === 'openai') throw openaiError(404, `Invalid URL (${req.method} ${pathname})`);
    return { status: 404, headers: { 'content-type': 'text/plain; charset=UTF-8' }, body: 'Not Found' };
  }

  /** Milliseconds to hold the response of a request matched by `delay()`, or 0. */
  function takeDelay(req) {
    const key = `${req.method} ${req.path}`;
    const d = delays.find((x) => { x.matcher.lastIndex = 0; return x.matcher.test(key); });
    if (!d) return 0;
    if (--d.remaining === 0) delays.splice(delays.indexOf(d), 1);
    return d.ms;
  }

  function takeFault(req, { pathname }) {
    const key = `${req.method} ${req.path}`;
    const fault = faults.find((f) => {
      f.matcher.lastIndex = 0;
      return f.matcher.test(key);
    });
    if (!fault) return null;
    if (--fault.remaining === 0) faults.splice(faults.indexOf(fault), 1);
    const { status, body = DEFAULT_ERROR_BODY[surfaceOf(pathname)](status), headers = {} } = fault;
    const lowered = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), String(value)]));
    if (status === 204) return { status, headers: lowered, body: '' };
    return { status, headers: { 'content-type': JSON_TYPE, ...lowered }, body: typeof body === 'string' ? body : JSON.stringify(body, null, 2) };
  }

  /** Logs the request, applies an injected fault if one matches, else routes it. */
  function dispatch(req, handler, marks = {}) {
    requests.push({ ...req, ...marks });
    const url = new URL(req.path, 'http://x');
    try {
      return takeFault(req, url) ?? handler(req, url);
    } catch (error) {
      if (error instanceof HttpError) return error.response;
      throw error;
    }
  }

  const server = http.createServer((incoming, res) => {
    const chunks = [];
    incoming.on('data', (chunk) => chunks.push(chunk));
    incoming.on('end', () => {
      const req = { method: incoming.method, path: incoming.url, headers: { ...incoming.headers }, body: Buffer.concat(chunks).toString('utf8') };
      let response;
      try {
        response = dispatch(req, route);
      } catch (error) { // a bug in the fake itself: make it loud, not vendor-shaped
        console.error('[fakes] internal error:', error);
        response = { status: 500, headers: { 'content-type': 'text/plain' }, body: `fake internal error: ${error.stack}` };
      }
      const wait = takeDelay(req);
      const send = () => { if (!res.destroyed) res.writeHead(response.status, response.headers).end(response.body); };
      if (wait > 0) setTimeout(send, wait).unref(); else send();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  /** Stores an incoming message; without threadId it joins the thread named by In-Reply-To/References, if any. */
  function addMessage({ raw, threadId, labelIds = ['INBOX', 'UNREAD'], internalDate }) {
    const bytes = Buffer.from(raw);
    const msg = box.add({ raw: bytes, threadId: threadId ?? box.inboundThreadId(bytes), labelIds, internalDate });
    return { id: msg.id, threadId: msg.threadId };
  }

  for (const file of emlFiles) addMessage({ raw: readFileSync(file) });

  const fake = {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
    addMessage,
    messages: box.messages,
    drafts: box.drafts,
    sent: box.sent,
    requests,
    get tokensIssued() {
      return tokensIssued;
    },
    /** The next `times` requests whose `${method} ${pathWithQuery}` matches `matcher` answer with `status`. */
    fail(matcher, { status, body, headers, times = 1 }) {
      if (!(matcher instanceof RegExp)) throw new TypeError('fail: matcher must be a RegExp');
      if (!Number.isInteger(status)) throw new TypeError('fail: status must be an integer');
      if (!(times >= 1)) throw new TypeError('fail: times must be >= 1 (Infinity: every matching request)');
      faults.push({ matcher, status, body, headers, remaining: times });
    },
    /** The next `times` requests matching `matcher` are answered only after `ms` milliseconds (a slow vendor). */
    delay(matcher, { ms, times = 1 }) {
      if (!(matcher instanceof RegExp)) throw new TypeError('delay: matcher must be a RegExp');
      delays.push({ matcher, ms, remaining: times });
    },
    /** Every startHistoryId older than the current history id now answers 404 in history.list. */
    expireHistory() {
      box.oldestValidHistoryId = box.historyId;
    },
    /** `(requestBody) => string`: the assistant content of chat completions; replace it per test. */
    llmReply: defaultLlmReply,
  };
  return fake;
}
