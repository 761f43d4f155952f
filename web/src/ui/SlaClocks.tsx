// The conversation's SLA clocks in its header (the guide's "SLA warning"): time left on each
// response target, amber once at risk, red once breached, grey while Pending pauses them.
// Re-read whenever the conversation changes (its version) and when an SLA notification about it
// arrives; the countdown itself runs here between reads.

import { useQuery } from '@tanstack/react-query';
import { getConversationSla } from '../api/notifications';
import { useNow } from '../hooks/useNow';
import { slaClocks, type SlaState } from '../state/sla';
import { Icon } from './icons';
import s from './Conversation.module.css';

const STATE_WORD: Record<SlaState, string> = { ok: '', at_risk: 'at risk', breached: 'breached', paused: '', met: '' };

export function SlaClocks({ conversationId, version }: { conversationId: string; version: number }) {
  const now = useNow(1_000);
  const q = useQuery({
    queryKey: ['sla', conversationId, version],
    queryFn: () => getConversationSla(conversationId),
    refetchInterval: 60_000,
    staleTime: 5_000,
    placeholderData: (previous, query) => (query?.queryKey[1] === conversationId ? previous : undefined),
    retry: 1,
  });
  const clocks = slaClocks(q.data?.items ?? [], now);
  if (!clocks.length) return null;
  return (
    <span className={s.sla} role="group" aria-label="SLA">
      {clocks.map((c) => (
        <span key={c.target} className={`${s.slaClock} ${s[`sla-${c.state}`] ?? ''}`} data-sla-state={c.state} title={`${c.label} target`}>
          <Icon name={c.state === 'met' ? 'check' : c.state === 'breached' || c.state === 'at_risk' ? 'alert' : 'clock'} size={12} />
          {c.label}: {c.text}
          {STATE_WORD[c.state] ? <strong> · {STATE_WORD[c.state]}</strong> : null}
        </span>
      ))}
    </span>
  );
}
