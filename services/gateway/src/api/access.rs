//! Team-scoped visibility at the edge.
//!
//! - [`scope_visibility`], a middleware on the API router: for every authenticated request it
//!   decides what the caller may see ([`crate::access`]) and runs the handler inside
//!   [`Visibility::scope`], so every internal gRPC call made while handling it carries it.
//! - `GET|PUT /v1/settings/access` `{"visibility": "all"|"team"}`: the caller's tenant's setting
//!   (admins), and `GET|PUT /v1/admin/tenants/{tenant_id}/settings/access` (the operator too).

use axum::Json;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::GatewayError;
use super::request::{JsonBody, body, uuid_in_path};
use super::state::AppState;
use crate::access::TenantVisibility;
use crate::auth::{Authenticated, Principal};

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(own_setting, set_own_setting))
        .routes(routes!(tenant_setting, set_tenant_setting))
}

/// Runs the request's handler inside the caller's visibility. A request without a valid
/// credential passes untouched (its handler refuses it, or needs none); a caller whose
/// visibility cannot be decided (routing or the store down) is refused, never shown more.
pub async fn scope_visibility(State(state): State<WhenReady<AppState>>, request: Request, next: Next) -> Response {
    let Ok(app) = state.get() else { return next.run(request).await };
    let (mut parts, body) = request.into_parts();
    let principal = Authenticated::from_request_parts(&mut parts, &state).await.ok().map(|Authenticated(p)| p);
    let request = Request::from_parts(parts, body);
    let Some(ctx) = principal.as_ref().and_then(|p| p.in_own_tenant().ok()) else {
        return next.run(request).await;
    };
    match app.access.visibility_of(&ctx).await {
        Ok(visibility) => visibility.scope(next.run(request)).await,
        Err(e) => e.into_response(),
    }
}

/// Who sees which conversations: `all` (everyone of the tenant sees every conversation) or
/// `team` (agents see their teams' and unassigned ones; supervisors and admins all).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AccessSetting {
    /// all or team.
    #[schema(pattern = "^(all|team)$")]
    visibility: String,
}

fn answer(setting: TenantVisibility) -> Json<AccessSetting> {
    Json(AccessSetting { visibility: setting.as_str().to_owned() })
}

fn parse(new: JsonBody<AccessSetting>) -> Result<TenantVisibility, PublicError> {
    let AccessSetting { visibility } = body(new)?;
    TenantVisibility::from_name(&visibility)
        .ok_or_else(|| PublicError::invalid_argument("visibility must be all or team"))
}

async fn read(state: &AppState, principal: &Principal, tenant_id: Uuid) -> Result<Json<AccessSetting>, GatewayError> {
    principal.require_admin_of(tenant_id)?;
    let setting =
        state.access.store().visibility(tenant_id).await?.ok_or_else(|| PublicError::not_found("tenant not found"))?;
    Ok(answer(setting))
}

async fn write(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    new: JsonBody<AccessSetting>,
) -> Result<Json<AccessSetting>, GatewayError> {
    principal.require_admin_of(tenant_id)?;
    let setting = parse(new)?;
    if !state.access.set_setting(tenant_id, setting).await? {
        return Err(PublicError::not_found("tenant not found").into());
    }
    tracing::info!(%tenant_id, visibility = setting.as_str(), by = %principal.name(), "tenant visibility changed");
    Ok(answer(setting))
}

fn own_tenant(principal: &Principal) -> Result<Uuid, PublicError> {
    Ok(principal.in_own_tenant()?.tenant_id)
}

/// The caller's tenant's visibility setting (admins).
#[utoipa::path(get, path = "/v1/settings/access", tag = "settings",
    responses((status = 200, description = "The setting", body = AccessSetting)))]
async fn own_setting(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<AccessSetting>, GatewayError> {
    read(state.get()?, &principal, own_tenant(&principal)?).await
}

/// Changes the caller's tenant's visibility setting (admins).
#[utoipa::path(put, path = "/v1/settings/access", tag = "settings",
    request_body = AccessSetting,
    responses((status = 200, description = "The setting in force", body = AccessSetting)))]
async fn set_own_setting(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<AccessSetting>,
) -> Result<Json<AccessSetting>, GatewayError> {
    write(state.get()?, &principal, own_tenant(&principal)?, new).await
}

/// A tenant's visibility setting (its admins and the operator).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/settings/access", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The setting", body = AccessSetting)))]
async fn tenant_setting(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<AccessSetting>, GatewayError> {
    read(state.get()?, &principal, uuid_in_path(&tenant_id, "tenant")?).await
}

/// Changes a tenant's visibility setting (its admins and the operator).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/settings/access", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = AccessSetting,
    responses((status = 200, description = "The setting in force", body = AccessSetting)))]
async fn set_tenant_setting(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<AccessSetting>,
) -> Result<Json<AccessSetting>, GatewayError> {
    write(state.get()?, &principal, uuid_in_path(&tenant_id, "tenant")?, new).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_setting_is_all_or_team_and_anything_else_is_refused() {
        let ok = |v: &str| parse(Ok(Json(AccessSetting { visibility: v.into() })));
        assert_eq!(ok("team").unwrap(), TenantVisibility::Team);
        assert_eq!(ok("all").unwrap(), TenantVisibility::All);
        let refused = ok("teams").unwrap_err();
        assert_eq!(refused.message, "visibility must be all or team");
        assert_eq!(serde_json::to_value(answer(TenantVisibility::Team).0).unwrap(), json!({"visibility": "team"}));
    }
}
