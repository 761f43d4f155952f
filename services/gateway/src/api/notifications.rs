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

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use inbox_errors::PublicError;
use inbox_notification::proto as pb;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::notification::{
    DeliveryJson, EndpointJson, LEVEL_NAMES, NotificationJson, PreferencesJson, SlaSettings, SlaTimer,
    SubscriptionJson, TYPE_NAMES, delivery, endpoint, notification_json, preferences, sla_settings, sla_timer,
    subscription,
};
use super::present::{Items, Page, items, non_empty};
use super::request::{JsonBody, QueryParams, body, query, uuid_in_path};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(vapid_key))
        .routes(routes!(list_subscriptions, register_subscription))
        .routes(routes!(delete_subscription))
        .routes(routes!(conversation_sla))
        .routes(routes!(get_sla, put_sla))
        .routes(routes!(admin_get_sla, admin_put_sla))
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(replay))
        .routes(routes!(get_tenant_settings, put_tenant_settings))
}

type Answer<T> = Result<Json<T>, GatewayError>;

/// A page of the caller's notifications, with how many are unread.
#[derive(Debug, Serialize, ToSchema)]
struct NotificationPage {
    items: Vec<NotificationJson>,
    /// `null` on the last page.
    next_cursor: Option<String>,
    unread_count: u64,
}

/// How many of the caller's notifications are unread.
#[derive(Debug, Serialize, ToSchema)]
struct UnreadCount {
    unread_count: u64,
}

/// How many notifications were marked read, and how many remain unread.
#[derive(Debug, Serialize, ToSchema)]
struct Marked {
    marked: u64,
    unread_count: u64,
}

/// The key browsers subscribe to Web Push with.
#[derive(Debug, Serialize, ToSchema)]
struct VapidKey {
    /// The VAPID public key (base64url, uncompressed P-256 point).
    public_key: String,
}

/// A webhook endpoint with its signing secret (shown when created or rotated).
#[derive(Debug, Serialize, ToSchema)]
struct EndpointWithSecret {
    endpoint: Option<EndpointJson>,
    secret: String,
}

/// The id of a deleted webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
struct DeletedEndpoint {
    deleted: String,
}

/// How many deliveries were queued again.
#[derive(Debug, Serialize, ToSchema)]
struct Replayed {
    replayed: u64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    #[serde(default)]
    unread_only: Option<bool>,
    #[serde(default)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

/// The caller's notifications, the newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", operation_id = "list_notifications",
    params(ListQuery),
    responses((status = 200, description = "A page of notifications", body = NotificationPage)))]
async fn list(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    q: QueryParams<ListQuery>,
) -> Answer<NotificationPage> {
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
    Ok(Json(NotificationPage {
        items: page.notifications.iter().map(notification_json).collect(),
        next_cursor: non_empty(&page.next_cursor),
        unread_count: page.unread_count,
    }))
}

/// How many of the caller's notifications are unread.
#[utoipa::path(get, path = "/v1/notifications/unread-count", tag = "notifications",
    responses((status = 200, description = "The count", body = UnreadCount)))]
async fn unread_count(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
) -> Answer<UnreadCount> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::UnreadCountRequest {}, &state.service_token)?;
    let n = state.notification.clone().unread_count(request).await?.into_inner();
    Ok(Json(UnreadCount { unread_count: n.unread_count }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationIds)]
struct Ids {
    ids: Vec<String>,
}

/// Marks some of the caller's notifications read.
#[utoipa::path(post, path = "/v1/notifications/read", tag = "notifications", operation_id = "mark_notifications_read",
    request_body = Ids,
    responses((status = 200, description = "Marked", body = Marked)))]
async fn mark_read(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    ids: JsonBody<Ids>,
) -> Answer<Marked> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::MarkReadRequest { ids: body(ids)?.ids }, &state.service_token)?;
    let done = state.notification.clone().mark_read(request).await?.into_inner();
    Ok(Json(Marked { marked: done.marked, unread_count: done.unread_count }))
}

/// Marks every notification of the caller read.
#[utoipa::path(post, path = "/v1/notifications/read-all", tag = "notifications",
    responses((status = 200, description = "Marked", body = Marked)))]
async fn mark_all_read(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer<Marked> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::MarkAllReadRequest {}, &state.service_token)?;
    let done = state.notification.clone().mark_all_read(request).await?.into_inner();
    Ok(Json(Marked { marked: done.marked, unread_count: done.unread_count }))
}

/// The caller's notification preferences.
#[utoipa::path(get, path = "/v1/me/notification-preferences", tag = "notifications",
    responses((status = 200, description = "The preferences", body = PreferencesJson)))]
async fn get_preferences(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
) -> Answer<PreferencesJson> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::GetPreferencesRequest::default(), &state.service_token)?;
    Ok(Json(preferences(&state.notification.clone().get_preferences(request).await?.into_inner())))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
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

/// Changes the caller's notification preferences (fields left out stay).
#[utoipa::path(put, path = "/v1/me/notification-preferences", tag = "notifications",
    request_body = NewPreferences,
    responses((status = 200, description = "The preferences in force", body = PreferencesJson)))]
async fn put_preferences(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewPreferences>,
) -> Answer<PreferencesJson> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(body(new)?.into_proto()?, &state.service_token)?;
    Ok(Json(preferences(&state.notification.clone().update_preferences(request).await?.into_inner())))
}

/// The key browsers subscribe to Web Push with.
#[utoipa::path(get, path = "/v1/push/vapid-key", tag = "notifications",
    responses((status = 200, description = "The key", body = VapidKey)))]
async fn vapid_key(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer<VapidKey> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::GetVapidKeyRequest {}, &state.service_token)?;
    let key = state.notification.clone().get_vapid_key(request).await?.into_inner();
    Ok(Json(VapidKey { public_key: key.public_key }))
}

/// The caller's browsers subscribed to Web Push.
#[utoipa::path(get, path = "/v1/me/push-subscriptions", tag = "notifications",
    responses((status = 200, description = "The subscriptions", body = Items<SubscriptionJson>)))]
async fn list_subscriptions(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
) -> Answer<Items<SubscriptionJson>> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::ListPushSubscriptionsRequest {}, &state.service_token)?;
    let subs = state.notification.clone().list_push_subscriptions(request).await?.into_inner();
    Ok(Json(items(subs.subscriptions.iter().map(subscription))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewPushKeys)]
struct Keys {
    p256dh: String,
    auth: String,
}

/// The browser's `PushSubscription.toJSON()` (`expirationTime` is accepted and ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewPushSubscription)]
struct NewSubscription {
    endpoint: String,
    keys: Keys,
    #[serde(default)]
    user_agent: String,
}

/// Subscribes the caller's browser to Web Push.
#[utoipa::path(post, path = "/v1/me/push-subscriptions", tag = "notifications",
    request_body = NewSubscription,
    responses((status = 201, description = "Subscribed", body = SubscriptionJson)))]
async fn register_subscription(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewSubscription>,
) -> Result<(StatusCode, Json<SubscriptionJson>), GatewayError> {
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

/// Unsubscribes a browser of the caller.
#[utoipa::path(delete, path = "/v1/me/push-subscriptions/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The subscription")),
    responses((status = 204, description = "Gone")))]
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

/// The conversation's SLA clocks.
#[utoipa::path(get, path = "/v1/conversations/{id}/sla", tag = "notifications",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The clocks", body = Items<SlaTimer>)))]
async fn conversation_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(id): Path<String>,
) -> Answer<Items<SlaTimer>> {
    let state = state.get()?;
    let ctx = p.in_own_tenant()?;
    let request = ctx.request(pb::ListSlaTimersRequest { conversation_id: id }, &state.service_token)?;
    let timers = state.notification.clone().list_sla_timers(request).await?.into_inner();
    Ok(Json(items(timers.timers.iter().map(sla_timer))))
}

#[derive(Debug, Deserialize, ToSchema)]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewHours {
    weekday: u32,
    start: String,
    end: String,
}

#[derive(Debug, Deserialize, ToSchema)]
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

async fn read_sla(state: &AppState, ctx: CallContext) -> Answer<SlaSettings> {
    let request = ctx.request(pb::GetSlaSettingsRequest {}, &state.service_token)?;
    Ok(Json(sla_settings(&state.notification.clone().get_sla_settings(request).await?.into_inner())))
}

async fn write_sla(state: &AppState, ctx: CallContext, new: JsonBody<NewSla>) -> Answer<SlaSettings> {
    let request = ctx.request(body(new)?.into_proto()?, &state.service_token)?;
    Ok(Json(sla_settings(&state.notification.clone().put_sla_settings(request).await?.into_inner())))
}

/// The tenant's SLA targets and business hours.
#[utoipa::path(get, path = "/v1/settings/sla", tag = "settings",
    responses((status = 200, description = "The settings", body = SlaSettings)))]
async fn get_sla(State(state): State<WhenReady<AppState>>, Authenticated(p): Authenticated) -> Answer<SlaSettings> {
    let state = state.get()?;
    read_sla(state, p.in_own_tenant()?).await
}

/// Changes the tenant's SLA targets and business hours (admins).
#[utoipa::path(put, path = "/v1/settings/sla", tag = "settings",
    request_body = NewSla,
    responses((status = 200, description = "The settings in force", body = SlaSettings)))]
async fn put_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    new: JsonBody<NewSla>,
) -> Answer<SlaSettings> {
    let state = state.get()?;
    write_sla(state, p.in_own_tenant()?, new).await
}

/// A tenant's SLA settings (its admins and the operator).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/sla", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The settings", body = SlaSettings)))]
async fn admin_get_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer<SlaSettings> {
    let state = state.get()?;
    read_sla(state, p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?).await
}

/// Changes a tenant's SLA settings (its admins and the operator).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/sla", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewSla,
    responses((status = 200, description = "The settings in force", body = SlaSettings)))]
async fn admin_put_sla(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewSla>,
) -> Answer<SlaSettings> {
    let state = state.get()?;
    write_sla(state, p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?, new).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewWebhookEndpoint)]
struct NewEndpoint {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: String,
}

/// A webhook endpoint, with its signing secret (shown once).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/webhooks", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewEndpoint,
    responses((status = 201, description = "Created", body = EndpointWithSecret)))]
async fn create_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewEndpoint>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), GatewayError> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let new = body(new)?;
    let request = pb::CreateWebhookEndpointRequest { url: new.url, events: new.events, description: new.description };
    let created =
        state.notification.clone().create_webhook_endpoint(ctx.request(request, &state.service_token)?).await?;
    let created = created.into_inner();
    let answer = EndpointWithSecret { endpoint: created.endpoint.as_ref().map(endpoint), secret: created.secret };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The tenant's webhook endpoints.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/webhooks", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The endpoints", body = Items<EndpointJson>)))]
async fn list_endpoints(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer<Items<EndpointJson>> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::ListWebhookEndpointsRequest {}, &state.service_token)?;
    let list = state.notification.clone().list_webhook_endpoints(request).await?.into_inner();
    Ok(Json(items(list.endpoints.iter().map(endpoint))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointChange)]
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

/// Changes a webhook endpoint (enabling a disabled one too).
#[utoipa::path(patch, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint")),
    request_body = EndpointChange,
    responses((status = 200, description = "The endpoint", body = EndpointJson)))]
async fn update_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    change: JsonBody<EndpointChange>,
) -> Answer<EndpointJson> {
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

/// Deletes a webhook endpoint.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint")),
    responses((status = 200, description = "The deleted endpoint's id", body = DeletedEndpoint)))]
async fn delete_endpoint(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
) -> Answer<DeletedEndpoint> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::DeleteWebhookEndpointRequest { id: endpoint_id.clone() }, &state.service_token)?;
    state.notification.clone().delete_webhook_endpoint(request).await?;
    Ok(Json(DeletedEndpoint { deleted: endpoint_id }))
}

/// A new signing secret for a webhook endpoint (shown once).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/rotate-secret", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint")),
    responses((status = 200, description = "The endpoint and its new secret", body = EndpointWithSecret)))]
async fn rotate_secret(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
) -> Answer<EndpointWithSecret> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::RotateWebhookSecretRequest { id: endpoint_id }, &state.service_token)?;
    let rotated = state.notification.clone().rotate_webhook_secret(request).await?.into_inner();
    Ok(Json(EndpointWithSecret { endpoint: rotated.endpoint.as_ref().map(endpoint), secret: rotated.secret }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// pending, delivered, failed, ...
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

/// An endpoint's deliveries, the newest first.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/deliveries", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint"), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = Page<DeliveryJson>)))]
async fn list_deliveries(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    q: QueryParams<DeliveryQuery>,
) -> Answer<Page<DeliveryJson>> {
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
    Ok(Json(Page::new(page.deliveries.iter().map(delivery).collect(), page.next_cursor)))
}

/// One delivery with its attempts.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}",
    tag = "admin", operation_id = "get_webhook_delivery",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint"), ("delivery_id" = String, Path, description = "The delivery")),
    responses((status = 200, description = "The delivery", body = DeliveryJson)))]
async fn get_delivery(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, _endpoint_id, delivery_id)): Path<(String, String, String)>,
) -> Answer<DeliveryJson> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetWebhookDeliveryRequest { id: delivery_id }, &state.service_token)?;
    Ok(Json(delivery(&state.notification.clone().get_webhook_delivery(request).await?.into_inner())))
}

/// Which deliveries to send again: by id, or every one since a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookDeliveryReplay)]
struct ReplayRequest {
    #[serde(default)]
    delivery_ids: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    since: Option<String>,
}

/// Sends deliveries of an endpoint again.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/webhooks/{endpoint_id}/replay", tag = "admin",
    operation_id = "replay_webhook_deliveries",
    params(("tenant_id" = String, Path, description = "The tenant"), ("endpoint_id" = String, Path, description = "The webhook endpoint")),
    request_body = ReplayRequest,
    responses((status = 200, description = "How many were queued again", body = Replayed)))]
async fn replay(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path((tenant_id, endpoint_id)): Path<(String, String)>,
    r: JsonBody<ReplayRequest>,
) -> Answer<Replayed> {
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
    Ok(Json(Replayed { replayed: done.into_inner().replayed }))
}

/// A tenant's notification settings (its admins and the operator).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/notification-settings", tag = "admin",
    operation_id = "get_notification_settings",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The settings", body = TenantSettings)))]
async fn get_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
) -> Answer<TenantSettings> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::GetTenantSettingsRequest {}, &state.service_token)?;
    let s = state.notification.clone().get_tenant_settings(request).await?.into_inner();
    Ok(Json(TenantSettings { allow_private_webhook_addresses: s.allow_private_webhook_addresses }))
}

/// Whether webhook endpoints may resolve to private addresses (changing it: the operator only).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationSettings)]
struct TenantSettings {
    allow_private_webhook_addresses: bool,
}

/// Changes a tenant's notification settings (the operator).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/notification-settings", tag = "admin",
    operation_id = "put_notification_settings",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = TenantSettings,
    responses((status = 200, description = "The settings in force", body = TenantSettings)))]
async fn put_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(p): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<TenantSettings>,
) -> Answer<TenantSettings> {
    let state = state.get()?;
    let ctx = p.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let settings =
        pb::TenantNotificationSettings { allow_private_webhook_addresses: body(new)?.allow_private_webhook_addresses };
    let request = ctx.request(pb::PutTenantSettingsRequest { settings: Some(settings) }, &state.service_token)?;
    let s = state.notification.clone().put_tenant_settings(request).await?.into_inner();
    Ok(Json(TenantSettings { allow_private_webhook_addresses: s.allow_private_webhook_addresses }))
}

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;
    use serde_json::json;

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
