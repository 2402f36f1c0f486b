/**
 * Loopback HTTP fake of Meta's Graph API as used for Facebook Messenger and Instagram Direct customer service:
 *
 *   GET  /{version}/{psid|igsid}?fields=…&access_token=…   User Profile API (Messenger PSID / Instagram IGSID)
 *   GET  /{version}/me, /{version}/{page-id}               the Page behind the Page access token ({name, id, …})
 *   POST /{version}/me/messages?access_token=…             Send API (also /{page-id}/messages, /{ig-account-id}/messages)
 *
 * and helpers that play Meta's side of the webhooks the worker serves:
 *
 *   metaSignature(appSecret, rawBody)                 the X-Hub-Signature-256 value, `sha256=<hex>`
 *   metaJson(value)                                   a body serialised the way Meta sends it (escaped, see below)
 *   messengerEvent(…), instagramEvent(…)              full webhook bodies of a message (or echo)
 *   batchWebhooks(...bodies)                          several bodies batched into one, as Meta does
 *   postMetaWebhook(webhookUrl, body, opts)           posts a signed notification the way Meta does
 *   verifyMetaSubscription(webhookUrl, opts)          the GET hub.mode=subscribe verification request
 *
 * Vendor pages followed:
 *   https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages      (message, attachments)
 *   https://developers.facebook.com/documentation/business-messaging/messenger-platform/webhooks/webhook-events/message-echoes
 *   https://developers.facebook.com/docs/messenger-platform/instagram/features/webhook              (object "instagram")
 *   https://developers.facebook.com/documentation/business-messaging/instagram-messaging/webhooks   (IG payload, is_echo)
 *   https://developers.facebook.com/docs/graph-api/webhooks/getting-started                       (verification
 *       request hub.mode/hub.challenge/hub.verify_token; Validating Payloads, X-Hub-Signature-256)
 *   https://developers.facebook.com/docs/messenger-platform/webhooks#security                     (the signed body is
 *       the escaped one: äöå → \u00e4\u00f6\u00e5, / → \/, < → \u003C, % → \u0025, @ → \u0040)
 *   https://developers.facebook.com/docs/messenger-platform/identity/user-profile                  (PSID profile fields)
 *   https://developers.facebook.com/docs/messenger-platform/instagram/features/user-profile        (IGSID profile fields)
 *   https://developers.facebook.com/docs/messenger-platform/reference/send-api                     (Send API request,
 *       messaging_type, `{"recipient_id","message_id"}`)
 *   https://developers.facebook.com/docs/messenger-platform/error-codes                            (Messenger codes:
 *       4, 10/2018278, 100/2018001, 190, 551, 613; example error body)
 *   https://developers.facebook.com/docs/graph-api/guides/error-handling                           (Graph error shape,
 *       codes 1, 2, 4, 10, 17, 32, 190)
 *
 * Faithful to the vendor:
 * - Errors are Graph's `{"error":{"message","type","code","error_subcode"?,"is_transient"?,"fbtrace_id"}}`
 *   (application/json; charset=UTF-8), the trace id also in `x-fb-trace-id`; OAuthException errors carry
 *   `WWW-Authenticate: OAuth "Facebook Platform" "invalid_token"|"invalid_request" "<message>"`. Every response
 *   has `facebook-api-version` and `x-fb-request-id`.
 * - Access token from the `access_token` query/body parameter or an `Authorization: Bearer|OAuth …` header (Graph
 *   takes all three). None: 400 code 104 "An access token is required to request this resource." (code 2500 "An
 *   active access token must be used to query information about the current user." on /me). Wrong: 400 code 190
 *   "Invalid OAuth access token - Cannot parse access token"; after `revokeToken()`: 190 subcode 460.
 * - Profiles: Graph returns the requested fields in request order plus `id`, omits fields without a value, and
 *   without `fields` returns `name` and `id`. PSIDs have id, name, first_name, last_name, profile_pic, locale,
 *   timezone, gender; IGSIDs have id, name, username, profile_pic, follower_count, is_user_follow_business,
 *   is_business_follow_user, is_verified_user. Another field: 400 code 100 "(#100) Tried accessing nonexisting
 *   field (f) on node type (User)" (IGSIDs: node type IGBusinessScopedID, as reported on Meta's developer forum).
 *   An unknown id: 400 GraphMethodException code 100 subcode 33 "Unsupported get request. Object with ID '…' does
 *   not exist, cannot be loaded due to missing permissions, or does not support this operation. …".
 * - Send API: JSON body `{"recipient":{"id"},"messaging_type","message":{"text"}|{"attachment"},"tag"?}`, or the
 *   same as form/query parameters whose values are JSON (the docs' curl form, single quotes tolerated). Checks, in
 *   order: recipient (code 100 "(#100) The parameter recipient is required"), sender_action vs message, messaging_type
 *   required and one of RESPONSE/UPDATE/MESSAGE_TAG, MESSAGE_TAG needs a `tag` (Instagram: HUMAN_AGENT only),
 *   message non-empty, text ≤ 2000 characters (Messenger) or ≤ 1000 UTF-8 bytes (Instagram), recipient known to
 *   this Page/account (else 100/2018001 "(#100) No matching user found"), messaging window open (else 10/2018278
 *   "(#10) This message is sent outside of allowed window. …"). 200 `{"recipient_id","message_id"}`;
 *   a sender_action answers `{"recipient_id"}` only.
 * - message_id / mid shapes: Messenger `m_` + 86 base64url characters; Instagram the long base64 `aWdfZAG1f…ZDZD`
 *   ids (base64 of `…:<ig account id>:<digits>:<digits>`), as seen in real payloads.
 * - Webhooks: `{"object":"page"|"instagram","entry":[{"id","time","messaging":[{"sender","recipient","timestamp",
 *   "message"}]}]}`, times in epoch milliseconds; an echo swaps sender/recipient and adds `is_echo: true` (and
 *   Messenger's `app_id`). They are posted as `application/json` with `User-Agent: facebookexternalua`,
 *   `X-Hub-Signature: sha1=…` and `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`, the raw
 *   body being Meta's escaped serialisation (`metaJson`), so a worker that re-serialises before verifying fails.
 *
 * Simplified (deliberately):
 * - One Page, one linked Instagram account, one Page access token (Messenger API for Instagram style: the Page
 *   token also reads IGSIDs and sends to them). No appsecret_proof, no token debugging, no App/User tokens.
 * - Only the configured `version` is served; other paths answer 400 code 2500 "Unknown path components: …"
 *   (real Graph serves every live version), so a worker pointed at another version is caught.
 * - The platform of a `profiles` entry is its `platform` ('facebook' | 'instagram', never returned), else
 *   'instagram' when it has an Instagram-only field (username, follower_count, …), else 'facebook'. A Messenger
 *   profile without `name` gets "first_name last_name".
 * - The 24-hour window is not derived from webhooks (they go to the worker): it is open for everyone until
 *   `closeWindow(id)`. A closed window still lets MESSAGE_TAG + HUMAN_AGENT through unless closed with
 *   `{ humanAgent: true }` (past the 7-day human-agent window too). No other policy, delivery or read receipts.
 * - Attachments are accepted as given (not fetched or uploaded); no Attachment Upload API, no templates checks,
 *   no batch requests, no rate limiting of its own (inject it with `fail()`).
 * - `fail()` answers with any status and a Graph error; defaults per code below, per status 400 → 100,
 *   401 → 190, 403 → 200 (permission), 429 → 4, 500 → 1, 502/503 → 2. `body` replaces the body entirely.
 */
import http from 'node:http';
import { createHmac, randomBytes, randomInt } from 'node:crypto';

/** Defaults of startMeta() and the webhook builders (realistic shapes, not real ids or credentials). */
export const DEFAULT_VERSION = 'v21.0';
export const DEFAULT_PAGE_ID = '104857392018464';
export const DEFAULT_IG_ACCOUNT_ID = '17841405822304914';
export const DEFAULT_APP_ID = 1517776481860111; // the app_id of Meta's message_echoes example
export const DEFAULT_PAGE_ACCESS_TOKEN = 'EAAVjxQ0ZCZBc0BOzN7kP4yq9VhXcW3R2tL8mFdJ6sAeG1uYbHn5TpZCwK0oIvQrE3xMlDfS7aUgN2jBhWkC'
  + 'yP4ZAo9tRvX1mZBsLqE6dFuJ8wHiNZCcY3gKbT5pVaZDZD';
export const DEFAULT_PAGE_NAME = 'Edgedesk Test Page';

const JSON_TYPE = 'application/json; charset=UTF-8';
const MESSAGING_TYPES = ['RESPONSE', 'UPDATE', 'MESSAGE_TAG'];
const MESSAGE_TAGS = ['CONFIRMED_EVENT_UPDATE', 'POST_PURCHASE_UPDATE', 'ACCOUNT_UPDATE', 'HUMAN_AGENT'];
const MAX_MESSENGER_TEXT_CHARS = 2000;
const MAX_INSTAGRAM_TEXT_BYTES = 1000;
const SENDER_ACTIONS = ['typing_on', 'typing_off', 'mark_seen'];
const MESSENGER_FIELDS = new Set(['id', 'name', 'first_name', 'last_name', 'profile_pic', 'locale', 'timezone', 'gender']);
const INSTAGRAM_FIELDS = new Set(['id', 'name', 'username', 'profile_pic', 'follower_count', 'is_user_follow_business',
  'is_business_follow_user', 'is_verified_user']);
const INSTAGRAM_ONLY_FIELDS = [...INSTAGRAM_FIELDS].filter((f) => !MESSENGER_FIELDS.has(f));
const PAGE_FIELDS = new Set(['id', 'name', 'instagram_business_account']);
const OUTSIDE_WINDOW = '(#10) This message is sent outside of allowed window. Learn more about the new policy here: '
  + 'https://developers.facebook.com/docs/messenger-platform/policy-overview';

// ---------------------------------------------------------------------------------------------------------------
// Ids.

const digits = (n) => Array.from({ length: n }, (_, i) => (i === 0 ? randomInt(1, 10) : randomInt(0, 10))).join('');
/** A Messenger page-scoped id (16 digits). */
export const newPsid = () => digits(16);
/** An Instagram-scoped id (16 digits). */
export const newIgsid = () => digits(16);
/** A Messenger message id: `m_` + 86 base64url characters (64 random bytes). */
export const newMessengerMid = () => `m_${randomBytes(64).toString('base64url')}`;
/** An Instagram message id shaped like Meta's: `aWdfZAG1f…` + base64 of `:<account>:<digits>:<digits>` + `ZDZD`. */
export const newInstagramMid = (igAccountId = DEFAULT_IG_ACCOUNT_ID) => 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE'
  + Buffer.from(`:${igAccountId}:340282366841710301244${digits(18)}:${digits(35)}`).toString('base64').replace(/=+$/, '')
  + 'ZDZD';
/** A Graph fbtrace_id (23 base64url-ish characters, e.g. "AE-ZkBk9FvEOCOG9YOIUIcp"). */
const newTraceId = () => `A${randomBytes(17).toString('base64url').slice(0, 22)}`;

// ---------------------------------------------------------------------------------------------------------------
// Graph errors.

class GraphError extends Error {
  constructor(status, error, headers = {}) {
    super(error.message);
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

/** Default [HTTP status, type, message, subcode?, transient?] per Graph error code. */
const CODE_DEFAULTS = {
  1: [500, 'OAuthException', 'An unknown error occurred', undefined, true],
  2: [500, 'OAuthException', 'An unexpected error has occurred. Please retry your request later.', undefined, true],
  4: [400, 'OAuthException', '(#4) Application request limit reached', undefined, true],
  10: [400, 'OAuthException', OUTSIDE_WINDOW, 2018278],
  17: [400, 'OAuthException', '(#17) User request limit reached', undefined, true],
  32: [400, 'OAuthException', '(#32) Page request limit reached', undefined, true],
  100: [400, 'OAuthException', '(#100) Invalid parameter'],
  104: [400, 'OAuthException', 'An access token is required to request this resource.'],
  190: [400, 'OAuthException', 'Invalid OAuth access token - Cannot parse access token'],
  200: [403, 'OAuthException', '(#200) Requires pages_messaging permission to manage the object'],
  551: [400, 'OAuthException', "(#551) This person isn't available right now.", 1545041],
  613: [400, 'OAuthException', '(#613) Calls to this api have exceeded the rate limit.', undefined, true],
  2500: [400, 'OAuthException', 'An active access token must be used to query information about the current user.'],
};
const STATUS_DEFAULT_CODE = { 400: 100, 401: 190, 403: 200, 404: 100, 429: 4, 500: 1, 502: 2, 503: 2 };

/**
 * A Graph error `{status, body: {error}, headers}`. Omitted parts come from the code's defaults (and the code from
 * the status's); `subcode: null` drops a default subcode.
 */
export function graphErrorBody({ status, code, subcode, type, message } = {}) {
  const c = code ?? STATUS_DEFAULT_CODE[status] ?? (status >= 500 ? 1 : 100);
  const [defStatus, defType, defMessage, defSubcode, transient] = CODE_DEFAULTS[c] ?? [400, 'OAuthException', `(#${c}) Error`];
  const sub = subcode === undefined ? defSubcode : subcode;
  const error = { message: message ?? defMessage, type: type ?? defType, code: c };
  if (sub != null) error.error_subcode = sub;
  if (transient) error.is_transient = true;
  return { status: status ?? defStatus, error };
}

function graphError(opts, headers) {
  const { status, error } = graphErrorBody(opts);
  return new GraphError(status, error, headers);
}

const tokenError = (message, subcode) => graphError({ code: 190, message, subcode });
const badParam = (message, subcode) => graphError({ code: 100, message: `(#100) ${message}`, subcode });
const unknownPath = (path) => graphError({ code: 2500, message: `Unknown path components: ${path}` });
const unsupported = (verb, id) => graphError({
  code: 100,
  subcode: 33,
  type: 'GraphMethodException',
  message: `Unsupported ${verb} request. Object with ID '${id}' does not exist, cannot be loaded due to missing `
    + 'permissions, or does not support this operation. Please read the Graph API documentation at '
    + 'https://developers.facebook.com/docs/graph-api',
});

function wwwAuthenticate(error) {
  if (error.type !== 'OAuthException') return {};
  const kind = error.code === 190 ? 'invalid_token' : 'invalid_request';
  return { 'www-authenticate': `OAuth "Facebook Platform" "${kind}" "${error.message.replace(/"/g, "'")}"` };
}

// ---------------------------------------------------------------------------------------------------------------
// Request parameters.

/** Parses a Graph parameter value that should be JSON (curl examples use single quotes: tolerated). */
function jsonParam(value) {
  if (value == null || typeof value !== 'string') return value;
  for (const candidate of [value, value.replace(/'/g, '"')]) {
    try {
      return JSON.parse(candidate);
    } catch { /* try the next form */ }
  }
  return value;
}

/** Query parameters merged with the body's (JSON object or form), body winning, as Graph merges them. */
function paramsOf(req, url) {
  const params = Object.fromEntries(url.searchParams);
  const type = req.headers['content-type'] ?? '';
  if (!req.body) return params;
  if (/^application\/json\b/i.test(type)) {
    let body;
    try {
      body = JSON.parse(req.body);
    } catch {
      throw badParam('Invalid parameter');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badParam('Invalid parameter');
    return { ...params, ...body };
  }
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) return { ...params, ...Object.fromEntries(new URLSearchParams(req.body)) };
  return params;
}

function tokenOf(req, params) {
  const header = /^(?:Bearer|OAuth)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  return typeof params.access_token === 'string' && params.access_token ? params.access_token : header;
}

// ---------------------------------------------------------------------------------------------------------------
// The Graph fake.

/** 'facebook' | 'instagram' for a `profiles` entry. */
function platformOf(profile) {
  if (profile.platform === 'facebook' || profile.platform === 'instagram') return profile.platform;
  return INSTAGRAM_ONLY_FIELDS.some((f) => f in profile) ? 'instagram' : 'facebook';
}

/**
 * Starts the Graph API fake on 127.0.0.1.
 * @param {{pageId?: string, igAccountId?: string, pageAccessToken?: string, version?: string, pageName?: string,
 *          profiles?: Record<string, object>, port?: number}} opts
 */
export async function startMeta({
  pageId = DEFAULT_PAGE_ID, igAccountId = DEFAULT_IG_ACCOUNT_ID, pageAccessToken = DEFAULT_PAGE_ACCESS_TOKEN,
  version = DEFAULT_VERSION, pageName = DEFAULT_PAGE_NAME, profiles = {}, port = 0,
} = {}) {
  if (!/^v\d+\.\d+$/.test(version)) throw new TypeError('startMeta: version must look like v21.0');
  if (!pageAccessToken) throw new TypeError('startMeta: pageAccessToken is required');

  const profileMap = { ...profiles };
  const sent = [];
  const requests = [];
  const faults = [];
  const delays = [];
  const closedWindows = new Map(); // id -> {humanAgent}
  let revoked = false;

  function authenticate(req, params, isMe) {
    const token = tokenOf(req, params);
    if (!token) {
      throw isMe ? graphError({ code: 2500 }) : graphError({ code: 104 });
    }
    if (token !== pageAccessToken) throw tokenError('Invalid OAuth access token - Cannot parse access token');
    if (revoked) {
      throw tokenError('Error validating access token: The session has been invalidated because the user changed '
        + 'their password or Facebook has changed the session for security reasons.', 460);
    }
  }

  function requestedFields(params, allowed, nodeType, defaults) {
    const raw = typeof params.fields === 'string' ? params.fields : '';
    const fields = raw ? raw.split(',').map((f) => f.trim()).filter(Boolean) : defaults;
    const unknown = fields.find((f) => !allowed.has(f));
    if (unknown) throw badParam(`Tried accessing nonexisting field (${unknown}) on node type (${nodeType})`);
    return fields;
  }

  function pick(fields, values) {
    const out = {};
    for (const f of fields) if (f !== 'id' && values[f] != null) out[f] = values[f];
    out.id = values.id;
    return out;
  }

  function readPage(params) {
    const fields = requestedFields(params, PAGE_FIELDS, 'Page', ['name', 'id']);
    return pick(fields, { id: pageId, name: pageName, instagram_business_account: { id: igAccountId } });
  }

  function readProfile(id, params) {
    const profile = Object.hasOwn(profileMap, id) ? profileMap[id] : undefined;
    if (!profile) throw unsupported('get', id);
    const platform = platformOf(profile);
    const values = { ...profile, id };
    delete values.platform;
    if (platform === 'facebook' && values.name == null && (values.first_name || values.last_name)) {
      values.name = [values.first_name, values.last_name].filter(Boolean).join(' ');
    }
    const fields = platform === 'instagram'
      ? requestedFields(params, INSTAGRAM_FIELDS, 'IGBusinessScopedID', ['name', 'id'])
      : requestedFields(params, MESSENGER_FIELDS, 'User', ['name', 'id']);
    return pick(fields, values);
  }

  function send(target, params, path) {
    const recipient = jsonParam(params.recipient);
    const recipientId = recipient && typeof recipient === 'object' ? recipient.id : undefined;
    if (recipientId == null || recipientId === '') throw badParam('The parameter recipient is required');
    const id = String(recipientId);
    const message = jsonParam(params.message);
    const senderAction = params.sender_action;
    if (message != null && senderAction != null) throw badParam('Cannot send both message and state at the same time.');
    if (message == null && senderAction == null) throw badParam('Must send either message or state');

    const profile = Object.hasOwn(profileMap, id) ? profileMap[id] : undefined;
    const platform = profile ? platformOf(profile) : undefined;
    // The Page token reaches PSIDs and (Messenger API for Instagram) IGSIDs via /me or /{page-id}; the Instagram
    // account's own edge reaches IGSIDs only.
    const reachable = profile && (target === 'me' || target === pageId || platform === 'instagram');

    if (senderAction != null) {
      if (!SENDER_ACTIONS.includes(senderAction)) {
        throw badParam(`Param sender_action must be one of {${SENDER_ACTIONS.join(', ')}} - got "${senderAction}"`);
      }
      if (!reachable) throw badParam('No matching user found', 2018001);
      return { recipient_id: id };
    }

    const messagingType = params.messaging_type;
    if (messagingType == null || messagingType === '') throw badParam('The parameter messaging_type is required');
    if (!MESSAGING_TYPES.includes(messagingType)) {
      throw badParam(`Param messaging_type must be one of {${MESSAGING_TYPES.join(', ')}} - got "${messagingType}"`);
    }
    const tag = params.tag;
    if (messagingType === 'MESSAGE_TAG') {
      if (!tag) throw badParam('The parameter tag is required');
      const allowed = platform === 'instagram' ? ['HUMAN_AGENT'] : MESSAGE_TAGS;
      if (!allowed.includes(tag)) throw badParam(`Param tag must be one of {${allowed.join(', ')}} - got "${tag}"`);
    }
    if (typeof message !== 'object' || (message.text == null && message.attachment == null)
      || message.text === '') {
      throw badParam('Message cannot be empty, must provide valid attachment or text');
    }
    if (message.text != null) {
      const text = String(message.text);
      if (platform === 'instagram' && Buffer.byteLength(text) > MAX_INSTAGRAM_TEXT_BYTES) {
        throw badParam(`Length of param message[text] must be less than or equal to ${MAX_INSTAGRAM_TEXT_BYTES}`);
      }
      if (platform !== 'instagram' && [...text].length > MAX_MESSENGER_TEXT_CHARS) {
        throw badParam(`Length of param message[text] must be less than or equal to ${MAX_MESSENGER_TEXT_CHARS}`);
      }
    }
    if (!reachable) throw badParam('No matching user found', 2018001);
    const closed = closedWindows.get(id);
    if (closed && !(messagingType === 'MESSAGE_TAG' && tag === 'HUMAN_AGENT' && !closed.humanAgent)) {
      throw graphError({ code: 10, subcode: 2018278 });
    }

    const messageId = platform === 'instagram' ? newInstagramMid(igAccountId) : newMessengerMid();
    sent.push({
      recipient_id: id,
      text: message.text != null ? String(message.text) : undefined,
      message_id: messageId,
      platform,
      messaging_type: messagingType,
      tag,
      attachment: message.attachment,
      path,
      at: new Date(),
    });
    return { recipient_id: id, message_id: messageId };
  }

  function route(req, url, params) {
    const prefix = `/${version}/`;
    if (!url.pathname.startsWith(prefix)) throw unknownPath(url.pathname);
    const parts = url.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
    if (parts.length === 0) throw unknownPath(url.pathname);
    const [node, edge, ...rest] = parts;
    const isMe = node === 'me';
    if (rest.length) throw unknownPath(`/${rest.join('/')}`);
    authenticate(req, params, isMe);
    const isPage = isMe || node === pageId;

    if (edge === 'messages') {
      if (req.method !== 'POST') throw unsupported(req.method.toLowerCase(), `${node}/messages`);
      if (!isPage && node !== igAccountId) throw unsupported('post', node);
      return send(isMe ? 'me' : node, params, url.pathname);
    }
    if (edge) throw unknownPath(`/${edge}`);
    if (req.method !== 'GET') throw unsupported(req.method.toLowerCase(), node);
    if (isPage) return readPage(params);
    if (node === igAccountId) {
      return pick(requestedFields(params, new Set(['id', 'username', 'name']), 'IGUser', ['id']), { id: igAccountId });
    }
    return readProfile(node, params);
  }

  function take(list, key) {
    const entry = list.find((e) => {
      e.matcher.lastIndex = 0;
      return e.matcher.test(key);
    });
    if (entry && --entry.remaining === 0) list.splice(list.indexOf(entry), 1);
    return entry;
  }

  /** A response; a Graph `error` (built here, never a caller's `body`) gets the trace id in body and header. */
  function finish(status, value, extraHeaders = {}, { traced = false } = {}) {
    const trace = newTraceId();
    if (traced) value.error.fbtrace_id = trace;
    return {
      status,
      headers: {
        'content-type': JSON_TYPE,
        'facebook-api-version': version,
        'x-fb-trace-id': trace,
        'x-fb-request-id': randomBytes(16).toString('base64url'),
        ...extraHeaders,
      },
      body: typeof value === 'string' ? value : JSON.stringify(value),
    };
  }

  function dispatch(req) {
    const url = new URL(req.path, 'http://x');
    const logged = { ...req };
    requests.push(logged);
    let params;
    try {
      params = paramsOf(req, url);
      logged.params = params;
    } catch (error) {
      if (!(error instanceof GraphError)) throw error;
    }
    const fault = take(faults, `${req.method} ${req.path}`);
    if (fault) {
      if (fault.body !== undefined) return finish(fault.status, fault.body, fault.headers);
      const { status, error } = graphErrorBody(fault);
      return finish(status, { error }, { ...wwwAuthenticate(error), ...fault.headers }, { traced: true });
    }
    try {
      if (!params) params = paramsOf(req, url); // rethrows the parse error as a Graph error
      return finish(200, route(req, url, params));
    } catch (error) {
      if (error instanceof GraphError) {
        return finish(error.status, { error: error.error }, { ...wwwAuthenticate(error.error), ...error.headers }, { traced: true });
      }
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
        response = dispatch(req);
      } catch (error) { // a bug in the fake itself: loud, not vendor-shaped
        console.error('[meta fake] internal error:', error);
        response = { status: 500, headers: { 'content-type': 'text/plain' }, body: `fake internal error: ${error.stack}` };
      }
      const wait = take(delays, `${req.method} ${req.path}`)?.ms ?? 0;
      const reply = () => { if (!res.destroyed) res.writeHead(response.status, response.headers).end(response.body); };
      if (wait > 0) setTimeout(reply, wait).unref(); else reply();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    version,
    pageId,
    igAccountId,
    pageAccessToken,
    /** Accepted Send API messages, oldest first: {recipient_id, text, message_id, platform, messaging_type, tag,
     *  attachment, path, at}. Sender actions are not recorded here (see `requests`). */
    sent,
    /** Every request: {method, path, headers, body, params?} (params: query and body parameters merged). */
    requests,
    /** psid|igsid → profile fields (plus optional `platform`); edit freely, lookups read it live. */
    profiles: profileMap,
    /**
     * The next `times` requests whose `${method} ${pathWithQuery}` matches `matcher` answer a Graph error: `code`
     * (default from `status`), `subcode`, `type`, `message` default per code; `status` per code. `body` (object or
     * string) replaces the body; `headers` are added.
     */
    fail(matcher, { status, code, subcode, type, message, times = 1, body, headers = {} } = {}) {
      if (!(matcher instanceof RegExp)) throw new TypeError('fail: matcher must be a RegExp');
      if (status === undefined && code === undefined) throw new TypeError('fail: give a status or a code');
      if (status !== undefined && !Number.isInteger(status)) throw new TypeError('fail: status must be an integer');
      if (!(times >= 1)) throw new TypeError('fail: times must be >= 1 (Infinity: every matching request)');
      const lowered = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      const resolved = body === undefined ? graphErrorBody({ status, code }).status : status ?? 400;
      faults.push({ matcher, status: resolved, code, subcode, type, message, body, headers: lowered, remaining: times });
    },
    /** The next `times` requests matching `matcher` are answered only after `ms` milliseconds. */
    delay(matcher, { ms, times = 1 }) {
      if (!(matcher instanceof RegExp)) throw new TypeError('delay: matcher must be a RegExp');
      delays.push({ matcher, ms, remaining: times });
    },
    /** Later sends to `id` answer 10/2018278 (the customer's last message is over 24 h old); HUMAN_AGENT-tagged
     *  sends still pass unless `humanAgent` is true (over 7 days). */
    closeWindow(id, { humanAgent = false } = {}) {
      closedWindows.set(String(id), { humanAgent });
    },
    /** Undoes closeWindow (the customer wrote again). */
    openWindow(id) {
      closedWindows.delete(String(id));
    },
    /** Every later call with the Page token answers 190 subcode 460 (session invalidated). */
    revokeToken() {
      revoked = true;
    },
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook side: serialisation, signatures, bodies, posting.

/**
 * `value` serialised the way Meta sends webhook bodies: compact JSON with non-ASCII characters as lowercase
 * `\uXXXX` escapes (UTF-16 units, so emoji become surrogate pairs) and `/` → `\/`, `<` → `\u003C`, `%` → `\u0025`,
 * `@` → `\u0040`. JSON.parse of the result gives `value` back.
 */
export function metaJson(value) {
  return JSON.stringify(value).replace(/[\u0080-\uffff/<%@]/g, (ch) => {
    if (ch === '/') return '\\/';
    if (ch === '<') return '\\u003C';
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** `sha256=<hex HMAC-SHA256(appSecret, rawBody)>`: Meta's X-Hub-Signature-256 for the exact raw body. */
export function metaSignature(appSecret, rawBody) {
  if (typeof appSecret !== 'string' || !appSecret) throw new TypeError('metaSignature: appSecret is required');
  return `sha256=${createHmac('sha256', appSecret).update(rawBody).digest('hex')}`;
}

/** The legacy X-Hub-Signature (`sha1=<hex HMAC-SHA1>`) Meta still sends alongside. */
export function metaSignatureSha1(appSecret, rawBody) {
  return `sha1=${createHmac('sha1', appSecret).update(rawBody).digest('hex')}`;
}

function messagePayload({ mid, text, attachments, isEcho, appId }) {
  const message = isEcho ? { is_echo: true, ...(appId !== undefined ? { app_id: appId } : {}), mid } : { mid };
  if (text !== undefined) message.text = String(text);
  if (attachments !== undefined) message.attachments = attachments;
  return message;
}

function webhookBody(object, accountId, customerId, { timestamp, time, isEcho, message }) {
  const sender = { id: isEcho ? accountId : customerId };
  const recipient = { id: isEcho ? customerId : accountId };
  return {
    object,
    entry: [{ id: accountId, time: time ?? timestamp + 250, messaging: [{ sender, recipient, timestamp, message }] }],
  };
}

/**
 * The webhook body of a Messenger message sent to the Page by `psid` (or, with `isEcho`, sent by the Page to
 * `psid`: sender and recipient swapped, `is_echo: true`, `app_id`). `attachments` is Meta's array, e.g.
 * `[{type: 'image', payload: {url: 'https://scontent.xx.fbcdn.net/…'}}]`. `time` (entry.time, when Meta sent the
 * notification) defaults to `timestamp` + 250 ms.
 */
export function messengerEvent({
  pageId = DEFAULT_PAGE_ID, psid, text, mid = newMessengerMid(), timestamp = Date.now(), time, isEcho = false,
  attachments, appId = DEFAULT_APP_ID,
} = {}) {
  if (!psid) throw new TypeError('messengerEvent: psid is required');
  const message = messagePayload({ mid, text, attachments, isEcho, appId });
  return webhookBody('page', String(pageId), String(psid), { timestamp, time, isEcho, message });
}

/**
 * The webhook body of an Instagram Direct message sent to the professional account `igAccountId` by `igsid` (or,
 * with `isEcho`, sent by the account: sender/recipient swapped, `is_echo: true`; Instagram echoes carry no app_id).
 */
export function instagramEvent({
  igAccountId = DEFAULT_IG_ACCOUNT_ID, igsid, text, mid, timestamp = Date.now(), time, isEcho = false, attachments,
} = {}) {
  if (!igsid) throw new TypeError('instagramEvent: igsid is required');
  const message = messagePayload({ mid: mid ?? newInstagramMid(String(igAccountId)), text, attachments, isEcho });
  return webhookBody('instagram', String(igAccountId), String(igsid), { timestamp, time, isEcho, message });
}

/** Several webhook bodies of the same `object` batched into one notification (entries concatenated), as Meta does. */
export function batchWebhooks(...bodies) {
  if (!bodies.length) throw new TypeError('batchWebhooks: give at least one body');
  const object = bodies[0].object;
  if (bodies.some((b) => b.object !== object)) throw new TypeError('batchWebhooks: all bodies must have the same object');
  return { object, entry: bodies.flatMap((b) => b.entry) };
}

/**
 * POSTs a webhook notification to `webhookUrl` (the full callback URL) as Meta does. An object `body` is
 * serialised with metaJson; a string is sent verbatim. The signatures cover exactly the bytes sent;
 * `signature` sends that X-Hub-Signature-256 value instead, `omitSignature` sends neither signature header.
 * @returns {Promise<{status: number, text: string, headers: Record<string, string>, rawBody: string}>}
 */
export async function postMetaWebhook(webhookUrl, body, { appSecret, signature, omitSignature = false, headers: extra = {} } = {}) {
  const rawBody = typeof body === 'string' ? body : metaJson(body);
  const headers = { 'content-type': 'application/json', accept: '*/*', 'user-agent': 'facebookexternalua' };
  if (!omitSignature) {
    if (signature === undefined && !appSecret) throw new TypeError('postMetaWebhook: appSecret (or signature, or omitSignature) is required');
    if (appSecret) headers['x-hub-signature'] = metaSignatureSha1(appSecret, rawBody);
    headers['x-hub-signature-256'] = signature ?? metaSignature(appSecret, rawBody);
  }
  const res = await fetch(webhookUrl, { method: 'POST', headers: { ...headers, ...extra }, body: rawBody, redirect: 'manual' });
  return { status: res.status, text: await res.text(), headers: Object.fromEntries(res.headers), rawBody };
}

/**
 * Meta's verification request: GET `webhookUrl?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`. The
 * endpoint passes by answering 200 with the challenge as the body.
 * @returns {Promise<{status: number, text: string, challenge: string, passed: boolean}>}
 */
export async function verifyMetaSubscription(webhookUrl, { verifyToken, challenge = String(randomInt(1e9, 2 ** 31 - 1)), mode = 'subscribe' } = {}) {
  const url = new URL(webhookUrl);
  url.searchParams.set('hub.mode', mode);
  url.searchParams.set('hub.challenge', challenge);
  if (verifyToken !== undefined) url.searchParams.set('hub.verify_token', verifyToken);
  const res = await fetch(url, { headers: { 'user-agent': 'facebookexternalua', accept: '*/*' }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, text, challenge, passed: res.status === 200 && text === challenge };
}
