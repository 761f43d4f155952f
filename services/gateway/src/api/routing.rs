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

use axum::Json;
use axum::extract::{Path, State};
use inbox_errors::PublicError;
use inbox_proto::routing::v1 as pb;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::names::{availability_from_name, policy_from_name};
use super::present::routing::{AgentJson, AssignmentChangeJson, TeamJson, agent, assignment_change, team};
use super::present::{Items, items};
use super::request::{JsonBody, body, uuid_in_path};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(list_teams))
        .routes(routes!(set_my_availability))
        .routes(routes!(set_agent_availability))
        .routes(routes!(assignment_history))
        .routes(routes!(admin_list_teams, upsert_team))
        .routes(routes!(delete_team))
        .routes(routes!(add_member, remove_member))
}

/// The tenant's people with their load and availability.
#[utoipa::path(get, path = "/v1/agents", tag = "routing",
    responses((status = 200, description = "The agents", body = Items<AgentJson>)))]
async fn list_agents(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Items<AgentJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListAgentsRequest {}, &state.service_token)?;
    let response = state.routing.clone().list_agents(request).await?.into_inner();
    Ok(Json(items(response.agents.iter().map(agent))))
}

async fn list_teams_as(state: &AppState, ctx: &CallContext) -> Result<Json<Items<TeamJson>>, GatewayError> {
    let request = ctx.request(pb::ListTeamsRequest {}, &state.service_token)?;
    let response = state.routing.clone().list_teams(request).await?.into_inner();
    Ok(Json(items(response.teams.iter().map(team))))
}

/// The tenant's teams.
#[utoipa::path(get, path = "/v1/teams", tag = "routing",
    responses((status = 200, description = "The teams", body = Items<TeamJson>)))]
async fn list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Items<TeamJson>>, GatewayError> {
    let state = state.get()?;
    list_teams_as(state, &principal.in_own_tenant()?).await
}

/// A tenant's teams (its admins and the operator).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant_id}/teams", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    responses((status = 200, description = "The teams", body = Items<TeamJson>)))]
async fn admin_list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Items<TeamJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    list_teams_as(state, &ctx).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAvailability {
    #[schema(schema_with = super::names::schema::availability)]
    availability: String,
    /// Back to the previous availability after this long (0: until changed).
    #[serde(default)]
    ttl_seconds: u32,
}

async fn set_availability_as(
    state: &AppState,
    ctx: &CallContext,
    agent_id: String,
    new: NewAvailability,
) -> Result<Json<AgentJson>, GatewayError> {
    let availability = availability_from_name(&new.availability)
        .ok_or_else(|| PublicError::invalid_argument("availability must be online, away or offline"))?;
    let request =
        pb::SetAvailabilityRequest { agent_id, availability: availability as i32, ttl_seconds: new.ttl_seconds };
    let updated = state.routing.clone().set_availability(ctx.request(request, &state.service_token)?).await?;
    Ok(Json(agent(&updated.into_inner())))
}

/// The caller's availability.
#[utoipa::path(put, path = "/v1/me/availability", tag = "routing",
    request_body = NewAvailability,
    responses((status = 200, description = "The caller as an agent", body = AgentJson)))]
async fn set_my_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewAvailability>,
) -> Result<Json<AgentJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, String::new(), body(new)?).await
}

/// An agent's availability (supervisors and admins).
#[utoipa::path(put, path = "/v1/agents/{id}/availability", tag = "routing",
    params(("id" = String, Path, description = "The agent")),
    request_body = NewAvailability,
    responses((status = 200, description = "The agent", body = AgentJson)))]
async fn set_agent_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewAvailability>,
) -> Result<Json<AgentJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, id, body(new)?).await
}

/// Every assignment of the conversation, oldest first.
#[utoipa::path(get, path = "/v1/conversations/{id}/assignment-history", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The changes", body = Items<AssignmentChangeJson>)))]
async fn assignment_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Items<AssignmentChangeJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListAssignmentHistoryRequest { conversation_id: id }, &state.service_token)?;
    let response = state.routing.clone().list_assignment_history(request).await?.into_inner();
    Ok(Json(items(response.changes.iter().map(assignment_change))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    /// The team to change; a new team without it.
    #[serde(default)]
    id: Option<String>,
    name: String,
    /// round_robin (default) or least_loaded.
    #[serde(default)]
    #[schema(schema_with = super::names::schema::policy)]
    policy: Option<String>,
    /// The channels whose AI hand-offs go to this team.
    #[serde(default)]
    handoff_channels: Vec<String>,
}

/// Creates a team, or changes the team `id` names.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant_id}/teams", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant")),
    request_body = NewTeam,
    responses((status = 200, description = "The team", body = TeamJson)))]
async fn upsert_team(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    new: JsonBody<NewTeam>,
) -> Result<Json<TeamJson>, GatewayError> {
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

/// The team that a delete removed (`null` when there was none).
#[derive(Debug, Serialize, ToSchema)]
struct DeletedTeam {
    deleted: Option<TeamJson>,
}

/// Deletes a team; 409 while it has open conversations.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/teams/{team_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("team_id" = String, Path, description = "The team")),
    responses((status = 200, description = "The deleted team", body = DeletedTeam)))]
async fn delete_team(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, team_id)): Path<(String, String)>,
) -> Result<Json<DeletedTeam>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::DeleteTeamRequest { team_id }, &state.service_token)?;
    let deleted = state.routing.clone().delete_team(request).await?.into_inner();
    Ok(Json(DeletedTeam { deleted: deleted.team.as_ref().map(team) }))
}

/// Memberships: the operator, the tenant's admins and supervisors (routing checks the role).
async fn set_membership(
    state: &WhenReady<AppState>,
    principal: &crate::auth::Principal,
    (tenant_id, team_id, agent_id): (String, String, String),
    member: bool,
) -> Result<Json<TeamJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.acting_in(uuid_in_path(&tenant_id, "tenant")?)?;
    let request = ctx.request(pb::SetMembershipRequest { team_id, agent_id, member }, &state.service_token)?;
    let changed = state.routing.clone().set_membership(request).await?;
    Ok(Json(team(&changed.into_inner())))
}

/// Makes a person a member of the team (admins, supervisors, the operator).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant_id}/teams/{team_id}/members/{user_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("team_id" = String, Path, description = "The team"),
        ("user_id" = String, Path, description = "The person")),
    responses((status = 200, description = "The team", body = TeamJson)))]
async fn add_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(ids): Path<(String, String, String)>,
) -> Result<Json<TeamJson>, GatewayError> {
    set_membership(&state, &principal, ids, true).await
}

/// Takes a person out of the team (admins, supervisors, the operator).
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant_id}/teams/{team_id}/members/{user_id}", tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant"), ("team_id" = String, Path, description = "The team"),
        ("user_id" = String, Path, description = "The person")),
    responses((status = 200, description = "The team", body = TeamJson)))]
async fn remove_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(ids): Path<(String, String, String)>,
) -> Result<Json<TeamJson>, GatewayError> {
    set_membership(&state, &principal, ids, false).await
}
