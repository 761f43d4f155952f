import { describe, expect, it, vi } from 'vitest';
import { Backoff } from './backoff';
import { LiveStream, streamUrl, type StreamState } from './stream';
import type { StreamFrame } from './types';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
}

describe('live stream client', () => {
  it('reconnects with backoff, catches up after a reconnect, skips replayed frames and keeps presence', async () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    let now = 0;
    const frames: StreamFrame[] = [];
    const states: StreamState[] = [];
    let reconnects = 0;
    const stream = new LiveStream({
      url: (seq) => `ws://x/v1/stream?access_token=t${seq === null ? '' : `&after=${seq}`}`,
      onFrame: (f) => frames.push(f),
      onState: (s) => states.push(s),
      onReconnected: () => reconnects++,
      backoff: new Backoff(1000, 8000, 5000, () => 1),
      now: () => now,
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    });
    stream.start();
    const first = FakeSocket.all[0];
    first.open();
    first.frame({ type: 'ready' });
    stream.setPresence('away');
    stream.setViewing('c1');
    expect(first.sent).toEqual([JSON.stringify({ type: 'presence', availability: 'away' }), JSON.stringify({ type: 'viewing', conversation_id: 'c1' })]);
    first.frame({ type: 'message.created', seq: 7, message: null, conversation: null });
    first.close();
    expect(states.at(-1)).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const second = FakeSocket.all[1];
    expect(second.url).toContain('after=7');
    second.open();
    second.frame({ type: 'ready' });
    expect(reconnects).toBe(1);
    expect(second.sent).toEqual([JSON.stringify({ type: 'presence', availability: 'away' }), JSON.stringify({ type: 'viewing', conversation_id: 'c1' })]);
    second.frame({ type: 'message.created', seq: 7, message: null, conversation: null });
    second.frame({ type: 'message.created', seq: 8, message: null, conversation: null });
    expect(frames.filter((f) => f.type === 'message.created').length).toBe(2);
    // Dropped at once: the delay keeps growing.
    second.close();
    await vi.advanceTimersByTimeAsync(1999);
    expect(FakeSocket.all.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all.length).toBe(3);
    // Stayed open long enough: back to the first delay.
    FakeSocket.all[2].open();
    now = 10_000;
    FakeSocket.all[2].close();
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all.length).toBe(4);
    stream.stop();
    expect(states.at(-1)).toBe('closed');
    vi.useRealTimers();
  });

  it('asks for a fresh ticket before every connect and retries after the session is refreshed when none is given', async () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const tickets = ['tk_1', 'refused', 'tk_2'];
    let refreshed = 0;
    const stream = new LiveStream({
      url: async (seq) => {
        const ticket = tickets.shift();
        if (ticket === 'refused') throw new Error('401');
        return streamUrl(ticket!, seq, { protocol: 'https:', host: 'inbox.test' } as Location);
      },
      onFrame: () => {},
      onState: () => {},
      onReconnected: () => {},
      onAuthProblem: async () => {
        refreshed++;
      },
      backoff: new Backoff(1000, 8000, 5000, () => 1),
      now: () => 0,
      WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    });
    stream.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all.map((s) => s.url)).toEqual(['wss://inbox.test/v1/stream?access_token=tk_1']);
    FakeSocket.all[0].open();
    FakeSocket.all[0].frame({ type: 'seq-less' });
    FakeSocket.all[0].frame({ type: 'x', seq: 3 });
    FakeSocket.all[0].close();
    // The next ticket is refused: no socket, the session is refreshed, and the try after gets one.
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all.length).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(refreshed).toBe(1);
    expect(FakeSocket.all.map((s) => s.url)).toEqual([
      'wss://inbox.test/v1/stream?access_token=tk_1',
      'wss://inbox.test/v1/stream?access_token=tk_2&after=3',
    ]);
    stream.stop();
    vi.useRealTimers();
  });
});
