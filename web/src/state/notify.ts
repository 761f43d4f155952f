// Notifications as the notification service decides them (docs/notifications.md): each live
// `notification` frame says at what level it was delivered and whether to play a sound
// (`sound`) and show a browser notification (`browser`), after the agent's preferences,
// do-not-disturb and quiet hours. What is left to the browser is only what the server cannot
// know: whether the agent is already looking at that conversation, whether the tab is hidden,
// whether the browser allows notifications. Pure functions here; the effects live in Inbox.

import type { AppNotification, NotificationLevel, NotificationPage, NotificationPreferences, NotificationType, PreferencesChange } from '../api/notifications';

/** The rows of Settings › Notifications › Inbox, in the guide's order, with the service's defaults. */
export const NOTIFY_TYPES: { type: NotificationType; label: string; default: NotificationLevel }[] = [
  { type: 'new_conversation', label: 'New conversations', default: 'sound_visual' },
  { type: 'assigned', label: 'Assigned to me', default: 'all' },
  { type: 'customer_replied', label: 'Customer reply', default: 'visual' },
  { type: 'urgent', label: 'Urgent conversation', default: 'sound_visual' },
  { type: 'sla_warning', label: 'SLA warning', default: 'all' },
  { type: 'sla_breached', label: 'SLA breached', default: 'all' },
  { type: 'status_changed', label: 'Status changes', default: 'none' },
  { type: 'webhook_disabled', label: 'Webhook disabled (admins)', default: 'visual' },
];

export const NOTIFY_LEVELS: { value: NotificationLevel; label: string }[] = [
  { value: 'all', label: 'All alerts' },
  { value: 'sound_visual', label: 'Sound + Visual' },
  { value: 'visual', label: 'Visual only' },
  { value: 'none', label: 'None' },
];

export interface Cue {
  /** Show it in the screen's toasts. */
  toast: boolean;
  /** Play the chime. */
  sound: boolean;
  /** Show a browser (system) notification. */
  browser: boolean;
}

export interface CueContext {
  /** The conversation open on screen, if any. */
  openConversation: string | null;
  /** The tab is hidden (another tab or window is in front). */
  hidden: boolean;
  /** `Notification.permission`, or 'unsupported'. */
  permission: string;
}

/**
 * What to do with a live notification. The server's `sound` and `browser` are obeyed; a
 * `visual` level or more shows a toast. Two things only the browser knows: a notification about
 * the conversation the agent is reading while the tab is in front needs no cue (they see it
 * happen), and a browser notification needs the permission and is only useful while the tab is
 * hidden (in front, the toast says it).
 */
export function cueFor(n: Pick<AppNotification, 'level' | 'sound' | 'browser' | 'conversation_id'>, ctx: CueContext): Cue {
  if (n.level === 'none') return { toast: false, sound: false, browser: false };
  if (!ctx.hidden && n.conversation_id && n.conversation_id === ctx.openConversation) return { toast: false, sound: false, browser: false };
  return {
    toast: !ctx.hidden || !n.browser,
    sound: n.sound,
    browser: n.browser && ctx.hidden && ctx.permission === 'granted',
  };
}

/** The first page of the centre with a live notification on top (once, however often it arrives). */
export function withLiveNotification(page: NotificationPage | undefined, n: AppNotification): NotificationPage | undefined {
  if (!page) return page;
  if (page.items.some((x) => x.id === n.id)) return page;
  return { ...page, items: [n, ...page.items], unread_count: page.unread_count + (n.read_at ? 0 : 1) };
}

/** The unread count after a live notification: one more, unless it was seen already. */
export function countAfterLive(count: number | undefined, n: AppNotification, alreadyListed: boolean): number | undefined {
  if (count === undefined) return count;
  return alreadyListed || n.read_at ? count : count + 1;
}

/** Pages of the centre with some (or all, `ids` null) marked read at `at`. */
export function markedRead(pages: NotificationPage[], ids: string[] | null, at: string): NotificationPage[] {
  const set = ids ? new Set(ids) : null;
  return pages.map((p) => ({
    ...p,
    items: p.items.map((n) => (!n.read_at && (!set || set.has(n.id)) ? { ...n, read_at: at } : n)),
  }));
}

/** The level in force for a type: the person's choice, else the service's default. */
export function levelOf(prefs: Pick<NotificationPreferences, 'types'> | undefined, type: NotificationType): NotificationLevel {
  return prefs?.types[type] ?? NOTIFY_TYPES.find((t) => t.type === type)?.default ?? 'visual';
}

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export interface PreferencesDraft {
  types: Partial<Record<NotificationType, NotificationLevel>>;
  do_not_disturb: boolean;
  /** `HH:MM` or '' for none. */
  quiet_hours_start: string;
  quiet_hours_end: string;
}

export function draftOf(p: NotificationPreferences): PreferencesDraft {
  return {
    types: { ...p.types },
    do_not_disturb: p.do_not_disturb,
    quiet_hours_start: p.quiet_hours_start ?? '',
    quiet_hours_end: p.quiet_hours_end ?? '',
  };
}

/** The `PUT` body for a draft, or the reason it cannot be saved. */
export function preferencesChange(d: PreferencesDraft): { ok: true; change: PreferencesChange } | { ok: false; error: string } {
  const start = d.quiet_hours_start.trim();
  const end = d.quiet_hours_end.trim();
  if (!!start !== !!end) return { ok: false, error: 'Quiet hours need both a start and an end, or neither.' };
  if (start && (!HHMM.test(start) || !HHMM.test(end))) return { ok: false, error: 'Quiet hours are times like 22:00.' };
  if (start && start === end) return { ok: false, error: 'Quiet hours must not start and end at the same time.' };
  return {
    ok: true,
    change: { types: { ...d.types }, do_not_disturb: d.do_not_disturb, quiet_hours_start: start, quiet_hours_end: end },
  };
}

/** What the centre's item says about its time: "just now", "5 min ago", "3 h ago", a date. */
export function agoText(iso: string | null, now: number): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString([], { day: 'numeric', month: 'short' });
}

let audio: AudioContext | null = null;

/** A short two-tone chime (no sound file to ship). */
export function chime(): void {
  try {
    audio ??= new AudioContext();
    const t = audio.currentTime;
    for (const [i, f] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = f;
      gain.gain.setValueAtTime(0.0001, t + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.15, t + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + i * 0.12 + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + i * 0.12);
      osc.stop(t + i * 0.12 + 0.3);
    }
  } catch {
    // No audio: the visual part still shows.
  }
}
