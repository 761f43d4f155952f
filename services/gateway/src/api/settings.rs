//! Tenant-wide settings: `GET|PUT /v1/settings/tenant` (time zone, company name, AI
//! confidence threshold, hand-off message) and `GET|PUT /v1/settings/priority-rules`.
//! Everyone of the tenant reads them; changing them needs the admin role.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::{JsonBody, body};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/settings/tenant", get(get_tenant_settings).put(set_tenant_settings))
        .route("/v1/settings/priority-rules", get(get_priority_rules).put(set_priority_rules))
}

fn settings_json(s: &pb::TenantSettings) -> Value {
    json!({
        "time_zone": s.time_zone,
        "company_name": s.company_name,
        "ai_confidence_threshold": s.ai_confidence_threshold,
        "handoff_message": s.handoff_message,
    })
}

async fn get_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetTenantSettingsRequest {}, &state.service_token)?;
    let settings =
        state.conversations.clone().get_tenant_settings(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(settings_json(&settings)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenantSettings {
    time_zone: String,
    #[serde(default)]
    company_name: String,
    ai_confidence_threshold: f32,
    handoff_message: String,
}

async fn set_tenant_settings(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewTenantSettings>,
) -> Result<Json<Value>, ApiError> {
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
    let settings =
        state.conversations.clone().set_tenant_settings(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(settings_json(&settings)))
}

fn rules_json(r: &pb::PriorityRules) -> Value {
    json!({
        "urgent_keywords": r.urgent_keywords,
        "urgent_segments": r.urgent_segments,
        "first_response_target_seconds": r.first_response_target_seconds,
    })
}

async fn get_priority_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetPriorityRulesRequest {}, &state.service_token)?;
    let rules = state.conversations.clone().get_priority_rules(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(rules_json(&rules)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPriorityRules {
    urgent_keywords: Vec<String>,
    urgent_segments: Vec<String>,
    #[serde(default)]
    first_response_target_seconds: u32,
}

async fn set_priority_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewPriorityRules>,
) -> Result<Json<Value>, ApiError> {
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
    let rules = state.conversations.clone().set_priority_rules(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(rules_json(&rules)))
}
