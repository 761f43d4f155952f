//! Notification service answers as JSON: notifications, preferences, push subscriptions, SLA
//! settings and timers, webhook endpoints and their deliveries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use inbox_notification::proto as pb;
use inbox_notification::proto::{Level, Notification, NotificationType};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::non_empty;

/// A time as the notification answers write it (RFC 3339 in UTC, as chrono writes it).
pub fn time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(inbox_proto::timestamp_to_utc)
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Notification)]
pub struct NotificationJson {
    pub id: String,
    /// new_conversation, assigned, customer_replied, urgent, sla_warning, sla_breached,
    /// status_changed or webhook_disabled.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub conversation_id: Option<String>,
    pub title: String,
    pub body: String,
    /// none, visual, sound_visual or all.
    pub level: &'static str,
    pub sound: bool,
    pub browser: bool,
    /// The SLA target of an SLA notification.
    pub sla_target: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
}

/// A notification as clients see it (the centre's items and the live frame's body).
pub fn notification_json(n: &Notification) -> NotificationJson {
    NotificationJson {
        id: n.id.clone(),
        kind: type_name(n.r#type),
        conversation_id: non_empty(&n.conversation_id),
        title: n.title.clone(),
        body: n.body.clone(),
        level: level_name(n.level),
        sound: n.sound,
        browser: n.browser,
        sla_target: non_empty(&n.sla_target),
        due_at: time(n.due_at.as_ref()),
        created_at: time(n.created_at.as_ref()),
        read_at: time(n.read_at.as_ref()),
    }
}

/// A person's notification preferences.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NotificationPreferences)]
pub struct PreferencesJson {
    /// Notification type → level (none, visual, sound_visual, all).
    pub types: BTreeMap<&'static str, &'static str>,
    pub do_not_disturb: bool,
    /// `HH:MM`; `null` without quiet hours.
    pub quiet_hours_start: Option<String>,
    pub quiet_hours_end: Option<String>,
    pub time_zone: String,
}

pub fn preferences(p: &pb::Preferences) -> PreferencesJson {
    PreferencesJson {
        types: p.types.iter().map(|t| (type_name(t.r#type), level_name(t.level))).collect(),
        do_not_disturb: p.do_not_disturb,
        quiet_hours_start: non_empty(&p.quiet_hours_start),
        quiet_hours_end: non_empty(&p.quiet_hours_end),
        time_zone: p.time_zone.clone(),
    }
}

/// A browser's push subscription keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// A browser subscribed to Web Push.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PushSubscription)]
pub struct SubscriptionJson {
    pub id: String,
    pub endpoint: String,
    pub keys: PushKeys,
    pub user_agent: String,
    pub created_at: Option<DateTime<Utc>>,
}

pub fn subscription(s: &pb::PushSubscription) -> SubscriptionJson {
    SubscriptionJson {
        id: s.id.clone(),
        endpoint: s.endpoint.clone(),
        keys: PushKeys { p256dh: s.p256dh.clone(), auth: s.auth.clone() },
        user_agent: s.user_agent.clone(),
        created_at: time(s.created_at.as_ref()),
    }
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

/// The response targets of one priority.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPolicy {
    /// urgent, high, normal or low.
    pub priority: &'static str,
    pub first_response_seconds: u32,
    pub next_response_seconds: u32,
    pub resolution_seconds: u32,
}

/// The hours of one weekday that SLA clocks run in.
#[derive(Debug, Serialize, ToSchema)]
pub struct BusinessHours {
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: u32,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
}

/// The tenant's SLA targets and business hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaSettings {
    pub policies: Vec<SlaPolicy>,
    /// Share of a target at which a warning goes out.
    pub warning_percent: u32,
    pub time_zone: String,
    pub business_hours: Vec<BusinessHours>,
}

pub fn sla_settings(s: &pb::SlaSettings) -> SlaSettings {
    SlaSettings {
        policies: s
            .policies
            .iter()
            .map(|p| SlaPolicy {
                priority: priority_name(p.priority),
                first_response_seconds: p.first_response_seconds,
                next_response_seconds: p.next_response_seconds,
                resolution_seconds: p.resolution_seconds,
            })
            .collect(),
        warning_percent: s.warning_percent,
        time_zone: s.time_zone.clone(),
        business_hours: s
            .business_hours
            .iter()
            .map(|h| BusinessHours { weekday: h.weekday, start: h.start.clone(), end: h.end.clone() })
            .collect(),
    }
}

/// One SLA clock of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTimer {
    /// first_response, next_response or resolution.
    pub target: String,
    pub target_seconds: u32,
    pub started_at: Option<DateTime<Utc>>,
    pub elapsed_seconds: u64,
    pub paused: bool,
    pub warning_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
    pub breached_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
}

pub fn sla_timer(t: &pb::SlaTimer) -> SlaTimer {
    SlaTimer {
        target: t.target.clone(),
        target_seconds: t.target_seconds,
        started_at: time(t.started_at.as_ref()),
        elapsed_seconds: t.elapsed_seconds,
        paused: t.paused,
        warning_at: time(t.warning_at.as_ref()),
        due_at: time(t.due_at.as_ref()),
        warned_at: time(t.warned_at.as_ref()),
        breached_at: time(t.breached_at.as_ref()),
        stopped_at: time(t.stopped_at.as_ref()),
    }
}

/// Where the tenant's webhook events go.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointJson {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
}

pub fn endpoint(e: &pb::WebhookEndpoint) -> EndpointJson {
    EndpointJson {
        id: e.id.clone(),
        url: e.url.clone(),
        events: e.events.clone(),
        description: e.description.clone(),
        enabled: e.enabled,
        disabled_reason: non_empty(&e.disabled_reason),
        created_at: time(e.created_at.as_ref()),
        failing_since: time(e.failing_since.as_ref()),
    }
}

/// One attempt of a webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttempt {
    pub number: u32,
    pub at: Option<DateTime<Utc>>,
    /// The HTTP status; 0 when no answer came.
    pub status_code: u32,
    pub error: Option<String>,
    pub duration_ms: u32,
}

/// A webhook event's delivery to an endpoint, with its attempts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryJson {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: u32,
    pub created_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The event as sent: its JSON.
    #[schema(schema_with = any_json)]
    pub payload: Value,
    pub attempt_log: Vec<WebhookAttempt>,
}

/// Any JSON value.
fn any_json() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .description(Some("Any JSON value"))
        .build()
}

pub fn delivery(d: &pb::WebhookDelivery) -> DeliveryJson {
    DeliveryJson {
        id: d.id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        event_type: d.event_type.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        created_at: time(d.created_at.as_ref()),
        next_attempt_at: time(d.next_attempt_at.as_ref()),
        delivered_at: time(d.delivered_at.as_ref()),
        payload: serde_json::from_str(&d.payload).unwrap_or(Value::String(d.payload.clone())),
        attempt_log: d
            .attempt_log
            .iter()
            .map(|a| WebhookAttempt {
                number: a.number,
                at: time(a.at.as_ref()),
                status_code: a.status_code,
                error: non_empty(&a.error),
                duration_ms: a.duration_ms,
            })
            .collect(),
    }
}
