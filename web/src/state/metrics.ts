// The metrics dashboard's pure parts: the period picker's ranges in the tenant's time zone,
// the report's query, and the figures as people read them (docs/metrics.md).

import type { Figures, LiveFigures, Report } from '../api/metrics';
import { startOfTodayIn } from './match';

export type Period = 'today' | '7d' | '30d' | 'custom';
export type Grouping = 'tenant' | 'agent' | 'team' | 'channel';

export interface ReportRange {
  from: string;
  to: string;
  bucket: 'hour' | 'day';
}

const DAY = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The start of a calendar day (`YYYY-MM-DD`) in a time zone, as an instant. */
export function startOfDayIn(timeZone: string, date: string): number | null {
  const m = DATE.exec(date);
  if (!m) return null;
  const noonUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12);
  if (Number.isNaN(noonUtc)) return null;
  // Local noon of that day is within 12 hours of UTC noon for every zone but ±13/14.
  return startOfTodayIn(timeZone, noonUtc);
}

/** A period of the picker as a report range: hours for a single day, days otherwise. */
export function periodRange(
  period: Period,
  timeZone: string,
  now: number,
  custom?: { from: string; to: string },
): { ok: true; range: ReportRange } | { ok: false; error: string } {
  const today = startOfTodayIn(timeZone, now);
  const iso = (t: number) => new Date(t).toISOString();
  switch (period) {
    case 'today':
      return { ok: true, range: { from: iso(today), to: iso(startOfTodayIn(timeZone, today + DAY + 3_600_000 * 3)), bucket: 'hour' } };
    case '7d':
    case '30d': {
      const days = period === '7d' ? 7 : 30;
      const from = startOfTodayIn(timeZone, today - (days - 1) * DAY + 3_600_000 * 3);
      return { ok: true, range: { from: iso(from), to: iso(startOfTodayIn(timeZone, today + DAY + 3_600_000 * 3)), bucket: 'day' } };
    }
    case 'custom': {
      const from = startOfDayIn(timeZone, custom?.from ?? '');
      const last = startOfDayIn(timeZone, custom?.to ?? '');
      if (from === null || last === null) return { ok: false, error: 'Pick a first and a last day.' };
      if (last < from) return { ok: false, error: 'The last day comes before the first.' };
      const to = startOfTodayIn(timeZone, last + DAY + 3_600_000 * 3);
      if (to - from > 366 * DAY) return { ok: false, error: 'Pick at most a year.' };
      return { ok: true, range: { from: iso(from), to: iso(to), bucket: to - from <= DAY + 3_600_000 ? 'hour' : 'day' } };
    }
  }
}

/** The query of `GET /v1/metrics/report` and of its CSV. */
export function reportQuery(range: ReportRange, groupBy: Grouping): Record<string, string> {
  return { from: range.from, to: range.to, bucket: range.bucket, group_by: groupBy };
}

/** Seconds as people say them: "45s", "4m 12s", "2h 5m", "3d 4h"; "–" without data. */
export function seconds(value: number, count = 1): string {
  if (!count || !Number.isFinite(value)) return '–';
  const s = Math.round(value);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function percent(share: number, of = 1): string {
  if (!of || !Number.isFinite(share)) return '–';
  return `${Math.round(share * 100)}%`;
}

export function decimal(value: number, count = 1): string {
  if (!count || !Number.isFinite(value)) return '–';
  return value.toFixed(1);
}

/** Nothing happened in the period: no conversation, message or resolution counted. */
export function isEmptyFigures(f: Figures): boolean {
  return (
    f.new_conversations + f.resolutions + f.customer_messages + f.agent_messages + f.ai_messages + f.conversations_handled === 0
  );
}

/** The live volume summed over groups (the tenant has one). */
export function liveTotals(live: LiveFigures | undefined) {
  const zero = { active: 0, pending: 0, backlog: 0, backlog_unassigned: 0, new_today: 0, resolved_today: 0 };
  if (!live) return zero;
  return live.groups.reduce(
    (t, g) => ({
      active: t.active + g.active,
      pending: t.pending + g.pending,
      backlog: t.backlog + g.backlog,
      backlog_unassigned: t.backlog_unassigned + g.backlog_unassigned,
      new_today: t.new_today + g.new_today,
      resolved_today: t.resolved_today + g.resolved_today,
    }),
    zero,
  );
}

/** The report's rows: one per group, the busiest first; a tenant report has one row. */
export function reportRows(report: Report | undefined, nameOf: (groupBy: string, id: string | null) => string) {
  if (!report) return [];
  return report.series
    .map((s) => ({ id: s.group_id ?? 'tenant', name: nameOf(s.group_by, s.group_id), total: s.total, points: s.points }))
    .sort((a, b) => b.total.conversations_handled + b.total.new_conversations - (a.total.conversations_handled + a.total.new_conversations));
}

/** The tallest bar of a series of counts, for scaling a small chart (at least 1). */
export function peak(values: number[]): number {
  return Math.max(1, ...values);
}

/** Every bucket of the range, the report's points in place and zeros elsewhere (the report leaves empty buckets out). */
export function filledPoints<P extends { bucket_start: string | null }>(
  points: P[],
  range: ReportRange,
  timeZone: string,
  empty: (bucketStart: string) => P,
): P[] {
  const byStart = new Map(points.filter((p) => p.bucket_start).map((p) => [Date.parse(p.bucket_start!), p]));
  const out: P[] = [];
  const end = Date.parse(range.to);
  for (let t = Date.parse(range.from); t < end && out.length < 800; ) {
    out.push(byStart.get(t) ?? empty(new Date(t).toISOString()));
    t = range.bucket === 'hour' ? t + 3_600_000 : startOfTodayIn(timeZone, t + DAY + 3_600_000 * 3);
  }
  return out;
}
