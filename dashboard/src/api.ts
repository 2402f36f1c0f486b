// Typed client of the Edgedesk HTTP API (docs/api.md). The dashboard authenticates with the HttpOnly session cookie
// that POST /auth/login sets: every call is same-origin with `credentials: 'same-origin'`, and no token is ever
// kept in JavaScript-readable storage.

export type Role = 'owner' | 'admin' | 'supervisor' | 'team_lead' | 'agent';
export type Status = 'open' | 'pending' | 'resolved' | 'closed';
export type Priority = 'urgent' | 'high' | 'medium' | 'low';
export type Category = 'order' | 'product' | 'billing' | 'technical' | 'other';
export type Channel = 'email' | 'sms' | 'voice' | 'chat' | 'facebook' | 'instagram';
export type SenderType = 'customer' | 'agent' | 'system' | 'note';
export type View = 'mine' | 'unassigned' | 'open' | 'sla_at_risk' | 'sla_breached' | 'all';
export type Sort = 'newest' | 'oldest' | 'updated' | 'priority' | 'sla';

export const ROLES: Role[] = ['owner', 'admin', 'supervisor', 'team_lead', 'agent'];
export const STATUSES: Status[] = ['open', 'pending', 'resolved', 'closed'];
export const PRIORITIES: Priority[] = ['urgent', 'high', 'medium', 'low'];
export const CATEGORIES: Category[] = ['order', 'product', 'billing', 'technical', 'other'];
export const CHANNELS: Channel[] = ['email', 'sms', 'voice', 'chat', 'facebook', 'instagram'];
export const SORTS: Sort[] = ['newest', 'oldest', 'updated', 'priority', 'sla'];

/** True when `role` is at least `min` (owner > admin > supervisor > team_lead > agent). */
export function atLeast(role: Role | undefined, min: Role): boolean {
  if (!role) return false;
  return ROLES.indexOf(role) <= ROLES.indexOf(min);
}

export interface Staff {
  staff_id: string;
  email: string;
  name: string;
  role: Role;
  team: string | null;
  status: 'active' | 'inactive';
  tenant: string;
  must_change_password: boolean;
  created_at: string;
}

export interface Tenant {
  id: string;
  name: string;
}

export interface TenantRow extends Tenant {
  created_at: string;
  staff_count: number;
}

export interface Me {
  staff: Staff;
  tenant: Tenant;
}

export interface Ticket {
  ticket_id: string;
  ticket_number: string;
  customer_email: string | null;
  customer_name: string | null;
  /** The caller's number (E.164) on SMS and voice tickets. */
  customer_phone?: string | null;
  /** The customer record (`/customers/{id}`) the ticket belongs to; null on tickets not linked (yet). */
  customer_id?: string | null;
  subject: string;
  status: Status;
  priority: Priority;
  category: Category;
  channel: Channel;
  assigned_to: string | null;
  assignee_name: string | null;
  tags: string[];
  sla_due_at: string | null;
  first_response_at: string | null;
  resolved_at: string | null;
  merged_into: string | null;
  created_at: string;
  updated_at: string;
}

export interface Attachment {
  filename: string;
  content_type: string;
  size: number;
}

export interface Message {
  id: string;
  sender_type: SenderType;
  sender_id: string | null;
  sender_name: string | null;
  sender_email: string | null;
  content: string;
  /** The e-mail's HTML as received: untrusted, only ever rendered through sanitize.ts. */
  body_html: string | null;
  created_at: string;
  attachments: Attachment[];
  auto_reason: string | null;
  gmail_message_id: string | null;
  gmail_thread_id: string | null;
  message_id_header: string | null;
  in_reply_to: string | null;
  subject: string | null;
}

export interface Draft {
  id: string;
  status: string;
  source: 'llm' | 'template';
  content: string;
  gmail_draft_id: string | null;
  last_error?: string | null;
  created_at: string;
}

export interface TicketEvent {
  id: string;
  actor_id: string | null;
  actor_name: string | null;
  kind: string;
  detail: Record<string, unknown>;
  created_at: string;
}

export interface TicketDetail {
  ticket: Ticket;
  messages: Message[];
  draft: Draft | null;
  customer_tickets: Ticket[];
  /** The customer's record in the tenant's primary CRM, when it has one and knows them. */
  crm_links?: { connection_id: string; type: string; external_id: string | null; synced_status: string | null; last_error: string | null }[];
  crm_customer?: { crm_type: string; customer: { id?: string; name?: string | null; tier?: string | null; found?: boolean;
    metadata?: { open_tickets?: { id: string; subject: string | null; status: string }[] } } } | null;
  events: TicketEvent[];
}

export interface TicketPage {
  tickets: Ticket[];
  next_cursor: string | null;
}

export interface TicketQuery {
  view?: View;
  status?: string;
  priority?: string;
  category?: string;
  channel?: string;
  /** A staff id, or `none` for unassigned. */
  assignee?: string;
  tag?: string;
  /** A customer id: that customer's tickets on every channel. */
  customer?: string;
  q?: string;
  sort?: Sort;
  limit?: number;
  cursor?: string;
}

export interface TicketPatch {
  status?: Status;
  priority?: Priority;
  category?: Category;
  assigned_to?: string | null;
  tags?: string[];
}

export interface BulkChanges {
  status?: Status;
  priority?: Priority;
  assigned_to?: string | null;
  add_tags?: string[];
  remove_tags?: string[];
}

export interface BulkResult {
  changed: string[];
  unchanged: string[];
  denied: { ticket_id: string; reason: string }[];
  summary: string;
}

export interface Canned {
  id: string;
  title: string;
  shortcut: string;
  body: string;
  updated_at: string;
}

export interface CannedInput {
  title: string;
  shortcut: string;
  body: string;
}

export interface Reports {
  days: number;
  from: string;
  to: string;
  created_per_day: { date: string; count: number }[];
  first_response: { count: number; median_minutes: number | null; p90_minutes: number | null };
  resolution: { count: number; median_hours: number | null; p90_hours: number | null };
  open_by_status: Record<string, number>;
  open_by_priority: Record<string, number>;
  sla: { met: number; breached: number; at_risk: number };
  agents: { staff_id: string; name: string; open: number; pending: number; replies: number }[];
  ai_drafts: { sent: number; mean_edit_distance: number | null; unchanged: number };
}

export type IdentityKind = 'email' | 'phone' | 'psid' | 'igsid';
export type ProfileStatus = 'none' | 'pending' | 'fetched' | 'failed';
/** How `GET /customers?platform=` names the identity kinds. */
export type CustomerPlatform = 'facebook' | 'instagram' | 'email' | 'phone';
export const CUSTOMER_PLATFORMS: CustomerPlatform[] = ['email', 'phone', 'facebook', 'instagram'];

export interface Identity {
  kind: IdentityKind;
  /** The Facebook page id / Instagram account id for psid/igsid; empty otherwise. */
  scope: string;
  value: string;
}

export interface Customer {
  id: string;
  /** The name, else first + last; null when unknown (never a placeholder). */
  name: string | null;
  first_name: string | null;
  last_name: string | null;
  profile_pic_url: string | null;
  blocked: boolean;
  notes: string | null;
  last_interaction_at: string | null;
  /** The Meta profile: `none` (not a Meta customer), `pending` (to fetch or retry), `fetched`, `failed`. */
  profile_status: ProfileStatus;
  /** Set when erased (GDPR). */
  erased_at: string | null;
  identities: Identity[];
  ticket_count: number;
  created_at: string;
  updated_at: string;
}

export interface CustomerPage {
  customers: Customer[];
  next_cursor: string | null;
}

export interface CustomerQuery {
  /** Name, e-mail, phone or PSID (substring). */
  q?: string;
  platform?: CustomerPlatform;
  blocked?: 'true' | 'false';
  limit?: number;
  cursor?: string;
}

/** POST /customers and PUT /customers/{id} (PUT: absent fields stay; identity lists replace). */
export interface CustomerInput {
  name?: string;
  first_name?: string;
  last_name?: string;
  emails?: string[];
  phones?: string[];
  meta_ids?: { platform: 'facebook' | 'instagram'; id: string; page_id: string }[];
  profile_pic_url?: string;
  notes?: string;
}

// --- live chat and WebRTC voice (docs/api.md, "Live chat and WebRTC voice")
export type SupportStatus = 'online' | 'away' | 'offline';
export type SupportKind = 'chat' | 'voice';
export type SessionStatus = 'queued' | 'active' | 'ended' | 'abandoned';
export const SUPPORT_STATUSES: SupportStatus[] = ['online', 'away', 'offline'];

export interface SupportMe {
  support_status: SupportStatus;
  /** Live conversations the caller has in progress. */
  active: number;
}

export interface SupportSession {
  id: string;
  kind: SupportKind;
  room_id: string;
  customer_name: string;
  customer_email: string | null;
  status: SessionStatus;
  assigned_to: string | null;
  assigned_name: string | null;
  escalated: boolean;
  created_at: string;
  assigned_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  /** The transcript's ticket, once ended. */
  ticket_id: string | null;
}

export interface QueuedSession extends SupportSession {
  position: number;
}

/** A stored chat line of a session (masked). */
export interface SupportMessage {
  id: string;
  peer_id: string;
  role: 'customer' | 'agent' | 'supervisor';
  sender_name: string;
  text: string;
  created_at: string;
}

export interface SupportActivity {
  actor_id: string | null;
  actor_name: string | null;
  kind: string;
  /** JSON text. */
  detail: string;
  created_at: string;
}

/** The call record of a voice session. */
export interface VoiceCall {
  id: string;
  requested_at: string;
  answered_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
  end_reason: string | null;
}

export interface SupportSessionDetail {
  session: SupportSession;
  messages: SupportMessage[];
  activity: SupportActivity[];
  call: VoiceCall | null;
}

export interface SupportSettings {
  auto_assign_enabled: boolean;
  max_concurrent_chats_per_agent: number;
  queue_timeout_seconds: number;
}

export interface SupportMetrics {
  active_chats: number;
  active_calls: number;
  queued: number;
  online_staff: number;
  sessions: number;
  abandoned: number;
  /** 0–1 (null without sessions). */
  abandon_rate: number | null;
  average_wait_seconds: number | null;
  agents: { staff_id: string; name: string; support_status: SupportStatus; active_chats: number; active_calls: number }[];
}

export interface PollReport {
  fetched: number;
  tickets_created: number;
  messages_appended: number;
  skipped: number;
  drafts_created: number;
  errors: unknown[];
  usage?: Record<string, number>;
}

export interface LoginResult {
  token: string;
  expires_in: number;
  staff: Staff;
}

/** An API failure: the HTTP status plus the `{"error":{"code","message"}}` body (or a fallback). */
export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called on any 401 except from the login and password forms (the app then shows the login form). */
let onUnauthorized: (() => void) | null = null;
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

const BASE = '/api/v1';

async function request<T>(method: string, path: string, body?: unknown, { quiet401 = false } = {}): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const retry = res.headers.get('retry-after');
    let message = err?.message ?? `Request failed (HTTP ${res.status}).`;
    if (res.status === 429 && retry) message += ` Try again in ${retry} s.`;
    if (res.status === 401 && !quiet401) onUnauthorized?.();
    throw new ApiError(res.status, err?.code ?? 'http_error', message);
  }
  return json as T;
}

/** `{a: 1, b: undefined}` → `?a=1` (empty strings are left out too). */
function query(params: object): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export const api = {
  // --- auth
  login: (email: string, password: string) =>
    request<LoginResult>('POST', '/auth/login', { email, password }, { quiet401: true }),
  logout: () => request<void>('POST', '/auth/logout', undefined, { quiet401: true }),
  me: () => request<Me>('GET', '/auth/me', undefined, { quiet401: true }),
  changePassword: (current_password: string, new_password: string) =>
    request<LoginResult>('POST', '/auth/password', { current_password, new_password }, { quiet401: true }),

  // --- tickets
  tickets: (q: TicketQuery) => request<TicketPage>('GET', `/tickets${query(q)}`),
  ticket: (id: string) => request<TicketDetail>('GET', `/tickets/${enc(id)}`),
  patchTicket: (id: string, patch: TicketPatch) => request<Ticket>('PATCH', `/tickets/${enc(id)}`, patch),
  reply: (id: string, body: { content: string; draft_id?: string; status?: Status }) =>
    request<{ message: Message; ticket: Ticket }>('POST', `/tickets/${enc(id)}/reply`, body),
  note: (id: string, content: string) => request<{ message: Message }>('POST', `/tickets/${enc(id)}/notes`, { content }),
  regenerateDraft: (id: string) => request<{ draft: Draft }>('POST', `/tickets/${enc(id)}/draft/regenerate`),
  discardDraft: (id: string) => request<void>('DELETE', `/tickets/${enc(id)}/draft`),
  merge: (id: string, source: string) =>
    request<{ ticket: Ticket; merged: Ticket }>('POST', `/tickets/${enc(id)}/merge`, { source }),
  bulk: (ticket_ids: string[], changes: BulkChanges) =>
    request<BulkResult>('POST', '/tickets/bulk', { ticket_ids, changes }),

  // --- staff
  staff: () => request<{ staff: Staff[] }>('GET', '/staff'),
  createStaff: (body: { email: string; name: string; role: Role; team?: string }) =>
    request<{ staff: Staff; temporary_password: string }>('POST', '/staff', body),
  patchStaff: (id: string, body: { name?: string; role?: Role; team?: string | null; status?: 'active' | 'inactive' }) =>
    request<{ staff: Staff }>('PATCH', `/staff/${enc(id)}`, body),
  resetPassword: (id: string) => request<{ temporary_password: string }>('POST', `/staff/${enc(id)}/reset-password`),

  // --- canned responses
  canned: () => request<{ canned_responses: Canned[] }>('GET', '/canned-responses'),
  createCanned: (body: CannedInput) => request<Canned>('POST', '/canned-responses', body),
  updateCanned: (id: string, body: CannedInput) =>
    request<Canned>('PUT', `/canned-responses/${enc(id)}`, body),
  deleteCanned: (id: string) => request<void>('DELETE', `/canned-responses/${enc(id)}`),

  // --- tenants (owner of tenant `default`)
  tenants: () => request<{ tenants: TenantRow[] }>('GET', '/tenants'),
  createTenant: (body: { id: string; name: string; owner_email: string; owner_name: string }) =>
    request<{ tenant: Tenant; owner: Staff; temporary_password: string }>('POST', '/tenants', body),

  // --- customers
  customers: (q: CustomerQuery) => request<CustomerPage>('GET', `/customers${query(q)}`),
  customer: (id: string) => request<Customer>('GET', `/customers/${enc(id)}`),
  updateCustomer: (id: string, body: CustomerInput) => request<Customer>('PUT', `/customers/${enc(id)}`, body),
  blockCustomer: (id: string) => request<Customer>('POST', `/customers/${enc(id)}/block`),
  unblockCustomer: (id: string) => request<Customer>('POST', `/customers/${enc(id)}/unblock`),
  fetchProfile: (id: string) => request<Customer>('POST', `/customers/${enc(id)}/fetch-profile`),
  /** Folds `other_id` into `id`: its identities and tickets move over, `other_id` is deleted. */
  mergeCustomer: (id: string, other_id: string) => request<Customer>('POST', `/customers/${enc(id)}/merge`, { other_id }),
  /** GDPR erasure (admin+). */
  eraseCustomer: (id: string) => request<void>('DELETE', `/customers/${enc(id)}`),

  // --- live chat and voice
  supportMe: () => request<SupportMe>('GET', '/support/me'),
  setAvailability: (status: SupportStatus) => request<unknown>('PUT', '/support/availability', { status }),
  supportQueue: () => request<{ sessions: QueuedSession[] }>('GET', '/support/queue'),
  supportSessions: (q: { status?: SessionStatus; mine?: boolean }) =>
    request<{ sessions: SupportSession[] }>('GET', `/support/sessions${query(q)}`),
  supportSession: (id: string) => request<SupportSessionDetail>('GET', `/support/sessions/${enc(id)}`),
  /** Takes a queued session, or answers a call assigned to the caller; 409 when taken or at the cap. */
  acceptSession: (id: string) => request<SupportSession>('POST', `/support/sessions/${enc(id)}/accept`),
  /** A call assigned to the caller goes back to the queue (not to them again). */
  declineSession: (id: string) => request<unknown>('POST', `/support/sessions/${enc(id)}/decline`),
  transferSession: (id: string, to: string) => request<unknown>('POST', `/support/sessions/${enc(id)}/transfer`, { to }),
  escalateSession: (id: string) => request<unknown>('POST', `/support/sessions/${enc(id)}/escalate`),
  endSession: (id: string, reason?: string) =>
    request<SupportSession>('POST', `/support/sessions/${enc(id)}/end`, reason ? { reason } : {}),
  supportSettings: () => request<SupportSettings>('GET', '/support/settings'),
  saveSupportSettings: (body: SupportSettings) => request<SupportSettings>('PUT', '/support/settings', body),
  supportMetrics: (days = 1) => request<SupportMetrics>('GET', `/support/metrics${query({ days })}`),

  // --- reports and administration
  reports: (days: number) => request<Reports>('GET', `/reports/overview${query({ days })}`),
  poll: () => request<PollReport>('POST', '/admin/email-poll'),
};

/** The message of any thrown value, for error banners. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
