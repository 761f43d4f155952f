import type { Conversation } from '../api/types';

/** List time: "12:04" today, "Mon" this week, "3 Dec" before. */
export function listTime(iso: string | null, now: number = Date.now()): string {
  if (!iso) return '';
  const t = new Date(iso);
  const d = new Date(now);
  if (t.toDateString() === d.toDateString()) return t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  if (now - t.getTime() < 6 * 86_400_000) return t.toLocaleDateString([], { weekday: 'short' });
  return t.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

export function messageTime(iso: string | null): string {
  if (!iso) return '';
  const t = new Date(iso);
  return t.toLocaleString([], { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
}

export function fullTime(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

export function duration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

/** Who the customer is, for people: the name, else the address (phone number). */
export function customerLabel(c: Pick<Conversation, 'contact' | 'customer_address' | 'channel'>): string {
  const name = c.contact?.display_name?.trim();
  if (name) return name;
  if (c.channel === 'webchat') return `Visitor ${c.customer_address.slice(-6)}`;
  return formatPhone(c.customer_address);
}

export function formatPhone(address: string): string {
  const digits = address.replace(/[^\d]/g, '');
  if (!digits || digits.length < 7 || /[a-z]/i.test(address)) return address;
  return `+${digits}`;
}

export type WaitLevel = 'none' | 'ok' | 'warn' | 'late';

/**
 * The waiting clock: how long the customer has waited for an answer (their word is the last of
 * an open conversation), amber from `warnAfter`, red from `lateAfter` (the response target).
 */
export function waiting(
  c: Pick<Conversation, 'status' | 'last_message_sender_kind' | 'last_customer_message_at'>,
  now: number,
  warnAfterMs = 15 * 60_000,
  lateAfterMs = 60 * 60_000,
): { level: WaitLevel; ms: number } {
  const open = c.status === 'active' || c.status === 'pending';
  if (!open || c.last_message_sender_kind !== 'customer' || !c.last_customer_message_at) return { level: 'none', ms: 0 };
  const ms = Math.max(0, now - Date.parse(c.last_customer_message_at));
  return { level: ms >= lateAfterMs ? 'late' : ms >= warnAfterMs ? 'warn' : 'ok', ms };
}

export function shortDuration(ms: number): string {
  const m = Math.floor(ms / 60_000);
  if (m < 1) return '<1m';
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export const STATUS_META = {
  active: { mark: '🟢', label: 'Active' },
  pending: { mark: '🟡', label: 'Pending' },
  resolved: { mark: '✅', label: 'Resolved' },
  archived: { mark: '📦', label: 'Archived' },
} as const;

export const PRIORITY_META = {
  urgent: { mark: '🔴', label: 'Urgent' },
  high: { mark: '🟡', label: 'High' },
  normal: { mark: '🟢', label: 'Normal' },
  low: { mark: '⚪', label: 'Low' },
} as const;

export const CHANNEL_LABEL = { whatsapp: 'WhatsApp', telephony: 'Phone', webchat: 'Web' } as const;
