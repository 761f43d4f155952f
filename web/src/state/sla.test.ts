import { describe, expect, it } from 'vitest';
import type { SlaTimer } from '../api/notifications';
import { slaClock, slaClocks } from './sla';

const T0 = Date.parse('2031-03-01T10:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();
const MIN = 60_000;

const timer = (over: Partial<SlaTimer> = {}): SlaTimer => ({
  target: 'first_response',
  target_seconds: 3600,
  started_at: at(0),
  elapsed_seconds: 0,
  paused: false,
  warning_at: at(48 * MIN),
  due_at: at(60 * MIN),
  warned_at: null,
  breached_at: null,
  stopped_at: null,
  ...over,
});

describe('SLA clocks', () => {
  it('counts down to the due time, at risk from the warning share, breached when due', () => {
    expect(slaClock(timer(), T0 + 10 * MIN)).toMatchObject({ label: 'First response', state: 'ok', text: '50m left' });
    expect(slaClock(timer(), T0 + 50 * MIN)).toMatchObject({ state: 'at_risk', text: '10m left' });
    expect(slaClock(timer({ warned_at: at(48 * MIN) }), T0 + 47 * MIN).state).toBe('at_risk');
    expect(slaClock(timer(), T0 + 65 * MIN)).toMatchObject({ state: 'breached', text: 'overdue 5m' });
    expect(slaClock(timer({ breached_at: at(60 * MIN) }), T0 + 59 * MIN).state).toBe('breached');
    // The last minute counts in seconds.
    expect(slaClock(timer(), T0 + 59 * MIN + 15_000).text).toBe('45s left');
    expect(slaClock(timer(), T0 + 60 * MIN + 20_000).text).toBe('overdue 20s');
  });

  it('stands still while paused, and says met or missed once stopped', () => {
    const paused = timer({ paused: true, elapsed_seconds: 1200, due_at: null });
    expect(slaClock(paused, T0 + 500 * MIN)).toMatchObject({ state: 'paused', text: 'paused · 40m left' });
    expect(slaClock(timer({ stopped_at: at(5 * MIN) }), T0 + 500 * MIN)).toMatchObject({ state: 'met', text: 'met' });
    expect(slaClock(timer({ stopped_at: at(70 * MIN), breached_at: at(60 * MIN) }), T0).state).toBe('breached');
  });

  it('shows the newest cycle of each target, the most pressing first', () => {
    const clocks = slaClocks(
      [
        timer({ target: 'resolution', target_seconds: 86_400, due_at: at(1440 * MIN), warning_at: at(1152 * MIN) }),
        timer({ target: 'next_response', started_at: at(0), stopped_at: at(MIN) }),
        timer({ target: 'next_response', started_at: at(30 * MIN), due_at: at(40 * MIN), warning_at: at(38 * MIN) }),
        timer(),
      ],
      T0 + 39 * MIN,
    );
    expect(clocks.map((c) => [c.target, c.state])).toEqual([
      ['next_response', 'at_risk'],
      ['first_response', 'ok'],
      ['resolution', 'ok'],
    ]);
  });
});
