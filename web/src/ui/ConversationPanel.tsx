import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { forwardRef, useEffect, useImperativeHandle, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import { keys } from '../api/keys';
import type { TypingState } from '../api/cache';
import type { Conversation, ExportFormat, Message, Priority, Status } from '../api/types';
import type { Actions } from '../app/actions';
import { useInbox } from '../app/context';
import { useNow } from '../hooks/useNow';
import { CHANNEL_LABEL, customerLabel, fullTime, messageTime, PRIORITY_META, STATUS_META } from '../state/format';
import { markSeen } from '../state/seen';
import { displayKeys, withShortcut } from '../state/shortcuts';
import type { OutboxItem } from '../state/outbox';
import { AssignDialog } from './AssignDialog';
import { Button, Dialog, Mark, Menu, MenuItem, PriorityBadge, Skeleton, StatusBadge, common } from './common';
import { Composer, type ComposerHandle } from './Composer';
import { ChannelIcon, Icon } from './icons';
import { SlaClocks } from './SlaClocks';
import { CallCard, Content, DeliveryTicks } from './MessageItem';
import s from './Conversation.module.css';

export interface ConversationPanelHandle {
  focusComposer: () => void;
  openAssign: () => void;
  openDownload: () => void;
}

type Entry = { kind: 'message'; m: Message; reactions: string[] } | { kind: 'call'; items: Message[] } | { kind: 'outbox'; item: OutboxItem };

/** Messages as the timeline shows them: reactions on their message, a call's items as one card. */
export function timeline(messages: Message[]): Entry[] {
  const byExternal = new Map(messages.filter((m) => m.external_id).map((m) => [m.external_id, m]));
  const reactions = new Map<string, string[]>();
  const entries: Entry[] = [];
  const calls = new Map<string, Message[]>();
  for (const m of messages) {
    const c = m.content;
    if (c.type === 'reaction' && byExternal.has(c.external_id)) {
      const target = byExternal.get(c.external_id)!.id;
      const list = reactions.get(target) ?? [];
      reactions.set(target, c.emoji ? [...list.filter((e) => e !== c.emoji), c.emoji] : list);
      continue;
    }
    if (c.type === 'call') {
      const items = calls.get(c.call_sid);
      if (items) {
        items.push(m);
        continue;
      }
      const fresh = [m];
      calls.set(c.call_sid, fresh);
      entries.push({ kind: 'call', items: fresh });
      continue;
    }
    entries.push({ kind: 'message', m, reactions: [] });
  }
  return entries.map((e) => (e.kind === 'message' ? { ...e, reactions: reactions.get(e.m.id) ?? [] } : e));
}

function senderLabel(m: Message, agentName: (id: string) => string): string {
  switch (m.sender_kind) {
    case 'customer':
      return 'Customer';
    case 'ai':
      return 'AI Agent';
    case 'system':
      return 'System';
    default:
      return agentName(m.sender_id) || 'Agent';
  }
}

export const ConversationPanel = forwardRef<
  ConversationPanelHandle,
  {
    id: string | null;
    actions: Actions;
    onBack: () => void;
    onProfile: () => void;
    onOpenConversation: (id: string) => void;
    customerShown: boolean;
  }
>(function ConversationPanel({ id, actions, onBack, onProfile, customerShown }, ref) {
  const { me, agentName, teamName, toast, outbox, settings } = useInbox();
  const composer = useRef<ComposerHandle>(null);
  const [dialog, setDialog] = useState<null | 'assign' | 'priority' | 'summary'>(null);
  const [menu, setMenu] = useState<null | 'status' | 'download' | 'more'>(null);
  const now = useNow(15_000);

  useImperativeHandle(ref, () => ({
    focusComposer: () => composer.current?.focus(),
    openAssign: () => setDialog('assign'),
    openDownload: () => setMenu('download'),
  }));

  const conversation = useQuery({ queryKey: keys.conversation(id ?? ''), queryFn: () => api.getConversation(id!), enabled: !!id });
  const messages = useInfiniteQuery({
    queryKey: keys.messages(id ?? ''),
    queryFn: ({ pageParam }) => api.listMessages(id!, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    enabled: !!id,
  });
  // The full history: every page, oldest first.
  useEffect(() => {
    if (messages.hasNextPage && !messages.isFetchingNextPage) void messages.fetchNextPage();
  }, [messages]);
  const calls = useQuery({
    queryKey: keys.calls(id ?? ''),
    queryFn: () => api.listCalls(id!),
    enabled: !!id && conversation.data?.channel === 'telephony',
  });
  const summary = useQuery({ queryKey: keys.summary(id ?? ''), queryFn: () => api.getSummary(id!), enabled: !!id });
  const viewers = useQuery<string[]>({ queryKey: keys.viewers(id ?? ''), queryFn: () => [], enabled: false, initialData: [] });
  const typing = useQuery<TypingState>({ queryKey: keys.typing(id ?? ''), queryFn: () => ({}), enabled: false, initialData: {} });
  const outboxVersion = useSyncExternalStore(
    (l) => outbox.subscribe(l),
    () => outbox.version,
  );
  const pending = useMemo(() => (id ? outbox.list(id) : []), [outbox, outboxVersion, id]);

  const c = conversation.data;
  useEffect(() => {
    if (c) markSeen(me.id, c);
  }, [c, me.id]);

  const all = useMemo(() => messages.data?.pages.flatMap((p) => p.items) ?? [], [messages.data]);
  const entries = useMemo(() => timeline(all), [all]);
  const byExternal = useMemo(() => new Map(all.filter((m) => m.external_id).map((m) => [m.external_id, m])), [all]);

  // Stay at the newest message as messages arrive, unless the agent scrolled up to read.
  const scroller = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  useEffect(() => {
    const el = scroller.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [entries.length, pending.length, id]);
  useEffect(() => {
    pinned.current = true;
  }, [id]);

  if (!id) {
    return (
      <section className={s.panel} data-region="conversation" data-panel aria-label="Conversation">
        <div className={s.empty}>
          <p>Select a conversation to read it.</p>
          <p className={s.muted}>
            <kbd>↑</kbd> <kbd>↓</kbd> to move, <kbd>Enter</kbd> to open, <kbd>{displayKeys('Mod+/')}</kbd> for every shortcut.
          </p>
        </div>
      </section>
    );
  }

  if (conversation.isError) {
    return (
      <section className={s.panel} data-region="conversation" data-panel aria-label="Conversation">
        <div className={common.state} role="alert">
          <p>This conversation could not be loaded: {messageOf(conversation.error)}</p>
          <Button onClick={() => void conversation.refetch()}>Retry</Button> <Button onClick={onBack}>Back to the list</Button>
        </div>
      </section>
    );
  }

  const run = async (what: string, f: () => Promise<unknown>) => {
    setMenu(null);
    try {
      await f();
      toast(what);
    } catch (e) {
      toast(messageOf(e), 'error');
    }
  };

  const typingAgents = Object.entries(typing.data ?? {})
    .filter(([agent, until]) => agent !== me.id && until > Date.now())
    .map(([agent]) => agentName(agent));
  const threshold = settings?.ai_confidence_threshold ?? 0.6;

  return (
    <section className={s.panel} data-region="conversation" data-panel aria-label="Conversation" aria-busy={conversation.isPending}>
      <header className={s.head}>
        <div className={s.titleRow}>
          <button type="button" className={s.back} onClick={onBack} aria-label="Back to the list">
            <Icon name="back" size={20} />
          </button>
          {c ? (
            <>
              <h2 className={s.title}>{customerLabel(c)}</h2>
              <span className={s.channel}>
                <ChannelIcon channel={c.channel} size={15} /> {CHANNEL_LABEL[c.channel]}
              </span>
              <div className={s.menuWrap}>
                <StatusBadge status={c.status} onClick={() => setMenu(menu === 'status' ? null : 'status')} title={`Change status (${displayKeys('Mod+1')}…${displayKeys('Mod+4')})`} />
                {menu === 'status' ? (
                  <Menu onClose={() => setMenu(null)}>
                    {(['active', 'pending', 'resolved', 'archived'] as Status[]).map((st, i) => (
                      <MenuItem key={st} kbd={displayKeys(`Mod+${i + 1}`)} onSelect={() => void run(`Marked ${STATUS_META[st].label}`, () => actions.setStatus(c.id, st))}>
                        <Mark kind={st} /> {st === 'archived' ? 'Archive' : `Mark ${STATUS_META[st].label.toLowerCase()}`}
                      </MenuItem>
                    ))}
                  </Menu>
                ) : null}
              </div>
            </>
          ) : (
            <Skeleton width={220} height={18} />
          )}
        </div>
        {c ? (
          <div className={s.metaRow}>
            <span>
              Assigned: <strong>{c.assignee_id ? agentName(c.assignee_id) : 'nobody'}</strong>
              {c.team_id ? ` · ${teamName(c.team_id)}` : ''}
            </span>
            <span className={s.metaItem}>
              Priority: <PriorityBadge priority={c.priority} onClick={() => setDialog('priority')} title={c.priority_reason || 'Change priority'} />
            </span>
            <span className={s.metaItem}>
              <Icon name="robot" size={14} /> {c.handled_by === 'ai' ? 'AI is handling it' : 'A person is handling it'}
            </span>
            <SlaClocks conversationId={c.id} version={c.version} />
            {(viewers.data ?? []).filter((v) => v !== me.id).length ? (
              <span className={`${s.metaItem} ${s.viewers}`} role="status">
                <Icon name="eye" size={14} /> {(viewers.data ?? []).filter((v) => v !== me.id).map((v) => agentName(v)).join(', ')} viewing
              </span>
            ) : null}
          </div>
        ) : null}
        {c ? (
          <div className={s.actions} role="toolbar" aria-label="Conversation actions">
            <Button onClick={() => composer.current?.focus()} title={withShortcut('Reply', 'reply')}>
              Reply <kbd>R</kbd>
            </Button>
            {c.handled_by === 'ai' ? (
              <Button variant="primary" onClick={() => void run('You took over from the AI', () => actions.takeOver(c.id))} title="Take over from the AI: you become the assignee and the AI stops">
                Take over
              </Button>
            ) : (
              <Button onClick={() => void run('Released to the AI', () => actions.release(c.id))} title="Hand the conversation back to the AI">
                Release to AI
              </Button>
            )}
            <Button onClick={() => setDialog('assign')} title={withShortcut('Assign or transfer', 'assign')}>
              Assign <kbd>A</kbd>
            </Button>
            <div className={s.menuWrap}>
              <Button onClick={() => setMenu(menu === 'download' ? null : 'download')} title={withShortcut('Download conversation', 'download')} aria-haspopup="menu" aria-expanded={menu === 'download'}>
                <Icon name="download" size={14} /> Download <kbd>D</kbd>
              </Button>
              {menu === 'download' ? (
                <Menu onClose={() => setMenu(null)}>
                  {(
                    [
                      ['json', 'JSON'],
                      ['csv', 'CSV'],
                      ['text', 'Transcript (text)'],
                    ] as [ExportFormat, string][]
                  ).map(([f, label]) => (
                    <MenuItem key={f} onSelect={() => void run(`Downloaded ${label}`, () => actions.download(c.id, f))}>
                      {label}
                    </MenuItem>
                  ))}
                </Menu>
              ) : null}
            </div>
            <div className={s.menuWrap}>
              <Button iconOnly aria-label="More actions" onClick={() => setMenu(menu === 'more' ? null : 'more')} aria-haspopup="menu" aria-expanded={menu === 'more'}>
                <Icon name="more" size={16} />
              </Button>
              {menu === 'more' ? (
                <Menu onClose={() => setMenu(null)} align="right">
                  <MenuItem onSelect={() => { setMenu(null); onProfile(); }}>View customer profile</MenuItem>
                  <MenuItem onSelect={() => { setMenu(null); setDialog('priority'); }}>Change priority…</MenuItem>
                  <MenuItem onSelect={() => { setMenu(null); setDialog('summary'); }}>Edit summary…</MenuItem>
                  {c.channel === 'telephony' ? (
                    <MenuItem onSelect={() => void run('Calling: your phone rings first', () => api.startCall(c.id))}>Call back</MenuItem>
                  ) : null}
                </Menu>
              ) : null}
            </div>
            <Button className={`${s.profileBtn} ${customerShown ? '' : s.profileAlways}`} onClick={onProfile} aria-label="Profile" title="View customer profile">
              <Icon name="user" size={14} /> Profile
            </Button>
          </div>
        ) : null}
      </header>

      {c?.needs_human ? (
        <div className={s.needsHuman} role="note">
          <Icon name="alert" size={15} /> <strong>Needs a person:</strong> {c.needs_human_reason || 'the AI asked for help'}
          {c.handled_by === 'ai' ? (
            <Button variant="primary" onClick={() => void run('You took over from the AI', () => actions.takeOver(c.id))}>
              Take over
            </Button>
          ) : null}
        </div>
      ) : null}

      <div className={s.scroll} ref={scroller} onScroll={(e) => {
        const el = e.currentTarget;
        pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
      }}>
        {c ? <Context c={c} summary={summary.data?.text || c.summary} summarySource={summary.data?.source} /> : null}
        <ol className={s.timeline} aria-label="Messages" aria-live="polite" aria-relevant="additions">
          {messages.isPending ? (
            <li className={s.loading}>
              <Skeleton width="60%" height={40} />
              <Skeleton width="45%" height={40} />
            </li>
          ) : messages.isError ? (
            <li className={common.state} role="alert">
              Messages could not be loaded: {messageOf(messages.error)} <Button onClick={() => void messages.refetch()}>Retry</Button>
            </li>
          ) : null}
          {entries.map((e) =>
            e.kind === 'call' ? (
              <li key={e.items[0].id} className={s.callItem}>
                <CallCard
                  items={e.items}
                  call={calls.data?.items.find((x) => e.items[0].content.type === 'call' && x.call_sid === e.items[0].content.call_sid)}
                  onDisposition={(d) =>
                    void run('Disposition saved', async () => {
                      const sid = e.items[0].content.type === 'call' ? e.items[0].content.call_sid : '';
                      await api.setCallDisposition(e.items[0].conversation_id, sid, d);
                      await calls.refetch();
                    })
                  }
                />
              </li>
            ) : e.kind === 'message' ? (
              <MessageRow key={e.m.id} m={e.m} reactions={e.reactions} quoted={e.m.content.reply_to ? byExternal.get(e.m.content.reply_to.external_id) : null} who={senderLabel(e.m, agentName)} threshold={threshold} />
            ) : null,
          )}
          {pending.map((item) => (
            <PendingRow key={item.key} item={item} />
          ))}
        </ol>
        {typingAgents.length ? (
          <p className={s.typing} role="status">
            <span className={s.typingDot} /> {typingAgents.join(', ')} {typingAgents.length === 1 ? 'is' : 'are'} typing…
          </p>
        ) : null}
      </div>

      {c ? <Composer ref={composer} conversation={c} now={now} /> : null}

      {dialog === 'assign' && c ? (
        <AssignDialog
          title={c.assignee_id ? 'Transfer conversation' : 'Assign conversation'}
          currentAssignee={c.assignee_id}
          currentTeam={c.team_id}
          onClose={() => setDialog(null)}
          onAssign={async (t) => {
            const r = await actions.assign(c.id, t);
            toast(r.outcome === 'waiting' ? 'Waiting in the team until someone is available' : r.outcome === 'unchanged' ? 'Already assigned so' : 'Assigned');
          }}
        />
      ) : null}
      {dialog === 'priority' && c ? <PriorityDialog c={c} onClose={() => setDialog(null)} onSave={(p, reason) => actions.setPriority(c.id, p, reason)} /> : null}
      {dialog === 'summary' && c ? <SummaryDialog c={c} text={summary.data?.text ?? c.summary} onClose={() => setDialog(null)} /> : null}
    </section>
  );
});

/** Who changed the status and the assignment, and why (fetched when the details are opened). */
function History({ c }: { c: Conversation }) {
  const { agentName, teamName } = useInbox();
  const statuses = useQuery({ queryKey: ['status-history', c.id, c.version], queryFn: () => api.statusHistory(c.id) });
  const assignments = useQuery({ queryKey: ['assignment-history', c.id, c.version], queryFn: () => api.assignmentHistory(c.id) });
  const actor = (a: string) => (a.startsWith('user:') ? agentName(a) : a === 'customer' ? 'the customer' : a.replace(/^system:|^service:/, 'automatic: '));
  const items = [
    ...(statuses.data?.items ?? []).map((x) => ({
      at: x.changed_at,
      text: `${STATUS_META[x.to]?.label ?? x.to} by ${actor(x.actor)}${x.reason ? ` (${x.reason})` : ''}`,
    })),
    ...(assignments.data?.items ?? []).map((x) => ({
      at: x.changed_at,
      text: `${x.assignee_id ? `Assigned to ${agentName(x.assignee_id)}` : x.team_id ? `Waiting in ${teamName(x.team_id)}` : 'Unassigned'} by ${actor(x.actor)}${x.note ? `: “${x.note}”` : ''}`,
    })),
  ].sort((a, b) => Date.parse(a.at ?? '') - Date.parse(b.at ?? ''));
  if (statuses.isPending || assignments.isPending) return <Skeleton width="60%" />;
  return (
    <ol className={s.history} aria-label="History">
      {items.map((x, i) => (
        <li key={i}>
          <time>{messageTime(x.at)}</time> {x.text}
        </li>
      ))}
    </ol>
  );
}

function Context({ c, summary, summarySource }: { c: Conversation; summary: string; summarySource?: string }) {
  const v = c.visitor;
  const [open, setOpen] = useState(false);
  return (
    <section className={s.context} aria-label="Summary and details">
      {summary ? (
        <p className={s.summary}>
          <strong>{summarySource === 'ai' ? 'AI summary' : 'Summary'}:</strong> {summary}
        </p>
      ) : null}
      <details className={s.metadata} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
        <summary>Details and history</summary>
        <dl>
          <dt>Conversation</dt>
          <dd className={s.mono}>{c.id}</dd>
          <dt>Channel</dt>
          <dd>
            {CHANNEL_LABEL[c.channel]} · {c.customer_address}
          </dd>
          <dt>Started</dt>
          <dd>{fullTime(c.created_at)}</dd>
          <dt>Status</dt>
          <dd>
            {STATUS_META[c.status].label} since {fullTime(c.status_changed_at)}
          </dd>
          <dt>Priority</dt>
          <dd>
            {PRIORITY_META[c.priority].label} ({c.priority_source}
            {c.priority_reason ? `: ${c.priority_reason}` : ''})
          </dd>
          <dt>Customer last wrote</dt>
          <dd>{fullTime(c.last_customer_message_at) || '—'}</dd>
        </dl>
        {open ? <History c={c} /> : null}
      </details>
      {v ? (
        <div className={s.visitor} aria-label="Web chat visitor">
          <strong>Visitor</strong> {v.name || 'anonymous'}
          {v.email ? ` · ${v.email}` : ''} · {v.browser || 'unknown browser'} · {v.locale || 'unknown language'}
          {v.current_page ? (
            <div>
              On{' '}
              <a href={v.current_page.url} target="_blank" rel="noreferrer">
                {v.current_page.title || v.current_page.url}
              </a>
            </div>
          ) : null}
          {v.pages.length > 1 ? (
            <details>
              <summary>Pages visited ({v.pages.length})</summary>
              <ol className={s.pages}>
                {v.pages.map((p, i) => (
                  <li key={i}>
                    <time>{messageTime(p.at)}</time> {p.title || p.url}
                  </li>
                ))}
              </ol>
            </details>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function MessageRow({ m, reactions, quoted, who, threshold }: { m: Message; reactions: string[]; quoted?: Message | null; who: string; threshold: number }) {
  const side = m.sender_kind === 'customer' ? s.left : m.sender_kind === 'system' ? s.center : s.right;
  const tint = m.internal_note ? s.note : m.sender_kind === 'ai' ? s.ai : m.sender_kind === 'agent' ? s.agent : m.sender_kind === 'system' ? s.system : s.customer;
  const low = m.ai_confidence !== undefined && m.ai_confidence < threshold;
  return (
    <li className={`${s.message} ${side}`} data-message-id={m.id}>
      <div className={`${s.bubble} ${tint}`}>
        <div className={s.who}>
          {m.internal_note ? (
            <span className={s.noteTag}>
              <Icon name="note" size={12} /> Internal note · only your team sees this
            </span>
          ) : null}
          <span>{who}</span>
          {m.ai_confidence !== undefined ? (
            <span className={`${s.confidence} ${low ? s.lowConfidence : ''}`} title={low ? `Below the threshold ${threshold.toFixed(2)}` : undefined}>
              confidence {m.ai_confidence.toFixed(2)}
            </span>
          ) : null}
        </div>
        <Content m={m} quoted={quoted} />
        <div className={s.stamp}>
          {m.internal_note ? null : <ChannelIcon channel={m.channel} size={11} />}
          <time dateTime={m.sent_at ?? undefined} title={fullTime(m.sent_at)}>
            {messageTime(m.sent_at)}
          </time>
          {m.sender_kind !== 'customer' && !m.internal_note ? <DeliveryTicks m={m} /> : null}
        </div>
      </div>
      {reactions.length ? (
        <div className={s.reactions} aria-label={`Reactions: ${reactions.join(' ')}`}>
          {reactions.join(' ')}
        </div>
      ) : null}
    </li>
  );
}

function PendingRow({ item }: { item: OutboxItem }) {
  const { outbox } = useInbox();
  const p = item.payload;
  const text = p.kind === 'template' ? p.preview : p.template ? `Template ${p.template.name}` : p.text;
  const note = p.kind === 'message' && p.internal_note;
  return (
    <li className={`${s.message} ${s.right}`}>
      <div className={`${s.bubble} ${note ? s.note : s.agent} ${s.pendingBubble}`}>
        {note ? <div className={s.noteTag}>Internal note · only your team sees this</div> : null}
        <p className={s.text}>{text}</p>
        <div className={s.stamp}>
          {item.state === 'failed' ? (
            <span className={s.failed} role="alert">
              Not sent: {item.error?.message}{' '}
              {item.error?.status === 409 ? <span>Review the conversation, then </span> : null}
              <button type="button" className={s.inlineBtn} onClick={() => outbox.retry(item.key)}>
                send again
              </button>{' '}
              ·{' '}
              <button type="button" className={s.inlineBtn} onClick={() => outbox.discard(item.key)}>
                discard
              </button>
            </span>
          ) : (
            <span className={s.tick}>
              <Icon name="clock" size={12} /> {item.state === 'sending' ? 'sending…' : navigator.onLine ? 'waiting to send' : 'queued until you are online'}
            </span>
          )}
        </div>
      </div>
    </li>
  );
}

function PriorityDialog({ c, onClose, onSave }: { c: Conversation; onClose: () => void; onSave: (p: Priority, reason: string) => Promise<unknown> }) {
  const [p, setP] = useState<Priority>(c.priority);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    try {
      await onSave(p, reason);
      onClose();
    } catch (e) {
      setError(messageOf(e));
    }
  };
  return (
    <Dialog
      title="Priority"
      onClose={onClose}
      onSubmit={() => void save()}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit">
            Save
          </Button>
        </>
      }
    >
      <div role="radiogroup" aria-label="Priority level" className={s.priorityChoices}>
        {(['urgent', 'high', 'normal', 'low'] as Priority[]).map((x) => (
          <label key={x} className={`${s.priorityChoice} ${p === x ? s.priorityOn : ''}`}>
            <input type="radio" name="priority" checked={p === x} onChange={() => setP(x)} />
            <Mark kind={x} /> {PRIORITY_META[x].label}
          </label>
        ))}
      </div>
      <div className={common.field}>
        <label htmlFor="priority-reason">Reason (optional)</label>
        <input id="priority-reason" className={common.input} value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. VIP customer, service outage" />
      </div>
      {c.priority_reason ? <p className={common.hint}>Now: {c.priority_reason}</p> : null}
      {error ? <p className={common.error} role="alert">{error}</p> : null}
    </Dialog>
  );
}

function SummaryDialog({ c, text, onClose }: { c: Conversation; text: string; onClose: () => void }) {
  const [value, setValue] = useState(text);
  const [error, setError] = useState<string | null>(null);
  const { toast } = useInbox();
  return (
    <Dialog
      title="Conversation summary"
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button
            variant="primary"
            onClick={async () => {
              try {
                await api.setSummary(c.id, value);
                toast('Summary saved');
                onClose();
              } catch (e) {
                setError(messageOf(e));
              }
            }}
          >
            Save
          </Button>
        </>
      }
    >
      <textarea className={common.input} rows={5} value={value} onChange={(e) => setValue(e.target.value)} aria-label="Summary" data-autofocus />
      {error ? <p className={common.error} role="alert">{error}</p> : null}
    </Dialog>
  );
}
