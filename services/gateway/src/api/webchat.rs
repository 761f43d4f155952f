//! Web chat edges of the REST API: the visitor behind a conversation (visitor information,
//! page context, session history, from channel-ingest) and agent typing, sent live to the
//! visitor's widget.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use inbox_bus::{Payload, new_envelope};
use inbox_errors::{ErrorCode, PublicError};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::events::v1::AgentTyping;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::{ApiError, WhenReady};
use prost::Message;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conversations::{JsonBody, body};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new().route("/v1/conversations/{id}/typing", post(typing))
}

fn time(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.and_then(inbox_proto::timestamp_to_utc).map(|t| t.to_rfc3339())
}

/// The visitor of a web chat conversation as JSON; `None` for other channels, or (logged)
/// when channel-ingest cannot say, so the conversation is still served.
pub(crate) async fn visitor_of(state: &AppState, ctx: &CallContext, conversation: &pb::Conversation) -> Option<Value> {
    if conversation.channel != Channel::Webchat as i32 {
        return None;
    }
    let request = ctx
        .request(
            ingest::GetWebchatVisitorRequest {
                channel_account_id: conversation.channel_account_id.clone(),
                visitor_id: conversation.customer_address.clone(),
            },
            &state.service_token,
        )
        .ok()?;
    let visitor = match state.webchat_visitors.clone().get_webchat_visitor(request).await {
        Ok(v) => v.into_inner(),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "web chat visitor unavailable; conversation served without it");
            return None;
        }
    };
    let pages: Vec<Value> = visitor
        .pages
        .iter()
        .map(|p| json!({"url": p.url, "title": p.title, "referrer": p.referrer, "at": time(p.at.as_ref())}))
        .collect();
    Some(json!({
        "id": visitor.visitor_id,
        "name": visitor.name,
        "email": visitor.email,
        "browser": visitor.browser,
        "user_agent": visitor.user_agent,
        "locale": visitor.locale,
        "first_seen_at": time(visitor.first_seen_at.as_ref()),
        "last_seen_at": time(visitor.last_seen_at.as_ref()),
        "current_page": pages.last().cloned(),
        "pages": pages,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingRequest {
    /// False when the agent stopped typing.
    #[serde(default = "yes")]
    typing: bool,
}

fn yes() -> bool {
    true
}

/// `POST /v1/conversations/{id}/typing` `{"typing": true|false}`: the agent is typing (or
/// stopped). The tenant's agents see `conversation.typing` on their live socket, whatever the
/// channel; in a web chat conversation the visitor's widget shows it too. Ephemeral (core
/// NATS, nothing stored): 202.
async fn typing(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    request: JsonBody<TypingRequest>,
) -> Result<StatusCode, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let TypingRequest { typing } = body(request)?;
    let agent_id = ctx.principal.strip_prefix("user:").unwrap_or(&ctx.principal).to_owned();
    if !matches!(ctx.role, inbox_service::Role::Admin | inbox_service::Role::Supervisor | inbox_service::Role::Agent) {
        return Err(PublicError::new(ErrorCode::PermissionDenied, "only people type").into());
    }
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation =
        state.conversations.clone().get_conversation(request).await.map_err(upstream_failure)?.into_inner();
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
        state.nats.publish(subject, payload.clone().into()).await.map_err(|e| {
            tracing::warn!(error = %e, "typing signal not sent");
            ApiError(PublicError::unavailable("temporarily unavailable; retry"))
        })?;
    }
    Ok(StatusCode::ACCEPTED)
}
