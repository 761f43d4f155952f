//! `inbox.routing.v1.Routing` over gRPC: translation and role checks only. One module per
//! resource (agents, teams, assignments) over the shared pieces: who may call what (`access`),
//! rows as messages (`presenters`) and the one translation of errors (`errors`).

mod access;
mod agents;
mod assignments;
mod errors;
mod presenters;
mod teams;

use inbox_bus::Bus;
use inbox_config::Secret;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::routing::v1 as pb;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub use assignments::{BulkLimits, MAX_BULK};

use crate::availability::AvailabilityBook;
use crate::store::RoutingStore;

pub struct RoutingApi {
    pub store: RoutingStore,
    pub book: AvailabilityBook,
    pub bus: Bus,
    pub conversations: ConversationsClient<Channel>,
    pub service_token: Secret,
    pub bulk: BulkLimits,
}

#[tonic::async_trait]
impl pb::routing_server::Routing for RoutingApi {
    async fn upsert_agent(&self, request: Request<pb::UpsertAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        agents::upsert(self, request).await
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Result<Response<pb::Agent>, Status> {
        agents::get(self, request).await
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        agents::list(self, request).await
    }

    async fn set_availability(
        &self,
        request: Request<pb::SetAvailabilityRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        agents::set_availability(self, request).await
    }

    async fn upsert_team(&self, request: Request<pb::UpsertTeamRequest>) -> Result<Response<pb::Team>, Status> {
        teams::upsert(self, request).await
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        teams::list(self, request).await
    }

    async fn delete_team(
        &self,
        request: Request<pb::DeleteTeamRequest>,
    ) -> Result<Response<pb::DeleteTeamResponse>, Status> {
        teams::delete(self, request).await
    }

    async fn set_membership(&self, request: Request<pb::SetMembershipRequest>) -> Result<Response<pb::Team>, Status> {
        teams::set_membership(self, request).await
    }

    async fn assign(&self, request: Request<pb::AssignRequest>) -> Result<Response<pb::AssignResponse>, Status> {
        assignments::assign(self, request).await
    }

    async fn bulk_assign(
        &self,
        request: Request<pb::BulkAssignRequest>,
    ) -> Result<Response<pb::BulkAssignResponse>, Status> {
        assignments::bulk_assign(self, request).await
    }

    async fn list_assignment_history(
        &self,
        request: Request<pb::ListAssignmentHistoryRequest>,
    ) -> Result<Response<pb::ListAssignmentHistoryResponse>, Status> {
        assignments::history(self, request).await
    }
}
