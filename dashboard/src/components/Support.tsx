// The live support console (/support, every staff role; loaded lazily): availability, the queue, my conversations,
// one conversation at a time (history + the room WebSocket: transcript, composer, typing, transfer / escalate /
// end), incoming calls (Accept → answer the customer's WebRTC offer, and only the customer's; mute, hang up; text
// on the peer-to-peer data channel is masked here, ../mask.ts) and, for supervisor+, the live metrics and every
// active conversation ("All conversations": Listen / Join). Listen-in: a supervisor opening someone else's call joins
// its room as `supervisor`, never offers and never writes; the customer and the agent each offer it a send-only audio
// connection, answered receive-only and played on its own <audio> element; the agent's console makes that offer
// (the customer's widget the other). The lists refresh on every `support` frame of the live channel and every 10 s.
// The room protocol and the WebRTC plumbing are in ../room.ts (shared with the customer widget).
// Test hook: window.EdgedeskConsole = { sendData(text), state() } while this page is open.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  api, atLeast, errorMessage, SUPPORT_STATUSES, type QueuedSession, type SupportMe, type SupportMessage,
  type SupportMetrics, type SupportSession, type SupportSessionDetail, type SupportStatus,
} from '../api';
import { duration, formatDate, humanize, plural } from '../format';
import { useLive } from '../live';
import { maskPeerText } from '../mask';
import { link, navigate, ticketPath } from '../router';
import {
  CallPeer, RoomSocket, microphone, release, type ChatFrame, type PeerRole, type RoomFrame, type RoomPeer,
  type SocketStatus,
} from '../room';
import { staffList, useNow, useSession } from '../store';
import { Badge, ErrorBanner, Loading, Notice } from './ui';

interface ConsoleState {
  sessionId: string | null;
  roomId: string | null;
  peerId: string | null;
  socket: SocketStatus;
  connectionState: RTCPeerConnectionState | null;
  /** My role in the room (from its welcome). */
  role: PeerRole | null;
  /** The listen-in connections by remote peer id: a supervisor's from the customer and the agent, or the agent's to a
   * listening supervisor. */
  listening: Record<string, RTCPeerConnectionState>;
}

declare global {
  interface Window {
    EdgedeskConsole?: { sendData(text: string): boolean; state(): ConsoleState };
  }
}

const IDLE: ConsoleState = {
  sessionId: null, roomId: null, peerId: null, socket: 'closed', connectionState: null, role: null, listening: {},
};

/** The open conversation's call, for the window hook. */
const current: { call: CallPeer | null; state: ConsoleState } = { call: null, state: { ...IDLE } };

/** The microphone asked for on "Accept" (inside the click: the permission prompt needs it), for that call. */
let acceptedMic: { id: string; stream: Promise<MediaStream | null> } | null = null;

function takeMic(id: string): Promise<MediaStream | null> | null {
  const m = acceptedMic;
  acceptedMic = null;
  if (m && m.id !== id) {
    void m.stream.then(release);
    return null;
  }
  return m?.stream ?? null;
}

const sessionPath = (id: string) => `/support?session=${encodeURIComponent(id)}`;

export function Support({ params }: { params: URLSearchParams }) {
  const { me } = useSession();
  const supervisor = atLeast(me.staff.role, 'supervisor');
  const selected = params.get('session');
  const now = useNow(15_000);
  const [avail, setAvail] = useState<SupportMe | null>(null);
  const [queue, setQueue] = useState<QueuedSession[] | null>(null);
  const [mine, setMine] = useState<SupportSession[] | null>(null);
  /** Every active conversation (supervisor+). */
  const [all, setAll] = useState<SupportSession[] | null>(null);
  const [metrics, setMetrics] = useState<SupportMetrics | null>(null);
  /** Calls assigned to me: answered (true) or still ringing (false); absent while unknown. */
  const [answered, setAnswered] = useState<Record<string, boolean>>({});
  /** Bumped by every live frame about the open conversation (it reloads). */
  const [tick, setTick] = useState(0);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const answeredRef = useRef(answered);
  answeredRef.current = answered;
  const inFlight = useRef(false);
  const again = useRef(false);

  /** Reloads availability, queue, my sessions (and metrics); coalesces calls made while one is running. */
  async function refresh(): Promise<void> {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    try {
      const [st, q, m, mt, everyone] = await Promise.all([
        api.supportMe(),
        api.supportQueue(),
        api.supportSessions({ status: 'active', mine: true }),
        supervisor ? api.supportMetrics(1) : Promise.resolve(null),
        supervisor ? api.supportSessions({ status: 'active' }) : Promise.resolve(null),
      ]);
      setAvail(st);
      setQueue(q.sessions);
      setMine(m.sessions);
      setMetrics(mt);
      setAll(everyone?.sessions ?? null);
      setLoadError(null);
      // A call assigned to me rings until I accept it (the call record then has answered_at).
      const unknown = m.sessions.filter((s) => s.kind === 'voice' && answeredRef.current[s.id] !== true);
      if (unknown.length) {
        const found = await Promise.all(unknown.map((s) => api.supportSession(s.id).then(
          (d) => [s.id, !!d.call?.answered_at] as const,
          () => null,
        )));
        setAnswered((a) => {
          const next = { ...a };
          for (const f of found) if (f && next[f[0]] !== true) next[f[0]] = f[1];
          return next;
        });
      }
    } catch (e) {
      setLoadError(errorMessage(e));
    } finally {
      inFlight.current = false;
      if (again.current) {
        again.current = false;
        void refreshRef.current();
      }
    }
  }
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;

  useEffect(() => {
    void refreshRef.current();
    const t = window.setInterval(() => void refreshRef.current(), 10_000);
    return () => window.clearInterval(t);
  }, []);

  useLive((m) => {
    if (m.type !== 'support') return;
    if (m.event === 'assigned' && m.kind === 'voice' && m.staff_id === me.staff.staff_id) {
      setAnswered((a) => (a[m.session_id] === true ? a : { ...a, [m.session_id]: false }));
    }
    if (m.session_id === selected) setTick((t) => t + 1);
    void refresh();
  });

  // The test hook.
  useEffect(() => {
    window.EdgedeskConsole = {
      sendData: (text) => current.call?.sendData(text) ?? false,
      state: () => ({
        ...current.state,
        connectionState: current.call?.pc.connectionState ?? current.state.connectionState,
        listening: { ...current.state.listening },
      }),
    };
    return () => {
      delete window.EdgedeskConsole;
    };
  }, []);

  async function changeAvailability(status: SupportStatus) {
    setError(null);
    try {
      await api.setAvailability(status);
      setAvail((a) => ({ active: a?.active ?? 0, support_status: status }));
    } catch (e) {
      setError(errorMessage(e));
    }
    void refresh();
  }

  async function accept(s: SupportSession) {
    setBusy(s.id);
    setError(null);
    setNotice(null);
    const mic = s.kind === 'voice' ? microphone() : null; // before any await: still inside the click
    try {
      await api.acceptSession(s.id);
      if (mic) {
        takeMic(s.id);
        acceptedMic = { id: s.id, stream: mic };
      }
      setAnswered((a) => ({ ...a, [s.id]: true }));
      navigate(sessionPath(s.id));
    } catch (e) {
      if (mic) release(await mic);
      setError(errorMessage(e));
    } finally {
      setBusy(null);
      void refresh();
    }
  }

  async function decline(s: SupportSession) {
    setBusy(s.id);
    setError(null);
    try {
      await api.declineSession(s.id);
      setNotice(`Declined the call from ${s.customer_name}.`);
      setAnswered((a) => {
        const next = { ...a };
        delete next[s.id];
        return next;
      });
      if (selected === s.id) navigate('/support', { replace: true });
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
      void refresh();
    }
  }

  const incoming = (mine ?? []).filter((s) => s.kind === 'voice' && answered[s.id] === false);
  const others = (all ?? []).filter((s) => s.assigned_to !== me.staff.staff_id);
  const status = avail?.support_status;

  return (
    <div class="page support-page" data-testid="support-page">
      <div class="page-head">
        <h1>Live</h1>
        <span class={`presence-dot presence-${status ?? 'unknown'}`} aria-hidden="true" />
        <label class="availability">
          Availability
          <select value={status ?? ''} disabled={!avail} data-testid="availability" data-value={status ?? ''}
            onChange={(e) => void changeAvailability(e.currentTarget.value as SupportStatus)}>
            {!avail && <option value="">…</option>}
            {SUPPORT_STATUSES.map((s) => <option key={s} value={s}>{humanize(s)}</option>)}
          </select>
        </label>
        {avail && <span class="muted small" data-testid="active-count">{plural(avail.active, 'active conversation')}</span>}
      </div>
      {supervisor && <MetricsStrip m={metrics} />}
      {incoming.map((s) => (
        <div key={s.id} class="banner banner-warn incoming-call" role="alert" data-testid="incoming-call" data-session-id={s.id}>
          <span class="ring" aria-hidden="true" />
          <span><strong>Incoming call</strong> from {s.customer_name}{s.customer_email ? ` (${s.customer_email})` : ''}</span>
          <span class="spacer" />
          <button type="button" class="button small primary" disabled={busy === s.id} data-testid="call-accept"
            onClick={() => void accept(s)}>Accept</button>
          <button type="button" class="button small" disabled={busy === s.id} data-testid="call-decline"
            onClick={() => void decline(s)}>Decline</button>
        </div>
      ))}
      <ErrorBanner error={error ?? loadError} testid="support-error" />
      <Notice text={notice} testid="support-notice" />
      <div class="support-grid">
        <div class="support-lists">
          <section class="panel" data-testid="queue" aria-label="Queue">
            <h2>Queue {queue && <span class="count" data-testid="queue-count">{queue.length}</span>}</h2>
            {!queue ? <Loading /> : queue.length === 0 ? <p class="muted small" data-testid="queue-empty">No one is waiting.</p> : (
              <ul class="session-list">
                {queue.map((s) => (
                  <li key={s.id} class="session-item" data-testid="queue-item" data-session-id={s.id} data-kind={s.kind}>
                    <KindMark kind={s.kind} />
                    <span class="session-text">
                      <strong>{s.customer_name}</strong>
                      <span class="muted small">
                        #{s.position} · waiting {duration(now - Date.parse(s.created_at))}
                        {s.escalated && <span class="tag tag-warn">escalated</span>}
                      </span>
                    </span>
                    <button type="button" class="button small primary" disabled={busy === s.id} data-testid="accept-button"
                      onClick={() => void accept(s)}>Accept</button>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section class="panel" data-testid="my-sessions" aria-label="My conversations">
            <h2>My conversations {mine && <span class="count">{mine.length}</span>}</h2>
            {!mine ? <Loading /> : mine.length === 0 ? <p class="muted small" data-testid="my-sessions-empty">None in progress.</p> : (
              <ul class="session-list">
                {mine.map((s) => (
                  <li key={s.id}>
                    <a href={sessionPath(s.id)} onClick={link} data-testid="my-session" data-session-id={s.id} data-kind={s.kind}
                      class={`session-item session-link ${s.id === selected ? 'active' : ''}`}
                      aria-current={s.id === selected ? 'true' : undefined}>
                      <KindMark kind={s.kind} />
                      <span class="session-text">
                        <strong>{s.customer_name}</strong>
                        <span class="muted small">
                          {s.kind === 'voice' && answered[s.id] === false ? 'ringing' : `since ${formatDate(s.assigned_at ?? s.created_at)}`}
                          {s.escalated && <span class="tag tag-warn">escalated</span>}
                        </span>
                      </span>
                    </a>
                  </li>
                ))}
              </ul>
            )}
          </section>
          {supervisor && (
            <section class="panel" data-testid="all-sessions" aria-label="All conversations">
              <h2>All conversations {all && <span class="count" data-testid="all-sessions-count">{others.length}</span>}</h2>
              {!all ? <Loading /> : others.length === 0 ? <p class="muted small" data-testid="all-sessions-empty">No one else is in a conversation.</p> : (
                <ul class="session-list">
                  {others.map((s) => (
                    <li key={s.id} class={`session-item ${s.id === selected ? 'active' : ''}`} data-testid="all-session"
                      data-session-id={s.id} data-kind={s.kind}>
                      <KindMark kind={s.kind} />
                      <span class="session-text">
                        <strong>{s.customer_name}</strong>
                        <span class="muted small">
                          {s.assigned_name ? `with ${s.assigned_name}` : 'unassigned'} · since {formatDate(s.assigned_at ?? s.created_at)}
                          {s.escalated && <span class="tag tag-warn">escalated</span>}
                        </span>
                      </span>
                      {s.kind === 'voice' ? (
                        <button type="button" class="button small" data-testid="listen-button" disabled={s.id === selected}
                          title="Listen in on this call: you hear both sides, they do not hear you"
                          onClick={() => navigate(sessionPath(s.id))}>Listen</button>
                      ) : (
                        <button type="button" class="button small" data-testid="join-button" disabled={s.id === selected}
                          onClick={() => navigate(sessionPath(s.id))}>Join</button>
                      )}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}
        </div>
        <section class="support-main">
          {selected ? (
            <Conversation key={selected} id={selected} tick={tick} answered={answered[selected] === true}
              onChanged={() => void refresh()}
              onLeave={(text) => {
                setNotice(text);
                navigate('/support', { replace: true });
                void refresh();
              }} />
          ) : (
            <div class="empty-state conversation-empty" data-testid="no-conversation">
              <p>Accept someone from the queue or open one of your conversations.</p>
            </div>
          )}
        </section>
      </div>
    </div>
  );
}

function KindMark({ kind }: { kind: 'chat' | 'voice' }) {
  return <span class={`kind-mark kind-${kind}`} title={kind === 'voice' ? 'Voice call' : 'Chat'}>{kind === 'voice' ? 'Call' : 'Chat'}</span>;
}

function seconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

function MetricsStrip({ m }: { m: SupportMetrics | null }) {
  if (!m) return null;
  const rate = m.abandon_rate ?? (m.sessions ? m.abandoned / m.sessions : null);
  const items: [string, string, string][] = [
    ['active-chats', 'Active chats', String(m.active_chats)],
    ['active-calls', 'Active calls', String(m.active_calls)],
    ['queued', 'Queued', String(m.queued)],
    ['online-staff', 'Online staff', String(m.online_staff)],
    ['average-wait', 'Average wait', seconds(m.average_wait_seconds)],
    // abandon_rate is a fraction (0–1); a value above 1 would already be a percentage.
    ['abandon-rate', 'Abandon rate', rate === null ? '—' : `${Math.round(rate > 1 ? rate : rate * 100)}%`],
  ];
  return (
    <div class="support-metrics" data-testid="support-metrics">
      {items.map(([key, label, value]) => (
        <div key={key} class="card metric" data-testid={`metric-${key}`}>
          <span class="kpi-label">{label}</span>
          <strong class="metric-value" data-testid={`metric-${key}-value`}>{value}</strong>
        </div>
      ))}
    </div>
  );
}

/** What a listening supervisor hears from one talking peer. */
interface Heard {
  role: PeerRole;
  name: string;
  state: RTCPeerConnectionState;
  stream: MediaStream | null;
}

/** Plays `stream` on an <audio> element (a ref callback: runs on every render, sets it only when it changed). */
function playOn(el: HTMLAudioElement | null, stream: MediaStream | null) {
  if (!el || el.srcObject === stream) return;
  el.srcObject = stream;
  if (stream) el.play().catch(() => undefined);
}

interface Line {
  id: string;
  kind: 'chat' | 'notice';
  role?: PeerRole;
  name?: string;
  text: string;
  ts?: string;
}

const chatLine = (m: SupportMessage): Line =>
  ({ id: m.id, kind: 'chat', role: m.role, name: m.sender_name, text: m.text, ts: m.created_at });
const frameLine = (f: ChatFrame): Line => ({ id: f.id, kind: 'chat', role: f.role, name: f.name, text: f.text, ts: f.ts });
/**
 * The history of a room's welcome merged into the lines by id: each message not there yet goes in before the next
 * history message that is (or at the end), so a reconnect shows what was missed, in order, and nothing twice.
 */
function mergeHistory(ls: Line[], history: ChatFrame[]): Line[] {
  const out = [...ls];
  let at = out.length;
  for (let i = history.length - 1; i >= 0; i--) {
    const j = out.findIndex((l) => l.id === history[i].id);
    if (j >= 0) at = j;
    else out.splice(at, 0, frameLine(history[i]));
  }
  return out.length === ls.length ? ls : out;
}
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeOf = (iso?: string) => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? '' : clock.format(new Date(t));
};

function Conversation({ id, tick, answered, onChanged, onLeave }: {
  id: string; tick: number; answered: boolean; onChanged: () => void; onLeave: (notice: string) => void;
}) {
  const { me } = useSession();
  const myId = me.staff.staff_id;
  const supervisor = atLeast(me.staff.role, 'supervisor');
  const staff = staffList.use();
  const [detail, setDetail] = useState<SupportSessionDetail | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [lines, setLines] = useState<Line[]>([]);
  const [typing, setTyping] = useState<string | null>(null);
  const [sock, setSock] = useState<SocketStatus>('closed');
  const [callState, setCallState] = useState<RTCPeerConnectionState | null>(null);
  const [muted, setMuted] = useState(false);
  const [dc, setDc] = useState<string[]>([]);
  const [text, setText] = useState('');
  const [transferTo, setTransferTo] = useState('');
  const [busy, setBusy] = useState(false);
  /** My role in the room, from its welcome (null until then). */
  const [role, setRole] = useState<PeerRole | null>(null);
  /** A supervisor listening in: one receive-only connection per talking peer. */
  const [heard, setHeard] = useState<Record<string, Heard>>({});

  const socketRef = useRef<RoomSocket | null>(null);
  const callRef = useRef<CallPeer | null>(null);
  const roleRef = useRef<PeerRole | null>(null);
  const mutedRef = useRef(false);
  mutedRef.current = muted;
  /** Listen-in connections by remote peer id: the supervisor's receive-only ones, or the agent's send-only ones. */
  const listensRef = useRef(new Map<string, CallPeer>());
  const micRef = useRef<Promise<MediaStream | null> | null>(null);
  const peersRef = useRef(new Map<string, RoomPeer>());
  const iceRef = useRef<RTCIceServer[]>([]);
  const audioRef = useRef<HTMLAudioElement>(null);
  const logRef = useRef<HTMLOListElement>(null);
  const typingTimer = useRef<number | undefined>(undefined);
  const lastTyping = useRef(0);
  const noticeSeq = useRef(0);

  async function load() {
    try {
      const d = await api.supportSession(id);
      setDetail(d);
      setLoadError(null);
      // History first; live lines the history does not have yet (and notices) after it.
      setLines((ls) => {
        const history = d.messages.map(chatLine);
        const known = new Set(history.map((l) => l.id));
        return [...history, ...ls.filter((l) => !known.has(l.id))];
      });
    } catch (e) {
      setLoadError(errorMessage(e));
    }
  }
  useEffect(() => {
    void load();
  }, [id, tick]);

  const s = detail?.session;
  const isVoice = s?.kind === 'voice';
  const assignedToMe = s?.assigned_to === myId;
  const answeredNow = answered || !!detail?.call?.answered_at;
  const canJoin = !!s && s.status === 'active' && (assignedToMe ? !isVoice || answeredNow : supervisor);
  const roomId = canJoin ? s.room_id : null;

  function addNotice(textLine: string) {
    setLines((ls) => (ls[ls.length - 1]?.text === textLine ? ls
      : [...ls, { id: `notice-${++noticeSeq.current}`, kind: 'notice', text: textLine }]));
  }

  function showTyping(name: string) {
    setTyping(name);
    window.clearTimeout(typingTimer.current);
    typingTimer.current = window.setTimeout(() => setTyping(null), 3000);
  }

  function closeCall() {
    for (const id of [...listensRef.current.keys()]) dropListen(id);
    callRef.current?.close();
    callRef.current = null;
    current.call = null;
    current.state.connectionState = 'closed';
    void micRef.current?.then(release);
    micRef.current = null;
  }

  async function answerCall(from: string, sdp: string) {
    callRef.current?.close();
    if (!micRef.current) micRef.current = microphone();
    const mic = micRef.current;
    const call: CallPeer = new CallPeer(from, iceRef.current, {
      send: (f) => socketRef.current?.send(f) ?? false,
      state: (st) => {
        if (callRef.current !== call) return;
        setCallState(st);
        current.state.connectionState = st;
      },
      track: (stream) => {
        const a = audioRef.current;
        if (!a) return;
        a.srcObject = stream;
        a.play().catch(() => undefined);
      },
      // Peer-to-peer text never passes the room's masking: mask it here before staff see it.
      data: (t) => setDc((d) => [...d, maskPeerText(t)]),
    });
    callRef.current = call;
    current.call = call;
    call.setMuted(muted);
    setCallState(call.pc.connectionState);
    try {
      await call.answer(sdp, mic);
      if (!(await mic)) setNotice('No microphone available: you hear the customer, they cannot hear you.');
    } catch (e) {
      setError(`The call could not be answered: ${errorMessage(e)}`);
    }
  }

  function dropListen(peer: string) {
    const l = listensRef.current.get(peer);
    listensRef.current.delete(peer);
    l?.close();
    delete current.state.listening[peer];
    setHeard((h) => {
      if (!(peer in h)) return h;
      const next = { ...h };
      delete next[peer];
      return next;
    });
  }

  function listenEvents(peer: string, get: () => CallPeer | undefined, onTrack: (stream: MediaStream) => void) {
    return {
      send: (f: object) => socketRef.current?.send(f) ?? false,
      state: (st: RTCPeerConnectionState) => {
        const me = get();
        if (!me || listensRef.current.get(peer) !== me) return;
        current.state.listening[peer] = st;
        setHeard((h) => (h[peer] ? { ...h, [peer]: { ...h[peer], state: st } } : h));
        if (st === 'failed' && roleRef.current === 'agent') {
          // The agent offers again (the supervisor cannot) while it is still in the room.
          window.setTimeout(() => {
            if (listensRef.current.get(peer) === me && peersRef.current.get(peer)?.role === 'supervisor') void offerListen(peer, true);
          }, 2000);
        }
      },
      track: onTrack,
      data: () => undefined,
    };
  }

  /**
   * The agent in a call, to a listening supervisor: a second connection that only sends my microphone (the same
   * track as the call's, so mute applies to both). `fresh` replaces one that exists (the supervisor joined anew);
   * otherwise a healthy one is kept (my socket reconnected).
   */
  async function offerListen(sup: string, fresh: boolean) {
    const old = listensRef.current.get(sup);
    if (old && !fresh && ['new', 'connecting', 'connected'].includes(old.pc.connectionState)) return;
    if (old) dropListen(sup);
    if (!micRef.current) micRef.current = microphone();
    const mic = micRef.current;
    const l: CallPeer = new CallPeer(sup, iceRef.current, listenEvents(sup, () => l, () => undefined));
    listensRef.current.set(sup, l);
    current.state.listening[sup] = l.pc.connectionState;
    l.setMuted(mutedRef.current);
    try {
      const stream = await mic;
      if (listensRef.current.get(sup) !== l) return;
      await l.offerSendOnly(stream);
    } catch {
      if (listensRef.current.get(sup) === l) dropListen(sup); // the call with the customer does not depend on it
    }
  }

  /** A supervisor listening in answers a talking peer's offer receive-only (never with a microphone). */
  async function answerListen(from: string, sdp: string) {
    if (listensRef.current.has(from)) dropListen(from);
    const p = peersRef.current.get(from);
    const l: CallPeer = new CallPeer(from, iceRef.current, listenEvents(from, () => l, (stream) => {
      if (listensRef.current.get(from) === l) setHeard((h) => (h[from] ? { ...h, [from]: { ...h[from], stream } } : h));
    }));
    listensRef.current.set(from, l);
    current.state.listening[from] = l.pc.connectionState;
    setHeard((h) => ({
      ...h,
      [from]: { role: p?.role ?? 'customer', name: p?.name ?? from, state: l.pc.connectionState, stream: h[from]?.stream ?? null },
    }));
    try {
      await l.answer(sdp, null);
    } catch (e) {
      setError(`Could not listen in: ${errorMessage(e)}`);
    }
  }

  // Room frames go through a ref so the socket always reaches the latest render's state.
  const onFrame = useRef<(f: RoomFrame) => void>(() => undefined);
  onFrame.current = (f) => {
    const mine = socketRef.current?.peerId;
    switch (f.type) {
      case 'welcome': {
        peersRef.current = new Map(f.peers.map((p) => [p.peer_id, p]));
        iceRef.current = f.ice_servers ?? [];
        current.state.peerId = f.peer_id;
        current.state.role = f.role;
        roleRef.current = f.role;
        setRole(f.role);
        if (f.history?.length) setLines((ls) => mergeHistory(ls, f.history ?? []));
        // Listen-in connections with peers that left while this socket was away are over.
        for (const id of [...listensRef.current.keys()]) if (!peersRef.current.has(id)) dropListen(id);
        const voice = f.kind ? f.kind === 'voice' : isVoice;
        if (voice && f.role === 'agent') {
          f.peers.filter((p) => p.role === 'supervisor').forEach((p) => void offerListen(p.peer_id, false));
        }
        break;
      }
      case 'peer-joined':
        peersRef.current.set(f.peer_id, { peer_id: f.peer_id, role: f.role, name: f.name });
        addNotice(f.role === 'supervisor' && isVoice ? `${f.name} is listening in` : `${f.name} joined`);
        if (isVoice && f.role === 'supervisor' && roleRef.current === 'agent') void offerListen(f.peer_id, true);
        break;
      case 'peer-left': {
        const p = peersRef.current.get(f.peer_id);
        peersRef.current.delete(f.peer_id);
        if (p) addNotice(`${p.name} left`);
        if (listensRef.current.has(f.peer_id)) dropListen(f.peer_id);
        break;
      }
      case 'chat':
        if (f.from !== mine) setTyping(null);
        setLines((ls) => (ls.some((l) => l.id === f.id) ? ls : [...ls, frameLine(f)]));
        break;
      case 'typing':
        if (f.from !== mine) showTyping(peersRef.current.get(f.from)?.name ?? 'The customer');
        break;
      case 'offer': {
        const from = peersRef.current.get(f.from)?.role;
        if (!isVoice) break;
        if (roleRef.current === 'supervisor') {
          // Listening in: the customer and the agent each offer me their audio.
          if (from === 'customer' || from === 'agent') void answerListen(f.from, f.sdp);
        } else if (from === 'customer') {
          // Only the session's customer offers the call; an offer from any other peer is ignored, so it can never
          // replace the customer's call.
          void answerCall(f.from, f.sdp);
        }
        break;
      }
      case 'answer':
        // A listening supervisor answers my send-only offer.
        if (roleRef.current === 'agent') void listensRef.current.get(f.from)?.answered(f.sdp).catch(() => dropListen(f.from));
        break;
      case 'ice-candidate':
        if (callRef.current?.remote === f.from) void callRef.current.candidate(f.candidate);
        else void listensRef.current.get(f.from)?.candidate(f.candidate);
        break;
      case 'transferred':
        addNotice(`Transferred to ${f.agent_name}`);
        break;
      case 'ended':
      case 'abandoned':
        addNotice(f.type === 'ended' ? 'The conversation has ended.' : 'The customer was not answered in time.');
        closeCall();
        setTyping(null);
        void load();
        onChanged();
        break;
      case 'error':
        setError(f.message || humanize(f.code.replace(/-/g, ' ')));
        break;
      default:
        break;
    }
  };

  // Join the room while the conversation is live and mine (a call: once answered).
  useEffect(() => {
    if (!roomId) return undefined;
    if (isVoice) micRef.current = takeMic(id) ?? micRef.current;
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    const base = `${scheme}://${window.location.host}/api/v1/rooms/${encodeURIComponent(roomId)}/ws`;
    const socket = new RoomSocket(
      (peer) => (peer ? `${base}?peer_id=${encodeURIComponent(peer)}` : base),
      (f) => onFrame.current(f),
      (st) => {
        setSock(st);
        if (socketRef.current === socket) current.state.socket = st;
      },
    );
    socketRef.current = socket;
    current.state = { ...IDLE, sessionId: id, roomId, socket: 'connecting', listening: {} };
    socket.start();
    return () => {
      socket.stop();
      socketRef.current = null;
      closeCall();
      current.state = { ...IDLE };
    };
  }, [roomId]);

  useEffect(() => () => window.clearTimeout(typingTimer.current), []);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  function send(e?: Event) {
    e?.preventDefault();
    const t = text.trim();
    if (!t) return;
    if (socketRef.current?.send({ type: 'chat', text: t })) {
      setText('');
      setError(null);
    } else {
      setError('Not connected to the conversation: the message was not sent.');
    }
  }

  function onInput(v: string) {
    setText(v);
    const t = Date.now();
    if (v && t - lastTyping.current > 2000 && socketRef.current?.send({ type: 'typing' })) lastTyping.current = t;
  }

  async function act(what: () => Promise<void>) {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await what();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const end = () => act(async () => {
    const r = await api.endSession(id);
    closeCall();
    socketRef.current?.stop();
    setDetail((d) => (d ? { ...d, session: r } : d));
    setNotice(r.ticket_id ? 'Ended. The transcript is saved as a ticket.' : 'Ended.');
    onChanged();
  });
  const transfer = () => act(async () => {
    const to = staff.find((x) => x.staff_id === transferTo);
    await api.transferSession(id, transferTo);
    onLeave(`Transferred to ${to?.name ?? 'a colleague'}.`);
  });
  const escalate = () => act(async () => {
    await api.escalateSession(id);
    setNotice('Escalated to a supervisor.');
    void load();
    onChanged();
  });

  function toggleMute() {
    const next = !muted;
    setMuted(next);
    callRef.current?.setMuted(next);
    listensRef.current.forEach((l) => l.setMuted(next));
  }

  if (!detail) {
    return loadError ? <ErrorBanner error={loadError} testid="conversation-error" /> : <Loading label="Loading the conversation…" />;
  }
  const session = detail.session;
  const live = session.status === 'active';
  const canAct = live && (assignedToMe || supervisor);
  const canTransfer = live && (assignedToMe || atLeast(me.staff.role, 'team_lead'));
  const others = staff.filter((x) => x.status === 'active' && x.staff_id !== myId && x.staff_id !== session.assigned_to);
  const dot = sock === 'open' ? 'open' : sock === 'closed' ? 'closed' : 'connecting';
  // Listening in: my role in the room once it said so, before that what the server will make me (staff who are not
  // the assignee join as supervisor).
  const listening = isVoice && (role ? role === 'supervisor' : !assignedToMe && supervisor);
  const heardList = Object.entries(heard).sort(([, a], [, b]) => (a.role === b.role ? 0 : a.role === 'customer' ? -1 : 1));
  const connectedCount = heardList.filter(([, x]) => x.state === 'connected').length;

  return (
    <div class="card conversation" data-testid="conversation" data-session-id={session.id} data-status={session.status}
      data-kind={session.kind}>
      <div class="conversation-head">
        <div class="conversation-title">
          <h2>
            {session.customer_name}
            <Badge kind="kind" value={session.kind} />
            <Badge kind="session" value={session.status} testid="session-status" />
            {session.escalated && <span class="tag tag-warn">escalated</span>}
          </h2>
          <span class="muted small">
            {session.customer_email ?? 'No e-mail'} · started {formatDate(session.created_at)}
            {session.assigned_name ? ` · with ${session.assigned_name}` : ' · unassigned'}
          </span>
        </div>
        {roomId && <span class={`live-dot live-${dot}`} role="img" aria-label={`Room ${sock}`} title={`Room: ${sock}`}
          data-testid="room-status" data-status={sock} />}
      </div>

      {isVoice && live && assignedToMe && !answeredNow && (
        <div class="banner banner-info" data-testid="call-ringing">This call is ringing: accept it above to join.</div>
      )}
      {listening && roomId && (
        <div class="call-bar listen-bar" data-testid="listen-bar">
          <span class="listen-state" role="status" data-testid="listen-state" data-peers={heardList.length}
            data-peers-connected={connectedCount}>
            <strong>Listening in</strong>
            {heardList.length === 0 ? <span class="muted"> · waiting for the call's audio…</span> : heardList.map(([peer, x]) => (
              <span key={peer} class="listen-peer" data-testid="listen-peer" data-role={x.role} data-state={x.state}>
                {' · '}{x.name} ({x.role}): <strong>{x.state}</strong>
              </span>
            ))}
          </span>
          {heardList.map(([peer, x]) => (
            <audio key={peer} autoplay data-testid="listen-audio" data-role={x.role} data-peer-id={peer}
              ref={(el) => playOn(el, x.stream)} />
          ))}
          <span class="muted small">They do not hear you.</span>
          <button type="button" class="button small" onClick={() => navigate('/support')} data-testid="stop-listening">
            Stop listening
          </button>
        </div>
      )}
      {isVoice && !listening && (
        <div class={`call-bar ${roomId ? '' : 'call-bar-idle'}`} data-testid="call-bar">
          <span>Call: <strong data-testid="call-state" data-state={callState ?? 'none'}>{callState ?? (roomId ? 'waiting' : '—')}</strong></span>
          <audio ref={audioRef} autoplay data-testid="remote-audio" />
          {roomId && (
            <>
              <button type="button" class="button small" aria-pressed={muted} onClick={toggleMute} data-testid="mute-button">
                {muted ? 'Unmute' : 'Mute'}
              </button>
              <button type="button" class="button small danger" disabled={busy} onClick={() => void end()} data-testid="hangup-button">
                Hang up
              </button>
            </>
          )}
          {dc.length > 0 && (
            <ul class="dc-messages" aria-label="Data channel">
              {dc.map((m, i) => <li key={i} data-testid="dc-message">{m}</li>)}
            </ul>
          )}
        </div>
      )}

      <ol class="transcript" ref={logRef} data-testid="transcript" aria-live="polite">
        {lines.length === 0 && <li class="line-notice muted">No messages yet.</li>}
        {lines.map((l) => (l.kind === 'chat' ? (
          <li key={l.id} class={`line ${l.role === 'customer' ? 'line-customer' : 'line-staff'}`} data-testid="transcript-line"
            data-role={l.role}>
            <span class="line-meta"><strong>{l.name}</strong> <time class="muted">{timeOf(l.ts)}</time></span>
            <span class="line-text">{l.text}</span>
          </li>
        ) : (
          <li key={l.id} class="line-notice" data-testid="transcript-notice">{l.text}</li>
        )))}
      </ol>
      <div class="typing-line" data-testid="typing-indicator" aria-live="polite">{typing ? `${typing} is typing…` : ''}</div>

      {roomId && listening && (
        <p class="muted small listen-note" data-testid="listen-only-note">You are listening in: supervisors cannot write in a call.</p>
      )}
      {roomId && !listening && (
        <form class="console-composer" onSubmit={send}>
          <textarea value={text} rows={2} placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
            aria-label="Message" data-testid="console-input" maxLength={4000}
            onInput={(e) => onInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
            }} />
          <button type="submit" class="button primary" disabled={!text.trim() || sock !== 'open'} data-testid="console-send">Send</button>
        </form>
      )}

      <div class="conversation-actions">
        {canTransfer && (
          <span class="inline-form">
            <select value={transferTo} aria-label="Transfer to" data-testid="transfer-select"
              onChange={(e) => setTransferTo(e.currentTarget.value)}>
              <option value="">Transfer to…</option>
              {others.map((x) => <option key={x.staff_id} value={x.staff_id}>{x.name}</option>)}
            </select>
            <button type="button" class="button small" disabled={!transferTo || busy} onClick={() => void transfer()}
              data-testid="transfer-button">Transfer</button>
          </span>
        )}
        {canAct && (
          <button type="button" class="button small" disabled={busy || session.escalated} onClick={() => void escalate()}
            data-testid="escalate-button">{session.escalated ? 'Escalated' : 'Escalate'}</button>
        )}
        <span class="spacer" />
        {session.ticket_id && (
          <a class="button small" href={ticketPath(session.ticket_id)} onClick={link} data-testid="session-ticket">Transcript ticket</a>
        )}
        {canAct && (
          <button type="button" class="button small danger" disabled={busy} onClick={() => void end()} data-testid="end-button">
            {isVoice ? 'End call' : 'End chat'}
          </button>
        )}
      </div>
      <ErrorBanner error={error} testid="conversation-error" />
      <Notice text={notice} testid="conversation-notice" />
    </div>
  );
}
