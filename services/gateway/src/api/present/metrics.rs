//! The JSON of the metrics routes: reports (series of figures per group and bucket), live
//! figures, the CSAT survey settings and rebuilds. Durations are seconds; rates and shares 0..1.

use inbox_metrics::proto as pb;
use serde_json::{Value, json};

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

fn distribution(d: Option<&pb::Distribution>) -> Value {
    let d = d.copied().unwrap_or_default();
    json!({"count": d.count, "mean": d.mean, "p50": d.p50, "p90": d.p90, "p99": d.p99, "max": d.max})
}

pub fn figures(f: &pb::Figures) -> Value {
    let csat = f.csat.clone().unwrap_or_default();
    let sla = f.sla.unwrap_or_default();
    let ai = f.ai.clone().unwrap_or_default();
    json!({
        "first_response_seconds": distribution(f.first_response.as_ref()),
        "next_response_seconds": distribution(f.next_response.as_ref()),
        "resolution_seconds": distribution(f.resolution.as_ref()),
        "active_time_seconds": distribution(f.active_time.as_ref()),
        "messages_per_resolution": distribution(f.messages_per_resolution.as_ref()),
        "new_conversations": f.new_conversations,
        "resolutions": f.resolutions,
        "reopened": f.reopened,
        "customer_messages": f.customer_messages,
        "agent_messages": f.agent_messages,
        "ai_messages": f.ai_messages,
        "conversations_handled": f.conversations_handled,
        "conversations_resolved": f.conversations_resolved,
        "resolution_rate": f.resolution_rate,
        "csat": {
            "surveys_sent": csat.surveys_sent,
            "responses": csat.responses,
            "by_score": csat.by_score,
            "average": csat.average,
            "satisfied_share": csat.satisfied_share,
        },
        "sla": {"warnings": sla.warnings, "breaches": sla.breaches, "met": sla.met},
        "ai": {
            "conversations_answered": ai.conversations_answered,
            "resolutions_without_person": ai.resolutions_without_person,
            "share_resolved_without_person": ai.share_resolved_without_person,
            "handoffs": ai.handoffs,
            "handoff_rate": ai.handoff_rate,
            "handoff_reasons": ai.handoff_reasons.iter().map(|r| (r.reason.clone(), json!(r.count))).collect::<serde_json::Map<_, _>>(),
            "confidence_histogram": ai.confidence_histogram,
            "messages_without_confidence": ai.messages_without_confidence,
        },
    })
}

pub fn report(r: &pb::Report) -> Value {
    json!({
        "time_zone": r.time_zone,
        "bucket": if r.bucket == pb::Bucket::Hour as i32 { "hour" } else { "day" },
        "series": r.series.iter().map(|s| json!({
            "group_by": grouping_name(s.group_by),
            "group_id": super::non_empty(&s.group_id),
            "total": figures(&s.total.clone().unwrap_or_default()),
            "points": s.points.iter().map(|p| json!({
                "bucket_start": time(p.bucket_start.as_ref()),
                "figures": figures(&p.figures.clone().unwrap_or_default()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

pub fn live(l: &pb::LiveFigures) -> Value {
    json!({
        "at": time(l.at.as_ref()),
        "time_zone": l.time_zone,
        "group_by": grouping_name(l.group_by),
        "groups": l.groups.iter().map(|g| json!({
            "group_id": super::non_empty(&g.group_id),
            "active": g.active,
            "pending": g.pending,
            "backlog": g.backlog,
            "backlog_unassigned": g.backlog_unassigned,
            "new_today": g.new_today,
            "resolved_today": g.resolved_today,
        })).collect::<Vec<_>>(),
    })
}

pub fn csat_settings(s: &pb::CsatSettings) -> Value {
    json!({"enabled": s.enabled, "survey_text": s.survey_text})
}

pub fn rebuild(r: &pb::RebuildStatus) -> Value {
    json!({
        "rebuild_id": r.rebuild_id,
        "state": r.state,
        "from": time(r.from.as_ref()),
        "conversations_done": r.conversations_done,
        "started_at": time(r.started_at.as_ref()),
        "finished_at": time(r.finished_at.as_ref()),
        "error": super::non_empty(&r.error),
    })
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
        let json = report(&report_proto);
        assert_eq!(json["bucket"], "day");
        let series = &json["series"][0];
        assert_eq!((series["group_by"].as_str(), series["group_id"].as_str()), (Some("agent"), Some("a1")));
        assert_eq!(series["total"]["resolutions"], 3);
        assert_eq!(series["total"]["first_response_seconds"]["mean"], 90.0);
        assert_eq!(series["total"]["ai"]["handoff_reasons"]["low_confidence"], 2);
        assert_eq!(series["points"][0]["figures"]["csat"]["responses"], 0);
    }
}
