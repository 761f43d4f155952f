// Every send goes through the outbox: kept in localStorage with its idempotency key, sent at
// once when online, held while offline and sent when the connection is back — each exactly
// once, because a repeat with the same key is answered `replayed` by the server. A send that
// fails on the network or with a retryable answer (429, 5xx) is tried again by itself, after
// 1 s, 2 s, 4 s … up to 30 s: the browser's `online` event is a hint, not a promise that the
// first request after it goes through.

import { ApiError } from '../api/errors';

export type OutboxPayload =
  | { kind: 'message'; text: string; internal_note: boolean; template?: { name: string; language: string; components: unknown[] } }
  | { kind: 'template'; template_id: string; variables: Record<string, string>; preview: string };

export interface OutboxItem {
  key: string;
  conversationId: string;
  payload: OutboxPayload;
  createdAt: string;
  state: 'queued' | 'sending' | 'failed';
  error?: { status: number; code: string; message: string };
}

export type Sender = (item: OutboxItem) => Promise<void>;

/** Schedules a call after `ms`; returns what cancels it (setTimeout in the browser). */
export type Timer = (callback: () => void, ms: number) => () => void;

const browserTimer: Timer = (callback, ms) => {
  const id = setTimeout(callback, ms);
  return () => clearTimeout(id);
};

const FIRST_RETRY_MS = 1_000;
const LAST_RETRY_MS = 30_000;

interface KeyValue {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}

const STORAGE_KEY = 'inbox.outbox';

export function newIdempotencyKey(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return `web-${crypto.randomUUID()}`;
  return `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class Outbox {
  private items: OutboxItem[];
  private listeners = new Set<() => void>();
  private flushing: Promise<void> | null = null;
  private retryDelay = FIRST_RETRY_MS;
  private cancelRetry: (() => void) | null = null;
  /** Grows on every change (for React's external-store subscriptions). */
  version = 0;

  constructor(
    private readonly storage: KeyValue | null,
    private readonly sender: Sender,
    private readonly isOnline: () => boolean,
    private readonly timer: Timer = browserTimer,
  ) {
    let stored: OutboxItem[] = [];
    try {
      stored = JSON.parse(storage?.getItem(STORAGE_KEY) ?? '[]') as OutboxItem[];
    } catch {
      stored = [];
    }
    // A send cut by a reload is sent again with its key: the server stores it once.
    this.items = stored.map((i) => (i.state === 'sending' ? { ...i, state: 'queued' as const } : i));
  }

  list(conversationId?: string): OutboxItem[] {
    return conversationId ? this.items.filter((i) => i.conversationId === conversationId) : [...this.items];
  }

  /** Items waiting for the connection. */
  get queuedCount(): number {
    return this.items.filter((i) => i.state !== 'failed').length;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    this.version += 1;
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(this.items));
    } catch {
      // Storage full or off: the queue still works for this page.
    }
    for (const l of this.listeners) l();
  }

  private update(key: string, patch: Partial<OutboxItem>): void {
    this.items = this.items.map((i) => (i.key === key ? { ...i, ...patch } : i));
    this.changed();
  }

  add(conversationId: string, payload: OutboxPayload, key: string = newIdempotencyKey()): OutboxItem {
    const item: OutboxItem = { key, conversationId, payload, createdAt: new Date().toISOString(), state: 'queued' };
    this.items = [...this.items, item];
    this.changed();
    void this.flush();
    return item;
  }

  /** Sends a failed item again, with the same key. */
  retry(key: string): void {
    this.update(key, { state: 'queued', error: undefined });
    void this.flush();
  }

  discard(key: string): void {
    this.items = this.items.filter((i) => i.key !== key);
    this.changed();
  }

  /** Sends what is queued, oldest first; stops at the first retryable failure and tries again later. */
  flush(): Promise<void> {
    this.cancelRetry?.();
    this.cancelRetry = null;
    if (!this.isOnline()) return Promise.resolve();
    this.flushing ??= this.run().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async run(): Promise<void> {
    for (;;) {
      const next = this.items.find((i) => i.state === 'queued');
      if (!next || !this.isOnline()) return;
      this.update(next.key, { state: 'sending' });
      try {
        await this.sender(next);
        this.retryDelay = FIRST_RETRY_MS;
        this.items = this.items.filter((i) => i.key !== next.key);
        this.changed();
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(0, 'network', String(e));
        if (err.isRetryable) {
          this.update(next.key, { state: 'queued' });
          this.scheduleRetry();
          return;
        }
        this.update(next.key, { state: 'failed', error: { status: err.status, code: err.code, message: err.message } });
      }
    }
  }

  private scheduleRetry(): void {
    this.cancelRetry?.();
    const delay = this.retryDelay;
    this.retryDelay = Math.min(delay * 2, LAST_RETRY_MS);
    this.cancelRetry = this.timer(() => {
      this.cancelRetry = null;
      void this.flush();
    }, delay);
  }
}
