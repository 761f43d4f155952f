import { useQuery, useQueryClient, type InfiniteData, type QueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import * as api from '../api/client';
import { appendMessage, applyFrame } from '../api/cache';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { LiveStream, streamUrl, type StreamState } from '../api/stream';
import type { AppNotification, NotificationPage } from '../api/notifications';
import type { Conversation, Status } from '../api/types';
import { getToken, refreshSession, signOut, type Session } from '../auth/session';
import { useOnline } from '../hooks/useOnline';
import { navigate, usePath, useUrlState } from '../hooks/useUrlState';
import { startOfTodayIn, type MatchContext } from '../state/match';
import { chime, countAfterLive, cueFor, withLiveNotification } from '../state/notify';
import { Outbox, type OutboxItem } from '../state/outbox';
import { isTextField, shortcutFor } from '../state/shortcuts';
import { Banners } from '../ui/Banners';
import { common } from '../ui/common';
import { ConversationPanel, type ConversationPanelHandle } from '../ui/ConversationPanel';
import { CustomerPanel } from '../ui/CustomerPanel';
import { HelpSheet } from '../ui/HelpSheet';
import { ListPanel } from '../ui/ListPanel';
import { NotificationPanel, notificationKeys } from '../ui/NotificationCentre';
import { SearchPalette } from '../ui/SearchPalette';
import { BottomBar, ViewsRail } from '../ui/ViewsRail';
import { makeActions } from './actions';
import { InboxContext, type InboxContextValue } from './context';
import s from './Inbox.module.css';

const Settings = lazy(() => import('../ui/Settings'));
const Metrics = lazy(() => import('../ui/Metrics'));

/** Sends one outbox item; the stored message goes into the history at once, without waiting
 * for the live stream (which may still be reconnecting after the network came back). */
async function sendOutboxItem(qc: QueryClient, item: OutboxItem): Promise<void> {
  const p = item.payload;
  const result =
    p.kind === 'template'
      ? await api.sendTemplateMessage(item.conversationId, p.template_id, p.variables, item.key)
      : await api.sendMessage(
          item.conversationId,
          p.template ? { template: p.template } : { text: p.text, internal_note: p.internal_note },
          item.key,
        );
  if (result.message) appendMessage(qc, result.message);
}

export function Inbox({ session }: { session: Session }) {
  const qc = useQueryClient();
  const path = usePath();
  const [url, setUrl] = useUrlState();
  const online = useOnline();
  const [connection, setConnection] = useState<StreamState>('connecting');
  const [toasts, setToasts] = useState<{ id: number; text: string; kind: 'info' | 'error' }[]>([]);
  const [help, setHelp] = useState(false);
  const [search, setSearch] = useState(false);
  const [notificationsOpen, setNotificationsOpen] = useState(false);
  const [activeId, setActiveId] = useState<string | null>(url.conversation);
  const displayed = useRef<string[]>([]);
  const panelRef = useRef<ConversationPanelHandle>(null);
  const streamRef = useRef<LiveStream | null>(null);

  const agentsQ = useQuery({ queryKey: keys.agents, queryFn: api.listAgents, staleTime: 60_000 });
  const teamsQ = useQuery({ queryKey: keys.teams, queryFn: api.listTeams, staleTime: 300_000 });
  const settingsQ = useQuery({ queryKey: keys.settings, queryFn: api.getTenantSettings, staleTime: 300_000 });
  const agents = agentsQ.data?.items ?? [];
  const teams = teamsQ.data?.items ?? [];
  // Who I am: the sign-in answer, else `GET /v1/me` (gateway access issue; `null` while it is
  // missing), else the token's claims with my name from the agents list.
  const meQ = useQuery({ queryKey: ['me'], queryFn: api.getMe, staleTime: Infinity, retry: false });
  const meAgent = agents.find((a) => a.id === session.user.id);
  const me = useMemo(
    () => ({
      ...session.user,
      name: session.user.name || meQ.data?.name || meAgent?.name || '',
      email: session.user.email || meQ.data?.email || meAgent?.email || '',
    }),
    [session.user, meQ.data, meAgent],
  );

  const tz = settingsQ.data?.time_zone || 'UTC';
  const matchCtx = useRef<() => MatchContext>(() => ({ me: me.id, now: Date.now(), startOfToday: startOfTodayIn(tz) }));
  matchCtx.current = () => ({ me: me.id, now: Date.now(), startOfToday: startOfTodayIn(tz) });
  const actions = useMemo(() => makeActions(qc, () => matchCtx.current()), [qc]);

  const toast = useCallback((text: string, kind: 'info' | 'error' = 'info') => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 7000 : 3500);
  }, []);

  const [outbox] = useState(
    () => new Outbox(typeof localStorage === 'undefined' ? null : localStorage, (item) => sendOutboxItem(qc, item), () => navigator.onLine),
  );
  useEffect(() => {
    const onOnline = () => {
      void outbox.flush();
      streamRef.current?.reconnectNow();
    };
    window.addEventListener('online', onOnline);
    void outbox.flush();
    return () => window.removeEventListener('online', onOnline);
  }, [outbox]);

  // My notifications, live: into the centre and the unread count, then the cue the server
  // asked for (state/notify.ts decides what the browser adds: the open conversation, a hidden tab).
  const notify = useRef<(n: AppNotification) => void>(() => undefined);
  notify.current = (n) => {
    const listed = qc.getQueryData<InfiniteData<NotificationPage>>(notificationKeys.list);
    const known = !!listed?.pages.some((p) => p.items.some((x) => x.id === n.id));
    qc.setQueryData<number>(notificationKeys.unread, (count) => countAfterLive(count, n, known));
    if (listed) {
      const first = withLiveNotification(listed.pages[0], n);
      if (first) qc.setQueryData<InfiniteData<NotificationPage>>(notificationKeys.list, { ...listed, pages: [first, ...listed.pages.slice(1)] });
    }
    if (n.conversation_id && (n.type === 'sla_warning' || n.type === 'sla_breached')) {
      void qc.invalidateQueries({ queryKey: ['sla', n.conversation_id] });
    }
    const cue = cueFor(n, {
      openConversation: url.conversation,
      hidden: document.visibilityState === 'hidden',
      permission: typeof Notification === 'undefined' ? 'unsupported' : Notification.permission,
    });
    if (cue.toast) toast(n.body ? `${n.title}: ${n.body}` : n.title);
    if (cue.sound) chime();
    if (cue.browser) {
      const shown = new Notification(n.title, { body: n.body, tag: n.id });
      shown.onclick = () => {
        window.focus();
        if (n.conversation_id) open(n.conversation_id);
      };
    }
  };

  // The live stream: frames into the cache, counts recounted at most once a second. The unread
  // count moves by one at each live notification and is then re-read from the server: a
  // notification stored while the page's first read was in flight is counted once, not zero or twice.
  useEffect(() => {
    let viewsTimer: ReturnType<typeof setTimeout> | null = null;
    let unreadTimer: ReturnType<typeof setTimeout> | null = null;
    const recount = () => {
      viewsTimer ??= setTimeout(() => {
        viewsTimer = null;
        void qc.invalidateQueries({ queryKey: ['views'] });
      }, 1000);
    };
    const rereadUnread = () => {
      unreadTimer ??= setTimeout(() => {
        unreadTimer = null;
        void qc.invalidateQueries({ queryKey: notificationKeys.unread });
      }, 1000);
    };
    const stream = new LiveStream({
      url: async (seq) => {
        if (!getToken()) return null;
        const { ticket } = await api.createTicket();
        return streamUrl(ticket, seq);
      },
      onFrame: (frame) => {
        if (frame.type === 'notification') {
          notify.current(frame.notification);
          rereadUnread();
          return;
        }
        const effects = applyFrame(qc, frame, matchCtx.current());
        if (effects.resync) void qc.invalidateQueries();
        else if (effects.views) recount();
      },
      onState: setConnection,
      onReconnected: () => {
        void qc.invalidateQueries();
        void outbox.flush();
      },
      onAuthProblem: async () => {
        await refreshSession();
      },
    });
    streamRef.current = stream;
    stream.start();
    const onVisibility = () => stream.setPresence(document.visibilityState === 'visible' ? 'online' : 'online');
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      document.removeEventListener('visibilitychange', onVisibility);
      if (viewsTimer) clearTimeout(viewsTimer);
      if (unreadTimer) clearTimeout(unreadTimer);
      stream.stop();
    };
  }, [qc, outbox]);

  const open = useCallback(
    (id: string | null, panel?: 'list' | 'conversation' | 'customer') => {
      setActiveId(id);
      setUrl({ conversation: id, panel: panel ?? (id ? 'conversation' : 'list') });
    },
    [setUrl],
  );

  const move = useCallback(
    (delta: number, openIt: boolean) => {
      const ids = displayed.current;
      if (!ids.length) return;
      const from = openIt ? (url.conversation ?? activeId) : (activeId ?? url.conversation);
      const i = from ? ids.indexOf(from) : -1;
      const next = ids[Math.max(0, Math.min(ids.length - 1, i === -1 ? 0 : i + delta))];
      if (openIt) open(next);
      else setActiveId(next);
    },
    [activeId, url.conversation, open],
  );

  const current = url.conversation;
  useEffect(() => {
    streamRef.current?.setViewing(current);
  }, [current, connection]);
  const changeStatus = useCallback(
    async (status: Status) => {
      const id = current ?? activeId;
      if (!id) return toast('Open a conversation first.', 'error');
      try {
        await actions.setStatus(id, status);
        toast(`Marked ${status}`);
      } catch (e) {
        toast(messageOf(e), 'error');
      }
    },
    [actions, current, activeId, toast],
  );

  // The guide's shortcuts, one handler for the whole screen.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented) return;
      const inDialog = !!(e.target as Element | null)?.closest?.('[data-dialog]');
      const id = shortcutFor(e, isTextField(document.activeElement));
      if (!id) return;
      if (inDialog && id !== 'search' && id !== 'help') return;
      const inList = !!(document.activeElement as Element | null)?.closest?.('[data-list]');
      switch (id) {
        case 'search':
          e.preventDefault();
          setHelp(false);
          setSearch(true);
          return;
        case 'help':
          e.preventDefault();
          setSearch(false);
          setHelp((h) => !h);
          return;
        case 'close':
          if (isTextField(document.activeElement)) {
            (document.activeElement as HTMLElement).blur();
            document.querySelector<HTMLElement>('[data-list]')?.focus();
          } else if (url.panel === 'customer') {
            setUrl({ panel: 'conversation' });
          } else if (url.conversation) {
            setActiveId(url.conversation);
            open(null);
            setTimeout(() => document.querySelector<HTMLElement>('[data-list]')?.focus());
          }
          return;
        case 'up':
        case 'down':
          if (!inList && document.activeElement && document.activeElement !== document.body && !(document.activeElement as Element).closest('[data-panel]')) return;
          e.preventDefault();
          move(id === 'up' ? -1 : 1, false);
          if (!inList) document.querySelector<HTMLElement>('[data-list]')?.focus();
          return;
        case 'open':
          if (!inList) return;
          e.preventDefault();
          if (activeId) open(activeId);
          return;
        case 'previous':
        case 'next':
          e.preventDefault();
          move(id === 'previous' ? -1 : 1, true);
          return;
        case 'reply':
          if (!current) return;
          e.preventDefault();
          panelRef.current?.focusComposer();
          return;
        case 'assign':
          if (!current) return;
          e.preventDefault();
          panelRef.current?.openAssign();
          return;
        case 'download':
          if (!current) return;
          e.preventDefault();
          panelRef.current?.openDownload();
          return;
        case 'send':
          // The composer handles its own Ctrl/Cmd+Enter.
          return;
        case 'status.active':
        case 'status.pending':
        case 'status.resolved':
        case 'status.archived':
          e.preventDefault();
          void changeStatus(id.slice('status.'.length) as Status);
          return;
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [url.panel, url.conversation, current, activeId, move, open, setUrl, changeStatus]);

  const ctx: InboxContextValue = useMemo(
    () => ({
      me,
      agents,
      teams,
      settings: settingsQ.data ?? null,
      outbox,
      connection,
      setPresence: (a) => streamRef.current?.setPresence(a),
      toast,
      // Message senders are `user:<id>`; assignees are plain ids.
      agentName: (id) => {
        if (!id) return '';
        const key = id.startsWith('user:') ? id.slice(5) : id;
        return agents.find((a) => a.id === key)?.name ?? (key === me.id ? me.name || 'You' : 'A teammate');
      },
      teamName: (id) => (id ? (teams.find((t) => t.id === id)?.name ?? 'A team') : ''),
    }),
    [me, agents, teams, settingsQ.data, outbox, connection, toast],
  );

  const onSettings = path.startsWith('/settings');
  // Not /metrics: every service answers that path itself (Prometheus).
  const onMetrics = path.startsWith('/dashboard');
  const mayReadMetrics = me.role === 'supervisor' || me.role === 'admin';

  // Panels the agent collapsed (the views rail, the customer panel), remembered in this browser.
  const [layout, setLayout] = useState<{ rail: boolean; customer: boolean }>(() => {
    try {
      return { rail: true, customer: true, ...(JSON.parse(localStorage.getItem('inbox.layout') ?? '{}') as object) };
    } catch {
      return { rail: true, customer: true };
    }
  });
  const toggle = (panel: 'rail' | 'customer') =>
    setLayout((l) => {
      const next = { ...l, [panel]: !l[panel] };
      localStorage.setItem('inbox.layout', JSON.stringify(next));
      return next;
    });

  // The tab says how many of my conversations wait for me.
  const counts = useQuery({ queryKey: keys.views(url.team), queryFn: () => api.getViews(url.team || undefined), refetchInterval: 60_000 });
  const waitingForMe = counts.data?.mine.needs_attention ?? 0;
  useEffect(() => {
    document.title = waitingForMe ? `(${waitingForMe}) Inbox` : 'Inbox';
  }, [waitingForMe]);

  return (
    <InboxContext.Provider value={ctx}>
      <div
        className={s.app}
        data-panel-shown={url.panel}
        data-has-conversation={current ? 'yes' : 'no'}
        data-rail={layout.rail ? 'open' : 'collapsed'}
        data-customer={layout.customer ? 'open' : 'collapsed'}
      >
        <a className={s.skip} href="#conversation-list">
          Skip to the conversation list
        </a>
        <Banners online={online} connection={connection} />
        <main className={s.grid} aria-label="Inbox">
          <h1 className="sr-only">Inbox</h1>
          <ViewsRail
            view={url.view}
            team={url.team}
            onView={(view) => setUrl({ view, panel: 'list' })}
            onHelp={() => setHelp(true)}
            onSettings={() => navigate(onSettings ? '/' : '/settings')}
            notificationsOpen={notificationsOpen}
            onNotifications={() => setNotificationsOpen((o) => !o)}
            onMetrics={mayReadMetrics ? () => navigate(onMetrics ? '/' : '/dashboard') : null}
            metricsShown={onMetrics}
            onSignOut={() => void signOut()}
            collapsed={!layout.rail}
            onToggle={() => toggle('rail')}
          />
          {onSettings ? (
            <section className={s.settings} aria-label="Settings">
              <Suspense fallback={<div className={common.state}>Loading settings…</div>}>
                <Settings onClose={() => navigate('/')} />
              </Suspense>
            </section>
          ) : onMetrics && mayReadMetrics ? (
            <section className={s.settings} aria-label="Metrics">
              <Suspense fallback={<div className={common.state}>Loading the metrics…</div>}>
                <Metrics onClose={() => navigate('/')} />
              </Suspense>
            </section>
          ) : (
            <>
              <ListPanel
                state={url}
                setState={setUrl}
                activeId={activeId}
                setActiveId={setActiveId}
                onOpen={(id) => open(id)}
                onSearch={() => setSearch(true)}
                displayedRef={displayed}
              />
              <ConversationPanel
                ref={panelRef}
                id={current}
                actions={actions}
                onBack={() => open(null)}
                onProfile={() => (window.matchMedia('(min-width: 1181px)').matches ? toggle('customer') : setUrl({ panel: 'customer' }))}
                customerShown={layout.customer}
                onOpenConversation={(id) => open(id)}
              />
              <CustomerPanel
                id={current}
                onBack={() => setUrl({ panel: 'conversation' })}
                onOpenConversation={(id) => open(id)}
                onCollapse={() => toggle('customer')}
              />
            </>
          )}
        </main>
        <BottomBar
          view={url.view}
          team={url.team}
          onView={(view) => setUrl({ view, panel: 'list', conversation: null })}
          onSearch={() => setSearch(true)}
          notificationsOpen={notificationsOpen}
          onNotifications={() => setNotificationsOpen((o) => !o)}
        />
        {notificationsOpen ? (
          <NotificationPanel
            onClose={() => setNotificationsOpen(false)}
            onOpenConversation={(id) => {
              if (onSettings || onMetrics) navigate('/');
              open(id);
            }}
          />
        ) : null}
        {help ? <HelpSheet onClose={() => setHelp(false)} /> : null}
        {search ? (
          <SearchPalette
            onClose={() => setSearch(false)}
            onOpen={(c: Conversation) => {
              setSearch(false);
              open(c.id);
            }}
          />
        ) : null}
        <div className={common.toasts} role="status" aria-live="polite">
          {toasts.map((t) => (
            <div key={t.id} className={`${common.toast} ${t.kind === 'error' ? common.toastError : ''}`}>
              {t.text}
            </div>
          ))}
        </div>
      </div>
    </InboxContext.Provider>
  );
}
