//! Stored rows to protobuf, at the edge.

use chrono::{DateTime, Utc};
use inbox_proto::timestamp_from;

use crate::domain::facts::Priority;
use crate::domain::sla::Target;
use crate::domain::{Kind, Level, Preferences};
use crate::proto as pb;
use crate::store::{AttemptRow, DeliveryRow, EndpointRow, NotificationRow, SlaConfig, SubscriptionRow, TimerRow};

pub fn notification_to_proto(row: &NotificationRow) -> pb::Notification {
    pb::Notification {
        id: row.id.to_string(),
        tenant_id: row.tenant_id.to_string(),
        user_id: row.user_id.to_string(),
        r#type: Kind::parse(&row.kind).map_or(pb::NotificationType::Unspecified, Kind::to_proto) as i32,
        conversation_id: row.conversation_id.map(|c| c.to_string()).unwrap_or_default(),
        title: row.title.clone(),
        body: row.body.clone(),
        created_at: Some(timestamp_from(row.created_at)),
        read_at: row.read_at.map(timestamp_from),
        level: Level::parse(&row.level).map_or(pb::Level::Unspecified, Level::to_proto) as i32,
        sound: row.sound,
        browser: row.browser,
        sla_target: row.sla_target.clone(),
        due_at: row.due_at.map(timestamp_from),
    }
}

pub fn preferences_to_proto(prefs: &Preferences, time_zone: String) -> pb::Preferences {
    pb::Preferences {
        types: Kind::ALL
            .into_iter()
            .map(|kind| pb::TypePreference {
                r#type: kind.to_proto() as i32,
                level: prefs.level(kind).to_proto() as i32,
            })
            .collect(),
        do_not_disturb: prefs.do_not_disturb,
        quiet_hours_start: prefs.quiet_hours.map(|q| q.start.format("%H:%M").to_string()).unwrap_or_default(),
        quiet_hours_end: prefs.quiet_hours.map(|q| q.end.format("%H:%M").to_string()).unwrap_or_default(),
        time_zone,
    }
}

pub fn subscription_to_proto(row: &SubscriptionRow) -> pb::PushSubscription {
    pb::PushSubscription {
        id: row.id.to_string(),
        endpoint: row.endpoint.clone(),
        p256dh: row.p256dh.clone(),
        auth: row.auth.clone(),
        user_agent: row.user_agent.clone(),
        created_at: Some(timestamp_from(row.created_at)),
    }
}

fn priority_to_proto(p: Priority) -> inbox_proto::conversation::v1::Priority {
    use inbox_proto::conversation::v1::Priority as P;
    match p {
        Priority::Urgent => P::Urgent,
        Priority::High => P::High,
        Priority::Normal => P::Normal,
        Priority::Low => P::Low,
    }
}

pub fn sla_to_proto(config: &SlaConfig) -> pb::SlaSettings {
    let seconds = |s: Option<i64>| s.map_or(0, |s| u32::try_from(s).unwrap_or(u32::MAX));
    pb::SlaSettings {
        policies: Priority::ALL
            .into_iter()
            .filter_map(|p| {
                let policy = config.policies.get(p.as_str())?;
                Some(pb::SlaPolicy {
                    priority: priority_to_proto(p) as i32,
                    first_response_seconds: seconds(policy.first_response),
                    next_response_seconds: seconds(policy.next_response),
                    resolution_seconds: seconds(policy.resolution),
                })
            })
            .collect(),
        warning_percent: config.warning_percent,
        time_zone: config.time_zone.clone(),
        business_hours: config
            .business_hours
            .iter()
            .map(|(weekday, start, end)| pb::BusinessHours {
                weekday: *weekday,
                start: start.clone(),
                end: end.clone(),
            })
            .collect(),
    }
}

pub fn timer_to_proto(row: &TimerRow, config: &SlaConfig, now: DateTime<Utc>) -> pb::SlaTimer {
    let elapsed = row.clock().map_or(row.elapsed_seconds, |c| c.elapsed_at(&config.schedule, now));
    pb::SlaTimer {
        conversation_id: row.conversation_id.to_string(),
        target: Target::parse(&row.target).map_or(row.target.clone(), |t| t.as_str().to_owned()),
        target_seconds: u32::try_from(row.target_seconds).unwrap_or(0),
        started_at: Some(timestamp_from(row.started_at)),
        elapsed_seconds: u64::try_from(elapsed).unwrap_or(0),
        warning_at: row.warning_at.map(timestamp_from),
        due_at: row.due_at.map(timestamp_from),
        paused: row.running_since.is_none() && row.stopped_at.is_none(),
        warned_at: row.warned_at.map(timestamp_from),
        breached_at: row.breached_at.map(timestamp_from),
        stopped_at: row.stopped_at.map(timestamp_from),
    }
}

pub fn endpoint_to_proto(row: &EndpointRow) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        id: row.id.to_string(),
        url: row.url.clone(),
        events: row.events.clone(),
        description: row.description.clone(),
        enabled: row.enabled,
        disabled_reason: row.disabled_reason.clone(),
        created_at: Some(timestamp_from(row.created_at)),
        failing_since: row.failing_since.map(timestamp_from),
    }
}

pub fn delivery_to_proto(row: &DeliveryRow, attempts: &[AttemptRow]) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        id: row.id.to_string(),
        endpoint_id: row.endpoint_id.to_string(),
        event_type: row.event_type.clone(),
        status: row.status.clone(),
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        created_at: Some(timestamp_from(row.created_at)),
        next_attempt_at: (row.status == "pending").then(|| timestamp_from(row.next_attempt_at)),
        delivered_at: row.delivered_at.map(timestamp_from),
        payload: row.payload.clone(),
        attempt_log: attempts
            .iter()
            .map(|a| pb::WebhookAttempt {
                number: u32::try_from(a.number).unwrap_or(0),
                at: Some(timestamp_from(a.at)),
                status_code: u32::try_from(a.status_code).unwrap_or(0),
                error: a.error.clone(),
                duration_ms: u32::try_from(a.duration_ms).unwrap_or(0),
            })
            .collect(),
    }
}
