//! Who works on what, served by the routing service:
//!
//! - `GET /v1/agents`, `GET /v1/teams` (the tenant's people)
//! - `PUT /v1/me/availability` {availability: online|away|offline, ttl_seconds?}; supervisors
//!   and admins: `PUT /v1/agents/{id}/availability`
//! - `GET /v1/conversations/{id}/assignment-history`
//! - admins (or the operator): `POST|GET /v1/admin/tenants/{tenant_id}/teams` {name, policy?,
//!   handoff_channels?}, `DELETE /v1/admin/tenants/{tenant_id}/teams/{team_id}` (409 while it has
//!   open conversations), `PUT|DELETE /v1/admin/tenants/{tenant_id}/teams/{team_id}/members/{user_id}`
//!   (supervisors too), `PUT /v1/admin/tenants/{tenant_id}/agents/{user_id}` {capacity?, time_zone?}

use axum::extract::{Path, State};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::routing::v1 as pb;
use inbox_service::CallContext;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::admin::tenant_path;
use super::conversations::{JsonBody, body};
use super::{AppState, store_failure, upstream_failure};
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
        .route("/v1/admin/tenants/{tenant_id}/agents/{user_id}", put(update_agent_profile))
}

pub(crate) fn availability_name(value: i32) -> &'static str {
    match pb::Availability::try_from(value) {
        Ok(pb::Availability::Online) => "online",
        Ok(pb::Availability::Away) => "away",
        _ => "offline",
    }
}

fn policy_name(value: i32) -> &'static str {
    match pb::RoutingPolicy::try_from(value) {
        Ok(pb::RoutingPolicy::LeastLoaded) => "least_loaded",
        _ => "round_robin",
    }
}

pub(crate) fn agent_json(a: &pb::Agent) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "email": a.email,
        "role": a.role,
        "time_zone": a.time_zone,
        "capacity": a.capacity,
        "load": a.load,
        "availability": availability_name(a.availability),
        "team_ids": a.team_ids,
    })
}

fn team_json(t: &pb::Team) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "policy": policy_name(t.policy),
        "handoff_channels": t.handoff_channels,
        "member_ids": t.member_ids,
        "waiting": t.waiting,
    })
}

pub(crate) fn change_json(c: &pb::AssignmentChange) -> Value {
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    json!({
        "sequence": c.sequence,
        "assignee_id": opt(&c.assignee_id),
        "team_id": opt(&c.team_id),
        "previous_assignee_id": opt(&c.previous_assignee_id),
        "previous_team_id": opt(&c.previous_team_id),
        "actor": c.actor,
        "note": c.note,
        "reason": c.reason,
        "changed_at": c.changed_at.as_ref().and_then(inbox_proto::timestamp_to_utc).map(|t| t.to_rfc3339()),
    })
}

async fn list_agents(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let response = state
        .routing
        .clone()
        .list_agents(ctx.request(pb::ListAgentsRequest {}, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(json!({"items": response.agents.iter().map(agent_json).collect::<Vec<_>>()})))
}

async fn list_teams_as(state: &AppState, ctx: &CallContext) -> Result<Json<Value>, ApiError> {
    let response = state
        .routing
        .clone()
        .list_teams(ctx.request(pb::ListTeamsRequest {}, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(json!({"items": response.teams.iter().map(team_json).collect::<Vec<_>>()})))
}

async fn list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    list_teams_as(state, &principal.in_own_tenant()?).await
}

async fn admin_list_teams(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    list_teams_as(state, &ctx).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAvailability {
    availability: String,
    #[serde(default)]
    ttl_seconds: u32,
}

fn availability_from_name(name: &str) -> Result<pb::Availability, ApiError> {
    match name {
        "online" => Ok(pb::Availability::Online),
        "away" => Ok(pb::Availability::Away),
        "offline" => Ok(pb::Availability::Offline),
        _ => Err(PublicError::invalid_argument("availability must be online, away or offline").into()),
    }
}

async fn set_availability_as(
    state: &AppState,
    ctx: &CallContext,
    agent_id: String,
    new: NewAvailability,
) -> Result<Json<Value>, ApiError> {
    let request = pb::SetAvailabilityRequest {
        agent_id,
        availability: availability_from_name(&new.availability)? as i32,
        ttl_seconds: new.ttl_seconds,
    };
    let agent = state
        .routing
        .clone()
        .set_availability(ctx.request(request, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(agent_json(&agent)))
}

async fn set_my_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewAvailability>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, String::new(), body(new)?).await
}

async fn set_agent_availability(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewAvailability>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    set_availability_as(state, &ctx, id, body(new)?).await
}

async fn assignment_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let response = state
        .routing
        .clone()
        .list_assignment_history(
            ctx.request(pb::ListAssignmentHistoryRequest { conversation_id: id }, &state.service_token)?,
        )
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(json!({"items": response.changes.iter().map(change_json).collect::<Vec<_>>()})))
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
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let new = body(new)?;
    let policy = match new.policy.as_deref().unwrap_or("round_robin") {
        "round_robin" => pb::RoutingPolicy::RoundRobin,
        "least_loaded" => pb::RoutingPolicy::LeastLoaded,
        _ => return Err(PublicError::invalid_argument("policy must be round_robin or least_loaded").into()),
    };
    let request = pb::UpsertTeamRequest {
        team_id: new.id.unwrap_or_default(),
        name: new.name,
        policy: policy as i32,
        handoff_channels: new.handoff_channels,
    };
    let team = state
        .routing
        .clone()
        .upsert_team(ctx.request(request, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(team_json(&team)))
}

async fn delete_team(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, team_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.require_admin_of(tenant_path(&tenant_id)?)?;
    let request = pb::DeleteTeamRequest { team_id };
    let deleted = state
        .routing
        .clone()
        .delete_team(ctx.request(request, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(json!({"deleted": deleted.team.as_ref().map(team_json)})))
}

async fn set_membership(
    state: &AppState,
    ctx: CallContext,
    team_id: String,
    agent_id: String,
    member: bool,
) -> Result<Json<Value>, ApiError> {
    let request = pb::SetMembershipRequest { team_id, agent_id, member };
    let team = state
        .routing
        .clone()
        .set_membership(ctx.request(request, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(Json(team_json(&team)))
}

/// Memberships: the operator, the tenant's admins and supervisors (routing checks the role).
fn membership_context(principal: &crate::auth::Principal, tenant_id: Uuid) -> Result<CallContext, ApiError> {
    Ok(principal.acting_in(tenant_id)?)
}

async fn add_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, team_id, user_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = membership_context(&principal, tenant_path(&tenant_id)?)?;
    set_membership(state, ctx, team_id, user_id, true).await
}

async fn remove_member(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, team_id, user_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = membership_context(&principal, tenant_path(&tenant_id)?)?;
    set_membership(state, ctx, team_id, user_id, false).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileFields {
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Creates or updates the routing profile of a gateway user (admin, supervisor or agent).
pub(crate) async fn upsert_profile(
    state: &AppState,
    ctx: &CallContext,
    user: &crate::store::User,
    fields: &ProfileFields,
) -> Result<Value, ApiError> {
    if let Some(c) = fields.capacity
        && c > 1000
    {
        return Err(PublicError::invalid_argument("capacity must be between 0 and 1000").into());
    }
    let request = pb::UpsertAgentRequest {
        agent_id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
        role: user.role.clone(),
        time_zone: fields.time_zone.clone().unwrap_or_default(),
        capacity: fields.capacity.unwrap_or(0),
    };
    let agent = state
        .routing
        .clone()
        .upsert_agent(ctx.request(request, &state.service_token)?)
        .await
        .map_err(upstream_failure)?
        .into_inner();
    Ok(agent_json(&agent))
}

async fn update_agent_profile(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((tenant_id, user_id)): Path<(String, String)>,
    fields: JsonBody<ProfileFields>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let tenant_id = tenant_path(&tenant_id)?;
    let ctx = principal.require_admin_of(tenant_id)?;
    let user_id =
        Uuid::parse_str(&user_id).map_err(|_| ApiError(PublicError::invalid_argument("user id must be a uuid")))?;
    let user = state
        .store
        .user(tenant_id, user_id)
        .await
        .map_err(store_failure)?
        .ok_or_else(|| PublicError::not_found("user not found"))?;
    if user.role == "ai" {
        return Err(PublicError::invalid_argument("the AI account has no routing profile").into());
    }
    Ok(Json(upsert_profile(state, &ctx, &user, &body(fields)?).await?))
}
