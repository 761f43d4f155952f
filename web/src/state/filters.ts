// What the list shows — view, quick and advanced filters, sort, the open conversation — kept in
// the URL so a reload or a shared link shows the same screen.

import type { ListParams } from '../api/client';
import { CHANNELS, PRIORITIES, STATUSES, type Channel, type Priority, type Status } from '../api/types';

export type Assigned = 'all' | 'me' | 'others' | 'unassigned';
export type TimeWindow = '' | 'last_hour' | 'today' | 'week' | 'month' | 'range';
export type Sort = 'recent' | 'oldest' | 'priority' | 'channel' | 'assignment';

export const SORTS: { value: Sort; label: string }[] = [
  { value: 'recent', label: 'Most recent first' },
  { value: 'oldest', label: 'Oldest first' },
  { value: 'priority', label: 'Priority level' },
  { value: 'channel', label: 'Channel type' },
  { value: 'assignment', label: 'Assignment status' },
];

/** Groups of the views rail and their API views (docs/conversations.md "Views and counts"). */
export const VIEW_GROUPS = [
  {
    id: 'all',
    label: 'All Conversations',
    parts: [
      { id: 'all.active', label: 'Active' },
      { id: 'all.pending', label: 'Pending' },
      { id: 'all.resolved_today', label: 'Resolved Today' },
    ],
  },
  {
    id: 'mine',
    label: 'My Conversations',
    parts: [
      { id: 'mine.needs_attention', label: 'Needs My Attention' },
      { id: 'mine.waiting_for_customer', label: 'Waiting for Customer' },
      { id: 'mine.ready_to_close', label: 'Ready to Close' },
    ],
  },
  {
    id: 'team',
    label: 'Team Inbox',
    parts: [
      { id: 'team.unassigned', label: 'Unassigned' },
      { id: 'team.in_progress', label: 'In Progress' },
      { id: 'team.needs_review', label: 'Needs Review' },
    ],
  },
] as const;

export const CHANNEL_VIEWS: { id: `channel.${Channel}`; channel: Channel; label: string }[] = [
  { id: 'channel.whatsapp', channel: 'whatsapp', label: 'WhatsApp' },
  { id: 'channel.telephony', channel: 'telephony', label: 'Telephony' },
  { id: 'channel.webchat', channel: 'webchat', label: 'Web' },
];

const API_VIEWS = new Set<string>(VIEW_GROUPS.flatMap((g) => g.parts.map((p) => p.id)));
const ALL_VIEWS = new Set<string>(['all', 'mine', 'team', ...API_VIEWS, ...CHANNEL_VIEWS.map((c) => c.id)]);

export interface Filters {
  view: string;
  status: Status[];
  channel: Channel[];
  priority: Priority[];
  assigned: Assigned;
  team: string;
  needsHuman: '' | 'true' | 'false';
  time: TimeWindow;
  timeField: 'activity' | 'created';
  from: string;
  to: string;
  sort: Sort;
}

export interface InboxUrlState extends Filters {
  /** The open conversation. */
  conversation: string | null;
  /** Phone layout: which panel is shown. */
  panel: 'list' | 'conversation' | 'customer';
}

export const DEFAULT_FILTERS: Filters = {
  view: 'all',
  status: [],
  channel: [],
  priority: [],
  assigned: 'all',
  team: '',
  needsHuman: '',
  time: '',
  timeField: 'activity',
  from: '',
  to: '',
  sort: 'recent',
};

function listOf<T extends string>(value: string | null, allowed: readonly T[]): T[] {
  if (!value) return [];
  const seen = new Set<T>();
  for (const v of value.split(',')) {
    const t = v.trim() as T;
    if (allowed.includes(t)) seen.add(t);
  }
  return allowed.filter((a) => seen.has(a));
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[], fallback: T): T {
  return value !== null && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

/** Reads the state from a query string; anything unknown falls back to the default. */
export function parseUrlState(search: string): InboxUrlState {
  const q = new URLSearchParams(search);
  const view = q.get('view');
  return {
    view: view && ALL_VIEWS.has(view) ? view : DEFAULT_FILTERS.view,
    status: listOf(q.get('status'), STATUSES),
    channel: listOf(q.get('channel'), CHANNELS),
    priority: listOf(q.get('priority'), PRIORITIES),
    assigned: oneOf(q.get('assigned'), ['all', 'me', 'others', 'unassigned'] as const, 'all'),
    team: q.get('team') ?? '',
    needsHuman: oneOf(q.get('needs_human'), ['', 'true', 'false'] as const, ''),
    time: oneOf(q.get('time'), ['', 'last_hour', 'today', 'week', 'month', 'range'] as const, ''),
    timeField: oneOf(q.get('time_field'), ['activity', 'created'] as const, 'activity'),
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    sort: oneOf(q.get('sort'), SORTS.map((s) => s.value), 'recent'),
    conversation: q.get('conversation') || null,
    // A shared link to a conversation opens it, on a phone too.
    panel: oneOf(q.get('panel'), ['list', 'conversation', 'customer'] as const, q.get('conversation') ? 'conversation' : 'list'),
  };
}

/** The query string of a state: only what differs from the default, in a stable order. */
export function formatUrlState(state: InboxUrlState): string {
  const q = new URLSearchParams();
  if (state.view !== DEFAULT_FILTERS.view) q.set('view', state.view);
  if (state.status.length) q.set('status', state.status.join(','));
  if (state.channel.length) q.set('channel', state.channel.join(','));
  if (state.priority.length) q.set('priority', state.priority.join(','));
  if (state.assigned !== 'all') q.set('assigned', state.assigned);
  if (state.team) q.set('team', state.team);
  if (state.needsHuman) q.set('needs_human', state.needsHuman);
  if (state.time) q.set('time', state.time);
  if (state.time && state.timeField !== 'activity') q.set('time_field', state.timeField);
  if (state.time === 'range' && state.from) q.set('from', state.from);
  if (state.time === 'range' && state.to) q.set('to', state.to);
  if (state.sort !== 'recent') q.set('sort', state.sort);
  if (state.conversation) q.set('conversation', state.conversation);
  if (state.panel !== (state.conversation ? 'conversation' : 'list')) q.set('panel', state.panel);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** How many filters are set beyond the view and the sort (for "clear filters"). */
export function activeFilterCount(f: Filters): number {
  return (
    (f.status.length ? 1 : 0) +
    (f.channel.length ? 1 : 0) +
    (f.priority.length ? 1 : 0) +
    (f.assigned !== 'all' ? 1 : 0) +
    (f.team ? 1 : 0) +
    (f.needsHuman ? 1 : 0) +
    (f.time ? 1 : 0)
  );
}

export function clearFilters<T extends Filters>(f: T): T {
  return { ...f, ...DEFAULT_FILTERS, view: f.view, sort: f.sort };
}

function intersect<T>(a: T[], b: T[]): T[] {
  return a.filter((x) => b.includes(x));
}

/**
 * The API's list parameters for a state. A group ("My Conversations") and a channel view list
 * what their counts count (open conversations, assigned to me / on that channel); "All
 * Conversations" lists everything; sub-views are the API's own views. Filters combine with them.
 */
export function toListParams(f: Filters): ListParams {
  const p: ListParams = {};
  let status: Status[] = f.status;
  let channel: Channel[] = f.channel;
  let assigned: Assigned = f.assigned;
  const open: Status[] = ['active', 'pending'];
  if (API_VIEWS.has(f.view)) {
    p.view = f.view;
  } else if (f.view === 'mine') {
    status = status.length ? intersect(status, open) : open;
    if (assigned === 'all' || assigned === 'me') assigned = 'me';
  } else if (f.view === 'team') {
    status = status.length ? intersect(status, open) : open;
  } else if (f.view.startsWith('channel.')) {
    const c = f.view.slice('channel.'.length) as Channel;
    channel = channel.length ? intersect(channel, [c]) : [c];
    status = status.length ? intersect(status, open) : open;
  }
  // A filter outside the group's own range (My Conversations, resolved) is what the agent asked for.
  if (f.status.length && !status.length) status = f.status;
  if (f.channel.length && !channel.length) channel = f.channel;
  if (status.length) p.status = status.join(',');
  if (channel.length) p.channel = channel.join(',');
  if (f.priority.length) p.priority = f.priority.join(',');
  if (assigned !== 'all') p.assigned = assigned;
  if (f.team) p.team = f.team;
  if (f.needsHuman) p.needs_human = f.needsHuman === 'true';
  if (f.time) {
    p.time = f.time;
    if (f.timeField !== 'activity') p.time_field = f.timeField;
    if (f.time === 'range') {
      if (f.from) p.from = new Date(f.from).toISOString();
      if (f.to) p.to = new Date(f.to).toISOString();
    }
  }
  p.sort = f.sort;
  return p;
}

/** The bulk/export filter: the list's parameters without the sort. */
export function toBulkFilter(f: Filters): Omit<ListParams, 'sort'> {
  const { sort: _sort, ...rest } = toListParams(f);
  return rest;
}

export function viewLabel(view: string): string {
  for (const g of VIEW_GROUPS) {
    if (g.id === view) return g.label;
    for (const p of g.parts) if (p.id === view) return `${g.label} › ${p.label}`;
  }
  const c = CHANNEL_VIEWS.find((c) => c.id === view);
  return c ? `${c.label} Inbox` : 'Conversations';
}
