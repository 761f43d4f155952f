import { useEffect, useRef, useState } from 'react';
import * as api from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import type { Conversation } from '../api/types';
import { customerLabel, formatPhone, listTime } from '../state/format';
import {
  bestHighlight,
  fieldLabel,
  isSearchable,
  nameHighlight,
  operatorHighlight,
  piecesOf,
  QUERY_EXAMPLES,
  queryProblem,
  splitAtColumn,
  type Highlight,
  type QueryProblem,
} from '../state/search';
import { displayKeys } from '../state/shortcuts';
import { ChannelIcon, Icon } from './icons';
import { StatusBadge } from './common';
import s from './SearchPalette.module.css';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Type-ahead: a request once typing pauses this long. */
export const DEBOUNCE_MS = 150;
/** The gateway refuses longer queries without asking search (docs/search.md). */
const MAX_QUERY = 1000;

type Result =
  | { state: 'idle' }
  /** No `/v1/search` on this server (404/405): a full conversation id still opens it. */
  | { state: 'unavailable' }
  /** Search is down (503) or did not answer: try again. */
  | { state: 'down'; message: string }
  | { state: 'problem'; query: string; problem: QueryProblem }
  | { state: 'error'; message: string }
  | { state: 'done'; query: string; page: api.SearchPage };

type More = { state: 'idle' } | { state: 'loading' } | { state: 'error'; message: string };

/** A fragment with the server's matched ranges marked (the text is never parsed as HTML). */
function Marked({ highlight }: { highlight: Highlight }) {
  return (
    <>
      {piecesOf(highlight.fragment, highlight.ranges).map((p, i) =>
        p.mark ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>,
      )}
    </>
  );
}

function senderNote(hit: api.SearchHit): string | null {
  const m = hit.message;
  if (!m) return null;
  if (m.internal_note) return 'internal note';
  return { customer: 'customer', agent: 'agent', ai: 'AI', system: 'system' }[m.sender_kind] ?? null;
}

function Hit({ hit, understood }: { hit: api.SearchHit; understood: string }) {
  const c = hit.conversation;
  const phone = c.channel === 'webchat' ? null : formatPhone(c.customer_address);
  const best = bestHighlight(hit) ?? operatorHighlight(understood, { name: customerLabel(c), phone });
  const name = nameHighlight(hit);
  const sender = senderNote(hit);
  return (
    <>
      <ChannelIcon channel={c.channel} size={16} />
      <div className={s.text}>
        <div className={s.name}>
          {name && name !== best ? <Marked highlight={name} /> : customerLabel(c)}
          {hit.message?.sent_at ? <span className={s.when}>{listTime(hit.message.sent_at)}</span> : null}
        </div>
        {best ? (
          <div className={s.fragment} data-search-field={best.field}>
            <span className={s.matched}>
              {fieldLabel(best.field)}
              {sender ? ` · ${sender}` : ''}
            </span>
            {best.fragment ? <Marked highlight={best} /> : c.last_message_preview}
          </div>
        ) : (
          <div className={s.fragment}>{c.last_message_preview}</div>
        )}
      </div>
      <StatusBadge status={c.status} />
    </>
  );
}

function Examples({ onPick }: { onPick: (query: string) => void }) {
  return (
    <ul className={s.examples} aria-label="Query examples">
      {QUERY_EXAMPLES.map((e) => (
        <li key={e.query}>
          <button type="button" className={s.example} onClick={() => onPick(e.query)}>
            <code>{e.query}</code>
          </button>
          <span>{e.meaning}</span>
        </li>
      ))}
    </ul>
  );
}

/** The query with the character at the problem's column underlined and a caret under it. */
function Pointer({ query, column }: { query: string; column: number }) {
  const { before, at, after } = splitAtColumn(query, column);
  return (
    <div className={s.pointer} aria-hidden="true" data-search-error-column={column}>
      {before}
      <span className={s.at}>{at}</span>
      {after}
    </div>
  );
}

export function SearchPalette({ onClose, onOpen }: { onClose: () => void; onOpen: (c: Conversation) => void }) {
  const [q, setQ] = useState('');
  const [order, setOrder] = useState<api.SearchOrder>('relevance');
  const [attempt, setAttempt] = useState(0);
  const [result, setResult] = useState<Result>({ state: 'idle' });
  const [pending, setPending] = useState(false);
  const [more, setMore] = useState<More>({ state: 'idle' });
  const [byId, setById] = useState<Conversation | null>(null);
  const [active, setActive] = useState(0);
  const [scrollLeft, setScrollLeft] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  /** The request of the next page: aborted when the query or the order changes. */
  const moreCtrl = useRef<AbortController | null>(null);

  useEffect(() => {
    input.current?.focus();
  }, []);

  useEffect(() => {
    moreCtrl.current?.abort();
    setMore({ state: 'idle' });
    if (!isSearchable(q)) {
      setResult({ state: 'idle' });
      setPending(false);
      setById(null);
      return;
    }
    // The query goes as typed: a trailing space ends type-ahead, and error columns count from
    // the input's first character.
    const ctrl = new AbortController();
    setPending(true);
    const t = setTimeout(async () => {
      try {
        const answer = await api.searchConversations(q, { order, signal: ctrl.signal });
        if (ctrl.signal.aborted) return;
        if (answer.available) {
          setResult({ state: 'done', query: q, page: answer });
          setById(null);
        } else {
          setResult({ state: 'unavailable' });
          const id = q.trim();
          if (UUID.test(id)) api.getConversation(id).then((c) => !ctrl.signal.aborted && setById(c), () => setById(null));
          else setById(null);
        }
        setActive(0);
      } catch (e) {
        if (ctrl.signal.aborted || (e as Error).name === 'AbortError') return;
        if (e instanceof ApiError && e.status === 400) setResult({ state: 'problem', query: q, problem: queryProblem(e.message) });
        else if (e instanceof ApiError && e.isRetryable) setResult({ state: 'down', message: messageOf(e) });
        else setResult({ state: 'error', message: messageOf(e) });
      }
      setPending(false);
    }, DEBOUNCE_MS);
    return () => {
      clearTimeout(t);
      ctrl.abort();
    };
  }, [q, order, attempt]);

  useEffect(() => () => moreCtrl.current?.abort(), []);

  const done = result.state === 'done' ? result : null;
  const hits: api.SearchHit[] = done
    ? done.page.items
    : byId
      ? [{ conversation: byId, highlights: [], score: 0 }]
      : [];

  const activeId = hits[active]?.conversation.id;
  useEffect(() => {
    if (activeId) document.getElementById(`search-${activeId}`)?.scrollIntoView?.({ block: 'nearest' });
  }, [activeId]);

  async function loadMore() {
    if (!done?.page.next_cursor || more.state === 'loading') return;
    const ctrl = new AbortController();
    moreCtrl.current?.abort();
    moreCtrl.current = ctrl;
    setMore({ state: 'loading' });
    try {
      const answer = await api.searchConversations(done.query, { order, cursor: done.page.next_cursor, signal: ctrl.signal });
      if (ctrl.signal.aborted || !answer.available) return;
      setResult((r) => {
        if (r.state !== 'done' || r.query !== done.query) return r;
        const seen = new Set(r.page.items.map((h) => h.conversation.id));
        const items = [...r.page.items, ...answer.items.filter((h) => !seen.has(h.conversation.id))];
        return { ...r, page: { ...r.page, items, next_cursor: answer.next_cursor } };
      });
      setMore({ state: 'idle' });
    } catch (e) {
      if (ctrl.signal.aborted || (e as Error).name === 'AbortError') return;
      setMore({ state: 'error', message: messageOf(e) });
    }
  }

  function pick(query: string) {
    setQ(query);
    input.current?.focus();
  }

  function goToColumn(column: number) {
    const el = input.current;
    if (!el) return;
    const { before } = splitAtColumn(q, column);
    el.focus();
    el.setSelectionRange(before.length, before.length);
  }

  const problem = result.state === 'problem' && result.query === q ? result : null;
  const total = done?.page.facets?.total;

  return (
    <div className={s.backdrop} onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className={s.palette}
        role="dialog"
        aria-modal="true"
        aria-label="Search conversations"
        data-dialog
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            onClose();
          } else if (e.key === 'ArrowDown') {
            e.preventDefault();
            setActive((a) => Math.min(hits.length - 1, a + 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((a) => Math.max(0, a - 1));
          } else if (e.key === 'Enter' && e.target === input.current && hits[active]) {
            e.preventDefault();
            onOpen(hits[active].conversation);
          }
        }}
      >
        <div className={`${s.inputRow} ${problem ? s.invalid : ''}`}>
          <Icon name="search" size={18} />
          <div className={s.field}>
            <input
              ref={input}
              className={s.input}
              placeholder='Search: "refund request", phone:+1234567890, assigned:sarah@company.com'
              aria-label="Search conversations"
              aria-controls="search-results"
              aria-activedescendant={hits[active] ? `search-${hits[active].conversation.id}` : undefined}
              aria-invalid={problem ? true : undefined}
              aria-describedby={problem ? 'search-problem' : undefined}
              maxLength={MAX_QUERY}
              spellCheck={false}
              autoComplete="off"
              value={q}
              onChange={(e) => {
                setQ(e.target.value);
                setScrollLeft(e.target.scrollLeft);
              }}
              onScroll={(e) => setScrollLeft(e.currentTarget.scrollLeft)}
              onSelect={(e) => setScrollLeft(e.currentTarget.scrollLeft)}
            />
            {problem?.problem.column ? (
              // The same text in the same font over the input, invisible but for the mark under
              // the column where the query goes wrong.
              <div className={s.mirror} aria-hidden="true">
                <span style={{ transform: `translateX(${-scrollLeft}px)` }}>
                  {splitAtColumn(q, problem.problem.column).before}
                  <span className={s.mirrorAt} data-search-error-mark>
                    {splitAtColumn(q, problem.problem.column).at}
                  </span>
                </span>
              </div>
            ) : null}
          </div>
          {pending ? <span className={s.spinner} role="status" aria-label="Searching" /> : null}
          <kbd>{displayKeys('Mod+K')}</kbd>
        </div>
        <div className={s.toolbar}>
          <div className={s.order} role="group" aria-label="Order">
            {(['relevance', 'recent'] as const).map((o) => (
              <button key={o} type="button" aria-pressed={order === o} className={order === o ? s.on : ''} onClick={() => setOrder(o)}>
                {o === 'relevance' ? 'Relevance' : 'Recent'}
              </button>
            ))}
          </div>
          {total !== undefined ? (
            <span className={s.count} aria-live="polite">
              {total === 1 ? '1 conversation' : `${total.toLocaleString()} conversations`}
            </span>
          ) : null}
        </div>
        <div className={s.body} aria-busy={pending}>
          {result.state === 'idle' ? (
            <div className={s.hint}>
              <p>Search by customer name, phone number, email address, message content or conversation ID. For example:</p>
              <Examples onPick={pick} />
            </div>
          ) : null}
          {result.state === 'unavailable' ? (
            <p className={s.notice} role="status">
              Search is not available on this server.{byId ? ' The conversation with this ID:' : ' A full conversation ID still opens it.'}
            </p>
          ) : null}
          {result.state === 'down' ? (
            <div className={s.notice} role="alert">
              <p>Search is unavailable right now.</p>
              <button type="button" className={s.retry} onClick={() => setAttempt((a) => a + 1)}>
                Try again
              </button>
            </div>
          ) : null}
          {problem ? (
            <div className={s.problem} id="search-problem" role="alert">
              <p>
                {problem.problem.column ? `Column ${problem.problem.column}: ` : ''}
                {problem.problem.reason}
              </p>
              {problem.problem.column ? (
                <>
                  <Pointer query={q} column={problem.problem.column} />
                  <button type="button" className={s.retry} onClick={() => goToColumn(problem.problem.column!)}>
                    Put the cursor there
                  </button>
                </>
              ) : null}
            </div>
          ) : null}
          {result.state === 'error' ? (
            <p className={s.error} role="alert">
              {result.message}
            </p>
          ) : null}
          {done && !hits.length ? (
            <div className={s.hint} data-search-empty>
              <p>
                <strong>No conversation matches </strong>
                <code>{done.query.trim()}</code>. Every word must appear in one message or in the customer's name; try
                fewer words, or one of these:
              </p>
              <Examples onPick={pick} />
            </div>
          ) : null}
          <ul id="search-results" className={s.results} role="listbox" aria-label="Results">
            {hits.map((hit, i) => (
              <li
                key={hit.conversation.id}
                id={`search-${hit.conversation.id}`}
                role="option"
                aria-selected={i === active}
                className={`${s.result} ${i === active ? s.active : ''}`}
                onMouseEnter={() => setActive(i)}
                onClick={() => onOpen(hit.conversation)}
              >
                <Hit hit={hit} understood={done?.page.understood_query ?? ''} />
              </li>
            ))}
          </ul>
          {done?.page.next_cursor ? (
            <div className={s.more}>
              {more.state === 'error' ? <span className={s.error}>{more.message}</span> : null}
              <button type="button" className={s.retry} disabled={more.state === 'loading'} onClick={loadMore}>
                {more.state === 'loading' ? 'Loading…' : 'Load more'}
              </button>
            </div>
          ) : null}
        </div>
      </div>
    </div>
  );
}
