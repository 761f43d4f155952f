//! Figures as the API shows them: rollup cells merged into series, percentiles and rates
//! computed, and the same report as CSV.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::buckets::Dim;
use crate::domain::figures::{Counter, Figures, Measure};
use crate::domain::sketch::Sketch;
use crate::proto as pb;
use crate::store::report::Cell;

use super::access::grouping_of;

/// One group's figures: over the range and per bucket.
#[derive(Debug, Clone, Default)]
pub struct SeriesFigures {
    pub key: String,
    pub total: Figures,
    pub points: Vec<(DateTime<Utc>, Figures)>,
}

/// Merges cells (ordered by key and bucket) into one series per key; `keys` that have no
/// cell still get an empty series (the tenant always gets one).
pub fn series_of(dim: Dim, cells: Vec<Cell>, keys: Option<&[String]>) -> Vec<SeriesFigures> {
    let mut by_key: BTreeMap<String, SeriesFigures> = BTreeMap::new();
    if dim == Dim::Tenant {
        by_key.insert(String::new(), SeriesFigures::default());
    }
    for key in keys.unwrap_or_default() {
        by_key.entry(key.clone()).or_insert_with(|| SeriesFigures { key: key.clone(), ..Default::default() });
    }
    for cell in cells {
        let series = by_key
            .entry(cell.key.clone())
            .or_insert_with(|| SeriesFigures { key: cell.key.clone(), ..Default::default() });
        series.total.merge(&cell.figures, 1);
        series.points.push((cell.bucket_start, cell.figures));
    }
    by_key.into_values().collect()
}

fn distribution(s: &Sketch) -> pb::Distribution {
    pb::Distribution {
        count: s.count.max(0) as u64,
        mean: s.mean(),
        p50: s.quantile(0.5),
        p90: s.quantile(0.9),
        p99: s.quantile(0.99),
        max: s.max(),
    }
}

fn n(f: &Figures, c: Counter) -> u64 {
    f.count(c).max(0) as u64
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

pub fn figures_to_proto(f: &Figures) -> pb::Figures {
    let by_score: Vec<u64> = (1..=5).filter_map(Counter::csat).map(|c| n(f, c)).collect();
    let responses: u64 = by_score.iter().sum();
    let score_sum: u64 = by_score.iter().zip(1u64..).map(|(count, score)| count * score).sum();
    let satisfied = by_score[3] + by_score[4];
    let handled = n(f, Counter::Handled);
    let resolved_conversations = n(f, Counter::ResolvedConversations);
    let resolutions = n(f, Counter::Resolutions);
    let ai_conversations = n(f, Counter::AiConversations);
    let handoffs = n(f, Counter::Handoffs);
    let without_person = n(f, Counter::AiResolvedWithoutPerson);
    let reasons = [
        ("low_confidence", Counter::HandoffLowConfidence),
        ("customer_asked", Counter::HandoffCustomerAsked),
        ("complex_issue", Counter::HandoffComplexIssue),
        ("taken_over", Counter::HandoffTakenOver),
        ("other", Counter::HandoffOther),
    ];
    pb::Figures {
        first_response: Some(distribution(&f.sketch(Measure::FirstResponse))),
        next_response: Some(distribution(&f.sketch(Measure::NextResponse))),
        resolution: Some(distribution(&f.sketch(Measure::Resolution))),
        active_time: Some(distribution(&f.sketch(Measure::ActiveTime))),
        messages_per_resolution: Some(distribution(&f.sketch(Measure::MessagesPerResolution))),
        new_conversations: n(f, Counter::NewConversations),
        resolutions,
        reopened: n(f, Counter::Reopened),
        customer_messages: n(f, Counter::CustomerMessages),
        agent_messages: n(f, Counter::AgentMessages),
        ai_messages: n(f, Counter::AiMessages),
        conversations_handled: handled,
        conversations_resolved: resolved_conversations,
        resolution_rate: ratio(resolved_conversations, handled),
        csat: Some(pb::Csat {
            surveys_sent: n(f, Counter::SurveysSent),
            responses,
            average: ratio(score_sum, responses),
            satisfied_share: ratio(satisfied, responses),
            by_score,
        }),
        sla: Some(pb::Sla {
            warnings: n(f, Counter::SlaWarnings),
            breaches: n(f, Counter::SlaBreaches),
            met: n(f, Counter::SlaMet),
        }),
        ai: Some(pb::AiFigures {
            conversations_answered: ai_conversations,
            resolutions_without_person: without_person,
            share_resolved_without_person: ratio(without_person, resolutions),
            handoffs,
            handoff_rate: ratio(handoffs, ai_conversations),
            handoff_reasons: reasons
                .iter()
                .map(|(reason, c)| pb::HandoffReason { reason: (*reason).into(), count: n(f, *c) })
                .collect(),
            confidence_histogram: (0..10).map(|i| n(f, Counter::ALL[Counter::AiConfidence0.index() + i])).collect(),
            messages_without_confidence: n(f, Counter::AiWithoutConfidence),
        }),
    }
}

pub fn series_to_proto(dim: Dim, series: &SeriesFigures, totals_only: bool) -> pb::Series {
    pb::Series {
        group_by: grouping_of(dim) as i32,
        group_id: series.key.clone(),
        total: Some(figures_to_proto(&series.total)),
        points: if totals_only {
            Vec::new()
        } else {
            series
                .points
                .iter()
                .map(|(at, f)| pb::Point {
                    bucket_start: Some(inbox_proto::timestamp_from(*at)),
                    figures: Some(figures_to_proto(f)),
                })
                .collect()
        },
    }
}

const DISTRIBUTIONS: [&str; 5] =
    ["first_response_s", "next_response_s", "resolution_s", "active_time_s", "messages_per_resolution"];

/// The report as CSV (RFC 4180, a header row): one row per group and bucket, then one total
/// row per group (bucket `total`); bucket starts in the tenant's zone.
pub fn report_csv(dim: Dim, series: &[SeriesFigures], zone: Tz) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["group_by", "group_id", "bucket_start"].map(String::from).to_vec();
    header.extend(
        [
            "new_conversations",
            "resolutions",
            "reopened",
            "customer_messages",
            "agent_messages",
            "ai_messages",
            "conversations_handled",
            "conversations_resolved",
            "resolution_rate",
        ]
        .map(String::from),
    );
    for d in DISTRIBUTIONS {
        for stat in ["count", "mean", "p50", "p90", "p99"] {
            header.push(format!("{d}_{stat}"));
        }
    }
    header.extend(
        [
            "csat_surveys_sent",
            "csat_responses",
            "csat_average",
            "csat_satisfied_share",
            "sla_warnings",
            "sla_breaches",
            "sla_met",
            "ai_conversations_answered",
            "ai_resolutions_without_person",
            "ai_handoffs",
            "ai_handoff_rate",
        ]
        .map(String::from),
    );
    out.write_record(&header)?;
    let grouping = match dim {
        Dim::Tenant => "tenant",
        Dim::Agent => "agent",
        Dim::Team => "team",
        Dim::Channel => "channel",
    };
    for s in series {
        let rows = s
            .points
            .iter()
            .map(|(at, f)| (at.with_timezone(&zone).to_rfc3339(), f))
            .chain(std::iter::once(("total".to_owned(), &s.total)));
        for (bucket, f) in rows {
            let p = figures_to_proto(f);
            let mut row = vec![grouping.to_owned(), s.key.clone(), bucket];
            row.extend(
                [
                    p.new_conversations,
                    p.resolutions,
                    p.reopened,
                    p.customer_messages,
                    p.agent_messages,
                    p.ai_messages,
                    p.conversations_handled,
                    p.conversations_resolved,
                ]
                .map(|v| v.to_string()),
            );
            row.push(format!("{:.4}", p.resolution_rate));
            for d in [&p.first_response, &p.next_response, &p.resolution, &p.active_time, &p.messages_per_resolution] {
                let d = (*d).unwrap_or_default();
                row.push(d.count.to_string());
                row.extend([d.mean, d.p50, d.p90, d.p99].map(|v| format!("{v:.3}")));
            }
            let csat = p.csat.unwrap_or_default();
            let sla = p.sla.unwrap_or_default();
            let ai = p.ai.unwrap_or_default();
            row.extend([csat.surveys_sent.to_string(), csat.responses.to_string()]);
            row.extend([format!("{:.3}", csat.average), format!("{:.4}", csat.satisfied_share)]);
            row.extend(
                [
                    sla.warnings,
                    sla.breaches,
                    sla.met,
                    ai.conversations_answered,
                    ai.resolutions_without_person,
                    ai.handoffs,
                ]
                .map(|v| v.to_string()),
            );
            row.push(format!("{:.4}", ai.handoff_rate));
            out.write_record(&row)?;
        }
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::figures::Metric;

    fn cell(key: &str, day: u32, f: Figures) -> Cell {
        Cell {
            dim: Dim::Agent,
            key: key.into(),
            bucket_start: Utc.with_ymd_and_hms(2031, 1, day, 0, 0, 0).unwrap(),
            figures: f,
        }
    }

    #[test]
    fn cells_merge_into_series_with_totals_and_rates() {
        let mut a = Figures::default();
        a.apply(Metric::Count(Counter::Handled), 2);
        a.apply(Metric::Count(Counter::ResolvedConversations), 1);
        a.apply(Metric::Count(Counter::Csat5), 1);
        a.apply(Metric::sample(Measure::FirstResponse, 60.0), 1);
        let mut b = Figures::default();
        b.apply(Metric::Count(Counter::Handled), 2);
        b.apply(Metric::Count(Counter::ResolvedConversations), 2);
        b.apply(Metric::Count(Counter::Csat2), 1);
        b.apply(Metric::sample(Measure::FirstResponse, 180.0), 1);
        let wanted = vec!["x".to_owned(), "y".to_owned()];
        let series = series_of(Dim::Agent, vec![cell("x", 1, a), cell("x", 2, b)], Some(&wanted));
        assert_eq!(series.len(), 2, "a requested group without figures still has its series");
        let p = figures_to_proto(&series[0].total);
        assert_eq!((p.conversations_handled, p.conversations_resolved), (4, 3));
        assert!((p.resolution_rate - 0.75).abs() < 1e-9);
        let csat = p.csat.unwrap();
        assert_eq!((csat.responses, csat.by_score), (2, vec![0, 1, 0, 0, 1]));
        assert!((csat.average - 3.5).abs() < 1e-9 && (csat.satisfied_share - 0.5).abs() < 1e-9);
        assert_eq!(p.first_response.unwrap().mean, 120.0);
        assert_eq!(series_to_proto(Dim::Agent, &series[0], false).points.len(), 2);
        assert!(series_to_proto(Dim::Agent, &series[0], true).points.is_empty());
        let empty = figures_to_proto(&series[1].total);
        assert_eq!((empty.resolution_rate, empty.csat.unwrap().average), (0.0, 0.0));
    }

    #[test]
    fn the_csv_has_a_row_per_bucket_and_a_total_per_group() {
        let mut f = Figures::default();
        f.apply(Metric::Count(Counter::NewConversations), 3);
        let series = series_of(Dim::Agent, vec![cell("x", 1, f.clone()), cell("x", 2, f)], None);
        let text = String::from_utf8(report_csv(Dim::Agent, &series, chrono_tz::Europe::Paris).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("group_by,group_id,bucket_start,new_conversations,"));
        assert!(lines[1].starts_with("agent,x,2031-01-01T01:00:00+01:00,3,"), "{}", lines[1]);
        assert!(lines[3].starts_with("agent,x,total,6,"), "{}", lines[3]);
        let columns = lines[0].split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == columns));
    }
}
