//! The notification service's routes (docs/notifications.md, docs/webhooks.md):
//!
//! - people: `GET /v1/notifications?unread_only=&limit=&cursor=`, `GET /v1/notifications/unread-count`,
//!   `POST /v1/notifications/read` `{ids}`, `POST /v1/notifications/read-all`;
//!   `GET|PUT /v1/me/notification-preferences` `{types: {assigned: "all", ...}, do_not_disturb,
//!   quiet_hours_start, quiet_hours_end}`; `GET /v1/push/vapid-key`;
//!   `GET|POST /v1/me/push-subscriptions` (the browser's `PushSubscription.toJSON()`),
//!   `DELETE /v1/me/push-subscriptions/{id}`; `GET /v1/conversations/{id}/sla`;
//!   `GET|PUT /v1/settings/sla` (changing it needs the admin role);
//! - admins and the operator: `GET|PUT /v1/admin/tenants/{id}/sla`,
//!   `POST|GET /v1/admin/tenants/{id}/webhooks`, `PATCH|DELETE .../webhooks/{endpoint}`,
//!   `POST .../webhooks/{endpoint}/rotate-secret`, `GET .../webhooks/{endpoint}/deliveries?status=`,
//!   `GET .../webhooks/{endpoint}/deliveries/{delivery}`, `POST .../webhooks/{endpoint}/replay`
//!   `{delivery_ids?, since?}`; `GET|PUT /v1/admin/tenants/{id}/notification-settings`
//!   `{allow_private_webhook_addresses}` (changing it: the operator only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_notification::proto as pb;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::GatewayError;
use super::present::notification::{
    LEVEL_NAMES, TYPE_NAMES, delivery, endpoint, notification_json, preferences, sla_settings, sla_timer, subscription,
};
use super::request::{JsonBody, QueryParams, body, query, uuid_in_path};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/notifications", get(list))
        .route("/v1/notifications/unread-count", get(unread_count))
        .route("/v1/notifications/read", post(mark_read))
        .route("/v1/notifications/read-all", post(mark_all_read))
        .route("/v1/me/notification-preferences", get(get_preferences).put(put_preferences))
        .route("/v1/push/vapid-key", get(vapid_key))
        .route("/v1/me/push-subscriptions", get(list_subscriptions).post(register_subscription))
        .route("/v1/me/push-subscriptions/{id}", delete(delete_subscription))
        .route("/v1/conversations/{id}/sla", get(conversation_sla))
        .route("/v1/settings/sla", get(get_sla).put(put_sla))
        .route("/v1/admin/tenants/{tenant_id}/sla", get(admin_get_sla).put(admin_put_sla))
        .route("/v1/admin/tenants/{tenant_id}/webhooks", post(create_endpoint).get(list_endpoints))
        .route("/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}", patch(update_endpoint).delete(delete_endpoint))
        .route("/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/rotate-secret", post(rotate_secret))
        .route("/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/deliveries", get(list_deliveries))
        .route("/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}", get(get_delivery))
        .route("/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/replay", post(replay))
        .route("/v1/admin/tenants/{tenant_id}/notification-settings", get(get_tenant_settings).put(put_tenant_settings))
}

type Answer = Result<Json<Value>, GatewayError>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    unread_only: Option<bool>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    q: QueryParams<ListQuery>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let q = query(q)?;
    let request = pb::ListNotificationsRequest {
        page: Some(inbox_proto::common::v1::PageRequest {
            limit: q.limit.unwrap_or(0),
            cursor: q.cursor.unwrap_or_default(),
        }),
        unread_only: q.unread_only.unwrap_or(false),
    };
    let page =
        state.notification.clone().list_notifications(ctx.request(request, &state.service_token)?).await?.into_inner();
    Ok(Json(json!({
        "items": page.notifications.iter().map(notification_json).collect::<Vec<_>>(),
        "next_cursor": if page.next_cursor.is_empty() { Value::Null } else { json!(page.next_cursor) },
        "unread_count": page.unread_count,
    })))
}

async fn unread_count(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::UnreadCountRequest {}, &state.service_token)?;
    let n = state.notification.clone().unread_count(request).await?.into_inner();
    Ok(Json(json!({"unread_count": n.unread_count})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    ids: Vec<String>,
}

async fn mark_read(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    ids: JsonBody<Ids>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::MarkReadRequest { ids: body(ids)?.ids }, &state.service_token)?;
    let done = state.notification.clone().mark_read(request).await?.into_inner();
    Ok(Json(json!({"marked": done.marked, "unread_count": done.unread_count})))
}

async fn mark_all_read(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::MarkAllReadRequest {}, &state.service_token)?;
    let done = state.notification.clone().mark_all_read(request).await?.into_inner();
    Ok(Json(json!({"marked": done.marked, "unread_count": done.unread_count})))
}

async fn get_preferences(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::GetPreferencesRequest::default(), &state.service_token)?;
    Ok(Json(preferences(&state.notification.clone().get_preferences(request).await?.into_inner())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPreferences {
    /// Type name → level name (`none`, `visual`, `sound_visual`, `all`, or `default`).
    #[serde(default)]
    types: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    do_not_disturb: Option<bool>,
    /// Both, `HH:MM`; both `""` clear the quiet hours.
    #[serde(default)]
    quiet_hours_start: Option<String>,
    #[serde(default)]
    quiet_hours_end: Option<String>,
}

impl NewPreferences {
    fn into_proto(self) -> Result<pb::UpdatePreferencesRequest, PublicError> {
        let mut types = Vec::new();
        for (name, level) in &self.types {
            let kind = TYPE_NAMES
                .iter()
                .find(|(_, n)| n == name)
                .ok_or_else(|| PublicError::invalid_argument(format!("unknown notification type {name:?}")))?
                .0;
            let level = match level.as_str() {
                "default" => pb::Level::Unspecified,
                other => {
                    LEVEL_NAMES
                        .iter()
                        .find(|(_, n)| *n == other)
                        .ok_or_else(|| {
                            PublicError::invalid_argument(format!(
                                "level {other:?} is none, visual, sound_visual, all or default"
                            ))
                        })?
                        .0
                }
            };
            types.push(pb::TypePreference { r#type: kind as i32, level: level as i32 });
        }
        Ok(pb::UpdatePreferencesRequest {
            user_id: String::new(),
            types,
            do_not_disturb: self.do_not_disturb,
            quiet_hours_start: self.quiet_hours_start,
            quiet_hours_end: self.quiet_hours_end,
        })
    }
}

async fn put_preferences(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewPreferences>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(body(new)?.into_proto()?, &state.service_token)?;
    Ok(Json(preferences(&state.notification.clone().update_preferences(request).await?.into_inner())))
}

async fn vapid_key(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::GetVapidKeyRequest {}, &state.service_token)?;
    let key = state.notification.clone().get_vapid_key(request).await?.into_inner();
    Ok(Json(json!({"public_key": key.public_key})))
}

async fn list_subscriptions(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::ListPushSubscriptionsRequest {}, &state.service_token)?;
    let subs = state.notification.clone().list_push_subscriptions(request).await?.into_inner();
    Ok(Json(json!({"items": subs.subscriptions.iter().map(subscription).collect::<Vec<_>>()})))
}

#[derive(Debug, Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

/// The browser's `PushSubscription.toJSON()` (`expirationTime` is accepted and ignored).
#[derive(Debug, Deserialize)]
struct NewSubscription {
    endpoint: String,
    keys: Keys,
    #[serde(default)]
    user_agent: String,
}

async fn register_subscription(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewSubscription>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let new = body(new)?;
    let request = pb::RegisterPushSubscriptionRequest {
        endpoint: new.endpoint,
        p256dh: new.keys.p256dh,
        auth: new.keys.auth,
        user_agent: new.user_agent,
    };
    let sub =
        state.notification.clone().register_push_subscription(ctx.request(request, &state.service_token)?).await?;
    Ok((StatusCode::CREATED, Json(subscription(&sub.into_inner()))))
}

async fn delete_subscription(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::DeletePushSubscriptionRequest { id }, &state.service_token)?;
    state.notification.clone().delete_push_subscription(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn conversation_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::ListSlaTimersRequest { conversation_id: id }, &state.service_token)?;
    let timers = state.notification.clone().list_sla_timers(request).await?.into_inner();
    Ok(Json(json!({"items": timers.timers.iter().map(sla_timer).collect::<Vec<_>>()})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPolicy {
    priority: String,
    #[serde(default)]
    first_response_seconds: u32,
    #[serde(default)]
    next_response_seconds: u32,
    #[serde(default)]
    resolution_seconds: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHours {
    weekday: u32,
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSla {
    #[serde(default)]
    policies: Vec<NewPolicy>,
    #[serde(default)]
    warning_percent: Option<u32>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    business_hours: Vec<NewHours>,
}

impl NewSla {
    fn into_proto(self) -> Result<pb::PutSlaSettingsRequest, PublicError> {
        use inbox_proto::conversation::v1::Priority;
        let mut policies = Vec::new();
        for p in self.policies {
            let priority = match p.priority.as_str() {
                "urgent" => Priority::Urgent,
                "high" => Priority::High,
                "normal" => Priority::Normal,
                "low" => Priority::Low,
                other => {
                    return Err(PublicError::invalid_argument(format!(
                        "priority {other:?} is urgent, high, normal or low"
                    )));
                }
            };
            policies.push(pb::SlaPolicy {
                priority: priority as i32,
                first_response_seconds: p.first_response_seconds,
                next_response_seconds: p.next_response_seconds,
                resolution_seconds: p.resolution_seconds,
            });
        }
        Ok(pb::PutSlaSettingsRequest {
            settings: Some(pb::SlaSettings {
                policies,
                warning_percent: self.warning_percent.unwrap_or(80),
                time_zone: self.time_zone.unwrap_or_default(),
                business_hours: self
                    .business_hours
                    .into_iter()
                    .map(|h| pb::BusinessHours { weekday: h.weekday, start: h.start, end: h.end })
                    .collect(),
            }),
        })
    }
}

async fn read_sla(state: &AppState, ctx: CallContext) -> Answer {
    let request = ctx.request(pb::GetSlaSettingsRequest {}, &state.service_token)?;
    Ok(Json(sla_settings(&state.notification.clone().get_sla_settings(request).await?.into_inner())))
}

async fn write_sla(state: &AppState, ctx: CallContext, new: JsonBody<NewSla>) -> Answer {
    let request = ctx.request(body(new)?.into_proto()?, &state.service_token)?;
    Ok(Json(sla_settings(&state.notification.clone().put_sla_settings(request).await?.into_inner())))
}

async fn get_sla(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer {
    let state = state.get()?;
    read_sla(state, p.in_own_tenant()?).await
}

async fn put_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewSla>,
) -> Answer {
    let state = state.get()?;
    write_sla(state, p.in_own_tenant()?, new).await
}

async fn admin_get_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer {
    let state = state.get()?;
    read_sla(state, p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?).await
}

async fn admin_put_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewSla>,
) -> Answer {
    let state = state.get()?;
    write_sla(state, p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?, new).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: String,
}

async fn create_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewEndpoint>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let new = body(new)?;
    let request = pb::CreateWebhookEndpointRequest { url: new.url, events: new.events, description: new.description };
    let created =
        state.notification.clone().create_webhook_endpoint(ctx.request(request, &state.service_token)?).await?;
    let created = created.into_inner();
    let endpoint_json = created.endpoint.as_ref().map_or(Value::Null, endpoint);
    Ok((StatusCode::CREATED, Json(json!({"endpoint": endpoint_json, "secret": created.secret}))))
}

async fn list_endpoints(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::ListWebhookEndpointsRequest {}, &state.service_token)?;
    let list = state.notification.clone().list_webhook_endpoints(request).await?.into_inner();
    Ok(Json(json!({"items": list.endpoints.iter().map(endpoint).collect::<Vec<_>>()})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointChange {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

async fn update_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    change: JsonBody<EndpointChange>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let c = body(change)?;
    let request = pb::UpdateWebhookEndpointRequest {
        id: endpoint_id,
        url: c.url,
        events: c.events,
        description: c.description,
        enabled: c.enabled,
    };
    let updated =
        state.notification.clone().update_webhook_endpoint(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(endpoint(&updated.into_inner())))
}

async fn delete_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::DeleteWebhookEndpointRequest { id: endpoint_id.clone() }, &state.service_token)?;
    state.notification.clone().delete_webhook_endpoint(request).await?;
    Ok(Json(json!({"deleted": endpoint_id})))
}

async fn rotate_secret(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::RotateWebhookSecretRequest { id: endpoint_id }, &state.service_token)?;
    let rotated = state.notification.clone().rotate_webhook_secret(request).await?.into_inner();
    Ok(Json(json!({"endpoint": rotated.endpoint.as_ref().map_or(Value::Null, endpoint), "secret": rotated.secret})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list_deliveries(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    q: QueryParams<DeliveryQuery>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let q = query(q)?;
    let request = pb::ListWebhookDeliveriesRequest {
        endpoint_id,
        status: q.status.unwrap_or_default(),
        page: Some(inbox_proto::common::v1::PageRequest {
            limit: q.limit.unwrap_or(0),
            cursor: q.cursor.unwrap_or_default(),
        }),
    };
    let page = state.notification.clone().list_webhook_deliveries(ctx.request(request, &state.service_token)?).await?;
    let page = page.into_inner();
    Ok(Json(json!({
        "items": page.deliveries.iter().map(delivery).collect::<Vec<_>>(),
        "next_cursor": if page.next_cursor.is_empty() { Value::Null } else { json!(page.next_cursor) },
    })))
}

async fn get_delivery(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, _endpoint_id, delivery_id)): Path<(String, String, String)>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetWebhookDeliveryRequest { id: delivery_id }, &state.service_token)?;
    Ok(Json(delivery(&state.notification.clone().get_webhook_delivery(request).await?.into_inner())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    delivery_ids: Vec<String>,
    #[serde(default)]
    since: Option<String>,
}

async fn replay(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    r: JsonBody<ReplayRequest>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let r = body(r)?;
    let since = match r.since {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| inbox_proto::timestamp_from(t.with_timezone(&chrono::Utc)))
                .map_err(|_| PublicError::invalid_argument("since must be an RFC 3339 time"))?,
        ),
        None => None,
    };
    let request = pb::ReplayWebhookDeliveriesRequest { endpoint_id, delivery_ids: r.delivery_ids, since };
    let done =
        state.notification.clone().replay_webhook_deliveries(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(json!({"replayed": done.into_inner().replayed})))
}

async fn get_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetTenantSettingsRequest {}, &state.service_token)?;
    let s = state.notification.clone().get_tenant_settings(request).await?.into_inner();
    Ok(Json(json!({"allow_private_webhook_addresses": s.allow_private_webhook_addresses})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantSettings {
    allow_private_webhook_addresses: bool,
}

async fn put_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<TenantSettings>,
) -> Answer {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let settings =
        pb::TenantNotificationSettings { allow_private_webhook_addresses: body(new)?.allow_private_webhook_addresses };
    let request = ctx.request(pb::PutTenantSettingsRequest { settings: Some(settings) }, &state.service_token)?;
    let s = state.notification.clone().put_tenant_settings(request).await?.into_inner();
    Ok(Json(json!({"allow_private_webhook_addresses": s.allow_private_webhook_addresses})))
}

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;

    use super::*;

    #[test]
    fn preferences_and_sla_bodies_become_their_requests_and_nonsense_is_refused() {
        let prefs: NewPreferences = serde_json::from_value(json!({
            "types": {"assigned": "all", "status_changed": "default"},
            "quiet_hours_start": "22:00", "quiet_hours_end": "07:00"
        }))
        .unwrap();
        let r = prefs.into_proto().unwrap();
        assert_eq!(r.types.len(), 2);
        assert!(r.types.contains(&pb::TypePreference {
            r#type: pb::NotificationType::Assigned as i32,
            level: pb::Level::All as i32
        }));
        assert_eq!((r.quiet_hours_start.as_deref(), r.quiet_hours_end.as_deref()), (Some("22:00"), Some("07:00")));
        let cleared: NewPreferences =
            serde_json::from_value(json!({"quiet_hours_start": "", "quiet_hours_end": ""})).unwrap();
        assert_eq!(cleared.into_proto().unwrap().quiet_hours_start.as_deref(), Some(""));
        let bad: NewPreferences = serde_json::from_value(json!({"types": {"assigned": "loud"}})).unwrap();
        assert_eq!(bad.into_proto().unwrap_err().code, ErrorCode::InvalidArgument);
        let sla: NewSla = serde_json::from_value(json!({"policies": [{"priority": "critical"}]})).unwrap();
        assert_eq!(sla.into_proto().unwrap_err().code, ErrorCode::InvalidArgument);
    }
}
