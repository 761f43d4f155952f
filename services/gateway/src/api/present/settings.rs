//! Tenant-wide settings: the tenant's own, priority rules and status rules.

use inbox_proto::conversation::v1 as pb;
use serde_json::{Value, json};

pub fn tenant_settings(s: &pb::TenantSettings) -> Value {
    json!({
        "time_zone": s.time_zone,
        "company_name": s.company_name,
        "ai_confidence_threshold": s.ai_confidence_threshold,
        "handoff_message": s.handoff_message,
    })
}

pub fn priority_rules(r: &pb::PriorityRules) -> Value {
    json!({
        "urgent_keywords": r.urgent_keywords,
        "urgent_segments": r.urgent_segments,
        "first_response_target_seconds": r.first_response_target_seconds,
    })
}

pub fn status_rules(r: &pb::StatusRules) -> Value {
    json!({
        "pending_timeout_seconds": r.pending_timeout_seconds,
        "auto_archive_seconds": r.auto_archive_seconds,
        "reopen_on_customer_message": r.reopen_on_customer_message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_rules_are_shown_field_for_field() {
        let settings = pb::TenantSettings {
            time_zone: "Europe/Lisbon".into(),
            company_name: "Acme".into(),
            ai_confidence_threshold: 0.5,
            handoff_message: "A person will help you".into(),
        };
        assert_eq!(
            tenant_settings(&settings),
            json!({"time_zone": "Europe/Lisbon", "company_name": "Acme", "ai_confidence_threshold": 0.5,
                "handoff_message": "A person will help you"})
        );
        let rules =
            pb::StatusRules { pending_timeout_seconds: 60, auto_archive_seconds: 0, reopen_on_customer_message: true };
        assert_eq!(status_rules(&rules)["reopen_on_customer_message"], true);
        let priority = pb::PriorityRules { urgent_keywords: vec!["refund".into()], ..Default::default() };
        assert_eq!(priority_rules(&priority)["urgent_keywords"], json!(["refund"]));
    }
}
