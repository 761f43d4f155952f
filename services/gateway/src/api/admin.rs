//! `/v1/admin`: tenants (operator only), users with their routing profile (capacity, time
//! zone) and their tokens (the operator or the tenant's admins). Every write is an upsert, so a
//! retried request changes nothing more.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as conversation;
use inbox_proto::routing::v1 as routing;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::account::{TenantJson, UserJson};
use super::present::routing::{AgentJson, agent};
use super::request::{JsonBody, OptionalJsonBody, body, optional_body, single_line, uuid_in_path};
use super::state::AppState;
use crate::auth::{Authenticated, MAX_TOKEN_TTL_HOURS, Principal};
use crate::store::{Tenant, User};

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant))
        .routes(routes!(create_user))
        .routes(routes!(issue_token))
        .routes(routes!(update_agent_profile))
}

/// Gives the conversation service (owner of the settings) the new tenant's time zone and
/// name as company name, unless the tenant's settings were configured already: a retried
/// create completes the seeding, and never undoes an admin's later changes.
async fn seed_tenant_settings(state: &AppState, tenant: &Tenant) -> Result<(), GatewayError> {
    let ctx = Principal::Operator.acting_in(tenant.id)?;
    let request = ctx.request(conversation::GetTenantSettingsRequest {}, &state.service_token)?;
    let current = state.conversations.clone().get_tenant_settings(request).await?.into_inner();
    let never_configured = current.time_zone == "UTC" && current.company_name.is_empty();
    if never_configured {
        let settings = conversation::TenantSettings {
            time_zone: tenant.time_zone.clone(),
            company_name: tenant.name.clone(),
            ..current
        };
        let request =
            ctx.request(conversation::SetTenantSettingsRequest { settings: Some(settings) }, &state.service_token)?;
        state.conversations.clone().set_tenant_settings(request).await?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// 2-63 lowercase letters, digits or dashes.
    slug: String,
    name: String,
    /// IANA time zone.
    #[serde(default = "utc")]
    #[schema(default = "UTC")]
    time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// A tenant (the operator only); the same slug again updates it.
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created", body = TenantJson),
        (status = 200, description = "The tenant of that slug, updated", body = TenantJson),
    ))]
async fn create_tenant(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewTenant>,
) -> Result<(StatusCode, Json<TenantJson>), GatewayError> {
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
    single_line(&new.name, "name")?;
    if new.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(PublicError::invalid_argument(format!("unknown time zone {:?}", new.time_zone)).into());
    }
    let (tenant, created) = state.store.upsert_tenant(&new.slug, new.name.trim(), &new.time_zone).await?;
    seed_tenant_settings(state, &tenant).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(TenantJson::from(&tenant))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    email: String,
    name: String,
    /// admin, supervisor, agent or ai.
    #[schema(pattern = "^(admin|supervisor|agent|ai)$")]
    role: String,
    /// Routing profile: most open conversations at once (default 5).
    #[serde(default)]
    capacity: Option<u32>,
    /// Routing profile: IANA time zone (default UTC).
    #[serde(default)]
    time_zone: Option<String>,
}

/// A user of the tenant (the same email again updates them); a person gets their routing
/// profile (`profile`) too.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/users", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewUser,
    responses((status = 200, description = "The user", body = UserJson)))]
async fn create_user(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserJson>), GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
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
    single_line(email, "email")?;
    single_line(&new.name, "name")?;
    if state.store.tenant(tenant_id).await?.is_none() {
        return Err(PublicError::not_found("tenant not found").into());
    }
    let user = state.store.upsert_user(tenant_id, email, new.name.trim(), &new.role).await?;
    // People get their working profile in routing (same id); a retry upserts both again.
    let mut answer = UserJson::from(&user);
    if user.role != "ai" {
        let fields = ProfileFields { capacity: new.capacity, time_zone: new.time_zone };
        answer.profile = Some(upsert_profile(state, &ctx, &user, &fields).await?);
    }
    Ok((StatusCode::OK, Json(answer)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfileFields {
    /// Most open conversations at once, 0 to 1000.
    #[serde(default)]
    #[schema(maximum = 1000)]
    capacity: Option<u32>,
    /// IANA time zone.
    #[serde(default)]
    time_zone: Option<String>,
}

/// Creates or updates the routing profile of a gateway user (admin, supervisor or agent).
async fn upsert_profile(
    state: &AppState,
    ctx: &CallContext,
    user: &User,
    fields: &ProfileFields,
) -> Result<AgentJson, GatewayError> {
    if let Some(c) = fields.capacity
        && c > 1000
    {
        return Err(PublicError::invalid_argument("capacity must be between 0 and 1000").into());
    }
    let request = routing::UpsertAgentRequest {
        agent_id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
        role: user.role.clone(),
        time_zone: fields.time_zone.clone().unwrap_or_default(),
        capacity: fields.capacity.unwrap_or(0),
    };
    let upserted = state.routing.clone().upsert_agent(ctx.request(request, &state.service_token)?).await?;
    Ok(agent(&upserted.into_inner()))
}

/// `PUT /v1/admin/tenants/{tenant_id}/agents/{user_id}` {capacity?, time_zone?}: a person's
/// routing profile.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/agents/{user_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "A person")),
    request_body = ProfileFields,
    responses((status = 200, description = "The routing profile", body = AgentJson)))]
async fn update_agent_profile(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    fields: JsonBody<ProfileFields>,
) -> Result<Json<AgentJson>, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    let ctx = principal.require_admin_of(tenant_id)?;
    let user_id = uuid_in_path(&user_id, "user")?;
    let user = state.store.user(tenant_id, user_id).await?.ok_or_else(|| PublicError::not_found("user not found"))?;
    if user.role == "ai" {
        return Err(PublicError::invalid_argument("the AI account has no routing profile").into());
    }
    Ok(Json(upsert_profile(state, &ctx, &user, &body(fields)?).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The token's lifetime (default: the gateway's).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 8760)]
    ttl_hours: Option<i64>,
}

/// A token minted for a user, for automation.
#[derive(Debug, Serialize, ToSchema)]
struct MintedToken {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserJson,
}

/// Mints a token for a user (admins and the operator); revoked with the user's sessions.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/users/{user_id}/tokens", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("user_id" = String, Path, description = "The user")),
    request_body = Option<TokenRequest>,
    responses((status = 200, description = "The token", body = MintedToken)))]
async fn issue_token(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    request: OptionalJsonBody<TokenRequest>,
) -> Result<Json<MintedToken>, GatewayError> {
    let state = state.get()?;
    let tenant_id = uuid_in_path(&tenant_id, "tenant")?;
    principal.require_admin_of(tenant_id)?;
    let user_id = uuid_in_path(&user_id, "user")?;
    let ttl = match optional_body(request)?.and_then(|r| r.ttl_hours) {
        Some(hours) if (1..=MAX_TOKEN_TTL_HOURS).contains(&hours) => chrono::Duration::hours(hours),
        Some(_) => {
            let refusal = format!("ttl_hours must be between 1 and {MAX_TOKEN_TTL_HOURS}");
            return Err(PublicError::invalid_argument(refusal).into());
        }
        None => state.token_ttl,
    };
    let user = state.store.user(tenant_id, user_id).await?.ok_or_else(|| PublicError::not_found("user not found"))?;
    // A session of kind `minted`: refused once the user is disabled or their sessions revoked.
    let (token, expires_at) = state.auth.mint(&user, ttl, &principal.name()).await?;
    tracing::info!(user_id = %user.id, tenant_id = %tenant_id, minted_by = %principal.name(), "token issued");
    Ok(Json(MintedToken { token, expires_at, user: UserJson::from(&user) }))
}
