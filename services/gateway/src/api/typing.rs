//! `POST /v1/conversations/{id}/typing` `{"typing": true|false}`: the agent is typing (or
//! stopped). The tenant's agents see `conversation.typing` on their live socket, whatever the
//! channel; in a web chat conversation the visitor's widget shows it too. Ephemeral (core
//! NATS, nothing stored): 202.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use inbox_bus::{Payload, new_envelope};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::events::v1::AgentTyping;
use inbox_service::Role;
use inbox_service::http_edge::WhenReady;
use prost::Message;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(typing))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TypingRequest {
    /// False when the agent stopped typing.
    #[serde(default = "yes")]
    #[schema(default = true)]
    typing: bool,
}

fn yes() -> bool {
    true
}

/// The agent is typing, or stopped (people only).
#[utoipa::path(post, path = "/v1/conversations/{id}/typing", tag = "messages",
    params(("id" = String, Path, description = "The conversation")),
    request_body = TypingRequest,
    responses((status = 202, description = "Told to the tenant's agents (and a web chat visitor)")))]
async fn typing(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    request: JsonBody<TypingRequest>,
) -> Result<StatusCode, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let TypingRequest { typing } = body(request)?;
    let agent_id = ctx.principal.strip_prefix("user:").unwrap_or(&ctx.principal).to_owned();
    if !matches!(ctx.role, Role::Admin | Role::Supervisor | Role::Agent) {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "only people type").into());
    }
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().get_conversation(request).await?.into_inner();
    let tenant = ctx.tenant_id.to_string();
    let envelope = new_envelope(
        format!("typing:{}:{}", conversation.id, uuid::Uuid::now_v7()),
        &tenant,
        Payload::AgentTyping(AgentTyping {
            conversation_id: conversation.id.clone(),
            agent_id,
            channel_account_id: conversation.channel_account_id.clone(),
            customer_address: conversation.customer_address.clone(),
            typing,
        }),
    );
    let payload: Vec<u8> = envelope.encode_to_vec();
    let mut subjects = vec![inbox_bus::subjects::typing(&tenant, &conversation.id)];
    if conversation.channel == Channel::Webchat as i32 {
        // The subject channel-ingest's replicas relay to the visitor's sockets.
        subjects.push(inbox_bus::subjects::webchat_visitor(&tenant, &conversation.customer_address));
    }
    for subject in subjects {
        state.nats.publish(subject, payload.clone().into()).await?;
    }
    Ok(StatusCode::ACCEPTED)
}
