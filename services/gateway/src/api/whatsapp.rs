//! WhatsApp edges of the REST API: media of a conversation (streamed from the provider through
//! channel-ingest, which holds the access token), delivery states of outbound messages, and
//! replay of archived webhooks (admins).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use inbox_errors::PublicError;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::channel_json::delivery;
use super::json::MessageJson;
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations/{id}/media/{media_id}", get(media))
        .route("/v1/admin/tenants/{tenant_id}/channels/whatsapp/replay", post(replay))
}

/// Adds `delivery` to the agent and AI messages of a page. A failure to reach channel-ingest
/// leaves them without it (logged) rather than failing the page.
pub(crate) async fn attach_deliveries(state: &AppState, ctx: &CallContext, messages: &mut [MessageJson]) {
    let ids: Vec<String> = messages
        .iter()
        .filter(|m| matches!(m.sender_kind, "agent" | "ai") && !m.internal_note)
        .map(|m| m.id.clone())
        .collect();
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

/// `GET /v1/conversations/{id}/media/{media_id}`: the file, streamed, with its content type.
/// The conversation must be the caller's (tenant and role checked by the conversation
/// service); the media is fetched with the conversation's own channel account.
async fn media(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path((id, media_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetConversationRequest { conversation_id: id }, &state.service_token)?;
    let conversation =
        state.conversations.clone().get_conversation(request).await.map_err(upstream_failure)?.into_inner();
    let request = ctx.request(
        ingest::FetchMediaRequest { channel_account_id: conversation.channel_account_id, media_id },
        &state.service_token,
    )?;
    let mut stream =
        state.channel_deliveries.clone().fetch_media(request).await.map_err(upstream_failure)?.into_inner();
    let head = stream
        .message()
        .await
        .map_err(upstream_failure)?
        .ok_or_else(|| PublicError::unavailable("media stream ended early"))?;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayRequest {
    #[serde(default)]
    raw_payload_ids: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    received_from: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    received_until: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    only_unpublished: bool,
}

/// `POST /v1/admin/tenants/{tenant_id}/channels/whatsapp/replay`: process archived webhooks
/// again (idempotent).
pub(crate) async fn replay(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(tenant_id): Path<String>,
    request: Result<Json<ReplayRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let tenant_id =
        Uuid::parse_str(&tenant_id).map_err(|_| ApiError(PublicError::invalid_argument("tenant id must be a uuid")))?;
    let ctx = principal.require_admin_of(tenant_id)?;
    let Json(r) = request.map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))?;
    let request = ctx.request(
        ingest::ReplayRawPayloadsRequest {
            raw_payload_ids: r.raw_payload_ids,
            received_from: r.received_from.map(inbox_proto::timestamp_from),
            received_until: r.received_until.map(inbox_proto::timestamp_from),
            only_unpublished: r.only_unpublished,
        },
        &state.service_token,
    )?;
    let answer =
        state.channel_deliveries.clone().replay_raw_payloads(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"payloads": answer.payloads, "messages": answer.messages, "statuses": answer.statuses})))
}
