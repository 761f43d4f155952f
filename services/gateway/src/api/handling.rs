//! Who works a conversation: assignment, the AI's messages, taking over from the AI and
//! handing back, and the summary.
//!
//! - `PUT /v1/conversations/{id}/assignment` {assignee_id?, team_id?, note?} (through routing)
//! - `POST /v1/conversations/{id}/ai-messages` {text, confidence, complex_issue?, complex_reason?,
//!   idempotency_key} (AI accounts only)
//! - `POST /v1/conversations/{id}/take-over`, `POST /v1/conversations/{id}/release`
//! - `GET|PUT /v1/conversations/{id}/summary`

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use inbox_proto::common::v1::{MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::GatewayError;
use super::present::conversation::{ConversationJson, SummaryJson, summary};
use super::present::message::{SentJson, sent_reply};
use super::present::routing::{AssignmentDecisionJson, assignment_decision};
use super::request::{JsonBody, body, idempotency_key};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(set_assignment))
        .routes(routes!(post_ai_message))
        .routes(routes!(take_over))
        .routes(routes!(release_to_ai))
        .routes(routes!(get_summary, set_summary))
}

/// An agent (`assignee_id`), a team (`team_id`: routing picks someone available), or neither
/// (unassigned).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAssignment {
    #[serde(default)]
    assignee_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    note: String,
}

/// Assignment goes through routing, which owns it: the answer is routing's decision (the
/// conversation's read model follows through events, and the WebSocket gets
/// `conversation.assigned`).
#[utoipa::path(put, path = "/v1/conversations/{id}/assignment", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    request_body = NewAssignment,
    responses((status = 200, description = "Routing's decision", body = AssignmentDecisionJson)))]
async fn set_assignment(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewAssignment>,
) -> Result<Json<AssignmentDecisionJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        inbox_proto::routing::v1::AssignRequest {
            conversation_id: id.clone(),
            assignee_id: new.assignee_id.unwrap_or_default(),
            team_id: new.team_id.unwrap_or_default(),
            note: new.note,
        },
        &state.service_token,
    )?;
    let decided = state.routing.clone().assign(request).await?.into_inner();
    Ok(Json(assignment_decision(&id, &decided)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAiMessage {
    text: String,
    /// The AI's confidence in the answer, 0..1; below the tenant's threshold a person takes over.
    confidence: f32,
    #[serde(default)]
    complex_issue: bool,
    #[serde(default)]
    complex_reason: String,
    /// Or the `Idempotency-Key` header.
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// The AI's answer to the customer (AI accounts and keys only).
#[utoipa::path(post, path = "/v1/conversations/{id}/ai-messages", tag = "handling",
    params(("id" = String, Path, description = "The conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "Or the body's `idempotency_key`")),
    request_body = NewAiMessage,
    responses(
        (status = 201, description = "Sent", body = SentJson),
        (status = 200, description = "The idempotency key was seen: the earlier send, `replayed`", body = SentJson),
    ))]
async fn post_ai_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewAiMessage>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let key = idempotency_key(new.idempotency_key, &headers)?;
    if new.text.trim().is_empty() {
        return Err(PublicError::invalid_argument("text is required").into());
    }
    let request = ctx.request(
        pb::PostAiMessageRequest {
            conversation_id: id,
            content: Some(MessageContent { kind: Some(Kind::Text(TextContent { body: new.text })), reply_to: None }),
            confidence: new.confidence,
            complex_issue: new.complex_issue,
            complex_reason: new.complex_reason,
            idempotency_key: key,
        },
        &state.service_token,
    )?;
    let sent = state.conversations.clone().post_ai_message(request).await?.into_inner();
    Ok(sent_reply(&sent).into_response())
}

/// A person takes the conversation over from the AI.
#[utoipa::path(post, path = "/v1/conversations/{id}/take-over", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The conversation, handled by a person", body = ConversationJson)))]
async fn take_over(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    // The hand-off message names the agent as the team knows them.
    let agent_name = state.name_of(&principal).await?;
    let request = ctx.request(pb::TakeOverRequest { conversation_id: id, agent_name }, &state.service_token)?;
    let conversation = state.conversations.clone().take_over(request).await?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

/// Hands the conversation back to the AI.
#[utoipa::path(post, path = "/v1/conversations/{id}/release", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The conversation, handled by the AI", body = ConversationJson)))]
async fn release_to_ai(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ReleaseToAiRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().release_to_ai(request).await?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

/// The conversation's summary.
#[utoipa::path(get, path = "/v1/conversations/{id}/summary", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    responses((status = 200, description = "The summary and who wrote it", body = SummaryJson)))]
async fn get_summary(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<SummaryJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetSummaryRequest { conversation_id: id }, &state.service_token)?;
    let current = state.conversations.clone().get_summary(request).await?.into_inner();
    Ok(Json(summary(&current)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSummary {
    summary: String,
}

/// Writes the conversation's summary.
#[utoipa::path(put, path = "/v1/conversations/{id}/summary", tag = "handling",
    params(("id" = String, Path, description = "The conversation")),
    request_body = NewSummary,
    responses((status = 200, description = "The conversation with its summary", body = ConversationJson)))]
async fn set_summary(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    new: JsonBody<NewSummary>,
) -> Result<Json<ConversationJson>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request =
        ctx.request(pb::SetSummaryRequest { conversation_id: id, summary: new.summary }, &state.service_token)?;
    let conversation = state.conversations.clone().set_summary(request).await?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}
