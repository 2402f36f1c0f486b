// Live updates over the WebSocket at /api/v1/live (same origin: the session cookie goes along). The server relays
// ticket changes, presence and live-support events (queue, assignment, …); the client says which ticket it is
// viewing. The socket reconnects with exponential backoff (1 s … 30 s) and re-announces the viewed ticket after
// every reconnect.
import { useEffect, useRef, useState } from 'preact/hooks';

export interface TicketChange {
  type: 'ticket';
  event: 'created' | 'updated' | 'message';
  /** Null for a batch change (an e-mail poll touching several tickets). */
  ticket_id: string | null;
  ticket_number: string | null;
}

export interface Presence {
  type: 'presence';
  ticket_id: string;
  viewers: { staff_id: string; name: string }[];
}

/** A live chat or call changed (docs/api.md, "Live chat and WebRTC voice"): reload the queue and sessions. */
export interface SupportEvent {
  type: 'support';
  event: 'queued' | 'assigned' | 'accepted' | 'transferred' | 'escalated' | 'ended' | 'abandoned';
  session_id: string;
  kind: 'chat' | 'voice';
  /** The staff member concerned (the assignee), when there is one. */
  staff_id?: string | null;
}

export type LiveMessage = TicketChange | Presence | SupportEvent;
export type LiveStatus = 'connecting' | 'open' | 'closed';

type Handler = (m: LiveMessage) => void;

class LiveConnection {
  private ws: WebSocket | null = null;
  private handlers = new Set<Handler>();
  private statusHandlers = new Set<(s: LiveStatus) => void>();
  private viewing: string | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private stopped = true;
  status: LiveStatus = 'closed';

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes the socket for good (logout). */
  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.viewing = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'logout');
    this.setStatus('closed');
  }

  private setStatus(s: LiveStatus): void {
    this.status = s;
    this.statusHandlers.forEach((h) => h(s));
  }

  private connect(): void {
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${scheme}://${window.location.host}/api/v1/live`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.setStatus('connecting');
    ws.addEventListener('open', () => {
      this.attempt = 0;
      this.setStatus('open');
      if (this.viewing) this.send({ type: 'viewing', ticket_id: this.viewing });
    });
    ws.addEventListener('message', (e) => {
      let msg: LiveMessage;
      try {
        msg = JSON.parse(String(e.data)) as LiveMessage;
      } catch {
        return;
      }
      if (msg && (msg.type === 'ticket' || msg.type === 'presence' || msg.type === 'support')) {
        this.handlers.forEach((h) => h(msg));
      }
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setStatus('closed');
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = Math.min(30_000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  private send(value: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(value));
  }

  /** Announces the ticket being viewed (`null`: none). Re-sent automatically after a reconnect. */
  setViewing(ticketId: string | null): void {
    if (this.viewing === ticketId) return;
    this.viewing = ticketId;
    this.send({ type: 'viewing', ticket_id: ticketId });
  }

  subscribe(h: Handler): () => void {
    this.handlers.add(h);
    return () => this.handlers.delete(h);
  }

  onStatus(h: (s: LiveStatus) => void): () => void {
    this.statusHandlers.add(h);
    return () => this.statusHandlers.delete(h);
  }
}

export const live = new LiveConnection();

/** Calls the latest `handler` for every live message while the component is mounted. */
export function useLive(handler: Handler): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => live.subscribe((m) => ref.current(m)), []);
}

export function useLiveStatus(): LiveStatus {
  const [s, setS] = useState(live.status);
  useEffect(() => live.onStatus(setS), []);
  return s;
}
