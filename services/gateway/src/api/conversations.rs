//! One conversation: `GET /v1/conversations/{id}` (with the web chat visitor behind it),
//! `POST /v1/conversations/{id}/status`, `POST /v1/conversations/{id}/priority`,
//! `GET /v1/conversations/{id}/status-history`, `PUT /v1/conversations/{id}/read`.

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::Value;

use super::error::GatewayError;
use super::names::{priority_named, status_named};
use super::present::conversation::{ConversationJson, StatusChangeJson, read_state, visitor};
use super::present::items;
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations/{id}", get(get_conversation))
        .route("/v1/conversations/{id}/status", post(set_status))
        .route("/v1/conversations/{id}/priority", post(set_priority))
        .route("/v1/conversations/{id}/status-history", get(status_history))
        .route("/v1/conversations/{id}/read", put(mark_read))
}

async fn get_conversation(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().get_conversation(request).await?.into_inner();
    let mut json = ConversationJson::from(&conversation);
    json.visitor = visitor_of(state, &ctx, &conversation).await;
    Ok(Json(json))
}

/// The visitor of a web chat conversation; `None` for other channels, or (logged) when
/// channel-ingest cannot say, so the conversation is still served.
async fn visitor_of(state: &AppState, ctx: &CallContext, conversation: &pb::Conversation) -> Option<Value> {
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
    match state.webchat_visitors.clone().get_webchat_visitor(request).await {
        Ok(v) => Some(visitor(&v.into_inner())),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "web chat visitor unavailable; conversation served without it");
            None
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    status: String,
    #[serde(default)]
    reason: String,
}

async fn set_status(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewStatus>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let status = status_named(&new.status)?;
    let request = ctx.request(
        pb::SetStatusRequest { conversation_id: id, status: status as i32, reason: new.reason },
        &state.service_token,
    )?;
    let conversation = state.conversations.clone().set_status(request).await?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

async fn status_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListStatusChangesRequest { conversation_id: id }, &state.service_token)?;
    let changes = state.conversations.clone().list_status_changes(request).await?.into_inner();
    Ok(Json(items(changes.changes.iter().map(StatusChangeJson::from))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPriority {
    priority: String,
    #[serde(default)]
    reason: String,
}

async fn set_priority(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewPriority>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let priority = priority_named(&new.priority)?;
    let request = ctx.request(
        pb::SetPriorityRequest { conversation_id: id, priority: priority as i32, reason: new.reason },
        &state.service_token,
    )?;
    let conversation = state.conversations.clone().set_priority(request).await?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadUpTo {
    last_read_message_id: String,
}

/// The calling person has read the conversation up to a message: idempotent, and never moves
/// back (an older message leaves the mark where it is). Answers the mark and the unread count.
async fn mark_read(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    read: JsonBody<ReadUpTo>,
) -> Result<Json<Value>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let read = body(read)?;
    let request = ctx.request(
        pb::MarkReadRequest { conversation_id: id, last_read_message_id: read.last_read_message_id },
        &state.service_token,
    )?;
    let marked = state.conversations.clone().mark_read(request).await?.into_inner();
    Ok(Json(read_state(&marked)))
}
