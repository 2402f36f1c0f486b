// The customer registry: a searchable list (name, e-mail, phone or PSID; platform and blocked filters, all kept in
// the URL query; cursor pagination) and the small pieces the customer page shares with it (name, identity chips).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, CUSTOMER_PLATFORMS, errorMessage, type Customer, type CustomerPlatform, type Identity } from '../api';
import { ago, formatDate, formatDay, IDENTITY_LABELS, initials, missingNameReason, plural, sortedIdentities } from '../format';
import { customerPath, link, navigate } from '../router';
import { useShortcuts } from '../shortcuts';
import { customersMemory } from '../store';
import { ErrorBanner, Loading } from './ui';

const PAGE = 25;

const PLATFORM_LABELS: Record<CustomerPlatform, string> = {
  email: 'E-mail', phone: 'Phone', facebook: 'Messenger', instagram: 'Instagram',
};

export function Customers({ params }: { params: URLSearchParams }) {
  const q = params.get('q') ?? '';
  const platform = (CUSTOMER_PLATFORMS as string[]).includes(params.get('platform') ?? '')
    ? (params.get('platform') as CustomerPlatform) : '';
  const blocked = params.get('blocked') === 'true' || params.get('blocked') === 'false'
    ? (params.get('blocked') as 'true' | 'false') : '';
  const queryKey = `${q}|${platform}|${blocked}`;

  const [rows, setRows] = useState<Customer[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [qInput, setQInput] = useState(q);
  const searchRef = useRef<HTMLInputElement>(null);
  const generation = useRef(0);

  const apiQuery = () => ({ q: q || undefined, platform: platform || undefined, blocked: blocked || undefined });

  async function load() {
    const gen = ++generation.current;
    setLoading(true);
    try {
      const page = await api.customers({ ...apiQuery(), limit: PAGE });
      if (gen !== generation.current) return;
      setRows(page.customers);
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
      const page = await api.customers({ ...apiQuery(), limit: PAGE, cursor });
      if (gen !== generation.current) return;
      setRows((r) => {
        const seen = new Set(r.map((c) => c.id));
        return [...r, ...page.customers.filter((c) => !seen.has(c.id))];
      });
      setCursor(page.next_cursor);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoadingMore(false);
    }
  }

  useEffect(() => {
    customersMemory.url = window.location.pathname + window.location.search;
    void load();
  }, [queryKey]);

  // The box follows the URL (back/forward, "Clear filters") unless it already says the same thing.
  useEffect(() => {
    if (qInput.trim() !== q) setQInput(q);
  }, [q]);

  function setParam(key: 'q' | 'platform' | 'blocked', value: string) {
    // From the current URL, not `params`: the search box's timer may fire after another filter changed.
    const next = new URLSearchParams(window.location.search);
    if (value) next.set(key, value);
    else next.delete(key);
    const qs = next.toString();
    navigate(qs ? `/customers?${qs}` : '/customers', { replace: key === 'q' });
  }

  // Typing narrows the list after a short pause (Enter searches at once).
  useEffect(() => {
    const v = qInput.trim();
    if (v === q) return undefined;
    const t = window.setTimeout(() => setParam('q', v), 350);
    return () => window.clearTimeout(t);
  }, [qInput]);

  useShortcuts({ '/': () => searchRef.current?.focus() });

  const activeFilters = [q, platform, blocked].filter(Boolean).length;

  return (
    <div class="page customers-page" data-testid="customers-page">
      <div class="page-head">
        <h1>Customers</h1>
        <form class="search" role="search" onSubmit={(e) => { e.preventDefault(); setParam('q', qInput.trim()); }}>
          <label for="customer-search" class="sr-only">Search customers</label>
          <input id="customer-search" ref={searchRef} type="search" value={qInput}
            placeholder="Name, e-mail, phone or PSID…  ( / )" data-testid="customer-search"
            onInput={(e) => setQInput(e.currentTarget.value)}
            onKeyDown={(e) => { if (e.key === 'Escape') e.currentTarget.blur(); }} />
        </form>
      </div>

      <div class="filters" role="group" aria-label="Filters">
        <label class={`filter ${platform ? 'filter-active' : ''}`}>
          <span class="sr-only">Platform</span>
          <select value={platform} aria-label="Platform" data-testid="customer-filter-platform"
            onChange={(e) => setParam('platform', e.currentTarget.value)}>
            <option value="">Platform: any</option>
            {CUSTOMER_PLATFORMS.map((p) => <option key={p} value={p}>Platform: {PLATFORM_LABELS[p]}</option>)}
          </select>
        </label>
        <label class={`filter ${blocked ? 'filter-active' : ''}`}>
          <span class="sr-only">Blocked</span>
          <select value={blocked} aria-label="Blocked" data-testid="customer-filter-blocked"
            onChange={(e) => setParam('blocked', e.currentTarget.value)}>
            <option value="">Blocked or not</option>
            <option value="true">Blocked only</option>
            <option value="false">Not blocked</option>
          </select>
        </label>
        {activeFilters > 0 && (
          <button type="button" class="button subtle small" data-testid="customer-clear-filters"
            onClick={() => navigate('/customers', { replace: true })}>
            Clear {plural(activeFilters, 'filter')}
          </button>
        )}
      </div>

      <ErrorBanner error={error} testid="customers-error" />

      <div class="table-wrap">
        <table class="simple customers-table" data-testid="customer-table" aria-busy={loading}>
          <thead>
            <tr>
              <th scope="col">Customer</th>
              <th scope="col">Identities</th>
              <th scope="col" class="num">Tickets</th>
              <th scope="col">Last interaction</th>
              <th scope="col">Since</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} data-testid="customer-row" data-customer-id={c.id} class={c.erased_at ? 'erased' : ''}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest('a, button, input')) return;
                  navigate(customerPath(c.id));
                }}>
                <td class="col-who">
                  <CustomerAvatar customer={c} />
                  <span class="who-text">
                    <a href={customerPath(c.id)} onClick={link} data-testid="customer-row-link">
                      <CustomerName customer={c} testid="customer-row-name" />
                    </a>
                    <CustomerBadges customer={c} />
                  </span>
                </td>
                <td><IdentityChips identities={c.identities} /></td>
                <td class="num" data-testid="customer-row-tickets">{c.ticket_count}</td>
                <td class="nowrap muted" title={formatDate(c.last_interaction_at)} data-testid="customer-row-last">
                  {c.last_interaction_at ? ago(c.last_interaction_at) : '—'}
                </td>
                <td class="nowrap muted">{formatDay(c.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {loading && rows.length === 0 && <Loading label="Loading customers…" />}
        {!loading && !error && rows.length === 0 && (
          <div class="empty" data-testid="customers-empty">
            <strong>No customers here.</strong>
            <span>{activeFilters ? 'Nothing matches this search.' : 'Customers appear as e-mails, texts, calls and messages arrive.'}</span>
          </div>
        )}
      </div>
      {cursor && (
        <div class="load-more">
          <button type="button" class="button" onClick={() => void loadMore()} disabled={loadingMore} data-testid="customers-load-more">
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </div>
  );
}

/**
 * The customer's name, or a marker saying why there is none (erased, Meta profile pending or failed, none on
 * record). Never a made-up name.
 */
export function CustomerName({ customer, testid = 'customer-name' }: { customer: Customer; testid?: string }) {
  const missing = missingNameReason(customer);
  if (!missing) return <span class="customer-name" data-testid={testid}>{customer.name}</span>;
  return (
    <span class={`customer-name name-missing name-${missing.reason}`} data-testid={testid} data-missing={missing.reason}>
      {missing.text}
    </span>
  );
}

/**
 * Initials in a circle. The profile picture is never loaded: the dashboard's CSP (img-src 'self' data:) blocks
 * remote images, by design.
 */
export function CustomerAvatar({ customer, large = false }: { customer: Customer; large?: boolean }) {
  return (
    <span class={`avatar avatar-customer ${large ? 'avatar-lg' : ''}`} aria-hidden="true">
      {customer.name ? initials(customer.name) : '?'}
    </span>
  );
}

export function CustomerBadges({ customer }: { customer: Customer }) {
  return (
    <>
      {customer.blocked && <span class="badge badge-blocked" data-testid="blocked-badge">Blocked</span>}
      {customer.erased_at && <span class="badge badge-erased" data-testid="erased-badge">Erased</span>}
    </>
  );
}

/** The identities as small chips: "E-mail ana@example.com", "Messenger 1234567890". */
export function IdentityChips({ identities }: { identities: Identity[] }) {
  if (identities.length === 0) return <span class="muted small">None</span>;
  return (
    <ul class="chips" aria-label="Identities">
      {sortedIdentities(identities).map((i) => (
        <li key={`${i.kind}|${i.scope}|${i.value}`} class={`chip chip-${i.kind}`} data-testid="identity" data-kind={i.kind}
          data-value={i.value} title={i.scope ? `${IDENTITY_LABELS[i.kind]} id ${i.value} (page/account ${i.scope})` : undefined}>
          <span class="chip-kind">{IDENTITY_LABELS[i.kind]}</span>
          <span class="chip-value">{i.value}</span>
        </li>
      ))}
    </ul>
  );
}
