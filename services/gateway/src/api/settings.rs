//! Tenant-wide settings: `GET|PUT /v1/settings/tenant` (time zone, company name, AI
//! confidence threshold, hand-off message), `GET|PUT /v1/settings/priority-rules` and
//! `GET|PUT /v1/settings/status-rules`. Everyone of the tenant reads them; changing them needs
//! the admin role.

use axum::Json;
use axum::extract::State;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::settings::{
    PriorityRules, StatusRules, TenantSettings, priority_rules, status_rules, tenant_settings,
};
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant_settings, set_tenant_settings))
        .routes(routes!(get_priority_rules, set_priority_rules))
        .routes(routes!(get_status_rules, set_status_rules))
}

/// The current ones (everyone of the tenant).
#[utoipa::path(get, path = "/v1/settings/tenant", tag = "settings",
    responses((status = 200, description = "The settings", body = TenantSettings)))]
async fn get_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<TenantSettings>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetTenantSettingsRequest {}, &state.service_token)?;
    let settings = state.conversations.clone().get_tenant_settings(request).await?.into_inner();
    Ok(Json(tenant_settings(&settings)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenantSettings {
    time_zone: String,
    #[serde(default)]
    company_name: String,
    ai_confidence_threshold: f32,
    handoff_message: String,
}

/// Changes them (admins).
#[utoipa::path(put, path = "/v1/settings/tenant", tag = "settings",
    request_body = NewTenantSettings,
    responses((status = 200, description = "The settings in force", body = TenantSettings)))]
async fn set_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewTenantSettings>,
) -> Result<Json<TenantSettings>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        pb::SetTenantSettingsRequest {
            settings: Some(pb::TenantSettings {
                time_zone: new.time_zone,
                company_name: new.company_name,
                ai_confidence_threshold: new.ai_confidence_threshold,
                handoff_message: new.handoff_message,
            }),
        },
        &state.service_token,
    )?;
    let settings = state.conversations.clone().set_tenant_settings(request).await?.into_inner();
    Ok(Json(tenant_settings(&settings)))
}

/// The current ones (everyone of the tenant).
#[utoipa::path(get, path = "/v1/settings/priority-rules", tag = "settings",
    responses((status = 200, description = "The settings", body = PriorityRules)))]
async fn get_priority_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<PriorityRules>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetPriorityRulesRequest {}, &state.service_token)?;
    let rules = state.conversations.clone().get_priority_rules(request).await?.into_inner();
    Ok(Json(priority_rules(&rules)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPriorityRules {
    urgent_keywords: Vec<String>,
    urgent_segments: Vec<String>,
    #[serde(default)]
    first_response_target_seconds: u32,
}

/// Changes them (admins).
#[utoipa::path(put, path = "/v1/settings/priority-rules", tag = "settings",
    request_body = NewPriorityRules,
    responses((status = 200, description = "The settings in force", body = PriorityRules)))]
async fn set_priority_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewPriorityRules>,
) -> Result<Json<PriorityRules>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        pb::SetPriorityRulesRequest {
            rules: Some(pb::PriorityRules {
                urgent_keywords: new.urgent_keywords,
                urgent_segments: new.urgent_segments,
                first_response_target_seconds: new.first_response_target_seconds,
            }),
        },
        &state.service_token,
    )?;
    let rules = state.conversations.clone().set_priority_rules(request).await?.into_inner();
    Ok(Json(priority_rules(&rules)))
}

/// The current ones (everyone of the tenant).
#[utoipa::path(get, path = "/v1/settings/status-rules", tag = "settings",
    responses((status = 200, description = "The settings", body = StatusRules)))]
async fn get_status_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<StatusRules>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetStatusRulesRequest {}, &state.service_token)?;
    let rules = state.conversations.clone().get_status_rules(request).await?.into_inner();
    Ok(Json(status_rules(&rules)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewStatusRules {
    pending_timeout_seconds: u32,
    auto_archive_seconds: u32,
    reopen_on_customer_message: bool,
}

/// Changes them (admins).
#[utoipa::path(put, path = "/v1/settings/status-rules", tag = "settings",
    request_body = NewStatusRules,
    responses((status = 200, description = "The settings in force", body = StatusRules)))]
async fn set_status_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewStatusRules>,
) -> Result<Json<StatusRules>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        pb::SetStatusRulesRequest {
            rules: Some(pb::StatusRules {
                pending_timeout_seconds: new.pending_timeout_seconds,
                auto_archive_seconds: new.auto_archive_seconds,
                reopen_on_customer_message: new.reopen_on_customer_message,
            }),
        },
        &state.service_token,
    )?;
    let rules = state.conversations.clone().set_status_rules(request).await?.into_inner();
    Ok(Json(status_rules(&rules)))
}
