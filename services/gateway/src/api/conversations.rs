//! One conversation: `GET /v1/conversations/{id}` (with the web chat visitor behind it),
//! `POST /v1/conversations/{id}/status`, `POST /v1/conversations/{id}/priority`,
//! `GET /v1/conversations/{id}/status-history`, `PUT /v1/conversations/{id}/read`.

use axum::Json;
use axum::extract::{Path, State};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::names::{priority_named, status_named};
use super::present::conversation::{
    ConversationJson, ReadStateJson, StatusChangeJson, VisitorJson, read_state, visitor,
};
use super::present::{Items, items};
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(get_conversation))
        .routes(routes!(set_status))
        .routes(routes!(set_priority))
        .routes(routes!(status_history))
        .routes(routes!(mark_read))
}

/// One conversation; a web chat conversation carries its `visitor`.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The conversation", body = ConversationJson)))]
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
async fn visitor_of(state: &AppState, ctx: &CallContext, conversation: &pb::Conversation) -> Option<VisitorJson> {
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewStatus {
    #[schema(schema_with = super::names::schema::status)]
    status: String,
    #[serde(default)]
    reason: String,
}

/// Moves the conversation to another status.
#[utoipa::path(post, path = "/v1/conversations/{id}/status", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    request_body = NewStatus,
    responses((status = 200, description = "The conversation after the change", body = ConversationJson)))]
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

/// Every status change of the conversation, oldest first.
#[utoipa::path(get, path = "/v1/conversations/{id}/status-history", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The changes", body = Items<StatusChangeJson>)))]
async fn status_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Items<StatusChangeJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListStatusChangesRequest { conversation_id: id }, &state.service_token)?;
    let changes = state.conversations.clone().list_status_changes(request).await?.into_inner();
    Ok(Json(items(changes.changes.iter().map(StatusChangeJson::from))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPriority {
    #[schema(schema_with = super::names::schema::priority)]
    priority: String,
    #[serde(default)]
    reason: String,
}

/// Sets the conversation's priority by hand.
#[utoipa::path(post, path = "/v1/conversations/{id}/priority", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    request_body = NewPriority,
    responses((status = 200, description = "The conversation after the change", body = ConversationJson)))]
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReadUpTo {
    last_read_message_id: String,
}

/// The calling person has read the conversation up to a message: idempotent, and never moves
/// back (an older message leaves the mark where it is). Answers the mark and the unread count.
#[utoipa::path(put, path = "/v1/conversations/{id}/read", tag = "conversations",
    params(("id" = String, Path, description = "The conversation")),
    request_body = ReadUpTo,
    responses((status = 200, description = "Where the caller stands", body = ReadStateJson)))]
async fn mark_read(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    read: JsonBody<ReadUpTo>,
) -> Result<Json<ReadStateJson>, GatewayError> {
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
