/**
 * Loopback HTTP fake of Twilio, for black-box tests of Edgedesk's phone/SMS customer service:
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Messages.json              Message resource: create (send an SMS)
 *   GET  /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json Message resource: fetch
 *
 * and helpers that play Twilio's side of the inbound webhooks the worker serves:
 *
 *   twilioSignature(url, params, authToken)   the X-Twilio-Signature of a webhook
 *   postWebhook(workerUrl, path, params, opts) posts a signed form-encoded webhook the way Twilio does
 *   smsParams(...), voiceParams(...)          realistic parameter sets of the incoming-message and voice webhooks
 *
 * Vendor pages followed:
 *   https://www.twilio.com/docs/messaging/api/message-resource            (create/fetch, properties, statuses)
 *   https://www.twilio.com/docs/usage/twilios-response                    (JSON representation, error JSON)
 *   https://www.twilio.com/docs/usage/webhooks/webhooks-security          (signature; the worked example)
 *   https://www.twilio.com/docs/messaging/guides/webhook-request          (incoming-message parameters)
 *   https://www.twilio.com/docs/usage/webhooks/voice-webhooks             (voice parameters; <Gather> speech)
 *   https://www.twilio.com/docs/api/errors/{20003,20404,21211,21602,21603,21604,21610,21617}
 *
 * Faithful to the vendor:
 * - HTTP Basic auth AccountSid:AuthToken on every REST call; anything else is 401
 *   `{"code":20003,"detail":"Your AccountSid or AuthToken was incorrect.","message":"Authenticate",…}` with
 *   `WWW-Authenticate: Basic realm="Twilio API"`. An authenticated caller naming another account in the path, or
 *   an unknown Message SID, gets 404 code 20404 "The requested resource … was not found".
 * - Error bodies are Twilio's REST error JSON `{code, message, more_info, status}`
 *   (more_info `https://www.twilio.com/docs/errors/{code}`), content type application/json; every response
 *   carries a `Twilio-Request-Id: RQ…` header.
 * - Create takes form-encoded To, From and/or MessagingServiceSid, Body (a JSON body is simply not read, as
 *   Twilio's form parser does not, so it fails as "To is required"). Checks, in this order: To missing 21604,
 *   To not E.164 21211 ("The 'To' number X is not a valid phone number."), neither From nor MessagingServiceSid
 *   21603, From neither E.164 nor an alphanumeric sender ID 21212, MessagingServiceSid not MG+32 hex 21701, Body
 *   (and MediaUrl) missing 21602, Body over 1600 characters 21617, To opted out 21610 ("Attempt to send to
 *   unsubscribed recipient"). All 400.
 * - 201 with the Message resource: sid `SM` + 32 lowercase hex (34 chars), account_sid, api_version
 *   "2010-04-01", RFC 2822 GMT dates (`Thu, 24 Aug 2023 05:01:45 +0000`), date_sent null, direction
 *   "outbound-api", status "queued" (or "accepted", from null, num_segments "0" when only a MessagingServiceSid
 *   is given, as Twilio assigns the sender later), num_segments from the body's encoding (GSM-7: 160/153
 *   septets per segment, escape characters count 2; otherwise UCS-2: 70/67 code units), num_media, price null,
 *   price_unit "USD", error_code/error_message null, uri and subresource_uris.media.
 * - Signatures: HMAC-SHA1 keyed by the auth token over the full URL (with query string) followed by every POST
 *   parameter's name and value, parameters sorted by name, base64. Repeated names are sorted by value too, as
 *   Twilio's servers and official helper libraries do (twilio-node #722/#723, twilio-python #613).
 * - Webhooks are POSTed as `application/x-www-form-urlencoded; charset=UTF-8` with X-Twilio-Signature,
 *   I-Twilio-Idempotency-Token, User-Agent TwilioProxy/1.1, Accept (any type), Cache-Control max-age=259200 and
 *   X-Home-Region us1.
 *
 * Simplified (deliberately):
 * - Only the .json representation and only create/fetch (no list, update/redact, delete, Media, XML/CSV).
 *   No API-key (SK…) auth, no subaccounts. Messages never leave "queued"/"accepted" (no delivery lifecycle, no
 *   StatusCallback requests); price stays null.
 * - Opt-out is global per recipient (`optOut(number)`), not per sender/Messaging Service as on real Twilio, and
 *   inbound STOP texts posted with postWebhook do not reach this fake (they go to the worker), so a test opts a
 *   number out explicitly. Any E.164 number is valid and SMS-capable (no 21408/21612/21614 routing errors).
 * - Webhook geography (FromCity/FromState/…) comes from a small table (area codes 415, 212, 646, 312, 617 and a
 *   few country codes); anything else gets "" as Twilio sends for unknown values. `extra` adds/overrides params.
 * - `fail()` answers with any status and Twilio-shaped body; defaults per status: 400 → 21211, 401 → 20003,
 *   404 → 20404, 429 → 20429, 500 → 20500, 503 → 20503.
 */
import http from 'node:http';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';

export const API_VERSION = '2010-04-01';
/** Default credentials of startTwilio() and the webhook parameter helpers (realistic shapes, not real). */
export const DEFAULT_ACCOUNT_SID = `AC${'deadbeef'.repeat(4)}`; // obviously fake: never a real account
export const DEFAULT_AUTH_TOKEN = '9b1c3f5e7a2d4c6e8f0a1b2c3d4e5f60';
const JSON_TYPE = 'application/json; charset=utf-8';
const FORM_TYPE = 'application/x-www-form-urlencoded; charset=UTF-8';
const MAX_BODY_CHARS = 1600;

const E164 = /^\+[1-9]\d{1,14}$/;
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const hex = (bytes) => randomBytes(bytes).toString('hex');
/** A Twilio SID: two-letter prefix + 32 lowercase hex digits. */
export const newSid = (prefix) => `${prefix}${hex(16)}`;

/** RFC 2822 date in GMT as Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`. */
export const rfc2822 = (date = new Date()) => date.toUTCString().replace(/GMT$/, '+0000');

// ---------------------------------------------------------------------------------------------------------------
// Errors.

class HttpError extends Error {
  constructor(response) {
    super(`HTTP ${response.status}`);
    this.response = response;
  }
}

const json = (status, value, headers = {}) => ({ status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(value) });

/** Default [code, message] of an injected fault per HTTP status. */
const DEFAULT_FAULTS = {
  400: [21211, "The 'To' number is not a valid phone number."],
  401: [20003, 'Authenticate'],
  403: [20403, 'Forbidden'],
  404: [20404, 'The requested resource was not found'],
  429: [20429, 'Too Many Requests'],
  500: [20500, 'Internal Server Error'],
  503: [20503, 'Service Unavailable'],
};

export function twilioErrorBody(status, code, message) {
  const [defaultCode, defaultMessage] = DEFAULT_FAULTS[status] ?? DEFAULT_FAULTS[status >= 500 ? 500 : 400];
  const c = code ?? defaultCode;
  return { code: c, message: message ?? defaultMessage, more_info: `https://www.twilio.com/docs/errors/${c}`, status };
}

const twilioError = (status, code, message, headers) => new HttpError(json(status, twilioErrorBody(status, code, message), headers));

const authError = () => new HttpError(json(401, {
  code: 20003,
  detail: 'Your AccountSid or AuthToken was incorrect.',
  message: 'Authenticate',
  more_info: 'https://www.twilio.com/docs/errors/20003',
  status: 401,
}, { 'www-authenticate': 'Basic realm="Twilio API"' }));

const notFound = (path) => twilioError(404, 20404, `The requested resource ${path} was not found`);

// ---------------------------------------------------------------------------------------------------------------
// SMS segments (GSM 03.38 basic set + escape table; anything else forces UCS-2).

const GSM7_BASIC = new Set('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà');
const GSM7_EXTENDED = new Set('\f^{}\\[~]|€');

/** Number of SMS segments Twilio bills for `body`. */
export function segmentCount(body) {
  let septets = 0;
  for (const ch of body) {
    if (GSM7_BASIC.has(ch)) septets += 1;
    else if (GSM7_EXTENDED.has(ch)) septets += 2;
    else {
      const units = body.length; // UCS-2/UTF-16 code units
      return units <= 70 ? 1 : Math.ceil(units / 67);
    }
  }
  return septets <= 160 ? 1 : Math.ceil(septets / 153);
}

// ---------------------------------------------------------------------------------------------------------------
// The REST fake.

/**
 * Starts the Twilio REST fake on 127.0.0.1.
 * @param {{accountSid?: string, authToken?: string, port?: number}} opts
 */
export async function startTwilio({ accountSid = DEFAULT_ACCOUNT_SID, authToken = DEFAULT_AUTH_TOKEN, port = 0 } = {}) {
  if (!/^AC[0-9a-f]{32}$/i.test(accountSid)) throw new TypeError('startTwilio: accountSid must be AC + 32 hex digits');
  if (!authToken) throw new TypeError('startTwilio: authToken is required');

  const messages = [];
  const bySid = new Map();
  const optedOut = new Set();
  const requests = [];
  const faults = [];
  const delays = [];
  let baseUrl = '';

  function authenticate(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw authError();
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const [user, pass] = i < 0 ? [decoded, ''] : [decoded.slice(0, i), decoded.slice(i + 1)];
    if (user !== accountSid || pass !== authToken) throw authError();
  }

  function createMessage(req, sidInPath) {
    const isForm = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
    const form = new URLSearchParams(isForm ? req.body : '');
    const to = form.get('To');
    const from = form.get('From');
    const serviceSid = form.get('MessagingServiceSid');
    const body = form.get('Body') ?? '';
    const mediaUrls = form.getAll('MediaUrl');
    if (!to) throw twilioError(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) throw twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from && !serviceSid) throw twilioError(400, 21603, "A 'From' phone number is required.");
    if (from && !E164.test(from) && !ALPHANUMERIC_SENDER.test(from)) {
      throw twilioError(400, 21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
    }
    if (serviceSid && !/^MG[0-9a-f]{32}$/i.test(serviceSid)) {
      throw twilioError(400, 21701, `The Messaging Service Sid ${serviceSid} is invalid.`);
    }
    if (!body && !mediaUrls.length) throw twilioError(400, 21602, 'Message body is required.');
    if (body.length > MAX_BODY_CHARS) throw twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    if (optedOut.has(to)) throw twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');

    const sid = newSid(mediaUrls.length ? 'MM' : 'SM');
    const now = rfc2822();
    const uri = `/${API_VERSION}/Accounts/${sidInPath}/Messages/${sid}.json`;
    const viaServiceOnly = !from;
    const message = {
      account_sid: sidInPath,
      api_version: API_VERSION,
      body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: serviceSid ?? null,
      num_media: String(mediaUrls.length),
      num_segments: viaServiceOnly ? '0' : String(segmentCount(body)),
      price: null,
      price_unit: 'USD',
      sid,
      status: viaServiceOnly ? 'accepted' : 'queued',
      subresource_uris: { media: `/${API_VERSION}/Accounts/${sidInPath}/Messages/${sid}/Media.json` },
      to,
      uri,
    };
    messages.push(message);
    bySid.set(sid, message);
    return json(201, message);
  }

  function route(req, url) {
    const m = /^\/2010-04-01\/Accounts\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!m) throw notFound(url.pathname);
    authenticate(req);
    const sidInPath = decodeURIComponent(m[1]);
    if (sidInPath !== accountSid) throw notFound(url.pathname);
    const rest = m[2] ?? '';
    if (rest === '/Messages.json' && req.method === 'POST') return createMessage(req, sidInPath);
    const get = /^\/Messages\/([^/]+)\.json$/.exec(rest);
    if (get && req.method === 'GET') {
      const message = bySid.get(decodeURIComponent(get[1]));
      if (!message) throw notFound(url.pathname);
      return json(200, message);
    }
    if (rest === '/Messages.json' || get) throw twilioError(405, 20004, 'Method not allowed');
    throw notFound(url.pathname);
  }

  const matches = (entry, key) => {
    entry.matcher.lastIndex = 0;
    return entry.matcher.test(key);
  };

  function take(list, key) {
    const entry = list.find((e) => matches(e, key));
    if (entry && --entry.remaining === 0) list.splice(list.indexOf(entry), 1);
    return entry;
  }

  function dispatch(req) {
    const url = new URL(req.path, 'http://x');
    const form = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')
      ? Object.fromEntries(new URLSearchParams(req.body)) : undefined;
    requests.push({ ...req, form });
    const fault = take(faults, `${req.method} ${req.path}`);
    if (fault) {
      const body = fault.body ?? twilioErrorBody(fault.status, fault.code, fault.message);
      return { status: fault.status, headers: { 'content-type': JSON_TYPE, ...fault.headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
    }
    try {
      return route(req, url);
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
        response = dispatch(req);
      } catch (error) { // a bug in the fake itself: loud, not vendor-shaped
        console.error('[twilio fake] internal error:', error);
        response = { status: 500, headers: { 'content-type': 'text/plain' }, body: `fake internal error: ${error.stack}` };
      }
      response.headers['twilio-request-id'] = newSid('RQ');
      const wait = take(delays, `${req.method} ${req.path}`)?.ms ?? 0;
      const send = () => { if (!res.destroyed) res.writeHead(response.status, response.headers).end(response.body); };
      if (wait > 0) setTimeout(send, wait).unref(); else send();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  baseUrl = `http://127.0.0.1:${server.address().port}`;

  return {
    url: baseUrl,
    accountSid,
    authToken,
    /** Created Message resources, oldest first (the same objects GET returns). */
    messages,
    /** Every request: {method, path, headers, body, form?}. */
    requests,
    /**
     * The next `times` requests whose `${method} ${pathWithQuery}` matches `matcher` answer `status` with a
     * Twilio error body ({code, message} default per status; `body` replaces it, `headers` are added).
     */
    fail(matcher, { status, code, message, times = 1, body, headers = {} }) {
      if (!(matcher instanceof RegExp)) throw new TypeError('fail: matcher must be a RegExp');
      if (!Number.isInteger(status)) throw new TypeError('fail: status must be an integer');
      if (!(times >= 1)) throw new TypeError('fail: times must be >= 1 (Infinity: every matching request)');
      const lowered = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      faults.push({ matcher, status, code, message, body, headers: lowered, remaining: times });
    },
    /** The next `times` requests matching `matcher` are answered only after `ms` milliseconds. */
    delay(matcher, { ms, times = 1 }) {
      if (!(matcher instanceof RegExp)) throw new TypeError('delay: matcher must be a RegExp');
      delays.push({ matcher, ms, remaining: times });
    },
    /** Later sends to `number` answer 400 code 21610 (the recipient texted STOP). */
    optOut(number) {
      optedOut.add(number);
    },
    /** Undoes optOut (the recipient texted START). */
    optIn(number) {
      optedOut.delete(number);
    },
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Webhook side: signatures, posting, parameter sets.

/** `params` (object, possibly with array values; array or iterable of [name, value]; URLSearchParams) as pairs. */
function toPairs(params) {
  if (params == null) return [];
  if (params instanceof URLSearchParams || Array.isArray(params) || typeof params[Symbol.iterator] === 'function') {
    return [...params].map(([k, v]) => [String(k), String(v)]);
  }
  return Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, String(x)]) : [[k, String(v)]]));
}

const byCodeUnits = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Twilio's X-Twilio-Signature for a request to `url` (the full URL Twilio requested, query string included)
 * with POST parameters `params`: base64(HMAC-SHA1(authToken, url + name1 + value1 + name2 + value2 …)), the
 * parameters sorted by name (and repeated names by value).
 */
export function twilioSignature(url, params, authToken) {
  if (typeof authToken !== 'string' || !authToken) throw new TypeError('twilioSignature: authToken is required');
  const pairs = toPairs(params).sort((a, b) => byCodeUnits(a[0], b[0]) || byCodeUnits(a[1], b[1]));
  const data = pairs.reduce((acc, [k, v]) => acc + k + v, String(url));
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/**
 * POSTs a webhook to the worker as Twilio does. The signature covers `publicUrl ?? workerUrl + path` (the URL
 * Twilio was configured with); `signature` sends that header value instead, `omitSignature` sends none.
 * `idempotencyToken` repeats a token (Twilio's retries reuse it); by default a fresh one is sent.
 * @returns {Promise<{status: number, text: string, headers: Record<string, string>}>}
 */
export async function postWebhook(workerUrl, path, params, { authToken, publicUrl, signature, omitSignature = false, idempotencyToken, headers: extraHeaders = {} } = {}) {
  const target = `${workerUrl.replace(/\/$/, '')}${path}`;
  const signedUrl = publicUrl ?? target;
  const body = new URLSearchParams(toPairs(params)).toString();
  const headers = {
    'content-type': FORM_TYPE,
    accept: '*/*',
    'cache-control': 'max-age=259200',
    'user-agent': 'TwilioProxy/1.1',
    'x-home-region': 'us1',
    'i-twilio-idempotency-token': idempotencyToken ?? randomUUID(),
  };
  if (!omitSignature) headers['x-twilio-signature'] = signature ?? twilioSignature(signedUrl, params, authToken);
  const res = await fetch(target, { method: 'POST', headers: { ...headers, ...extraHeaders }, body, redirect: 'manual' });
  return { status: res.status, text: await res.text(), headers: Object.fromEntries(res.headers) };
}

/** [city, state, zip] by North American area code, for the geographic webhook parameters. */
const NANP_PLACES = {
  415: ['SAN FRANCISCO', 'CA', '94105'],
  212: ['NEW YORK', 'NY', '10001'],
  646: ['NEW YORK', 'NY', '10011'],
  312: ['CHICAGO', 'IL', '60601'],
  617: ['BOSTON', 'MA', '02108'],
};
const COUNTRIES = [['+44', 'GB'], ['+353', 'IE'], ['+61', 'AU'], ['+49', 'DE'], ['+33', 'FR'], ['+34', 'ES'], ['+52', 'MX']];

/** {City, State, Zip, Country} Twilio would report for `number` ("" where it does not know). */
function geoOf(number = '') {
  if (number.startsWith('+1')) {
    const [city, state, zip] = NANP_PLACES[number.slice(2, 5)] ?? ['', '', ''];
    return { City: city, State: state, Zip: zip, Country: 'US' };
  }
  const country = COUNTRIES.find(([prefix]) => number.startsWith(prefix))?.[1] ?? '';
  return { City: '', State: '', Zip: '', Country: country };
}

const prefixed = (prefix, geo) => Object.fromEntries(Object.entries(geo).map(([k, v]) => [`${prefix}${k}`, v]));

/**
 * The parameters of Twilio's request to an incoming-message webhook (an inbound SMS), in Twilio's order.
 * MessagingServiceSid is included only when given (Twilio sends it only for numbers in a Messaging Service).
 */
export function smsParams({ from, to, body = '', messageSid = newSid('SM'), accountSid = DEFAULT_ACCOUNT_SID, messagingServiceSid, extra = {} } = {}) {
  if (!from || !to) throw new TypeError('smsParams: from and to are required');
  const f = geoOf(from);
  const t = geoOf(to);
  return {
    ToCountry: t.Country,
    ToState: t.State,
    SmsMessageSid: messageSid,
    NumMedia: '0',
    ToCity: t.City,
    FromZip: f.Zip,
    SmsSid: messageSid,
    FromState: f.State,
    SmsStatus: 'received',
    FromCity: f.City,
    Body: body,
    FromCountry: f.Country,
    To: to,
    ...(messagingServiceSid ? { MessagingServiceSid: messagingServiceSid } : {}),
    ToZip: t.Zip,
    NumSegments: String(segmentCount(body)),
    MessageSid: messageSid,
    AccountSid: accountSid,
    From: from,
    ApiVersion: API_VERSION,
    ...extra,
  };
}

/**
 * The parameters of Twilio's request to a voice webhook: an incoming call (CallStatus "ringing"), or, with
 * `speechResult`, the action request of a speech <Gather> (CallStatus "in-progress", SpeechResult, Confidence).
 */
export function voiceParams({ from, to, callSid = newSid('CA'), accountSid = DEFAULT_ACCOUNT_SID, speechResult, confidence, callStatus, extra = {} } = {}) {
  if (!from || !to) throw new TypeError('voiceParams: from and to are required');
  const f = geoOf(from);
  const t = geoOf(to);
  const gather = speechResult !== undefined;
  return {
    AccountSid: accountSid,
    ApiVersion: API_VERSION,
    CallSid: callSid,
    CallStatus: callStatus ?? (gather ? 'in-progress' : 'ringing'),
    Called: to,
    ...prefixed('Called', t),
    Caller: from,
    ...prefixed('Caller', f),
    Direction: 'inbound',
    From: from,
    ...prefixed('From', f),
    To: to,
    ...prefixed('To', t),
    ...(gather ? { SpeechResult: String(speechResult), Confidence: String(confidence ?? '0.9183723') } : {}),
    ...extra,
  };
}
