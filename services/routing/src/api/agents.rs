//! Agents' working profiles and availability.

use std::time::Duration;

use inbox_bus::{Payload, new_envelope, subjects};
use inbox_errors::PublicError;
use inbox_proto::events::v1::AgentAvailabilityChanged;
use inbox_proto::routing::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::RoutingApi;
use super::access::{MANAGERS, PEOPLE, READERS, require, user_of};
use super::presenters::{agent_to_proto, availability_from_proto, availability_to_proto, bounded};
use crate::availability::DEFAULT_TTL;
use crate::domain::Availability;
use crate::ids::{optional_id, parse_id};
use crate::store::{AgentProfile, AgentRow, StoreError};

/// How long an availability may be held without a refresh, when the caller names it.
const TTL_RANGE: std::ops::RangeInclusive<u32> = 30..=86_400;

/// `agent` with its availability now.
async fn with_availability(api: &RoutingApi, tenant_id: Uuid, agent: AgentRow) -> Result<pb::Agent, Status> {
    let availability = api.book.of(tenant_id, &[agent.id]).await.map_err(StoreError::from)?;
    Ok(agent_to_proto(&agent, availability.get(&agent.id).copied().unwrap_or(Availability::Offline)))
}

#[tracing::instrument(skip_all, fields(tenant_id, agent_id))]
pub async fn upsert(api: &RoutingApi, request: Request<pb::UpsertAgentRequest>) -> Result<Response<pb::Agent>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &MANAGERS, "managing agents")?;
    let r = request.get_ref();
    let id = parse_id(&r.agent_id, "agent_id")?;
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    tracing::Span::current().record("agent_id", tracing::field::display(id));
    let profile = AgentProfile {
        id,
        name: bounded(&r.name, "name", 200)?,
        email: bounded(&r.email, "email", 320)?,
        role: r.role.as_str(),
        time_zone: (!r.time_zone.is_empty()).then_some(r.time_zone.as_str()),
        capacity: (r.capacity > 0).then(|| i32::try_from(r.capacity).unwrap_or(i32::MAX)),
    };
    let agent = api.store.upsert_agent(ctx.tenant_id, &profile).await?;
    tracing::info!(capacity = agent.capacity, "agent profile saved");
    Ok(Response::new(with_availability(api, ctx.tenant_id, agent).await?))
}

pub async fn get(api: &RoutingApi, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::Agent>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &READERS, "reading agents")?;
    let id = parse_id(&request.get_ref().agent_id, "agent_id")?;
    let agent = api.store.agent(ctx.tenant_id, id).await?.ok_or_else(|| PublicError::not_found("agent not found"))?;
    Ok(Response::new(with_availability(api, ctx.tenant_id, agent).await?))
}

pub async fn list(
    api: &RoutingApi,
    request: Request<pb::ListAgentsRequest>,
) -> Result<Response<pb::ListAgentsResponse>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    require(&ctx, &READERS, "reading agents")?;
    let agents = api.store.list_agents(ctx.tenant_id).await?;
    let ids: Vec<Uuid> = agents.iter().map(|a| a.id).collect();
    let availability = api.book.of(ctx.tenant_id, &ids).await.map_err(StoreError::from)?;
    Ok(Response::new(pb::ListAgentsResponse {
        agents: agents
            .iter()
            .map(|a| agent_to_proto(a, availability.get(&a.id).copied().unwrap_or(Availability::Offline)))
            .collect(),
    }))
}

#[tracing::instrument(skip_all, fields(tenant_id, agent_id))]
pub async fn set_availability(
    api: &RoutingApi,
    request: Request<pb::SetAvailabilityRequest>,
) -> Result<Response<pb::Agent>, Status> {
    let ctx = CallContext::of(&request)?.clone();
    let r = request.get_ref();
    let me = user_of(&ctx.principal);
    let agent_id = match optional_id(&r.agent_id, "agent_id")? {
        Some(id) => id,
        None => me.ok_or_else(|| PublicError::invalid_argument("agent_id is required"))?,
    };
    tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
    tracing::Span::current().record("agent_id", tracing::field::display(agent_id));
    if me == Some(agent_id) {
        require(&ctx, &PEOPLE, "setting availability")?;
    } else {
        require(&ctx, &[Role::Supervisor, Role::Admin, Role::Operator], "setting another agent's availability")?;
    }
    let availability = availability_from_proto(r.availability)
        .ok_or_else(|| PublicError::invalid_argument("availability must be online, away or offline"))?;
    let ttl = match r.ttl_seconds {
        0 => DEFAULT_TTL,
        s if TTL_RANGE.contains(&s) => Duration::from_secs(u64::from(s)),
        _ => {
            let (least, most) = (TTL_RANGE.start(), TTL_RANGE.end());
            return Err(PublicError::invalid_argument(format!("ttl_seconds must be between {least} and {most}")).into());
        }
    };
    let agent =
        api.store.agent(ctx.tenant_id, agent_id).await?.ok_or_else(|| PublicError::not_found("agent not found"))?;
    api.book.set(ctx.tenant_id, agent_id, availability, ttl).await.map_err(StoreError::from)?;
    let tenant = ctx.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::AgentAvailabilityChanged(AgentAvailabilityChanged {
            agent_id: agent_id.to_string(),
            availability: availability_to_proto(availability) as i32,
        }),
    );
    if let Err(e) = api.bus.publish(&subjects::event(&tenant, "routing.availability_changed"), &event).await {
        tracing::warn!(error = %e, "availability event not published");
    }
    if availability == Availability::Online && !agent.team_ids.is_empty() {
        let routed = api.store.route_waiting(ctx.tenant_id, &agent.team_ids, &api.book).await?;
        if routed > 0 {
            tracing::info!(routed, "waiting conversations routed as an agent came online");
        }
    }
    let agent = api.store.agent(ctx.tenant_id, agent_id).await?.unwrap_or(agent);
    Ok(Response::new(agent_to_proto(&agent, availability)))
}
