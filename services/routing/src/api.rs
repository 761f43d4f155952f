//! `inbox.routing.v1.Routing` over gRPC: translation and role checks only.

use std::time::Duration;

use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::conversation::v1 as conv;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::events::v1::AgentAvailabilityChanged;
use inbox_proto::routing::v1 as pb;
use inbox_service::{CallContext, Role};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::availability::{AvailabilityBook, DEFAULT_TTL};
use crate::domain::{Availability, Policy, Reason};
use crate::store::{AgentProfile, AgentRow, AssignTarget, RoutingStore, StoreError, TeamRow};

/// Most conversations one bulk assignment selects by filter.
pub const MAX_BULK: usize = 10_000;

pub struct RoutingApi {
    pub store: RoutingStore,
    pub book: AvailabilityBook,
    pub bus: Bus,
    pub conversations: ConversationsClient<Channel>,
    pub service_token: Secret,
}

fn store_error(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(reason) => PublicError::invalid_argument(reason).into(),
        StoreError::NotFound(reason) => PublicError::not_found(reason).into(),
        StoreError::Conflict(reason) => PublicError::new(ErrorCode::Conflict, reason).into(),
        StoreError::Database(e) => {
            tracing::error!(error = %e, "routing store failure");
            PublicError::unavailable("routing store unavailable").into()
        }
        StoreError::Availability(e) => {
            tracing::error!(error = %e, "availability store failure");
            PublicError::unavailable("availability store unavailable").into()
        }
    }
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text).map_err(|_| PublicError::invalid_argument(format!("{what} must be a uuid")).into())
}

fn optional_id(text: &str, what: &str) -> Result<Option<Uuid>, Status> {
    if text.is_empty() { Ok(None) } else { parse_id(text, what).map(Some) }
}

fn require(ctx: &CallContext, roles: &[Role], what: &str) -> Result<(), Status> {
    if roles.contains(&ctx.role) {
        Ok(())
    } else {
        Err(PublicError::new(
            ErrorCode::PermissionDenied,
            format!("{what} is not allowed for the {} role", ctx.role.as_str()),
        )
        .into())
    }
}

const PEOPLE: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];
const READERS: [Role; 5] = [Role::Agent, Role::Supervisor, Role::Admin, Role::Operator, Role::Service];

/// The user id of a `user:<id>` principal.
fn user_of(principal: &str) -> Option<Uuid> {
    principal.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok())
}

fn bounded<'a>(text: &'a str, field: &str, max: usize) -> Result<&'a str, Status> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(PublicError::invalid_argument(format!("{field} must be at most {max} characters")).into());
    }
    Ok(text)
}

fn availability_to_proto(a: Availability) -> pb::Availability {
    match a {
        Availability::Online => pb::Availability::Online,
        Availability::Away => pb::Availability::Away,
        Availability::Offline => pb::Availability::Offline,
    }
}

fn agent_to_proto(a: &AgentRow, availability: Availability) -> pb::Agent {
    pb::Agent {
        id: a.id.to_string(),
        tenant_id: a.tenant_id.to_string(),
        name: a.name.clone(),
        email: a.email.clone(),
        role: a.role.clone(),
        time_zone: a.time_zone.clone(),
        capacity: u32::try_from(a.capacity).unwrap_or(0),
        load: u32::try_from(a.load).unwrap_or(0),
        availability: availability_to_proto(availability) as i32,
        team_ids: a.team_ids.iter().map(Uuid::to_string).collect(),
    }
}

fn team_to_proto(t: &TeamRow) -> pb::Team {
    pb::Team {
        id: t.id.to_string(),
        tenant_id: t.tenant_id.to_string(),
        name: t.name.clone(),
        policy: match Policy::parse(&t.policy) {
            Some(Policy::LeastLoaded) => pb::RoutingPolicy::LeastLoaded,
            _ => pb::RoutingPolicy::RoundRobin,
        } as i32,
        handoff_channels: t.handoff_channels.clone(),
        member_ids: t.member_ids.iter().map(Uuid::to_string).collect(),
        waiting: u32::try_from(t.waiting).unwrap_or(u32::MAX),
    }
}

impl RoutingApi {
    async fn agent_with_availability(&self, tenant_id: Uuid, agent: AgentRow) -> Result<pb::Agent, Status> {
        let availability = self.book.of(tenant_id, &[agent.id]).await.map_err(|e| store_error(e.into()))?;
        Ok(agent_to_proto(&agent, availability.get(&agent.id).copied().unwrap_or(Availability::Offline)))
    }

    /// Makes sure routing knows `conversation_id`, asking the conversation service when it does
    /// not. `false` when the conversation is not the tenant's.
    async fn know_conversation(&self, ctx: &CallContext, conversation_id: Uuid) -> Result<bool, Status> {
        if self.store.knows(ctx.tenant_id, conversation_id).await.map_err(store_error)? {
            return Ok(true);
        }
        let request = ctx.request(
            conv::GetConversationRequest { conversation_id: conversation_id.to_string() },
            &self.service_token,
        )?;
        match self.conversations.clone().get_conversation(request).await {
            Ok(c) => {
                self.learn(ctx.tenant_id, &c.into_inner()).await?;
                Ok(true)
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "conversation lookup failed");
                Err(PublicError::unavailable("conversation service unavailable").into())
            }
        }
    }

    async fn learn(&self, tenant_id: Uuid, c: &conv::Conversation) -> Result<(), Status> {
        let id = parse_id(&c.id, "conversation id")?;
        let status = conv::ConversationStatus::try_from(c.status).unwrap_or(conv::ConversationStatus::Unspecified);
        let open = matches!(status, conv::ConversationStatus::Active | conv::ConversationStatus::Pending);
        let channel = inbox_bus::subjects::channel_token(
            inbox_proto::common::v1::Channel::try_from(c.channel)
                .unwrap_or(inbox_proto::common::v1::Channel::Unspecified),
        );
        self.store.learn_conversation(tenant_id, id, channel, c.version, open, c.needs_human).await.map_err(store_error)
    }

    /// The ids a bulk request selects: the listed ones, or every match of the filter (paged
    /// through the conversation service, at most [`MAX_BULK`]).
    async fn select(&self, ctx: &CallContext, filter: conv::ConversationFilter) -> Result<Vec<String>, Status> {
        let only_ids = conv::ConversationFilter { ids: filter.ids.clone(), ..Default::default() };
        if !filter.ids.is_empty() && filter == only_ids {
            if filter.ids.len() > MAX_BULK {
                return Err(PublicError::invalid_argument(format!("at most {MAX_BULK} ids")).into());
            }
            return Ok(filter.ids);
        }
        if filter == conv::ConversationFilter::default() {
            return Err(PublicError::invalid_argument("select conversations: give ids or at least one filter").into());
        }
        let mut ids = Vec::new();
        let mut cursor = String::new();
        loop {
            let request = ctx.request(
                conv::ListConversationsRequest {
                    page: Some(inbox_proto::common::v1::PageRequest { limit: 200, cursor: cursor.clone() }),
                    filter: Some(filter.clone()),
                    ..Default::default()
                },
                &self.service_token,
            )?;
            let page = self.conversations.clone().list_conversations(request).await.map_err(|status| {
                tracing::warn!(code = ?status.code(), message = status.message(), "listing conversations failed");
                Status::from(inbox_errors::PublicError::from_status(&status))
            })?;
            let page = page.into_inner();
            for c in &page.conversations {
                self.learn(ctx.tenant_id, c).await?;
                ids.push(c.id.clone());
            }
            if page.next_cursor.is_empty() || ids.len() >= MAX_BULK {
                break;
            }
            cursor = page.next_cursor;
        }
        ids.truncate(MAX_BULK);
        Ok(ids)
    }
}

#[tonic::async_trait]
impl pb::routing_server::Routing for RoutingApi {
    #[tracing::instrument(skip_all, fields(tenant_id, agent_id))]
    async fn upsert_agent(&self, request: Request<pb::UpsertAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &[Role::Admin, Role::Operator], "managing agents")?;
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
        let agent = self.store.upsert_agent(ctx.tenant_id, &profile).await.map_err(store_error)?;
        tracing::info!(capacity = agent.capacity, "agent profile saved");
        Ok(Response::new(self.agent_with_availability(ctx.tenant_id, agent).await?))
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &READERS, "reading agents")?;
        let id = parse_id(&request.get_ref().agent_id, "agent_id")?;
        let agent = self
            .store
            .agent(ctx.tenant_id, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PublicError::not_found("agent not found"))?;
        Ok(Response::new(self.agent_with_availability(ctx.tenant_id, agent).await?))
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &READERS, "reading agents")?;
        let agents = self.store.list_agents(ctx.tenant_id).await.map_err(store_error)?;
        let ids: Vec<Uuid> = agents.iter().map(|a| a.id).collect();
        let availability = self.book.of(ctx.tenant_id, &ids).await.map_err(|e| store_error(e.into()))?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents
                .iter()
                .map(|a| agent_to_proto(a, availability.get(&a.id).copied().unwrap_or(Availability::Offline)))
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn upsert_team(&self, request: Request<pb::UpsertTeamRequest>) -> Result<Response<pb::Team>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require(&ctx, &[Role::Admin, Role::Operator], "managing teams")?;
        let r = request.get_ref();
        let id = optional_id(&r.team_id, "team_id")?;
        let policy = match pb::RoutingPolicy::try_from(r.policy) {
            Ok(pb::RoutingPolicy::LeastLoaded) => Policy::LeastLoaded,
            Ok(pb::RoutingPolicy::RoundRobin | pb::RoutingPolicy::Unspecified) => Policy::RoundRobin,
            Err(_) => return Err(PublicError::invalid_argument("policy must be round_robin or least_loaded").into()),
        };
        let team = self
            .store
            .upsert_team(ctx.tenant_id, id, &r.name, policy, &r.handoff_channels)
            .await
            .map_err(store_error)?;
        tracing::info!(team_id = %team.id, policy = %team.policy, "team saved");
        Ok(Response::new(team_to_proto(&team)))
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &READERS, "reading teams")?;
        let teams = self.store.list_teams(ctx.tenant_id).await.map_err(store_error)?;
        Ok(Response::new(pb::ListTeamsResponse { teams: teams.iter().map(team_to_proto).collect() }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, team_id))]
    async fn delete_team(
        &self,
        request: Request<pb::DeleteTeamRequest>,
    ) -> Result<Response<pb::DeleteTeamResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require(&ctx, &[Role::Admin, Role::Operator], "deleting teams")?;
        let team_id = parse_id(&request.get_ref().team_id, "team_id")?;
        tracing::Span::current().record("team_id", tracing::field::display(team_id));
        let team = self.store.delete_team(ctx.tenant_id, team_id).await.map_err(store_error)?;
        tracing::info!(name = %team.name, "team deleted");
        Ok(Response::new(pb::DeleteTeamResponse { team: Some(team_to_proto(&team)) }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id))]
    async fn set_membership(&self, request: Request<pb::SetMembershipRequest>) -> Result<Response<pb::Team>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require(&ctx, &[Role::Admin, Role::Supervisor, Role::Operator], "managing memberships")?;
        let r = request.get_ref();
        let team_id = parse_id(&r.team_id, "team_id")?;
        let agent_id = parse_id(&r.agent_id, "agent_id")?;
        let team = self.store.set_membership(ctx.tenant_id, team_id, agent_id, r.member).await.map_err(store_error)?;
        if r.member {
            // A new member may be online already: what waits can go to them now.
            self.store.route_waiting(ctx.tenant_id, &[team_id], &self.book).await.map_err(store_error)?;
        }
        Ok(Response::new(team_to_proto(&team)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, agent_id))]
    async fn set_availability(
        &self,
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
        let availability = match pb::Availability::try_from(r.availability) {
            Ok(pb::Availability::Online) => Availability::Online,
            Ok(pb::Availability::Away) => Availability::Away,
            Ok(pb::Availability::Offline) => Availability::Offline,
            _ => return Err(PublicError::invalid_argument("availability must be online, away or offline").into()),
        };
        let ttl = match r.ttl_seconds {
            0 => DEFAULT_TTL,
            s if (30..=86_400).contains(&s) => Duration::from_secs(u64::from(s)),
            _ => return Err(PublicError::invalid_argument("ttl_seconds must be between 30 and 86400").into()),
        };
        let agent = self
            .store
            .agent(ctx.tenant_id, agent_id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| PublicError::not_found("agent not found"))?;
        self.book.set(ctx.tenant_id, agent_id, availability, ttl).await.map_err(|e| store_error(e.into()))?;
        let tenant = ctx.tenant_id.to_string();
        let event = new_envelope(
            Uuid::now_v7().to_string(),
            &tenant,
            Payload::AgentAvailabilityChanged(AgentAvailabilityChanged {
                agent_id: agent_id.to_string(),
                availability: availability_to_proto(availability) as i32,
            }),
        );
        if let Err(e) = self.bus.publish(&subjects::event(&tenant, "routing.availability_changed"), &event).await {
            tracing::warn!(error = %e, "availability event not published");
        }
        if availability == Availability::Online && !agent.team_ids.is_empty() {
            let routed =
                self.store.route_waiting(ctx.tenant_id, &agent.team_ids, &self.book).await.map_err(store_error)?;
            if routed > 0 {
                tracing::info!(routed, "waiting conversations routed as an agent came online");
            }
        }
        let agent = self.store.agent(ctx.tenant_id, agent_id).await.map_err(store_error)?.unwrap_or(agent);
        Ok(Response::new(agent_to_proto(&agent, availability)))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, conversation_id))]
    async fn assign(&self, request: Request<pb::AssignRequest>) -> Result<Response<pb::AssignResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &PEOPLE, "assigning conversations")?;
        let r = request.get_ref();
        let id = parse_id(&r.conversation_id, "conversation_id")?;
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        tracing::Span::current().record("conversation_id", tracing::field::display(id));
        let target = AssignTarget {
            assignee_id: optional_id(&r.assignee_id, "assignee_id")?,
            team_id: optional_id(&r.team_id, "team_id")?,
        };
        let note = bounded(&r.note, "note", 1000)?;
        if !self.know_conversation(&ctx, id).await? {
            return Err(PublicError::not_found("conversation not found").into());
        }
        let outcome = self
            .store
            .assign(ctx.tenant_id, id, target, &ctx.principal, note, Reason::Manual, &self.book)
            .await
            .map_err(store_error)?;
        tracing::info!(outcome = outcome.outcome, "assignment decided");
        Ok(Response::new(pb::AssignResponse {
            outcome: outcome.outcome.into(),
            assignee_id: outcome.assignee_id.map(|u| u.to_string()).unwrap_or_default(),
            team_id: outcome.team_id.map(|u| u.to_string()).unwrap_or_default(),
            sequence: outcome.sequence,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id, selected))]
    async fn bulk_assign(
        &self,
        request: Request<pb::BulkAssignRequest>,
    ) -> Result<Response<pb::BulkAssignResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id));
        require(&ctx, &[Role::Supervisor, Role::Admin], "bulk assignment")?;
        let r = request.get_ref();
        let target = AssignTarget {
            assignee_id: optional_id(&r.assignee_id, "assignee_id")?,
            team_id: optional_id(&r.team_id, "team_id")?,
        };
        let note = bounded(&r.note, "note", 1000)?.to_owned();
        let ids = self.select(&ctx, r.filter.clone().unwrap_or_default()).await?;
        tracing::Span::current().record("selected", ids.len());
        let mut response = pb::BulkAssignResponse::default();
        for text in ids {
            let item = |outcome: &str, error: String| pb::BulkAssignItem {
                conversation_id: text.clone(),
                outcome: outcome.into(),
                error,
            };
            let Ok(id) = Uuid::parse_str(&text) else {
                response.failed += 1;
                response.results.push(item("failed", "not a uuid".into()));
                continue;
            };
            match self.know_conversation(&ctx, id).await {
                Ok(true) => {}
                Ok(false) => {
                    response.failed += 1;
                    response.results.push(item("not_found", "conversation not found".into()));
                    continue;
                }
                Err(status) => {
                    response.failed += 1;
                    response.results.push(item("failed", status.message().to_owned()));
                    continue;
                }
            }
            match self.store.assign(ctx.tenant_id, id, target, &ctx.principal, &note, Reason::Bulk, &self.book).await {
                Ok(o) => {
                    if o.outcome == "unchanged" {
                        response.unchanged += 1;
                    } else {
                        response.changed += 1;
                    }
                    response.results.push(item(o.outcome, String::new()));
                }
                Err(e) => {
                    response.failed += 1;
                    let message = match &e {
                        StoreError::Invalid(m) | StoreError::Conflict(m) | StoreError::NotFound(m) => m.clone(),
                        other => {
                            tracing::warn!(error = %other, conversation_id = %id, "bulk assignment item failed");
                            "temporarily unavailable; retry".into()
                        }
                    };
                    response.results.push(item("failed", message));
                }
            }
        }
        Ok(Response::new(response))
    }

    async fn list_assignment_history(
        &self,
        request: Request<pb::ListAssignmentHistoryRequest>,
    ) -> Result<Response<pb::ListAssignmentHistoryResponse>, Status> {
        let ctx = CallContext::of(&request)?.clone();
        require(&ctx, &READERS, "reading assignment history")?;
        let id = parse_id(&request.get_ref().conversation_id, "conversation_id")?;
        let rows = self.store.history(ctx.tenant_id, id).await.map_err(store_error)?;
        Ok(Response::new(pb::ListAssignmentHistoryResponse { changes: rows.iter().map(|r| r.to_proto()).collect() }))
    }
}
