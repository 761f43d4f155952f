//! `GET /v1/conversations`, `GET /v1/conversations/{id}`, `GET /v1/conversations/{id}/messages`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;

use super::json::{ConversationJson, MessageJson, Page};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations", get(list_conversations))
        .route("/v1/conversations/{id}", get(get_conversation))
        .route("/v1/conversations/{id}/messages", get(list_messages))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

impl PageQuery {
    fn to_proto(&self) -> PageRequest {
        PageRequest { limit: self.limit.unwrap_or(0), cursor: self.cursor.clone().unwrap_or_default() }
    }
}

async fn list_conversations(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ConversationJson>>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListConversationsRequest { page: Some(page.to_proto()) }, &state.service_token)?;
    let response =
        state.conversations.clone().list_conversations(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(Page::new(response.conversations.iter().map(ConversationJson::from).collect(), response.next_cursor)))
}

async fn get_conversation(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConversationJson>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation =
        state.conversations.clone().get_conversation(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

async fn list_messages(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<MessageJson>>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx
        .request(pb::ListMessagesRequest { conversation_id: id, page: Some(page.to_proto()) }, &state.service_token)?;
    let response = state.conversations.clone().list_messages(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(Page::new(response.messages.iter().map(MessageJson::from).collect(), response.next_cursor)))
}
