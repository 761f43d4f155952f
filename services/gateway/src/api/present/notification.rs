//! Notification service answers as JSON: notifications, preferences, push subscriptions, SLA
//! settings and timers, webhook endpoints and their deliveries.

use inbox_notification::proto as pb;
use inbox_notification::proto::{Level, Notification, NotificationType};
use serde_json::{Value, json};

pub fn time(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.and_then(inbox_proto::timestamp_to_utc).map_or(Value::Null, |t| json!(t))
}

fn id_or_null(text: &str) -> Value {
    if text.is_empty() { Value::Null } else { json!(text) }
}

/// The names of notification types in JSON, in the proto's order.
pub const TYPE_NAMES: [(NotificationType, &str); 8] = [
    (NotificationType::NewConversation, "new_conversation"),
    (NotificationType::Assigned, "assigned"),
    (NotificationType::CustomerReplied, "customer_replied"),
    (NotificationType::Urgent, "urgent"),
    (NotificationType::SlaWarning, "sla_warning"),
    (NotificationType::SlaBreached, "sla_breached"),
    (NotificationType::StatusChanged, "status_changed"),
    (NotificationType::WebhookDisabled, "webhook_disabled"),
];

pub const LEVEL_NAMES: [(Level, &str); 4] =
    [(Level::None, "none"), (Level::Visual, "visual"), (Level::SoundVisual, "sound_visual"), (Level::All, "all")];

pub fn type_name(value: i32) -> &'static str {
    TYPE_NAMES.iter().find(|(t, _)| *t as i32 == value).map_or("unspecified", |(_, n)| n)
}

pub fn level_name(value: i32) -> &'static str {
    LEVEL_NAMES.iter().find(|(l, _)| *l as i32 == value).map_or("unspecified", |(_, n)| n)
}

/// A notification as clients see it (the centre's items and the live frame's body).
pub fn notification_json(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "type": type_name(n.r#type),
        "conversation_id": id_or_null(&n.conversation_id),
        "title": n.title,
        "body": n.body,
        "level": level_name(n.level),
        "sound": n.sound,
        "browser": n.browser,
        "sla_target": id_or_null(&n.sla_target),
        "due_at": time(n.due_at.as_ref()),
        "created_at": time(n.created_at.as_ref()),
        "read_at": time(n.read_at.as_ref()),
    })
}

pub fn preferences(p: &pb::Preferences) -> Value {
    let types: serde_json::Map<String, Value> =
        p.types.iter().map(|t| (type_name(t.r#type).to_owned(), json!(level_name(t.level)))).collect();
    json!({
        "types": types,
        "do_not_disturb": p.do_not_disturb,
        "quiet_hours_start": id_or_null(&p.quiet_hours_start),
        "quiet_hours_end": id_or_null(&p.quiet_hours_end),
        "time_zone": p.time_zone,
    })
}

pub fn subscription(s: &pb::PushSubscription) -> Value {
    json!({
        "id": s.id,
        "endpoint": s.endpoint,
        "keys": {"p256dh": s.p256dh, "auth": s.auth},
        "user_agent": s.user_agent,
        "created_at": time(s.created_at.as_ref()),
    })
}

fn priority_name(value: i32) -> &'static str {
    use inbox_proto::conversation::v1::Priority;
    match Priority::try_from(value).unwrap_or(Priority::Unspecified) {
        Priority::Urgent => "urgent",
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
        Priority::Unspecified => "unspecified",
    }
}

pub fn sla_settings(s: &pb::SlaSettings) -> Value {
    json!({
        "policies": s.policies.iter().map(|p| json!({
            "priority": priority_name(p.priority),
            "first_response_seconds": p.first_response_seconds,
            "next_response_seconds": p.next_response_seconds,
            "resolution_seconds": p.resolution_seconds,
        })).collect::<Vec<_>>(),
        "warning_percent": s.warning_percent,
        "time_zone": s.time_zone,
        "business_hours": s.business_hours.iter().map(|h| json!({"weekday": h.weekday, "start": h.start, "end": h.end})).collect::<Vec<_>>(),
    })
}

pub fn sla_timer(t: &pb::SlaTimer) -> Value {
    json!({
        "target": t.target,
        "target_seconds": t.target_seconds,
        "started_at": time(t.started_at.as_ref()),
        "elapsed_seconds": t.elapsed_seconds,
        "paused": t.paused,
        "warning_at": time(t.warning_at.as_ref()),
        "due_at": time(t.due_at.as_ref()),
        "warned_at": time(t.warned_at.as_ref()),
        "breached_at": time(t.breached_at.as_ref()),
        "stopped_at": time(t.stopped_at.as_ref()),
    })
}

pub fn endpoint(e: &pb::WebhookEndpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "description": e.description,
        "enabled": e.enabled,
        "disabled_reason": id_or_null(&e.disabled_reason),
        "created_at": time(e.created_at.as_ref()),
        "failing_since": time(e.failing_since.as_ref()),
    })
}

pub fn delivery(d: &pb::WebhookDelivery) -> Value {
    let payload: Value = serde_json::from_str(&d.payload).unwrap_or(Value::String(d.payload.clone()));
    json!({
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": time(d.created_at.as_ref()),
        "next_attempt_at": time(d.next_attempt_at.as_ref()),
        "delivered_at": time(d.delivered_at.as_ref()),
        "payload": payload,
        "attempt_log": d.attempt_log.iter().map(|a| json!({
            "number": a.number,
            "at": time(a.at.as_ref()),
            "status_code": a.status_code,
            "error": id_or_null(&a.error),
            "duration_ms": a.duration_ms,
        })).collect::<Vec<_>>(),
    })
}
