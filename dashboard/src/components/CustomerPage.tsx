// One customer: name and profile, identities, staff notes (PUT), block/unblock, "Fetch profile" for Messenger and
// Instagram customers, merging a duplicate into this record, GDPR erasure (admin+, with a confirm step), and the
// customer's tickets across channels.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, atLeast, errorMessage, type Customer, type Ticket, type TicketQuery } from '../api';
import { ago, customerShortLabel, formatDate, formatDay, humanize, missingNameReason, plural, sortedIdentities } from '../format';
import { link, navigate, ticketPath } from '../router';
import { useShortcuts } from '../shortcuts';
import { customersMemory, useSession } from '../store';
import { CustomerAvatar, CustomerBadges, CustomerName, IdentityChips } from './Customers';
import { Badge, ErrorBanner, Loading, Notice, useEditable } from './ui';

export function CustomerPage({ id }: { id: string }) {
  const { me } = useSession();
  const [customer, setCustomer] = useState<Customer | null>(null);
  const [error, setError] = useState<{ status: number; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [ticketsVersion, setTicketsVersion] = useState(0);

  async function load() {
    try {
      setCustomer(await api.customer(id));
      setError(null);
    } catch (e) {
      setError({ status: e instanceof ApiError ? e.status : 0, message: errorMessage(e) });
    }
  }
  useEffect(() => {
    void load();
  }, [id]);

  useEffect(() => {
    if (!notice) return undefined;
    const t = window.setTimeout(() => setNotice(null), 6000);
    return () => window.clearTimeout(t);
  }, [notice]);

  useShortcuts({ Escape: () => navigate(customersMemory.url) });

  if (error && !customer) {
    return (
      <div class="empty-state" data-testid="customer-error" role="alert">
        <h1>{error.status === 404 ? 'Customer not found' : 'Could not load the customer'}</h1>
        <p>{error.message}</p>
        <a class="button" href={customersMemory.url} onClick={link}>Back to the customers</a>
      </div>
    );
  }
  if (!customer) return <Loading label="Loading customer…" />;

  const c = customer;
  const erased = !!c.erased_at;
  const changed = (next: Customer, text: string, ticketsMoved = false) => {
    setCustomer(next);
    setNotice(text);
    if (ticketsMoved) setTicketsVersion((v) => v + 1);
  };

  return (
    <div class="customer-page" data-testid="customer-page" data-customer-id={c.id}>
      <div class="customer-main">
        <div class="customer-head">
          <a class="back" href={customersMemory.url} onClick={link} data-testid="customers-back">← Customers <kbd>Esc</kbd></a>
          <div class="customer-title">
            <CustomerAvatar customer={c} large />
            <div>
              <h1><CustomerName customer={c} /></h1>
              <div class="customer-meta">
                <CustomerBadges customer={c} />
                <span class="muted small">Customer since {formatDay(c.created_at)}</span>
                <span class="muted small" aria-hidden="true">·</span>
                <span class="muted small" title={formatDate(c.last_interaction_at)}>
                  Last interaction {c.last_interaction_at ? ago(c.last_interaction_at) : 'never'}
                </span>
              </div>
            </div>
          </div>
        </div>

        {erased && (
          <div class="banner banner-info" data-testid="erased-banner">
            Erased at the customer's request on {formatDate(c.erased_at)}. Names, notes, picture, identities and
            message bodies are gone; their tickets ({c.ticket_count}) keep their numbers, status and metrics.
          </div>
        )}
        <Notice text={notice} testid="customer-notice" />
        {error && <ErrorBanner error={error.message} testid="customer-reload-error" />}

        <section class="panel" aria-labelledby="profile-title">
          <h2 id="profile-title">Profile</h2>
          <dl class="fields profile-fields">
            <dt>Name</dt><dd data-testid="profile-name">{c.name ?? <span class="muted">{missingNameReason(c)?.text}</span>}</dd>
            <dt>First name</dt><dd data-testid="profile-first-name">{c.first_name || <span class="muted">—</span>}</dd>
            <dt>Last name</dt><dd data-testid="profile-last-name">{c.last_name || <span class="muted">—</span>}</dd>
            {c.profile_status !== 'none' && (
              <><dt>Meta profile</dt><dd data-testid="profile-status" data-status={c.profile_status}>{profileStatusText(c.profile_status)}</dd></>
            )}
            <dt>Picture</dt><dd><Picture url={c.profile_pic_url} /></dd>
            <dt>Identities</dt><dd data-testid="customer-identities"><IdentityChips identities={c.identities} /></dd>
            <dt>Id</dt><dd><code data-testid="customer-id">{c.id}</code></dd>
          </dl>
        </section>

        {!erased && <Notes customer={c} onSaved={(n) => changed(n, 'Notes saved.')} />}

        <CustomerTickets customer={c} version={ticketsVersion} />
      </div>

      <aside class="side" aria-label="Customer actions">
        <BlockPanel customer={c} onChanged={(n) => changed(n, n.blocked ? 'Customer blocked.' : 'Customer unblocked.')} />
        {!erased && c.identities.some((i) => i.kind === 'psid' || i.kind === 'igsid') && (
          <FetchProfile customer={c} onFetched={(n) => changed(n, n.name ? `Profile fetched: ${n.name}.` : 'Profile fetched.')} />
        )}
        {!erased && (
          <MergePanel customer={c} onMerged={(n, other) => changed(n, `${other} was merged into this customer.`, true)} />
        )}
        {!erased && atLeast(me.staff.role, 'admin') && (
          <ErasePanel customer={c} onErased={async () => {
            await load();
            setTicketsVersion((v) => v + 1);
            setNotice('Customer erased.');
          }} />
        )}
      </aside>
    </div>
  );
}

function profileStatusText(s: Customer['profile_status']): string {
  switch (s) {
    case 'pending': return 'Pending: not fetched yet';
    case 'fetched': return 'Fetched';
    case 'failed': return 'Fetch failed (retried on the next message, or use “Fetch profile”)';
    default: return humanize(s);
  }
}

/**
 * The picture's URL, never the image: the dashboard's CSP only allows images from itself (img-src 'self' data:),
 * so a remote picture would not load anyway; the avatar shows initials. Only https links are offered.
 */
function Picture({ url }: { url: string | null }) {
  if (!url) return <span class="muted">None</span>;
  if (!url.startsWith('https://')) return <span class="muted" data-testid="picture-ignored">Not shown (not an https address)</span>;
  return (
    <span class="muted small" data-testid="picture">
      Not displayed here (remote images are blocked) ·{' '}
      <a href={url} target="_blank" rel="noopener noreferrer" data-testid="picture-link">open in a new tab ↗</a>
    </span>
  );
}

function Notes({ customer, onSaved }: { customer: Customer; onSaved: (c: Customer) => void }) {
  const [text, setText] = useEditable(customer.notes ?? '', customer.id);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const saved = customer.notes ?? '';

  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(await api.updateCustomer(customer.id, { notes: text }));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="notes-title">
      <h2 id="notes-title">Notes <span class="muted small">staff only</span></h2>
      <form onSubmit={save} class="notes-form">
        <label for="customer-notes" class="sr-only">Notes about this customer</label>
        <textarea id="customer-notes" rows={4} value={text} maxLength={10_000}
          placeholder="Preferences, context, anything the next agent should know…"
          onInput={(ev) => setText(ev.currentTarget.value)} data-testid="customer-notes"
          onKeyDown={(ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) void save(ev); }} />
        <div class="form-actions">
          {text !== saved && <span class="muted small">Unsaved changes</span>}
          <button type="submit" class="button primary small" disabled={busy || text === saved} data-testid="customer-notes-save">
            {busy ? 'Saving…' : 'Save notes'}
          </button>
        </div>
      </form>
      <ErrorBanner error={error} testid="customer-notes-error" />
    </section>
  );
}

function BlockPanel({ customer, onChanged }: { customer: Customer; onChanged: (c: Customer) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function toggle() {
    setBusy(true);
    setError(null);
    try {
      onChanged(await (customer.blocked ? api.unblockCustomer(customer.id) : api.blockCustomer(customer.id)));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel" aria-labelledby="block-title">
      <h2 id="block-title">Blocking</h2>
      <p class="muted small">
        {customer.blocked
          ? 'Blocked: their messages are still recorded, but nothing is sent to them or drafted.'
          : 'Blocking keeps recording their messages but stops replies and AI drafts.'}
      </p>
      <button type="button" class={`button small ${customer.blocked ? '' : 'danger-text'}`} disabled={busy}
        onClick={() => void toggle()} data-testid="block-toggle" aria-pressed={customer.blocked}>
        {busy ? 'Saving…' : customer.blocked ? 'Unblock' : 'Block customer'}
      </button>
      <ErrorBanner error={error} testid="block-error" />
    </section>
  );
}

function FetchProfile({ customer, onFetched }: { customer: Customer; onFetched: (c: Customer) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function fetchNow() {
    setBusy(true);
    setError(null);
    try {
      onFetched(await api.fetchProfile(customer.id));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel" aria-labelledby="fetch-title">
      <h2 id="fetch-title">Meta profile</h2>
      <p class="muted small">Ask Messenger / Instagram for the name and picture now.</p>
      <button type="button" class="button small" disabled={busy} onClick={() => void fetchNow()} data-testid="fetch-profile">
        {busy ? 'Fetching…' : 'Fetch profile'}
      </button>
      <ErrorBanner error={error} testid="fetch-profile-error" />
    </section>
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Merge a duplicate INTO this customer: pick it from a search (or paste its id), confirm, POST …/merge. */
function MergePanel({ customer, onMerged }: { customer: Customer; onMerged: (c: Customer, otherLabel: string) => void }) {
  const [text, setText] = useState('');
  const [results, setResults] = useState<Customer[] | null>(null);
  const [picked, setPicked] = useState<{ id: string; label: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);

  // Search as the agent types (a pasted id is taken as is).
  useEffect(() => {
    const v = text.trim();
    const gen = ++generation.current;
    if (v.length < 2 || UUID.test(v)) {
      setResults(null);
      return undefined;
    }
    const t = window.setTimeout(() => {
      api.customers({ q: v, limit: 8 }).then((page) => {
        if (gen === generation.current) {
          setResults(page.customers.filter((o) => o.id !== customer.id && !o.erased_at));
        }
      }, (e) => {
        if (gen === generation.current) setError(errorMessage(e));
      });
    }, 250);
    return () => window.clearTimeout(t);
  }, [text, customer.id]);

  const reset = () => {
    setPicked(null);
    setText('');
    setResults(null);
  };

  async function merge() {
    if (!picked) return;
    setBusy(true);
    setError(null);
    try {
      const merged = await api.mergeCustomer(customer.id, picked.id);
      const label = picked.label;
      reset();
      onMerged(merged, label);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const typedId = text.trim();
  return (
    <section class="panel" aria-labelledby="merge-customer-title">
      <h2 id="merge-customer-title">Merge a duplicate</h2>
      <p class="muted small">
        The other customer's identities and tickets move here and the other record is deleted. Fields this customer
        lacks are taken from it.
      </p>
      {!picked ? (
        <>
          <form class="inline-form" onSubmit={(e) => {
            e.preventDefault();
            if (UUID.test(typedId) && typedId !== customer.id) setPicked({ id: typedId, label: typedId });
          }}>
            <label for="merge-customer-search" class="sr-only">Search a customer, or paste a customer id</label>
            <input id="merge-customer-search" type="search" value={text} autoComplete="off"
              placeholder="Search name, e-mail… or paste an id" onInput={(e) => setText(e.currentTarget.value)}
              data-testid="merge-customer-search" />
            {UUID.test(typedId) && (
              <button type="submit" class="button small" disabled={typedId === customer.id} data-testid="merge-customer-by-id">Use id</button>
            )}
          </form>
          {results && (
            <ul class="candidates" data-testid="merge-candidates">
              {results.length === 0 && <li class="muted small">No other customer matches.</li>}
              {results.map((o) => (
                <li key={o.id}>
                  <button type="button" class="candidate" data-testid="merge-candidate" data-customer-id={o.id}
                    onClick={() => setPicked({ id: o.id, label: customerShortLabel(o) })}>
                    <CustomerName customer={o} testid="merge-candidate-name" />
                    <span class="muted small">
                      {sortedIdentities(o.identities).map((i) => i.value).join(', ') || 'no identities'} · {plural(o.ticket_count, 'ticket')}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </>
      ) : (
        <div class="confirm-box" role="group" aria-label="Confirm the merge" data-testid="merge-customer-confirm-box">
          <p>
            Merge <strong>{picked.label}</strong> into <strong>{customerShortLabel(customer)}</strong>? This cannot be undone.
          </p>
          <div class="form-actions">
            <button type="button" class="button subtle small" onClick={reset} disabled={busy}>Cancel</button>
            <button type="button" class="button primary small" onClick={() => void merge()} disabled={busy}
              data-testid="merge-customer-confirm">
              {busy ? 'Merging…' : 'Merge into this customer'}
            </button>
          </div>
        </div>
      )}
      <ErrorBanner error={error} testid="merge-customer-error" />
    </section>
  );
}

/** GDPR erasure (admin+): a button, then an explicit confirm step. */
function ErasePanel({ customer, onErased }: { customer: Customer; onErased: () => Promise<void> }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function erase() {
    setBusy(true);
    setError(null);
    try {
      await api.eraseCustomer(customer.id);
      await onErased();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="panel danger-zone" aria-labelledby="erase-title">
      <h2 id="erase-title">Erase customer (GDPR)</h2>
      {!confirming ? (
        <>
          <p class="muted small">For a right-to-erasure request. Tickets keep their numbers and metrics.</p>
          <button type="button" class="button small danger-text" onClick={() => setConfirming(true)} data-testid="erase-customer">
            Erase customer (GDPR)
          </button>
        </>
      ) : (
        <div class="confirm-box confirm-danger" role="group" aria-label="Confirm the erasure" data-testid="erase-confirm-box">
          <p>
            Erase <strong>{customerShortLabel(customer)}</strong> for good? Their name, notes, picture and identities
            are erased, and on their tickets ({customer.ticket_count}) the subject, their messages, e-mail addresses
            and attachment lists. Ticket numbers, status and metrics stay. This cannot be undone.
          </p>
          <div class="form-actions">
            <button type="button" class="button subtle small" onClick={() => setConfirming(false)} disabled={busy}
              data-testid="erase-cancel">Cancel</button>
            <button type="button" class="button small danger" onClick={() => void erase()} disabled={busy} data-testid="erase-confirm">
              {busy ? 'Erasing…' : 'Erase permanently'}
            </button>
          </div>
        </div>
      )}
      <ErrorBanner error={error} testid="erase-error" />
    </section>
  );
}

/** How many pages of 100 tickets are read for a customer. */
const MAX_PAGES = 5;

async function allPages(q: TicketQuery): Promise<Ticket[]> {
  const out: Ticket[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api.tickets({ ...q, view: 'all', limit: 100, ...(cursor ? { cursor } : {}) });
    out.push(...page.tickets);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/** The customer's tickets on every channel (`GET /tickets?customer=`), at most MAX_PAGES pages of 100, newest first. */
async function customerTickets(c: Customer): Promise<Ticket[]> {
  return allPages({ customer: c.id });
}

function CustomerTickets({ customer, version }: { customer: Customer; version: number }) {
  const [tickets, setTickets] = useState<Ticket[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Reload when the identities change (a merge), not on every edit of the notes.
  const key = `${customer.id}|${version}|${customer.identities.map((i) => `${i.kind}:${i.scope}:${i.value}`).sort().join(',')}`;
  const generation = useRef(0);

  useEffect(() => {
    const gen = ++generation.current;
    setError(null);
    customerTickets(customer).then((ts) => {
      if (gen === generation.current) setTickets(ts);
    }, (e) => {
      if (gen === generation.current) setError(errorMessage(e));
    });
  }, [key]);

  const missing = tickets ? customer.ticket_count - tickets.length : 0;
  return (
    <section class="panel" aria-labelledby="customer-tickets-title">
      <h2 id="customer-tickets-title">
        Tickets <span class="muted small" data-testid="customer-ticket-count">{plural(customer.ticket_count, 'ticket')}</span>
      </h2>
      <ErrorBanner error={error} testid="customer-tickets-error" />
      {!tickets && !error && <Loading label="Finding tickets…" />}
      {tickets && tickets.length === 0 && customer.ticket_count === 0 && <p class="muted small">No tickets yet.</p>}
      {tickets && tickets.length > 0 && (
        <table class="simple customer-ticket-table" data-testid="customer-tickets">
          <thead>
            <tr><th scope="col">Ticket</th><th scope="col">Subject</th><th scope="col">Channel</th><th scope="col">Status</th><th scope="col">Updated</th></tr>
          </thead>
          <tbody>
            {tickets.map((t) => (
              <tr key={t.ticket_id} data-testid="customer-ticket-row" data-ticket-number={t.ticket_number}>
                <td class="mono nowrap"><a href={ticketPath(t.ticket_number)} onClick={link}>{t.ticket_number}</a></td>
                <td class="subject-cell">
                  <a href={ticketPath(t.ticket_number)} onClick={link} class="plain-link">{t.subject || '(no subject)'}</a>
                  {t.merged_into && <span class="muted small"> → merged into {t.merged_into}</span>}
                </td>
                <td class="nowrap">{humanize(t.channel)}</td>
                <td><Badge kind="status" value={t.status} /></td>
                <td class="nowrap muted" title={formatDate(t.updated_at)}>{ago(t.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tickets && missing > 0 && (
        <p class="muted small" data-testid="customer-tickets-partial">
          {customer.erased_at
            ? `${plural(customer.ticket_count, 'ticket')} kept, but not listed here: an erased customer has no identities left to find them by.`
            : `${plural(missing, 'ticket')} not listed: outside the tickets you may see, or too old to be found by channel.`}
        </p>
      )}
    </section>
  );
}
