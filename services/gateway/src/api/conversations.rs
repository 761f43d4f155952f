//! `GET /v1/conversations/{id}`, `GET /v1/conversations/{id}/messages`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use inbox_errors::PublicError;
use inbox_proto::common::v1::PageRequest;
use inbox_proto::common::v1::{MediaContent, MediaKind, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use inbox_service::http_edge::{ApiError, WhenReady};
use serde::Deserialize;
use serde_json::{Value, json};

use super::channel_json::{self, NewInteractiveButtons, NewWhatsAppTemplate};
use super::json::{
    ConversationJson, MessageJson, Page, StatusChangeJson, priority_from_name, sent_reply, status_from_name,
};
use super::{AppState, upstream_failure};
use crate::auth::Authenticated;

pub fn routes() -> Router<WhenReady<AppState>> {
    Router::new()
        .route("/v1/conversations/{id}", get(get_conversation))
        .route("/v1/conversations/{id}/messages", get(list_messages).post(send_message))
        .route("/v1/conversations/{id}/status", post(set_status))
        .route("/v1/conversations/{id}/priority", post(set_priority))
        .route("/v1/conversations/{id}/status-history", get(status_history))
        .route("/v1/settings/status-rules", get(get_status_rules).put(set_status_rules))
}

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

impl PageQuery {
    pub(super) fn to_proto(&self) -> PageRequest {
        PageRequest { limit: self.limit.unwrap_or(0), cursor: self.cursor.clone().unwrap_or_default() }
    }
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
    let mut json = ConversationJson::from(&conversation);
    json.visitor = super::webchat::visitor_of(state, &ctx, &conversation).await;
    Ok(Json(json))
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
    let mut messages: Vec<MessageJson> = response.messages.iter().map(MessageJson::from).collect();
    super::whatsapp::attach_deliveries(state, &ctx, &mut messages).await;
    Ok(Json(Page::new(messages, response.next_cursor)))
}

/// Rejects a JSON body axum could not parse with our error shape.
pub(crate) type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

pub(crate) fn body<T>(body: JsonBody<T>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| ApiError(PublicError::invalid_argument(e.body_text())))
}

/// The client's idempotency key: the body's, or the `Idempotency-Key` header.
pub(crate) fn idempotency_key(from_body: Option<String>, headers: &HeaderMap) -> Result<String, ApiError> {
    from_body.or_else(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned)).ok_or_else(
        || {
            ApiError(PublicError::invalid_argument(
                "an idempotency key is required (body idempotency_key or Idempotency-Key header)",
            ))
        },
    )
}

/// A file sent with a reply: a provider media id or a URL the channel can fetch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAttachment {
    /// image, audio, voice, video, document or sticker.
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    media_id: String,
    mime_type: String,
    #[serde(default)]
    filename: String,
    #[serde(default)]
    size_bytes: u64,
}

impl NewAttachment {
    /// The media content, with `caption`; the error names the bad field.
    fn into_content(self, caption: String) -> Result<MessageContent, ApiError> {
        let invalid = |m: &str| ApiError(PublicError::invalid_argument(m.to_owned()));
        let (kind, voice) = match self.kind.as_str() {
            "image" => (MediaKind::Image, false),
            "audio" => (MediaKind::Audio, false),
            "voice" => (MediaKind::Audio, true),
            "video" => (MediaKind::Video, false),
            "document" => (MediaKind::Document, false),
            "sticker" => (MediaKind::Sticker, false),
            _ => return Err(invalid("attachment.kind must be image, audio, voice, video, document or sticker")),
        };
        if self.url.is_empty() == self.media_id.is_empty() {
            return Err(invalid("attachment needs exactly one of url and media_id"));
        }
        if !self.url.is_empty() && !self.url.starts_with("https://") {
            return Err(invalid("attachment.url must be an https URL"));
        }
        if !self.mime_type.contains('/') || self.mime_type.len() > 100 {
            return Err(invalid("attachment.mime_type must be a MIME type such as image/jpeg"));
        }
        if self.filename.chars().count() > 255 || self.url.len() > 2048 || self.media_id.len() > 200 {
            return Err(invalid("attachment fields are too long"));
        }
        Ok(MessageContent {
            kind: Some(Kind::Media(MediaContent {
                kind: kind as i32,
                media_id: self.media_id,
                url: self.url,
                mime_type: self.mime_type,
                sha256: String::new(),
                caption,
                filename: self.filename,
                size_bytes: self.size_bytes,
                voice,
            })),
            reply_to: None,
        })
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

/// Longest message an agent can send, in characters (WhatsApp's text limit).
const MAX_TEXT_CHARS: usize = 4096;

async fn send_message(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    new: JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let key = idempotency_key(new.idempotency_key, &headers)?;
    let content = match (new.template, new.interactive) {
        (Some(_), Some(_)) => {
            return Err(PublicError::invalid_argument("send either a template or interactive buttons").into());
        }
        (Some(template), None) => MessageContent {
            kind: Some(channel_json::parse::<NewWhatsAppTemplate>("template", template)?.into_kind()?),
            reply_to: None,
        },
        (None, Some(interactive)) => MessageContent {
            kind: Some(channel_json::parse::<NewInteractiveButtons>("interactive", interactive)?.into_kind()?),
            reply_to: None,
        },
        (None, None) => {
            if new.text.trim().is_empty() && new.attachment.is_none() {
                return Err(PublicError::invalid_argument("text or an attachment is required").into());
            }
            if new.text.chars().count() > MAX_TEXT_CHARS {
                return Err(
                    PublicError::invalid_argument(format!("text is longer than {MAX_TEXT_CHARS} characters")).into()
                );
            }
            match new.attachment {
                Some(attachment) => attachment.into_content(new.text)?,
                None => MessageContent { kind: Some(Kind::Text(TextContent { body: new.text })), reply_to: None },
            }
        }
    };
    let request = ctx.request(
        pb::SendMessageRequest {
            conversation_id: id,
            content: Some(content),
            internal_note: new.internal_note,
            idempotency_key: key,
        },
        &state.service_token,
    )?;
    let sent = state.conversations.clone().send_message(request).await.map_err(upstream_failure)?.into_inner();
    Ok(sent_reply(&sent))
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
) -> Result<Json<ConversationJson>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let status = status_from_name(&new.status)
        .ok_or_else(|| PublicError::invalid_argument("status must be active, pending, resolved or archived"))?;
    let request = ctx.request(
        pb::SetStatusRequest { conversation_id: id, status: status as i32, reason: new.reason },
        &state.service_token,
    )?;
    let conversation = state.conversations.clone().set_status(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}

async fn status_history(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::ListStatusChangesRequest { conversation_id: id }, &state.service_token)?;
    let changes =
        state.conversations.clone().list_status_changes(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(json!({"items": changes.changes.iter().map(StatusChangeJson::from).collect::<Vec<_>>()})))
}

fn rules_json(rules: &pb::StatusRules) -> Value {
    json!({
        "pending_timeout_seconds": rules.pending_timeout_seconds,
        "auto_archive_seconds": rules.auto_archive_seconds,
        "reopen_on_customer_message": rules.reopen_on_customer_message,
    })
}

async fn get_status_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let request = ctx.request(pb::GetStatusRulesRequest {}, &state.service_token)?;
    let rules = state.conversations.clone().get_status_rules(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(rules_json(&rules)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRules {
    pending_timeout_seconds: u32,
    auto_archive_seconds: u32,
    reopen_on_customer_message: bool,
}

async fn set_status_rules(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
    new: JsonBody<NewRules>,
) -> Result<Json<Value>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let request = ctx.request(
        pb::SetStatusRulesRequest {
            rules: Some(pb::StatusRules {
                pending_timeout_seconds: new.pending_timeout_seconds,
                auto_archive_seconds: new.auto_archive_seconds,
                reopen_on_customer_message: new.reopen_on_customer_message,
            }),
        },
        &state.service_token,
    )?;
    let rules = state.conversations.clone().set_status_rules(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(rules_json(&rules)))
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
) -> Result<Json<ConversationJson>, ApiError> {
    let state = state.get()?;
    let ctx = principal.in_own_tenant()?;
    let new = body(new)?;
    let priority = priority_from_name(&new.priority)
        .ok_or_else(|| PublicError::invalid_argument("priority must be urgent, high, normal or low"))?;
    let request = ctx.request(
        pb::SetPriorityRequest { conversation_id: id, priority: priority as i32, reason: new.reason },
        &state.service_token,
    )?;
    let conversation = state.conversations.clone().set_priority(request).await.map_err(upstream_failure)?.into_inner();
    Ok(Json(ConversationJson::from(&conversation)))
}
