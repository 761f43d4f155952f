// WhatsApp's customer service window: free-form replies only within 24 hours of the
// customer's last message; outside it only an approved template (docs/whatsapp.md).

import type { Conversation } from '../api/types';

export const WINDOW_MS = 24 * 3_600_000;

export type WindowState =
  | { kind: 'none' }
  | { kind: 'open'; closesAt: number; remainingMs: number; closingSoon: boolean }
  | { kind: 'closed'; lastCustomerMessageAt: number | null };

export function customerServiceWindow(c: Pick<Conversation, 'channel' | 'last_customer_message_at'>, now: number): WindowState {
  if (c.channel !== 'whatsapp') return { kind: 'none' };
  const last = c.last_customer_message_at ? Date.parse(c.last_customer_message_at) : NaN;
  if (Number.isNaN(last)) return { kind: 'closed', lastCustomerMessageAt: null };
  const closesAt = last + WINDOW_MS;
  if (now >= closesAt) return { kind: 'closed', lastCustomerMessageAt: last };
  const remainingMs = closesAt - now;
  return { kind: 'open', closesAt, remainingMs, closingSoon: remainingMs < 2 * 3_600_000 };
}

export function formatRemaining(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h ? `${h} h ${m} min` : `${m} min`;
}
