import { InfiniteQueryObserver, QueryClient } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { conv, msg } from '../test/fixtures';
import { applyFrame } from './cache';
import { keys } from './keys';
import type { ListParams } from './client';
import type { Conversation, Message, Page } from './types';
import type { TypingState, TypingState as T2 } from './cache';

const ctx = { me: 'me', now: Date.parse('2026-12-06T12:00:00Z'), startOfToday: Date.parse('2026-12-06T00:00:00Z') };

function client() {
  return new QueryClient({ defaultOptions: { queries: { retry: false } } });
}

function seedList(qc: QueryClient, params: ListParams, pages: Conversation[][], more = false) {
  qc.setQueryData(keys.list(params), {
    pages: pages.map((items, i) => ({ items, next_cursor: i < pages.length - 1 || more ? `cur${i}` : null })),
    pageParams: pages.map((_, i) => (i === 0 ? null : `cur${i - 1}`)),
  });
}

function ids(qc: QueryClient, params: ListParams): string[] {
  const data = qc.getQueryData<{ pages: Page<Conversation>[] }>(keys.list(params));
  return data!.pages.flatMap((p) => p.items.map((c) => c.id));
}

describe('live frames update the cache', () => {
  it('message.created moves the conversation to the top of a recent list and appends the message once', () => {
    const qc = client();
    const a = conv({ last_message_at: '2026-12-06T11:00:00Z' });
    const b = conv({ last_message_at: '2026-12-06T10:00:00Z' });
    const recent: ListParams = { sort: 'recent' };
    seedList(qc, recent, [[a, b]]);
    const m1 = msg({ conversation_id: b.id, sent_at: '2026-12-06T09:00:00Z' });
    qc.setQueryData(keys.messages(b.id), { pages: [{ items: [m1], next_cursor: null }], pageParams: [null] });
    const m2 = msg({ conversation_id: b.id, sent_at: '2026-12-06T11:30:00Z' });
    const moved = { ...b, version: 2, last_message_at: '2026-12-06T11:30:00Z', last_message_preview: 'new' };
    const frame = { type: 'message.created' as const, message: m2, conversation: moved };
    expect(applyFrame(qc, frame, ctx).views).toBe(true);
    applyFrame(qc, frame, ctx);
    expect(ids(qc, recent)).toEqual([b.id, a.id]);
    const msgs = qc.getQueryData<{ pages: Page<Message>[] }>(keys.messages(b.id))!;
    expect(msgs.pages[0].items.map((m) => m.id)).toEqual([m1.id, m2.id]);
  });

  it('a new conversation enters only the lists whose filter it matches, in sort order', () => {
    const qc = client();
    const urgent = conv({ priority: 'urgent' });
    const low = conv({ priority: 'low' });
    const byPriority: ListParams = { sort: 'priority' };
    const telephony: ListParams = { channel: 'telephony', sort: 'recent' };
    seedList(qc, byPriority, [[urgent, low]]);
    seedList(qc, telephony, [[]]);
    const high = conv({ priority: 'high', last_message_at: '2026-12-06T08:00:00Z' });
    applyFrame(qc, { type: 'conversation.created', conversation: high }, ctx);
    expect(ids(qc, byPriority)).toEqual([urgent.id, high.id, low.id]);
    expect(ids(qc, telephony)).toEqual([]);
  });

  it('a conversation leaves a view it no longer matches, and an older frame does not undo a newer one', () => {
    const qc = client();
    const c = conv({ version: 3 });
    const unassigned: ListParams = { view: 'team.unassigned', sort: 'recent' };
    seedList(qc, unassigned, [[c]]);
    applyFrame(qc, { type: 'conversation.assigned', conversation: { ...c, version: 2, assignee_id: 'x' } }, ctx);
    expect(ids(qc, unassigned)).toEqual([c.id]);
    applyFrame(qc, { type: 'conversation.assigned', conversation: { ...c, version: 4, assignee_id: 'x' } }, ctx);
    expect(ids(qc, unassigned)).toEqual([]);
  });

  it('a conversation sorting after the loaded pages waits for the next page', () => {
    const qc = client();
    const a = conv({ last_message_at: '2026-12-06T11:00:00Z' });
    const recent: ListParams = { sort: 'recent' };
    seedList(qc, recent, [[a]], true);
    applyFrame(qc, { type: 'conversation.created', conversation: conv({ last_message_at: '2026-12-01T00:00:00Z' }) }, ctx);
    expect(ids(qc, recent)).toEqual([a.id]);
  });

  it('updates the open conversation, keeping the web chat visitor', () => {
    const qc = client();
    const c = conv({ channel: 'webchat' });
    const visitor = { id: 'v', name: 'Ana', email: '', browser: 'Chrome', user_agent: '', locale: 'en', first_seen_at: null, last_seen_at: null, current_page: null, pages: [] };
    qc.setQueryData(keys.conversation(c.id), { ...c, visitor });
    applyFrame(qc, { type: 'conversation.status_changed', conversation: { ...c, version: 2, status: 'resolved' } }, ctx);
    expect(qc.getQueryData<Conversation>(keys.conversation(c.id))).toMatchObject({ status: 'resolved', visitor: { name: 'Ana' } });
  });

  it('deletes, moves deliveries forward only, tracks typing and availability, and asks for a resync', () => {
    const qc = client();
    const c = conv();
    seedList(qc, { sort: 'recent' }, [[c]]);
    applyFrame(qc, { type: 'conversation.deleted', conversation_id: c.id }, ctx);
    expect(ids(qc, { sort: 'recent' })).toEqual([]);

    const m = msg({ conversation_id: 'c-x', sender_kind: 'agent' });
    qc.setQueryData(keys.messages('c-x'), { pages: [{ items: [m], next_cursor: null }], pageParams: [null] });
    const d = (state: 'read' | 'delivered') => ({ message_id: m.id, conversation_id: 'c-x', state, external_id: '', error: null, attempts: 1, updated_at: null });
    applyFrame(qc, { type: 'message.delivery_updated', delivery: d('read') }, ctx);
    applyFrame(qc, { type: 'message.delivery_updated', delivery: d('delivered') }, ctx);
    expect(qc.getQueryData<{ pages: Page<Message>[] }>(keys.messages('c-x'))!.pages[0].items[0].delivery?.state).toBe('read');

    applyFrame(qc, { type: 'conversation.typing', conversation_id: 'c-x', agent_id: 'a2', typing: true }, ctx);
    expect(Object.keys(qc.getQueryData<T2>(keys.typing('c-x'))!)).toEqual(['a2']);
    applyFrame(qc, { type: 'conversation.typing', conversation_id: 'c-x', agent_id: 'a2', typing: false }, ctx);
    expect(qc.getQueryData<TypingState>(keys.typing('c-x'))).toEqual({});

    qc.setQueryData(keys.agents, { items: [{ id: 'a2', name: 'Sarah', availability: 'offline' }] });
    applyFrame(qc, { type: 'routing.availability_changed', agent_id: 'a2', availability: 'online' }, ctx);
    expect(qc.getQueryData<{ items: { availability: string }[] }>(keys.agents)!.items[0].availability).toBe('online');

    applyFrame(qc, { type: 'conversation.viewers', conversation_id: 'c-x', viewers: [{ agent_id: 'a2' }] }, ctx);
    expect(qc.getQueryData(keys.viewers('c-x'))).toEqual(['a2']);

    expect(applyFrame(qc, { type: 'resync' }, ctx).resync).toBe(true);
  });
});

describe('a frame during the first load', () => {
  it('fetches the list again, so the change is not lost', async () => {
    const qc = client();
    let calls = 0;
    let release: () => void = () => {};
    const first = new Promise<void>((r) => (release = r));
    const params: ListParams = { sort: 'recent' };
    const observer = new InfiniteQueryObserver(qc, {
      queryKey: keys.list(params),
      queryFn: async () => {
        calls += 1;
        if (calls === 1) await first;
        return { items: [] as Conversation[], next_cursor: null };
      },
      initialPageParam: null as string | null,
      getNextPageParam: () => undefined,
    });
    const unsubscribe = observer.subscribe(() => {});
    await new Promise((r) => setTimeout(r, 0));
    applyFrame(qc, { type: 'conversation.created', conversation: conv() }, ctx);
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(2);
    unsubscribe();
  });
});
