//! A conversation's messages: `GET|POST /v1/conversations/{id}/messages` (outbound messages
//! with their delivery state) and `GET /v1/conversations/{id}/media/{media_id}` (a file,
//! streamed from the provider through channel-ingest, which holds the access token).

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use serde_json::Value;

use super::error::GatewayError;
use super::present::Page;
use super::present::message::{MessageJson, delivery, sent_reply};
use super::request::content::{NewAttachment, message_content};
use super::request::{JsonBody, PageQuery, body, idempotency_key};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations/{id}/messages", get(list_messages).post(send_message))
        .route("/v1/conversations/{id}/media/{media_id}", get(media))
}

async fn list_messages(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<MessageJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx
        .request(pb::ListMessagesRequest { conversation_id: id, page: Some(page.to_proto()) }, &state.service_token)?;
    let response = state.conversations.clone().list_messages(request).await?.into_inner();
    let mut messages: Vec<MessageJson> = response.messages.iter().map(MessageJson::from).collect();
    attach_deliveries(state, &ctx, &mut messages).await;
    Ok(Json(Page::new(messages, response.next_cursor)))
}

/// Adds `delivery` to the outbound messages of a page. A failure to reach channel-ingest
/// leaves them without it (logged) rather than failing the page.
async fn attach_deliveries(state: &AppState, ctx: &CallContext, messages: &mut [MessageJson]) {
    let ids: Vec<String> = messages.iter().filter(|m| m.is_outbound()).map(|m| m.id.clone()).collect();
    if ids.is_empty() {
        return;
    }
    let Ok(request) = ctx.request(ingest::ListDeliveriesRequest { message_ids: ids }, &state.service_token) else {
        return;
    };
    match state.channel_deliveries.clone().list_deliveries(request).await {
        Ok(answer) => {
            for d in answer.into_inner().deliveries {
                if let Some(m) = messages.iter_mut().find(|m| m.id == d.message_id) {
                    m.delivery = Some(delivery(&d));
                }
            }
        }
        Err(status) => tracing::warn!(code = ?status.code(), "delivery states unavailable; page served without them"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    /// The text, or the attachment's caption.
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachment: Option<NewAttachment>,
    /// An approved WhatsApp template (the only kind allowed outside the 24-hour window).
    #[serde(default)]
    template: Option<Value>,
    /// Text with reply buttons (WhatsApp).
    #[serde(default)]
    interactive: Option<Value>,
    #[serde(default)]
    internal_note: bool,
    /// Or the `Idempotency-Key` header.
    #[serde(default)]
    idempotency_key: Option<String>,
}

/// An agent's reply or internal note: 201 when sent, 200 when the idempotency key was seen.
async fn send_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let key = idempotency_key(new.idempotency_key, &headers)?;
    let content = message_content(new.text, new.attachment, new.template, new.interactive)?;
    let request = ctx.request(
        pb::SendMessageRequest {
            conversation_id: id,
            content: Some(content),
            internal_note: new.internal_note,
            idempotency_key: key,
        },
        &state.service_token,
    )?;
    let sent = state.conversations.clone().send_message(request).await?.into_inner();
    Ok(sent_reply(&sent))
}

/// `GET /v1/conversations/{id}/media/{media_id}`: the file, streamed, with its content type.
/// The conversation must be the caller's (tenant and role checked by the conversation
/// service); the media is fetched with the conversation's own channel account.
async fn media(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((id, media_id)): Path<(String, String)>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation = state.conversations.clone().get_conversation(request).await?.into_inner();
    let request = ctx.request(
        ingest::FetchMediaRequest { channel_account_id: conversation.channel_account_id, media_id },
        &state.service_token,
    )?;
    let mut stream = state.channel_deliveries.clone().fetch_media(request).await?.into_inner();
    let head = stream.message().await?.ok_or_else(|| PublicError::unavailable("media stream ended early"))?;
    let first = Bytes::from(head.data);
    let rest = stream.map(|chunk| chunk.map(|c| Bytes::from(c.data)));
    let body = Body::from_stream(futures::stream::once(async move { Ok::<_, tonic::Status>(first) }).chain(rest));
    let mut response = body.into_response();
    let mime = if head.mime_type.is_empty() { "application/octet-stream" } else { head.mime_type.as_str() };
    if let Ok(value) = HeaderValue::from_str(mime) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    // The provider's size is informative only: a Content-Length that disagreed with the
    // stream would break the response.
    if head.size_bytes > 0 {
        response.headers_mut().insert("x-media-size", HeaderValue::from(head.size_bytes));
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(response)
}
