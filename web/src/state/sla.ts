// A conversation's SLA clocks as the agent reads them (the guide's "SLA warning", docs/
// notifications.md "SLA policies"): how long is left, at risk once the warning share is
// reached, breached once due; paused while the conversation is Pending; met when answered.

import type { SlaTimer } from '../api/notifications';
import { shortDuration } from './format';

export type SlaState = 'ok' | 'at_risk' | 'breached' | 'paused' | 'met';

export interface SlaClock {
  target: string;
  label: string;
  state: SlaState;
  /** Time left (negative: overdue), ms; 0 for a clock that stopped. */
  leftMs: number;
  /** What the badge says: "12m left", "overdue 5m", "paused · 40m left", "met". */
  text: string;
}

/** Time left as the clock shows it: seconds in the last minute, else as the list's clocks. */
function left(ms: number): string {
  return ms < 60_000 ? `${Math.max(0, Math.ceil(ms / 1000))}s` : shortDuration(ms);
}

const LABELS: Record<string, string> = {
  first_response: 'First response',
  next_response: 'Next response',
  resolution: 'Resolution',
};

export function slaClock(t: SlaTimer, now: number): SlaClock {
  const label = LABELS[t.target] ?? t.target.replace(/_/g, ' ');
  const base = { target: t.target, label };
  if (t.stopped_at) {
    return t.breached_at
      ? { ...base, state: 'breached', leftMs: 0, text: 'missed' }
      : { ...base, state: 'met', leftMs: 0, text: 'met' };
  }
  const byBudget = (t.target_seconds - t.elapsed_seconds) * 1000;
  const leftMs = t.paused || !t.due_at ? byBudget : Date.parse(t.due_at) - now;
  if (t.breached_at || leftMs <= 0) {
    return { ...base, state: 'breached', leftMs: Math.min(0, leftMs), text: `overdue ${left(Math.max(0, -leftMs))}` };
  }
  if (t.paused) return { ...base, state: 'paused', leftMs, text: `paused · ${left(leftMs)} left` };
  const atRisk = !!t.warned_at || (!!t.warning_at && Date.parse(t.warning_at) <= now);
  return { ...base, state: atRisk ? 'at_risk' : 'ok', leftMs, text: `${left(leftMs)} left` };
}

const ORDER: Record<SlaState, number> = { breached: 0, at_risk: 1, ok: 2, paused: 3, met: 4 };

/** The clocks worth showing, the most pressing first; clocks met long ago are left out. */
export function slaClocks(timers: SlaTimer[], now: number): SlaClock[] {
  const latest = new Map<string, SlaTimer>();
  // A target may have had several cycles (next response): the newest one counts.
  for (const t of timers) {
    const seen = latest.get(t.target);
    if (!seen || Date.parse(t.started_at ?? '') > Date.parse(seen.started_at ?? '')) latest.set(t.target, t);
  }
  return [...latest.values()]
    .map((t) => slaClock(t, now))
    .sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.leftMs - b.leftMs);
}
