// Edgedesk staff dashboard: a dependency-free single-page app over the worker's /api/v1.
//
// Security rule of this file: every piece of data that comes from the API (customer e-mails above all) reaches the
// DOM through textContent / property assignment only, never through innerHTML or HTML-building strings.

const TOKEN_KEY = 'edgedesk.session';
const STATUSES = ['open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
const PAGE_SIZE = 25;

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------------------------------------------------------
// DOM helpers

/**
 * Creates an element. `props` are assigned as properties (className, textContent, value, ...) except `dataset`,
 * `attrs` (setAttribute) and `on` (event listeners). Children are nodes or strings (always text nodes).
 */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { dataset, attrs, on, ...rest } = props;
  Object.assign(node, rest);
  if (dataset) Object.assign(node.dataset, dataset);
  if (attrs) for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (on) for (const [type, handler] of Object.entries(on)) node.addEventListener(type, handler);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showMessage(node, text, kind = 'error') {
  node.textContent = text ?? '';
  node.hidden = !text;
  node.classList.toggle('success', kind === 'success');
}

const showAlert = (text, kind) => showMessage($('#alert'), text, kind);

const badge = (kind, value) => el('span', { className: `badge ${kind}-${value}`, textContent: value ?? '—', dataset: { [kind]: value ?? '' } });

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const shortDateFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function formatDate(iso, format = dateFormat) {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : format.format(new Date(t));
}

const shortDate = (iso) => formatDate(iso, shortDateFormat);

function isOverdue(ticket) {
  if (!ticket.sla_due_at || ticket.first_response_at) return false;
  const due = Date.parse(ticket.sla_due_at);
  return !Number.isNaN(due) && due < Date.now();
}

function slaCell(ticket) {
  if (isOverdue(ticket)) {
    return el('span', { className: 'badge overdue', textContent: 'overdue', title: `Due ${formatDate(ticket.sla_due_at)}` });
  }
  return el('span', { textContent: shortDate(ticket.sla_due_at), title: formatDate(ticket.sla_due_at) });
}

function customerLabel(ticket) {
  if (ticket.customer_name && ticket.customer_email) return `${ticket.customer_name} <${ticket.customer_email}>`;
  return ticket.customer_name || ticket.customer_email || '—';
}

// ---------------------------------------------------------------------------------------------------------------
// Session and API

function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null');
    if (session?.token && (!session.expires_at || session.expires_at > Date.now())) return session;
  } catch { /* corrupt entry: treat as logged out */ }
  sessionStorage.removeItem(TOKEN_KEY);
  return null;
}

let session = loadSession();

function saveSession(login) {
  session = {
    token: login.token,
    staff: login.staff ?? null,
    expires_at: login.expires_in ? Date.now() + Number(login.expires_in) * 1000 : null,
  };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
}

function clearSession() {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Thrown after a 401 once the app has gone back to the login form; callers just stop. */
class SessionExpired extends Error {}

async function request(method, path, { body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, 'network', `Network error: ${error.message}`);
  }
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  if (!res.ok) {
    const message = json?.error?.message ?? `${res.status} ${res.statusText || 'error'}`;
    throw new ApiError(res.status, json?.error?.code ?? 'http_error', message);
  }
  return json;
}

/** An authenticated call; a 401 ends the session and shows the login form. */
async function api(method, path, body) {
  if (!session) {
    showLogin();
    throw new SessionExpired();
  }
  try {
    return await request(method, path, { body, token: session.token });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      clearSession();
      showLogin(`Your session has ended (${error.message}). Please sign in again.`);
      throw new SessionExpired();
    }
    throw error;
  }
}

/** Runs an action, showing API errors in the page alert (or in `target`). */
async function guarded(action, target = $('#alert')) {
  try {
    return await action();
  } catch (error) {
    if (error instanceof SessionExpired) return undefined;
    showMessage(target, error.message || String(error));
    if (!(error instanceof ApiError)) console.error(error);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Views

const views = ['#login-view', '#list-view', '#ticket-view'];

function showView(id) {
  for (const v of views) $(v).hidden = v !== id;
  const loggedIn = id !== '#login-view';
  $('#session').hidden = !loggedIn;
  if (loggedIn && session?.staff) {
    const { name, email, role } = session.staff;
    $('#whoami').textContent = `${name || email} (${role})`;
  }
}

function showLogin(message) {
  showAlert('');
  showView('#login-view');
  showMessage($('#login-error'), message ?? '');
  $('#password').value = '';
  ($('#email').value ? $('#password') : $('#email')).focus();
}

async function onLogin(event) {
  event.preventDefault();
  const email = $('#email').value.trim();
  const password = $('#password').value;
  const error = $('#login-error');
  if (!email || !password) {
    showMessage(error, 'Enter your e-mail and password.');
    return;
  }
  const button = $('#login-submit');
  button.disabled = true;
  showMessage(error, '');
  try {
    const login = await request('POST', '/api/v1/auth/login', { body: { email, password } });
    if (!login?.token) throw new ApiError(0, 'bad_response', 'The server did not return a token.');
    saveSession(login);
    $('#password').value = '';
    route();
  } catch (e) {
    showMessage(error, e.message || String(e));
  } finally {
    button.disabled = false;
  }
}

function onLogout() {
  clearSession();
  list.tickets = [];
  $('#ticket-table tbody').replaceChildren();
  $('#ticket-body').replaceChildren();
  showMessage($('#poll-result'), '');
  if (location.hash && location.hash !== '#/tickets') history.replaceState(null, '', '#/tickets');
  showLogin();
}

// --- Ticket list -----------------------------------------------------------------------------------------------

const list = { tickets: [], cursor: null, seq: 0 };

function listQuery(cursor) {
  const params = new URLSearchParams();
  const status = $('#status-filter').value;
  const q = $('#search').value.trim();
  if (status) params.set('status', status);
  if (q) params.set('q', q);
  params.set('limit', String(PAGE_SIZE));
  if (cursor) params.set('cursor', cursor);
  return `/api/v1/tickets?${params}`;
}

function ticketRow(t) {
  const href = `#/tickets/${encodeURIComponent(t.ticket_number)}`;
  return el('tr', {
    className: `ticket-row${isOverdue(t) ? ' is-overdue' : ''}`,
    tabIndex: 0,
    dataset: { ticketNumber: t.ticket_number, ticketId: t.ticket_id, testid: 'ticket-row' },
    on: {
      click: (e) => { if (!e.target.closest('a')) location.hash = href; },
      keydown: (e) => { if (e.key === 'Enter') location.hash = href; },
    },
  },
  el('td', { className: 'number' }, el('a', { href, textContent: t.ticket_number })),
  el('td', { className: 'subject', textContent: t.subject, title: t.subject }),
  el('td', { className: 'customer', textContent: t.customer_name || t.customer_email || '—', title: t.customer_email ?? '' }),
  el('td', {}, badge('status', t.status)),
  el('td', {}, badge('priority', t.priority)),
  el('td', { className: 'category', textContent: t.category }),
  el('td', { className: 'sla' }, slaCell(t)),
  el('td', { className: 'created', textContent: shortDate(t.created_at), title: formatDate(t.created_at) }));
}

/** Loads the first page (append=false) or the next one. Stale responses of superseded requests are dropped. */
async function loadTickets({ append = false } = {}) {
  const seq = ++list.seq;
  const more = $('#load-more');
  more.disabled = true;
  $('#ticket-table').setAttribute('aria-busy', 'true');
  await guarded(async () => {
    const page = await api('GET', listQuery(append ? list.cursor : null));
    if (seq !== list.seq) return;
    const tickets = page?.tickets ?? [];
    list.tickets = append ? [...list.tickets, ...tickets] : tickets;
    list.cursor = page?.next_cursor ?? null;
    const body = $('#ticket-table tbody');
    if (append) body.append(...tickets.map(ticketRow));
    else body.replaceChildren(...tickets.map(ticketRow));
    $('#list-empty').hidden = list.tickets.length > 0;
    more.hidden = !list.cursor;
  });
  if (seq === list.seq) {
    more.disabled = false;
    $('#ticket-table').removeAttribute('aria-busy');
  }
}

function pollSummary(r) {
  const parts = [
    `fetched ${r.fetched ?? 0}`,
    `${r.tickets_created ?? 0} new ticket${r.tickets_created === 1 ? '' : 's'}`,
    `${r.messages_appended ?? 0} appended`,
    `${r.skipped ?? 0} skipped`,
    `${r.drafts_created ?? 0} draft${r.drafts_created === 1 ? '' : 's'}`,
  ];
  const errors = Array.isArray(r.errors) ? r.errors : [];
  let text = `Poll done: ${parts.join(', ')}.`;
  if (errors.length) text += ` ${errors.length} error${errors.length === 1 ? '' : 's'}: ${errors.join(' | ')}`;
  return { text, ok: errors.length === 0 };
}

async function onPoll() {
  const button = $('#poll-button');
  const result = $('#poll-result');
  button.disabled = true;
  button.textContent = 'Polling…';
  showMessage(result, '');
  try {
    const report = await guarded(() => api('POST', '/api/v1/admin/email-poll'), result);
    if (report) {
      const { text, ok } = pollSummary(report);
      showMessage(result, text, ok ? 'success' : 'error');
      result.classList.toggle('warning', !ok);
      await loadTickets();
    }
  } finally {
    button.disabled = false;
    button.textContent = 'Poll Gmail now';
  }
}

let searchTimer;

function showList() {
  showView('#list-view');
  document.title = 'Tickets · Edgedesk';
  return loadTickets();
}

// --- One ticket ------------------------------------------------------------------------------------------------

let current = { id: null, seq: 0 };

function parseAttachments(value) {
  if (!value) return [];
  if (Array.isArray(value)) return value;
  try {
    const parsed = JSON.parse(value);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

function formatSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function messageNode(m, ticket) {
  const kind = ['customer', 'agent', 'system'].includes(m.sender_type) ? m.sender_type : 'system';
  const attachments = parseAttachments(m.attachments);
  const who = m.sender_name && m.sender_email ? `${m.sender_name} <${m.sender_email}>` : (m.sender_name || m.sender_email || kind);
  const showSubject = m.subject && m.subject !== ticket.subject;
  return el('article', { className: `msg ${kind}`, dataset: { senderType: kind, messageId: m.id, testid: 'message' } },
    el('header', { className: 'msg-head' },
      el('span', { className: 'msg-kind', textContent: kind === 'agent' ? 'Agent' : kind === 'customer' ? 'Customer' : 'System' }),
      el('span', { className: 'msg-from', textContent: who }),
      m.auto_reason ? el('span', {
        className: 'badge auto', dataset: { testid: 'auto-marker' }, title: 'Sent automatically by the customer\'s mail system',
        textContent: /^(auto|bulk)/i.test(m.auto_reason) ? m.auto_reason : `automatic: ${m.auto_reason}`,
      }) : null,
      el('time', { className: 'msg-time', dateTime: m.created_at ?? '', textContent: formatDate(m.created_at) })),
    showSubject ? el('div', { className: 'msg-subject', textContent: m.subject }) : null,
    el('div', { className: 'msg-body', textContent: m.content ?? '' }),
    attachments.length
      ? el('ul', { className: 'attachments', dataset: { testid: 'attachments' } },
        attachments.map((a) => el('li', {},
          el('span', { className: 'att-name', textContent: a?.filename || '(unnamed)' }),
          el('span', { className: 'att-meta', textContent: [a?.content_type, formatSize(a?.size)].filter(Boolean).join(', ') }))))
      : null);
}

const DRAFT_STATUS = {
  pending: 'waiting to be generated',
  generated: 'generated, not yet saved in Gmail',
  created: 'saved as Gmail draft',
  sent: 'sent automatically',
  failed: 'generation failed',
};

function draftStatusText(draft) {
  let text = DRAFT_STATUS[draft.status] ?? draft.status;
  if (draft.last_error) text += ` (last error: ${draft.last_error})`;
  return text;
}

function selectControl(id, label, values, currentValue, onChange) {
  const select = el('select', { id, dataset: { testid: id }, on: { change: onChange } },
    values.map((v) => el('option', { value: v, textContent: v, selected: v === currentValue })));
  if (!values.includes(currentValue)) select.prepend(el('option', { value: currentValue, textContent: currentValue, selected: true }));
  return el('label', { className: 'control' }, el('span', { textContent: label }), select);
}

function ticketHeader(t) {
  return el('div', { className: 'ticket-head card', id: 'ticket-header' },
    el('div', { className: 'ticket-title' },
      el('span', { className: 'ticket-number', id: 'ticket-number', textContent: t.ticket_number }),
      el('h1', { id: 'ticket-subject', textContent: t.subject })),
    el('p', { className: 'ticket-customer', id: 'ticket-customer', textContent: customerLabel(t) }),
    el('div', { className: 'ticket-meta', id: 'ticket-badges' },
      badge('status', t.status), badge('priority', t.priority),
      el('span', { className: 'badge category', textContent: t.category }),
      el('span', { className: 'meta', textContent: `via ${t.channel}` }),
      el('span', { className: 'meta', textContent: `created ${formatDate(t.created_at)}` }),
      isOverdue(t)
        ? el('span', { className: 'badge overdue', textContent: 'overdue', title: `SLA due ${formatDate(t.sla_due_at)}` })
        : el('span', { className: 'meta', textContent: t.first_response_at ? `first response ${formatDate(t.first_response_at)}` : `SLA due ${formatDate(t.sla_due_at)}` })),
    el('div', { className: 'ticket-controls' },
      selectControl('status-select', 'Status', STATUSES, t.status, (e) => patchTicket(t, 'status', e.target)),
      selectControl('priority-select', 'Priority', PRIORITIES, t.priority, (e) => patchTicket(t, 'priority', e.target)),
      el('span', { id: 'patch-result', className: 'note', attrs: { role: 'status', 'aria-live': 'polite' } })));
}

async function patchTicket(ticket, field, select) {
  const previous = ticket[field];
  const note = $('#patch-result');
  select.disabled = true;
  note.textContent = 'Saving…';
  note.classList.remove('error-text');
  try {
    const updated = await api('PATCH', `/api/v1/tickets/${encodeURIComponent(ticket.ticket_id)}`, { [field]: select.value });
    Object.assign(ticket, updated ?? { [field]: select.value });
    $('#ticket-badges').replaceWith(ticketHeader(ticket).querySelector('#ticket-badges'));
    note.textContent = `${field[0].toUpperCase()}${field.slice(1)} saved: ${ticket[field]}`;
  } catch (error) {
    if (error instanceof SessionExpired) return;
    select.value = previous;
    note.textContent = '';
    showAlert(`Could not change ${field}: ${error.message}`);
  } finally {
    select.disabled = false;
  }
}

function replyPanel(ticket, draft) {
  const hasDraft = Boolean(draft?.content) && draft.status !== 'sent';
  const label = hasDraft ? (draft.source === 'template' ? 'Template draft' : 'AI draft') : 'Reply';
  const textareaId = hasDraft ? 'draft-text' : 'reply-text';
  const textarea = el('textarea', {
    id: textareaId, rows: 10, value: hasDraft ? draft.content : '', placeholder: hasDraft ? '' : 'Write a reply to the customer…',
    dataset: { testid: textareaId },
  });
  const result = el('div', { id: 'reply-result', className: 'alert', hidden: true, attrs: { role: 'alert' } });
  const button = el('button', {
    type: 'submit', id: 'send-reply', className: 'button primary', textContent: 'Send reply', dataset: { testid: 'send-reply' },
  });
  const notes = [];
  if (hasDraft) {
    notes.push(el('span', { className: 'badge draft-status', id: 'draft-status', dataset: { status: draft.status }, textContent: draftStatusText(draft) }));
  } else if (draft) {
    // A draft row without usable text: pending, failed, or already sent automatically.
    notes.push(el('span', { className: 'note', id: 'draft-status', dataset: { status: draft.status }, textContent: `AI draft ${draftStatusText(draft)}` }));
  }
  const form = el('form', {
    id: 'draft-panel', className: 'card reply', dataset: { testid: 'draft-panel' },
    on: { submit: (e) => { e.preventDefault(); sendReply(ticket, textarea, button, result); } },
  },
  el('div', { className: 'reply-head' },
    el('label', {
      htmlFor: textareaId, id: hasDraft ? 'draft-source' : 'reply-label', textContent: hasDraft ? label : 'Reply to customer',
      className: hasDraft ? `draft-label draft-${draft.source === 'template' ? 'template' : 'llm'}` : '',
    }),
    ...notes),
  textarea,
  result,
  el('div', { className: 'reply-actions' }, button,
    el('span', { className: 'note', textContent: ticket.customer_email ? `to ${ticket.customer_email}` : '' })));
  return form;
}

async function sendReply(ticket, textarea, button, result) {
  const content = textarea.value;
  if (!content.trim()) {
    showMessage(result, 'The reply is empty.');
    return;
  }
  button.disabled = true;
  button.textContent = 'Sending…';
  showMessage(result, '');
  try {
    await api('POST', `/api/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/reply`, { content });
    await loadTicket(current.id, { notice: 'Reply sent.' });
  } catch (error) {
    if (error instanceof SessionExpired) return;
    showMessage(result, `Sending failed: ${error.message}`);
    button.disabled = false;
    button.textContent = 'Send reply';
  }
}

async function loadTicket(id, { notice } = {}) {
  const seq = ++current.seq;
  current.id = id;
  const body = $('#ticket-body');
  await guarded(async () => {
    const data = await api('GET', `/api/v1/tickets/${encodeURIComponent(id)}`);
    if (seq !== current.seq) return;
    const { ticket, messages = [], draft = null } = data ?? {};
    if (!ticket) throw new ApiError(0, 'bad_response', 'The server returned no ticket.');
    document.title = `${ticket.ticket_number} · Edgedesk`;
    const thread = el('section', { id: 'thread', className: 'thread', dataset: { testid: 'thread' }, attrs: { 'aria-label': 'Conversation' } },
      messages.length ? messages.map((m) => messageNode(m, ticket)) : el('p', { className: 'empty', textContent: 'No messages.' }));
    const parts = [ticketHeader(ticket)];
    if (notice) parts.push(el('div', { className: 'alert success', id: 'ticket-notice', textContent: notice, attrs: { role: 'status' } }));
    body.replaceChildren(...parts, thread, replyPanel(ticket, draft));
  });
}

function showTicket(id) {
  showView('#ticket-view');
  $('#ticket-body').replaceChildren(el('p', { className: 'empty', textContent: 'Loading…' }));
  return loadTicket(id);
}

// ---------------------------------------------------------------------------------------------------------------
// Routing: #/tickets (list) and #/tickets/{id or number}

function route() {
  showAlert('');
  if (!session) {
    showLogin();
    return;
  }
  const m = /^#\/tickets\/(.+)$/.exec(location.hash);
  if (m) {
    let id;
    try { id = decodeURIComponent(m[1]); } catch { id = m[1]; }
    showTicket(id);
  } else {
    showList();
  }
}

$('#login-form').addEventListener('submit', onLogin);
$('#logout-button').addEventListener('click', onLogout);
$('#poll-button').addEventListener('click', onPoll);
$('#load-more').addEventListener('click', () => loadTickets({ append: true }));
$('#status-filter').addEventListener('change', () => loadTickets());
$('#filter-form').addEventListener('submit', (e) => {
  e.preventDefault();
  clearTimeout(searchTimer);
  loadTickets();
});
$('#search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadTickets(), 300);
});
window.addEventListener('hashchange', route);
route();
