import { useEffect, useRef, useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import type { Conversation } from '../api/types';
import { customerLabel } from '../state/format';
import { displayKeys } from '../state/shortcuts';
import { ChannelIcon, Icon } from './icons';
import { StatusBadge } from './common';
import s from './SearchPalette.module.css';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Result =
  | { state: 'idle' }
  | { state: 'loading' }
  | { state: 'unavailable' }
  | { state: 'error'; message: string }
  | { state: 'done'; items: api.SearchHit[] };

/** Marks the query's words in a fragment (the text is never parsed as HTML). */
function Highlighted({ text, query }: { text: string; query: string }) {
  const words = query
    .replace(/\w+:\S+/g, '')
    .split(/[\s"]+/)
    .filter((w) => w.length > 1)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!words.length) return <>{text}</>;
  const parts = text.split(new RegExp(`(${words.join('|')})`, 'gi'));
  return (
    <>
      {parts.map((p, i) => (i % 2 ? <mark key={i}>{p}</mark> : <span key={i}>{p}</span>))}
    </>
  );
}

export function SearchPalette({ onClose, onOpen }: { onClose: () => void; onOpen: (c: Conversation) => void }) {
  const [q, setQ] = useState('');
  const [result, setResult] = useState<Result>({ state: 'idle' });
  const [byId, setById] = useState<Conversation | null>(null);
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    input.current?.focus();
  }, []);

  useEffect(() => {
    const query = q.trim();
    setActive(0);
    if (!query) {
      setResult({ state: 'idle' });
      setById(null);
      return;
    }
    const ctrl = new AbortController();
    const t = setTimeout(async () => {
      setResult({ state: 'loading' });
      if (UUID.test(query)) {
        api.getConversation(query).then(setById, () => setById(null));
      } else setById(null);
      try {
        const answer = await api.searchConversations(query, ctrl.signal);
        setResult(answer.available ? { state: 'done', items: answer.items } : { state: 'unavailable' });
      } catch (e) {
        if ((e as Error).name !== 'AbortError') setResult({ state: 'error', message: messageOf(e) });
      }
    }, 200);
    return () => {
      clearTimeout(t);
      ctrl.abort();
    };
  }, [q]);

  const hits: Conversation[] = [
    ...(byId ? [byId] : []),
    ...(result.state === 'done' ? result.items.map((h) => h.conversation).filter((c) => c.id !== byId?.id) : []),
  ];

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
          } else if (e.key === 'Enter' && hits[active]) {
            e.preventDefault();
            onOpen(hits[active]);
          }
        }}
      >
        <div className={s.inputRow}>
          <Icon name="search" size={18} />
          <input
            ref={input}
            className={s.input}
            placeholder='Search: "refund request", phone:+1234567890, assigned:sarah@company.com'
            aria-label="Search conversations"
            aria-controls="search-results"
            aria-activedescendant={hits[active] ? `search-${hits[active].id}` : undefined}
            value={q}
            onChange={(e) => setQ(e.target.value)}
          />
          <kbd>{displayKeys('Mod+K')}</kbd>
        </div>
        <div className={s.body}>
          {result.state === 'idle' ? (
            <p className={s.hint}>
              Search by customer name, phone number, email address, message content or conversation ID.
            </p>
          ) : null}
          {result.state === 'loading' ? <p className={s.hint}>Searching…</p> : null}
          {result.state === 'unavailable' ? (
            <p className={s.notice} role="status">
              Search is not available yet on this server.{byId ? ' The conversation with this ID:' : ' A full conversation ID still opens it.'}
            </p>
          ) : null}
          {result.state === 'error' ? <p className={s.error} role="alert">{result.message}</p> : null}
          {result.state === 'done' && !hits.length ? <p className={s.hint}>No conversation matches.</p> : null}
          <ul id="search-results" className={s.results} role="listbox" aria-label="Results">
            {hits.map((c, i) => {
              const hit = result.state === 'done' ? result.items.find((h) => h.conversation.id === c.id) : undefined;
              return (
                <li
                  key={c.id}
                  id={`search-${c.id}`}
                  role="option"
                  aria-selected={i === active}
                  className={`${s.result} ${i === active ? s.active : ''}`}
                  onMouseEnter={() => setActive(i)}
                  onClick={() => onOpen(c)}
                >
                  <ChannelIcon channel={c.channel} size={16} />
                  <div className={s.text}>
                    <div className={s.name}>{customerLabel(c)}</div>
                    <div className={s.fragment}>
                      <Highlighted text={hit?.highlights[0]?.fragment ?? c.last_message_preview} query={q} />
                    </div>
                  </div>
                  <StatusBadge status={c.status} />
                </li>
              );
            })}
          </ul>
        </div>
      </div>
    </div>
  );
}
