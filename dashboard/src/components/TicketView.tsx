// One ticket: header with SLA countdown, presence (collision) banner, the thread, the composer and the side panel.
// Announces "viewing" on the live socket while open and reloads when the live socket reports a change to it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, errorMessage, type Ticket, type TicketDetail } from '../api';
import { formatDate } from '../format';
import { live, useLive } from '../live';
import { link, navigate, ticketPath } from '../router';
import { useShortcuts } from '../shortcuts';
import { inboxMemory, staffList, useNow, useSession } from '../store';
import { Composer, type ComposerMode } from './Composer';
import { SidePanel } from './SidePanel';
import { Thread } from './Thread';
import { Badge, ErrorBanner, Loading, Notice, SlaPill } from './ui';

export function TicketView({ id }: { id: string }) {
  const { me } = useSession();
  const staff = staffList.use();
  const now = useNow(15_000);
  const [detail, setDetail] = useState<TicketDetail | null>(null);
  const [error, setError] = useState<{ status: number; message: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [viewers, setViewers] = useState<{ staff_id: string; name: string }[]>([]);
  const [mode, setMode] = useState<ComposerMode>('reply');
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const assigneeRef = useRef<HTMLSelectElement>(null);
  const generation = useRef(0);

  async function load() {
    const gen = ++generation.current;
    try {
      const d = await api.ticket(id);
      if (gen !== generation.current) return;
      setDetail(d);
      setError(null);
    } catch (e) {
      if (gen === generation.current) setError({ status: e instanceof ApiError ? e.status : 0, message: errorMessage(e) });
    }
  }

  useEffect(() => {
    void load();
  }, [id]);

  // Presence: tell the hub which ticket we look at, and forget it when leaving.
  const ticketId = detail?.ticket.ticket_id ?? null;
  useEffect(() => {
    if (!ticketId) return undefined;
    live.setViewing(ticketId);
    return () => live.setViewing(null);
  }, [ticketId]);

  useLive((m) => {
    if (!ticketId) return;
    if (m.type === 'presence' && m.ticket_id === ticketId) {
      setViewers(m.viewers.filter((v) => v.staff_id !== me.staff.staff_id));
    } else if (m.type === 'ticket' && (!m.ticket_id || m.ticket_id === ticketId || m.ticket_number === detail?.ticket.ticket_number)) {
      // (No ticket_id: a batch change such as an e-mail poll, which may concern this ticket too.)
      void load();
    }
  });

  useEffect(() => {
    if (!notice) return undefined;
    const t = window.setTimeout(() => setNotice(null), 6000);
    return () => window.clearTimeout(t);
  }, [notice]);

  const focusComposer = (m: ComposerMode) => {
    setMode(m);
    textareaRef.current?.focus(); // one textarea serves both modes
  };
  const step = (delta: number) => {
    const list = inboxMemory.numbers;
    const i = list.indexOf(detail?.ticket.ticket_number ?? id);
    const next = i >= 0 ? list[i + delta] : undefined;
    if (next) navigate(ticketPath(next));
  };
  useShortcuts({
    r: () => focusComposer('reply'),
    n: () => focusComposer('note'),
    a: () => assigneeRef.current?.focus(),
    j: () => step(1),
    k: () => step(-1),
    Escape: () => navigate(inboxMemory.url),
  });

  if (error && !detail) {
    return (
      <div class="empty-state" data-testid="ticket-error" role="alert">
        <h1>{error.status === 404 ? 'Ticket not found' : error.status === 403 ? 'Not allowed' : 'Could not load the ticket'}</h1>
        <p>{error.message}</p>
        <a class="button" href={inboxMemory.url} onClick={link}>Back to the inbox</a>
      </div>
    );
  }
  if (!detail) return <Loading label="Loading ticket…" />;

  const t = detail.ticket;
  const setTicket = (nt: Ticket) => setDetail((d) => (d ? { ...d, ticket: nt } : d));

  return (
    <div class="ticket-page" data-testid="ticket-view" data-ticket-number={t.ticket_number}>
      <div class="ticket-main">
        <div class="ticket-head">
          <a class="back" href={inboxMemory.url} onClick={link} data-testid="back">← Inbox <kbd>Esc</kbd></a>
          <div class="ticket-title">
            <span class="mono muted" data-testid="ticket-number">{t.ticket_number}</span>
            <h1 data-testid="ticket-subject">{t.subject || '(no subject)'}</h1>
          </div>
          <div class="ticket-meta">
            <Badge kind="status" value={t.status} testid="ticket-status" />
            <Badge kind="priority" value={t.priority} testid="ticket-priority" />
            <span class="tag">{t.category}</span>
            <SlaPill ticket={t} now={now} long />
            <span class="muted small">Opened {formatDate(t.created_at)}</span>
          </div>
        </div>

        {viewers.length > 0 && (
          <div class="banner banner-warn" role="status" data-testid="presence-banner">
            <strong>{viewers.map((v) => v.name).join(', ')}</strong> {viewers.length === 1 ? 'is' : 'are'} also viewing this
            ticket. Check before you reply.
          </div>
        )}
        {t.merged_into && (
          <div class="banner banner-info" data-testid="merged-banner">
            This ticket was merged into{' '}
            <a href={ticketPath(t.merged_into)} onClick={link} data-testid="merged-into-link">{t.merged_into}</a>.
            New replies go there.
          </div>
        )}
        <Notice text={notice} testid="ticket-notice" />
        {error && <ErrorBanner error={error.message} testid="ticket-reload-error" />}

        <Thread messages={detail.messages} />

        {!t.merged_into && (
          <Composer ticket={t} draft={detail.draft} mode={mode} setMode={setMode} textareaRef={textareaRef}
            onChanged={() => void load()} onNotice={setNotice} />
        )}
      </div>
      <SidePanel detail={detail} staff={staff} assigneeRef={assigneeRef} onTicket={setTicket}
        onChanged={() => void load()} onNotice={setNotice} />
    </div>
  );
}
