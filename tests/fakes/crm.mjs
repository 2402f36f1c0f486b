/**
 * Loopback HTTP fakes of the CRMs Edgedesk looks customers up in and files tickets to, for black-box tests
 * (startFreshdesk() — Freshdesk API v2 — is documented in its own section at the end of this file):
 *
 * startZendesk() — Zendesk Support (Ticketing) API v2:
 *   GET  /api/v2/users/{id}.json                       Show User
 *   GET  /api/v2/users/search.json?query=…             Search Users (email:, phone:, role:, name:, external_id:)
 *   GET  /api/v2/users/{id}/tickets/requested.json     List Tickets requested by the user (offset or cursor pages)
 *   GET  /api/v2/tickets.json[?external_id=…]          List Tickets (all, or by external id; offset or cursor pages)
 *   GET  /api/v2/tickets/{id}.json                     Show Ticket
 *   POST /api/v2/tickets.json                          Create Ticket
 *   PUT  /api/v2/tickets/{id}.json                     Update Ticket (status, priority, subject, comment, tags, …)
 *
 * startHubSpot() — HubSpot CRM API v3 (contacts and tickets; the same routes serve both object types):
 *   GET   /crm/v3/objects/{contacts|tickets}/{id}?properties=…&idProperty=…&associations=…
 *   POST  /crm/v3/objects/{contacts|tickets}/search     (tickets: also `associations.contact` filters)
 *   POST  /crm/v3/objects/{contacts|tickets}
 *   PATCH /crm/v3/objects/{contacts|tickets}/{id}
 *
 * Vendor pages followed:
 *   https://support.zendesk.com/hc/en-us/articles/115000510267-Authentication-for-API-requests  (Basic
 *       `{email}/token:{api_token}`; a bad token answers `{"error":"Couldn't authenticate you"}`, as quoted by users
 *       on https://support.zendesk.com/hc/en-us/articles/4408831452954)
 *   https://developer.zendesk.com/api-reference/introduction/requests/        (JSON API, 201 + Location, ISO 8601
 *       UTC timestamps, X-Rate-Limit / X-Rate-Limit-Remaining, text/plain for API-level errors)
 *   https://developer.zendesk.com/api-reference/introduction/rate-limits/
 *   https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/best-practices-for-avoiding-rate-limiting/
 *       (429 + `Retry-After: <seconds>`; ratelimit-limit/-remaining/-reset on list endpoints such as Search Users)
 *   https://support.zendesk.com/hc/en-us/community/posts/4600766234138  (a real account-limit 429: text/plain
 *       "Number of allowed API requests per minute exceeded", retry-after, x-rate-limit-remaining: 0)
 *   https://developer.zendesk.com/api-reference/ticketing/users/users/        (User object, Search Users)
 *   https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/    (Ticket object, create/update, statuses
 *       new/open/pending/hold/solved/closed, priorities low/normal/high/urgent, requester {email,name}; List Tickets
 *       incl. GET /api/v2/users/{user_id}/tickets/requested: archived tickets left out, "ordered chronologically by
 *       created date, from oldest to newest", cursor or offset pagination, at most 100 per page; GET /api/v2/tickets
 *       parameter external_id: "Lists tickets by external id. External ids don't have to be unique for each ticket.
 *       As a result, the request may return multiple tickets with the same external id.")
 *   https://developer.zendesk.com/api-reference/introduction/pagination/      (cursor pagination: `page[size]`,
 *       `{"meta":{"has_more","after_cursor","before_cursor"},"links":{"next","prev"}}`; offset: `page`, `per_page`,
 *       `{"next_page","previous_page","count"}`; `sort_by`/`sort_order` for offset, `sort=[-]field` for cursor)
 *   https://developer.zendesk.com/documentation/voice/talk-partner-edition/retrieving-the-zendesk-user-id-of-a-caller/
 *       (phone search: digits only, no '+', leading '*' for a suffix match)
 *   https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/tickets/guide  (ticket create/properties:
 *       subject, content, hs_pipeline, hs_pipeline_stage, hs_ticket_priority)
 *   https://developers.hubspot.com/docs-beta/crm/search                      (search body, default properties per
 *       object, filterGroups OR / filters AND, `sorts`, `{"total","results","paging"}`; "search through
 *       associations" with the pseudo-property `associations.{objectType}`, e.g. tickets by
 *       `{"propertyName":"associations.contact","operator":"EQ","value":"<contact id>"}` — the form public clients use)
 *   https://developers.hubspot.com/docs/api-reference/crm-associations-v4/guide  (HUBSPOT_DEFINED type 16 = ticket to
 *       contact)
 *   https://developers.hubspot.com/docs/api/usage-details                    (429 body `{"status":"error","message":
 *       "You have reached your … limit.","errorType":"RATE_LIMIT","correlationId","policyName",…}`)
 *   https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses
 *   https://developers.hubspot.com/changelog/rate-limit-headers-will-now-appear-for-oauth-authenticated-calls
 *       (X-HubSpot-RateLimit-* headers; none documented as Retry-After)
 *   https://community.hubspot.com/t5/APIs-Integrations/Improvements-to-authentication-errors-for-V3-endpoints-in/m-p/325369
 *       (401 `{"status":"error","message":"Authentication credentials not found. …","correlationId","category":
 *       "INVALID_AUTHENTICATION"}`)
 *
 * Faithful to the vendors:
 * - Zendesk: HTTP Basic `{email}/token:{apiToken}` only (the password form `{email}:{password}` and anything else
 *   is 401 `{"error":"Couldn't authenticate you"}` with `WWW-Authenticate: Basic realm="Web Password"`). Unknown
 *   record 404 `{"error":"RecordNotFound","description":"Not found"}`; unknown endpoint 404
 *   `{"error":"InvalidEndpoint","description":"Not found"}`. Validation 422 `{"error":"RecordInvalid","description":
 *   "Record validation errors","details":{field:[{description,error}]}}` — missing comment body gives
 *   `details.base` "Description: cannot be blank"; updating a closed ticket "Status: closed prevents ticket update".
 *   Every response has X-Rate-Limit: 700 / X-Rate-Limit-Remaining (a per-minute counter) and X-Request-Id; Search
 *   Users adds ratelimit-limit/-remaining/-reset. Integer ids, `url` fields, timestamps `2024-05-01T12:00:00Z`.
 * - Zendesk users carry id, url, name, email, phone, role (end-user|agent|admin), organization_id, tags,
 *   user_fields, created_at, updated_at and the rest of the documented User properties with their defaults.
 *   Tickets carry the documented Ticket properties (description = first comment, via.channel "api",
 *   requester/submitter ids, …); create answers 201 `{"ticket","audit"}` with a Location header, update 200
 *   `{"ticket","audit"}`; a `requester: {email, name}` that matches no user creates an end-user (name defaulting
 *   to the email's local part), the credentials' owner is the agent/submitter (added to `users` as an admin if
 *   not given). New tickets are "new" (or "open" when given an assignee_id), priority null unless set.
 * - Zendesk Search Users: `email:` exact and case-insensitive; `phone:` compares digits only (so `phone:+1415…`,
 *   whose `+` a form decoder turns into a space, works as well as `%2B` or the documented bare digits), a leading
 *   `*` matches a suffix; `role:`, `name:`, `external_id:` and bare words (name/email substring) are ANDed.
 *   `{"users":[…],"next_page":null,"previous_page":null,"count":n}`.
 * - Zendesk List Tickets requested by a user: every status (there is no status filter: a client keeps
 *   new/open/pending/hold itself, or would use the Search API, not modelled); unknown user 404 RecordNotFound.
 *   Default order created_at ascending (then id). Offset pagination (`page`, `per_page` default/max 100,
 *   `sort_by` created_at|updated_at|id|status|priority|subject, `sort_order` asc|desc) answers
 *   `{"tickets","next_page","previous_page","count"}` with page URLs; cursor pagination (any `page[size]`,
 *   `page[after]`, `page[before]`; `sort=-updated_at` etc.) answers `{"tickets","meta":{"has_more","after_cursor",
 *   "before_cursor"},"links":{"next","prev"}}` (opaque cursors; follow `meta.has_more`). An unknown sort field falls
 *   back to created_at (Zendesk's own answer to one is not verified). No archived tickets exist in the fake.
 * - Zendesk List Tickets (`GET /api/v2/tickets[.json]`): every ticket, same order and pagination as above; with
 *   `external_id=…` only the tickets whose external_id equals it exactly (none → `{"tickets":[],"next_page":null,
 *   "previous_page":null,"count":0}`; several tickets may share one and all are listed). Create/Update Ticket keep
 *   the `external_id` given (a string; null when not given).
 * - Zendesk 429s (injected) are text/plain "Number of allowed API requests per minute exceeded" with
 *   `Retry-After` (default 1 s, `retryAfter` to choose) and X-Rate-Limit-Remaining: 0.
 * - HubSpot: `Authorization: Bearer <private app token>`; anything else is 401 INVALID_AUTHENTICATION as above.
 *   Errors are `{"status":"error","message","correlationId","category",…}` (correlationId a UUID, echoed in
 *   X-HubSpot-Correlation-Id). Unknown id 404 `{"status":"error","message":"Object not found.  objectId are
 *   usually numeric.","correlationId","context":{"id":["…"]},"category":"OBJECT_NOT_FOUND"}`.
 * - HubSpot records are `{"id","properties",createdAt,updatedAt,"archived":false}` with string property values and
 *   ISO timestamps with milliseconds; hs_object_id = id. Without `properties` the documented defaults come back
 *   (contacts: createdate, email, firstname, hs_object_id, lastmodifieddate, lastname; tickets: content,
 *   createdate, hs_lastmodifieddate, hs_object_id, hs_pipeline, hs_pipeline_stage, hs_ticket_category,
 *   hs_ticket_priority, subject); with `properties` the requested ones (null when empty, omitted when no such
 *   property exists) plus createdate, hs_object_id and the last-modified property. `idProperty=email` looks a
 *   contact up by email. Create 201, PATCH 200; a contact email already in use is 409 CONFLICT "Contact already
 *   exists. Existing ID: n"; a property that does not exist is 400 VALIDATION_ERROR PROPERTY_DOESNT_EXIST.
 * - HubSpot tickets: default pipeline "0" with stages "1" new, "2" waiting on contact, "3" waiting on us,
 *   "4" closed (closed_date set on entering "4"); hs_ticket_priority LOW|MEDIUM|HIGH|URGENT; other values are
 *   400 VALIDATION_ERROR INVALID_OPTION. hs_pipeline_stage is required on create.
 * - HubSpot search: filterGroups ORed, filters ANDed, operators EQ, NEQ, IN, NOT_IN, HAS_PROPERTY,
 *   NOT_HAS_PROPERTY; `sorts` [{propertyName, direction: ASCENDING|DESCENDING}] (numeric values numerically, empty
 *   last; id order otherwise); `limit` default 10, max 200; `after` paging `{"paging":{"next":{"after":"n"}}}`; no
 *   X-HubSpot-RateLimit-* headers on search responses (as reported on the HubSpot community). Ticket properties
 *   filter like contact properties: `{"propertyName":"subject","operator":"EQ","value":"<subject>"}` matches the
 *   whole subject (case-insensitively, as contact emails; a prefix or substring does not match).
 * - HubSpot tickets search on `associations.contact` (EQ, NEQ, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY) matches
 *   the ids of the contacts a ticket is associated with. A ticket is associated when created with `associations`
 *   `[{to:{id}, types:[{associationCategory:"HUBSPOT_DEFINED", associationTypeId:16}]}]` (an entry counts as a
 *   contact when it has no types, type 16, or a USER_DEFINED label), or seeded with `associations` in that form, as
 *   `{contacts: ['101', …]}` or as the read form `{contacts: {results: [{id}]}}` (all stored in the create form).
 *   "Open" tickets are a stage filter the client adds, e.g. `hs_pipeline_stage` NEQ "4" in the default pipeline.
 * - HubSpot 429s (injected) are `{"status":"error","message":"You have reached your ten_secondly_rolling limit.",
 *   "errorType":"RATE_LIMIT","correlationId","policyName":"TEN_SECONDLY_ROLLING","category":"RATE_LIMITS"}`
 *   (`policy: 'DAILY'` for the daily form) with X-HubSpot-RateLimit-Remaining: 0. HubSpot documents no
 *   Retry-After header, so none is sent unless the test passes `retryAfter` (to exercise a client that honours it
 *   anyway). Other responses carry X-HubSpot-RateLimit-Max 190 / -Remaining / -Interval-Milliseconds 10000.
 *
 * Simplified (deliberately):
 * - Zendesk: one account, one agent; no OAuth/password auth, no organizations, groups, side-loads, comments list
 *   endpoint, custom statuses, ticket forms, triggers or SLA. Accepted comments are kept in `comments` (handle).
 *   The 422 texts for bad status/priority/type/requester and the 400 for a missing/unparsable `ticket` are
 *   Zendesk-shaped but not verified against a live account. Injected 5xx are text/plain "Internal Server Error" /
 *   "Service Unavailable" (Zendesk documents text/plain for API-level errors). No real rate limiting (inject it).
 * - HubSpot: only contacts and tickets, no associations API (a ticket create's `associations` to contacts are kept
 *   and returned by `?associations=contacts`), no batch, no archive, no properties API; search `query` and the
 *   10k-result cap are ignored; `associations.{other types}` never match; EQ compares case-insensitively; no search
 *   index lag (HubSpot's search can miss records created seconds earlier — Okta's HubSpot connector docs advise
 *   waiting 10 s after a create; here a record is searchable at once). The
 *   VALIDATION_ERROR message texts are approximations of HubSpot's; injected 5xx bodies are
 *   `{"status":"error","message":"internal error"|"Service Unavailable","correlationId"}`.
 * - `fail(matcher, {status, times, retryAfter, message, body, headers, after, …})` answers the next `times` requests
 *   whose `${method} ${pathWithQuery}` matches with that status and the vendor's body for it. By default the request
 *   is not carried out; with `after: true` it is carried out first (a create creates the record, an update updates
 *   it) and its answer is thrown away for the fault's — "done, but the answer was lost", e.g. a vendor that created
 *   a ticket and still answered 500/502/503. (A request the fake cannot carry out — a 4xx of its own — still gets
 *   the fault status; a bug in the fake itself still answers its loud "fake internal error" 500.)
 *   `delay(matcher, {ms, times, after})` holds them back `ms` milliseconds (`ms: Infinity`: never answered until
 *   close()). By default (`after: true`) the request is carried out when it arrives and only the answer is held, so
 *   `ms: Infinity` simulates a client timeout after the write; `after: false` holds the request itself and carries
 *   it out when the delay ends (with `ms: Infinity`: never carried out — a timeout before the write). A request
 *   matching both a fault and a delay gets the fault answer, held back. Pending delays are dropped by close().
 */
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';

const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

class HttpError extends Error {
  constructor(response) {
    super(`HTTP ${response.status}`);
    this.response = response;
  }
}

const lowerHeaders = (headers = {}) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
const json = (status, value, headers = {}) => ({ status, headers: { 'content-type': JSON_TYPE, ...lowerHeaders(headers) }, body: JSON.stringify(value) });
const text = (status, value, headers = {}) => ({ status, headers: { 'content-type': TEXT_TYPE, ...lowerHeaders(headers) }, body: value });
const clone = (value) => (value === undefined ? undefined : structuredClone(value));

// ---------------------------------------------------------------------------------------------------------------
// Shared loopback server: request log, injected faults and delays.

/**
 * @param {{name: string, port: number, dispatch: (req) => object, faultResponse: (fault, req) => object,
 *          decorate?: (response, req) => void}} opts
 */
async function serve({ name, port = 0, dispatch, faultResponse, decorate }) {
  const requests = [];
  const faults = [];
  const delays = [];

  const matches = (entry, key) => {
    entry.matcher.lastIndex = 0;
    return entry.matcher.test(key);
  };
  function take(list, key) {
    const entry = list.find((e) => matches(e, key));
    if (entry && --entry.remaining === 0) list.splice(list.indexOf(entry), 1);
    return entry;
  }

  const timers = new Set();
  const broken = new WeakSet(); // answers that report a bug in the fake itself (never replaced by a fault)
  /** Runs a route (or fault builder): HttpErrors become their vendor-shaped answer, anything else a loud 500. */
  function answer(fn) {
    try {
      return fn();
    } catch (error) {
      if (error instanceof HttpError) return error.response;
      console.error(`[${name} fake] internal error:`, error); // a bug in the fake itself: loud, not vendor-shaped
      const response = text(500, `fake internal error: ${error.stack}`);
      broken.add(response);
      return response;
    }
  }
  const later = (ms, fn) => {
    const timer = setTimeout(() => { timers.delete(timer); fn(); }, ms);
    timer.unref();
    timers.add(timer);
  };

  const server = http.createServer((incoming, res) => {
    const chunks = [];
    incoming.on('data', (chunk) => chunks.push(chunk));
    incoming.on('end', () => {
      const req = { method: incoming.method, path: incoming.url, headers: { ...incoming.headers }, body: Buffer.concat(chunks).toString('utf8') };
      if (/^application\/json\b/i.test(req.headers['content-type'] ?? '') && req.body) {
        try { req.json = JSON.parse(req.body); } catch { /* left undefined: the route answers the parse error */ }
      }
      requests.push(req);
      const key = `${req.method} ${req.path}`;
      const fault = take(faults, key);
      const hold = take(delays, key);
      const respond = () => {
        let response;
        if (!fault) response = answer(() => dispatch(req));
        else {
          const { after, ...shown } = fault;
          // `after`: the request is carried out (a create creates) and its answer thrown away for the fault's.
          const done = after ? answer(() => dispatch(req)) : undefined;
          response = done && broken.has(done) ? done : answer(() => faultResponse(shown, req));
        }
        try { decorate?.(response, req); } catch (error) { console.error(`[${name} fake] decorate:`, error); }
        return response;
      };
      const send = (response) => { if (!res.destroyed) res.writeHead(response.status, response.headers).end(response.body); };
      const wait = hold?.ms ?? 0;
      if (hold && hold.after === false) { // held before it is carried out: never carried out when ms is Infinity
        if (wait !== Infinity) later(wait, () => send(respond()));
        return;
      }
      const response = respond();
      if (wait === Infinity) return; // carried out, but hangs until close()
      if (wait > 0) later(wait, () => send(response)); else send(response);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Every request: {method, path, headers, body, json?} (json: the parsed body when it was JSON). */
    requests,
    /**
     * The next `times` requests whose `${method} ${pathWithQuery}` matches `matcher` answer `status` with the
     * vendor's body for it. `retryAfter` (seconds) sets Retry-After; `message` replaces the default message;
     * `body` (object or string) replaces the body; `headers` are added. `after: true` carries the request out
     * first (a create creates the record, an update updates it) and then answers the fault instead of the normal
     * answer: a vendor that did the work but whose answer was lost. Other options are per vendor.
     */
    fail(matcher, { status, times = 1, headers = {}, after = false, ...rest } = {}) {
      if (!(matcher instanceof RegExp)) throw new TypeError('fail: matcher must be a RegExp');
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new TypeError('fail: status must be an integer 400..599');
      if (!(times >= 1)) throw new TypeError('fail: times must be >= 1 (Infinity: every matching request)');
      if (typeof after !== 'boolean') throw new TypeError('fail: after must be a boolean');
      if (rest.retryAfter !== undefined && !(Number.isFinite(rest.retryAfter) && rest.retryAfter >= 0)) {
        throw new TypeError('fail: retryAfter must be a number of seconds');
      }
      faults.push({ matcher, status, headers: lowerHeaders(headers), remaining: times, after, ...rest });
    },
    /**
     * The next `times` requests matching `matcher` are answered only after `ms` milliseconds (Infinity: never).
     * By default (`after: true`) the request is carried out when it arrives and only its answer is held (with
     * `ms: Infinity`: done, but the client times out); `after: false` holds the request itself and carries it out
     * when the delay ends (with `ms: Infinity`: never carried out).
     */
    delay(matcher, { ms, times = 1, after = true } = {}) {
      if (!(matcher instanceof RegExp)) throw new TypeError('delay: matcher must be a RegExp');
      if (!(ms >= 0)) throw new TypeError('delay: ms must be >= 0');
      if (!(times >= 1)) throw new TypeError('delay: times must be >= 1');
      if (typeof after !== 'boolean') throw new TypeError('delay: after must be a boolean');
      delays.push({ matcher, ms, remaining: times, after });
    },
    close: () => new Promise((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const faultBody = (fault, fallback) => (fault.body === undefined ? fallback : fault.body);
function faultReply(fault, body, headers = {}) {
  const h = { ...headers, ...fault.headers };
  if (fault.retryAfter !== undefined) h['retry-after'] = String(Math.ceil(fault.retryAfter));
  return typeof body === 'string'
    ? text(fault.status, body, { 'content-type': h['content-type'] ?? TEXT_TYPE, ...h })
    : json(fault.status, body, h);
}

// ---------------------------------------------------------------------------------------------------------------
// Zendesk.

/** Zendesk timestamps: ISO 8601 UTC without milliseconds. */
const zendeskTime = (date = new Date()) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
const ZENDESK_STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'];
const ZENDESK_PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const ZENDESK_TYPES = ['problem', 'incident', 'question', 'task'];
const ZENDESK_ROLES = ['end-user', 'agent', 'admin'];
const ZENDESK_RATE_LIMIT = 700;
/** Sort keys for List Tickets (`sort_by` / cursor `sort`); status and priority sort in their workflow order. */
const ZENDESK_TICKET_SORTS = {
  created_at: (t) => t.created_at,
  updated_at: (t) => t.updated_at,
  id: (t) => t.id,
  status: (t) => ZENDESK_STATUSES.indexOf(t.status),
  priority: (t) => (t.priority ? ZENDESK_PRIORITIES.indexOf(t.priority) : -1),
  subject: (t) => String(t.subject ?? '').toLowerCase(),
};

const zAuthError = () => new HttpError(json(401, { error: "Couldn't authenticate you" }, { 'www-authenticate': 'Basic realm="Web Password"' }));
const zNotFound = () => new HttpError(json(404, { error: 'RecordNotFound', description: 'Not found' }));
const zInvalidEndpoint = () => new HttpError(json(404, { error: 'InvalidEndpoint', description: 'Not found' }));
const zInvalid = (details) => new HttpError(json(422, { error: 'RecordInvalid', description: 'Record validation errors', details }));
const zFieldInvalid = (field, description, error = 'InvalidValue') => zInvalid({ [field]: [{ description, error }] });

/** Default body per injected Zendesk status. */
function zendeskFaultBody(status, message) {
  switch (status) {
    case 400: return { error: 'InvalidValue', description: message ?? 'Invalid request' };
    case 401: return { error: message ?? "Couldn't authenticate you" };
    case 403: return { error: 'Forbidden', description: message ?? 'You do not have access to this page. Please contact the account owner of this help desk for further help.' };
    case 404: return { error: 'RecordNotFound', description: message ?? 'Not found' };
    case 409: return { error: 'DuplicateValue', description: message ?? 'Conflict' };
    case 422: return { error: 'RecordInvalid', description: 'Record validation errors', details: { base: [{ description: message ?? 'Invalid', error: 'InvalidValue' }] } };
    case 429: return message ?? 'Number of allowed API requests per minute exceeded';
    case 503: return message ?? 'Service Unavailable';
    default: return message ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
  }
}

const digitsOf = (s) => String(s ?? '').replace(/\D/g, '');

/**
 * Starts the Zendesk Support API fake on 127.0.0.1.
 * @param {{email: string, apiToken: string, users?: object[], tickets?: object[], port?: number}} opts
 * `users`/`tickets` are partial Zendesk objects; missing properties get Zendesk's defaults and missing ids are
 * assigned. The handle's `users`/`tickets` arrays hold the full objects (the same ones the API returns, live).
 */
export async function startZendesk({ email, apiToken, users = [], tickets = [], port = 0 } = {}) {
  if (!email || !apiToken) throw new TypeError('startZendesk: email and apiToken are required');
  let baseUrl = '';
  let nextUserId = 381000000001;
  let nextTicketId = 1;
  let nextAuditId = 26000000001;
  let nextCommentId = 27000000001;
  let minute = 0;
  let usedThisMinute = 0;
  const userList = [];
  const ticketList = [];
  const comments = [];

  const userUrl = (id) => `${baseUrl}/api/v2/users/${id}.json`;
  const ticketUrl = (id) => `${baseUrl}/api/v2/tickets/${id}.json`;

  function makeUser(partial) {
    const id = Number(partial.id ?? nextUserId++);
    if (id >= nextUserId) nextUserId = id + 1;
    const now = zendeskTime();
    const role = partial.role ?? 'end-user';
    const user = {
      id,
      url: '',
      name: partial.name ?? (partial.email ? partial.email.split('@')[0] : 'Caller'),
      email: partial.email ?? null,
      created_at: partial.created_at ?? now,
      updated_at: partial.updated_at ?? partial.created_at ?? now,
      time_zone: 'Pacific Time (US & Canada)',
      iana_time_zone: 'America/Los_Angeles',
      phone: partial.phone ?? null,
      shared_phone_number: partial.phone ? false : null,
      photo: null,
      locale_id: 1,
      locale: 'en-US',
      organization_id: partial.organization_id ?? null,
      role,
      verified: role !== 'end-user',
      external_id: partial.external_id ?? null,
      tags: partial.tags ?? [],
      alias: null,
      active: true,
      shared: false,
      shared_agent: false,
      last_login_at: null,
      two_factor_auth_enabled: null,
      signature: null,
      details: '',
      notes: '',
      role_type: null,
      custom_role_id: null,
      moderator: role !== 'end-user',
      ticket_restriction: role === 'end-user' ? 'requested' : null,
      only_private_comments: false,
      restricted_agent: role === 'end-user',
      suspended: false,
      default_group_id: null,
      report_csv: false,
      user_fields: partial.user_fields ?? {},
      ...partial,
    };
    user.id = id;
    return user;
  }

  function makeTicket(partial) {
    const id = Number(partial.id ?? nextTicketId++);
    if (id >= nextTicketId) nextTicketId = id + 1;
    const now = zendeskTime();
    const description = partial.description ?? partial.comment?.body ?? '';
    const ticket = {
      url: '',
      id,
      external_id: null,
      via: { channel: 'api', source: { from: {}, to: {}, rel: null } },
      created_at: partial.created_at ?? now,
      updated_at: partial.updated_at ?? partial.created_at ?? now,
      generated_timestamp: Math.floor(Date.now() / 1000),
      type: null,
      subject: partial.subject ?? null,
      raw_subject: partial.subject ?? null,
      description,
      priority: null,
      status: partial.assignee_id ? 'open' : 'new',
      recipient: null,
      requester_id: null,
      submitter_id: partial.requester_id ?? null,
      assignee_id: null,
      organization_id: null,
      group_id: null,
      collaborator_ids: [],
      follower_ids: [],
      email_cc_ids: [],
      forum_topic_id: null,
      problem_id: null,
      has_incidents: false,
      is_public: true,
      due_at: null,
      tags: [],
      custom_fields: [],
      satisfaction_rating: null,
      sharing_agreement_ids: [],
      custom_status_id: null,
      fields: [],
      followup_ids: [],
      ticket_form_id: null,
      brand_id: null,
      allow_channelback: false,
      allow_attachments: true,
      from_messaging_channel: false,
      ...partial,
    };
    delete ticket.comment;
    ticket.id = id;
    ticket.raw_subject = ticket.raw_subject ?? ticket.subject;
    return ticket;
  }

  const userById = (id) => userList.find((u) => String(u.id) === String(id));
  const ticketById = (id) => ticketList.find((t) => String(t.id) === String(id));
  const userByEmail = (address) => userList.find((u) => u.email && u.email.toLowerCase() === String(address).toLowerCase());

  for (const u of users) userList.push(makeUser(u));
  let agent = userByEmail(email);
  if (!agent) {
    agent = makeUser({ email, name: 'Edgedesk Agent', role: 'admin' });
    userList.push(agent);
  }
  for (const t of tickets) ticketList.push(makeTicket(t));

  function authenticate(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw zAuthError();
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw zAuthError();
    const [user, pass] = [decoded.slice(0, i), decoded.slice(i + 1)];
    if (user.toLowerCase() !== `${email}/token`.toLowerCase() || pass !== apiToken) throw zAuthError();
  }

  function bodyTicket(req) {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(json(400, { error: 'InvalidValue', description: 'Content-Type must be application/json' }));
    }
    if (req.json === undefined) throw new HttpError(json(400, { error: 'InvalidValue', description: 'Server could not parse JSON' }));
    const t = req.json?.ticket;
    if (!t || typeof t !== 'object' || Array.isArray(t)) throw new HttpError(json(400, { error: 'InvalidValue', description: 'Parameter ticket is required' }));
    return t;
  }

  function validateCommon(t) {
    if (t.status !== undefined && !ZENDESK_STATUSES.includes(t.status)) throw zFieldInvalid('status', `Status: ${t.status} is not valid`);
    if (t.priority !== undefined && t.priority !== null && !ZENDESK_PRIORITIES.includes(t.priority)) {
      throw zFieldInvalid('priority', `Priority: ${t.priority} is not valid`);
    }
    if (t.type !== undefined && t.type !== null && !ZENDESK_TYPES.includes(t.type)) throw zFieldInvalid('type', `Type: ${t.type} is not valid`);
    if (t.comment !== undefined && (typeof t.comment !== 'object' || t.comment === null)) throw zFieldInvalid('comment', 'Comment: is invalid');
  }

  function commentBody(c) {
    return c ? (c.body ?? c.html_body ?? '') : '';
  }

  function addComment(ticket, c, authorId, auditId) {
    const body = commentBody(c);
    const comment = {
      id: nextCommentId++,
      type: 'Comment',
      author_id: c.author_id ?? authorId,
      body,
      html_body: `<div class="zd-comment" dir="auto"><p dir="auto">${body.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p></div>`,
      plain_body: body,
      public: c.public !== false,
      attachments: [],
      audit_id: auditId,
      ticket_id: ticket.id,
      created_at: ticket.updated_at,
    };
    comments.push(comment);
    const { ticket_id: _t, created_at: _c, ...event } = comment;
    return event;
  }

  function audit(ticket, events) {
    return {
      id: events.auditId,
      ticket_id: ticket.id,
      created_at: ticket.updated_at,
      author_id: agent.id,
      metadata: { system: { client: 'Edgedesk fake', ip_address: '127.0.0.1' }, custom: {} },
      events: events.list,
      via: { channel: 'api', source: { from: {}, to: {}, rel: null } },
    };
  }

  function createTicket(req) {
    const t = bodyTicket(req);
    validateCommon(t);
    if (!commentBody(t.comment)) throw zInvalid({ base: [{ description: 'Description: cannot be blank', error: 'BlankValue', field_key: 'description' }] });
    let requester;
    if (t.requester_id !== undefined) {
      requester = userById(t.requester_id);
      if (!requester) throw zFieldInvalid('requester', 'Requester: is invalid');
    } else if (t.requester) {
      const address = t.requester.email;
      if (!address || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(address)) throw zFieldInvalid('requester', 'Requester: Email is invalid');
      requester = userByEmail(address);
      if (!requester) {
        requester = makeUser({ email: address, name: t.requester.name ?? address.split('@')[0], ...(t.requester.phone ? { phone: t.requester.phone } : {}) });
        requester.url = userUrl(requester.id);
        userList.push(requester);
      }
    } else {
      requester = agent;
    }
    if (t.assignee_id !== undefined && t.assignee_id !== null && !userById(t.assignee_id)) throw zFieldInvalid('assignee', 'Assignee: is invalid');
    const { comment, requester: _r, requester_id: _ri, id: _id, ...rest } = t;
    const ticket = makeTicket({
      ...rest,
      description: commentBody(comment),
      requester_id: requester.id,
      submitter_id: agent.id,
      status: t.status ?? (t.assignee_id ? 'open' : 'new'),
      priority: t.priority ?? null,
      tags: t.tags ?? [],
    });
    ticket.url = ticketUrl(ticket.id);
    ticketList.push(ticket);
    const events = { auditId: nextAuditId++, list: [] };
    events.list.push(addComment(ticket, comment, requester.id, events.auditId));
    for (const field of ['subject', 'status', 'priority', 'type', 'requester_id']) {
      if (ticket[field] !== null && ticket[field] !== undefined) events.list.push({ id: nextCommentId++, type: 'Create', value: String(ticket[field]), field_name: field });
    }
    return json(201, { ticket, audit: audit(ticket, events) }, { location: ticket.url });
  }

  function updateTicket(req, id) {
    const ticket = ticketById(id);
    if (!ticket) throw zNotFound();
    const t = bodyTicket(req);
    validateCommon(t);
    if (ticket.status === 'closed') throw zFieldInvalid('status', 'Status: closed prevents ticket update');
    if (t.assignee_id !== undefined && t.assignee_id !== null && !userById(t.assignee_id)) throw zFieldInvalid('assignee', 'Assignee: is invalid');
    if (t.comment && !commentBody(t.comment)) throw zInvalid({ base: [{ description: 'Comment: cannot be blank', error: 'BlankValue' }] });
    const events = { auditId: nextAuditId++, list: [] };
    ticket.updated_at = zendeskTime();
    ticket.generated_timestamp = Math.floor(Date.now() / 1000);
    for (const field of ['subject', 'status', 'priority', 'type', 'assignee_id', 'tags', 'external_id', 'due_at', 'custom_fields']) {
      if (t[field] === undefined) continue;
      const previous = ticket[field];
      ticket[field] = t[field];
      if (field === 'subject') ticket.raw_subject = t.subject;
      if (JSON.stringify(previous) !== JSON.stringify(t[field])) {
        events.list.push({ id: nextCommentId++, type: 'Change', value: t[field], field_name: field, previous_value: previous });
      }
    }
    if (Array.isArray(t.additional_tags)) ticket.tags = [...new Set([...ticket.tags, ...t.additional_tags])];
    if (Array.isArray(t.remove_tags)) ticket.tags = ticket.tags.filter((tag) => !t.remove_tags.includes(tag));
    if (t.assignee_id && ticket.status === 'new' && t.status === undefined) ticket.status = 'open';
    if (t.comment) events.list.unshift(addComment(ticket, t.comment, agent.id, events.auditId));
    return json(200, { ticket, audit: audit(ticket, events) });
  }

  /** Users matching a Zendesk search `query` (the subset of the syntax described at the top). */
  function searchUsers(query) {
    const conditions = [];
    const re = /(\w+):\s*("([^"]*)"|\S+)|"([^"]*)"|(\S+)/g;
    for (const m of query.matchAll(re)) {
      if (m[1]) {
        const key = m[1].toLowerCase();
        const value = m[3] ?? m[2];
        if (key === 'email') conditions.push((u) => (u.email ?? '').toLowerCase() === value.toLowerCase());
        else if (key === 'phone') {
          const suffix = value.startsWith('*');
          const wanted = digitsOf(value);
          conditions.push((u) => {
            const have = digitsOf(u.phone);
            return Boolean(wanted) && (suffix ? have.endsWith(wanted) : have === wanted);
          });
        } else if (key === 'role') conditions.push((u) => u.role === value.toLowerCase());
        else if (key === 'name') conditions.push((u) => (u.name ?? '').toLowerCase() === value.toLowerCase());
        else if (key === 'external_id') conditions.push((u) => String(u.external_id ?? '') === value);
        else if (key === 'type') { if (value !== 'user') conditions.push(() => false); } else conditions.push((u) => String(u[key] ?? '').toLowerCase() === value.toLowerCase());
      } else {
        const word = (m[4] ?? m[5]).toLowerCase();
        conditions.push((u) => (u.name ?? '').toLowerCase().includes(word) || (u.email ?? '').toLowerCase().includes(word));
      }
    }
    if (!conditions.length) return [];
    return userList.filter((u) => conditions.every((c) => c(u)));
  }

  /**
   * List Tickets (`GET /api/v2/tickets` and `GET /api/v2/users/{id}/tickets/requested`): the tickets `included`
   * keeps, every status, "ordered chronologically by created date, from oldest to newest" unless sorted. Offset
   * pagination (`page`, `per_page` ≤ 100, `sort_by`, `sort_order`) answers `{tickets, next_page, previous_page,
   * count}`; cursor pagination (`page[size]` ≤ 100, `page[after]`/`page[before]`, `sort=[-]field`) answers
   * `{tickets, meta:{has_more, after_cursor, before_cursor}, links:{next, prev}}`.
   */
  function listTickets(url, included) {
    const q = url.searchParams;
    const cursor = ['page[size]', 'page[after]', 'page[before]'].some((k) => q.has(k));
    let field = 'created_at';
    let desc = false;
    if (cursor && q.get('sort')) {
      desc = q.get('sort').startsWith('-');
      field = q.get('sort').replace(/^-/, '');
    } else if (!cursor) {
      field = q.get('sort_by') ?? field;
      desc = (q.get('sort_order') ?? 'asc').toLowerCase() === 'desc';
    }
    if (!ZENDESK_TICKET_SORTS[field]) { field = 'created_at'; }
    const key = ZENDESK_TICKET_SORTS[field];
    const all = ticketList.filter(included)
      .sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        const c = x < y ? -1 : x > y ? 1 : a.id - b.id;
        return desc ? -c : c;
      });
    const pageUrl = (params) => {
      const next = new URLSearchParams(q);
      for (const [k, v] of Object.entries(params)) { if (v === undefined) next.delete(k); else next.set(k, String(v)); }
      return `${baseUrl}${url.pathname}?${next.toString().replace(/%5B/g, '[').replace(/%5D/g, ']')}`;
    };
    if (cursor) {
      const size = Math.min(100, Math.max(1, Number.parseInt(q.get('page[size]') ?? '100', 10) || 100));
      const decode = (c) => {
        const n = Number.parseInt(Buffer.from(String(c), 'base64url').toString('utf8').replace(/^o:/, ''), 10);
        if (!Number.isInteger(n) || n < 0) throw new HttpError(json(400, { error: 'InvalidPaginationParameter', description: 'cursor is not valid' }));
        return n;
      };
      const encode = (n) => Buffer.from(`o:${n}`).toString('base64url');
      let start = 0;
      if (q.has('page[after]')) start = decode(q.get('page[after]'));
      else if (q.has('page[before]')) start = Math.max(0, decode(q.get('page[before]')) - size);
      const tickets = all.slice(start, start + size);
      const after = tickets.length ? encode(start + tickets.length) : null;
      const before = tickets.length ? encode(start) : null;
      const hasMore = start + tickets.length < all.length;
      return json(200, {
        tickets,
        meta: { has_more: hasMore, after_cursor: after, before_cursor: before },
        links: {
          next: after ? pageUrl({ 'page[size]': size, 'page[after]': after, 'page[before]': undefined }) : null,
          prev: before ? pageUrl({ 'page[size]': size, 'page[before]': before, 'page[after]': undefined }) : null,
        },
      }, { 'x-list-endpoint': '1' });
    }
    const perPage = Math.min(100, Math.max(1, Number.parseInt(q.get('per_page') ?? '100', 10) || 100));
    const page = Math.max(1, Number.parseInt(q.get('page') ?? '1', 10) || 1);
    const tickets = all.slice((page - 1) * perPage, page * perPage);
    return json(200, {
      tickets,
      next_page: page * perPage < all.length ? pageUrl({ page: page + 1, per_page: perPage }) : null,
      previous_page: page > 1 ? pageUrl({ page: page - 1, per_page: perPage }) : null,
      count: all.length,
    }, { 'x-list-endpoint': '1' });
  }

  function route(req) {
    const url = new URL(req.path, 'http://x');
    const p = url.pathname;
    if (!p.startsWith('/api/v2/')) throw zInvalidEndpoint();
    authenticate(req);
    let m;
    if (/^\/api\/v2\/users\/search(\.json)?$/.test(p) && req.method === 'GET') {
      const externalId = url.searchParams.get('external_id');
      const found = externalId !== null
        ? userList.filter((u) => String(u.external_id ?? '') === externalId)
        : searchUsers(url.searchParams.get('query') ?? '');
      return json(200, { users: found, next_page: null, previous_page: null, count: found.length }, { 'x-list-endpoint': '1' });
    }
    if ((m = /^\/api\/v2\/users\/([^/.]+)\/tickets\/requested(\.json)?$/.exec(p)) && req.method === 'GET') {
      if (!userById(m[1])) throw zNotFound();
      return listTickets(url, (t) => String(t.requester_id) === String(m[1]));
    }
    if ((m = /^\/api\/v2\/users\/([^/.]+)(\.json)?$/.exec(p)) && req.method === 'GET') {
      const user = userById(m[1]);
      if (!user) throw zNotFound();
      return json(200, { user });
    }
    if (/^\/api\/v2\/tickets(\.json)?$/.test(p) && req.method === 'POST') return createTicket(req);
    if (/^\/api\/v2\/tickets(\.json)?$/.test(p) && req.method === 'GET') {
      // List Tickets; `external_id` "Lists tickets by external id" (exact; several tickets may share one).
      const externalId = url.searchParams.get('external_id');
      return listTickets(url, (t) => externalId === null || (t.external_id !== null && String(t.external_id) === externalId));
    }
    if ((m = /^\/api\/v2\/tickets\/([^/.]+)(\.json)?$/.exec(p))) {
      if (req.method === 'GET') {
        const ticket = ticketById(m[1]);
        if (!ticket) throw zNotFound();
        return json(200, { ticket });
      }
      if (req.method === 'PUT') return updateTicket(req, m[1]);
    }
    throw zInvalidEndpoint();
  }

  function decorate(response, req) {
    const now = Math.floor(Date.now() / 60000);
    if (now !== minute) { minute = now; usedThisMinute = 0; }
    usedThisMinute += 1;
    const limited = response.status === 429;
    const remaining = limited ? 0 : Math.max(0, ZENDESK_RATE_LIMIT - usedThisMinute);
    const h = response.headers;
    h['x-rate-limit'] ??= String(ZENDESK_RATE_LIMIT);
    h['x-rate-limit-remaining'] ??= String(remaining);
    if (h['x-list-endpoint'] || limited) {
      h['ratelimit-limit'] ??= String(ZENDESK_RATE_LIMIT);
      h['ratelimit-remaining'] ??= String(remaining);
      h['ratelimit-reset'] ??= String(60 - (Math.floor(Date.now() / 1000) % 60));
    }
    delete h['x-list-endpoint'];
    h['x-request-id'] ??= `${randomBytes(8).toString('hex')}-IAD`;
    h['x-zendesk-origin-server'] ??= 'classic-app-server-fake';
    void req;
  }

  function faultResponse(fault) {
    const body = faultBody(fault, zendeskFaultBody(fault.status, fault.message));
    const extra = {};
    if (fault.status === 401) extra['www-authenticate'] = 'Basic realm="Web Password"';
    if (fault.status === 429 && fault.retryAfter === undefined) extra['retry-after'] = '1';
    return faultReply(fault, body, extra);
  }

  const server = await serve({ name: 'zendesk', port, dispatch: route, faultResponse, decorate });
  baseUrl = server.url;
  for (const u of userList) u.url = userUrl(u.id);
  for (const t of ticketList) t.url = ticketUrl(t.id);

  return {
    url: baseUrl,
    /** Users (full Zendesk objects, live: lookups read this array; the credentials' agent is among them). */
    users: userList,
    /** Tickets (full Zendesk objects, live), oldest first. */
    tickets: ticketList,
    /** Comments added through create/update: {id, ticket_id, author_id, body, public, …}, oldest first. */
    comments,
    /** The agent (API token owner) as a Zendesk user. */
    agent,
    requests: server.requests,
    fail: server.fail,
    delay: server.delay,
    close: server.close,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HubSpot.

const HUBSPOT_AUTH_MESSAGE = 'Authentication credentials not found. This API supports OAuth 2.0 authentication and you '
  + 'can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview';
const HUBSPOT_RATE_MAX = 190;
const HUBSPOT_RATE_INTERVAL_MS = 10000;
export const HUBSPOT_TICKET_STAGES = { 1: 'New', 2: 'Waiting on contact', 3: 'Waiting on us', 4: 'Closed' };
const HUBSPOT_PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];
const HUBSPOT_OPERATORS = ['EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE', 'IN', 'NOT_IN', 'HAS_PROPERTY', 'NOT_HAS_PROPERTY'];
/** HUBSPOT_DEFINED association type id, ticket → contact. */
const HUBSPOT_TICKET_TO_CONTACT = 16;

const OBJECT_TYPES = {
  contacts: {
    aliases: ['contacts', 'contact', '0-1'],
    modified: 'lastmodifieddate',
    defaults: ['createdate', 'email', 'firstname', 'hs_object_id', 'lastmodifieddate', 'lastname'],
    schema: ['email', 'firstname', 'lastname', 'phone', 'mobilephone', 'company', 'jobtitle', 'website', 'city', 'country',
      'hs_lead_status', 'lifecyclestage', 'hubspot_owner_id', 'createdate', 'lastmodifieddate', 'hs_object_id'],
  },
  tickets: {
    aliases: ['tickets', 'ticket', '0-5'],
    modified: 'hs_lastmodifieddate',
    defaults: ['content', 'createdate', 'hs_lastmodifieddate', 'hs_object_id', 'hs_pipeline', 'hs_pipeline_stage',
      'hs_ticket_category', 'hs_ticket_priority', 'subject'],
    schema: ['subject', 'content', 'hs_pipeline', 'hs_pipeline_stage', 'hs_ticket_priority', 'hs_ticket_category',
      'hubspot_owner_id', 'source_type', 'closed_date', 'hs_resolution', 'createdate', 'hs_lastmodifieddate', 'hs_object_id'],
  },
};
const COMPUTED = ['hs_object_id', 'lastmodifieddate', 'hs_lastmodifieddate'];

const typeOf = (segment) => Object.keys(OBJECT_TYPES).find((t) => OBJECT_TYPES[t].aliases.includes(segment.toLowerCase()));

/** A HubSpot error `{status, body}`; `extra` adds fields (context, errors, errorType, …) before `category`. */
export function hubspotErrorBody(status, { message, category, correlationId = randomUUID(), policy = 'TEN_SECONDLY_ROLLING', ...extra } = {}) {
  if (status === 429) {
    const daily = policy === 'DAILY';
    return {
      status: 'error',
      message: message ?? (daily ? 'You have reached your daily limit.' : `You have reached your ${policy.toLowerCase()} limit.`),
      errorType: 'RATE_LIMIT',
      correlationId,
      policyName: policy,
      category: category ?? 'RATE_LIMITS',
      ...extra,
    };
  }
  const defaults = {
    400: ['Invalid input', 'VALIDATION_ERROR'],
    401: [HUBSPOT_AUTH_MESSAGE, 'INVALID_AUTHENTICATION'],
    403: ["This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.", 'MISSING_SCOPES'],
    404: ['Object not found.  objectId are usually numeric.', 'OBJECT_NOT_FOUND'],
    409: ['Conflict', 'CONFLICT'],
    500: ['internal error', undefined],
    502: ['Bad Gateway', undefined],
    503: ['Service Unavailable', undefined],
  };
  const [defMessage, defCategory] = defaults[status] ?? [status >= 500 ? 'internal error' : 'Bad request', status >= 500 ? undefined : 'VALIDATION_ERROR'];
  const body = { status: 'error', message: message ?? defMessage, correlationId, ...extra };
  const cat = category ?? defCategory;
  if (cat) body.category = cat;
  return body;
}

const hsError = (status, opts) => new HttpError(json(status, hubspotErrorBody(status, opts)));
const hsNotFound = (id) => hsError(404, { context: { id: [String(id)] } });
const hsInvalidProperties = (problems) => hsError(400, {
  message: `Property values were not valid: ${JSON.stringify(problems.map((p) => ({ isValid: false, ...p })))}`,
  errors: problems.map((p) => ({ message: p.message, code: p.error, context: { propertyName: [p.name] } })),
});

/** HubSpot timestamps: ISO 8601 UTC with milliseconds. */
const hubspotTime = (date = new Date()) => date.toISOString();

/**
 * Ticket→contact associations in the create-body form `[{to:{id}, types:[{associationCategory, associationTypeId}]}]`
 * from that form, from `{contacts: ['51', 52, {id: '53'}]}`, or from the read form `{contacts: {results: [{id}]}}`.
 */
function normalizeAssociations(associations) {
  if (!associations) return [];
  const typed = (id) => ({ to: { id: String(id) }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: HUBSPOT_TICKET_TO_CONTACT }] });
  if (Array.isArray(associations)) {
    return clone(associations).map((a) => (typeof a === 'object' ? { ...a, to: { ...a.to, id: String(a.to?.id ?? a.id) } } : typed(a)));
  }
  const contacts = associations.contacts;
  const list = Array.isArray(contacts) ? contacts : (contacts?.results ?? []);
  return list.map((c) => typed(typeof c === 'object' ? c.id : c));
}

/**
 * The contact ids a ticket is associated with: associations without `types`, or with the HubSpot-defined
 * ticket-to-contact type (16), or with a custom (USER_DEFINED) label.
 */
function contactIdsOf(record) {
  return (record.associations ?? [])
    .filter((a) => !a.types?.length || a.types.some((t) => t.associationTypeId === HUBSPOT_TICKET_TO_CONTACT || t.associationCategory === 'USER_DEFINED'))
    .map((a) => String(a.to?.id));
}

/**
 * Starts the HubSpot CRM v3 fake on 127.0.0.1.
 * @param {{token: string, contacts?: object[], tickets?: object[], port?: number}} opts
 * Seed records are `{id?, properties:{…}, createdAt?, updatedAt?}` or flat `{id?, email, firstname, …}`. The handle's
 * `contacts`/`tickets` arrays hold `{id, properties, createdAt, updatedAt, archived, associations?}` (live).
 */
export async function startHubSpot({ token, contacts = [], tickets = [], port = 0 } = {}) {
  if (!token) throw new TypeError('startHubSpot: token is required');
  let nextId = { contacts: 51, tickets: 1001 };
  let windowStart = 0;
  let usedInWindow = 0;
  const stores = { contacts: [], tickets: [] };

  function makeRecord(type, seed) {
    const { id: seedId, properties, createdAt, updatedAt, archived, associations, ...flat } = seed;
    const id = String(seedId ?? nextId[type]++);
    if (Number(id) >= nextId[type]) nextId[type] = Number(id) + 1;
    const created = createdAt ?? properties?.createdate ?? flat.createdate ?? hubspotTime();
    const updated = updatedAt ?? created;
    const props = {};
    for (const [k, v] of Object.entries(properties ?? flat)) props[k] = v === null || v === undefined ? null : String(v);
    const meta = OBJECT_TYPES[type];
    props.createdate ??= created;
    props[meta.modified] = updated;
    props.hs_object_id = id;
    if (type === 'tickets') {
      props.hs_pipeline ??= '0';
      if (props.hs_pipeline_stage === '4') props.closed_date ??= updated;
    }
    const record = { id, properties: props, createdAt: created, updatedAt: updated, archived: archived ?? false };
    const normalized = normalizeAssociations(associations);
    if (normalized.length) record.associations = normalized;
    return record;
  }
  for (const c of contacts) stores.contacts.push(makeRecord('contacts', c));
  for (const t of tickets) stores.tickets.push(makeRecord('tickets', t));

  const byId = (type, id) => stores[type].find((r) => r.id === String(id) && !r.archived);
  const knownProperty = (type, name) => OBJECT_TYPES[type].schema.includes(name) || stores[type].some((r) => name in r.properties);

  /** The record as the API returns it, with `wanted` properties (undefined: the object's defaults). */
  function render(type, record, wanted) {
    const meta = OBJECT_TYPES[type];
    const names = wanted?.length ? [...new Set([...wanted, 'createdate', 'hs_object_id', meta.modified])] : meta.defaults;
    const properties = {};
    for (const name of [...names].sort()) {
      if (name in record.properties) properties[name] = record.properties[name];
      else if (knownProperty(type, name)) properties[name] = null;
    }
    return { id: record.id, properties, createdAt: record.createdAt, updatedAt: record.updatedAt, archived: false };
  }

  function authenticate(req) {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m || m[1] !== token) throw hsError(401);
  }

  function bodyOf(req) {
    if (!req.body) throw hsError(400, { message: 'Invalid input JSON: request body is missing' });
    if (req.json === undefined) throw hsError(400, { message: 'Invalid input JSON on line 1, column 1: Cannot parse request body as JSON' });
    if (!req.json || typeof req.json !== 'object' || Array.isArray(req.json)) throw hsError(400, { message: 'Invalid input JSON: expected an object' });
    return req.json;
  }

  /** Validated, stringified property values of a create/update body. */
  function propertiesOf(type, body, record) {
    const props = body.properties;
    if (!props || typeof props !== 'object' || Array.isArray(props)) throw hsError(400, { message: 'Invalid input JSON: "properties" is required' });
    const problems = [];
    const out = {};
    for (const [name, raw] of Object.entries(props)) {
      if (!knownProperty(type, name)) {
        problems.push({ message: `Property "${name}" does not exist`, error: 'PROPERTY_DOESNT_EXIST', name });
        continue;
      }
      if (COMPUTED.includes(name)) {
        problems.push({ message: `${name} is a read only property; its value cannot be set.`, error: 'READ_ONLY_VALUE', name });
        continue;
      }
      const value = raw === null || raw === undefined ? '' : String(raw);
      if (type === 'tickets' && name === 'hs_ticket_priority' && value !== '' && !HUBSPOT_PRIORITIES.includes(value)) {
        problems.push({ message: `${value} was not one of the allowed options: [${HUBSPOT_PRIORITIES.join(', ')}]`, error: 'INVALID_OPTION', name });
        continue;
      }
      const pipeline = props.hs_pipeline ?? record?.properties.hs_pipeline ?? '0';
      if (type === 'tickets' && name === 'hs_pipeline_stage' && String(pipeline) === '0' && !(value in HUBSPOT_TICKET_STAGES)) {
        problems.push({ message: `${value} was not one of the allowed options: [${Object.keys(HUBSPOT_TICKET_STAGES).join(', ')}]`, error: 'INVALID_OPTION', name });
        continue;
      }
      out[name] = value;
    }
    if (type === 'tickets' && !record && !out.hs_pipeline_stage && !problems.some((p) => p.name === 'hs_pipeline_stage')) {
      problems.push({ message: 'hs_pipeline_stage is required', error: 'REQUIRED_PROPERTY', name: 'hs_pipeline_stage' });
    }
    if (type === 'contacts' && out.email) {
      const clash = stores.contacts.find((c) => c !== record && (c.properties.email ?? '').toLowerCase() === out.email.toLowerCase());
      if (clash) throw hsError(409, { message: `Contact already exists. Existing ID: ${clash.id}`, category: 'CONFLICT' });
    }
    if (problems.length) throw hsInvalidProperties(problems);
    return out;
  }

  function applyProperties(type, record, props) {
    const now = hubspotTime();
    const meta = OBJECT_TYPES[type];
    const enteringClosed = type === 'tickets' && props.hs_pipeline_stage === '4' && record.properties.hs_pipeline_stage !== '4';
    Object.assign(record.properties, props);
    if (enteringClosed) record.properties.closed_date = now;
    record.updatedAt = now;
    record.properties[meta.modified] = now;
  }

  function create(type, req) {
    const body = bodyOf(req);
    const props = propertiesOf(type, body, undefined);
    const now = hubspotTime();
    const record = makeRecord(type, { properties: props, createdAt: now, updatedAt: now });
    if (props.hs_pipeline_stage === '4') record.properties.closed_date = now;
    if (Array.isArray(body.associations) && body.associations.length) record.associations = normalizeAssociations(body.associations);
    stores[type].push(record);
    return json(201, render(type, record, Object.keys(record.properties)));
  }

  function update(type, req, id) {
    const record = byId(type, id);
    if (!record) throw hsNotFound(id);
    const props = propertiesOf(type, bodyOf(req), record);
    applyProperties(type, record, props);
    return json(200, render(type, record, Object.keys(props)));
  }

  function wantedProperties(url) {
    const list = url.searchParams.getAll('properties').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
    return list.length ? list : undefined;
  }

  function read(type, url, id) {
    const idProperty = url.searchParams.get('idProperty');
    let record;
    if (idProperty && idProperty !== 'hs_object_id') {
      record = stores[type].find((r) => !r.archived && (r.properties[idProperty] ?? '').toLowerCase() === String(id).toLowerCase());
    } else record = byId(type, id);
    if (!record) throw hsNotFound(id);
    const out = render(type, record, wantedProperties(url));
    const assoc = url.searchParams.get('associations');
    if (assoc && /contacts?/.test(assoc) && type === 'tickets') {
      const results = contactIdsOf(record).map((id) => ({ id, type: 'ticket_to_contact' }));
      if (results.length) out.associations = { contacts: { results } };
    }
    return json(200, out);
  }

  function matchesFilter(type, record, filter) {
    if (filter.propertyName === 'associations.contact') {
      // The documented search pseudo-property `associations.{objectType}`: the ids of the associated contacts.
      const ids = type === 'tickets' ? contactIdsOf(record) : [];
      const inIds = (v) => ids.includes(String(v));
      switch (filter.operator) {
        case 'EQ': return inIds(filter.value);
        case 'NEQ': return !inIds(filter.value);
        case 'IN': return (filter.values ?? []).some(inIds);
        case 'NOT_IN': return !(filter.values ?? []).some(inIds);
        case 'HAS_PROPERTY': return ids.length > 0;
        case 'NOT_HAS_PROPERTY': return ids.length === 0;
        default: return false;
      }
    }
    const raw = record.properties[filter.propertyName];
    const has = raw !== undefined && raw !== null && raw !== '';
    const value = has ? String(raw).toLowerCase() : undefined;
    const eq = (v) => has && value === String(v).toLowerCase();
    // Range operators on numbers and dates (HubSpot compares dates given as epoch milliseconds or ISO 8601).
    const num = (v) => (/^-?\d+(\.\d+)?$/.test(String(v)) ? Number(v) : Date.parse(String(v)));
    const cmp = () => (has ? num(raw) - num(filter.value) : NaN);
    switch (filter.operator) {
      case 'LT': return cmp() < 0;
      case 'LTE': return cmp() <= 0;
      case 'GT': return cmp() > 0;
      case 'GTE': return cmp() >= 0;
      case 'EQ': return eq(filter.value);
      case 'NEQ': return !eq(filter.value);
      case 'IN': return (filter.values ?? []).some(eq);
      case 'NOT_IN': return !(filter.values ?? []).some(eq);
      case 'HAS_PROPERTY': return has;
      case 'NOT_HAS_PROPERTY': return !has;
      default: return false;
    }
  }

  /** Comparator for search `sorts` ([{propertyName, direction: ASCENDING|DESCENDING}]); id order otherwise. */
  function searchOrder(sorts) {
    const list = Array.isArray(sorts) ? sorts.filter((x) => x?.propertyName) : [];
    return (a, b) => {
      for (const { propertyName, direction } of list) {
        const [x, y] = [a.properties[propertyName], b.properties[propertyName]];
        if (x === y) continue;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const numeric = /^-?\d+(\.\d+)?$/.test(x) && /^-?\d+(\.\d+)?$/.test(y);
        const c = numeric ? Number(x) - Number(y) : String(x).localeCompare(String(y));
        if (c) return direction === 'DESCENDING' ? -c : c;
      }
      return Number(a.id) - Number(b.id);
    };
  }

  function search(type, req) {
    const body = bodyOf(req);
    const groups = body.filterGroups ?? [];
    if (!Array.isArray(groups)) throw hsError(400, { message: 'Invalid input JSON: "filterGroups" must be an array' });
    if (groups.length > 5) throw hsError(400, { message: 'Number of filterGroups exceeds the maximum of 5' });
    for (const g of groups) {
      for (const f of g?.filters ?? []) {
        if (!HUBSPOT_OPERATORS.includes(f?.operator)) {
          throw hsError(400, { message: `Invalid input JSON: Cannot deserialize value of type \`Operator\` from String "${f?.operator}": not one of the values accepted for Enum class: [${HUBSPOT_OPERATORS.join(', ')}]` });
        }
        if (!f.propertyName) throw hsError(400, { message: 'Invalid input JSON: filter propertyName is required' });
        if (['EQ', 'NEQ', 'LT', 'LTE', 'GT', 'GTE'].includes(f.operator) && f.value === undefined) throw hsError(400, { message: `There was a problem with the request. Filter value is required for operator ${f.operator}` });
      }
    }
    const limit = body.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 0 || limit > 200) throw hsError(400, { message: `Limit must be between 0 and 200. Got: ${limit}` });
    const after = Number(body.after ?? 0) || 0;
    const hits = stores[type].filter((r) => !r.archived
      && (!groups.length || groups.some((g) => (g.filters ?? []).every((f) => matchesFilter(type, r, f)))))
      .sort(searchOrder(body.sorts));
    const page = hits.slice(after, after + limit);
    const wanted = Array.isArray(body.properties) && body.properties.length ? body.properties : undefined;
    const out = { total: hits.length, results: page.map((r) => render(type, r, wanted)) };
    if (after + limit < hits.length) out.paging = { next: { after: String(after + limit) } };
    return json(200, out, { 'x-search-endpoint': '1' });
  }

  function route(req) {
    const url = new URL(req.path, 'http://x');
    const p = url.pathname.replace(/\/$/, '');
    const m = /^\/crm\/v3\/objects\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    authenticate(req);
    if (!m) throw hsError(404, { message: 'resource not found', category: 'OBJECT_NOT_FOUND' });
    const type = typeOf(decodeURIComponent(m[1]));
    if (!type) throw hsError(400, { message: `Unable to infer object type from: ${decodeURIComponent(m[1])}`, category: 'VALIDATION_ERROR' });
    const id = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    if (id === 'search' && req.method === 'POST') return search(type, req);
    if (id === undefined && req.method === 'POST') return create(type, req);
    if (id !== undefined && req.method === 'GET') return read(type, url, id);
    if (id !== undefined && req.method === 'PATCH') return update(type, req, id);
    throw new HttpError(json(405, hubspotErrorBody(405, { message: `HTTP ${req.method} is not supported by this URL` })));
  }

  function decorate(response, req) {
    const h = response.headers;
    const isSearch = Boolean(h['x-search-endpoint']) || /\/search(\?|$)/.test(req.path);
    delete h['x-search-endpoint'];
    let correlationId;
    try { correlationId = JSON.parse(response.body)?.correlationId; } catch { /* text body */ }
    h['x-hubspot-correlation-id'] ??= correlationId ?? randomUUID();
    if (isSearch) return;
    const now = Date.now();
    if (now - windowStart >= HUBSPOT_RATE_INTERVAL_MS) { windowStart = now; usedInWindow = 0; }
    usedInWindow += 1;
    h['x-hubspot-ratelimit-max'] ??= String(HUBSPOT_RATE_MAX);
    h['x-hubspot-ratelimit-interval-milliseconds'] ??= String(HUBSPOT_RATE_INTERVAL_MS);
    h['x-hubspot-ratelimit-remaining'] ??= String(response.status === 429 ? 0 : Math.max(0, HUBSPOT_RATE_MAX - usedInWindow));
  }

  function faultResponse(fault) {
    const { status, message, category, policy, retryAfter: _ra, body: _b, headers: _h, matcher: _m, remaining: _r, ...extra } = fault;
    const body = faultBody(fault, hubspotErrorBody(status, { message, category, policy, ...extra }));
    return faultReply(fault, body);
  }

  const server = await serve({ name: 'hubspot', port, dispatch: route, faultResponse, decorate });

  return {
    url: server.url,
    /** Contacts: {id, properties, createdAt, updatedAt, archived} (live; properties are strings or null). */
    contacts: stores.contacts,
    /** Tickets: {id, properties, createdAt, updatedAt, archived, associations?} (live). */
    tickets: stores.tickets,
    requests: server.requests,
    fail: server.fail,
    delay: server.delay,
    close: server.close,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Freshdesk.
//
// startFreshdesk() — Freshdesk API v2 (https://developers.freshdesk.com/api/):
//   GET  /api/v2/contacts/{id}                 View a Contact
//   GET  /api/v2/contacts?email=…|phone=…|mobile=…|company_id=…   List Contacts (filters ANDed; array)
//   GET  /api/v2/tickets/{id}                  View a Ticket
//   GET  /api/v2/tickets?requester_id=…|email=…|unique_external_id=…|company_id=…|filter=…|updated_since=…
//        &order_by=…&order_type=…&page=…&per_page=…&include=…   List All Tickets (filters ANDed; array)
//   GET  /api/v2/search/tickets?query="…"&page=…   Filter Tickets (`{"results":[…],"total":n}`)
//   POST /api/v2/tickets                       Create a Ticket (201 + Location)
//   PUT  /api/v2/tickets/{id}                  Update a Ticket (200)
// Faithful: Basic auth `{apiKey}:X` (any password is accepted by Freshdesk; only the key is checked), else 401
// `{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}`; unknown record
// 404 with an empty body (Freshdesk's status-code table: "404 Requested resource not found"); validation 400
// `{"description":"Validation failed","errors":[{field,message,code}]}` with the documented codes missing_field,
// invalid_value, invalid_field, datatype_mismatch; non-JSON bodies 415 / invalid JSON 400 invalid_json;
// status 2 Open, 3 Pending, 4 Resolved, 5 Closed; priority 1 Low … 4 Urgent; source default 2 (Email); ISO UTC
// timestamps without milliseconds; X-RateLimit-Total / -Remaining / -Used-CurrentRequest on every response; 429
// (injected) with Retry-After (default 60 s).
// List All Tickets follows https://developers.freshdesk.com/api/#list_all_tickets: "By default, only tickets that
// have been created within the past 30 days will be returned. For older tickets, use the updated_since filter"
// (so with `updated_since` the window is updated_at ≥ updated_since instead); spam/deleted tickets (seed them with
// `spam: true` / `deleted: true`) only via `filter=spam|deleted`; default order created_at desc; per_page default
// 30, max 100, `Link: <…>; rel="next"` while more pages exist; description and description_text only with
// `include=description` ("For accounts created after 2018-11-30, you will have to use include to get
// description"). Every status is listed: there is no status filter here (open = status 2 Open or 3 Pending), so a
// client filters open tickets itself or uses Filter Tickets.
// Filter Tickets follows https://developers.freshdesk.com/api/#filter_tickets: `query` is URL-encoded, "enclosed
// in double quotes", at most 512 characters; conditions `field:value` with integers bare and strings in single
// quotes, `:>` (≥) and `:<` (≤) on numeric and date fields, `null` for "no value", combined with AND / OR and
// parentheses; field names case-sensitive. The fake knows status, priority, agent_id (= responder_id), group_id,
// tag (matches when any of the ticket's `tags` equals it), type, created_at, updated_at, due_by, fr_due_by ('YYYY-MM-DD',
// compared by UTC day, or a full ISO time) and `cf_*` custom fields. Answer `{"results":[…],"total":n}` with 30
// results per page and `page` 1..10 (`total` counts every hit); a bad query is 400 `{"description":"Validation
// failed","errors":[{"field":"query","message":…,"code":"invalid_value"}]}` (missing `query`: code missing_field;
// `page` out of range: field page, invalid_value; other parameters: invalid_field). Create/Update keep `tags`
// (an array of strings, else 400 datatype_mismatch).
// Simplified: the 404 body and the 429 body text are from memory of live responses, not verified against a
// portal; no agents, groups, companies, custom fields, attachments, conversations, contact search/filter API,
// List Contacts pagination (that list returns everything), or real rate limiting. Filter Tickets: no indexing delay
// (Freshdesk says updates can take a few minutes to become searchable; here a created ticket is found at once), AND
// binds tighter than OR, string and tag values compare case-insensitively, results come newest first and are List
// All Tickets items without description — all unverified; the error message texts are approximations (only the
// 400 layout and codes are Freshdesk's). Creating a ticket with an unknown
// `email` creates the contact, as Freshdesk does. List All Tickets: `filter=new_and_my_open` is approximated as
// status Open and `watching` is always empty (no agents); an `email` matching no contact is 400 invalid_value "There
// is no contact matching the given email" and unknown query parameters 400 invalid_field — both Freshdesk-shaped
// but not verified; `include=company` is accepted and adds nothing.

const FRESHDESK_STATUSES = { 2: 'Open', 3: 'Pending', 4: 'Resolved', 5: 'Closed' };
const FRESHDESK_PRIORITIES = { 1: 'Low', 2: 'Medium', 3: 'High', 4: 'Urgent' };
const FRESHDESK_RATE_LIMIT = 700;
const FRESHDESK_TICKET_FIELDS = ['subject', 'description', 'email', 'requester_id', 'phone', 'name', 'status', 'priority',
  'source', 'type', 'tags', 'cc_emails', 'responder_id', 'group_id', 'company_id', 'due_by', 'fr_due_by', 'custom_fields'];
const fdTime = zendeskTime;
const fdInvalid = (errors) => new HttpError(json(400, { description: 'Validation failed', errors }));
const fdNotFound = () => new HttpError({ status: 404, headers: {}, body: '' });

/**
 * Fields of the Filter Tickets query language (https://developers.freshdesk.com/api/#filter_tickets) the fake
 * knows: kind and how to read it off a ticket. `cf_*` custom fields are read from `custom_fields` (strings; numbers
 * when given unquoted).
 */
const FD_QUERY_FIELDS = {
  status: ['number', (t) => t.status],
  priority: ['number', (t) => t.priority],
  agent_id: ['number', (t) => t.responder_id],
  group_id: ['number', (t) => t.group_id],
  tag: ['tags', (t) => t.tags ?? []],
  type: ['string', (t) => t.type],
  created_at: ['date', (t) => t.created_at],
  updated_at: ['date', (t) => t.updated_at],
  due_by: ['date', (t) => t.due_by],
  fr_due_by: ['date', (t) => t.fr_due_by],
};
const FD_QUERY_MAX = 512;
const fdQueryError = (message) => fdInvalid([{ field: 'query', message, code: 'invalid_value' }]);

/**
 * Parses a Filter Tickets `query` (without its enclosing double quotes) into a ticket predicate. Conditions are
 * `field:value`, `field:>value` (≥) or `field:<value` (≤); values are integers, 'single-quoted strings' or `null`
 * (no value); dates are 'YYYY-MM-DD' (compared by UTC day) or a full ISO UTC time; conditions combine with AND /
 * OR (AND binds tighter) and ( ). Anything else throws the 400 "Validation failed" on `query`.
 */
function parseFreshdeskQuery(source) {
  const tokens = [];
  const re = /\s*(?:(\()|(\))|(AND|OR)(?=[\s()]|$)|([A-Za-z_][A-Za-z0-9_]*):([<>]?)('(?:[^']*)'|[^\s()']+)|(\S))/gy;
  let m;
  while (re.lastIndex < source.length && (m = re.exec(source))) {
    if (m[1]) tokens.push({ t: '(' });
    else if (m[2]) tokens.push({ t: ')' });
    else if (m[3]) tokens.push({ t: m[3] });
    else if (m[4]) tokens.push({ t: 'cond', field: m[4], op: m[5] || '=', raw: m[6] });
    else if (m[7]) throw fdQueryError(`Unexpected token '${source.slice(m.index).trim().split(/\s/)[0]}' in query`);
    else break; // trailing whitespace
  }
  if (!tokens.length) throw fdQueryError('Query should not be empty');

  function condition({ field, op, raw }) {
    const known = FD_QUERY_FIELDS[field] ?? (field.startsWith('cf_') ? ['custom', (t) => t.custom_fields?.[field]] : undefined);
    if (!known) throw fdQueryError(`'${field}' is not a valid ticket field to filter by`);
    const [kind, read] = known;
    const quoted = raw.startsWith("'");
    const text = quoted ? raw.slice(1, -1) : raw;
    if (!quoted && raw === 'null') {
      if (op !== '=') throw fdQueryError(`null can only be compared with ':' (${field})`);
      return (t) => { const v = read(t); return v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0); };
    }
    if (op !== '=' && !['number', 'date', 'custom'].includes(kind)) throw fdQueryError(`'${field}' does not support :${op}`);
    if (kind === 'number' || (kind === 'custom' && !quoted)) {
      if (quoted || !/^-?\d+$/.test(text)) throw fdQueryError(`'${field}' should be compared with an integer, got ${raw}`);
      const n = Number(text);
      return (t) => {
        const v = read(t);
        if (v === null || v === undefined || v === '') return false;
        return op === '>' ? Number(v) >= n : op === '<' ? Number(v) <= n : Number(v) === n;
      };
    }
    if (!quoted) throw fdQueryError(`'${field}' values should be enclosed in single quotes, got ${raw}`);
    if (kind === 'date') {
      const day = /^\d{4}-\d\d-\d\d$/.test(text);
      if (Number.isNaN(Date.parse(text))) throw fdQueryError(`'${field}' should be a date in UTC format, got ${raw}`);
      const wanted = day ? text : new Date(text).getTime();
      return (t) => {
        const v = read(t);
        if (!v) return false;
        const have = day ? new Date(v).toISOString().slice(0, 10) : Date.parse(v);
        return op === '>' ? have >= wanted : op === '<' ? have <= wanted : have === wanted;
      };
    }
    if (kind === 'tags') return (t) => read(t).some((tag) => String(tag).toLowerCase() === text.toLowerCase());
    return (t) => { const v = read(t); return v !== null && v !== undefined && String(v).toLowerCase() === text.toLowerCase(); };
  }

  let i = 0;
  const peek = () => tokens[i]?.t;
  function factor() {
    const token = tokens[i++];
    if (!token) throw fdQueryError('Query ends unexpectedly');
    if (token.t === '(') {
      const inner = disjunction();
      if (tokens[i++]?.t !== ')') throw fdQueryError('Unbalanced parentheses in query');
      return inner;
    }
    if (token.t === 'cond') return condition(token);
    throw fdQueryError(`Unexpected '${token.t}' in query`);
  }
  function conjunction() {
    const parts = [factor()];
    while (peek() === 'AND') { i++; parts.push(factor()); }
    return (t) => parts.every((p) => p(t));
  }
  function disjunction() {
    const parts = [conjunction()];
    while (peek() === 'OR') { i++; parts.push(conjunction()); }
    return (t) => parts.some((p) => p(t));
  }
  const predicate = disjunction();
  if (i < tokens.length) throw fdQueryError(`Unexpected '${tokens[i].t === 'cond' ? tokens[i].field : tokens[i].t}' in query`);
  return predicate;
}

function freshdeskFaultBody(status, message) {
  switch (status) {
    case 400: return { description: 'Validation failed', errors: [{ field: 'base', message: message ?? 'Invalid request', code: 'invalid_value' }] };
    case 401: return { code: 'invalid_credentials', message: message ?? 'You have to be logged in to perform this action.' };
    case 403: return { code: 'access_denied', message: message ?? 'You are not authorized to perform this action.' };
    case 404: return message ?? '';
    case 429: return { message: message ?? 'You have exceeded the limit of requests per hour' };
    default: return message ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
  }
}

/**
 * Starts the Freshdesk API v2 fake on 127.0.0.1.
 * @param {{apiKey: string, contacts?: object[], tickets?: object[], port?: number}} opts
 * Partial contacts/tickets get Freshdesk's defaults; the handle's arrays are the live objects the API serves.
 */
export async function startFreshdesk({ apiKey, contacts = [], tickets = [], port = 0 } = {}) {
  if (!apiKey) throw new TypeError('startFreshdesk: apiKey is required');
  let nextContactId = 43000000001;
  let nextTicketId = 1;
  let minute = 0;
  let usedThisMinute = 0;
  const contactList = [];
  const ticketList = [];

  function makeContact(p) {
    const id = Number(p.id ?? nextContactId++);
    if (id >= nextContactId) nextContactId = id + 1;
    const now = fdTime();
    const c = {
      active: false, address: null, company_id: null, description: null, email: null, id, job_title: null,
      language: 'en', mobile: null, name: p.name ?? (p.email ? p.email.split('@')[0] : 'Caller'), phone: null,
      time_zone: 'Eastern Time (US & Canada)', twitter_id: null, other_emails: [], tags: [], custom_fields: {},
      unique_external_id: null, created_at: now, updated_at: p.created_at ?? now, ...clone(p),
    };
    c.id = id;
    contactList.push(c);
    return c;
  }
  function makeTicket(p) {
    const id = Number(p.id ?? nextTicketId++);
    if (id >= nextTicketId) nextTicketId = id + 1;
    const now = fdTime();
    const description = p.description ?? '';
    const t = {
      cc_emails: [], fwd_emails: [], reply_cc_emails: [], email_config_id: null, fr_escalated: false, spam: false,
      group_id: null, priority: 1, requester_id: null, responder_id: null, source: 2, company_id: null, status: 2,
      subject: '', to_emails: null, product_id: null, id, type: null, due_by: now, fr_due_by: now, is_escalated: false,
      description, description_text: description.replace(/<[^>]*>/g, ''), custom_fields: {}, tags: [],
      attachments: [], created_at: now, updated_at: p.created_at ?? now, ...clone(p),
    };
    t.id = id;
    if (p.description_text === undefined) t.description_text = t.description.replace(/<[^>]*>/g, '');
    ticketList.push(t);
    return t;
  }
  contacts.forEach(makeContact);
  tickets.forEach(makeTicket);

  function authorize(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const user = m ? Buffer.from(m[1], 'base64').toString('utf8').split(':')[0] : null;
    if (user !== apiKey) throw new HttpError(json(401, freshdeskFaultBody(401)));
  }
  function bodyOf(req) {
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(json(415, { code: 'invalid_content_type', message: `Content-Type header is set to ${req.headers['content-type'] ?? ''}. It should be set to application/json` }));
    }
    if (req.json === undefined || req.json === null || typeof req.json !== 'object' || Array.isArray(req.json)) {
      throw new HttpError(json(400, { code: 'invalid_json', message: 'Request body has invalid json format' }));
    }
    return req.json;
  }
  function validateTicket(body, creating) {
    const errors = [];
    for (const field of Object.keys(body)) {
      if (!FRESHDESK_TICKET_FIELDS.includes(field)) errors.push({ field, message: 'Unexpected/invalid field in request', code: 'invalid_field' });
    }
    for (const [field, allowed] of [['status', FRESHDESK_STATUSES], ['priority', FRESHDESK_PRIORITIES]]) {
      if (body[field] === undefined) continue;
      if (!Number.isInteger(body[field])) errors.push({ field, message: 'Value set is of type String.It should be a/an Integer', code: 'datatype_mismatch' });
      else if (!allowed[body[field]]) errors.push({ field, message: `It should be one of these values: '${Object.keys(allowed).join(',')}'`, code: 'invalid_value' });
    }
    for (const field of ['subject', 'description']) {
      if (body[field] !== undefined && typeof body[field] !== 'string') errors.push({ field, message: 'Value set is of type Integer.It should be a/an String', code: 'datatype_mismatch' });
    }
    if (body.tags !== undefined && !(Array.isArray(body.tags) && body.tags.every((tag) => typeof tag === 'string'))) {
      errors.push({ field: 'tags', message: `Value set is of type ${Array.isArray(body.tags) ? 'Array of mixed types' : typeof body.tags === 'string' ? 'String' : 'Integer'}.It should be a/an Array`, code: 'datatype_mismatch' });
    } else if (body.tags?.some((tag) => tag.length > 32)) {
      // Freshdesk's own limit (its API answers this for a tag over 32 characters).
      errors.push({ field: 'tags', message: 'It should only contain elements that have maximum of 32 characters', code: 'invalid_value' });
    }
    if (body.email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(String(body.email))) {
      errors.push({ field: 'email', message: "It should be in the 'valid email address' format", code: 'invalid_value' });
    }
    if (body.requester_id !== undefined && !contactList.some((c) => c.id === body.requester_id)) {
      errors.push({ field: 'requester_id', message: 'There is no contact matching the given requester_id', code: 'invalid_value' });
    }
    if (creating) {
      if (body.email === undefined && body.requester_id === undefined && body.phone === undefined) {
        errors.push({ field: 'requester_id', message: 'Please fill at least 1 of email, mobile, phone, requester_id, twitter_id, unique_external_id fields', code: 'missing_field' });
      }
      if (body.phone !== undefined && body.email === undefined && body.requester_id === undefined && body.name === undefined) {
        errors.push({ field: 'name', message: 'It should be a/an String', code: 'missing_field' });
      }
    }
    if (errors.length) throw fdInvalid(errors);
  }
  function applyTicket(t, body) {
    const { email, phone, name, ...rest } = body;
    if (email !== undefined || (phone !== undefined && body.requester_id === undefined)) {
      const found = email !== undefined
        ? contactList.find((c) => (c.email ?? '').toLowerCase() === String(email).toLowerCase())
        : contactList.find((c) => digitsOf(c.phone) === digitsOf(phone));
      t.requester_id = (found ?? makeContact({ email: email ?? null, phone: phone ?? null, name })).id;
    }
    Object.assign(t, clone(rest));
    if (body.description !== undefined) t.description_text = t.description.replace(/<[^>]*>/g, '');
    t.updated_at = fdTime();
  }

  /**
   * List All Tickets (`GET /api/v2/tickets`). Filters (ANDed): `filter` (new_and_my_open | watching | spam | deleted),
   * `requester_id`, `email`, `unique_external_id`, `company_id`, `updated_since`; without `updated_since` only
   * tickets created in the past 30 days; spam and deleted tickets only through their filter. `order_by`
   * created_at (default) | due_by | updated_at | status, `order_type` desc (default) | asc; `page`, `per_page`
   * (default 30, max 100) with a `Link: <…>; rel="next"` header while more pages exist; `include` requester, stats,
   * description (description / description_text are left out of list items unless included).
   */
  function listTickets(url) {
    const q = url.searchParams;
    const known = ['filter', 'requester_id', 'email', 'unique_external_id', 'company_id', 'updated_since', 'order_by',
      'order_type', 'page', 'per_page', 'include'];
    const errors = [];
    for (const k of new Set(q.keys())) {
      if (!known.includes(k)) errors.push({ field: k, message: 'Unexpected/invalid field in request', code: 'invalid_field' });
    }
    const oneOf = (field, values) => {
      if (q.has(field) && !values.includes(q.get(field))) {
        errors.push({ field, message: `It should be one of these values: '${values.join(',')}'`, code: 'invalid_value' });
      }
    };
    oneOf('filter', ['new_and_my_open', 'watching', 'spam', 'deleted']);
    oneOf('order_by', ['created_at', 'due_by', 'updated_at', 'status']);
    oneOf('order_type', ['asc', 'desc']);
    const includes = (q.get('include') ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    for (const inc of includes) {
      if (!['requester', 'stats', 'description', 'company'].includes(inc)) {
        errors.push({ field: 'include', message: "It should be one of these values: 'requester,stats,description,company'", code: 'invalid_value' });
      }
    }
    const positive = (field, max) => {
      if (!q.has(field)) return;
      const n = Number(q.get(field));
      if (!Number.isInteger(n) || n < 1 || (max && n > max)) {
        errors.push({ field, message: `It should be a Positive Number${max ? ` less than or equal to ${max}` : ''}`, code: 'invalid_value' });
      }
    };
    positive('page');
    positive('per_page', 100);
    positive('requester_id');
    positive('company_id');
    let since;
    if (q.has('updated_since')) {
      since = Date.parse(q.get('updated_since'));
      if (Number.isNaN(since)) errors.push({ field: 'updated_since', message: "It should be in the 'valid date time' format", code: 'invalid_value' });
    }
    let requesterIds;
    if (q.has('email')) {
      const address = q.get('email').toLowerCase();
      const c = contactList.find((x) => (x.email ?? '').toLowerCase() === address || x.other_emails.some((e) => e.toLowerCase() === address));
      if (!c) errors.push({ field: 'email', message: 'There is no contact matching the given email', code: 'invalid_value' });
      else requesterIds = [c.id];
    }
    if (q.has('unique_external_id')) {
      const ids = contactList.filter((x) => x.unique_external_id === q.get('unique_external_id')).map((x) => x.id);
      requesterIds = requesterIds ? requesterIds.filter((id) => ids.includes(id)) : ids;
    }
    if (errors.length) throw fdInvalid(errors);

    const filter = q.get('filter');
    const monthAgo = Date.now() - 30 * 24 * 3600 * 1000;
    const hits = ticketList.filter((t) => (filter === 'spam' ? t.spam === true : t.spam !== true)
      && (filter === 'deleted' ? t.deleted === true : t.deleted !== true)
      && (filter !== 'new_and_my_open' || t.status === 2)
      && filter !== 'watching'
      && (!q.has('requester_id') || t.requester_id === Number(q.get('requester_id')))
      && (!requesterIds || requesterIds.includes(t.requester_id))
      && (!q.has('company_id') || t.company_id === Number(q.get('company_id')))
      && (since !== undefined ? Date.parse(t.updated_at) >= since : Date.parse(t.created_at) >= monthAgo));
    const orderBy = q.get('order_by') ?? 'created_at';
    const desc = (q.get('order_type') ?? 'desc') === 'desc';
    hits.sort((a, b) => {
      const [x, y] = orderBy === 'status' ? [a.status, b.status] : [Date.parse(a[orderBy]), Date.parse(b[orderBy])];
      const c = x < y ? -1 : x > y ? 1 : a.id - b.id;
      return desc ? -c : c;
    });
    const perPage = Number(q.get('per_page') ?? 30);
    const page = Number(q.get('page') ?? 1);
    const items = hits.slice((page - 1) * perPage, page * perPage).map((t) => {
      const { description, description_text: descriptionText, ...rest } = clone(t);
      const out = includes.includes('description') ? { ...rest, description, description_text: descriptionText } : rest;
      if (includes.includes('requester')) {
        const c = contactList.find((x) => x.id === t.requester_id);
        out.requester = c ? { email: c.email, id: c.id, mobile: c.mobile, name: c.name, phone: c.phone } : null;
      }
      if (includes.includes('stats')) {
        out.stats = { agent_responded_at: null, requester_responded_at: null, first_responded_at: null,
          status_updated_at: t.updated_at, reopened_at: null, resolved_at: t.status === 4 ? t.updated_at : null,
          closed_at: t.status === 5 ? t.updated_at : null, pending_since: t.status === 3 ? t.updated_at : null };
      }
      return out;
    });
    const headers = {};
    if (page * perPage < hits.length) {
      const next = new URLSearchParams(q);
      next.set('page', String(page + 1));
      next.set('per_page', String(perPage));
      headers.link = `<${server.url}/api/v2/tickets?${next}>; rel="next"`;
    }
    return json(200, items, headers);
  }

  /**
   * Filter Tickets (`GET /api/v2/search/tickets?query="…"&page=n`): `{"results":[…],"total":n}`, 30 per page, `page`
   * 1..10; results are List All Tickets items (no description), newest first, spam/deleted left out.
   */
  function searchTickets(url) {
    const q = url.searchParams;
    const errors = [];
    for (const k of new Set(q.keys())) {
      if (!['query', 'page'].includes(k)) errors.push({ field: k, message: 'Unexpected/invalid field in request', code: 'invalid_field' });
    }
    if (q.has('page') && !(/^\d+$/.test(q.get('page')) && Number(q.get('page')) >= 1 && Number(q.get('page')) <= 10)) {
      errors.push({ field: 'page', message: 'It should be a Positive Number less than or equal to 10', code: 'invalid_value' });
    }
    if (!q.has('query')) errors.push({ field: 'query', message: 'It should be a/an String', code: 'missing_field' });
    if (errors.length) throw fdInvalid(errors);
    const raw = q.get('query');
    if (raw.length > FD_QUERY_MAX) throw fdQueryError(`It should not be more than ${FD_QUERY_MAX} characters`);
    const quoted = /^"(.*)"$/s.exec(raw.trim());
    if (!quoted) throw fdQueryError('Query should be enclosed in double quotes');
    const predicate = parseFreshdeskQuery(quoted[1]);
    const hits = ticketList.filter((t) => t.spam !== true && t.deleted !== true && predicate(t))
      .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id);
    const page = Number(q.get('page') ?? 1);
    const results = hits.slice((page - 1) * 30, page * 30).map((t) => {
      const { description: _d, description_text: _dt, ...rest } = clone(t);
      return rest;
    });
    return json(200, { results, total: hits.length });
  }

  function route(req) {
    authorize(req);
    const url = new URL(req.path, 'http://x');
    const p = url.pathname;
    let m;
    if (req.method === 'GET' && p === '/api/v2/contacts') {
      const q = url.searchParams;
      const matches = (c) => (!q.has('email') || (c.email ?? '').toLowerCase() === q.get('email').toLowerCase()
          || c.other_emails.some((e) => e.toLowerCase() === q.get('email').toLowerCase()))
        && (!q.has('phone') || (c.phone != null && digitsOf(c.phone) === digitsOf(q.get('phone'))))
        && (!q.has('mobile') || (c.mobile != null && digitsOf(c.mobile) === digitsOf(q.get('mobile'))))
        && (!q.has('company_id') || String(c.company_id) === q.get('company_id'));
      return json(200, contactList.filter(matches));
    }
    if (req.method === 'GET' && (m = /^\/api\/v2\/contacts\/(\d+)$/.exec(p))) {
      const c = contactList.find((x) => x.id === Number(m[1]));
      if (!c) throw fdNotFound();
      return json(200, c);
    }
    if (req.method === 'GET' && p === '/api/v2/tickets') return listTickets(url);
    if (req.method === 'GET' && p === '/api/v2/search/tickets') return searchTickets(url);
    if (req.method === 'GET' && (m = /^\/api\/v2\/tickets\/(\d+)$/.exec(p))) {
      const t = ticketList.find((x) => x.id === Number(m[1]));
      if (!t) throw fdNotFound();
      return json(200, t);
    }
    if (req.method === 'POST' && p === '/api/v2/tickets') {
      const body = bodyOf(req);
      validateTicket(body, true);
      const t = makeTicket({});
      applyTicket(t, body);
      return json(201, t, { location: `${server.url}/api/v2/tickets/${t.id}` });
    }
    if (req.method === 'PUT' && (m = /^\/api\/v2\/tickets\/(\d+)$/.exec(p))) {
      const t = ticketList.find((x) => x.id === Number(m[1]));
      if (!t) throw fdNotFound();
      const body = bodyOf(req);
      validateTicket(body, false);
      applyTicket(t, body);
      return json(200, t);
    }
    throw fdNotFound();
  }

  function decorate(response) {
    const h = response.headers;
    const m = Math.floor(Date.now() / 60000);
    if (m !== minute) { minute = m; usedThisMinute = 0; }
    usedThisMinute += 1;
    h['x-ratelimit-total'] ??= String(FRESHDESK_RATE_LIMIT);
    h['x-ratelimit-remaining'] ??= String(response.status === 429 ? 0 : Math.max(0, FRESHDESK_RATE_LIMIT - usedThisMinute));
    h['x-ratelimit-used-currentrequest'] ??= '1';
  }

  function faultResponse(fault) {
    const body = faultBody(fault, freshdeskFaultBody(fault.status, fault.message));
    const extra = {};
    if (fault.status === 429 && fault.retryAfter === undefined) extra['retry-after'] = '60';
    if (fault.status === 404 && body === '') return { status: 404, headers: { ...extra, ...fault.headers }, body: '' };
    return faultReply(fault, body, extra);
  }

  const server = await serve({ name: 'freshdesk', port, dispatch: route, faultResponse, decorate });
  return {
    url: server.url,
    /** Contacts (full Freshdesk objects, live). */
    contacts: contactList,
    /** Tickets (full Freshdesk objects, live), oldest first. */
    tickets: ticketList,
    requests: server.requests,
    fail: server.fail,
    delay: server.delay,
    close: server.close,
  };
}

// Shared with the other CRM fakes (tests/fakes/salesforce.mjs, tests/fakes/livechat.mjs).
export { serve, faultReply, faultBody, HttpError, json, text, clone, lowerHeaders };
