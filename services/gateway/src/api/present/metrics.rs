//! The JSON of the metrics routes: reports (series of figures per group and bucket), live
//! figures, the CSAT survey settings and rebuilds. Durations are seconds; rates and shares 0..1.

use std::collections::BTreeMap;

use inbox_metrics::proto as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::time;

/// The group names of the API.
pub fn grouping_name(grouping: i32) -> &'static str {
    match pb::Grouping::try_from(grouping) {
        Ok(pb::Grouping::Agent) => "agent",
        Ok(pb::Grouping::Team) => "team",
        Ok(pb::Grouping::Channel) => "channel",
        Ok(pb::Grouping::Tenant) | Err(_) => "tenant",
    }
}

/// A distribution of durations (seconds) or counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn distribution(d: Option<&pb::Distribution>) -> Distribution {
    let d = d.copied().unwrap_or_default();
    Distribution { count: d.count, mean: d.mean, p50: d.p50, p90: d.p90, p99: d.p99, max: d.max }
}

/// Customer satisfaction surveys and their answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsatFigures {
    pub surveys_sent: u64,
    pub responses: u64,
    /// Responses per score, from the lowest.
    pub by_score: Vec<u64>,
    pub average: f64,
    pub satisfied_share: f64,
}

/// Response-time targets warned about, breached and met.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaFigures {
    pub warnings: u64,
    pub breaches: u64,
    pub met: u64,
}

/// What the AI answered and handed over.
#[derive(Debug, Serialize, ToSchema)]
pub struct AiFigures {
    pub conversations_answered: u64,
    pub resolutions_without_person: u64,
    pub share_resolved_without_person: f64,
    pub handoffs: u64,
    pub handoff_rate: f64,
    /// Hand-offs by reason.
    pub handoff_reasons: BTreeMap<String, u64>,
    pub confidence_histogram: Vec<u64>,
    pub messages_without_confidence: u64,
}

/// The figures of a group over a period. Durations are seconds; rates and shares 0..1.
#[derive(Debug, Serialize, ToSchema)]
pub struct Figures {
    pub first_response_seconds: Distribution,
    pub next_response_seconds: Distribution,
    pub resolution_seconds: Distribution,
    pub active_time_seconds: Distribution,
    pub messages_per_resolution: Distribution,
    pub new_conversations: u64,
    pub resolutions: u64,
    pub reopened: u64,
    pub customer_messages: u64,
    pub agent_messages: u64,
    pub ai_messages: u64,
    pub conversations_handled: u64,
    pub conversations_resolved: u64,
    pub resolution_rate: f64,
    pub csat: CsatFigures,
    pub sla: SlaFigures,
    pub ai: AiFigures,
}

pub fn figures(f: &pb::Figures) -> Figures {
    let csat = f.csat.clone().unwrap_or_default();
    let sla = f.sla.unwrap_or_default();
    let ai = f.ai.clone().unwrap_or_default();
    Figures {
        first_response_seconds: distribution(f.first_response.as_ref()),
        next_response_seconds: distribution(f.next_response.as_ref()),
        resolution_seconds: distribution(f.resolution.as_ref()),
        active_time_seconds: distribution(f.active_time.as_ref()),
        messages_per_resolution: distribution(f.messages_per_resolution.as_ref()),
        new_conversations: f.new_conversations,
        resolutions: f.resolutions,
        reopened: f.reopened,
        customer_messages: f.customer_messages,
        agent_messages: f.agent_messages,
        ai_messages: f.ai_messages,
        conversations_handled: f.conversations_handled,
        conversations_resolved: f.conversations_resolved,
        resolution_rate: f.resolution_rate,
        csat: CsatFigures {
            surveys_sent: csat.surveys_sent,
            responses: csat.responses,
            by_score: csat.by_score,
            average: csat.average,
            satisfied_share: csat.satisfied_share,
        },
        sla: SlaFigures { warnings: sla.warnings, breaches: sla.breaches, met: sla.met },
        ai: AiFigures {
            conversations_answered: ai.conversations_answered,
            resolutions_without_person: ai.resolutions_without_person,
            share_resolved_without_person: ai.share_resolved_without_person,
            handoffs: ai.handoffs,
            handoff_rate: ai.handoff_rate,
            handoff_reasons: ai.handoff_reasons.iter().map(|r| (r.reason.clone(), r.count)).collect(),
            confidence_histogram: ai.confidence_histogram,
            messages_without_confidence: ai.messages_without_confidence,
        },
    }
}

/// The figures of one bucket (an hour or a day starting at `bucket_start`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPoint {
    pub bucket_start: Option<String>,
    pub figures: Figures,
}

/// One group's total and points.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportSeries {
    /// tenant, agent, team or channel.
    pub group_by: &'static str,
    /// `null` for the tenant.
    pub group_id: Option<String>,
    pub total: Figures,
    pub points: Vec<ReportPoint>,
}

/// A report: a series of figures per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    pub time_zone: String,
    /// hour or day.
    pub bucket: &'static str,
    pub series: Vec<ReportSeries>,
}

pub fn report(r: &pb::Report) -> Report {
    Report {
        time_zone: r.time_zone.clone(),
        bucket: if r.bucket == pb::Bucket::Hour as i32 { "hour" } else { "day" },
        series: r
            .series
            .iter()
            .map(|s| ReportSeries {
                group_by: grouping_name(s.group_by),
                group_id: super::non_empty(&s.group_id),
                total: figures(&s.total.clone().unwrap_or_default()),
                points: s
                    .points
                    .iter()
                    .map(|p| ReportPoint {
                        bucket_start: time(p.bucket_start.as_ref()),
                        figures: figures(&p.figures.clone().unwrap_or_default()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A group's conversations now, and today's.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveGroup {
    pub group_id: Option<String>,
    pub active: u64,
    pub pending: u64,
    pub backlog: u64,
    pub backlog_unassigned: u64,
    pub new_today: u64,
    pub resolved_today: u64,
}

/// Live figures per group.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveFigures {
    pub at: Option<String>,
    pub time_zone: String,
    pub group_by: &'static str,
    pub groups: Vec<LiveGroup>,
}

pub fn live(l: &pb::LiveFigures) -> LiveFigures {
    LiveFigures {
        at: time(l.at.as_ref()),
        time_zone: l.time_zone.clone(),
        group_by: grouping_name(l.group_by),
        groups: l
            .groups
            .iter()
            .map(|g| LiveGroup {
                group_id: super::non_empty(&g.group_id),
                active: g.active,
                pending: g.pending,
                backlog: g.backlog,
                backlog_unassigned: g.backlog_unassigned,
                new_today: g.new_today,
                resolved_today: g.resolved_today,
            })
            .collect(),
    }
}

/// The survey sent when a person resolves a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct CsatSettings {
    pub enabled: bool,
    pub survey_text: String,
}

pub fn csat_settings(s: &pb::CsatSettings) -> CsatSettings {
    CsatSettings { enabled: s.enabled, survey_text: s.survey_text.clone() }
}

/// A recomputation of the figures from the conversation history.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rebuild {
    pub rebuild_id: String,
    pub state: String,
    pub from: Option<String>,
    pub conversations_done: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

pub fn rebuild(r: &pb::RebuildStatus) -> Rebuild {
    Rebuild {
        rebuild_id: r.rebuild_id.clone(),
        state: r.state.clone(),
        from: time(r.from.as_ref()),
        conversations_done: r.conversations_done,
        started_at: time(r.started_at.as_ref()),
        finished_at: time(r.finished_at.as_ref()),
        error: super::non_empty(&r.error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_its_groups_and_writes_every_figure() {
        let report_proto = pb::Report {
            time_zone: "Europe/Paris".into(),
            bucket: pb::Bucket::Day as i32,
            series: vec![pb::Series {
                group_by: pb::Grouping::Agent as i32,
                group_id: "a1".into(),
                total: Some(pb::Figures {
                    resolutions: 3,
                    first_response: Some(pb::Distribution { count: 2, mean: 90.0, ..Default::default() }),
                    ai: Some(pb::AiFigures {
                        handoff_reasons: vec![pb::HandoffReason { reason: "low_confidence".into(), count: 2 }],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                points: vec![pb::Point { bucket_start: None, figures: None }],
            }],
        };
        let json = serde_json::to_value(report(&report_proto)).unwrap();
        assert_eq!(json["bucket"], "day");
        let series = &json["series"][0];
        assert_eq!((series["group_by"].as_str(), series["group_id"].as_str()), (Some("agent"), Some("a1")));
        assert_eq!(series["total"]["resolutions"], 3);
        assert_eq!(series["total"]["first_response_seconds"]["mean"], 90.0);
        assert_eq!(series["total"]["ai"]["handoff_reasons"]["low_confidence"], 2);
        assert_eq!(series["points"][0]["figures"]["csat"]["responses"], 0);
    }
}
