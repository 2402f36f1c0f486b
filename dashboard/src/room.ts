// The room WebSocket protocol of live chat and WebRTC voice (src/domain/rooms.rs), shared by the staff console
// (components/Support.tsx) and the customer widget (widget/widget.ts): the frame types, a room socket that keeps
// itself alive (ping every 25 s) and reconnects with backoff (1 s, 2 s, 4 s … 15 s) to the same peer id, and one
// WebRTC voice connection. The customer offers (audio + the `edgedesk` data channel), the agent answers.
// Listen-in: a supervisor in a call room never offers; each talking peer (customer, agent) offers it a second,
// send-only audio connection of the same microphone track (`offerSendOnly`), which the supervisor answers receive-only.
// Plain DOM TypeScript, no Preact: the widget bundle stays small.

export type PeerRole = 'customer' | 'agent' | 'supervisor';

export interface RoomPeer {
  peer_id: string;
  role: PeerRole;
  name: string;
}

export interface ChatFrame {
  type: 'chat';
  id: string;
  from: string;
  role: PeerRole;
  name: string;
  text: string;
  ts: string;
}

/** What the server sends into a room. */
export type RoomFrame =
  | {
    type: 'welcome'; peer_id: string; role: PeerRole; name?: string; kind?: 'chat' | 'voice'; session_id?: string;
    peers: RoomPeer[]; ice_servers?: RTCIceServer[];
    /** The conversation's stored (masked) chat messages, oldest first, at most 100: shown again after a reconnect or
     * a reload, merged by id. */
    history?: ChatFrame[];
  }
  | ({ type: 'peer-joined' } & RoomPeer)
  | { type: 'peer-left'; peer_id: string }
  | { type: 'offer' | 'answer'; from: string; sdp: string }
  | { type: 'ice-candidate'; from: string; candidate: RTCIceCandidateInit }
  | ChatFrame
  | { type: 'typing'; from: string }
  | { type: 'pong' }
  | { type: 'error'; code: string; message?: string }
  | { type: 'queue'; position: number }
  | { type: 'assigned' | 'transferred'; agent_name: string }
  | { type: 'ended'; reason?: string | null }
  | { type: 'abandoned'; message?: string };

export type SocketStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Close codes after which reconnecting is pointless: replaced by a newer connection, logged out, room full, the
 * conversation is over. */
const FINAL_CLOSE_CODES = [4000, 4001, 4003, 4004];
const MAX_ATTEMPTS = 60;

/**
 * A room WebSocket. `url(peerId)` gives the address to (re)connect to: `peerId` is null on the first connection and
 * the id the welcome frame gave once there was one (a reconnect takes that place back). Stops reconnecting after
 * `ended`, `abandoned` or `room-full`, after a final close code, or after `stop()`. `onClose` hears every close of
 * the current connection (its code; 1006 also when the upgrade was refused: a browser does not see the HTTP status)
 * before the socket decides whether to reconnect; `opened` tells whether any connection was ever open.
 */
export class RoomSocket {
  peerId: string | null = null;
  status: SocketStatus = 'closed';
  opened = false;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private ping: number | undefined;
  private done = false;

  constructor(
    private url: (peerId: string | null) => string,
    private onFrame: (f: RoomFrame) => void,
    private onStatus: (s: SocketStatus) => void = () => undefined,
    private onClose: (code: number) => void = () => undefined,
  ) {}

  start(): void {
    this.done = false;
    this.attempt = 0;
    this.connect();
  }

  /** Closes for good. */
  stop(): void {
    this.done = true;
    window.clearTimeout(this.timer);
    window.clearInterval(this.ping);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'bye');
    this.setStatus('closed');
  }

  /** Sends a frame; false when the socket is not open (the caller keeps what it wanted to send). */
  send(frame: object): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private setStatus(s: SocketStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.onStatus(s);
  }

  private connect(): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url(this.peerId));
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.setStatus(this.attempt ? 'reconnecting' : 'connecting');
    ws.onopen = () => {
      this.attempt = 0;
      this.opened = true;
      this.setStatus('open');
      window.clearInterval(this.ping);
      this.ping = window.setInterval(() => this.send({ type: 'ping' }), 25_000);
    };
    ws.onmessage = (e) => {
      let f: RoomFrame;
      try {
        f = JSON.parse(String(e.data)) as RoomFrame;
      } catch {
        return;
      }
      if (!f || typeof f.type !== 'string' || this.ws !== ws) return;
      if (f.type === 'welcome') this.peerId = f.peer_id;
      if (f.type === 'ended' || f.type === 'abandoned' || (f.type === 'error' && f.code === 'room-full')) this.done = true;
      this.onFrame(f);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      window.clearInterval(this.ping);
      this.onClose(e.code);
      if (this.done || FINAL_CLOSE_CODES.includes(e.code)) {
        this.done = true;
        this.setStatus('closed');
      } else {
        this.retry();
      }
    };
  }

  private retry(): void {
    if (this.done || this.attempt >= MAX_ATTEMPTS) {
      this.setStatus('closed');
      return;
    }
    const delay = Math.min(15_000, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    this.setStatus('reconnecting');
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }
}

export interface CallEvents {
  /** Sends a signaling frame through the room. */
  send: (frame: object) => boolean;
  /** `pc.connectionState` after every change ('closed' after `close()`). */
  state: (s: RTCPeerConnectionState) => void;
  /** The remote audio. */
  track: (stream: MediaStream) => void;
  /** A text message on the `edgedesk` data channel. */
  data: (text: string) => void;
}

/** The microphone, or null when there is none or it was refused (the call then only listens). */
export async function microphone(): Promise<MediaStream | null> {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch {
    return null;
  }
}

/** Stops every track of a stream (releases the microphone). */
export function release(stream: MediaStream | null | undefined): void {
  stream?.getTracks().forEach((t) => t.stop());
}

/**
 * One WebRTC voice connection with the peer `remote`. ICE candidates that arrive before the remote description are
 * kept until it is set. Mute switches the microphone track off without renegotiating.
 */
export class CallPeer {
  readonly pc: RTCPeerConnection;
  private dc: RTCDataChannel | null = null;
  private pending: RTCIceCandidateInit[] = [];
  private mic: MediaStream | null = null;
  private muted = false;

  constructor(readonly remote: string, iceServers: RTCIceServer[], private ev: CallEvents) {
    let pc: RTCPeerConnection;
    try {
      pc = new RTCPeerConnection({ iceServers });
    } catch {
      pc = new RTCPeerConnection(); // a malformed ICE server entry: host candidates still work on one network
    }
    this.pc = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate) ev.send({ type: 'ice-candidate', to: remote, candidate: e.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => ev.state(pc.connectionState);
    pc.ontrack = (e) => ev.track(e.streams[0] ?? new MediaStream([e.track]));
    pc.ondatachannel = (e) => this.channel(e.channel);
  }

  private channel(dc: RTCDataChannel): void {
    this.dc = dc;
    dc.onmessage = (e) => this.ev.data(String(e.data));
  }

  private addMic(mic: MediaStream | null): boolean {
    this.mic = mic;
    const track = mic?.getAudioTracks()[0];
    if (!mic || !track) return false;
    track.enabled = !this.muted;
    this.pc.addTrack(track, mic);
    return true;
  }

  /** The customer: sends audio (or only receives without a microphone), opens the data channel, offers. */
  async offer(mic: MediaStream | null): Promise<void> {
    if (!this.addMic(mic)) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    this.channel(this.pc.createDataChannel('edgedesk'));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.ev.send({ type: 'offer', to: this.remote, sdp: this.pc.localDescription?.sdp ?? '' });
  }

  /**
   * A talking peer to a listening supervisor: the microphone's track on a `sendonly` transceiver (no data channel),
   * offers. Without a microphone the transceiver sends nothing, but the supervisor still gets a connection.
   */
  async offerSendOnly(mic: MediaStream | null): Promise<void> {
    this.mic = mic;
    const track = mic?.getAudioTracks()[0];
    if (mic && track) {
      track.enabled = !this.muted;
      this.pc.addTransceiver(track, { direction: 'sendonly', streams: [mic] });
    } else {
      this.pc.addTransceiver('audio', { direction: 'sendonly' });
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.ev.send({ type: 'offer', to: this.remote, sdp: this.pc.localDescription?.sdp ?? '' });
  }

  /** The agent: takes the offer, adds the microphone once it is there, answers. */
  async answer(sdp: string, mic: Promise<MediaStream | null> | MediaStream | null): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.flush();
    const stream = await mic;
    if (this.pc.signalingState === 'closed') return;
    this.addMic(stream);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this.ev.send({ type: 'answer', to: this.remote, sdp: this.pc.localDescription?.sdp ?? '' });
  }

  /** The offerer gets the answer (the customer from the agent; a talking peer from a listening supervisor). */
  async answered(sdp: string): Promise<void> {
    if (this.pc.signalingState !== 'have-local-offer') return;
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
    await this.flush();
  }

  async candidate(c: RTCIceCandidateInit): Promise<void> {
    if (!this.pc.remoteDescription) {
      this.pending.push(c);
      return;
    }
    try {
      await this.pc.addIceCandidate(c);
    } catch {
      // A candidate of an earlier negotiation, or malformed: the others still work.
    }
  }

  private async flush(): Promise<void> {
    const waiting = this.pending;
    this.pending = [];
    for (const c of waiting) await this.candidate(c);
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    this.mic?.getAudioTracks().forEach((t) => (t.enabled = !muted));
  }

  /** Sends text on the data channel; false when it is not open. */
  sendData(text: string): boolean {
    if (this.dc?.readyState !== 'open') return false;
    this.dc.send(text);
    return true;
  }

  /** Closes the connection (the microphone stays: its owner releases it). */
  close(): void {
    if (this.pc.signalingState === 'closed') return;
    this.dc?.close();
    this.pc.close();
    this.ev.state('closed');
  }
}
