// The ticket's side panel: customer (and their other tickets), editable fields (status, priority, category,
// assignee, tags: each a PATCH), merging another ticket of the same customer into this one, and the activity log.
import type { RefObject } from 'preact';
import { useState } from 'preact/hooks';
import {
  api, CATEGORIES, errorMessage, PRIORITIES, STATUSES,
  type Staff, type Ticket, type TicketDetail, type TicketEvent, type TicketPatch,
} from '../api';
import { ago, customerLabel, formatDate, humanize, pendingProfileLabel } from '../format';
import { customerPath, link, ticketPath } from '../router';
import { useSession } from '../store';
import { Badge, ErrorBanner } from './ui';

export function SidePanel({ detail, staff, assigneeRef, onTicket, onChanged, onNotice }: {
  detail: TicketDetail;
  staff: Staff[];
  assigneeRef: RefObject<HTMLSelectElement | null>;
  /** The PATCHed ticket, to show at once. */
  onTicket: (t: Ticket) => void;
  onChanged: () => void;
  onNotice: (text: string) => void;
}) {
  const { me } = useSession();
  const t = detail.ticket;
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [tag, setTag] = useState('');

  async function patch(p: TicketPatch, what: string) {
    setSaving(true);
    setError(null);
    try {
      onTicket(await api.patchTicket(t.ticket_id, p));
      onNotice(`Saved: ${what}.`);
      onChanged();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setSaving(false);
    }
  }

  const assignable = staff.filter((s) => s.status === 'active' || s.staff_id === t.assigned_to);
  const addTag = (e: Event) => {
    e.preventDefault();
    const v = tag.trim().toLowerCase();
    if (!v || t.tags.includes(v)) return setTag('');
    void patch({ tags: [...t.tags, v] }, `tag ${v} added`).then(() => setTag(''));
  };

  return (
    <aside class="side" aria-label="Ticket details">
      <section class="panel" aria-labelledby="customer-title">
        <h2 id="customer-title">Customer</h2>
        <div class="customer" data-testid="customer">
          {t.customer_id ? (
            <a href={customerPath(t.customer_id)} onClick={link} class="customer-link" data-testid="customer-link"
              title="Open the customer's page">
              <CustomerName ticket={t} />
            </a>
          ) : <CustomerName ticket={t} />}
          {t.customer_email && (
            <a href={`mailto:${t.customer_email}`} class="muted" data-testid="customer-email">{t.customer_email}</a>
          )}
          {detail.crm_customer?.customer?.id && (
            <span class="muted small" data-testid="crm-record">
              {detail.crm_customer.crm_type} #{detail.crm_customer.customer.id}
              {detail.crm_customer.customer.tier ? ` · tier ${detail.crm_customer.customer.tier}` : ''}
            </span>
          )}
          {(detail.crm_links ?? []).filter((l) => l.external_id).map((l) => (
            <span key={l.connection_id} class="muted small" data-testid="crm-link">
              Mirrored as {l.type} ticket #{l.external_id}{l.synced_status ? ` · ${l.synced_status}` : ''}
            </span>
          ))}
          {(detail.crm_customer?.customer?.metadata?.open_tickets?.length ?? 0) > 0 && (
            <ul class="muted small crm-open" data-testid="crm-open-tickets" aria-label="Open CRM tickets">
              {detail.crm_customer?.customer?.metadata?.open_tickets?.map((o) => (
                <li key={o.id}>#{o.id} {o.subject ?? ''} ({o.status})</li>
              ))}
            </ul>
          )}
          {t.customer_phone && (
            <a href={`tel:${t.customer_phone}`} class="muted" data-testid="customer-phone">{t.customer_phone}</a>
          )}
        </div>
        {detail.customer_tickets.length > 0 && (
          <>
            <h3>Other tickets</h3>
            <ul class="customer-tickets">
              {detail.customer_tickets.map((c) => (
                <li key={c.ticket_id}>
                  <a href={ticketPath(c.ticket_number)} onClick={link} data-testid="customer-ticket" data-ticket-number={c.ticket_number}>
                    <span class="mono">{c.ticket_number}</span> {c.subject}
                  </a>
                  <Badge kind="status" value={c.status} />
                </li>
              ))}
            </ul>
          </>
        )}
      </section>

      <section class="panel" aria-labelledby="fields-title">
        <h2 id="fields-title">Properties {saving && <span class="muted small">saving…</span>}</h2>
        <ErrorBanner error={error} testid="field-error" />
        <div class="fields">
          <label for="f-status">Status</label>
          <select id="f-status" value={t.status} data-testid="field-status" disabled={saving}
            onChange={(e) => void patch({ status: e.currentTarget.value as Ticket['status'] }, `status ${e.currentTarget.value}`)}>
            {STATUSES.map((s) => <option key={s} value={s}>{humanize(s)}</option>)}
          </select>
          <label for="f-priority">Priority</label>
          <select id="f-priority" value={t.priority} data-testid="field-priority" disabled={saving}
            onChange={(e) => void patch({ priority: e.currentTarget.value as Ticket['priority'] }, `priority ${e.currentTarget.value}`)}>
            {PRIORITIES.map((p) => <option key={p} value={p}>{humanize(p)}</option>)}
          </select>
          <label for="f-category">Category</label>
          <select id="f-category" value={t.category} data-testid="field-category" disabled={saving}
            onChange={(e) => void patch({ category: e.currentTarget.value as Ticket['category'] }, `category ${e.currentTarget.value}`)}>
            {CATEGORIES.map((c) => <option key={c} value={c}>{humanize(c)}</option>)}
          </select>
          <label for="f-assignee">Assignee <kbd>a</kbd></label>
          <div class="assignee-col">
            <select id="f-assignee" ref={assigneeRef} value={t.assigned_to ?? ''} data-testid="field-assignee" disabled={saving}
              onChange={(e) => {
                const v = e.currentTarget.value || null;
                void patch({ assigned_to: v }, v ? `assigned to ${staff.find((s) => s.staff_id === v)?.name ?? v}` : 'unassigned');
              }}>
              <option value="">Unassigned</option>
              {t.assigned_to && !assignable.some((s) => s.staff_id === t.assigned_to) && (
                <option value={t.assigned_to}>{t.assignee_name ?? t.assigned_to}</option>
              )}
              {assignable.map((s) => <option key={s.staff_id} value={s.staff_id}>{s.name}{s.staff_id === me.staff.staff_id ? ' (me)' : ''}</option>)}
            </select>
            {t.assigned_to !== me.staff.staff_id && (
              <button type="button" class="link-button" disabled={saving} data-testid="assign-me"
                onClick={() => void patch({ assigned_to: me.staff.staff_id }, 'assigned to you')}>Assign to me</button>
            )}
          </div>
          <span class="label">Tags</span>
          <div class="tags-edit">
            <ul class="tag-list" aria-label="Tags">
              {t.tags.map((x) => (
                <li key={x} class="tag" data-testid="tag">
                  {x}
                  <button type="button" aria-label={`Remove tag ${x}`} disabled={saving}
                    onClick={() => void patch({ tags: t.tags.filter((y) => y !== x) }, `tag ${x} removed`)}>×</button>
                </li>
              ))}
            </ul>
            <form onSubmit={addTag} class="inline-form">
              <label for="f-tag" class="sr-only">New tag</label>
              <input id="f-tag" value={tag} placeholder="Add tag…" onInput={(e) => setTag(e.currentTarget.value)} data-testid="tag-input" />
              <button type="submit" class="button small" disabled={saving || !tag.trim()} data-testid="tag-add">Add</button>
            </form>
          </div>
          <span class="label">Channel</span><span>{humanize(t.channel)}</span>
          <span class="label">Created</span><span title={t.created_at}>{formatDate(t.created_at)}</span>
          {t.resolved_at && <><span class="label">Resolved</span><span>{formatDate(t.resolved_at)}</span></>}
        </div>
      </section>

      {!t.merged_into && <MergeBox ticket={t} others={detail.customer_tickets} onChanged={onChanged} onNotice={onNotice} />}

      <section class="panel" aria-labelledby="activity-title">
        <h2 id="activity-title">Activity</h2>
        {detail.events.length === 0 && <p class="muted small">No activity yet.</p>}
        <ol class="activity" data-testid="activity">
          {detail.events.map((e) => (
            <li key={e.id} data-testid="event" data-kind={e.kind}>
              <span class="activity-text">{describeEvent(e, staff)}</span>
              <time class="muted" dateTime={e.created_at} title={formatDate(e.created_at)}>{ago(e.created_at)}</time>
            </li>
          ))}
        </ol>
      </section>
    </aside>
  );
}

/** The customer's name (or e-mail / number); a Messenger/Instagram customer without a name yet says so. */
function CustomerName({ ticket: t }: { ticket: Ticket }) {
  const known = t.customer_name || t.customer_email || t.customer_phone;
  if (known) return <strong data-testid="customer-name">{known}</strong>;
  const pending = pendingProfileLabel(t.channel);
  return (
    <strong class="name-missing" data-testid="customer-name" data-missing="true">{pending ?? '—'}</strong>
  );
}

function MergeBox({ ticket, others, onChanged, onNotice }: {
  ticket: Ticket; others: Ticket[]; onChanged: () => void; onNotice: (s: string) => void;
}) {
  const [source, setSource] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const candidates = others.filter((o) => !o.merged_into);

  async function merge(e: Event) {
    e.preventDefault();
    const s = source.trim().toUpperCase();
    if (!s) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.merge(ticket.ticket_id, s);
      setSource('');
      onNotice(`${r.merged.ticket_number} was merged into ${r.ticket.ticket_number}.`);
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="merge-title">
      <h2 id="merge-title">Merge</h2>
      <p class="muted small">Move another ticket of {customerLabel(ticket)} into this one. It is closed and its mail threads here.</p>
      <form class="inline-form" onSubmit={merge}>
        <label for="merge-source" class="sr-only">Ticket number to merge into this one</label>
        <input id="merge-source" list="merge-candidates" value={source} placeholder="TKT-000123"
          onInput={(e) => setSource(e.currentTarget.value)} data-testid="merge-input" />
        <datalist id="merge-candidates">
          {candidates.map((c) => <option key={c.ticket_id} value={c.ticket_number}>{c.subject}</option>)}
        </datalist>
        <button type="submit" class="button small" disabled={busy || !source.trim()} data-testid="merge-button">
          {busy ? 'Merging…' : 'Merge here'}
        </button>
      </form>
      <ErrorBanner error={error} testid="merge-error" />
    </section>
  );
}

/** One line of the activity log: "Ana changed status open → pending". */
export function describeEvent(e: TicketEvent, staff: Staff[]): string {
  const who = e.actor_name ?? 'System';
  const d = e.detail ?? {};
  const str = (v: unknown) => (v === null || v === undefined || v === '' ? 'none' : String(v));
  const person = (v: unknown) => {
    if (v === null || v === undefined || v === '') return 'nobody';
    return staff.find((s) => s.staff_id === v)?.name ?? String(v);
  };
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  switch (e.kind) {
    case 'status':
    case 'priority':
    case 'category':
      return `${who} changed ${e.kind} ${str(d.from)} → ${str(d.to)}`;
    case 'assigned':
      return d.to ? `${who} assigned to ${person(d.to)}${d.from ? ` (was ${person(d.from)})` : ''}` : `${who} unassigned ${person(d.from)}`;
    case 'tags': {
      const parts = [...list(d.added).map((x) => `+${x}`), ...list(d.removed).map((x) => `−${x}`)];
      return `${who} changed tags ${parts.join(' ')}`.trim();
    }
    case 'reply':
      return `${who} replied`;
    case 'note':
      return `${who} added an internal note`;
    case 'merged':
      return `${who} merged this ticket into ${str(d.into)}`;
    case 'merged_from':
      return `${who} merged ${str(d.from)} into this ticket`;
    case 'draft_sent':
      return `${who} sent the AI draft (edit distance ${str(d.edit_distance)})`;
    case 'draft_discarded':
      return `${who} discarded the AI draft`;
    case 'draft_regenerated':
      return `${who} regenerated the AI draft`;
    default:
      return `${who}: ${humanize(e.kind)}`;
  }
}
