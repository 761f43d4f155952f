// The metrics service through the gateway (docs/metrics.md): a report of figures per group and
// bucket, the live volume, and the report as a CSV file.

import { json, raw, withQuery } from './http';

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** A group's figures over a period. Durations are seconds; rates and shares 0..1. */
export interface Figures {
  first_response_seconds: Distribution;
  next_response_seconds: Distribution;
  resolution_seconds: Distribution;
  active_time_seconds: Distribution;
  messages_per_resolution: Distribution;
  new_conversations: number;
  resolutions: number;
  reopened: number;
  customer_messages: number;
  agent_messages: number;
  ai_messages: number;
  conversations_handled: number;
  conversations_resolved: number;
  resolution_rate: number;
  csat: { surveys_sent: number; responses: number; by_score: number[]; average: number; satisfied_share: number };
  sla: { warnings: number; breaches: number; met: number };
  ai: {
    conversations_answered: number;
    resolutions_without_person: number;
    share_resolved_without_person: number;
    handoffs: number;
    handoff_rate: number;
    handoff_reasons: Record<string, number>;
  };
}

export interface ReportSeries {
  group_by: 'tenant' | 'agent' | 'team' | 'channel';
  group_id: string | null;
  total: Figures;
  points: { bucket_start: string | null; figures: Figures }[];
}

export interface Report {
  time_zone: string;
  bucket: 'hour' | 'day';
  series: ReportSeries[];
}

export interface LiveGroup {
  group_id: string | null;
  active: number;
  pending: number;
  backlog: number;
  backlog_unassigned: number;
  new_today: number;
  resolved_today: number;
}

export interface LiveFigures {
  at: string | null;
  time_zone: string;
  group_by: string;
  groups: LiveGroup[];
}

export const getReport = (query: Record<string, string>, signal?: AbortSignal) =>
  json<Report>('GET', '/v1/metrics/report', { query, signal });

export const getLive = () => json<LiveFigures>('GET', '/v1/metrics/live');

/** Where the CSV of a report is (the link's address; it is fetched with the session's token). */
export const reportCsvPath = (query: Record<string, string>) => withQuery('/v1/metrics/report.csv', query);

export async function downloadReportCsv(query: Record<string, string>): Promise<{ blob: Blob; filename: string }> {
  const response = await raw('GET', '/v1/metrics/report.csv', { query, headers: { Accept: 'text/csv' } });
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const filename = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? 'inbox-metrics.csv';
  return { blob: await response.blob(), filename };
}
