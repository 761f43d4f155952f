// Every send goes through the outbox: kept in localStorage with its idempotency key, sent at
// once when online, held while offline and sent when the connection is back — each exactly
// once, because a repeat with the same key is answered `replayed` by the server.

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
  /** Grows on every change (for React's external-store subscriptions). */
  version = 0;

  constructor(
    private readonly storage: KeyValue | null,
    private readonly sender: Sender,
    private readonly isOnline: () => boolean,
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

  /** Sends what is queued, oldest first; stops at the first network failure (still offline). */
  flush(): Promise<void> {
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
        this.items = this.items.filter((i) => i.key !== next.key);
        this.changed();
      } catch (e) {
        const err = e instanceof ApiError ? e : new ApiError(0, 'network', String(e));
        if (err.isRetryable) {
          this.update(next.key, { state: 'queued' });
          return;
        }
        this.update(next.key, { state: 'failed', error: { status: err.status, code: err.code, message: err.message } });
      }
    }
  }
}
