/**
 * Loopback HTTP fake of the customer-service Zap: a "Webhooks by Zapier" Catch Hook trigger followed by steps that
 * look the caller up in the CRM (Jackrabbit) or ask it a question, and a final "Webhooks by Zapier" POST of the
 * result to the worker's callback URL.
 *
 *   POST /hooks/catch/{id}/{key}/    the Catch Hook (trailing slash optional)
 *
 * Vendor pages followed:
 *   https://help.zapier.com/hc/en-us/articles/8496288690317-Trigger-Zaps-from-webhooks  (Catch Hook, limitations)
 *   /work/shared/seed-rules.md "Twilio + Zapier customer-service agent"                   (request/callback bodies)
 *
 * Faithful:
 * - Any /hooks/catch/{id}/{key}/ URL answers 200 `{"attempt","id","request_id","status":"success"}` (application/
 *   json) whether or not a Zap is behind it, as Zapier documents; the three ids are the same time-ordered UUID,
 *   as observed in real responses. The answer is sent before the Zap runs: the callback comes later, on its own.
 * - The Zap's body parsing: JSON bodies are parsed; form-encoded bodies become an object; anything else is kept
 *   as the raw string.
 * - Callback bodies are the old system's (seed rules):
 *     customer_lookup → {"correlation_id","type":"customer_lookup","status":"success","data":{"found":true,
 *       "jackrabbit_id","name","email","phone","customer_data":{"balance","membership_type","classes"}}}
 *       or data {"found":false}
 *     customer_query  → {"correlation_id","type":"customer_query","status":"success","data":{"has_answer":true,
 *       "answer"}} or data {"has_answer":false}
 *   posted as application/json with `User-Agent: Zapier`, and, when `secret` is set,
 *   `X-Edgedesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 *
 * Simplified (deliberately):
 * - The lookup matches `phone_number` exactly against the keys of `customers` (no normalisation: a worker that
 *   sends a non-E.164 number finds nobody, which is the point). A customer record is
 *   {jackrabbit_id, name, email, phone?, customer_data?} or has balance/membership_type/classes at top level.
 * - A customer_query's question is read from `question` (else `query`, else `message`); the first `answers`
 *   entry whose `match` (RegExp, or a string matched case-insensitively) matches it answers with `answer` (a
 *   string, or `(requestBody) => string`).
 * - Requests without `callback_url`/`correlation_id`, or of another `type`, get the 200 and no callback.
 * - mode 'fail' answers 500 with Django's plain `<h1>Server Error (500)</h1>` (what Zapier's 5xx body looks like is
 *   not documented) and records nothing in `received`; mode 'never' answers 200 and never calls back.
 * - One callback per request, no retries, no Zapier task history, no rate limits (429), no Silent Mode.
 */
import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';

const JSON_TYPE = 'application/json';
const MODES = new Set(['callback', 'never', 'fail']);

/** A UUID whose first 48 bits are the time in ms (the layout of Zapier's attempt ids). */
function timeOrderedUuid() {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The `X-Edgedesk-Signature` value for `rawBody` signed with `secret` at `t` (Unix seconds). */
export function edgedeskSignature(secret, rawBody, t = Math.floor(Date.now() / 1000)) {
  const v1 = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest('hex');
  return `t=${t},v1=${v1}`;
}

function parseBody(req) {
  const type = req.headers['content-type'] ?? '';
  try {
    if (/json/i.test(type) || /^\s*[{[]/.test(req.body)) return JSON.parse(req.body);
  } catch { /* not JSON: fall through */ }
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) return Object.fromEntries(new URLSearchParams(req.body));
  return req.body;
}

function lookupData(customers, phone) {
  const record = Object.hasOwn(customers, phone ?? '') ? customers[phone] : undefined;
  if (!record) return { found: false };
  const { jackrabbit_id: id, name, email, phone: ownPhone, customer_data: data, balance, membership_type: membership, classes } = record;
  return {
    found: true,
    jackrabbit_id: id,
    name,
    email,
    phone: ownPhone ?? phone,
    customer_data: data ?? { balance, membership_type: membership, classes },
  };
}

function queryData(answers, request) {
  const question = String(request.question ?? request.query ?? request.message ?? '');
  const hit = answers.find(({ match }) => {
    const re = match instanceof RegExp ? match : new RegExp(String(match).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    re.lastIndex = 0;
    return re.test(question);
  });
  if (!hit) return { has_answer: false };
  return { has_answer: true, answer: typeof hit.answer === 'function' ? String(hit.answer(request)) : String(hit.answer) };
}

/**
 * Starts the Zap fake on 127.0.0.1.
 * @param {{secret?: string, customers?: Record<string, object>, answers?: {match: RegExp|string, answer: string|Function}[],
 *          port?: number, hookId?: string, hookKey?: string}} opts
 */
export async function startZapier({ secret, customers = {}, answers = [], port = 0, hookId = '1234567', hookKey = 'b3xk9qz' } = {}) {
  const received = [];
  const callbacks = [];
  const requests = [];
  const timers = new Set();
  const inFlight = new Set();
  let mode = 'callback';
  let delayMs = 50;
  let lastCallbackUrl;

  function sign(rawBody, { t } = {}) {
    if (!secret) throw new TypeError('sign: startZapier was given no secret');
    return edgedeskSignature(secret, rawBody, t);
  }

  /** POSTs `body` (object, or an exact raw string) to `url`; `signature`: string as is, null/false none. */
  async function post(url, body, { signature, t } = {}) {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const headers = { 'content-type': JSON_TYPE, 'user-agent': 'Zapier', accept: '*/*' };
    const sig = signature === undefined ? (secret ? sign(raw, { t }) : undefined) : signature || undefined;
    if (sig) headers['x-edgedesk-signature'] = sig;
    const res = await fetch(url, { method: 'POST', headers, body: raw, redirect: 'manual' });
    const text = await res.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch { /* keep the text */ }
    return { status: res.status, body: parsed, text, headers: Object.fromEntries(res.headers) };
  }

  /** What the Zap posts back for a caught request, or null when it would not call back. */
  function callbackFor(request) {
    if (!request || typeof request !== 'object' || !request.callback_url || !request.correlation_id) return null;
    const base = { correlation_id: request.correlation_id, type: request.type, status: 'success' };
    if (request.type === 'customer_lookup') return { ...base, data: lookupData(customers, request.phone_number) };
    if (request.type === 'customer_query') return { ...base, data: queryData(answers, request) };
    return null;
  }

  function schedule(request) {
    const payload = callbackFor(request);
    if (!payload) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = post(request.callback_url, payload)
        .then((r) => callbacks.push({ url: request.callback_url, request: payload, ...r }))
        .catch((error) => callbacks.push({ url: request.callback_url, request: payload, status: 0, body: null, error: error.message }))
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    }, delayMs);
    timers.add(timer);
  }

  const server = http.createServer((incoming, res) => {
    const chunks = [];
    incoming.on('data', (chunk) => chunks.push(chunk));
    incoming.on('end', () => {
      const req = { method: incoming.method, path: incoming.url, headers: { ...incoming.headers }, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(req);
      const { pathname } = new URL(req.path, 'http://x');
      if (!/^\/hooks\/catch\/[^/]+\/[^/]+\/?$/.test(pathname)) {
        res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end('<h1>Not Found</h1>');
        return;
      }
      if (req.method !== 'POST') {
        res.writeHead(405, { 'content-type': 'text/html; charset=utf-8', allow: 'POST' }).end('<h1>Method Not Allowed</h1>');
        return;
      }
      if (mode === 'fail') {
        res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' }).end('<h1>Server Error (500)</h1>');
        return;
      }
      const request = parseBody(req);
      received.push(request);
      const id = timeOrderedUuid();
      res.writeHead(200, { 'content-type': JSON_TYPE }).end(JSON.stringify({ attempt: id, id, request_id: id, status: 'success' }));
      if (mode === 'callback') {
        lastCallbackUrl = request?.callback_url ?? lastCallbackUrl;
        schedule(request);
      } else if (request?.callback_url) lastCallbackUrl = request.callback_url;
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    hookUrl: `${url}/hooks/catch/${hookId}/${hookKey}/`,
    /** Parsed bodies the hook accepted, oldest first. */
    received,
    /** The Zap's callbacks and the worker's answers: [{url, request, status, body, text, headers} | {…, status: 0, error}]. */
    callbacks,
    /** Every request to the hook: {method, path, headers, body}. */
    requests,
    /** Mutable: customers by phone number, and the answers of customer_query. */
    customers,
    answers,
    get mode() {
      return mode;
    },
    /** 'callback' (default), 'never' or 'fail'; `delayMs` (default 50) is the wait before each callback. */
    setMode(next, { delayMs: ms } = {}) {
      if (!MODES.has(next)) throw new TypeError(`setMode: mode must be one of ${[...MODES].join(', ')}`);
      mode = next;
      if (ms !== undefined) delayMs = ms;
    },
    /** The X-Edgedesk-Signature header value for `rawBody` at `t` (default now). */
    sign,
    /**
     * Posts a callback by hand (replays, bad signatures, stale timestamps): `body` is an object or the exact raw
     * string; signed with the secret at `t` unless `signature` is given (a string is sent as is; null sends no
     * header). Goes to `url`, by default the callback_url of the latest request. Not recorded in `callbacks`.
     */
    callback(body, { signature, t, url: target = lastCallbackUrl } = {}) {
      if (!target) throw new TypeError('callback: no url given and no request with a callback_url received yet');
      return post(target, body, { signature, t });
    },
    /** Resolves once no callback is scheduled or in flight. */
    async idle() {
      while (timers.size || inFlight.size) {
        await Promise.allSettled([...inFlight, new Promise((resolve) => setTimeout(resolve, 5))]);
      }
    },
    close: () => new Promise((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
