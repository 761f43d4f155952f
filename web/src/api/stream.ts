// The live stream `GET /v1/stream?access_token=<ticket>`: frames in, presence out, reconnects
// with backoff, and a catch-up after each reconnect (the gateway access issue adds sequence
// numbers and replay from `?after=`; until then a reconnect refetches what is on screen).
// A browser cannot put a header on a WebSocket, and the gateway takes no token in a URL: each
// (re)connect asks for a fresh single-use ticket (`POST /v1/auth/ticket`, about 30 s) first.

import { Backoff } from './backoff';
import type { StreamFrame } from './types';

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StreamOptions {
  /** Where to connect (`null`: signed out); may first fetch a ticket. A failure counts as a refused socket. */
  url: (lastSeq: number | null) => string | null | Promise<string | null>;
  onFrame: (frame: StreamFrame) => void;
  onState: (state: StreamState) => void;
  /** After a reconnect (not the first open): what was missed must be fetched again. */
  onReconnected: () => void;
  /** The server refused the socket (likely an expired token): refresh before the next try. */
  onAuthProblem?: () => Promise<void>;
  backoff?: Backoff;
  now?: () => number;
  WebSocketImpl?: typeof WebSocket;
}

export class LiveStream {
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private everOpened = false;
  private lastSeq: number | null = null;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private presence: string | null = null;
  /** Waiting for the URL (a ticket): no second attempt meanwhile. */
  private connecting = false;
  private viewing: string | null = null;

  constructor(private readonly options: StreamOptions) {
    this.backoff = options.backoff ?? new Backoff();
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000);
    this.socket = null;
    this.options.onState('closed');
  }

  /** Tells the gateway the agent's availability (`online`, `away`), kept across reconnects. */
  setPresence(availability: 'online' | 'away' | 'offline'): void {
    this.presence = availability;
    this.send({ type: 'presence', availability });
  }

  /**
   * Tells the gateway which conversation the agent has open (`null`: none), for "who is
   * viewing"; kept across reconnects. A gateway without presence ignores the frame.
   */
  setViewing(conversationId: string | null): void {
    if (this.viewing === conversationId) return;
    this.viewing = conversationId;
    this.send({ type: 'viewing', conversation_id: conversationId });
  }

  /** Reconnect at once (the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.socket?.readyState === 1) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  private send(frame: unknown): void {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  private connect(): void {
    if (this.connecting) return;
    let target: string | null | Promise<string | null>;
    try {
      target = this.options.url(this.lastSeq);
    } catch {
      this.retryLater(false);
      return;
    }
    if (!(target instanceof Promise)) {
      this.open(target);
      return;
    }
    this.connecting = true;
    this.options.onState(this.everOpened ? 'reconnecting' : 'connecting');
    target.then(
      (url) => {
        this.connecting = false;
        if (!this.stopped) this.open(url);
      },
      () => {
        this.connecting = false;
        if (!this.stopped) this.retryLater(false);
      },
    );
  }

  /** Tries again after the backoff's delay; first refreshes the session if the last try never opened. */
  private retryLater(opened: boolean): void {
    const delay = this.backoff.next(this.now());
    const retry = async () => {
      if (!opened && this.options.onAuthProblem) await this.options.onAuthProblem();
      if (!this.stopped) this.connect();
    };
    this.timer = setTimeout(() => void retry(), delay);
  }

  private open(url: string | null): void {
    if (!url) {
      this.options.onState('closed');
      return;
    }
    this.options.onState(this.everOpened ? 'reconnecting' : 'connecting');
    const Impl = this.options.WebSocketImpl ?? WebSocket;
    const socket = new Impl(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.backoff.opened(this.now());
    };
    socket.onmessage = (event) => {
      let frame: StreamFrame;
      try {
        frame = JSON.parse(String(event.data)) as StreamFrame;
      } catch {
        return;
      }
      const seq = (frame as { seq?: number }).seq;
      if (typeof seq === 'number') {
        // A frame seen already (a replay overlapping what arrived before the drop) is skipped.
        if (this.lastSeq !== null && seq <= this.lastSeq) return;
        this.lastSeq = seq;
      }
      if (frame.type === 'ready') {
        const reconnected = this.everOpened;
        this.everOpened = true;
        this.options.onState('open');
        if (this.presence && this.presence !== 'online') this.send({ type: 'presence', availability: this.presence });
        if (this.viewing) this.send({ type: 'viewing', conversation_id: this.viewing });
        if (reconnected) this.options.onReconnected();
      }
      this.options.onFrame(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.options.onState(this.everOpened ? 'reconnecting' : 'connecting');
      this.retryLater(opened);
    };
    socket.onerror = () => {
      // onclose follows.
    };
  }
}

/** The stream's URL with a ticket from `POST /v1/auth/ticket` (never the access token itself). */
export function streamUrl(ticket: string, lastSeq: number | null, loc: Location = window.location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  const after = lastSeq === null ? '' : `&after=${lastSeq}`;
  return `${scheme}//${loc.host}/v1/stream?access_token=${encodeURIComponent(ticket)}${after}`;
}
