// Live frames applied to the query cache: the lists, the open conversation and its messages,
// the agents, typing. Views are recounted by the server (throttled refetch).

import type { InfiniteData, QueryClient } from '@tanstack/react-query';
import type { ListParams } from './client';
import { keys } from './keys';
import type { Agent, Conversation, Delivery, Message, Page, StreamFrame } from './types';
import { compareFor, matchesList, type MatchContext } from '../state/match';

type Pages<T> = InfiniteData<Page<T>, string | null>;

/** A frame's conversation is newer than what the cache holds (frames may arrive out of order). */
function newer(incoming: Conversation, held: Conversation | undefined): boolean {
  return !held || incoming.version >= held.version;
}

/** Places `c` in one loaded list: replaced, moved, inserted or removed, by the list's filter and sort. */
export function placeInList(
  data: Pages<Conversation>,
  params: ListParams,
  c: Conversation,
  ctx: MatchContext,
): Pages<Conversation> | 'refetch' {
  const all = data.pages.flatMap((p) => p.items);
  const held = all.find((x) => x.id === c.id);
  if (held && !newer(c, held)) return data;
  const belongs = matchesList(c, params, ctx);
  if (belongs === undefined) return 'refetch';
  const without = all.filter((x) => x.id !== c.id);
  let items = without;
  if (belongs) {
    const cmp = compareFor(params.sort);
    const at = without.findIndex((x) => cmp(c, x) < 0);
    const more = data.pages[data.pages.length - 1]?.next_cursor != null;
    if (at === -1 && more) {
      // It sorts after everything loaded: the next page will bring it.
      items = without;
    } else {
      items = [...without];
      items.splice(at === -1 ? without.length : at, 0, c);
    }
  }
  if (!held && !belongs) return data;
  // Keep the pages and their cursors; the last page takes what was added or removed.
  const pages: Page<Conversation>[] = [];
  let offset = 0;
  data.pages.forEach((p, i) => {
    const last = i === data.pages.length - 1;
    const n = last ? items.length - offset : Math.min(p.items.length, items.length - offset);
    pages.push({ ...p, items: items.slice(offset, offset + n) });
    offset += n;
  });
  return { ...data, pages };
}

/**
 * A frame that arrives while a query's first answer is on its way would be lost (the answer was
 * read before the change): such queries are fetched again.
 */
const pendingRefetch = new Set<string>();

function refetchInFlight(qc: QueryClient, queryKey: readonly unknown[], exact = false): void {
  const cache = qc.getQueryCache();
  for (const q of cache.findAll({ queryKey, exact })) {
    if (q.state.data !== undefined || q.state.fetchStatus !== 'fetching' || pendingRefetch.has(q.queryHash)) continue;
    // The fetch on its way cannot be cancelled usefully before it has data: fetch again once it lands.
    pendingRefetch.add(q.queryHash);
    const unsubscribe = cache.subscribe((event) => {
      if (event.query.queryHash !== q.queryHash || event.query.state.fetchStatus !== 'idle') return;
      unsubscribe();
      pendingRefetch.delete(q.queryHash);
      void qc.refetchQueries({ queryKey: q.queryKey, exact: true }).catch(() => undefined);
    });
  }
}

export function upsertConversation(qc: QueryClient, c: Conversation, ctx: MatchContext): void {
  refetchInFlight(qc, keys.lists);
  refetchInFlight(qc, keys.conversation(c.id), true);
  const held = qc.getQueryData<Conversation>(keys.conversation(c.id));
  if (held && newer(c, held)) {
    // Keep what only the single-conversation answer has (the web chat visitor).
    qc.setQueryData(keys.conversation(c.id), { ...held, ...c, visitor: c.visitor ?? held.visitor });
  }
  for (const [key, data] of qc.getQueriesData<Pages<Conversation>>({ queryKey: keys.lists })) {
    if (!data) continue;
    const params = key[1] as ListParams;
    const next = placeInList(data, params, c, ctx);
    if (next === 'refetch') void qc.invalidateQueries({ queryKey: key, exact: true });
    else if (next !== data) qc.setQueryData(key, next);
  }
}

export function removeConversation(qc: QueryClient, id: string): void {
  for (const [key, data] of qc.getQueriesData<Pages<Conversation>>({ queryKey: keys.lists })) {
    if (!data || !data.pages.some((p) => p.items.some((x) => x.id === id))) continue;
    qc.setQueryData(key, {
      ...data,
      pages: data.pages.map((p) => ({ ...p, items: p.items.filter((x) => x.id !== id) })),
    });
  }
  qc.removeQueries({ queryKey: keys.conversation(id) });
}

/** Appends a message to the conversation's loaded history (once, whatever the frame count). */
export function appendMessage(qc: QueryClient, m: Message): void {
  refetchInFlight(qc, keys.messages(m.conversation_id), true);
  qc.setQueryData<Pages<Message>>(keys.messages(m.conversation_id), (data) => {
    if (!data) return data;
    const pages = data.pages.map((p) => ({ ...p, items: p.items.filter((x) => x.id !== m.id) }));
    const exists = data.pages.some((p) => p.items.some((x) => x.id === m.id));
    const last = pages[pages.length - 1];
    if (!last) return data;
    // A page not yet loaded after the last one will bring it in order.
    if (!exists && last.next_cursor) return data;
    const items = [...last.items, m].sort(
      (a, b) => Date.parse(a.sent_at ?? '') - Date.parse(b.sent_at ?? '') || (a.id < b.id ? -1 : 1),
    );
    if (exists) {
      return {
        ...data,
        pages: data.pages.map((p) => ({ ...p, items: p.items.map((x) => (x.id === m.id ? { ...x, ...m } : x)) })),
      };
    }
    pages[pages.length - 1] = { ...last, items };
    return { ...data, pages };
  });
}

export function applyDelivery(qc: QueryClient, d: Delivery): void {
  const order = ['queued', 'accepted', 'sent', 'delivered', 'read'];
  qc.setQueryData<Pages<Message>>(keys.messages(d.conversation_id), (data) => {
    if (!data) return data;
    return {
      ...data,
      pages: data.pages.map((p) => ({
        ...p,
        items: p.items.map((m) => {
          if (m.id !== d.message_id) return m;
          const held = m.delivery?.state;
          // Forward only, as the server moves them; `failed` ends it.
          if (held === 'failed' || (held && d.state !== 'failed' && order.indexOf(d.state) < order.indexOf(held))) return m;
          return { ...m, delivery: d };
        }),
      })),
    };
  });
}

export interface TypingState {
  [agentId: string]: number;
}

export const TYPING_TTL_MS = 6000;

export function applyTyping(qc: QueryClient, conversationId: string, agentId: string, typing: boolean, now: number): void {
  qc.setQueryData<TypingState>(keys.typing(conversationId), (held) => {
    const next: TypingState = {};
    for (const [k, until] of Object.entries(held ?? {})) if (until > now && k !== agentId) next[k] = until;
    if (typing) next[agentId] = now + TYPING_TTL_MS;
    return next;
  });
}

export function applyAvailability(qc: QueryClient, agentId: string, availability: Agent['availability']): void {
  qc.setQueryData<{ items: Agent[] }>(keys.agents, (data) =>
    data ? { items: data.items.map((a) => (a.id === agentId ? { ...a, availability } : a)) } : data,
  );
}

export interface FrameEffects {
  /** The counts changed: refetch the views (throttled by the caller). */
  views: boolean;
  /** Everything may be stale: refetch all. */
  resync: boolean;
}

/** Applies one frame of `/v1/stream` to the cache. */
export function applyFrame(qc: QueryClient, frame: StreamFrame, ctx: MatchContext): FrameEffects {
  const effects: FrameEffects = { views: false, resync: false };
  switch (frame.type) {
    case 'ready':
      break;
    case 'resync':
      effects.resync = true;
      break;
    case 'message.created':
      if (frame.message) appendMessage(qc, frame.message);
      if (frame.conversation) upsertConversation(qc, frame.conversation, ctx);
      effects.views = true;
      break;
    case 'conversation.deleted':
      removeConversation(qc, frame.conversation_id);
      effects.views = true;
      break;
    case 'routing.availability_changed':
      applyAvailability(qc, frame.agent_id, frame.availability);
      break;
    case 'message.delivery_updated':
      applyDelivery(qc, frame.delivery);
      break;
    case 'conversation.typing':
      applyTyping(qc, frame.conversation_id, frame.agent_id, frame.typing, ctx.now);
      break;
    case 'conversation.viewers':
      qc.setQueryData(keys.viewers(frame.conversation_id), frame.viewers.map((v) => v.agent_id));
      break;
    case 'call.disposition_changed':
      void qc.invalidateQueries({ queryKey: keys.calls(frame.call.conversation_id) });
      break;
    default:
      if ('conversation' in frame && frame.conversation) {
        upsertConversation(qc, frame.conversation, ctx);
        if (frame.type === 'conversation.summary_updated') {
          void qc.invalidateQueries({ queryKey: keys.summary(frame.conversation.id) });
        }
        if (frame.type === 'conversation.assigned' || frame.type === 'conversation.taken_over') {
          void qc.invalidateQueries({ queryKey: keys.agents });
        }
        if (frame.type === 'conversation.customer_updated' && frame.conversation.contact) {
          void qc.invalidateQueries({ queryKey: keys.customer(frame.conversation.contact.id) });
        }
        effects.views = true;
      }
  }
  return effects;
}
