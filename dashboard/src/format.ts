// Display helpers: dates, durations, SLA state, sizes. All pure.
import type { Channel, Customer, Identity, IdentityKind, Ticket } from './api';

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : dateTime.format(new Date(t));
}

/** "Nov 22, 2026". */
export function formatDay(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : day.format(new Date(t));
}

/** 90 s → "1m", 3 h 20 m → "3h 20m", 2 d 5 h → "2d 5h". */
export function duration(ms: number): string {
  const m = Math.floor(Math.abs(ms) / 60_000);
  if (m < 60) return `${Math.max(m, 0)}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}

/** "5 minutes ago"-style text for activity logs. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = now - t;
  if (diff < 60_000) return 'just now';
  return `${duration(diff)} ago`;
}

export type SlaState =
  | { kind: 'none' }
  | { kind: 'met'; at: string }
  | { kind: 'due'; ms: number; risk: boolean; due: string }
  | { kind: 'overdue'; ms: number; due: string };

/**
 * The first-response SLA of a ticket at `now`: met when answered, none when there is no due date or the ticket is
 * resolved/closed without a response, at risk within 2 hours of the due time (as the API's `sla_at_risk` view).
 */
export function slaState(t: Ticket, now = Date.now()): SlaState {
  if (t.first_response_at) return { kind: 'met', at: t.first_response_at };
  if (!t.sla_due_at || t.status === 'resolved' || t.status === 'closed') return { kind: 'none' };
  const due = Date.parse(t.sla_due_at);
  if (Number.isNaN(due)) return { kind: 'none' };
  const ms = due - now;
  if (ms < 0) return { kind: 'overdue', ms: -ms, due: t.sla_due_at };
  return { kind: 'due', ms, risk: ms <= 2 * 3600_000, due: t.sla_due_at };
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Who a ticket is from: name, e-mail or number; a Messenger/Instagram ticket whose profile (name) has not arrived
 * says so instead of a dash (never a made-up name).
 */
export function customerLabel(t: {
  customer_name: string | null; customer_email: string | null; customer_phone?: string | null; channel?: Channel;
}): string {
  return t.customer_name || t.customer_email || t.customer_phone || pendingProfileLabel(t.channel) || '—';
}

/** "Messenger user — profile pending" for facebook/instagram tickets without a name, else null. */
export function pendingProfileLabel(channel: Channel | undefined): string | null {
  if (channel === 'facebook') return 'Messenger user — profile pending';
  if (channel === 'instagram') return 'Instagram user — profile pending';
  return null;
}

export const IDENTITY_LABELS: Record<IdentityKind, string> = {
  email: 'E-mail', phone: 'Phone', psid: 'Messenger', igsid: 'Instagram',
};

/** Identities in a stable display order: e-mail, phone, Messenger, Instagram. */
export function sortedIdentities(ids: Identity[]): Identity[] {
  const order: IdentityKind[] = ['email', 'phone', 'psid', 'igsid'];
  return [...ids].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.value.localeCompare(b.value));
}

/**
 * Why a customer has no name (null when it has one): erased, its Meta profile still pending or failed, or simply
 * none on record (an e-mail without a display name). Shown as a marker, never as a fake name.
 */
export function missingNameReason(c: Customer): { reason: 'erased' | 'pending' | 'failed' | 'none'; text: string } | null {
  if (c.erased_at) return { reason: 'erased', text: 'Erased customer' };
  if (c.name) return null;
  if (c.profile_status === 'failed') return { reason: 'failed', text: 'Name not available yet — profile fetch failed' };
  const meta = c.identities.some((i) => i.kind === 'psid' || i.kind === 'igsid');
  if (c.profile_status === 'pending' || (meta && c.profile_status === 'none')) {
    return { reason: 'pending', text: 'Name not available yet — profile pending' };
  }
  return { reason: 'none', text: 'No name on record' };
}

/** A one-line label of a customer for notices and pickers: the name, else the first identity, else the id. */
export function customerShortLabel(c: Customer): string {
  return c.name || sortedIdentities(c.identities)[0]?.value || c.id;
}

/** "team_lead" → "Team lead". */
export function humanize(s: string): string {
  const t = s.replace(/_/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** "Ana Silva" → "AS", "ana@example.com" → "A". */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1]![0] : '')).toUpperCase();
}
