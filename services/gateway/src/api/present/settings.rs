//! Tenant-wide settings: the tenant's own, priority rules and status rules.

use inbox_proto::conversation::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

/// The tenant's own settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSettings {
    /// IANA time zone of the tenant's days ("today", reports).
    pub time_zone: String,
    pub company_name: String,
    /// AI answers below it are handed to a person (0..1).
    pub ai_confidence_threshold: f32,
    /// What the customer is told when a person takes over.
    pub handoff_message: String,
}

pub fn tenant_settings(s: &pb::TenantSettings) -> TenantSettings {
    TenantSettings {
        time_zone: s.time_zone.clone(),
        company_name: s.company_name.clone(),
        ai_confidence_threshold: s.ai_confidence_threshold,
        handoff_message: s.handoff_message.clone(),
    }
}

/// What makes a conversation urgent, and the first-response target.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriorityRules {
    pub urgent_keywords: Vec<String>,
    pub urgent_segments: Vec<String>,
    pub first_response_target_seconds: u32,
}

pub fn priority_rules(r: &pb::PriorityRules) -> PriorityRules {
    PriorityRules {
        urgent_keywords: r.urgent_keywords.clone(),
        urgent_segments: r.urgent_segments.clone(),
        first_response_target_seconds: r.first_response_target_seconds,
    }
}

/// When conversations move on by themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusRules {
    pub pending_timeout_seconds: u32,
    pub auto_archive_seconds: u32,
    pub reopen_on_customer_message: bool,
}

pub fn status_rules(r: &pb::StatusRules) -> StatusRules {
    StatusRules {
        pending_timeout_seconds: r.pending_timeout_seconds,
        auto_archive_seconds: r.auto_archive_seconds,
        reopen_on_customer_message: r.reopen_on_customer_message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn to_json(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn settings_and_rules_are_shown_field_for_field() {
        let settings = pb::TenantSettings {
            time_zone: "Europe/Lisbon".into(),
            company_name: "Acme".into(),
            ai_confidence_threshold: 0.5,
            handoff_message: "A person will help you".into(),
        };
        assert_eq!(
            to_json(tenant_settings(&settings)),
            json!({"time_zone": "Europe/Lisbon", "company_name": "Acme", "ai_confidence_threshold": 0.5,
                "handoff_message": "A person will help you"})
        );
        let rules =
            pb::StatusRules { pending_timeout_seconds: 60, auto_archive_seconds: 0, reopen_on_customer_message: true };
        assert_eq!(to_json(status_rules(&rules))["reopen_on_customer_message"], true);
        let priority = pb::PriorityRules { urgent_keywords: vec!["refund".into()], ..Default::default() };
        assert_eq!(to_json(priority_rules(&priority))["urgent_keywords"], json!(["refund"]));
    }
}
