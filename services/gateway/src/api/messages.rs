//! A conversation's messages: `GET|POST /v1/conversations/{id}/messages` (outbound messages
//! with their delivery state; pages forward with `after`, or back from the newest message with
//! `before=latest`; a send may carry the send guard) and
//! `GET /v1/conversations/{id}/media/{media_id}` (a file, streamed from the provider through
//! channel-ingest, which holds the access token).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use inbox_errors::PublicError;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::conversation::v1 as pb;
use inbox_proto::ingest::v1 as ingest;
use inbox_service::CallContext;
use inbox_service::http_edge::WhenReady;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ErrorBody, GatewayError};
use super::media_headers::{MEDIA_CSP, OPAQUE_TYPE, media_headers};
use super::present::Page;
use super::present::message::{MessageJson, SentJson, delivery, refusal_with_details, sent_reply};
use super::request::content::{NewAttachment, NewInteractiveButtons, NewWhatsAppTemplate, message_content};
use super::request::{JsonBody, QueryParams, body, idempotency_key, query};
use super::state::AppState;
use crate::auth::Authenticated;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new().routes(routes!(list_messages, send_message)).routes(routes!(media))
}

/// `?limit=` with at most one of `after` (or `cursor`, its older name) and `before`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MessagesQuery {
    /// Messages per page (default and maximum: the service's).
    #[serde(default)]
    #[param(maximum = 200)]
    limit: Option<u32>,
    /// Forward from the first message (absent) or from a `next_cursor` of a forward page.
    #[serde(default)]
    after: Option<String>,
    /// The older name of `after`.
    #[serde(default)]
    cursor: Option<String>,
    /// Back in time: `latest` for the newest messages, else the `next_cursor` of a backward page.
    #[serde(default)]
    before: Option<String>,
}

/// Which way a page of history goes, with the service's cursor.
#[derive(Debug, PartialEq, Eq)]
enum HistoryPage {
    Forward(PageRequest),
    Backward(PageRequest),
}

impl MessagesQuery {
    fn page(self) -> Result<HistoryPage, PublicError> {
        let limit = self.limit.unwrap_or(0);
        let after = match (self.after, self.cursor) {
            (Some(_), Some(_)) => return Err(PublicError::invalid_argument("give after or cursor, not both")),
            (after, cursor) => after.or(cursor),
        };
        match (after, self.before) {
            (Some(_), Some(_)) => Err(PublicError::invalid_argument("give after or before, not both")),
            (after, None) => Ok(HistoryPage::Forward(PageRequest { limit, cursor: after.unwrap_or_default() })),
            (None, Some(before)) if before == "latest" => {
                Ok(HistoryPage::Backward(PageRequest { limit, cursor: String::new() }))
            }
            (None, Some(before)) if before.is_empty() => {
                Err(PublicError::invalid_argument("before must be latest or a cursor"))
            }
            (None, Some(before)) => Ok(HistoryPage::Backward(PageRequest { limit, cursor: before })),
        }
    }
}

/// A page of the conversation's messages, oldest first within the page. Forward (`after`):
/// `next_cursor` leads to newer messages. Backward (`before=latest`, then `before=<next_cursor>`):
/// the newest messages first, and `next_cursor` leads to older ones.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "The conversation"), MessagesQuery),
    responses((status = 200, description = "A page of messages; outbound ones carry their `delivery`",
        body = Page<MessageJson>)))]
async fn list_messages(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    page: QueryParams<MessagesQuery>,
) -> Result<Json<Page<MessageJson>>, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let page = query(page)?.page()?;
    let conversations = state.conversations.clone();
    let response = match page {
        HistoryPage::Forward(page) => {
            let request = pb::ListMessagesRequest { conversation_id: id, page: Some(page) };
            conversations.clone().list_messages(ctx.request(request, &state.service_token)?).await?
        }
        HistoryPage::Backward(page) => {
            let request = pb::ListEarlierMessagesRequest { conversation_id: id, page: Some(page) };
            conversations.clone().list_earlier_messages(ctx.request(request, &state.service_token)?).await?
        }
    }
    .into_inner();
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    /// The text, or the attachment's caption.
    #[serde(default)]
    text: String,
    #[serde(default)]
    attachment: Option<NewAttachment>,
    /// An approved WhatsApp template (the only kind allowed outside the 24-hour window).
    #[serde(default)]
    #[schema(value_type = Option<NewWhatsAppTemplate>)]
    template: Option<serde_json::Value>,
    /// Text with reply buttons (WhatsApp).
    #[serde(default)]
    #[schema(value_type = Option<NewInteractiveButtons>)]
    interactive: Option<serde_json::Value>,
    #[serde(default)]
    internal_note: bool,
    /// Or the `Idempotency-Key` header.
    #[serde(default)]
    idempotency_key: Option<String>,
    /// The send guard: the newest message the sender had seen; refused with 409 when someone
    /// else acted after it.
    #[serde(default)]
    last_seen_message_id: Option<String>,
    /// Send even though someone acted after `last_seen_message_id`.
    #[serde(default)]
    force: bool,
}

/// An agent's reply or internal note: 201 when sent, 200 when the idempotency key was seen;
/// 409 `conflict` with `details.newer_message_id` when the guard finds someone else acted.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "The conversation"),
        ("Idempotency-Key" = Option<String>, Header, description = "Or the body's `idempotency_key`")),
    request_body = NewMessage,
    responses(
        (status = 201, description = "Sent", body = SentJson),
        (status = 200, description = "The idempotency key was seen: the earlier send, `replayed`", body = SentJson),
        (status = 409, description = "conflict: someone acted after `last_seen_message_id` \
            (`details.newer_message_id`); send again with `force`", body = ErrorBody),
    ))]
async fn send_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewMessage>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let key = idempotency_key(new.idempotency_key, &headers)?;
    let content = message_content(new.text, new.attachment, new.template, new.interactive)?;
    let send = pb::SendMessageRequest {
        conversation_id: id,
        content: Some(content),
        internal_note: new.internal_note,
        idempotency_key: key,
    };
    let guard = pb::SendGuard { last_seen_message_id: new.last_seen_message_id.unwrap_or_default(), force: new.force };
    let request =
        ctx.request(pb::SendGuardedMessageRequest { send: Some(send), guard: Some(guard) }, &state.service_token)?;
    match state.conversations.clone().send_guarded_message(request).await {
        Ok(sent) => Ok(sent_reply(&sent.into_inner()).into_response()),
        Err(refused) => {
            refusal_with_details(&refused).map(IntoResponse::into_response).ok_or(GatewayError::Upstream(refused))
        }
    }
}

/// `GET /v1/conversations/{id}/media/{media_id}`: the file, streamed. The conversation must be
/// the caller's (tenant and role checked by the conversation service); the media is fetched
/// with the conversation's own channel account. Served as [`media_headers`] decides: inline
/// only for a short list of image, audio and video types, sandboxed, never as a page.
#[utoipa::path(get, path = "/v1/conversations/{id}/media/{media_id}", tag = "messages",
    params(("id" = String, Path, description = "The conversation"),
        ("media_id" = String, Path, description = "A message's `content.media_id`"),
        ("access_token" = Option<String>, Query, description = "For a link a browser opens without the \
            `Authorization` header (`<img src>`, `<audio src>`, a download): a single-use ticket from \
            `POST /v1/auth/ticket`; never an access token or API key")),
    responses((status = 200, description = "The file (`x-media-size`: the provider's size). `inline` under its own \
        type only for JPEG, PNG, GIF and WebP images, Ogg, MPEG, MP4, AAC, AMR, WAV and WebM audio, MP4, 3GPP and WebM \
        video; anything else is an `attachment`, and HTML, SVG, XML, script or an unreadable type is \
        `application/octet-stream`. Always `Content-Security-Policy: sandbox; default-src 'none'` and \
        `X-Content-Type-Options: nosniff`.",
        content_type = "*/*", body = Vec<u8>)))]
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
        ingest::FetchMediaRequest { channel_account_id: conversation.channel_account_id, media_id: media_id.clone() },
        &state.service_token,
    )?;
    let mut stream = state.channel_deliveries.clone().fetch_media(request).await?.into_inner();
    let head = stream.message().await?.ok_or_else(|| PublicError::unavailable("media stream ended early"))?;
    let first = Bytes::from(head.data);
    let rest = stream.map(|chunk| chunk.map(|c| Bytes::from(c.data)));
    let body = Body::from_stream(futures::stream::once(async move { Ok::<_, tonic::Status>(first) }).chain(rest));
    let served = media_headers(&head.mime_type, &media_id);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    // Made of a fixed list or of token characters only (checked by `media_headers`).
    if let (Ok(content_type), Ok(disposition)) =
        (HeaderValue::from_str(&served.content_type), HeaderValue::from_str(&served.disposition))
    {
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    } else {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OPAQUE_TYPE));
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(MEDIA_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The provider's size is informative only: a Content-Length that disagreed with the
    // stream would break the response.
    if head.size_bytes > 0 {
        headers.insert("x-media-size", HeaderValue::from(head.size_bytes));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(q: MessagesQuery) -> Result<HistoryPage, PublicError> {
        q.page()
    }

    #[test]
    fn history_pages_forward_from_the_start_or_back_from_the_latest_message() {
        let forward = |cursor: &str| HistoryPage::Forward(PageRequest { limit: 0, cursor: cursor.into() });
        assert_eq!(page(MessagesQuery::default()).unwrap(), forward(""));
        assert_eq!(page(MessagesQuery { after: Some("c1".into()), ..Default::default() }).unwrap(), forward("c1"));
        assert_eq!(page(MessagesQuery { cursor: Some("c1".into()), ..Default::default() }).unwrap(), forward("c1"));
        let latest = MessagesQuery { before: Some("latest".into()), limit: Some(30), ..Default::default() };
        assert_eq!(page(latest).unwrap(), HistoryPage::Backward(PageRequest { limit: 30, cursor: String::new() }));
        let older = MessagesQuery { before: Some("c9".into()), ..Default::default() };
        assert_eq!(page(older).unwrap(), HistoryPage::Backward(PageRequest { limit: 0, cursor: "c9".into() }));
    }

    #[test]
    fn one_direction_at_a_time() {
        let both = MessagesQuery { after: Some("a".into()), before: Some("latest".into()), ..Default::default() };
        assert!(page(both).is_err());
        let twice = MessagesQuery { after: Some("a".into()), cursor: Some("b".into()), ..Default::default() };
        assert!(page(twice).is_err());
        assert!(page(MessagesQuery { before: Some(String::new()), ..Default::default() }).is_err());
    }
}
