//! `/v1/admin`: tenants (operator only), users (with their routing profile: capacity, time
//! zone) and their tokens, channel accounts (operator or the tenant's admins). Every write is an upsert, so a retried request changes nothing more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::ingest::v1 as ingest;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{AppState, store_failure, upstream_failure};
use crate::auth::{Authenticated, Principal};

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/admin/tenants", post(create_tenant))
        .route("/v1/admin/tenants/{tenant_id}/users", post(create_user))
        .route("/v1/admin/tenants/{tenant_id}/users/{user_id}/tokens", post(issue_token))
        .route("/v1/admin/tenants/{tenant_id}/channels/whatsapp", post(connect_whatsapp).get(list_whatsapp))
        .route("/v1/admin/tenants/{tenant_id}/channels/webchat", post(create_webchat_widget).get(list_webchat_widgets))
        .route("/v1/admin/tenants/{tenant_id}/channels/webchat/replay", post(super::whatsapp::replay))
        .route(
            "/v1/admin/tenants/{tenant_id}/channels/webchat/{widget_id}",
            axum::routing::put(update_webchat_widget).delete(delete_webchat_widget),
        )
}

/// Rejects a JSON body axum could not parse with our error shape.
type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

fn body<T>(body: JsonBody<T>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))
}

pub(crate) fn tenant_path(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError(PublicError::invalid_argument("tenant id must be a uuid")))
}

/// The call context of an admin (or the operator) acting in the tenant named by the path, which
/// must exist: what connecting a channel account takes.
pub(crate) async fn admin_of_existing_tenant(
    state: &AppState,
    principal: &Principal,
    tenant: &str,
) -> Result<inbox_service::CallContext, ApiError> {
    let tenant_id = tenant_path(tenant)?;
    let ctx = principal.require_admin_of(tenant_id)?;
    if state.store.tenant(tenant_id).await.map_err(store_failure)?.is_none() {
        return Err(PublicError::not_found("tenant not found").into());
    }
    Ok(ctx)
}

/// Gives the conversation service (owner of the settings) the new tenant's time zone and
/// name as company name, unless the tenant's settings were configured already: a retried
/// create completes the seeding, and never undoes an admin's later changes.
async fn seed_tenant_settings(state: &AppState, tenant: &crate::store::Tenant) -> Result<(), ApiError> {
    use inbox_proto::conversation::v1 as pb;
    let ctx = Principal::Operator.acting_in(tenant.id)?;
    let current = state
        .conversations
        .clone()
        .get_tenant_settings(ctx.request(pb::GetTenantSettingsRequest {}, &state.service_token)?)
        .await
        .map_err(super::upstream_failure)?
        .into_inner();
    let never_configured = current.time_zone == "UTC" && current.company_name.is_empty();
    if never_configured {
        let settings =
            pb::TenantSettings { time_zone: tenant.time_zone.clone(), company_name: tenant.name.clone(), ..current };
        state
            .conversations
            .clone()
            .set_tenant_settings(
                ctx.request(pb::SetTenantSettingsRequest { settings: Some(settings) }, &state.service_token)?,
            )
            .await
            .map_err(super::upstream_failure)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    slug: String,
    name: String,
    #[serde(default = "utc")]
    time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

async fn create_tenant(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let state = state.get()?;
    if principal != Principal::Operator {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "creating tenants needs the operator token").into());
    }
    let new = body(new)?;
    let slug_ok = new.slug.len() >= 2
        && new.slug.len() <= 63
        && new.slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !new.slug.starts_with('-');
    if !slug_ok {
        return Err(PublicError::invalid_argument("slug must be 2-63 lowercase letters, digits or dashes").into());
    }
    if new.name.trim().is_empty() {
        return Err(PublicError::invalid_argument("name is required").into());
    }
    if new.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(PublicError::invalid_argument(format!("unknown time zone {:?}", new.time_zone)).into());
    }
    let (tenant, created) =
        state.store.upsert_tenant(&new.slug, new.name.trim(), &new.time_zone).await.map_err(store_failure)?;
    seed_tenant_settings(state, &tenant).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!(tenant))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    name: String,
    role: String,
    /// Routing profile: most open conversations at once (default 5).
    #[serde(default)]
    capacity: Option<u32>,
    /// Routing profile: IANA time zone (default UTC).
    #[serde(default)]
    time_zone: Option<String>,
}

async fn create_user(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let state = state.get()?;
    let tenant_id = tenant_path(&tenant_id)?;
    let ctx = principal.require_admin_of(tenant_id)?;
    let new = body(new)?;
    if !matches!(new.role.as_str(), "admin" | "supervisor" | "agent" | "ai") {
        return Err(PublicError::invalid_argument("role must be admin, supervisor, agent or ai").into());
    }
    let email = new.email.trim();
    let valid_email = email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid_email {
        return Err(PublicError::invalid_argument(format!("{email:?} is not an email address")).into());
    }
    if new.name.trim().is_empty() {
        return Err(PublicError::invalid_argument("name is required").into());
    }
    if state.store.tenant(tenant_id).await.map_err(store_failure)?.is_none() {
        return Err(PublicError::not_found("tenant not found").into());
    }
    let user = state.store.upsert_user(tenant_id, email, new.name.trim(), &new.role).await.map_err(store_failure)?;
    // People get their working profile in routing (same id); a retry upserts both again.
    let mut answer = json!(user);
    if user.role != "ai" {
        let fields = super::routing::ProfileFields { capacity: new.capacity, time_zone: new.time_zone };
        answer["profile"] = super::routing::upsert_profile(state, &ctx, &user, &fields).await?;
    }
    Ok((StatusCode::OK, Json(answer)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[serde(default)]
    ttl_hours: Option<i64>,
}

async fn issue_token(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    request: Option<Json<TokenRequest>>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let tenant_id = tenant_path(&tenant_id)?;
    principal.require_admin_of(tenant_id)?;
    let user_id =
        Uuid::parse_str(&user_id).map_err(|_| ApiError(PublicError::invalid_argument("user id must be a uuid")))?;
    let ttl = match request.and_then(|Json(r)| r.ttl_hours) {
        Some(hours) if (1..=24 * 365).contains(&hours) => chrono::Duration::hours(hours),
        Some(_) => return Err(PublicError::invalid_argument("ttl_hours must be between 1 and 8760").into()),
        None => state.token_ttl,
    };
    let user = state
        .store
        .user(tenant_id, user_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| PublicError::not_found("user not found"))?;
    let (token, expires_at) = state.auth.issue(&user, ttl)?;
    tracing::info!(user_id = %user.id, tenant_id = %tenant_id, "token issued");
    Ok(Json(json!({"token": token, "expires_at": expires_at, "user": user})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWhatsApp {
    phone_number_id: String,
    #[serde(default)]
    display_phone_number: String,
    app_secret: String,
    verify_token: String,
    #[serde(default)]
    access_token: String,
    /// Meta's WhatsApp Business Account id, so webhooks of other fields can be acknowledged.
    #[serde(default)]
    business_account_id: String,
}

fn account_json(a: &ingest::WhatsAppAccount) -> Value {
    json!({
        "id": a.id,
        "tenant_id": a.tenant_id,
        "phone_number_id": a.phone_number_id,
        "display_phone_number": a.display_phone_number,
        "has_app_secret": a.has_app_secret,
        "has_access_token": a.has_access_token,
        "business_account_id": a.business_account_id,
    })
}

async fn connect_whatsapp(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewWhatsApp>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(
        ingest::CreateWhatsAppAccountRequest {
            phone_number_id: new.phone_number_id,
            display_phone_number: new.display_phone_number,
            app_secret: new.app_secret,
            verify_token: new.verify_token,
            access_token: new.access_token,
            business_account_id: new.business_account_id,
        },
        &state.service_token,
    )?;
    let account =
        state.channel_accounts.clone().create_whats_app_account(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(account_json(&account)))
}

async fn list_whatsapp(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let request = ctx.request(ingest::ListWhatsAppAccountsRequest {}, &state.service_token)?;
    let accounts =
        state.channel_accounts.clone().list_whats_app_accounts(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"items": accounts.accounts.iter().map(account_json).collect::<Vec<_>>()})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebchatWidget {
    name: String,
    allowed_origins: Vec<String>,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    color: String,
}

fn widget_json(w: &ingest::WebchatWidget) -> Value {
    json!({
        "id": w.id,
        "tenant_id": w.tenant_id,
        "name": w.name,
        "widget_key": w.widget_key,
        "allowed_origins": w.allowed_origins,
        "greeting": w.greeting,
        "color": w.color,
    })
}

/// `POST /v1/admin/tenants/{id}/channels/webchat`: a new widget with its public key.
async fn create_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewWebchatWidget>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let state = state.get()?;
    let ctx = admin_of_existing_tenant(state, &principal, &tenant_id).await?;
    let new = body(new)?;
    let request = ctx.request(
        ingest::CreateWebchatWidgetRequest {
            name: new.name,
            allowed_origins: new.allowed_origins,
            greeting: new.greeting,
            color: new.color,
        },
        &state.service_token,
    )?;
    let widget =
        state.channel_accounts.clone().create_webchat_widget(request).await.map_err(upstream_failure)?.into_inner();
    Ok((StatusCode::CREATED, Json(widget_json(&widget))))
}

/// `PUT /v1/admin/tenants/{id}/channels/webchat/{widget_id}`: new name, allowed origins,
/// greeting and colour (the key stays).
async fn update_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, widget_id)): Path<(String, String)>,
    new: JsonBody<NewWebchatWidget>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let new = body(new)?;
    let settings = ingest::CreateWebchatWidgetRequest {
        name: new.name,
        allowed_origins: new.allowed_origins,
        greeting: new.greeting,
        color: new.color,
    };
    let request =
        ctx.request(ingest::UpdateWebchatWidgetRequest { widget_id, settings: Some(settings) }, &state.service_token)?;
    let widget =
        state.channel_accounts.clone().update_webchat_widget(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(widget_json(&widget)))
}

/// `DELETE /v1/admin/tenants/{id}/channels/webchat/{widget_id}`: the widget stops answering.
async fn delete_webchat_widget(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, widget_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let request = ctx.request(ingest::DeleteWebchatWidgetRequest { widget_id }, &state.service_token)?;
    let widget =
        state.channel_accounts.clone().delete_webchat_widget(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"deleted": widget_json(&widget)})))
}

async fn list_webchat_widgets(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let request = ctx.request(ingest::ListWebchatWidgetsRequest {}, &state.service_token)?;
    let widgets =
        state.channel_accounts.clone().list_webchat_widgets(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"items": widgets.widgets.iter().map(widget_json).collect::<Vec<_>>()})))
}
