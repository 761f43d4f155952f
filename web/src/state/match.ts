// Whether a conversation belongs in a list, and where: the API's filter and sort rules
// (docs/conversations.md) applied in the browser, so a live frame can place a changed
// conversation in the lists already loaded without reloading them.

import type { ListParams } from '../api/client';
import type { Conversation } from '../api/types';

export interface MatchContext {
  me: string;
  now: number;
  /** Start of today in the tenant's zone (epoch ms). */
  startOfToday: number;
}

const OPEN = new Set(['active', 'pending']);

function ms(t: string | null | undefined): number {
  return t ? Date.parse(t) : 0;
}

function inView(c: Conversation, view: string, ctx: MatchContext): boolean {
  const open = OPEN.has(c.status);
  const mine = c.assignee_id === ctx.me;
  switch (view) {
    case 'all.active':
      return c.status === 'active';
    case 'all.pending':
      return c.status === 'pending';
    case 'all.resolved_today':
      return c.status === 'resolved' && ms(c.status_changed_at) >= ctx.startOfToday;
    case 'mine.needs_attention':
      return mine && c.status === 'active' && c.last_message_sender_kind === 'customer';
    case 'mine.waiting_for_customer':
      return mine && c.status === 'active' && c.last_message_sender_kind !== 'customer';
    case 'mine.ready_to_close':
      return mine && c.status === 'pending';
    case 'team.unassigned':
      return open && !c.assignee_id && !c.needs_human;
    case 'team.in_progress':
      return open && !!c.assignee_id && !c.needs_human;
    case 'team.needs_review':
      return open && c.needs_human;
    default:
      return true;
  }
}

function startOfWeek(ctx: MatchContext): number {
  const d = new Date(ctx.startOfToday);
  const day = (d.getUTCDay() + 6) % 7; // Monday = 0
  return ctx.startOfToday - day * 86_400_000;
}

function startOfMonth(ctx: MatchContext): number {
  const d = new Date(ctx.startOfToday);
  return ctx.startOfToday - (d.getUTCDate() - 1) * 86_400_000;
}

/** `undefined` when the browser cannot decide (the list is then refetched instead). */
export function matchesList(c: Conversation, p: ListParams, ctx: MatchContext): boolean | undefined {
  if (p.ids) return p.ids.split(',').includes(c.id);
  if (p.view && !inView(c, p.view, ctx)) return false;
  if (p.status && !p.status.split(',').includes(c.status)) return false;
  if (p.channel && !p.channel.split(',').map((x) => (x === 'web' ? 'webchat' : x)).includes(c.channel)) return false;
  if (p.priority && !p.priority.split(',').includes(c.priority)) return false;
  if (p.assigned === 'me' && c.assignee_id !== ctx.me) return false;
  if (p.assigned === 'others' && (!c.assignee_id || c.assignee_id === ctx.me)) return false;
  if (p.assigned === 'unassigned' && c.assignee_id) return false;
  if (p.team && c.team_id !== p.team) return false;
  if (p.needs_human !== undefined && c.needs_human !== p.needs_human) return false;
  if (p.time) {
    const t = ms(p.time_field === 'created' ? c.created_at : c.last_message_at);
    const from =
      p.time === 'last_hour'
        ? ctx.now - 3_600_000
        : p.time === 'today'
          ? ctx.startOfToday
          : p.time === 'week'
            ? startOfWeek(ctx)
            : p.time === 'month'
              ? startOfMonth(ctx)
              : p.from
                ? Date.parse(p.from)
                : -Infinity;
    const to = p.time === 'range' && p.to ? Date.parse(p.to) : Infinity;
    if (t < from || t >= to) return false;
  }
  return true;
}

const PRIORITY_RANK: Record<string, number> = { urgent: 0, high: 1, normal: 2, low: 3 };
const CHANNEL_RANK: Record<string, number> = { whatsapp: 0, telephony: 1, webchat: 2 };

function byRecent(a: Conversation, b: Conversation): number {
  return ms(b.last_message_at) - ms(a.last_message_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The order of `sort` (negative: `a` first). */
export function compareFor(sort: string | undefined): (a: Conversation, b: Conversation) => number {
  switch (sort) {
    case 'oldest':
      return (a, b) => -byRecent(a, b);
    case 'priority':
      return (a, b) => (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) || byRecent(a, b);
    case 'channel':
      return (a, b) => (CHANNEL_RANK[a.channel] ?? 9) - (CHANNEL_RANK[b.channel] ?? 9) || byRecent(a, b);
    case 'assignment':
      return (a, b) => (a.assignee_id ? 1 : 0) - (b.assignee_id ? 1 : 0) || byRecent(a, b);
    default:
      return byRecent;
  }
}

/** Midnight today in `timeZone`, as epoch ms. */
export function startOfTodayIn(timeZone: string, now: number = Date.now()): number {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hour12: false,
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(now));
    const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
    const sinceMidnight = ((get('hour') % 24) * 3600 + get('minute') * 60 + get('second')) * 1000;
    return now - sinceMidnight - (now % 1000);
  } catch {
    const d = new Date(now);
    d.setUTCHours(0, 0, 0, 0);
    return d.getTime();
  }
}
