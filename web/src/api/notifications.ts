// The notification service through the gateway (docs/notifications.md "Gateway routes"): the
// centre, the unread count, preferences and a conversation's SLA clocks.

import { enc, json } from './http';

/** Notification types, as the gateway names them. */
export type NotificationType =
  | 'new_conversation'
  | 'assigned'
  | 'customer_replied'
  | 'urgent'
  | 'sla_warning'
  | 'sla_breached'
  | 'status_changed'
  | 'webhook_disabled';

export type NotificationLevel = 'none' | 'visual' | 'sound_visual' | 'all';

/** One notification of the centre, also the body of a live `notification` frame. */
export interface AppNotification {
  id: string;
  type: NotificationType;
  conversation_id: string | null;
  title: string;
  body: string;
  /** The level it was delivered at (do-not-disturb and quiet hours lower it to `visual`). */
  level: NotificationLevel;
  /** The server's word: play a sound. */
  sound: boolean;
  /** The server's word: show a browser notification. */
  browser: boolean;
  sla_target: string | null;
  due_at: string | null;
  created_at: string | null;
  read_at?: string | null;
}

export interface NotificationPage {
  items: AppNotification[];
  next_cursor: string | null;
  unread_count: number;
}

export interface NotificationPreferences {
  types: Partial<Record<NotificationType, NotificationLevel>>;
  do_not_disturb: boolean;
  quiet_hours_start: string | null;
  quiet_hours_end: string | null;
  time_zone: string;
}

/** What `PUT /v1/me/notification-preferences` takes: fields left out stay; `""` quiet hours clear them. */
export interface PreferencesChange {
  types?: Partial<Record<NotificationType, NotificationLevel | 'default'>>;
  do_not_disturb?: boolean;
  quiet_hours_start?: string;
  quiet_hours_end?: string;
}

/** One SLA clock of a conversation. */
export interface SlaTimer {
  /** first_response, next_response or resolution. */
  target: string;
  target_seconds: number;
  started_at: string | null;
  elapsed_seconds: number;
  paused: boolean;
  warning_at: string | null;
  due_at: string | null;
  warned_at: string | null;
  breached_at: string | null;
  stopped_at: string | null;
}

export const listNotifications = (cursor?: string | null, limit = 30) =>
  json<NotificationPage>('GET', '/v1/notifications', { query: { cursor: cursor ?? undefined, limit } });

export const getUnreadCount = () => json<{ unread_count: number }>('GET', '/v1/notifications/unread-count');

export const markNotificationsRead = (ids: string[]) =>
  json<{ marked: number; unread_count: number }>('POST', '/v1/notifications/read', { body: { ids } });

export const markAllNotificationsRead = () =>
  json<{ marked: number; unread_count: number }>('POST', '/v1/notifications/read-all');

export const getNotificationPreferences = () => json<NotificationPreferences>('GET', '/v1/me/notification-preferences');

export const putNotificationPreferences = (change: PreferencesChange) =>
  json<NotificationPreferences>('PUT', '/v1/me/notification-preferences', { body: change });

export const getConversationSla = (id: string) => json<{ items: SlaTimer[] }>('GET', `/v1/conversations/${enc(id)}/sla`);
