import { useState } from 'react';
import { useInbox } from '../app/context';
import { CHANNELS, PRIORITIES, STATUSES, type Channel, type Priority, type Status } from '../api/types';
import { activeFilterCount, clearFilters, SORTS, type Assigned, type Filters, type InboxUrlState, type TimeWindow } from '../state/filters';
import { CHANNEL_LABEL, PRIORITY_META, STATUS_META } from '../state/format';
import { displayKeys } from '../state/shortcuts';
import { Mark, Menu } from './common';
import { ChannelIcon, Icon } from './icons';
import s from './ListPanel.module.css';

const TIMES: { value: TimeWindow; label: string }[] = [
  { value: '', label: 'Any time' },
  { value: 'last_hour', label: 'Last hour' },
  { value: 'today', label: 'Today' },
  { value: 'week', label: 'This week' },
  { value: 'month', label: 'This month' },
  { value: 'range', label: 'Custom range' },
];

const ASSIGNED: { value: Assigned; label: string }[] = [
  { value: 'all', label: 'All' },
  { value: 'me', label: 'Assigned to me' },
  { value: 'others', label: 'Assigned to others' },
  { value: 'unassigned', label: 'Unassigned' },
];

function toggle<T>(list: T[], v: T): T[] {
  return list.includes(v) ? list.filter((x) => x !== v) : [...list, v];
}

function Check({ checked, label, onChange, children }: { checked: boolean; label: string; onChange: () => void; children?: React.ReactNode }) {
  return (
    <label className={s.check}>
      <input type="checkbox" checked={checked} onChange={onChange} />
      {children}
      {label}
    </label>
  );
}

function Radio({ checked, label, onChange, name }: { checked: boolean; label: string; onChange: () => void; name: string }) {
  return (
    <label className={s.check}>
      <input type="radio" name={name} checked={checked} onChange={onChange} />
      {label}
    </label>
  );
}

export function FilterBar({
  state,
  set,
  onSearch,
}: {
  state: InboxUrlState;
  set: (patch: Partial<InboxUrlState>, replace?: boolean) => void;
  onSearch: () => void;
}) {
  const { teams } = useInbox();
  const [open, setOpen] = useState<null | 'status' | 'assigned' | 'time' | 'channel' | 'more'>(null);
  const patch = (p: Partial<Filters>) => set(p, true);
  const n = activeFilterCount(state);
  const chip = (id: NonNullable<typeof open>, label: string, on: boolean, body: React.ReactNode) => (
    <div className={s.chipWrap}>
      <button type="button" className={`${s.chip} ${on ? s.chipOn : ''}`} aria-expanded={open === id} aria-haspopup="true" onClick={() => setOpen(open === id ? null : id)}>
        {label}
        <span className={s.caret} aria-hidden="true">
          ▼
        </span>
      </button>
      {open === id ? (
        <Menu onClose={() => setOpen(null)}>
          <div className={s.menuBody}>{body}</div>
        </Menu>
      ) : null}
    </div>
  );
  const statusLabel = state.status.length ? state.status.map((x) => STATUS_META[x].label).join(', ') : 'Status';
  const channelLabel = state.channel.length ? state.channel.map((c) => CHANNEL_LABEL[c]).join(', ') : 'Channel';
  return (
    <div className={s.filters}>
      <div className={s.toolbar}>
        <button type="button" className={s.searchBox} onClick={onSearch} aria-keyshortcuts="Control+K Meta+K">
          <Icon name="search" size={15} />
          <span>Search</span>
          <kbd>{displayKeys('Mod+K')}</kbd>
        </button>
        <label className={s.sort}>
          <span className="sr-only">Sort</span>
          <Icon name="sort" size={14} />
          <select value={state.sort} onChange={(e) => set({ sort: e.target.value as Filters['sort'] }, true)} aria-label="Sort conversations">
            {SORTS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className={s.chips} role="group" aria-label="Quick filters">
        {chip(
          'status',
          statusLabel,
          state.status.length > 0,
          STATUSES.map((st: Status) => (
            <Check key={st} checked={state.status.includes(st)} label={STATUS_META[st].label} onChange={() => patch({ status: toggle(state.status, st) })}>
              <Mark kind={st} />
            </Check>
          )),
        )}
        {chip(
          'assigned',
          state.assigned === 'all' ? 'Assigned' : ASSIGNED.find((a) => a.value === state.assigned)!.label,
          state.assigned !== 'all',
          ASSIGNED.map((a) => <Radio key={a.value} name="assigned" checked={state.assigned === a.value} label={a.label} onChange={() => patch({ assigned: a.value })} />),
        )}
        {chip(
          'time',
          state.time ? TIMES.find((t) => t.value === state.time)!.label : 'Time',
          !!state.time,
          <>
            {TIMES.map((t) => (
              <Radio key={t.value} name="time" checked={state.time === t.value} label={t.label} onChange={() => patch({ time: t.value })} />
            ))}
            {state.time === 'range' ? (
              <div className={s.range}>
                <label>
                  From <input type="datetime-local" value={state.from} onChange={(e) => patch({ from: e.target.value })} />
                </label>
                <label>
                  To <input type="datetime-local" value={state.to} onChange={(e) => patch({ to: e.target.value })} />
                </label>
              </div>
            ) : null}
            <div className={s.range}>
              <Radio name="time_field" checked={state.timeField === 'activity'} label="by last activity" onChange={() => patch({ timeField: 'activity' })} />
              <Radio name="time_field" checked={state.timeField === 'created'} label="by creation" onChange={() => patch({ timeField: 'created' })} />
            </div>
          </>,
        )}
        {chip(
          'channel',
          channelLabel,
          state.channel.length > 0,
          CHANNELS.map((c: Channel) => (
            <Check key={c} checked={state.channel.includes(c)} label={`${CHANNEL_LABEL[c]} only`} onChange={() => patch({ channel: toggle(state.channel, c) })}>
              <ChannelIcon channel={c} size={14} />
            </Check>
          )),
        )}
        {chip(
          'more',
          'More',
          state.priority.length > 0 || !!state.needsHuman || !!state.team,
          <>
            <div className={s.menuHeading}>Priority</div>
            {PRIORITIES.map((p: Priority) => (
              <Check key={p} checked={state.priority.includes(p)} label={PRIORITY_META[p].label} onChange={() => patch({ priority: toggle(state.priority, p) })}>
                <Mark kind={p} />
              </Check>
            ))}
            <div className={s.menuHeading}>Needs a person</div>
            <Radio name="nh" checked={state.needsHuman === ''} label="Either" onChange={() => patch({ needsHuman: '' })} />
            <Radio name="nh" checked={state.needsHuman === 'true'} label="Flagged for a person" onChange={() => patch({ needsHuman: 'true' })} />
            <Radio name="nh" checked={state.needsHuman === 'false'} label="Not flagged" onChange={() => patch({ needsHuman: 'false' })} />
            <div className={s.menuHeading}>Team</div>
            <select className={s.teamSelect} value={state.team} onChange={(e) => patch({ team: e.target.value })} aria-label="Team">
              <option value="">Any team</option>
              {teams.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </select>
          </>,
        )}
        {n ? (
          <button type="button" className={s.clear} onClick={() => set(clearFilters(state), true)}>
            Clear ({n})
          </button>
        ) : null}
      </div>
    </div>
  );
}
