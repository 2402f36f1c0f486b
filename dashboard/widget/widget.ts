// The embeddable customer widget, served as /widget.js (built by vite.widget.config.ts into one IIFE file):
//   <script src="https://<worker>/widget.js" data-tenant="default" async></script>
// A "Chat with us" button opens a panel: name (required) and e-mail, then a text chat or a voice call (WebRTC,
// the customer offers; see ../src/room.ts) with the tenant's agents, through the API at the script's own origin
// (docs/api.md, "Live chat and WebRTC voice"). `data-tenant` is required: without it the widget shows nothing and
// logs one console warning (fail closed, never another tenant's queue). When the agent's peer leaves the room the
// call is closed and the next agent to join gets a fresh offer; a connection that fails is offered again on a new
// RTCPeerConnection. A supervisor listening in on a call (a `supervisor` peer in the room) gets a second,
// send-only connection of the same microphone track, offered by the customer and closed when it leaves (the agent's
// call is not touched); the customer is told when a supervisor joins or leaves a call. The conversation in progress
// is kept in sessionStorage (`edgedesk:<tenant>`: ids, peer id, room token, ws_url, kind, status, last notice) from
// its start until it ends or is left, so a reload of the shop page reopens it and reconnects with the same peer id;
// a kept one whose room refuses the upgrade twice before ever opening (409: over, 401: token expired; a browser
// cannot tell which) is forgotten and the start form shown. Every `welcome` carries the stored messages (`history`),
// merged into the list by message id. A call interrupted by a reload is not resumed (no audio): it goes on as a chat
// until someone ends it. Everything lives in an open Shadow DOM root so the site's CSS cannot reach it; the styles
// are a constructed stylesheet (not subject to the site's style-src), or a <style> element inside the root where
// constructed stylesheets are missing. Text is only ever set as textContent. The bundle is kept ASCII-only (the host
// page may not be UTF-8): no literal non-ASCII characters in strings.
// Test hooks: window.EdgedeskWidget = { open(), state(), sendData(text) } (this module's exports).
import { CallPeer, RoomSocket, microphone, release, type ChatFrame, type RoomFrame, type RoomPeer } from '../src/room';

interface Started {
  session_id?: string;
  call_id?: string;
  room_id: string;
  peer_id: string;
  token: string;
  ws_url: string;
  status: 'queued' | 'active';
  position?: number | null;
  ice_servers?: RTCIceServer[];
}

type Status = 'idle' | 'starting' | 'queued' | 'active' | 'ended' | 'abandoned';
type Kind = 'chat' | 'voice';

/** The conversation in progress as kept in sessionStorage: the start answer (without ICE servers), its kind, its
 * status, when it started (the room token lives 4 hours) and the last assignment notice shown. */
interface Saved extends Started {
  kind: Kind;
  at: number;
  note?: string;
}

const TOKEN_MS = 4 * 3600_000;

export interface WidgetState {
  sessionId: string | null;
  roomId: string | null;
  peerId: string | null;
  status: Status;
  connectionState: RTCPeerConnectionState | null;
}

interface Widget {
  open(): void;
  state(): WidgetState;
  sendData(text: string): boolean;
}

const CSS = `:host{all:initial;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111827}
*{box-sizing:border-box}
[hidden]{display:none!important}
button,input{font:inherit;color:inherit;border:1px solid #c7cbd4;border-radius:8px;background:#fff;padding:7px 12px}
button{cursor:pointer}
button:disabled{opacity:.55;cursor:default}
.primary,.launcher{background:#4f46e5;border-color:#4f46e5;color:#fff}
.launcher,.panel{position:fixed;right:20px;z-index:2147483000;box-shadow:0 8px 28px #1118273d}
.launcher{bottom:20px;border-radius:24px;padding:12px 18px;font-weight:600}
.panel{bottom:76px;width:340px;max-width:calc(100vw - 24px);height:500px;max-height:calc(100vh - 96px);display:flex;flex-direction:column;background:#fff;border-radius:12px;overflow:hidden}
header{display:flex;justify-content:space-between;padding:12px 14px;background:#4f46e5;color:#fff}
.x{border:0;background:none;font-size:20px;padding:0 4px;line-height:1}.x:before{content:"\\d7"}
.start{display:flex;flex-direction:column;gap:10px;padding:16px}
label{display:flex;flex-direction:column;gap:4px;font-size:13px;font-weight:600}
input{font-weight:400;padding:8px 10px;min-width:0}
.row,.composer{display:flex;gap:8px}.row button,.composer input{flex:1}
.error,.status,.conn{margin:0;padding:8px 14px;font-size:13px}
.error{background:#fef2f2;color:#991b1b}
.status{background:#eef2ff;color:#3730a3}
.conn{background:#fffbeb;color:#92400e}
.convo{flex:1;display:flex;flex-direction:column;min-height:0}
.call{display:flex;flex-wrap:wrap;align-items:center;gap:6px;padding:8px 14px;border-bottom:1px solid #e4e7ec}
.call span{flex:1}.call button{padding:4px 10px}
.dc{flex-basis:100%;font-size:12px}
.log{flex:1;overflow:auto;padding:10px 14px;display:flex;flex-direction:column;gap:6px}
.msg{max-width:80%;align-self:flex-start;background:#f2f4f7;border-radius:10px;padding:6px 10px;overflow-wrap:anywhere;white-space:pre-wrap}
.own{align-self:flex-end;background:#4f46e5;color:#fff}
.who{display:block;font-size:11px;font-weight:700;opacity:.75}
.sys,.typing{font-size:12px;color:#6b7280}
.sys{align-self:center;text-align:center}
.typing{margin:0;padding:0 14px;min-height:18px;font-style:italic}
.composer{padding:8px 14px}
.foot{text-align:center;padding:0 14px 10px}
.link{border:0;background:none;color:#4f46e5;padding:2px 4px}`;

type Kid = Node | string | Record<string, string>;

/** `h('button', 'primary#widget-send', {type: 'submit'}, 'Send')`: class before `#`, data-testid after; objects
 * among the children are attributes. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, spec = '', ...kids: Kid[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  const [cls, testid] = spec.split('#');
  if (cls) el.className = cls;
  if (testid) el.dataset.testid = testid;
  for (const k of kids) {
    if (typeof k === 'string' || k instanceof Node) el.append(k);
    else for (const [a, v] of Object.entries(k)) el.setAttribute(a, v);
  }
  return el;
}

/** This script's element: document.currentScript, else the last script whose src ends with widget.js. */
function ownScript(): HTMLScriptElement | null {
  const s = document.currentScript;
  if (s instanceof HTMLScriptElement && s.src) return s;
  const all = Array.from(document.querySelectorAll<HTMLScriptElement>('script[src]')).filter((e) => {
    try {
      return new URL(e.src, location.href).pathname.endsWith('widget.js');
    } catch {
      return false;
    }
  });
  return all[all.length - 1] ?? null;
}

const ENDED = 'The conversation has ended. Thank you for contacting us!';
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The widget's state while there is none (no `data-tenant`). */
const NONE: WidgetState = { sessionId: null, roomId: null, peerId: null, status: 'idle', connectionState: null };

/** The widget, or null (nothing shown, a console warning once per page) when the script tag has no `data-tenant`. */
function createWidget(): Widget | null {
  const script = ownScript();
  const tenant: string = script?.dataset.tenant?.trim() ?? '';
  if (!script || !tenant) {
    const flag = window as unknown as { __edgedeskWidgetWarned?: boolean };
    if (!flag.__edgedeskWidgetWarned) {
      flag.__edgedeskWidgetWarned = true;
      console.warn('Edgedesk widget: the <script> tag has no data-tenant attribute, so the widget is not shown.');
    }
    return null;
  }
  const origin = new URL(script.src, location.href).origin;

  let status: Status = 'idle';
  let started: Saved | null = null;
  let kind: Kind = 'chat';
  /** Reopened after a reload, until its socket first opens (a refused upgrade then means it is over). */
  let resumed = false;
  let refused = 0;
  let socket: RoomSocket | null = null;
  let call: CallPeer | null = null;
  let mic: MediaStream | null = null;
  let isCall = false;
  let muted = false;
  let ice: RTCIceServer[] = [];
  /** Failed connections in a row (re-offers back off: 1 s, 2 s, 4 s ... 15 s); reset once connected. */
  let failures = 0;
  const peers = new Map<string, RoomPeer>();
  /** Send-only audio connections to listening supervisors, by their peer id. */
  const listens = new Map<string, CallPeer>();
  /** Supervisors in the call the customer was told about. */
  const sups = new Set<string>();
  /** Chat messages shown, by id. */
  const shown = new Map<string, HTMLElement>();
  let typingTimer: number | undefined;
  let lastTyping = 0;

  // --- DOM (buttons outside the forms need no type)
  const hidden = { hidden: '' };
  const launcher = h('button', 'launcher#widget-launcher', { 'aria-expanded': 'false' }, 'Chat with us');
  const closeBtn = h('button', 'x#widget-close', { 'aria-label': 'Close' });
  const errorLine = h('p', 'error#widget-error', { role: 'alert' }, hidden);
  const nameIn = h('input', '#widget-name', { name: 'name', required: '', maxlength: '200', autocomplete: 'name' });
  const emailIn = h('input', '#widget-email', { name: 'email', type: 'email', maxlength: '320', autocomplete: 'email' });
  const chatBtn = h('button', 'primary#widget-start-chat', 'Start chat');
  const callBtn = h('button', '#widget-start-call', { type: 'button' }, 'Call us');
  const form = h('form', 'start#widget-form',
    h('label', '', 'Your name', nameIn), h('label', '', 'E-mail (optional)', emailIn), h('div', 'row', chatBtn, callBtn));
  const statusLine = h('p', 'status#widget-status', { role: 'status' });
  const connLine = h('p', 'conn#widget-connection', hidden);
  const callState = h('b', '#call-state', 'new');
  const muteBtn = h('button', '#widget-mute', { 'aria-pressed': 'false' }, 'Mute');
  const hangupBtn = h('button', '#widget-hangup', 'Hang up');
  const audio = h('audio', '#remote-audio', { autoplay: '' });
  const dcList = h('div', 'dc#dc-messages');
  const callBar = h('div', 'call#widget-call', hidden, h('span', '', 'Call: ', callState), muteBtn, hangupBtn, audio, dcList);
  const log = h('div', 'log#widget-messages', { role: 'log', 'aria-live': 'polite' });
  const typingLine = h('p', 'typing#widget-typing', { 'aria-live': 'polite' });
  const input = h('input', '#widget-input', { maxlength: '4000', placeholder: 'Type a message...', 'aria-label': 'Message', autocomplete: 'off' });
  const sendBtn = h('button', 'primary#widget-send', 'Send');
  const composer = h('form', 'composer', input, sendBtn);
  const endBtn = h('button', 'link#widget-end', 'End chat');
  const newBtn = h('button', 'link#widget-new', hidden, 'Start a new conversation');
  const convo = h('div', 'convo#widget-conversation', hidden,
    statusLine, connLine, callBar, log, typingLine, composer, h('div', 'foot', endBtn, newBtn));
  const panel = h('section', 'panel#widget-panel', { role: 'dialog', 'aria-label': 'Chat with us' }, hidden,
    h('header', '', h('strong', '', 'Chat with us'), closeBtn), errorLine, form, convo);

  const host = document.createElement('edgedesk-widget');
  host.setAttribute('data-testid', 'edgedesk-widget');
  const root = host.attachShadow({ mode: 'open' });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch {
    root.append(h('style', '', CSS));
  }
  root.append(launcher, panel);
  const mount = () => {
    if (!host.isConnected) document.body.append(host);
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  // --- helpers
  const fail = (text: string | null) => {
    errorLine.textContent = text ?? '';
    errorLine.hidden = !text;
  };
  const scroll = () => {
    log.scrollTop = log.scrollHeight;
  };
  const system = (text: string) => {
    log.append(h('div', 'sys#system-message', text));
    scroll();
  };
  const KEY = `edgedesk:${tenant}`;
  /** Keeps (or with null forgets) the conversation; storage may be unavailable (privacy settings): then no resume. */
  const save = (v: Saved | null) => {
    try {
      if (v) sessionStorage.setItem(KEY, JSON.stringify({ ...v, status: status === 'active' ? 'active' : 'queued' }));
      else sessionStorage.removeItem(KEY);
    } catch {
      // not kept
    }
  };
  const setInputEnabled = (on: boolean) => {
    input.disabled = sendBtn.disabled = !on;
  };
  const finished = () => status === 'ended' || status === 'abandoned';
  const myPeer = () => socket?.peerId ?? started?.peer_id ?? null;
  const queueText = (n: number) => `You are number ${n} in the queue`;

  async function post<T>(path: string, body: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(origin + path, { method: 'POST', headers, body: JSON.stringify(body), mode: 'cors', credentials: 'omit' });
    } catch {
      throw new Error('We cannot reach our support service right now. Please try again.');
    }
    const json = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    if (!res.ok) {
      let text = json?.error?.message ?? `Something went wrong (HTTP ${res.status}). Please try again.`;
      const retry = res.headers.get('retry-after');
      if (res.status === 429 && retry) text += ` Try again in ${retry} s.`;
      throw new Error(text);
    }
    return json as T;
  }

  function open(): void {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    (status === 'idle' ? nameIn : input).focus();
  }

  function close(): void {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
  }

  function showTyping(name: string): void {
    typingLine.textContent = `${name} is typing...`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (typingLine.textContent = ''), 3000);
  }

  function clearTyping(): void {
    clearTimeout(typingTimer);
    typingLine.textContent = '';
  }

  async function start(want: Kind): Promise<void> {
    if (status !== 'idle' || !form.reportValidity()) return;
    const name = nameIn.value.trim();
    if (!name) {
      fail('Please enter your name.');
      return;
    }
    fail(null);
    status = 'starting';
    chatBtn.disabled = callBtn.disabled = true;
    isCall = want === 'voice';
    const body: Record<string, string> = { tenant, customer_name: name };
    const email = emailIn.value.trim();
    if (email) body.customer_email = email;
    if (isCall) body.call_type = 'voice';
    let s: Started;
    try {
      if (isCall) mic = await microphone();
      s = await post<Started>(`/api/v1/support/${isCall ? 'call' : 'chat'}/start`, body);
    } catch (e) {
      release(mic);
      mic = null;
      status = 'idle';
      chatBtn.disabled = callBtn.disabled = false;
      fail(message(e));
      return;
    }
    ice = s.ice_servers ?? [];
    begin({ ...s, ice_servers: undefined, kind: want, at: Date.now() }, false);
    input.focus();
  }

  /** Shows the conversation and connects to its room: a new one, or one kept from before a reload (`again`). */
  function begin(s: Saved, again: boolean): void {
    started = s;
    kind = s.kind;
    isCall = kind === 'voice' && !again; // a call interrupted by a reload goes on as a chat
    resumed = again;
    refused = 0;
    status = s.status === 'active' ? 'active' : 'queued';
    save(s);
    peers.clear();
    listens.forEach((l) => l.close());
    listens.clear();
    sups.clear();
    shown.clear();
    muted = false;
    call = null;
    failures = 0;
    form.hidden = true;
    convo.hidden = false;
    newBtn.hidden = true;
    endBtn.hidden = false;
    endBtn.textContent = kind === 'voice' ? 'End call' : 'End chat';
    callBar.hidden = !isCall;
    callState.textContent = 'new';
    muteBtn.textContent = 'Mute';
    muteBtn.setAttribute('aria-pressed', 'false');
    muteBtn.disabled = hangupBtn.disabled = false;
    log.replaceChildren();
    dcList.replaceChildren();
    clearTyping();
    setInputEnabled(true);
    statusLine.textContent = s.note ?? (status === 'queued' && s.position ? queueText(s.position) : 'Connecting you to an agent...');
    if (isCall && !mic) system('Your microphone is not available: you can listen and write.');
    const url = s.ws_url;
    const sock: RoomSocket = new RoomSocket(
      (peer) => (peer ? `${url}${url.includes('?') ? '&' : '?'}peer_id=${encodeURIComponent(peer)}` : url),
      onFrame,
      (st) => {
        connLine.hidden = st === 'open' || st === 'connecting' || finished();
        connLine.textContent = st === 'closed' ? 'Disconnected.' : 'Reconnecting...';
      },
      (code) => {
        if (socket !== sock || finished()) return;
        if (code === 4004) finish('ended', ENDED);
        // The browser does not see why an upgrade failed (409: over, 401: token expired): a kept conversation
        // whose room refuses twice in a row is taken as over.
        else if (resumed && !sock.opened && ++refused > 1) drop();
      },
    );
    socket = sock;
    sock.start();
  }

  /** A kept conversation that cannot be resumed: forgotten, the start form again. */
  function drop(): void {
    socket?.stop();
    save(null);
    reset();
    fail('Your previous conversation has ended. You can start a new one here.');
  }

  /** The customer offers to the agent as soon as one is in the room (again after the agent reconnects anew). */
  function offerTo(agent: string): void {
    if (!isCall || finished() || !socket) return;
    const keep = ['new', 'connecting', 'connected'];
    if (call && call.remote === agent && keep.includes(call.pc.connectionState)) return;
    call?.close();
    const c = new CallPeer(agent, ice, {
      send: (f) => socket?.send(f) ?? false,
      state: (st) => {
        if (call !== c) return;
        callState.textContent = st;
        if (st === 'connected') failures = 0;
        if (st === 'failed') reoffer(c);
      },
      track: (stream) => {
        audio.srcObject = stream;
        audio.play().catch(() => undefined);
      },
      data: (text) => dcList.append(h('div', '#dc-message', text)),
    });
    call = c;
    c.setMuted(muted);
    callState.textContent = c.pc.connectionState;
    c.offer(mic).catch((e: unknown) => fail(`The call could not be set up: ${message(e)}`));
  }

  /** A failed connection is replaced: a new RTCPeerConnection and a new offer to the same agent, while it is still
   * the current call and the agent still in the room (after a short back-off, so a peer that keeps failing is not
   * offered to in a loop). */
  function reoffer(c: CallPeer): void {
    const delay = Math.min(15_000, 1000 * 2 ** failures);
    failures += 1;
    setTimeout(() => {
      if (call === c && peers.has(c.remote)) offerTo(c.remote);
    }, delay);
  }

  /**
   * A supervisor listens in: a second RTCPeerConnection that only sends the microphone to it (the customer offers,
   * the supervisor answers). `fresh` replaces a connection that exists (the supervisor joined anew: its side is
   * new); otherwise one that is still healthy is kept (this socket reconnected). A failed one is offered again after
   * a short pause while the supervisor is still in the room.
   */
  function listenTo(sup: string, fresh: boolean): void {
    if (!isCall || finished() || !socket) return;
    const old = listens.get(sup);
    if (old && !fresh && ['new', 'connecting', 'connected'].includes(old.pc.connectionState)) return;
    old?.close();
    const l = new CallPeer(sup, ice, {
      send: (f) => socket?.send(f) ?? false,
      state: (st) => {
        if (st === 'failed' && listens.get(sup) === l) {
          setTimeout(() => {
            if (listens.get(sup) === l && peers.get(sup)?.role === 'supervisor') listenTo(sup, true);
          }, 2000);
        }
      },
      track: () => undefined, // send-only: nothing comes back
      data: () => undefined,
    });
    listens.set(sup, l);
    l.setMuted(muted);
    l.offerSendOnly(mic).catch(() => dropListen(sup)); // the agent's call does not depend on it
  }

  function dropListen(sup: string): void {
    listens.get(sup)?.close();
    listens.delete(sup);
  }

  /** Closes the call with a peer that is gone; the next agent to join gets a fresh offer. */
  function dropCall(): void {
    call?.close();
    call = null;
    audio.srcObject = null;
  }

  function finish(to: 'ended' | 'abandoned', text: string): void {
    if (finished()) return;
    status = to;
    save(null);
    statusLine.textContent = text;
    system(text);
    setInputEnabled(false);
    clearTyping();
    connLine.hidden = true;
    socket?.stop();
    call?.close();
    listens.forEach((l) => l.close());
    listens.clear();
    release(mic);
    mic = null;
    audio.srcObject = null;
    muteBtn.disabled = hangupBtn.disabled = true;
    endBtn.hidden = true;
    newBtn.hidden = false;
  }

  function chatLine(f: ChatFrame): HTMLElement {
    const own = f.from === myPeer();
    const el = h('div', `msg${own ? ' own' : ''}#chat-message`, { 'data-own': String(own), 'data-role': f.role },
      h('span', 'who', own ? 'You' : f.name), h('span', '#chat-text', f.text));
    shown.set(f.id, el);
    return el;
  }

  /** The stored messages of a welcome: each one not shown yet goes in before the next one that is (or at the end),
   * so the list keeps their order and never shows a message twice. */
  function history(list: ChatFrame[]): void {
    let next: HTMLElement | null = null;
    for (let i = list.length - 1; i >= 0; i--) {
      next = shown.get(list[i].id) ?? log.insertBefore(chatLine(list[i]), next);
    }
    scroll();
  }

  /** In a call the customer is told when a supervisor comes to listen in, and when it goes (once each). */
  function supJoined(p: RoomPeer): void {
    if (kind !== 'voice' || p.role !== 'supervisor' || sups.has(p.peer_id)) return;
    sups.add(p.peer_id);
    system('A supervisor joined the call to help');
  }

  function supLeft(id: string): void {
    if (sups.delete(id)) system('The supervisor left');
  }

  function onFrame(f: RoomFrame): void {
    switch (f.type) {
      case 'welcome': {
        peers.clear();
        f.peers.forEach((p) => peers.set(p.peer_id, p));
        history(f.history ?? []);
        if (resumed && kind === 'voice') system('The call was interrupted');
        resumed = false;
        // Supervisors that left while this socket was away, and those present that the customer was not told of.
        for (const id of [...sups]) if (peers.get(id)?.role !== 'supervisor') supLeft(id);
        f.peers.forEach(supJoined);
        if (f.ice_servers?.length) ice = f.ice_servers;
        if (call && !peers.has(call.remote)) dropCall(); // it left while this socket was away
        for (const id of [...listens.keys()]) if (peers.get(id)?.role !== 'supervisor') dropListen(id);
        const agent = f.peers.find((p) => p.role === 'agent');
        if (agent) offerTo(agent.peer_id);
        f.peers.filter((p) => p.role === 'supervisor').forEach((p) => listenTo(p.peer_id, false));
        break;
      }
      case 'peer-joined':
        peers.set(f.peer_id, { peer_id: f.peer_id, role: f.role, name: f.name });
        supJoined(f);
        if (f.role === 'agent') offerTo(f.peer_id);
        if (f.role === 'supervisor') listenTo(f.peer_id, true);
        break;
      case 'peer-left':
        peers.delete(f.peer_id);
        supLeft(f.peer_id);
        if (call && f.peer_id === call.remote) dropCall();
        dropListen(f.peer_id);
        break;
      case 'queue':
        if (status !== 'active') {
          status = 'queued';
          statusLine.textContent = queueText(f.position);
        }
        break;
      case 'assigned':
      case 'transferred': {
        status = 'active';
        const text = f.type === 'assigned' ? `${f.agent_name} joined` : `You are now talking to ${f.agent_name}`;
        statusLine.textContent = text;
        // The room replays its last notice after every (re)connect: told once.
        if (started && started.note !== text) {
          system(text);
          started.note = text;
        }
        save(started);
        break;
      }
      case 'chat':
        if (shown.has(f.id)) break;
        if (f.from !== myPeer()) clearTyping();
        log.append(chatLine(f));
        scroll();
        break;
      case 'typing':
        if (f.from !== myPeer()) showTyping(peers.get(f.from)?.name ?? 'The agent');
        break;
      // Routed by sender: the agent's call, or a listening supervisor's connection.
      case 'answer':
        if (call && f.from === call.remote) call.answered(f.sdp).catch((e: unknown) => fail(message(e)));
        else listens.get(f.from)?.answered(f.sdp).catch(() => dropListen(f.from));
        break;
      case 'ice-candidate':
        if (call && f.from === call.remote) void call.candidate(f.candidate);
        else void listens.get(f.from)?.candidate(f.candidate);
        break;
      case 'ended':
        finish('ended', ENDED);
        break;
      case 'abandoned':
        finish('abandoned', f.message || 'No one was available in time. We will follow up by e-mail.');
        break;
      case 'error':
        fail(f.message || f.code);
        break;
      default:
        break;
    }
  }

  async function end(): Promise<void> {
    const s = started;
    const id = s?.session_id ?? s?.call_id;
    if (!s || !id || finished()) return;
    endBtn.disabled = hangupBtn.disabled = true;
    try {
      await post(`/api/v1/support/sessions/${encodeURIComponent(id)}/leave`, {}, s.token);
      finish('ended', isCall ? 'You hung up.' : 'You ended the conversation.');
    } catch (e) {
      fail(message(e));
    } finally {
      endBtn.disabled = false;
      hangupBtn.disabled = finished();
    }
  }

  function reset(): void {
    save(null);
    status = 'idle';
    started = null;
    socket = null;
    call = null;
    convo.hidden = true;
    form.hidden = false;
    chatBtn.disabled = callBtn.disabled = false;
    fail(null);
    nameIn.focus();
  }

  // --- events
  launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
  closeBtn.addEventListener('click', close);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void start('chat');
  });
  callBtn.addEventListener('click', () => void start('voice'));
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || !socket || finished()) return;
    if (socket.send({ type: 'chat', text })) {
      input.value = '';
      fail(null);
    } else {
      fail('Not connected right now: your message was not sent. Please try again in a moment.');
    }
  });
  input.addEventListener('input', () => {
    const now = Date.now();
    if (input.value && now - lastTyping > 2000 && socket?.send({ type: 'typing' })) lastTyping = now;
  });
  endBtn.addEventListener('click', () => void end());
  hangupBtn.addEventListener('click', () => void end());
  newBtn.addEventListener('click', reset);
  muteBtn.addEventListener('click', () => {
    muted = !muted;
    mic?.getAudioTracks().forEach((t) => (t.enabled = !muted));
    call?.setMuted(muted);
    listens.forEach((l) => l.setMuted(muted));
    muteBtn.textContent = muted ? 'Unmute' : 'Mute';
    muteBtn.setAttribute('aria-pressed', String(muted));
  });

  // A conversation kept from before a reload of the page: shown again (panel open) and reconnected.
  let kept: Saved | null = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Saved | null;
  } catch {
    // none
  }
  if (kept?.ws_url && Date.now() - kept.at < TOKEN_MS) {
    begin(kept, true);
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
  } else if (kept) save(null);

  return {
    open,
    state: () => ({
      sessionId: started?.session_id ?? started?.call_id ?? null,
      roomId: started?.room_id ?? null,
      peerId: myPeer(),
      status,
      connectionState: call ? call.pc.connectionState : null,
    }),
    sendData: (text) => call?.sendData(text) ?? false,
  };
}

// One widget per page, even if the script is included twice; the IIFE's exports become window.EdgedeskWidget.
// Without a data-tenant there is none (a later tag that has one may still create it).
const w = window as unknown as { __edgedeskWidget?: Widget };
const widget = w.__edgedeskWidget ?? createWidget();
if (widget) w.__edgedeskWidget = widget;

export const open = (): void => widget?.open();
export const state = (): WidgetState => widget?.state() ?? { ...NONE };
export const sendData = (text: string): boolean => widget?.sendData(text) ?? false;
