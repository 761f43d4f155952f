// The inbox metrics dashboard (the guide's "Performance Monitoring"), for supervisors and
// admins; loaded on demand like Settings. Response, volume and team figures over a period
// (`GET /v1/metrics/report`), the volume right now (`GET /v1/metrics/live`), and the same
// report as a CSV file (`/v1/metrics/report.csv`, same query).

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { messageOf } from '../api/errors';
import { downloadReportCsv, getLive, getReport, reportCsvPath, type Figures } from '../api/metrics';
import { useInbox } from '../app/context';
import { CHANNEL_LABEL } from '../state/format';
import {
  decimal,
  filledPoints,
  isEmptyFigures,
  liveTotals,
  peak,
  percent,
  periodRange,
  reportQuery,
  reportRows,
  seconds,
  type Grouping,
  type Period,
} from '../state/metrics';
import { Button, Skeleton, common } from './common';
import { Icon } from './icons';
import s from './Metrics.module.css';

const PERIODS: { id: Period; label: string }[] = [
  { id: 'today', label: 'Today' },
  { id: '7d', label: '7 days' },
  { id: '30d', label: '30 days' },
  { id: 'custom', label: 'Custom' },
];
const GROUPS: { id: Grouping; label: string }[] = [
  { id: 'agent', label: 'Agent' },
  { id: 'team', label: 'Team' },
  { id: 'channel', label: 'Channel' },
];

const NONE = { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
/** The figures of a bucket where nothing happened. */
const EMPTY: Figures = {
  first_response_seconds: NONE,
  next_response_seconds: NONE,
  resolution_seconds: NONE,
  active_time_seconds: NONE,
  messages_per_resolution: NONE,
  new_conversations: 0,
  resolutions: 0,
  reopened: 0,
  customer_messages: 0,
  agent_messages: 0,
  ai_messages: 0,
  conversations_handled: 0,
  conversations_resolved: 0,
  resolution_rate: 0,
  csat: { surveys_sent: 0, responses: 0, by_score: [], average: 0, satisfied_share: 0 },
  sla: { warnings: 0, breaches: 0, met: 0 },
  ai: { conversations_answered: 0, resolutions_without_person: 0, share_resolved_without_person: 0, handoffs: 0, handoff_rate: 0, handoff_reasons: {} },
};

function isoDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function Card({ label, value, sub, tone }: { label: string; value: string; sub?: string; tone?: 'warn' | 'bad' }) {
  return (
    <div className={`${s.card} ${tone ? s[tone] : ''}`} data-figure={label}>
      <div className={s.cardLabel}>{label}</div>
      <div className={s.cardValue} data-value>
        {value}
      </div>
      {sub ? <div className={s.cardSub}>{sub}</div> : null}
    </div>
  );
}

function SkeletonCards({ n }: { n: number }) {
  return (
    <div className={s.cards} aria-hidden="true">
      {Array.from({ length: n }, (_, i) => (
        <div key={i} className={s.card}>
          <Skeleton width="60%" />
          <Skeleton width="40%" height={22} />
        </div>
      ))}
    </div>
  );
}

function ResponseCards({ f }: { f: Figures }) {
  return (
    <div className={s.cards}>
      <Card
        label="Average first response"
        value={seconds(f.first_response_seconds.mean, f.first_response_seconds.count)}
        sub={f.first_response_seconds.count ? `p90 ${seconds(f.first_response_seconds.p90)} · ${f.first_response_seconds.count} replies` : 'no first replies'}
      />
      <Card
        label="Average resolution time"
        value={seconds(f.resolution_seconds.mean, f.resolution_seconds.count)}
        sub={f.resolution_seconds.count ? `p90 ${seconds(f.resolution_seconds.p90)}` : 'nothing resolved'}
      />
      <Card label="Messages per conversation" value={decimal(f.messages_per_resolution.mean, f.messages_per_resolution.count)} sub="until resolved" />
      <Card label="Active conversation time" value={seconds(f.active_time_seconds.mean, f.active_time_seconds.count)} sub="average" />
    </div>
  );
}

function VolumeCards({ f, live, liveState }: { f: Figures; live: ReturnType<typeof liveTotals>; liveState: 'ok' | 'loading' | 'error' }) {
  const now = (n: number) => (liveState === 'ok' ? String(n) : liveState === 'loading' ? '…' : '–');
  return (
    <div className={s.cards}>
      <Card label="New conversations" value={String(f.new_conversations)} sub={`${now(live.new_today)} today`} />
      <Card label="Resolved" value={String(f.resolutions)} sub={`${now(live.resolved_today)} today · ${f.reopened} reopened`} />
      <Card label="Resolution rate" value={percent(f.resolution_rate, f.conversations_handled)} sub={`${f.conversations_resolved} of ${f.conversations_handled} handled`} />
      <Card
        label="Customer satisfaction"
        value={f.csat.responses ? decimal(f.csat.average) : '–'}
        sub={f.csat.responses ? `${percent(f.csat.satisfied_share)} satisfied · ${f.csat.responses} answers` : `${f.csat.surveys_sent} surveys, no answers`}
      />
      <Card
        label="SLA"
        value={f.sla.met + f.sla.breaches ? percent(f.sla.met / (f.sla.met + f.sla.breaches)) : '–'}
        sub={`${f.sla.met} met · ${f.sla.warnings} warnings · ${f.sla.breaches} breached`}
        tone={f.sla.breaches ? 'bad' : f.sla.warnings ? 'warn' : undefined}
      />
      <Card label="AI" value={String(f.ai.conversations_answered)} sub={`answered · ${f.ai.handoffs} handed over (${percent(f.ai.handoff_rate, f.ai.conversations_answered)})`} />
    </div>
  );
}

/** New and resolved per bucket, as paired bars (no chart library to ship). */
function Trend({ points, bucket, timeZone }: { points: { bucket_start: string | null; figures: Figures }[]; bucket: 'hour' | 'day'; timeZone: string }) {
  const top = peak(points.flatMap((p) => [p.figures.new_conversations, p.figures.resolutions]));
  const label = (iso: string | null) => {
    if (!iso) return '';
    const options: Intl.DateTimeFormatOptions = bucket === 'hour' ? { hour: '2-digit', minute: '2-digit', hour12: false } : { day: 'numeric', month: 'short' };
    try {
      return new Date(iso).toLocaleString([], { ...options, timeZone });
    } catch {
      return new Date(iso).toLocaleString([], options);
    }
  };
  const step = Math.ceil(points.length / 10);
  return (
    <figure className={s.trend}>
      <figcaption>
        New <span className={s.keyNew} aria-hidden="true" /> and resolved <span className={s.keyResolved} aria-hidden="true" /> per {bucket}
      </figcaption>
      <div className={s.bars} role="img" aria-label={`New and resolved conversations per ${bucket}`}>
        {points.map((p, i) => (
          <div key={p.bucket_start ?? i} className={s.barGroup} title={`${label(p.bucket_start)}: ${p.figures.new_conversations} new, ${p.figures.resolutions} resolved`}>
            <div className={s.barPair}>
              <span className={s.barNew} style={{ height: `${(p.figures.new_conversations / top) * 100}%` }} />
              <span className={s.barResolved} style={{ height: `${(p.figures.resolutions / top) * 100}%` }} />
            </div>
            <span className={s.barLabel}>{i % step === 0 ? label(p.bucket_start) : ''}</span>
          </div>
        ))}
      </div>
    </figure>
  );
}

export default function Metrics({ onClose }: { onClose: () => void }) {
  const { settings, agents, teams } = useInbox();
  const timeZone = settings?.time_zone || 'UTC';
  const [period, setPeriod] = useState<Period>('today');
  const [groupBy, setGroupBy] = useState<Grouping>('agent');
  const [anchor] = useState(() => Date.now());
  const [custom, setCustom] = useState({ from: isoDay(anchor - 6 * 86_400_000), to: isoDay(anchor) });
  const [csvError, setCsvError] = useState<string | null>(null);

  const range = useMemo(() => periodRange(period, timeZone, anchor, custom), [period, timeZone, anchor, custom]);
  const totalQuery = range.ok ? reportQuery(range.range, 'tenant') : null;
  const groupQuery = range.ok ? { ...reportQuery(range.range, groupBy), totals_only: 'true' } : null;

  const total = useQuery({
    queryKey: ['metrics', 'report', totalQuery],
    queryFn: ({ signal }) => getReport(totalQuery!, signal),
    enabled: !!totalQuery,
    placeholderData: keepPreviousData,
    refetchInterval: 60_000,
  });
  const grouped = useQuery({
    queryKey: ['metrics', 'report', groupQuery],
    queryFn: ({ signal }) => getReport(groupQuery!, signal),
    enabled: !!groupQuery,
    placeholderData: keepPreviousData,
    refetchInterval: 60_000,
  });
  const live = useQuery({ queryKey: ['metrics', 'live'], queryFn: getLive, refetchInterval: 15_000 });
  const now = liveTotals(live.data);

  const figures = total.data?.series[0]?.total;
  const nameOf = (by: string, id: string | null) => {
    if (!id) return 'Everyone';
    if (by === 'agent') return agents.find((a) => a.id === id)?.name ?? 'Former agent';
    if (by === 'team') return teams.find((t) => t.id === id)?.name ?? 'Former team';
    if (by === 'channel') return CHANNEL_LABEL[id as keyof typeof CHANNEL_LABEL] ?? id;
    return id;
  };
  const rows = reportRows(grouped.data, nameOf);
  const csvQuery = range.ok ? reportQuery(range.range, groupBy) : null;

  const download = async () => {
    if (!csvQuery) return;
    setCsvError(null);
    try {
      const file = await downloadReportCsv(csvQuery);
      const url = URL.createObjectURL(file.blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = file.filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setCsvError(messageOf(e));
    }
  };

  return (
    <div className={s.page}>
      <div className={s.head}>
        <h1>Inbox metrics</h1>
        <span className={s.zone}>Times in {total.data?.time_zone || timeZone}</span>
        <Button onClick={onClose}>Back to the inbox</Button>
      </div>

      <section className={s.live} aria-labelledby="live-h">
        <h2 id="live-h">
          Right now {live.isFetching ? <span className={s.refreshing}>updating…</span> : null}
        </h2>
        {live.isError ? (
          <div className={s.inlineError} role="alert">
            Live figures unavailable: {messageOf(live.error)} <Button onClick={() => void live.refetch()}>Retry</Button>
          </div>
        ) : live.isPending ? (
          <SkeletonCards n={4} />
        ) : (
          <div className={s.cards}>
            <Card label="Active" value={String(now.active)} sub="open and being worked" />
            <Card label="Backlog" value={String(now.backlog)} sub={`${now.backlog_unassigned} unassigned`} tone={now.backlog_unassigned ? 'warn' : undefined} />
            <Card label="Waiting on customer" value={String(now.pending)} sub="pending" />
            <Card label="Today" value={`${now.new_today} new`} sub={`${now.resolved_today} resolved`} />
          </div>
        )}
      </section>

      <div className={s.controls} role="group" aria-label="Report period">
        <div className={s.segmented}>
          {PERIODS.map((p) => (
            <button key={p.id} type="button" className={period === p.id ? s.segOn : s.seg} aria-pressed={period === p.id} onClick={() => setPeriod(p.id)}>
              {p.label}
            </button>
          ))}
        </div>
        {period === 'custom' ? (
          <span className={s.custom}>
            <label>
              From <input type="date" className={common.input} value={custom.from} max={custom.to} onChange={(e) => setCustom({ ...custom, from: e.target.value })} />
            </label>
            <label>
              to <input type="date" className={common.input} value={custom.to} min={custom.from} onChange={(e) => setCustom({ ...custom, to: e.target.value })} />
            </label>
          </span>
        ) : null}
        <label className={s.groupBy}>
          By{' '}
          <select className={common.input} value={groupBy} onChange={(e) => setGroupBy(e.target.value as Grouping)} aria-label="Group the table by">
            {GROUPS.map((g) => (
              <option key={g.id} value={g.id}>
                {g.label}
              </option>
            ))}
          </select>
        </label>
        {csvQuery ? (
          <a
            className={`${common.btn} ${s.csv}`}
            href={reportCsvPath(csvQuery)}
            download
            onClick={(e) => {
              e.preventDefault();
              void download();
            }}
          >
            <Icon name="download" size={14} /> Download CSV
          </a>
        ) : null}
      </div>
      {!range.ok ? <p className={common.error} role="alert">{range.error}</p> : null}
      {csvError ? <p className={common.error} role="alert">The CSV could not be downloaded: {csvError}</p> : null}

      {range.ok ? (
        total.isError ? (
          <div className={common.state} role="alert">
            <p>The report could not be loaded: {messageOf(total.error)}</p>
            <Button onClick={() => void total.refetch()}>Retry</Button>
          </div>
        ) : total.isPending || !total.data ? (
          <div aria-busy="true" aria-label="Loading the report">
            <h2 className={s.h2}>Response</h2>
            <SkeletonCards n={4} />
            <h2 className={s.h2}>Volume</h2>
            <SkeletonCards n={6} />
          </div>
        ) : !figures || isEmptyFigures(figures) ? (
          <div className={`${common.state} ${s.empty}`}>
            <p>
              <strong>No activity in this period.</strong>
            </p>
            <p className={common.hint}>Figures appear as conversations arrive and are answered. Try a longer period.</p>
            {period !== '30d' ? <Button onClick={() => setPeriod('30d')}>Show 30 days</Button> : null}
          </div>
        ) : (
          <div aria-busy={total.isFetching} data-report>
            <h2 className={s.h2}>Response</h2>
            <ResponseCards f={figures} />
            <h2 className={s.h2}>Volume</h2>
            <VolumeCards f={figures} live={now} liveState={live.isError ? 'error' : live.isPending ? 'loading' : 'ok'} />
            <Trend
              points={filledPoints(total.data.series[0].points, range.range, total.data.time_zone || timeZone, (bucket_start) => ({ bucket_start, figures: EMPTY }))}
              bucket={total.data.bucket}
              timeZone={total.data.time_zone || timeZone}
            />
            <h2 className={s.h2}>By {GROUPS.find((g) => g.id === groupBy)?.label.toLowerCase()}</h2>
            {grouped.isError ? (
              <div className={s.inlineError} role="alert">
                The breakdown could not be loaded: {messageOf(grouped.error)} <Button onClick={() => void grouped.refetch()}>Retry</Button>
              </div>
            ) : grouped.isPending ? (
              <Skeleton width="100%" height={80} />
            ) : !rows.length ? (
              <p className={common.hint}>Nothing to break down by {groupBy} in this period.</p>
            ) : (
              <div className={s.tableWrap}>
                <table className={s.table} aria-label={`Figures by ${groupBy}`}>
                  <thead>
                    <tr>
                      <th scope="col">{GROUPS.find((g) => g.id === groupBy)?.label}</th>
                      <th scope="col">{groupBy === 'agent' ? 'Handled' : 'New'}</th>
                      <th scope="col">Resolved</th>
                      <th scope="col">Resolution rate</th>
                      <th scope="col">Avg first response</th>
                      <th scope="col">Avg resolution</th>
                      <th scope="col">CSAT</th>
                    </tr>
                  </thead>
                  <tbody>
                    {rows.map((r) => (
                      <tr key={r.id}>
                        <th scope="row">{r.name}</th>
                        <td>{groupBy === 'agent' ? r.total.conversations_handled : r.total.new_conversations}</td>
                        <td>{groupBy === 'agent' ? r.total.conversations_resolved : r.total.resolutions}</td>
                        <td>{percent(r.total.resolution_rate, r.total.conversations_handled)}</td>
                        <td>{seconds(r.total.first_response_seconds.mean, r.total.first_response_seconds.count)}</td>
                        <td>{seconds(r.total.resolution_seconds.mean, r.total.resolution_seconds.count)}</td>
                        <td>{r.total.csat.responses ? `${decimal(r.total.csat.average)} (${r.total.csat.responses})` : '–'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </div>
        )
      ) : null}
    </div>
  );
}
