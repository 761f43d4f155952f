import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useMemo, useRef, useState, type MutableRefObject } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import type { Conversation } from '../api/types';
import { useInbox } from '../app/context';
import { useNow } from '../hooks/useNow';
import { activeFilterCount, clearFilters, toListParams, viewLabel, type InboxUrlState } from '../state/filters';
import { customerLabel, listTime, PRIORITY_META, shortDuration, waiting } from '../state/format';
import { heldRows, type Held } from '../state/hold';
import { isUnread, useSeen } from '../state/seen';
import { BulkBar, type Selection } from './BulkBar';
import { Button, PriorityBadge, Skeleton, StatusBadge, common } from './common';
import { FilterBar } from './FilterBar';
import { ChannelIcon, Icon } from './icons';
import s from './ListPanel.module.css';

export const ROW_HEIGHT = 78;
const PAGE = 200;

export function ListPanel({
  state,
  setState,
  activeId,
  setActiveId,
  onOpen,
  onSearch,
  displayedRef,
}: {
  state: InboxUrlState;
  setState: (p: Partial<InboxUrlState>, replace?: boolean) => void;
  activeId: string | null;
  setActiveId: (id: string | null) => void;
  onOpen: (id: string) => void;
  onSearch: () => void;
  displayedRef: MutableRefObject<string[]>;
}) {
  const { agentName, teamName, me } = useInbox();
  const now = useNow(30_000);
  const seen = useSeen(me.id);
  const params = useMemo(() => toListParams(state), [state]);
  // The waiting clock turns red at the tenant's first-response target (amber at three quarters
  // of it); without a target, amber after 15 minutes and red after an hour.
  const rules = useQuery({ queryKey: ['settings', 'priority-rules'], queryFn: api.getPriorityRules, staleTime: 300_000 });
  const targetMs = (rules.data?.first_response_target_seconds ?? 0) * 1000;
  const [warnMs, lateMs] = targetMs ? [targetMs * 0.75, targetMs] : [15 * 60_000, 60 * 60_000];
  const query = useInfiniteQuery({
    queryKey: keys.list(params),
    queryFn: ({ pageParam, signal }) => api.listConversations(params, pageParam, PAGE, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });

  const live: Conversation[] = useMemo(() => {
    const seenIds = new Set<string>();
    const out: Conversation[] = [];
    for (const p of query.data?.pages ?? []) {
      for (const c of p.items) {
        if (!seenIds.has(c.id)) {
          seenIds.add(c.id);
          out.push(c);
        }
      }
    }
    return out;
  }, [query.data]);

  // Hold the order while the agent is in the list (pointer, focus, scrolled): a live update
  // changes rows in place but moves none; what would move shows as "N new".
  const [pointerIn, setPointerIn] = useState(false);
  const [focusIn, setFocusIn] = useState(false);
  const [scrolled, setScrolled] = useState(false);
  const holding = pointerIn || focusIn || scrolled;
  const [held, setHeld] = useState<Held | null>(null);
  const lastKnown = useRef(new Map<string, Conversation>());
  for (const c of live) lastKnown.current.set(c.id, c);

  useEffect(() => {
    if (holding && !held) setHeld({ ids: live.map((c) => c.id), since: Date.now() });
    if (!holding && held) setHeld(null);
  }, [holding, held, live]);
  // A new list (view, filter, sort) starts unheld.
  useEffect(() => {
    setHeld(null);
    lastKnown.current = new Map();
  }, [params]);

  const { rows, newCount } = useMemo(() => heldRows(live, held, lastKnown.current), [held, live]);

  displayedRef.current = rows.map((c) => c.id);

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.length ? items[items.length - 1].index : -1;
  useEffect(() => {
    if (lastIndex >= rows.length - 20 && query.hasNextPage && !query.isFetchingNextPage) void query.fetchNextPage();
  }, [lastIndex, rows.length, query]);

  // The keyboard cursor stays in view.
  const activeIndex = activeId ? rows.findIndex((c) => c.id === activeId) : -1;
  useEffect(() => {
    if (activeIndex >= 0 && focusIn) virtualizer.scrollToIndex(activeIndex, { align: 'auto' });
  }, [activeIndex, focusIn, virtualizer]);

  const [selection, setSelection] = useState<Selection>({ mode: 'ids', ids: new Set() });
  useEffect(() => setSelection({ mode: 'ids', ids: new Set() }), [params]);
  const selectedCount = selection.mode === 'filter' ? null : selection.ids.size;
  const toggleSelected = (id: string) =>
    setSelection((sel) => {
      const ids = new Set(sel.mode === 'ids' ? sel.ids : rows.map((r) => r.id));
      if (ids.has(id)) ids.delete(id);
      else ids.add(id);
      return { mode: 'ids', ids };
    });
  const allLoadedSelected = selection.mode === 'filter' || (rows.length > 0 && rows.every((r) => selection.ids.has(r.id)));

  const showNew = () => {
    setHeld(null);
    setScrolled(false);
    scrollRef.current?.scrollTo({ top: 0 });
    setHeld({ ids: live.map((c) => c.id), since: Date.now() });
  };

  const filtersOn = activeFilterCount(state) > 0;
  const title = viewLabel(state.view);

  return (
    <section className={s.panel} aria-label="Conversations" data-region="list">
      <header className={s.head}>
        <h2 className={s.title}>{title}</h2>
        <FilterBar state={state} set={setState} onSearch={onSearch} />
      </header>
      <BulkBar
        selection={selection}
        setSelection={setSelection}
        state={state}
        loadedCount={rows.length}
        allLoadedSelected={allLoadedSelected}
        selectAllLoaded={() => setSelection({ mode: 'ids', ids: new Set(rows.map((r) => r.id)) })}
        namesOf={(id) => {
          const c = lastKnown.current.get(id);
          return c ? customerLabel(c) : id.slice(0, 8);
        }}
        selectedCount={selectedCount}
      />
      <p id="list-help" className="sr-only">
        Arrow keys move, Enter opens, Space selects for bulk actions.
      </p>
      {newCount > 0 ? (
        <button type="button" className={s.newPill} onClick={showNew}>
          ↑ {newCount} new
        </button>
      ) : null}
      <div
        id="conversation-list"
        ref={scrollRef}
        className={s.scroll}
        role="listbox"
        aria-label={`${title}: ${rows.length}${query.hasNextPage ? '+' : ''} conversations`}
        aria-activedescendant={activeId && activeIndex >= 0 ? `row-${activeId}` : undefined}
        aria-multiselectable="true"
        aria-describedby="list-help"
        tabIndex={0}
        data-list
        onPointerEnter={() => setPointerIn(true)}
        onPointerLeave={() => setPointerIn(false)}
        onFocus={() => {
          setFocusIn(true);
          if (!activeId && rows[0]) setActiveId(rows[0].id);
        }}
        onBlur={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node)) setFocusIn(false);
        }}
        onScroll={(e) => setScrolled(e.currentTarget.scrollTop > ROW_HEIGHT / 2)}
        onKeyDown={(e) => {
          if (e.key === ' ' && activeId && e.target === e.currentTarget) {
            e.preventDefault();
            toggleSelected(activeId);
          }
        }}
      >
        {query.isPending ? (
          <div aria-busy="true" aria-label="Loading conversations">
            {Array.from({ length: 8 }, (_, i) => (
              <div key={i} className={s.skeletonRow}>
                <Skeleton width="45%" height={13} />
                <Skeleton width="80%" />
                <Skeleton width="35%" />
              </div>
            ))}
          </div>
        ) : query.isError ? (
          <div className={common.state} role="alert">
            <p>Conversations could not be loaded: {messageOf(query.error)}</p>
            <Button onClick={() => void query.refetch()}>Retry</Button>
          </div>
        ) : rows.length === 0 ? (
          <div className={common.state}>
            <p>{filtersOn ? 'No conversations match these filters.' : 'No conversations here.'}</p>
            {filtersOn ? <Button onClick={() => setState(clearFilters(state), true)}>Clear filters</Button> : null}
          </div>
        ) : (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((v) => {
              const c = rows[v.index];
              const selected = c.id === state.conversation;
              const checked = selection.mode === 'filter' || selection.ids.has(c.id);
              const unread = isUnread(c, seen);
              const wait = waiting(c, now, warnMs, lateMs);
              return (
                <div
                  key={c.id}
                  id={`row-${c.id}`}
                  role="option"
                  aria-selected={checked}
                  aria-current={selected ? 'true' : undefined}
                  data-active={c.id === activeId ? 'yes' : undefined}
                  data-conversation-id={c.id}
                  className={`${s.row} ${selected ? s.selected : ''} ${c.id === activeId && focusIn ? s.cursor : ''} ${unread ? s.unread : ''}`}
                  style={{ transform: `translateY(${v.start}px)`, height: ROW_HEIGHT }}
                  onClick={() => {
                    setActiveId(c.id);
                    onOpen(c.id);
                  }}
                >
                  <span
                    className={s.checkCell}
                    data-checkbox
                    aria-hidden="true"
                    onClick={(e) => {
                      e.stopPropagation();
                      toggleSelected(c.id);
                    }}
                  >
                    <span className={`${s.box} ${checked ? s.boxOn : ''}`} />
                  </span>
                  <div className={s.body}>
                    <div className={s.line1}>
                      {unread ? <span className={s.dot} aria-label="Unread" role="img" /> : null}
                      <span className={s.name}>{customerLabel(c)}</span>
                      <time className={s.time} dateTime={c.last_message_at ?? undefined}>
                        {listTime(c.last_message_at, now)}
                      </time>
                    </div>
                    <div className={s.line2}>
                      <ChannelIcon channel={c.channel} size={14} />
                      <span className={s.preview}>{c.last_message_preview || '—'}</span>
                    </div>
                    <div className={s.line3}>
                      <StatusBadge status={c.status} />
                      {c.priority !== 'normal' ? <PriorityBadge priority={c.priority} title={c.priority_reason || PRIORITY_META[c.priority]?.label} /> : null}
                      {c.needs_human ? (
                        <span className={s.flag} title={c.needs_human_reason}>
                          <Icon name="alert" size={12} /> Needs a person
                        </span>
                      ) : null}
                      <span className={s.assignee}>
                        {c.assignee_id ? agentName(c.assignee_id) : c.team_id ? teamName(c.team_id) : c.handled_by === 'ai' ? 'AI' : 'Unassigned'}
                      </span>
                      {wait.level !== 'none' ? (
                        <span className={`${s.wait} ${s[`wait-${wait.level}`]}`} title="Waiting for a reply">
                          <Icon name="clock" size={12} />
                          {shortDuration(wait.ms)}
                        </span>
                      ) : null}
                    </div>
                  </div>
                </div>
              );
            })}
          </div>
        )}
        {query.isFetchingNextPage ? <div className={s.more}>Loading more…</div> : null}
      </div>
    </section>
  );
}
