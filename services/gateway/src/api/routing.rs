//! Who works on what, served by the routing service:
//!
//! - `GET /v1/agents`, `GET /v1/teams` (the tenant's people)
//! - `PUT /v1/me/availability` {availability: online|away|offline, ttl_seconds?}; supervisors
//!   and admins: `PUT /v1/agents/{id}/availability`
//! - `GET /v1/conversations/{id}/assignment-history`
//! - admins (or the operator): `POST|GET /v1/admin/tenants/{tenant_id}/teams` {name, policy?,
//!   handoff_channels?}, `DELETE /v1/admin/tenants/{tenant_id}/teams/{team_id}` (409 while it has
//!   open conversations), `PUT|DELETE /v1/admin/tenants/{tenant_id}/teams/{team_id}/members/{user_id}`
//!   (supervisors too)
//!
//! An agent's routing profile (capacity, time zone) is written with their user, in `admin`.

use axum::extract::{Path, State};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::routing::v1 as pb;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::GatewayError;
use super::names::{availability_from_name, policy_from_name};
use super::present::items;
use super::present::routing::{agent, assignment_change, team};
use super::request::{JsonBody, body, uuid_in_path};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/agents", get(list_agents))
        .route("/v1/teams", get(list_teams))
        .route("/v1/me/availability", put(set_my_availability))
        .route("/v1/agents/{id}/availability", put(set_agent_availability))
        .route("/v1/conversations/{id}/assignment-history", get(assignment_history))
        .route("/v1/admin/tenants/{tenant_id}/teams", get(admin_list_teams).post(upsert_team))
        .route("/v1/admin/tenants/{tenant_id}/teams/{team_id}", delete(delete_team))
        .route("/v1/admin/tenants/{tenant_id}/teams/{team_id}/members/{user_id}", put(add_member).delete(remove_member))
}

async fn list_agents(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListAgentsRequest {}, &state.service_token)?;
    let response = state.routing.clone().list_agents(request).await?.into_inner();
    Ok(Json(items(response.agents.iter().map(agent))))
}

async fn list_teams_as(state: &AppState, ctx: &CallContext) -> Result<Json<Value>, GatewayError> {
    let request = ctx.request(pb::ListTeamsRequest {}, &state.service_token)?;
    let response = state.routing.clone().list_teams(request).await?.into_inner();
    Ok(Json(items(response.teams.iter().map(team))))
}

async fn list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    list_teams_as(state, &principal.in_own_tenant()?).await
}

async fn admin_list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    list_teams_as(state, &ctx).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAvailability {
    availability: String,
    #[serde(default)]
    ttl_seconds: u32,
}

async fn set_availability_as(
    state: &AppState,
    ctx: &CallContext,
    agent_id: String,
    new: NewAvailability,
) -> Result<Json<Value>, GatewayError> {
    let availability = availability_from_name(&new.availability)
        .ok_or_else(|| PublicError::invalid_argument("availability must be online, away or offline"))?;
    let request =
        pb::SetAvailabilityRequest { agent_id, availability: availability as i32, ttl_seconds: new.ttl_seconds };
    let updated = state.routing.clone().set_availability(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(agent(&updated.into_inner())))
}

async fn set_my_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewAvailability>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, String::new(), body(new)?).await
}

async fn set_agent_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewAvailability>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, id, body(new)?).await
}

async fn assignment_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListAssignmentHistoryRequest { conversation_id: id }, &state.service_token)?;
    let response = state.routing.clone().list_assignment_history(request).await?.into_inner();
    Ok(Json(items(response.changes.iter().map(assignment_change))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    handoff_channels: Vec<String>,
}

async fn upsert_team(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewTeam>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let new = body(new)?;
    let policy = policy_from_name(new.policy.as_deref().unwrap_or("round_robin"))
        .ok_or_else(|| PublicError::invalid_argument("policy must be round_robin or least_loaded"))?;
    let request = pb::UpsertTeamRequest {
        team_id: new.id.unwrap_or_default(),
        name: new.name,
        policy: policy as i32,
        handoff_channels: new.handoff_channels,
    };
    let upserted = state.routing.clone().upsert_team(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(team(&upserted.into_inner())))
}

async fn delete_team(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, team_id)): Path<(String, String)>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::DeleteTeamRequest { team_id }, &state.service_token)?;
    let deleted = state.routing.clone().delete_team(request).await?.into_inner();
    Ok(Json(json!({"deleted": deleted.team.as_ref().map(team)})))
}

/// Memberships: the operator, the tenant's admins and supervisors (routing checks the role).
async fn set_membership(
    state: &WhenReady<AppState>,
    principal: &crate::auth::Principal,
    (tenant_id, team_id, agent_id): (String, String, String),
    member: bool,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.acting_in(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::SetMembershipRequest { team_id, agent_id, member }, &state.service_token)?;
    let changed = state.routing.clone().set_membership(request).await?;
    Ok(Json(team(&changed.into_inner())))
}

async fn add_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(ids): Path<(String, String, String)>,
) -> Result<Json<Value>, GatewayError> {
    set_membership(&state, &principal, ids, true).await
}

async fn remove_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(ids): Path<(String, String, String)>,
) -> Result<Json<Value>, GatewayError> {
    set_membership(&state, &principal, ids, false).await
}
