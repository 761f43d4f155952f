//! `inbox.notification.v1.Notifications` over gRPC: translation and role checks only.

mod convert;

use std::collections::BTreeMap;

use base64::Engine as _;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub use convert::notification_to_proto;
use convert::{
    delivery_to_proto, endpoint_to_proto, preferences_to_proto, sla_to_proto, subscription_to_proto, timer_to_proto,
};

use crate::delivery::webpush::{SubscriberKeys, VapidKey};
use crate::directory::People;
use crate::domain::address::{check_url, is_private};
use crate::domain::facts::Priority;
use crate::domain::sla::Policy;
use crate::domain::webhook::parse_event_types;
use crate::domain::{Kind, Level, QuietHours};
use crate::proto as pb;
use crate::store::{EndpointUpdate, NotificationStore, PreferencesChange, SlaConfig, StoreError};

pub struct NotificationsApi {
    pub store: NotificationStore,
    pub people: People,
    pub vapid: std::sync::Arc<VapidKey>,
}

fn store_error(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(reason) => PublicError::invalid_argument(reason).into(),
        StoreError::NotFound(reason) => PublicError::not_found(reason).into(),
        StoreError::Conflict(reason) => PublicError::new(ErrorCode::Conflict, reason).into(),
        StoreError::Database(e) => {
            tracing::error!(error = %e, "notification store failure");
            PublicError::unavailable("notification store unavailable").into()
        }
    }
}

fn invalid(reason: impl Into<String>) -> Status {
    PublicError::invalid_argument(reason).into()
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text.trim()).map_err(|_| invalid(format!("{what} must be a uuid")))
}

fn require(ctx: &CallContext, roles: &[Role], what: &str) -> Result<(), Status> {
    if roles.contains(&ctx.role) {
        Ok(())
    } else {
        Err(PublicError::new(
            ErrorCode::PermissionDenied,
            format!("{what} is not allowed for the {} role", ctx.role.as_str()),
        )
        .into())
    }
}

const READERS: [Role; 5] = [Role::Agent, Role::Supervisor, Role::Admin, Role::Operator, Role::Service];
const ADMINS: [Role; 2] = [Role::Admin, Role::Operator];

/// The person calling (`user:<id>`).
fn caller(ctx: &CallContext) -> Result<Uuid, Status> {
    ctx.principal
        .strip_prefix("user:")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| PublicError::new(ErrorCode::PermissionDenied, "only a person has notifications").into())
}

/// The person a call is about: the caller, or (admins, the operator) anyone named.
fn subject_person(ctx: &CallContext, user_id: &str) -> Result<Uuid, Status> {
    if user_id.trim().is_empty() {
        return caller(ctx);
    }
    let named = parse_id(user_id, "user_id")?;
    if caller(ctx).ok() == Some(named) {
        return Ok(named);
    }
    require(ctx, &ADMINS, "another person's settings")?;
    Ok(named)
}

fn page_limit(page: Option<&inbox_proto::common::v1::PageRequest>) -> i64 {
    match page.map_or(0, |p| p.limit) {
        0 => 50,
        n => i64::from(n.min(200)),
    }
}

fn cursor(page: Option<&inbox_proto::common::v1::PageRequest>) -> Result<Option<Uuid>, Status> {
    match page.map(|p| p.cursor.trim()).filter(|c| !c.is_empty()) {
        Some(c) => Ok(Some(parse_id(c, "cursor")?)),
        None => Ok(None),
    }
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl NotificationsApi {
    /// Refuses a webhook or push URL this tenant may not call: not http(s), credentials, or a
    /// host that is (or resolves only to) a private address without the tenant's permission.
    async fn check_outbound_url(&self, tenant: Uuid, url: &str) -> Result<String, Status> {
        let url = url.trim();
        let allow_private = self.store.allow_private_addresses(tenant).await.map_err(store_error)?;
        let host = check_url(url, allow_private).map_err(invalid)?;
        if !allow_private {
            if !url.starts_with("https://") {
                return Err(invalid("the URL must use https"));
            }
            let port = if url.starts_with("https://") { 443 } else { 80 };
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|_| invalid(format!("{host} does not resolve")))?
                .collect();
            if found.is_empty() || found.iter().all(|a| is_private(a.ip())) {
                return Err(invalid(format!("{host} resolves only to loopback, private or link-local addresses")));
            }
        }
        Ok(url.to_owned())
    }

    async fn preferences_of(&self, tenant: Uuid, user: Uuid) -> Result<pb::Preferences, Status> {
        let prefs = self.store.preferences(tenant, user).await.map_err(store_error)?;
        let time_zone = match self.people.of(tenant).await {
            Ok(d) => d.time_zone(user).name().to_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "time zone unknown");
                String::new()
            }
        };
        Ok(preferences_to_proto(&prefs, time_zone))
    }
}

#[tonic::async_trait]
impl pb::notifications_server::Notifications for NotificationsApi {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let user = caller(&ctx)?;
        let r = request.into_inner();
        let page = self
            .store
            .list_notifications(
                ctx.tenant_id,
                user,
                r.unread_only,
                page_limit(r.page.as_ref()),
                cursor(r.page.as_ref())?,
            )
            .await
            .map_err(store_error)?;
        let unread = self.store.unread_count(ctx.tenant_id, user).await.map_err(store_error)?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page.items.iter().map(notification_to_proto).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()).unwrap_or_default(),
            unread_count: unread,
        }))
    }

    async fn unread_count(
        &self,
        request: Request<pb::UnreadCountRequest>,
    ) -> Result<Response<pb::UnreadCountResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        let unread = self.store.unread_count(ctx.tenant_id, caller(ctx)?).await.map_err(store_error)?;
        Ok(Response::new(pb::UnreadCountResponse { unread_count: unread }))
    }

    async fn mark_read(&self, request: Request<pb::MarkReadRequest>) -> Result<Response<pb::MarkReadResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let user = caller(&ctx)?;
        let ids = request.into_inner().ids.iter().map(|id| parse_id(id, "id")).collect::<Result<Vec<_>, _>>()?;
        if ids.len() > 1000 {
            return Err(invalid("at most 1000 ids"));
        }
        let marked = self.store.mark_read(ctx.tenant_id, user, Some(&ids)).await.map_err(store_error)?;
        let unread = self.store.unread_count(ctx.tenant_id, user).await.map_err(store_error)?;
        Ok(Response::new(pb::MarkReadResponse { marked, unread_count: unread }))
    }

    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        let user = caller(ctx)?;
        let marked = self.store.mark_read(ctx.tenant_id, user, None).await.map_err(store_error)?;
        Ok(Response::new(pb::MarkReadResponse { marked, unread_count: 0 }))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let ctx = CallContext::of(&request)?;
        let user = subject_person(ctx, &request.get_ref().user_id)?;
        Ok(Response::new(self.preferences_of(ctx.tenant_id, user).await?))
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let r = request.into_inner();
        let user = subject_person(&ctx, &r.user_id)?;
        let mut change = PreferencesChange { do_not_disturb: r.do_not_disturb, ..Default::default() };
        for t in &r.types {
            let kind = pb::NotificationType::try_from(t.r#type)
                .ok()
                .and_then(Kind::from_proto)
                .ok_or_else(|| invalid("unknown notification type"))?;
            let level = pb::Level::try_from(t.level).map_err(|_| invalid("unknown level"))?;
            change.levels.push((kind, Level::from_proto(level)));
        }
        match (&r.quiet_hours_start, &r.quiet_hours_end) {
            (Some(start), Some(end)) => change.quiet_hours = Some(QuietHours::parse(start, end).map_err(invalid)?),
            (None, None) => {}
            _ => return Err(invalid("quiet_hours_start and quiet_hours_end change together")),
        }
        self.store.change_preferences(ctx.tenant_id, user, &change).await.map_err(store_error)?;
        Ok(Response::new(self.preferences_of(ctx.tenant_id, user).await?))
    }

    async fn get_vapid_key(
        &self,
        _request: Request<pb::GetVapidKeyRequest>,
    ) -> Result<Response<pb::GetVapidKeyResponse>, Status> {
        Ok(Response::new(pb::GetVapidKeyResponse { public_key: self.vapid.public_key() }))
    }

    async fn register_push_subscription(
        &self,
        request: Request<pb::RegisterPushSubscriptionRequest>,
    ) -> Result<Response<pb::PushSubscription>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        let user = caller(&ctx)?;
        let r = request.into_inner();
        SubscriberKeys::parse(&r.p256dh, &r.auth).map_err(|e| invalid(e.to_string()))?;
        let endpoint = self.check_outbound_url(ctx.tenant_id, &r.endpoint).await?;
        let user_agent: String = r.user_agent.chars().take(300).collect();
        let row = self
            .store
            .register_subscription(ctx.tenant_id, user, &endpoint, r.p256dh.trim(), r.auth.trim(), &user_agent)
            .await
            .map_err(store_error)?;
        Ok(Response::new(subscription_to_proto(&row)))
    }

    async fn list_push_subscriptions(
        &self,
        request: Request<pb::ListPushSubscriptionsRequest>,
    ) -> Result<Response<pb::ListPushSubscriptionsResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        let rows = self.store.subscriptions(ctx.tenant_id, caller(ctx)?).await.map_err(store_error)?;
        Ok(Response::new(pb::ListPushSubscriptionsResponse {
            subscriptions: rows.iter().map(subscription_to_proto).collect(),
        }))
    }

    async fn delete_push_subscription(
        &self,
        request: Request<pb::DeletePushSubscriptionRequest>,
    ) -> Result<Response<pb::DeletePushSubscriptionResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        let id = parse_id(&request.get_ref().id, "id")?;
        if !self.store.delete_subscription(ctx.tenant_id, caller(ctx)?, id).await.map_err(store_error)? {
            return Err(PublicError::not_found("no such push subscription").into());
        }
        Ok(Response::new(pb::DeletePushSubscriptionResponse {}))
    }

    async fn get_sla_settings(
        &self,
        request: Request<pb::GetSlaSettingsRequest>,
    ) -> Result<Response<pb::SlaSettings>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &READERS, "reading SLA settings")?;
        let config = self.store.sla_config(ctx.tenant_id).await.map_err(store_error)?;
        Ok(Response::new(sla_to_proto(&config)))
    }

    async fn put_sla_settings(
        &self,
        request: Request<pb::PutSlaSettingsRequest>,
    ) -> Result<Response<pb::SlaSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &ADMINS, "changing SLA settings")?;
        let settings = request.into_inner().settings.unwrap_or_default();
        let mut policies = BTreeMap::new();
        for p in &settings.policies {
            let priority = match inbox_proto::conversation::v1::Priority::try_from(p.priority) {
                Ok(inbox_proto::conversation::v1::Priority::Urgent) => Priority::Urgent,
                Ok(inbox_proto::conversation::v1::Priority::High) => Priority::High,
                Ok(inbox_proto::conversation::v1::Priority::Normal) => Priority::Normal,
                Ok(inbox_proto::conversation::v1::Priority::Low) => Priority::Low,
                _ => return Err(invalid("each policy names a priority: urgent, high, normal or low")),
            };
            let target = |s: u32| (s > 0).then_some(i64::from(s));
            let policy = Policy {
                first_response: target(p.first_response_seconds),
                next_response: target(p.next_response_seconds),
                resolution: target(p.resolution_seconds),
            };
            if policies.insert(priority.as_str(), policy).is_some() {
                return Err(invalid(format!("two policies for priority {}", priority.as_str())));
            }
        }
        let hours = settings.business_hours.iter().map(|h| (h.weekday, h.start.clone(), h.end.clone())).collect();
        let config = SlaConfig::new(settings.warning_percent, &settings.time_zone, hours, policies).map_err(invalid)?;
        self.store.put_sla_config(ctx.tenant_id, &config).await.map_err(store_error)?;
        Ok(Response::new(sla_to_proto(&config)))
    }

    async fn list_sla_timers(
        &self,
        request: Request<pb::ListSlaTimersRequest>,
    ) -> Result<Response<pb::ListSlaTimersResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &READERS, "reading SLA timers")?;
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        let rows = self.store.timers_of(ctx.tenant_id, id).await.map_err(store_error)?;
        let config = self.store.sla_config(ctx.tenant_id).await.map_err(store_error)?;
        let now = self.store.clock().now();
        Ok(Response::new(pb::ListSlaTimersResponse {
            timers: rows.iter().map(|r| timer_to_proto(r, &config, now)).collect(),
        }))
    }

    async fn create_webhook_endpoint(
        &self,
        request: Request<pb::CreateWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpointWithSecret>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &ADMINS, "managing webhook endpoints")?;
        let r = request.into_inner();
        let url = self.check_outbound_url(ctx.tenant_id, &r.url).await?;
        let events = parse_event_types(&r.events).map_err(invalid)?;
        let description: String = r.description.trim().chars().take(500).collect();
        let secret = new_secret();
        let row = self
            .store
            .create_endpoint(ctx.tenant_id, &url, &events, &description, &secret)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::WebhookEndpointWithSecret { endpoint: Some(endpoint_to_proto(&row)), secret }))
    }

    async fn list_webhook_endpoints(
        &self,
        request: Request<pb::ListWebhookEndpointsRequest>,
    ) -> Result<Response<pb::ListWebhookEndpointsResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &ADMINS, "managing webhook endpoints")?;
        let rows = self.store.endpoints(ctx.tenant_id).await.map_err(store_error)?;
        Ok(Response::new(pb::ListWebhookEndpointsResponse { endpoints: rows.iter().map(endpoint_to_proto).collect() }))
    }

    async fn update_webhook_endpoint(
        &self,
        request: Request<pb::UpdateWebhookEndpointRequest>,
    ) -> Result<Response<pb::WebhookEndpoint>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &ADMINS, "managing webhook endpoints")?;
        let r = request.into_inner();
        let id = parse_id(&r.id, "id")?;
        let url = match &r.url {
            Some(url) => Some(self.check_outbound_url(ctx.tenant_id, url).await?),
            None => None,
        };
        let events = if r.events.is_empty() { None } else { Some(parse_event_types(&r.events).map_err(invalid)?) };
        let update = EndpointUpdate {
            url,
            events,
            description: r.description.map(|d| d.trim().chars().take(500).collect()),
            enabled: r.enabled,
        };
        let row = self
            .store
            .update_endpoint(ctx.tenant_id, id, &update)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Status::from(PublicError::not_found("no such webhook endpoint")))?;
        Ok(Response::new(endpoint_to_proto(&row)))
    }

    async fn delete_webhook_endpoint(
        &self,
        request: Request<pb::DeleteWebhookEndpointRequest>,
    ) -> Result<Response<pb::DeleteWebhookEndpointResponse>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &ADMINS, "managing webhook endpoints")?;
        let id = parse_id(&request.get_ref().id, "id")?;
        if !self.store.delete_endpoint(ctx.tenant_id, id).await.map_err(store_error)? {
            return Err(PublicError::not_found("no such webhook endpoint").into());
        }
        Ok(Response::new(pb::DeleteWebhookEndpointResponse {}))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::WebhookEndpointWithSecret>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &ADMINS, "managing webhook endpoints")?;
        let id = parse_id(&request.get_ref().id, "id")?;
        let secret = new_secret();
        let row = self
            .store
            .rotate_secret(ctx.tenant_id, id, &secret)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Status::from(PublicError::not_found("no such webhook endpoint")))?;
        Ok(Response::new(pb::WebhookEndpointWithSecret { endpoint: Some(endpoint_to_proto(&row)), secret }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &ADMINS, "reading webhook deliveries")?;
        let r = request.into_inner();
        let endpoint = parse_id(&r.endpoint_id, "endpoint_id")?;
        let status = match r.status.trim() {
            "" => None,
            s @ ("pending" | "delivered" | "failed") => Some(s),
            other => return Err(invalid(format!("status must be pending, delivered or failed, not {other:?}"))),
        };
        let (rows, next) = self
            .store
            .deliveries(ctx.tenant_id, endpoint, status, page_limit(r.page.as_ref()), cursor(r.page.as_ref())?)
            .await
            .map_err(store_error)?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: rows.iter().map(|d| delivery_to_proto(d, &[])).collect(),
            next_cursor: next.map(|c| c.to_string()).unwrap_or_default(),
        }))
    }

    async fn get_webhook_delivery(
        &self,
        request: Request<pb::GetWebhookDeliveryRequest>,
    ) -> Result<Response<pb::WebhookDelivery>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &ADMINS, "reading webhook deliveries")?;
        let id = parse_id(&request.get_ref().id, "id")?;
        let (row, attempts) = self
            .store
            .delivery(ctx.tenant_id, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| Status::from(PublicError::not_found("no such delivery")))?;
        Ok(Response::new(delivery_to_proto(&row, &attempts)))
    }

    async fn replay_webhook_deliveries(
        &self,
        request: Request<pb::ReplayWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ReplayWebhookDeliveriesResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &ADMINS, "replaying webhook deliveries")?;
        let r = request.into_inner();
        let endpoint = parse_id(&r.endpoint_id, "endpoint_id")?;
        let ids = r.delivery_ids.iter().map(|id| parse_id(id, "delivery id")).collect::<Result<Vec<_>, _>>()?;
        let since = r.since.as_ref().and_then(inbox_proto::timestamp_to_utc);
        if ids.is_empty() && since.is_none() {
            return Err(invalid("replay: give delivery_ids or since"));
        }
        if self.store.endpoint(ctx.tenant_id, endpoint).await.map_err(store_error)?.is_none() {
            return Err(PublicError::not_found("no such webhook endpoint").into());
        }
        let replayed = self.store.replay(ctx.tenant_id, endpoint, &ids, since).await.map_err(store_error)?;
        Ok(Response::new(pb::ReplayWebhookDeliveriesResponse { replayed }))
    }

    async fn get_tenant_settings(
        &self,
        request: Request<pb::GetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantNotificationSettings>, Status> {
        let ctx = CallContext::of(&request)?;
        require(ctx, &ADMINS, "reading tenant notification settings")?;
        let allowed = self.store.allow_private_addresses(ctx.tenant_id).await.map_err(store_error)?;
        Ok(Response::new(pb::TenantNotificationSettings { allow_private_webhook_addresses: allowed }))
    }

    async fn put_tenant_settings(
        &self,
        request: Request<pb::PutTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantNotificationSettings>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &[Role::Operator], "changing tenant notification settings")?;
        let allowed = request.into_inner().settings.unwrap_or_default().allow_private_webhook_addresses;
        self.store.set_allow_private_addresses(ctx.tenant_id, allowed).await.map_err(store_error)?;
        Ok(Response::new(pb::TenantNotificationSettings { allow_private_webhook_addresses: allowed }))
    }
}
