// Unread: the customer wrote after the agent last opened the conversation in this browser.
// (The API keeps no read state per agent yet; this is the screen's own, per user.)

import { useSyncExternalStore } from 'react';
import type { Conversation } from '../api/types';

type Seen = Record<string, string>;
const listeners = new Set<() => void>();
let cache: { user: string; seen: Seen } | null = null;

function storageKey(user: string) {
  return `inbox.seen.${user}`;
}

function load(user: string): Seen {
  if (cache?.user === user) return cache.seen;
  let seen: Seen = {};
  try {
    seen = JSON.parse(localStorage.getItem(storageKey(user)) ?? '{}') as Seen;
  } catch {
    seen = {};
  }
  cache = { user, seen };
  return seen;
}

export function markSeen(user: string, c: Pick<Conversation, 'id' | 'last_message_at'>): void {
  const seen = load(user);
  if (!c.last_message_at || seen[c.id] === c.last_message_at) return;
  const next = { ...seen, [c.id]: c.last_message_at };
  const entries = Object.entries(next);
  // Bounded: the 2,000 most recently seen.
  const trimmed = entries.length > 2000 ? Object.fromEntries(entries.slice(-2000)) : next;
  cache = { user, seen: trimmed };
  try {
    localStorage.setItem(storageKey(user), JSON.stringify(trimmed));
  } catch {
    // Full storage: kept for this page only.
  }
  for (const l of listeners) l();
}

export function isUnread(c: Pick<Conversation, 'id' | 'last_message_at' | 'last_message_sender_kind' | 'status'>, seen: Seen): boolean {
  if (c.last_message_sender_kind !== 'customer' || !c.last_message_at) return false;
  const at = seen[c.id];
  if (!at) return c.status === 'active' || c.status === 'pending';
  return Date.parse(c.last_message_at) > Date.parse(at);
}

export function useSeen(user: string): Seen {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => load(user),
  );
}
