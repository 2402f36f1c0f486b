/**
 * Loopback HTTP fake of the LiveChat (Text) Agent Chat Web API, for black-box tests of the "handoff": an AI phone/SMS
 * conversation handed to a LiveChat human agent together with its transcript.
 *
 * startLiveChat() — Agent Chat Web API, every method `POST /v{version}/agent/action/<action>` with a JSON body
 * (versions 3.5 — legacy, the last one with create_customer — and 3.6, the current stable one):
 *   create_customer   {name?, email?, avatar?, session_fields?}             → {"customer_id"}     (v3.5 only)
 *   get_customer      {id}                                                  → Customer + chat_ids
 *   start_chat        {chat?: {users?, thread?: {events?, properties?}, properties?, access?}, active?, continuous?}
 *                                                                           → {"chat_id","thread_id","event_ids"?}
 *   get_chat          {chat_id, thread_id?}                                 → Chat (one thread; queue while queued)
 *   send_event        {chat_id, event}                                      → {"event_id"}
 *   transfer_chat     {id, target?: {type: agent|group, ids}, ignore_agents_availability?, ignore_requester_presence?}
 *                                                                           → {}
 *   deactivate_chat   {id, ignore_requester_presence?}                      → {}
 *
 * Vendor pages followed (the docs' source is public: github.com/livechat/livechat-public-docs, read at 628955e, 2026-06):
 *   https://platform.text.com/docs/messaging/agent-chat-api/v3.5/        (Web API v3.5: methods, request/response
 *       tables and samples for start_chat, get_chat, create_customer, get_customer, send_event, transfer_chat,
 *       deactivate_chat; "Format of error payload" `{"error":{"type","message","data"?}}`; possible errors)
 *   https://platform.text.com/docs/messaging/agent-chat-api/             (v3.6, "the latest stable version"; same
 *       start_chat/get_chat/transfer_chat/deactivate_chat; no create_customer)
 *   https://platform.text.com/docs/messaging/agent-chat-api/changelog/   (v3.6, 2025-08-07: "The Create Customer and
 *       List Customers methods were removed"; v3.5, 2022-11-23)
 *   https://platform.text.com/docs/messaging/agent-chat-api/v3.5/data-structures/  (Thread: active, events, queue
 *       "present only if the chat is in the queue", `{"position","wait_time","queued_at"}`, queues_duration; Agent,
 *       Customer, Message event: text ≤ 16 KB, visibility all|agents)
 *   https://platform.text.com/docs/messaging/                            (versioning: legacy versions answer with a
 *       `Legacy: YYYY-MM-DD` header)
 *   https://platform.text.com/docs/authorization/personal-access-tokens/ (PAT: HTTP Basic, username = Account ID,
 *       password = the PAT, i.e. `Authorization: Basic base64(<account_id>:<PAT>)`)
 *   https://platform.text.com/docs/authorization/troubleshooting/        ("PATs use the Basic authentication scheme …
 *       not Bearer"; "Invalid access token"; a token "contains `:`" (the `dal:`/`fra:` region prefix); "Invalid
 *       message" when the body is not JSON)
 *   src/constants/index.js in the docs repository (each error type's default message: authentication
 *       "Authentication error", validation "Wrong format of request", too_many_requests "Too many requests",
 *       internal "Internal server error", service_unavailable "Service unavailable", chat_inactive "Chat is inactive",
 *       not_found "Not found", agent_offline "Agent offline", request_timeout "Request timed out", …)
 *   github.com/livechat/lc-sdk-python livechat/tests/test_agent_web_client.py (the live API answers a bad token with
 *       `{"error":{"type":"authentication","message":"Invalid access token"}}`) and github.com/livechat/lc-sdk-go
 *       agent/api_test.go (that body with HTTP 401; validation errors with HTTP 400)
 *   livechat-public-docs commit c91d789 (2025-04-10, "Update data center routing information") removed the old
 *       "Data centers" section that asked for an optional `X-Region: fra` header with `fra:` tokens.
 *
 * Faithful to the vendor:
 * - Auth: `Authorization: Basic base64(<accountId>:<token>)`, split at the FIRST colon (PATs themselves contain one,
 *   e.g. `fra:AbC…`). Bearer, a missing header, or wrong credentials: 401
 *   `{"error":{"type":"authentication","message":"Invalid access token"}}`. An `X-Region` header is accepted and
 *   ignored (it is only recorded in `requests`).
 * - Every error is `{"error":{"type","message"}}` (+ `data` when given). Injected faults use the documented default
 *   messages: 400 validation "Wrong format of request", 401 authentication "Invalid access token", 403 authorization
 *   "Authorization error", 404 not_found "Not found", 413 entity_too_large, 421 misdirected_request "Wrong region"
 *   (`data: {region}` via the fault's `data`), 429 too_many_requests "Too many requests", 500 internal "Internal
 *   server error", 503 service_unavailable "Service unavailable", 504 request_timeout "Request timed out". The
 *   docs document no Retry-After; one is sent only when the test passes `retryAfter`.
 * - start_chat: `chat.users` are existing users (≤ 1 customer, ≤ 4 agents besides the requester); the requester
 *   (the token's agent, `requester` option) joins the chat as an agent user; authors of initial events other than
 *   the requester must be listed in `chat.users` (an event's `author_id` may name the customer, so a transcript can
 *   carry customer lines); "The default visibility of both the events and users is set to all and cannot be
 *   changed" — initial events are stored with visibility "all" whatever the request said (use send_event for
 *   `visibility: "agents"` notes). `event_ids` only when initial events were given; `active: false` creates an
 *   inactive thread. Event ids are `<thread_id>_<n>`, chat/thread ids 10 upper-case alphanumerics, customer ids UUIDs,
 *   timestamps RFC 3339 UTC with microseconds (`2020-05-07T07:11:28.288340Z`).
 * - get_chat: `{id, thread:{id, created_at, active, user_ids, events, properties, access, queue?, queues_duration?},
 *   users:[customer…, agents…], properties, access, is_followed:false}`; `thread.queue` =
 *   `{position, wait_time, queued_at}` only while the active thread is queued.
 * - transfer_chat / deactivate_chat / send_event need the requester among the chat users (transfer and deactivate
 *   take `ignore_requester_presence`), and an active thread (else 400 chat_inactive "Chat is inactive"). Transfer
 *   moves the chat: the previous agents (the requester included) leave it; with `ignore_agents_availability` a chat
 *   nobody can take is queued instead of failing. Methods without a response payload answer 200 `{}`.
 *
 * Simplified (deliberately):
 * - Routing: `agents` ([{id, name, email, accepting = true, maxChats = Infinity, group_ids = [0], avatar?}], id
 *   defaulting to the email as LiveChat agent ids are) — start_chat (active, no agent listed in chat.users) assigns
 *   the first accepting agent below `maxChats` concurrent active chats, who joins `users`; if none can, the thread is
 *   queued: `position` is the 1-based rank among queued active threads (oldest first), `wait_time` is `waitSeconds`.
 *   `setAccepting(agentId, true)` routes queued chats (oldest first) to accepting agents. Real LiveChat probably
 *   assigns a chat an agent starts to that agent and may refuse a non-`continuous` chat when the group is offline;
 *   neither is modelled. No groups beyond `group_ids` on agents, no greetings, files, rich-message postbacks,
 *   properties/tags methods, list_* methods, webhooks or RTM pushes.
 * - Error messages the docs do not give are approximations, not seen on a live account: "Invalid message" (its
 *   type assumed validation), "Chat not found", "Customer not found", "Requester is not present in the chat",
 *   "Agent offline" for a transfer to a busy agent, "Cannot assign any agent from requested groups", the validation
 *   texts; also the HTTP statuses other than 401 and 400 are the obvious mapping, not documented.
 * - create_customer on v3.6 answers 404 not_found (the method was removed); other versions 400 unsupported_version
 *   "Cannot call unsupported API versions.". Non-POST 405 validation.
 * - `fail(matcher, {status, times, type, message, data, body, headers, retryAfter})` and `delay(matcher, {ms, times})`
 *   as in tests/fakes/crm.mjs (the matcher sees `${method} ${pathWithQuery}`, e.g. /start_chat/).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { HttpError, clone, faultBody, faultReply, json, serve } from './crm.mjs';

const SUPPORTED_VERSIONS = ['3.5', '3.6'];
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const MAX_TEXT_BYTES = 16 * 1024;
const EVENT_TYPES = ['message', 'system_message', 'custom', 'rich_message', 'filled_form', 'file'];

/** Default error type and message per HTTP status (messages from the docs' ERRORS table). */
const ERROR_DEFAULTS = {
  400: ['validation', 'Wrong format of request'],
  401: ['authentication', 'Invalid access token'],
  403: ['authorization', 'Authorization error'],
  404: ['not_found', 'Not found'],
  408: ['request_timeout', 'Request timed out'],
  413: ['entity_too_large', 'Upload limit exceeded (10MB).'],
  421: ['misdirected_request', 'Wrong region'],
  429: ['too_many_requests', 'Too many requests'],
  500: ['internal', 'Internal server error'],
  503: ['service_unavailable', 'Service unavailable'],
  504: ['request_timeout', 'Request timed out'],
};

/** A LiveChat error body. */
export function liveChatErrorBody(status, { type, message, data } = {}) {
  const [defType, defMessage] = ERROR_DEFAULTS[status] ?? (status >= 500 ? ERROR_DEFAULTS[500] : ERROR_DEFAULTS[400]);
  const error = { type: type ?? defType, message: message ?? defMessage };
  if (data !== undefined) error.data = data;
  return { error };
}

const lcError = (status, type, message, data) => new HttpError(json(status, liveChatErrorBody(status, { type, message, data })));
const invalid = (message) => lcError(400, 'validation', message);

let microCounter = 0;
/** RFC 3339 UTC with microseconds, strictly increasing within a process. */
function lcTime(date = new Date()) {
  microCounter = (microCounter + 1) % 1000;
  return date.toISOString().replace('Z', `${String(microCounter).padStart(3, '0')}Z`);
}
const randomId = (n = 10) => Array.from({ length: n }, () => ALNUM[randomInt(ALNUM.length)]).join('');
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Starts the LiveChat Agent Chat Web API fake on 127.0.0.1.
 * @param {{accountId: string, token: string, agents?: object[], customers?: object[], requester?: object,
 *          waitSeconds?: number, legacyUntil?: string, port?: number}} opts
 * `accountId`/`token`: the Basic credentials (`token` as the PAT, e.g. "fra:…"). `agents`: routing targets
 * [{id?, email, name, accepting = true, maxChats = Infinity, group_ids = [0], avatar?}]. `customers`: seed customers
 * (partial Customer objects; ids default to UUIDs). `requester`: the token's own agent {id, name, email}, who joins
 * the chats it starts (default handoff@edgedesk.test). `waitSeconds`: queue `wait_time`. `legacyUntil`: when set,
 * v3.5 responses carry `Legacy: <that date>`.
 */
export async function startLiveChat({
  accountId,
  token,
  agents = [{ id: 'smith@example.com', name: 'Agent Smith', email: 'smith@example.com', accepting: true }],
  customers = [],
  requester = { id: 'handoff@edgedesk.test', name: 'Edgedesk', email: 'handoff@edgedesk.test' },
  waitSeconds = 120,
  legacyUntil,
  port = 0,
} = {}) {
  if (!accountId || !token) throw new TypeError('startLiveChat: accountId and token are required');
  if (!(Number.isFinite(waitSeconds) && waitSeconds >= 0)) throw new TypeError('startLiveChat: waitSeconds must be a number >= 0');

  const agentList = agents.map((a) => {
    const id = a.id ?? a.email;
    if (!id) throw new TypeError('startLiveChat: every agent needs an id or an email');
    return { name: id, email: id, accepting: true, maxChats: Infinity, group_ids: [0], ...clone(a), id };
  });
  const requesterUser = { name: requester.id, email: requester.id, ...clone(requester) };
  if (!requesterUser.id) throw new TypeError('startLiveChat: requester.id is required');
  const customerList = [];
  const chatList = [];
  let queueSeq = 0;

  function makeCustomer(p) {
    const c = {
      id: p.id ?? randomUUID(),
      type: 'customer',
      created_at: p.created_at ?? lcTime(),
      statistics: { chats_count: 0, threads_count: 0, visits_count: 0 },
      chat_ids: [],
      ...clone(p),
    };
    for (const k of ['name', 'email', 'avatar', 'session_fields']) if (c[k] === undefined) delete c[k];
    customerList.push(c);
    return c;
  }
  customers.forEach(makeCustomer);

  const agentById = (id) => agentList.find((a) => a.id === id);
  const customerById = (id) => customerList.find((c) => c.id === id);
  const chatById = (id) => chatList.find((c) => c.id === id);
  const activeThread = (chat) => chat.threads.find((t) => t.active);
  const lastThread = (chat) => chat.threads.at(-1);
  const hasUser = (chat, id) => chat.users.some((u) => u.id === id);

  /** Active chats an agent is in (the requester's are not counted: it is not routed to). */
  const load = (agent) => chatList.filter((c) => activeThread(c) && hasUser(c, agent.id)).length;
  const available = (agent) => agent.accepting && load(agent) < agent.maxChats;
  const queuedThreads = () => chatList.map(activeThread).filter((t) => t?.queue).sort((a, b) => a.queue.seq - b.queue.seq);

  function addAgentUser(chat, agent, thread) {
    if (!hasUser(chat, agent.id)) chat.users.push({ id: agent.id, type: 'agent', visibility: 'all' });
    if (thread && !thread.user_ids.includes(agent.id)) thread.user_ids.push(agent.id);
  }
  function assign(chat, thread, agent) {
    addAgentUser(chat, agent, thread);
    if (thread.queue) {
      thread.queues_duration = Math.max(0, Math.round((Date.now() - Date.parse(thread.queue.queued_at)) / 1000));
      thread.queue = null;
    }
  }
  function enqueue(thread) {
    thread.queue = { queued_at: lcTime(), seq: queueSeq++ };
  }
  /** Routes a chat's active thread to the first available candidate, else queues it. */
  function route(chat, thread, candidates = agentList) {
    const agent = candidates.find(available);
    if (agent) assign(chat, thread, agent);
    else if (!thread.queue) enqueue(thread);
    return agent;
  }
  function drainQueue() {
    for (const thread of queuedThreads()) {
      const chat = chatList.find((c) => c.threads.includes(thread));
      const agent = agentList.find(available);
      if (!agent) break;
      assign(chat, thread, agent);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Rendering.

  function renderUser(u) {
    if (u.type === 'customer') {
      const c = customerById(u.id) ?? { id: u.id, type: 'customer' };
      const { chat_ids: _ids, ...rest } = c;
      return { ...clone(rest), present: false };
    }
    const a = u.id === requesterUser.id ? requesterUser : (agentById(u.id) ?? { id: u.id, name: u.id, email: u.id });
    const out = { id: a.id, name: a.name, email: a.email, type: 'agent', present: true, visibility: u.visibility ?? 'all' };
    if (a.avatar) out.avatar = a.avatar;
    return out;
  }
  function renderThread(chat, thread) {
    const out = {
      id: thread.id,
      created_at: thread.created_at,
      active: thread.active,
      user_ids: [...thread.user_ids],
      events: clone(thread.events),
      properties: clone(thread.properties),
      access: clone(chat.access),
    };
    if (thread.tags.length) out.tags = [...thread.tags];
    if (thread.active && thread.queue) {
      const position = queuedThreads().indexOf(thread) + 1;
      out.queue = { position, wait_time: waitSeconds, queued_at: thread.queue.queued_at };
    }
    if (thread.queues_duration !== undefined) out.queues_duration = thread.queues_duration;
    const i = chat.threads.indexOf(thread);
    if (i > 0) out.previous_thread_id = chat.threads[i - 1].id;
    if (i < chat.threads.length - 1) out.next_thread_id = chat.threads[i + 1].id;
    return out;
  }
  function renderChat(chat, thread) {
    const users = [...chat.users].sort((a, b) => (a.type === b.type ? 0 : a.type === 'customer' ? -1 : 1));
    return {
      id: chat.id,
      thread: renderThread(chat, thread),
      users: users.map(renderUser),
      properties: clone(chat.properties),
      access: clone(chat.access),
      is_followed: false,
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Validation helpers.

  const str = (v) => typeof v === 'string';
  function requireString(body, field) {
    if (!str(body[field]) || body[field] === '') throw invalid(`\`${field}\` is required`);
    return body[field];
  }
  function requireChat(id) {
    const chat = chatById(id);
    if (!chat) throw lcError(404, 'not_found', 'Chat not found');
    return chat;
  }
  function requireActive(chat) {
    const thread = activeThread(chat);
    if (!thread) throw lcError(400, 'chat_inactive', 'Chat is inactive');
    return thread;
  }
  function requirePresence(chat, ignore) {
    if (!ignore && !hasUser(chat, requesterUser.id)) throw invalid('Requester is not present in the chat');
  }
  function checkProperties(value, field) {
    if (value === undefined) return;
    if (!isObject(value) || Object.values(value).some((ns) => !isObject(ns))) throw invalid(`\`${field}\` must be an object of namespaces`);
  }

  /** Validates an event; `allowed` are the author ids allowed besides the requester. */
  function makeEvent(raw, thread, { allowedAuthors, forceVisibility }) {
    if (!isObject(raw)) throw invalid('Event must be an object');
    if (!EVENT_TYPES.includes(raw.type)) {
      throw invalid(raw.type === 'form' ? 'Event type `form` is not supported' : `Unsupported event type: ${raw.type}`);
    }
    if (raw.type === 'message' || raw.type === 'system_message') {
      if (!str(raw.text) || raw.text === '') throw invalid('Event `text` is required');
      if (Buffer.byteLength(raw.text, 'utf8') > MAX_TEXT_BYTES) throw invalid('Event `text` exceeds 16 KB');
    }
    if (raw.visibility !== undefined && !['all', 'agents'].includes(raw.visibility)) throw invalid('Event `visibility` must be `all` or `agents`');
    const author = raw.author_id ?? requesterUser.id;
    if (author !== requesterUser.id && !allowedAuthors.includes(author)) throw invalid(`Event author ${author} is not a chat user`);
    checkProperties(raw.properties, 'event.properties');
    const { author_id: _a, visibility, id: _id, created_at: _c, ...rest } = clone(raw);
    return {
      id: `${thread.id}_${thread.events.length + 1}`,
      created_at: lcTime(),
      visibility: forceVisibility ?? visibility ?? 'all',
      ...rest,
      author_id: author,
    };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Actions.

  const actions = {
    create_customer(body, version) {
      if (version !== '3.5') throw lcError(404, 'not_found', 'Not found');
      for (const k of ['name', 'email', 'avatar']) if (body[k] !== undefined && !str(body[k])) throw invalid(`\`${k}\` must be a string`);
      if (body.session_fields !== undefined
        && (!Array.isArray(body.session_fields) || body.session_fields.some((f) => !isObject(f) || Object.values(f).some((v) => !str(v))))) {
        throw invalid('`session_fields` must be an array of objects with string values');
      }
      const c = makeCustomer({ name: body.name, email: body.email, avatar: body.avatar, session_fields: body.session_fields });
      return { customer_id: c.id };
    },

    get_customer(body) {
      const c = customerById(requireString(body, 'id'));
      if (!c) throw lcError(404, 'not_found', 'Customer not found');
      const out = clone(c);
      if (!out.chat_ids.length) delete out.chat_ids;
      return out;
    },

    start_chat(body) {
      const chatIn = body.chat ?? {};
      if (!isObject(chatIn)) throw invalid('`chat` must be an object');
      if (body.active !== undefined && typeof body.active !== 'boolean') throw invalid('`active` must be a bool');
      if (body.continuous !== undefined && typeof body.continuous !== 'boolean') throw invalid('`continuous` must be a bool');
      const usersIn = chatIn.users ?? [];
      if (!Array.isArray(usersIn)) throw invalid('`chat.users` must be an array');
      const listed = [];
      for (const u of usersIn) {
        if (!isObject(u) || !str(u.id) || !['agent', 'customer'].includes(u.type)) throw invalid('`chat.users` items need `id` and `type` (agent or customer)');
        if (u.type === 'customer' && !customerById(u.id)) throw invalid(`Customer not found: ${u.id}`);
        if (u.type === 'agent' && u.id !== requesterUser.id && !agentById(u.id)) throw invalid(`Agent not found: ${u.id}`);
        if (!listed.some((x) => x.id === u.id)) listed.push({ id: u.id, type: u.type });
      }
      if (listed.filter((u) => u.type === 'customer').length > 1) throw invalid('Only one customer is allowed in a chat');
      if (listed.filter((u) => u.type === 'agent' && u.id !== requesterUser.id).length > 4) throw invalid('Up to 4 additional agents are allowed');
      const threadIn = chatIn.thread ?? {};
      if (!isObject(threadIn)) throw invalid('`chat.thread` must be an object');
      const eventsIn = threadIn.events ?? [];
      if (!Array.isArray(eventsIn)) throw invalid('`chat.thread.events` must be an array');
      checkProperties(chatIn.properties, 'chat.properties');
      checkProperties(threadIn.properties, 'chat.thread.properties');
      if (chatIn.access !== undefined && (!isObject(chatIn.access) || !Array.isArray(chatIn.access.group_ids ?? []))) {
        throw invalid('`chat.access.group_ids` must be an array');
      }

      const thread = {
        id: randomId(),
        created_at: lcTime(),
        active: body.active ?? true,
        user_ids: [],
        events: [],
        properties: clone(threadIn.properties ?? {}),
        tags: [],
        queue: null,
      };
      const chat = {
        id: randomId(),
        users: [],
        threads: [thread],
        properties: clone(chatIn.properties ?? {}),
        access: { group_ids: [...(chatIn.access?.group_ids ?? [0])] },
        continuous: body.continuous ?? false,
      };
      const allowedAuthors = listed.map((u) => u.id);
      for (const raw of eventsIn) thread.events.push(makeEvent(raw, thread, { allowedAuthors, forceVisibility: 'all' }));

      for (const u of listed) {
        if (u.type === 'customer') chat.users.push({ id: u.id, type: 'customer', visibility: 'all' });
      }
      chat.users.push({ id: requesterUser.id, type: 'agent', visibility: 'all' });
      thread.user_ids.push(...chat.users.map((u) => u.id));
      for (const u of listed) if (u.type === 'agent' && u.id !== requesterUser.id) addAgentUser(chat, agentById(u.id), thread);
      chatList.push(chat);
      for (const u of listed.filter((x) => x.type === 'customer')) {
        const c = customerById(u.id);
        c.statistics.chats_count += 1;
        c.statistics.threads_count += 1;
        c.chat_ids.push(chat.id);
      }
      if (thread.active && !listed.some((u) => u.type === 'agent' && u.id !== requesterUser.id)) route(chat, thread);
      const out = { chat_id: chat.id, thread_id: thread.id };
      if (thread.events.length) out.event_ids = thread.events.map((e) => e.id);
      return out;
    },

    get_chat(body) {
      const chat = requireChat(requireString(body, 'chat_id'));
      let thread = lastThread(chat);
      if (body.thread_id !== undefined) {
        thread = chat.threads.find((t) => t.id === body.thread_id);
        if (!thread) throw lcError(404, 'not_found', 'Thread not found');
      }
      return renderChat(chat, thread);
    },

    send_event(body) {
      const chat = requireChat(requireString(body, 'chat_id'));
      requirePresence(chat, false);
      const thread = requireActive(chat);
      const event = makeEvent(body.event, thread, { allowedAuthors: [] });
      thread.events.push(event);
      return { event_id: event.id };
    },

    transfer_chat(body) {
      const chat = requireChat(requireString(body, 'id'));
      const thread = requireActive(chat);
      requirePresence(chat, body.ignore_requester_presence === true);
      const target = body.target;
      let candidates;
      if (target === undefined) {
        candidates = agentList.filter((a) => !hasUser(chat, a.id));
      } else {
        if (!isObject(target) || !['agent', 'group'].includes(target.type) || !Array.isArray(target.ids) || !target.ids.length) {
          throw invalid('`target` needs `type` (agent or group) and a non-empty `ids` array');
        }
        if (target.type === 'agent') {
          for (const id of target.ids) if (!agentById(id)) throw invalid(`Agent not found: ${id}`);
          candidates = target.ids.map(agentById);
        } else {
          if (target.ids.some((id) => !Number.isInteger(id))) throw invalid('Group ids must be integers');
          candidates = agentList.filter((a) => target.ids.includes(0) || a.group_ids.some((g) => target.ids.includes(g)));
        }
      }
      const agent = candidates.find(available);
      if (!agent && body.ignore_agents_availability !== true) {
        throw target?.type === 'agent' ? lcError(400, 'agent_offline', 'Agent offline') : invalid('Cannot assign any agent from requested groups');
      }
      chat.users = chat.users.filter((u) => u.type !== 'agent');
      thread.user_ids = thread.user_ids.filter((id) => chat.users.some((u) => u.id === id));
      if (target?.type === 'group') chat.access = { group_ids: [...target.ids] };
      if (agent) assign(chat, thread, agent);
      else if (!thread.queue) enqueue(thread);
      return {};
    },

    deactivate_chat(body) {
      const chat = requireChat(requireString(body, 'id'));
      requirePresence(chat, body.ignore_requester_presence === true);
      const thread = requireActive(chat);
      thread.active = false;
      thread.queue = null;
      drainQueue();
      return {};
    },
  };

  // ---------------------------------------------------------------------------------------------------------------
  // HTTP.

  function authenticate(req) {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    let ok = false;
    if (m) {
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      ok = i > 0 && decoded.slice(0, i) === accountId && decoded.slice(i + 1) === token;
    }
    if (!ok) throw lcError(401, 'authentication', 'Invalid access token');
  }

  function dispatch(req) {
    const url = new URL(req.path, 'http://x');
    const m = /^\/v(\d+\.\d+)\/agent\/action\/([A-Za-z_]+)\/?$/.exec(url.pathname);
    if (!m) throw lcError(404, 'not_found', 'Not found');
    const [, version, action] = m;
    if (!SUPPORTED_VERSIONS.includes(version)) throw lcError(400, 'unsupported_version', 'Cannot call unsupported API versions.');
    if (req.method !== 'POST') throw lcError(405, 'validation', `Method ${req.method} not allowed`);
    authenticate(req);
    if (!Object.hasOwn(actions, action)) throw lcError(404, 'not_found', 'Not found');
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '') || !isObject(req.json)) throw invalid('Invalid message');
    return json(200, actions[action](req.json, version));
  }

  function decorate(response, req) {
    if (legacyUntil && /^\/v3\.5\//.test(req.path)) response.headers.legacy ??= legacyUntil;
  }

  function faultResponse(fault) {
    return faultReply(fault, faultBody(fault, liveChatErrorBody(fault.status, fault)));
  }

  const server = await serve({ name: 'livechat', port, dispatch, faultResponse, decorate });

  return {
    url: server.url,
    /**
     * Chats (live): {id, users:[{id, type, visibility}], threads:[{id, created_at, active, user_ids, events,
     * properties, tags, queue: {queued_at, seq}|null, queues_duration?}], properties, access, continuous}.
     */
    chats: chatList,
    /** Customers (live): {id, type, name?, email?, avatar?, session_fields?, created_at, statistics, chat_ids}. */
    customers: customerList,
    /** Agents (live): {id, name, email, accepting, maxChats, group_ids, avatar?}. */
    agents: agentList,
    /** The token's agent, who joins every chat it starts. */
    requester: requesterUser,
    requests: server.requests,
    fail: server.fail,
    delay: server.delay,
    /** Turns an agent's accepting on or off; turning it on routes queued chats (oldest first). */
    setAccepting(agentId, accepting) {
      const agent = agentById(agentId);
      if (!agent) throw new TypeError(`setAccepting: no agent ${agentId}`);
      agent.accepting = Boolean(accepting);
      if (agent.accepting) drainQueue();
    },
    /** The chat as get_chat renders it (latest thread), for assertions. */
    view(chatId) {
      const chat = chatById(chatId);
      return chat ? renderChat(chat, lastThread(chat)) : undefined;
    },
    close: server.close,
  };
}
