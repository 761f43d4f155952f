import { useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import type { Call, Disposition, Message, MessageContent } from '../api/types';
import { duration, fullTime, messageTime } from '../state/format';
import { ChannelIcon, Icon } from './icons';
import s from './Conversation.module.css';

type CallContent = Extract<MessageContent, { type: 'call' }>;

/** A media file of the conversation, fetched with the token only when asked for. */
function MediaLoader({ conversationId, mediaId, kind, label }: { conversationId: string; mediaId: string; kind: string; label: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (url) {
    if (kind === 'image' || kind === 'sticker') return <img className={s.image} src={url} alt={label} />;
    if (kind === 'audio' || kind === 'voice' || kind === 'recording') return <audio className={s.audio} src={url} controls autoPlay aria-label={label} />;
    if (kind === 'video') return <video className={s.image} src={url} controls aria-label={label} />;
    return (
      <a href={url} download={label}>
        Save {label}
      </a>
    );
  }
  return (
    <span className={s.mediaRow}>
      <button
        type="button"
        className={s.mediaBtn}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            setUrl(await api.fetchMediaUrl(conversationId, mediaId));
          } catch (e) {
            setError(messageOf(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        <Icon name={kind === 'image' || kind === 'document' ? 'download' : 'play'} size={14} />
        {busy ? 'Loading…' : kind === 'image' ? `Show ${label}` : kind === 'document' ? `Open ${label}` : `Play ${label}`}
      </button>
      {error ? <span className={s.mediaError}>{error}</span> : null}
    </span>
  );
}

export function Content({ m, quoted }: { m: Message; quoted?: Message | null }) {
  const c = m.content;
  const reply = c.reply_to?.external_id ? (
    <div className={s.quote}>
      <span className={s.quoteLabel}>Reply to</span> {quoted ? previewOf(quoted) : 'an earlier message'}
    </div>
  ) : null;
  let body: React.ReactNode;
  switch (c.type) {
    case 'text':
      body = <p className={s.text}>{c.text}</p>;
      break;
    case 'media':
      body = (
        <div className={s.media}>
          <span className={s.mediaKind}>{c.kind === 'voice' ? 'Voice note' : c.kind[0].toUpperCase() + c.kind.slice(1)}</span>
          {c.media_id ? (
            <MediaLoader conversationId={m.conversation_id} mediaId={c.media_id} kind={c.kind} label={c.filename || c.kind} />
          ) : c.url ? (
            <a href={c.url} target="_blank" rel="noreferrer">
              {c.filename || c.url}
            </a>
          ) : null}
          {c.caption ? <p className={s.text}>{c.caption}</p> : null}
        </div>
      );
      break;
    case 'location':
      body = (
        <p className={s.text}>
          {c.name || 'Location'} {c.address ? `· ${c.address}` : ''}{' '}
          <a href={`https://www.openstreetmap.org/?mlat=${c.latitude}&mlon=${c.longitude}`} target="_blank" rel="noreferrer">
            {c.latitude.toFixed(4)}, {c.longitude.toFixed(4)}
          </a>
        </p>
      );
      break;
    case 'contacts':
      body = (
        <ul className={s.contacts}>
          {c.contacts.map((k, i) => (
            <li key={i}>
              <strong>{k.formatted_name}</strong> {k.phones.map((p) => p.phone).join(', ')} {k.emails.map((e) => e.email).join(', ')}
            </li>
          ))}
        </ul>
      );
      break;
    case 'interactive_reply':
      body = (
        <p className={s.text}>
          <span className={s.buttonReply}>{c.title}</span> {c.description}
        </p>
      );
      break;
    case 'interactive_buttons':
      body = (
        <div>
          {c.header ? <strong>{c.header}</strong> : null}
          <p className={s.text}>{c.body}</p>
          <div className={s.buttons}>
            {c.buttons.map((b) => (
              <span key={b.id} className={s.buttonReply}>
                {b.title}
              </span>
            ))}
          </div>
          {c.footer ? <small>{c.footer}</small> : null}
        </div>
      );
      break;
    case 'whatsapp_template':
      body = (
        <p className={s.text}>
          <span className={s.templateTag}>Template {c.name}</span>{' '}
          {c.components.flatMap((x) => x.parameters.map((p) => p.text)).filter(Boolean).join(' · ')}
        </p>
      );
      break;
    case 'reaction':
      body = <p className={s.text}>Reacted {c.emoji || '(removed)'}</p>;
      break;
    case 'unsupported':
      body = <p className={`${s.text} ${s.muted}`}>Unsupported message ({c.provider_type}) {c.description}</p>;
      break;
    default:
      body = <p className={`${s.text} ${s.muted}`}>(no content)</p>;
  }
  return (
    <>
      {reply}
      {body}
    </>
  );
}

export function previewOf(m: Message): string {
  const c = m.content;
  switch (c.type) {
    case 'text':
      return c.text.length > 80 ? c.text.slice(0, 80) + '…' : c.text;
    case 'media':
      return c.caption || `[${c.kind}]`;
    default:
      return `[${c.type}]`;
  }
}

export function DeliveryTicks({ m }: { m: Message }) {
  if (m.pending === 'queued') return <span className={s.tick} title="Queued: sent when you are back online"><Icon name="clock" size={12} /> queued</span>;
  if (m.pending === 'sending') return <span className={s.tick} title="Sending"><Icon name="clock" size={12} /></span>;
  const d = m.delivery;
  if (!d) return null;
  switch (d.state) {
    case 'queued':
      return <span className={s.tick} title="Queued"><Icon name="clock" size={12} /></span>;
    case 'accepted':
    case 'sent':
      return <span className={s.tick} title={d.state === 'sent' ? 'Sent' : 'Accepted by the channel'} aria-label="Sent"><Icon name="check" size={13} /></span>;
    case 'delivered':
      return <span className={s.tick} title="Delivered" aria-label="Delivered"><Icon name="checks" size={14} /></span>;
    case 'read':
      return <span className={`${s.tick} ${s.read}`} title="Read" aria-label="Read"><Icon name="checks" size={14} /></span>;
    case 'failed':
      return (
        <span className={s.failed} title={[d.error?.title, d.error?.details].filter(Boolean).join(': ')}>
          Not delivered{d.error?.title ? `: ${d.error.title}` : ''}
        </span>
      );
    default:
      return null;
  }
}

const DISPOSITION: Record<string, string> = { answered: 'Answered', missed: 'Missed', voicemail: 'Voicemail', busy: 'Busy', failed: 'Failed' };

/** Every item of one call as one card: outcome, length, recordings and voicemail, transcripts folded. */
export function CallCard({ items, call, onDisposition }: { items: Message[]; call?: Call; onDisposition?: (d: Disposition | null) => void }) {
  const calls = items.map((m) => m.content as CallContent);
  const first = calls[0];
  // The call's own disposition (agent's, else automatic from all its items) when known.
  const disposition = call ? call.disposition : ([...calls].reverse().find((c) => c.disposition)?.disposition ?? null);
  const seconds = Math.max(0, ...calls.map((c) => c.duration_seconds || 0));
  const recordings = calls.filter((c) => c.recording).map((c) => c.recording!);
  const transcripts = calls.filter((c) => c.transcript?.text).map((c) => c.transcript!);
  const outbound = first.direction.startsWith('outbound');
  return (
    <div className={s.call} aria-label="Call">
      <div className={s.callHead}>
        <ChannelIcon channel="telephony" size={16} />
        <strong>{outbound ? 'Outgoing call' : 'Incoming call'}</strong>
        <span className={`${s.disposition} ${s[`d-${disposition ?? 'none'}`] ?? ''}`}>{disposition ? DISPOSITION[disposition] : 'In progress'}</span>
        {seconds ? <span className={s.muted}>{duration(seconds)}</span> : null}
        <time className={s.muted} dateTime={items[0].sent_at ?? undefined} title={fullTime(items[0].sent_at)}>
          {messageTime(items[0].sent_at)}
        </time>
      </div>
      <div className={s.muted}>
        {first.caller_name ? `${first.caller_name} · ` : ''}
        {first.from} → {first.to}
        {call?.agent_disposition ? ' · set by an agent' : ''}
      </div>
      {call && onDisposition ? (
        <label className={s.dispositionEdit}>
          Disposition{' '}
          <select
            value={call.agent_disposition ?? ''}
            onChange={(e) => onDisposition((e.target.value || null) as Disposition | null)}
            aria-label="Call disposition"
          >
            <option value="">Automatic ({call.auto_disposition ? DISPOSITION[call.auto_disposition] : 'none yet'})</option>
            {Object.entries(DISPOSITION).map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {recordings.map((r) => (
        <div key={r.recording_sid} className={s.recording}>
          <span>{r.voicemail ? 'Voicemail' : 'Recording'} ({duration(r.duration_seconds)})</span>
          <MediaLoader conversationId={items[0].conversation_id} mediaId={r.recording_sid} kind="recording" label={r.voicemail ? 'voicemail' : 'recording'} />
        </div>
      ))}
      {transcripts.map((t) => (
        <details key={t.transcription_sid} className={s.transcript}>
          <summary>Transcript</summary>
          <p>{t.text}</p>
        </details>
      ))}
    </div>
  );
}
