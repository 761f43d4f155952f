// The notification centre (docs/notifications.md "The notification centre"): the rail's bell
// with the unread count, and a panel of my notifications, newest first, paged; clicking one
// marks it read and opens its conversation. Live frames update both (Inbox's stream handler).

import { useInfiniteQuery, useQuery, useQueryClient, type InfiniteData } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { messageOf } from '../api/errors';
import * as notifications from '../api/notifications';
import type { AppNotification, NotificationPage, NotificationType } from '../api/notifications';
import { useNow } from '../hooks/useNow';
import { agoText, markedRead } from '../state/notify';
import { Button, Skeleton, common } from './common';
import { Icon } from './icons';
import s from './NotificationCentre.module.css';

export const notificationKeys = {
  unread: ['notifications', 'unread'] as const,
  list: ['notifications', 'list'] as const,
};

/** The unread count, kept live by the stream; re-read after reconnects and once a minute. */
export function useUnreadCount() {
  return useQuery({
    queryKey: notificationKeys.unread,
    queryFn: async () => (await notifications.getUnreadCount()).unread_count,
    refetchInterval: 60_000,
    staleTime: 30_000,
  });
}

export function Bell({ open, onToggle, compact }: { open: boolean; onToggle: () => void; compact?: boolean }) {
  const unread = useUnreadCount();
  const n = unread.data ?? 0;
  // The name is the visible text ("Notifications 3 unread"), so voice control finds it by what it shows.
  return (
    <button
      type="button"
      className={compact ? s.bellCompact : s.bell}
      aria-expanded={open}
      aria-haspopup="dialog"
      title={n ? `Notifications: ${n} unread` : 'Notifications'}
      onClick={onToggle}
      data-notification-bell
    >
      <Icon name="bell" size={compact ? 18 : 15} />
      <span className={compact ? 'sr-only' : s.bellLabel}>Notifications</span>
      {n ? (
        <span className={s.unread} data-unread-count={n}>
          {n > 99 ? '99+' : n}
          <span className="sr-only"> unread</span>
        </span>
      ) : null}
    </button>
  );
}

const TYPE_ICON: Record<NotificationType, 'alert' | 'user' | 'send' | 'clock' | 'bell'> = {
  new_conversation: 'bell',
  assigned: 'user',
  customer_replied: 'send',
  urgent: 'alert',
  sla_warning: 'clock',
  sla_breached: 'clock',
  status_changed: 'bell',
  webhook_disabled: 'alert',
};

/** The panel: my notifications, newest first; Esc or a click outside closes it. */
export function NotificationPanel({ onClose, onOpenConversation }: { onClose: () => void; onOpenConversation: (id: string) => void }) {
  const qc = useQueryClient();
  const ref = useRef<HTMLDivElement>(null);
  const now = useNow(30_000);
  const list = useInfiniteQuery({
    queryKey: notificationKeys.list,
    queryFn: ({ pageParam }) => notifications.listNotifications(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  const unread = useUnreadCount();

  useEffect(() => {
    ref.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    const onDown = (e: MouseEvent) => {
      const t = e.target as Element;
      if (ref.current && !ref.current.contains(t) && !t.closest?.('[data-notification-bell]')) onClose();
    };
    document.addEventListener('mousedown', onDown);
    return () => document.removeEventListener('mousedown', onDown);
  }, [onClose]);

  const setRead = (ids: string[] | null, unreadCount: number) => {
    const at = new Date().toISOString();
    qc.setQueryData<InfiniteData<NotificationPage>>(notificationKeys.list, (d) => (d ? { ...d, pages: markedRead(d.pages, ids, at) } : d));
    qc.setQueryData(notificationKeys.unread, unreadCount);
  };

  const openOne = async (n: AppNotification) => {
    if (!n.read_at) {
      setRead([n.id], Math.max(0, (unread.data ?? 1) - 1));
      notifications
        .markNotificationsRead([n.id])
        .then((r) => qc.setQueryData(notificationKeys.unread, r.unread_count))
        .catch(() => void qc.invalidateQueries({ queryKey: ['notifications'] }));
    }
    if (n.conversation_id) {
      onClose();
      onOpenConversation(n.conversation_id);
    }
  };

  const markAll = async () => {
    setRead(null, 0);
    try {
      const r = await notifications.markAllNotificationsRead();
      qc.setQueryData(notificationKeys.unread, r.unread_count);
    } catch {
      void qc.invalidateQueries({ queryKey: ['notifications'] });
    }
  };

  return (
    <div
      ref={ref}
      className={s.panel}
      role="dialog"
      aria-label="Notifications"
      data-dialog
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      <div className={s.head}>
        <h2>Notifications</h2>
        <Button variant="ghost" onClick={() => void markAll()} disabled={!unread.data} data-autofocus>
          Mark all read
        </Button>
        <Button variant="ghost" iconOnly aria-label="Close notifications" onClick={onClose}>
          ✕
        </Button>
      </div>
      {list.isPending ? (
        <div className={s.items} aria-busy="true">
          {[0, 1, 2].map((i) => (
            <div key={i} className={s.skeleton}>
              <Skeleton width="60%" />
              <Skeleton width="90%" />
            </div>
          ))}
        </div>
      ) : list.isError ? (
        <div className={common.state} role="alert">
          <p>Notifications could not be loaded: {messageOf(list.error)}</p>
          <Button onClick={() => void list.refetch()}>Retry</Button>
        </div>
      ) : !items.length ? (
        <div className={common.state}>
          <p>No notifications yet.</p>
          <p className={common.hint}>Assignments, new conversations, customer replies and SLA warnings show up here.</p>
        </div>
      ) : (
        <ul className={s.items} aria-label="Your notifications">
          {items.map((n) => (
            <li key={n.id}>
              <button
                type="button"
                className={`${s.item} ${n.read_at ? '' : s.itemUnread}`}
                onClick={() => void openOne(n)}
                data-notification-id={n.id}
                data-unread={n.read_at ? 'no' : 'yes'}
              >
                <span className={`${s.kind} ${n.type === 'sla_breached' || n.type === 'urgent' ? s.kindRed : n.type === 'sla_warning' ? s.kindAmber : ''}`}>
                  <Icon name={TYPE_ICON[n.type] ?? 'bell'} size={14} />
                </span>
                <span className={s.text}>
                  <span className={s.title}>
                    {n.read_at ? null : <span className="sr-only">Unread: </span>}
                    {n.title}
                  </span>
                  {n.body ? <span className={s.body}>{n.body}</span> : null}
                </span>
                <time className={s.time} dateTime={n.created_at ?? undefined} title={n.created_at ? new Date(n.created_at).toLocaleString() : undefined}>
                  {agoText(n.created_at, now)}
                </time>
              </button>
            </li>
          ))}
          {list.hasNextPage ? (
            <li className={s.more}>
              <Button onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
                {list.isFetchingNextPage ? 'Loading…' : 'Older notifications'}
              </Button>
            </li>
          ) : null}
        </ul>
      )}
    </div>
  );
}
