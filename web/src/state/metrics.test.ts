import { describe, expect, it } from 'vitest';
import type { Figures } from '../api/metrics';
import { filledPoints, isEmptyFigures, liveTotals, percent, periodRange, reportQuery, seconds, startOfDayIn } from './metrics';

// A fixed instant, never today's date: 2031-03-10 15:30 in Paris (UTC+1 then).
const NOW = Date.parse('2031-03-10T14:30:00Z');

describe('the period picker', () => {
  it('reads today in the tenant time zone, by the hour', () => {
    expect(periodRange('today', 'Europe/Paris', NOW)).toEqual({
      ok: true,
      range: { from: '2031-03-09T23:00:00.000Z', to: '2031-03-10T23:00:00.000Z', bucket: 'hour' },
    });
  });

  it('reads 7 and 30 days as whole days ending today', () => {
    const week = periodRange('7d', 'UTC', NOW);
    expect(week).toEqual({ ok: true, range: { from: '2031-03-04T00:00:00.000Z', to: '2031-03-11T00:00:00.000Z', bucket: 'day' } });
    const month = periodRange('30d', 'UTC', NOW);
    expect(month.ok && month.range.from).toBe('2031-02-09T00:00:00.000Z');
  });

  it('takes a custom range of calendar days, across a clock change, and refuses nonsense', () => {
    // Paris moves to summer time on 2031-03-30.
    expect(periodRange('custom', 'Europe/Paris', NOW, { from: '2031-03-29', to: '2031-03-30' })).toEqual({
      ok: true,
      range: { from: '2031-03-28T23:00:00.000Z', to: '2031-03-30T22:00:00.000Z', bucket: 'day' },
    });
    expect(periodRange('custom', 'UTC', NOW, { from: '2031-03-05', to: '2031-03-05' })).toMatchObject({ ok: true, range: { bucket: 'hour' } });
    expect(periodRange('custom', 'UTC', NOW, { from: '2031-03-05', to: '2031-03-01' })).toMatchObject({ ok: false });
    expect(periodRange('custom', 'UTC', NOW, { from: '', to: '2031-03-01' })).toMatchObject({ ok: false });
    expect(startOfDayIn('America/New_York', '2031-07-04')).toBe(Date.parse('2031-07-04T04:00:00Z'));
  });

  it('gives the report and its CSV the same query', () => {
    const r = periodRange('7d', 'UTC', NOW);
    if (!r.ok) throw new Error(r.error);
    expect(reportQuery(r.range, 'agent')).toEqual({ from: r.range.from, to: r.range.to, bucket: 'day', group_by: 'agent' });
  });
});

describe('figures as people read them', () => {
  it('writes durations and shares, and a dash without data', () => {
    expect(seconds(45)).toBe('45s');
    expect(seconds(252)).toBe('4m 12s');
    expect(seconds(7500)).toBe('2h 5m');
    expect(seconds(0, 0)).toBe('–');
    expect(percent(0.834)).toBe('83%');
    expect(percent(0, 0)).toBe('–');
  });

  it('knows an empty period and sums the live groups', () => {
    const zero = { new_conversations: 0, resolutions: 0, customer_messages: 0, agent_messages: 0, ai_messages: 0, conversations_handled: 0 } as Figures;
    expect(isEmptyFigures(zero)).toBe(true);
    expect(isEmptyFigures({ ...zero, customer_messages: 1 })).toBe(false);
    const g = { group_id: null, active: 2, pending: 1, backlog: 3, backlog_unassigned: 1, new_today: 4, resolved_today: 1 };
    expect(liveTotals({ at: null, time_zone: 'UTC', group_by: 'team', groups: [g, g] })).toMatchObject({ active: 4, backlog: 6, new_today: 8 });
    expect(liveTotals(undefined).active).toBe(0);
  });
});

describe('the trend', () => {
  it('has a bar for every bucket of the range, empty ones at zero', () => {
    const r = periodRange('7d', 'Europe/Paris', NOW);
    if (!r.ok) throw new Error(r.error);
    const point = { bucket_start: '2031-03-08T23:00:00Z', n: 3 };
    const filled = filledPoints([point], r.range, 'Europe/Paris', (b) => ({ bucket_start: b, n: 0 }));
    expect(filled).toHaveLength(7);
    expect(filled.map((p) => p.n)).toEqual([0, 0, 0, 0, 0, 3, 0]);
    const today = periodRange('today', 'UTC', NOW);
    if (!today.ok) throw new Error(today.error);
    expect(filledPoints([], today.range, 'UTC', (b) => ({ bucket_start: b }))).toHaveLength(24);
  });
});
