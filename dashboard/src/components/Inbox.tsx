// The inbox: saved views in a sidebar, filters + full-text search + sort (all kept in the URL query), the ticket
// table with keyboard navigation, cursor pagination, bulk changes, "Poll Gmail now", and live refresh.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  api, atLeast, CATEGORIES, CHANNELS, errorMessage, PRIORITIES, SORTS, STATUSES,
  type BulkChanges, type BulkResult, type PollReport, type Priority, type Sort, type Status, type Ticket, type View,
} from '../api';
import { ago, customerLabel, formatDate, humanize, plural } from '../format';
import { useLive } from '../live';
import { link, navigate, ticketPath } from '../router';
import { useShortcuts } from '../shortcuts';
import { inboxMemory, staffList, useNow, useSession } from '../store';
import { Badge, ErrorBanner, Loading, SlaPill, useEditable } from './ui';

export const VIEWS: { id: View; label: string; hint: string }[] = [
  { id: 'mine', label: 'Mine', hint: 'Assigned to me' },
  { id: 'unassigned', label: 'Unassigned', hint: 'Open or pending, nobody assigned' },
  { id: 'open', label: 'All open', hint: 'Open or pending' },
  { id: 'sla_at_risk', label: 'SLA at risk', hint: 'No first response, due within 2 hours' },
  { id: 'sla_breached', label: 'SLA breached', hint: 'No first response, past due' },
  { id: 'all', label: 'All tickets', hint: 'Every ticket you may see' },
];
const DEFAULT_VIEW: View = 'open';
const FILTERS = ['status', 'priority', 'category', 'channel', 'assignee', 'tag', 'q', 'sort'] as const;
type FilterKey = (typeof FILTERS)[number];
const PAGE = 25;

const SORT_LABELS: Record<Sort, string> = {
  newest: 'Newest first', oldest: 'Oldest first', updated: 'Last updated', priority: 'Priority', sla: 'SLA due soonest',
};

export function Inbox({ params }: { params: URLSearchParams }) {
  const { me } = useSession();
  const staff = staffList.use();
  const now = useNow();
  const view = (VIEWS.some((v) => v.id === params.get('view')) ? params.get('view') : DEFAULT_VIEW) as View;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, params.get(k) ?? ''])) as Record<FilterKey, string>;
  const queryKey = `${view}|${FILTERS.map((k) => filters[k]).join('|')}`;

  const [rows, setRows] = useState<Ticket[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [sel, setSel] = useState(0);
  const [checked, setChecked] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<BulkResult | null>(null);
  // The boxes follow the URL (back/forward, "Clear filters"), not every view change: an effect resetting them
  // on any change could wipe what was typed right after a click.
  const [qInput, setQInput] = useEditable(filters.q);
  const [tagInput, setTagInput] = useEditable(filters.tag);
  const searchRef = useRef<HTMLInputElement>(null);
  const tableRef = useRef<HTMLTableSectionElement>(null);
  const generation = useRef(0);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  const apiQuery = () => ({
    view,
    status: filters.status || undefined,
    priority: filters.priority || undefined,
    category: filters.category || undefined,
    channel: filters.channel || undefined,
    assignee: filters.assignee || undefined,
    tag: filters.tag || undefined,
    q: filters.q || undefined,
    sort: (filters.sort || undefined) as Sort | undefined,
  });

  /** Loads the first page (`limit` rows: a refresh keeps as many rows as are shown). Stale answers are dropped. */
  async function load(limit = PAGE, quiet = false) {
    const gen = ++generation.current;
    if (!quiet) setLoading(true);
    try {
      const page = await api.tickets({ ...apiQuery(), limit });
      if (gen !== generation.current) return;
      setRows(page.tickets);
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      if (gen === generation.current) setError(errorMessage(e));
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }

  async function loadMore() {
    if (!cursor) return;
    const gen = generation.current;
    setLoadingMore(true);
    try {
      const page = await api.tickets({ ...apiQuery(), limit: PAGE, cursor });
      if (gen !== generation.current) return;
      setRows((r) => {
        const seen = new Set(r.map((t) => t.ticket_id));
        return [...r, ...page.tickets.filter((t) => !seen.has(t.ticket_id))];
      });
      setCursor(page.next_cursor);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoadingMore(false);
    }
  }

  useEffect(() => {
    setSel(0);
    setChecked(new Set());
    void load();
  }, [queryKey]);

  // Live: any ticket change refreshes the list in place (coalesced), keeping as many rows as are loaded. The
  // timer calls the latest `load` (through a ref): the filters may have changed while it was pending.
  const loadRef = useRef(load);
  loadRef.current = load;
  const refreshTimer = useRef<number | undefined>(undefined);
  const refresh = () => {
    window.clearTimeout(refreshTimer.current);
    refreshTimer.current = window.setTimeout(() => {
      void loadRef.current(Math.min(100, Math.max(PAGE, rowsRef.current.length)), true);
    }, 250);
  };
  useEffect(() => () => window.clearTimeout(refreshTimer.current), []);
  useLive((m) => {
    if (m.type === 'ticket') refresh();
  });

  // Remember the list for the ticket page (Escape back here, j/k through these tickets).
  useEffect(() => {
    inboxMemory.url = window.location.pathname + window.location.search;
    inboxMemory.numbers = rows.map((t) => t.ticket_number);
    if (sel >= rows.length && rows.length) setSel(rows.length - 1);
  }, [rows]);

  function setParam(key: FilterKey | 'view', value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    if (key === 'view' && value === DEFAULT_VIEW) next.delete('view');
    const qs = next.toString();
    navigate(qs ? `/?${qs}` : '/', { replace: key !== 'view' });
  }

  const open = (t: Ticket | undefined) => t && navigate(ticketPath(t.ticket_number));

  useShortcuts({
    j: () => moveSel(1),
    k: () => moveSel(-1),
    o: () => open(rowsRef.current[sel]),
    Enter: () => open(rowsRef.current[sel]),
    x: () => {
      const t = rowsRef.current[sel];
      if (t) toggle(t.ticket_id);
    },
    '/': () => searchRef.current?.focus(),
  });

  function moveSel(delta: number) {
    setSel((s) => {
      const n = Math.max(0, Math.min(rowsRef.current.length - 1, s + delta));
      tableRef.current?.querySelectorAll('tr')[n]?.scrollIntoView({ block: 'nearest' });
      return n;
    });
  }

  function toggle(id: string) {
    setChecked((c) => {
      const n = new Set(c);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  }

  const allChecked = rows.length > 0 && rows.every((t) => checked.has(t.ticket_id));
  const activeFilters = FILTERS.filter((k) => k !== 'sort' && filters[k]).length;
  const knownTags = useMemo(() => [...new Set(rows.flatMap((t) => t.tags))].sort(), [rows]);
  const staffName = (id: string) => staff.find((s) => s.staff_id === id)?.name ?? id;

  async function applyBulk(changes: BulkChanges) {
    setBulk(null);
    setError(null);
    try {
      const r = await api.bulk([...checked], changes);
      setBulk(r);
      setChecked(new Set());
      await load(Math.min(100, Math.max(PAGE, rows.length)), true);
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  const currentView = VIEWS.find((v) => v.id === view)!;

  return (
    <div class="inbox">
      <aside class="sidebar" aria-label="Views">
        <h2 class="sidebar-title">Views</h2>
        <ul class="views">
          {VIEWS.map((v) => {
            const qs = new URLSearchParams(params);
            if (v.id === DEFAULT_VIEW) qs.delete('view');
            else qs.set('view', v.id);
            const href = qs.toString() ? `/?${qs}` : '/';
            return (
              <li key={v.id}>
                <a href={href} onClick={link} class={v.id === view ? 'active' : ''} title={v.hint}
                  aria-current={v.id === view ? 'page' : undefined} data-testid={`view-${v.id}`}>
                  <span class={`view-icon view-icon-${v.id}`} aria-hidden="true" />
                  {v.label}
                </a>
              </li>
            );
          })}
        </ul>
        {atLeast(me.staff.role, 'admin') && <PollButton onDone={refresh} />}
      </aside>

      <section class="inbox-main" aria-labelledby="inbox-title">
        <div class="inbox-head">
          <h1 id="inbox-title" data-testid="inbox-title">{currentView.label}</h1>
          <form class="search" role="search" onSubmit={(e) => { e.preventDefault(); setParam('q', qInput.trim()); }}>
            <label for="inbox-search" class="sr-only">Search tickets</label>
            <input id="inbox-search" ref={searchRef} type="search" value={qInput} placeholder="Search messages, subjects, customers…  ( / )"
              onInput={(e) => setQInput(e.currentTarget.value)} data-testid="search"
              onKeyDown={(e) => { if (e.key === 'Escape') e.currentTarget.blur(); }} />
          </form>
          <label class="sort">
            <span>Sort</span>
            <select value={filters.sort || 'newest'} onChange={(e) => setParam('sort', e.currentTarget.value === 'newest' ? '' : e.currentTarget.value)}
              data-testid="sort">
              {SORTS.map((s) => <option key={s} value={s}>{SORT_LABELS[s]}</option>)}
            </select>
          </label>
        </div>

        <div class="filters" role="group" aria-label="Filters">
          <FilterSelect label="Status" value={filters.status} onChange={(v) => setParam('status', v)} testid="filter-status"
            options={STATUSES.map((s) => [s, humanize(s)])} />
          <FilterSelect label="Priority" value={filters.priority} onChange={(v) => setParam('priority', v)}
            testid="filter-priority" options={PRIORITIES.map((p) => [p, humanize(p)])} />
          <FilterSelect label="Category" value={filters.category} onChange={(v) => setParam('category', v)}
            testid="filter-category" options={CATEGORIES.map((c) => [c, humanize(c)])} />
          <FilterSelect label="Channel" value={filters.channel} onChange={(v) => setParam('channel', v)}
            testid="filter-channel" options={CHANNELS.map((c) => [c, humanize(c)])} />
          <FilterSelect label="Assignee" value={filters.assignee} onChange={(v) => setParam('assignee', v)}
            testid="filter-assignee"
            options={[['none', 'Unassigned'], ...staff.map((s): [string, string] => [s.staff_id, s.name])]} />
          <form class="tag-filter" onSubmit={(e) => { e.preventDefault(); setParam('tag', tagInput.trim()); }}>
            <label for="filter-tag" class="sr-only">Tag</label>
            <input id="filter-tag" list="known-tags" value={tagInput} placeholder="Tag" data-testid="filter-tag"
              onInput={(e) => setTagInput(e.currentTarget.value)}
              onChange={(e) => setParam('tag', e.currentTarget.value.trim())} />
            <datalist id="known-tags">{knownTags.map((t) => <option key={t} value={t} />)}</datalist>
          </form>
          {activeFilters > 0 && (
            <button type="button" class="button subtle small" data-testid="clear-filters"
              onClick={() => navigate(view === DEFAULT_VIEW ? '/' : `/?view=${view}`, { replace: true })}>
              Clear {plural(activeFilters, 'filter')}
            </button>
          )}
        </div>

        {checked.size > 0 && (
          <BulkBar count={checked.size} staff={staff.filter((s) => s.status === 'active').map((s) => [s.staff_id, s.name])}
            myId={me.staff.staff_id} onApply={applyBulk} onClear={() => setChecked(new Set())} />
        )}
        {bulk && (
          <div class="banner banner-ok" role="status" data-testid="bulk-summary">
            {bulk.summary}
            {bulk.denied.length > 0 && (
              <ul class="denied">
                {bulk.denied.map((d) => (
                  <li key={d.ticket_id}>
                    {rows.find((t) => t.ticket_id === d.ticket_id)?.ticket_number ?? d.ticket_id}: {d.reason}
                  </li>
                ))}
              </ul>
            )}
            <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => setBulk(null)}>×</button>
          </div>
        )}
        <ErrorBanner error={error} testid="inbox-error" />

        <div class="table-wrap">
          <table class="tickets" data-testid="ticket-table" aria-busy={loading}>
            <thead>
              <tr>
                <th class="col-check">
                  <input type="checkbox" aria-label="Select all shown tickets" checked={allChecked} data-testid="check-all"
                    onChange={() => setChecked(allChecked ? new Set() : new Set(rows.map((t) => t.ticket_id)))} />
                </th>
                <th scope="col" class="col-number">Ticket</th>
                <th scope="col">Subject</th>
                <th scope="col">Customer</th>
                <th scope="col">Status</th>
                <th scope="col">Priority</th>
                <th scope="col">Assignee</th>
                <th scope="col">Tags</th>
                <th scope="col">SLA</th>
                <th scope="col" class="col-updated">Updated</th>
              </tr>
            </thead>
            <tbody ref={tableRef}>
              {rows.map((t, i) => (
                <tr key={t.ticket_id} class={`${i === sel ? 'selected' : ''} ${checked.has(t.ticket_id) ? 'checked' : ''}`}
                  data-testid="ticket-row" data-ticket-number={t.ticket_number} data-ticket-id={t.ticket_id}
                  aria-selected={i === sel} onClick={(e) => {
                    if ((e.target as HTMLElement).closest('input, a, label')) return;
                    setSel(i);
                    open(t);
                  }}>
                  <td class="col-check">
                    <input type="checkbox" aria-label={`Select ${t.ticket_number}`} checked={checked.has(t.ticket_id)}
                      onChange={() => toggle(t.ticket_id)} data-testid="row-check" />
                  </td>
                  <td class="col-number mono" data-testid="row-number">{t.ticket_number}</td>
                  <td class="col-subject">
                    <a href={ticketPath(t.ticket_number)} onClick={link} data-testid="row-subject">{t.subject || '(no subject)'}</a>
                    {t.merged_into && <span class="muted small"> → merged into {t.merged_into}</span>}
                  </td>
                  <td class="col-customer" title={t.customer_email ?? t.customer_phone ?? undefined} data-testid="row-customer">{customerLabel(t)}</td>
                  <td><Badge kind="status" value={t.status} testid="row-status" /></td>
                  <td><Badge kind="priority" value={t.priority} testid="row-priority" /></td>
                  <td class="col-assignee" data-testid="row-assignee">
                    {t.assigned_to ? (t.assignee_name ?? staffName(t.assigned_to)) : <span class="muted">Unassigned</span>}
                  </td>
                  <td class="col-tags" data-testid="row-tags">
                    {t.tags.map((tag) => <span key={tag} class="tag">{tag}</span>)}
                  </td>
                  <td class="col-sla"><SlaPill ticket={t} now={now} /></td>
                  <td class="col-updated muted" title={formatDate(t.updated_at)}>{ago(t.updated_at, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {loading && rows.length === 0 && <Loading label="Loading tickets…" />}
          {!loading && !error && rows.length === 0 && (
            <div class="empty" data-testid="inbox-empty">
              <strong>No tickets here.</strong>
              <span>{activeFilters ? 'Nothing matches these filters.' : currentView.hint + ': nothing right now.'}</span>
            </div>
          )}
        </div>
        {cursor && (
          <div class="load-more">
            <button type="button" class="button" onClick={() => void loadMore()} disabled={loadingMore} data-testid="load-more">
              {loadingMore ? 'Loading…' : 'Load more'}
            </button>
          </div>
        )}
      </section>
    </div>
  );
}

function FilterSelect({ label, value, onChange, options, testid }: {
  label: string; value: string; onChange: (v: string) => void; options: [string, string][]; testid: string;
}) {
  return (
    <label class={`filter ${value ? 'filter-active' : ''}`}>
      <span class="sr-only">{label}</span>
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)} data-testid={testid} aria-label={label}>
        <option value="">{label}: any</option>
        {options.map(([v, l]) => <option key={v} value={v}>{label}: {l}</option>)}
      </select>
    </label>
  );
}

function BulkBar({ count, staff, myId, onApply, onClear }: {
  count: number; staff: [string, string][]; myId: string; onApply: (c: BulkChanges) => Promise<void>; onClear: () => void;
}) {
  const [tag, setTag] = useState('');
  const [busy, setBusy] = useState(false);
  const run = async (c: BulkChanges) => {
    setBusy(true);
    try {
      await onApply(c);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="bulkbar" role="toolbar" aria-label="Bulk changes" data-testid="bulk-bar">
      <strong data-testid="bulk-count">{plural(count, 'ticket')} selected</strong>
      <select aria-label="Set status" data-testid="bulk-status" disabled={busy} value=""
        onChange={(e) => e.currentTarget.value && void run({ status: e.currentTarget.value as Status })}>
        <option value="">Set status…</option>
        {STATUSES.map((s) => <option key={s} value={s}>{humanize(s)}</option>)}
      </select>
      <select aria-label="Set priority" data-testid="bulk-priority" disabled={busy} value=""
        onChange={(e) => e.currentTarget.value && void run({ priority: e.currentTarget.value as Priority })}>
        <option value="">Set priority…</option>
        {PRIORITIES.map((p) => <option key={p} value={p}>{humanize(p)}</option>)}
      </select>
      <select aria-label="Assign to" data-testid="bulk-assign" disabled={busy} value=""
        onChange={(e) => {
          const v = e.currentTarget.value;
          if (v) void run({ assigned_to: v === 'none' ? null : v === 'me' ? myId : v });
        }}>
        <option value="">Assign to…</option>
        <option value="me">Me</option>
        <option value="none">Nobody (unassign)</option>
        {staff.filter(([id]) => id !== myId).map(([id, name]) => <option key={id} value={id}>{name}</option>)}
      </select>
      <form class="inline-form" onSubmit={(e) => {
        e.preventDefault();
        if (tag.trim()) void run({ add_tags: [tag.trim()] }).then(() => setTag(''));
      }}>
        <label for="bulk-tag" class="sr-only">Tag to add</label>
        <input id="bulk-tag" value={tag} placeholder="Add tag" onInput={(e) => setTag(e.currentTarget.value)} data-testid="bulk-tag" />
        <button type="submit" class="button small" disabled={busy || !tag.trim()} data-testid="bulk-tag-add">Add tag</button>
      </form>
      <span class="spacer" />
      <button type="button" class="button subtle small" onClick={onClear} data-testid="bulk-clear">Clear selection</button>
    </div>
  );
}

function PollButton({ onDone }: { onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<PollReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function poll() {
    setBusy(true);
    setError(null);
    try {
      const r = await api.poll();
      setReport(r);
      onDone();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="poll">
      <button type="button" class="button block" onClick={() => void poll()} disabled={busy} data-testid="poll-button">
        {busy ? 'Polling Gmail…' : 'Poll Gmail now'}
      </button>
      {report && (
        <dl class="poll-report" data-testid="poll-result" aria-live="polite">
          <div><dt>Fetched</dt><dd data-testid="poll-fetched">{report.fetched}</dd></div>
          <div><dt>New tickets</dt><dd data-testid="poll-created">{report.tickets_created}</dd></div>
          <div><dt>Appended</dt><dd>{report.messages_appended}</dd></div>
          <div><dt>Skipped</dt><dd>{report.skipped}</dd></div>
          <div><dt>AI drafts</dt><dd>{report.drafts_created}</dd></div>
          <div><dt>Errors</dt><dd class={report.errors.length ? 'bad' : ''}>{report.errors.length}</dd></div>
        </dl>
      )}
      {report && report.errors.length > 0 && (
        <ul class="poll-errors">{report.errors.map((e, i) => <li key={i}>{typeof e === 'string' ? e : JSON.stringify(e)}</li>)}</ul>
      )}
      <ErrorBanner error={error} testid="poll-error" />
    </div>
  );
}
