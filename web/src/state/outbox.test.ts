import { describe, expect, it } from 'vitest';
import { ApiError } from '../api/errors';
import { Outbox, type OutboxItem } from './outbox';

function memory() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m };
}

const text = (t: string) => ({ kind: 'message' as const, text: t, internal_note: false });

describe('offline outbox', () => {
  it('holds sends while offline and sends each once, in order, when back', async () => {
    let online = false;
    const sent: string[] = [];
    const box = new Outbox(memory(), async (i) => void sent.push(i.key), () => online);
    box.add('c1', text('one'), 'k1');
    box.add('c1', text('two'), 'k2');
    await box.flush();
    expect(sent).toEqual([]);
    expect(box.queuedCount).toBe(2);
    online = true;
    await Promise.all([box.flush(), box.flush()]);
    expect(sent).toEqual(['k1', 'k2']);
    expect(box.queuedCount).toBe(0);
  });

  it('keeps an item queued with its key when the network fails mid-send, and sends it with the same key', async () => {
    let fail = true;
    const keys: string[] = [];
    const box = new Outbox(memory(), async (i) => {
      keys.push(i.key);
      if (fail) throw new ApiError(0, 'network', 'offline');
    }, () => true);
    box.add('c1', text('hi'), 'k1');
    await box.flush();
    expect(box.list()[0].state).toBe('queued');
    fail = false;
    await box.flush();
    expect(keys).toEqual(['k1', 'k1']);
    expect(box.list()).toEqual([]);
  });

  it('tries a failed send again by itself, backing off 1 s, 2 s, 4 s, and starts over after a success', async () => {
    let failures = 3;
    const keys: string[] = [];
    const timers: { ms: number; fire: () => void; cancelled: boolean }[] = [];
    const timer = (fire: () => void, ms: number) => {
      const t = { ms, fire, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    };
    const box = new Outbox(memory(), async (i) => {
      keys.push(i.key);
      if (failures-- > 0) throw new ApiError(503, 'unavailable', 'gateway restarting');
    }, () => true, timer);
    box.add('c1', text('hi'), 'k1');
    await box.flush();
    for (const expected of [1000, 2000, 4000]) {
      const pending = timers.filter((t) => !t.cancelled);
      expect(pending.map((t) => t.ms)).toEqual([expected]);
      pending[0].cancelled = true;
      pending[0].fire();
      await box.flush();
    }
    expect(keys).toEqual(['k1', 'k1', 'k1', 'k1']);
    expect(box.list()).toEqual([]);
    failures = 1;
    box.add('c1', text('again'), 'k2');
    await box.flush();
    expect(timers.filter((t) => !t.cancelled).map((t) => t.ms)).toEqual([1000]);
  });

  it('marks a refused send failed with the reason and lets the agent retry or discard it', async () => {
    let refuse = true;
    const box = new Outbox(memory(), async () => {
      if (refuse) throw new ApiError(409, 'conflict', 'the WhatsApp 24-hour customer service window is closed');
    }, () => true);
    box.add('c1', text('late'), 'k1');
    box.add('c1', text('after'), 'k2');
    await box.flush();
    const [first, second] = box.list();
    expect(first).toMatchObject({ state: 'failed', error: { status: 409, code: 'conflict' } });
    expect(second.state).toBe('failed');
    refuse = false;
    box.retry('k1');
    await box.flush();
    expect(box.list().map((i) => i.key)).toEqual(['k2']);
    box.discard('k2');
    expect(box.list()).toEqual([]);
  });

  it('survives a reload: a send cut in flight is queued again', () => {
    const storage = memory();
    const item: OutboxItem = { key: 'k1', conversationId: 'c1', payload: text('x'), createdAt: '', state: 'sending' };
    storage.setItem('inbox.outbox', JSON.stringify([item]));
    const box = new Outbox(storage, async () => {}, () => false);
    expect(box.list()[0].state).toBe('queued');
    expect(box.queuedCount).toBe(1);
  });
});
