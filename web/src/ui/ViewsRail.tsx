import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import * as api from '../api/client';
import { keys } from '../api/keys';
import type { ViewCounts } from '../api/types';
import { useInbox } from '../app/context';
import { CHANNEL_VIEWS, VIEW_GROUPS } from '../state/filters';
import { withShortcut } from '../state/shortcuts';
import { ChannelIcon, Icon } from './icons';
import { Bell } from './NotificationCentre';
import s from './ViewsRail.module.css';

function count(counts: ViewCounts | undefined, view: string): number | undefined {
  if (!counts) return undefined;
  if (view.startsWith('channel.')) return counts.by_channel[view.slice(8) as 'whatsapp'] ?? 0;
  const [group, part] = view.split('.') as [keyof Omit<ViewCounts, 'by_channel'>, string | undefined];
  const g = counts[group] as Record<string, number> | undefined;
  return g ? g[part ?? 'total'] : undefined;
}

/** The counts; Team Inbox counts one team's conversations when the list is filtered to a team. */
export function useViewCounts(team?: string) {
  return useQuery({ queryKey: keys.views(team), queryFn: () => api.getViews(team || undefined), refetchInterval: 60_000 });
}

export function ViewsRail({
  view,
  team,
  onView,
  onHelp,
  onSettings,
  onSignOut,
  collapsed,
  onToggle,
  notificationsOpen,
  onNotifications,
  onMetrics,
  metricsShown,
}: {
  view: string;
  team?: string;
  onView: (v: string) => void;
  onHelp: () => void;
  onSettings: () => void;
  notificationsOpen: boolean;
  onNotifications: () => void;
  /** Supervisors and admins only: agents get no Metrics button. */
  onMetrics: (() => void) | null;
  metricsShown: boolean;
  onSignOut: () => void;
  collapsed: boolean;
  onToggle: () => void;
}) {
  const { me, setPresence, agents } = useInbox();
  const counts = useViewCounts(team);
  const myAvailability = agents.find((a) => a.id === me.id)?.availability ?? 'online';
  const [away, setAway] = useState(false);
  const item = (id: string, label: string, sub: boolean, icon?: React.ReactNode) => {
    const n = count(counts.data, id);
    return (
      <li key={id}>
        <button
          type="button"
          className={`${s.item} ${sub ? s.sub : s.group} ${view === id ? s.selected : ''}`}
          aria-current={view === id ? 'page' : undefined}
          onClick={() => onView(id)}
        >
          {icon}
          <span className={s.label}>{label}</span>
          <span className={s.count} aria-label={n === undefined ? undefined : `${n} conversations`}>
            {n ?? ''}
          </span>
        </button>
      </li>
    );
  };
  if (collapsed) {
    return (
      <nav className={`${s.rail} ${s.collapsed}`} aria-label="Inbox views" data-region="rail">
        <button type="button" className={s.toggle} onClick={onToggle} aria-label="Show the views" title="Show the views">
          »
        </button>
        <Bell open={notificationsOpen} onToggle={onNotifications} compact />
      </nav>
    );
  }
  return (
    <nav className={s.rail} aria-label="Inbox views" data-region="rail">
      <div className={s.brand}>
        Inbox
        <button type="button" className={s.toggle} onClick={onToggle} aria-label="Hide the views" title="Hide the views">
          «
        </button>
      </div>
      <ul className={s.list}>
        {VIEW_GROUPS.map((g) => (
          <li key={g.id}>
            <ul className={s.list}>
              {item(g.id, g.label, false)}
              {g.parts.map((p) => item(p.id, p.label, true))}
            </ul>
          </li>
        ))}
        <li>
          <div className={s.heading}>By Channel</div>
          <ul className={s.list}>{CHANNEL_VIEWS.map((c) => item(c.id, c.label, true, <ChannelIcon channel={c.channel} size={14} />))}</ul>
        </li>
      </ul>
      {counts.isError ? <p className={s.error}>Counts unavailable</p> : null}
      <div className={s.foot}>
        <Bell open={notificationsOpen} onToggle={onNotifications} />
        {onMetrics ? (
          <button type="button" className={`${s.footBtn} ${metricsShown ? s.selected : ''}`} aria-current={metricsShown ? 'page' : undefined} onClick={onMetrics}>
            <Icon name="chart" size={15} /> Metrics
          </button>
        ) : null}
        <button type="button" className={s.footBtn} onClick={onHelp} title={withShortcut('Keyboard shortcuts', 'help')}>
          <Icon name="keyboard" size={15} /> Shortcuts
        </button>
        <button type="button" className={s.footBtn} onClick={onSettings}>
          <Icon name="settings" size={15} /> Settings
        </button>
        <div className={s.me}>
          <span className={`${s.presence} ${s[away ? 'away' : myAvailability] ?? ''}`} aria-hidden="true" />
          <span className={s.meName} title={me.email}>
            {me.name || 'Signed in'}
          </span>
        </div>
        <div className={s.meActions}>
          <button
            type="button"
            className={s.link}
            onClick={() => {
              setPresence(away ? 'online' : 'away');
              setAway(!away);
            }}
          >
            {away ? 'Set online' : 'Set away'}
          </button>
          <button type="button" className={s.link} onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </div>
    </nav>
  );
}

/** Phone width: the views as a bar at the bottom. */
export function BottomBar({
  view,
  team,
  onView,
  onSearch,
  notificationsOpen,
  onNotifications,
}: {
  view: string;
  team?: string;
  onView: (v: string) => void;
  onSearch: () => void;
  notificationsOpen: boolean;
  onNotifications: () => void;
}) {
  const counts = useViewCounts(team);
  const [channels, setChannels] = useState(false);
  const tab = (id: string, label: string) => (
    <button
      key={id}
      type="button"
      className={`${s.tab} ${view === id || view.startsWith(id + '.') ? s.tabOn : ''}`}
      aria-current={view === id ? 'page' : undefined}
      onClick={() => onView(id)}
    >
      <span>{label}</span>
      <span className={s.tabCount}>{count(counts.data, id) ?? ''}</span>
    </button>
  );
  return (
    <nav className={s.bottom} aria-label="Views">
      {tab('all', 'All')}
      {tab('mine', 'Mine')}
      {tab('team', 'Team')}
      <div style={{ position: 'relative', flex: 1, display: 'flex' }}>
        <button type="button" className={`${s.tab} ${view.startsWith('channel.') ? s.tabOn : ''}`} aria-expanded={channels} onClick={() => setChannels(!channels)}>
          <span>Channels</span>
        </button>
        {channels ? (
          <div className={s.sheet} role="menu">
            {CHANNEL_VIEWS.map((c) => (
              <button
                key={c.id}
                role="menuitem"
                type="button"
                className={s.sheetItem}
                onClick={() => {
                  setChannels(false);
                  onView(c.id);
                }}
              >
                <ChannelIcon channel={c.channel} size={16} /> {c.label} <span className={s.tabCount}>{count(counts.data, c.id) ?? ''}</span>
              </button>
            ))}
          </div>
        ) : null}
      </div>
      <button type="button" className={s.tab} onClick={onSearch} aria-label="Search">
        <Icon name="search" size={18} />
      </button>
      <Bell open={notificationsOpen} onToggle={onNotifications} compact />
    </nav>
  );
}
