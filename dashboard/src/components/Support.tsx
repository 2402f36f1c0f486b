// The live support console (/support, every staff role; loaded lazily): availability, the queue, my conversations,
// one conversation at a time (history + the room WebSocket: transcript, composer, typing, transfer / escalate /
// end), incoming calls (Accept → answer the customer's WebRTC offer, and only the customer's; mute, hang up; text
// on the peer-to-peer data channel is masked here, ../mask.ts) and, for supervisor+, the live metrics. The lists
// refresh on every `support` frame of the live channel and every 10 s. The room protocol and the WebRTC plumbing are
// in ../room.ts (shared with the customer widget).
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
}

declare global {
  interface Window {
    EdgedeskConsole?: { sendData(text: string): boolean; state(): ConsoleState };
  }
}

const IDLE: ConsoleState = { sessionId: null, roomId: null, peerId: null, socket: 'closed', connectionState: null };

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
      const [st, q, m, mt] = await Promise.all([
        api.supportMe(),
        api.supportQueue(),
        api.supportSessions({ status: 'active', mine: true }),
        supervisor ? api.supportMetrics(1) : Promise.resolve(null),
      ]);
      setAvail(st);
      setQueue(q.sessions);
      setMine(m.sessions);
      setMetrics(mt);
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
      state: () => ({ ...current.state, connectionState: current.call?.pc.connectionState ?? current.state.connectionState }),
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

  const socketRef = useRef<RoomSocket | null>(null);
  const callRef = useRef<CallPeer | null>(null);
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

  // Room frames go through a ref so the socket always reaches the latest render's state.
  const onFrame = useRef<(f: RoomFrame) => void>(() => undefined);
  onFrame.current = (f) => {
    const mine = socketRef.current?.peerId;
    switch (f.type) {
      case 'welcome':
        peersRef.current = new Map(f.peers.map((p) => [p.peer_id, p]));
        iceRef.current = f.ice_servers ?? [];
        current.state.peerId = f.peer_id;
        break;
      case 'peer-joined':
        peersRef.current.set(f.peer_id, { peer_id: f.peer_id, role: f.role, name: f.name });
        addNotice(`${f.name} joined`);
        break;
      case 'peer-left': {
        const p = peersRef.current.get(f.peer_id);
        peersRef.current.delete(f.peer_id);
        if (p) addNotice(`${p.name} left`);
        break;
      }
      case 'chat':
        if (f.from !== mine) setTyping(null);
        setLines((ls) => (ls.some((l) => l.id === f.id) ? ls : [...ls, frameLine(f)]));
        break;
      case 'typing':
        if (f.from !== mine) showTyping(peersRef.current.get(f.from)?.name ?? 'The customer');
        break;
      case 'offer':
        // Only the session's customer offers the call; an offer from any other peer (a supervisor's console) is
        // ignored, so it can never replace the customer's call.
        if (isVoice && peersRef.current.get(f.from)?.role === 'customer') void answerCall(f.from, f.sdp);
        break;
      case 'ice-candidate':
        if (callRef.current?.remote === f.from) void callRef.current.candidate(f.candidate);
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
    current.state = { sessionId: id, roomId, peerId: null, socket: 'connecting', connectionState: null };
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
      {isVoice && (
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

      {roomId && (
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
