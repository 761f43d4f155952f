//! Teams and memberships.

use inbox_errors::PublicError;
use inbox_proto::routing::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};

use super::RoutingApi;
use super::access::{MANAGERS, READERS, require};
use super::presenters::{policy_from_proto, team_to_proto};
use crate::ids::{optional_id, parse_id};

#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn upsert(api: &RoutingApi, request: Request<pb::UpsertTeamRequest>) -> Result<Response<pb::Team>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require(&ctx, &MANAGERS, "managing teams")?;
    let r = request.get_ref();
    let id = optional_id(&r.team_id, "team_id")?;
    let policy = policy_from_proto(r.policy)
        .ok_or_else(|| PublicError::invalid_argument("policy must be round_robin or least_loaded"))?;
    let team = api.store.upsert_team(ctx.tenant_id, id, &r.name, policy, &r.handoff_channels).await?;
    tracing::info!(team_id = %team.id, policy = %team.policy, "team saved");
    Ok(Response::new(team_to_proto(&team)))
}

pub async fn list(
    api: &RoutingApi,
    request: Request<pb::ListTeamsRequest>,
) -> Result<Response<pb::ListTeamsResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &READERS, "reading teams")?;
    let teams = api.store.list_teams(ctx.tenant_id).await?;
    Ok(Response::new(pb::ListTeamsResponse { teams: teams.iter().map(team_to_proto).collect() }))
}

#[tracing::instrument(skip_all, fields(tenant_id, team_id))]
pub async fn delete(
    api: &RoutingApi,
    request: Request<pb::DeleteTeamRequest>,
) -> Result<Response<pb::DeleteTeamResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require(&ctx, &MANAGERS, "deleting teams")?;
    let team_id = parse_id(&request.get_ref().team_id, "team_id")?;
    tracing::Span::current().record("team_id", tracing::field::display(team_id));
    let team = api.store.delete_team(ctx.tenant_id, team_id).await?;
    tracing::info!(name = %team.name, "team deleted");
    Ok(Response::new(pb::DeleteTeamResponse { team: Some(team_to_proto(&team)) }))
}

#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn set_membership(
    api: &RoutingApi,
    request: Request<pb::SetMembershipRequest>,
) -> Result<Response<pb::Team>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    require(&ctx, &[Role::Admin, Role::Supervisor, Role::Operator], "managing memberships")?;
    let r = request.get_ref();
    let team_id = parse_id(&r.team_id, "team_id")?;
    let agent_id = parse_id(&r.agent_id, "agent_id")?;
    let team = api.store.set_membership(ctx.tenant_id, team_id, agent_id, r.member).await?;
    if r.member {
        // A new member may be online already: what waits can go to them now.
        api.store.route_waiting(ctx.tenant_id, &[team_id], &api.book).await?;
    }
    Ok(Response::new(team_to_proto(&team)))
}
