//! The JSON shapes of the REST API and the WebSocket, converted from protobuf here only.

use inbox_proto::common::v1::{Channel, MessageContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use prost_types::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

pub(crate) fn time(ts: Option<&Timestamp>) -> Option<String> {
    ts.and_then(inbox_proto::timestamp_to_utc).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub(crate) fn channel(value: i32) -> &'static str {
    Channel::try_from(value).map_or("unspecified", inbox_bus::subjects::channel_token)
}

fn status(value: i32) -> &'static str {
    match pb::ConversationStatus::try_from(value) {
        Ok(pb::ConversationStatus::Active) => "active",
        Ok(pb::ConversationStatus::Pending) => "pending",
        Ok(pb::ConversationStatus::Resolved) => "resolved",
        Ok(pb::ConversationStatus::Archived) => "archived",
        _ => "unspecified",
    }
}

fn priority(value: i32) -> &'static str {
    match pb::Priority::try_from(value) {
        Ok(pb::Priority::Urgent) => "urgent",
        Ok(pb::Priority::High) => "high",
        Ok(pb::Priority::Normal) => "normal",
        Ok(pb::Priority::Low) => "low",
        _ => "unspecified",
    }
}

fn sender_kind(value: i32) -> &'static str {
    match pb::SenderKind::try_from(value) {
        Ok(pb::SenderKind::Customer) => "customer",
        Ok(pb::SenderKind::Agent) => "agent",
        Ok(pb::SenderKind::Ai) => "ai",
        Ok(pb::SenderKind::System) => "system",
        _ => "unspecified",
    }
}

fn media_kind(value: i32, voice: bool) -> &'static str {
    match inbox_proto::common::v1::MediaKind::try_from(value) {
        Ok(inbox_proto::common::v1::MediaKind::Image) => "image",
        Ok(inbox_proto::common::v1::MediaKind::Audio) if voice => "voice",
        Ok(inbox_proto::common::v1::MediaKind::Audio) => "audio",
        Ok(inbox_proto::common::v1::MediaKind::Video) => "video",
        Ok(inbox_proto::common::v1::MediaKind::Document) => "document",
        Ok(inbox_proto::common::v1::MediaKind::Sticker) => "sticker",
        _ => "file",
    }
}

fn content(content: Option<&MessageContent>) -> Value {
    let mut value = content_kind(content);
    if let (Some(context), Some(object)) = (content.and_then(|c| c.reply_to.as_ref()), value.as_object_mut()) {
        object.insert(
            "reply_to".into(),
            json!({
                "external_id": context.external_id,
                "from": context.from,
                "forwarded": context.forwarded,
                "frequently_forwarded": context.frequently_forwarded,
            }),
        );
    }
    value
}

fn content_kind(content: Option<&MessageContent>) -> Value {
    match content.and_then(|c| c.kind.as_ref()) {
        Some(Kind::Text(t)) => json!({"type": "text", "text": t.body}),
        Some(Kind::Media(m)) => json!({
            "type": "media",
            "kind": media_kind(m.kind, m.voice),
            "media_id": m.media_id,
            "mime_type": m.mime_type,
            "sha256": m.sha256,
            "caption": m.caption,
            "filename": m.filename,
            "size_bytes": m.size_bytes,
        }),
        Some(Kind::Unsupported(u)) => {
            json!({"type": "unsupported", "provider_type": u.provider_type, "description": u.description})
        }
        Some(other) => super::channel_json::content(other),
        None => json!({"type": "empty"}),
    }
}

#[derive(Debug, Serialize)]
pub struct ContactJson {
    pub id: String,
    pub display_name: String,
    pub segment: String,
}

#[derive(Debug, Serialize)]
pub struct ConversationJson {
    pub id: String,
    pub channel: &'static str,
    pub channel_account_id: String,
    pub customer_address: String,
    pub contact: Option<ContactJson>,
    pub status: &'static str,
    pub priority: &'static str,
    pub last_message_at: Option<String>,
    pub last_message_preview: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub version: i64,
    pub last_message_sender_kind: &'static str,
    pub status_changed_at: Option<String>,
    pub priority_source: String,
    pub priority_reason: String,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub assigned_at: Option<String>,
    /// `ai` or `human`.
    pub handled_by: String,
    pub needs_human: bool,
    pub needs_human_reason: String,
    pub summary: String,
    pub last_customer_message_at: Option<String>,
    /// Web chat only (on `GET /v1/conversations/{id}`): who the visitor is, the page they are
    /// on and the pages they visited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visitor: Option<serde_json::Value>,
}

impl From<&pb::Conversation> for ConversationJson {
    fn from(c: &pb::Conversation) -> Self {
        Self {
            id: c.id.clone(),
            channel: channel(c.channel),
            channel_account_id: c.channel_account_id.clone(),
            customer_address: c.customer_address.clone(),
            contact: c.contact.as_ref().map(|k| ContactJson {
                id: k.id.clone(),
                display_name: k.display_name.clone(),
                segment: k.segment.clone(),
            }),
            status: status(c.status),
            priority: priority(c.priority),
            last_message_at: time(c.last_message_at.as_ref()),
            last_message_preview: c.last_message_preview.clone(),
            created_at: time(c.created_at.as_ref()),
            updated_at: time(c.updated_at.as_ref()),
            version: c.version,
            last_message_sender_kind: sender_kind(c.last_message_sender_kind),
            status_changed_at: time(c.status_changed_at.as_ref()),
            priority_source: c.priority_source.clone(),
            priority_reason: c.priority_reason.clone(),
            assignee_id: non_empty(&c.assignee_id),
            team_id: non_empty(&c.team_id),
            assigned_at: time(c.assigned_at.as_ref()),
            handled_by: c.handled_by.clone(),
            needs_human: c.needs_human,
            needs_human_reason: c.needs_human_reason.clone(),
            summary: c.summary.clone(),
            last_customer_message_at: time(c.last_customer_message_at.as_ref()),
            visitor: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MessageJson {
    pub id: String,
    pub conversation_id: String,
    pub channel: &'static str,
    pub external_id: String,
    pub sender_kind: &'static str,
    pub sender_id: String,
    pub content: Value,
    pub sent_at: Option<String>,
    pub created_at: Option<String>,
    pub internal_note: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_confidence: Option<f32>,
    /// Outbound messages: where the delivery to the customer stands (set by the messages list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Value>,
}

impl From<&pb::Message> for MessageJson {
    fn from(m: &pb::Message) -> Self {
        Self {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            channel: channel(m.channel),
            external_id: m.external_id.clone(),
            sender_kind: sender_kind(m.sender_kind),
            sender_id: m.sender_id.clone(),
            content: content(m.content.as_ref()),
            sent_at: time(m.sent_at.as_ref()),
            created_at: time(m.created_at.as_ref()),
            internal_note: m.internal_note,
            ai_confidence: m.ai_confidence,
            delivery: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct StatusChangeJson {
    pub from: &'static str,
    pub to: &'static str,
    pub actor: String,
    pub reason: String,
    pub changed_at: Option<String>,
}

impl From<&pb::StatusChange> for StatusChangeJson {
    fn from(c: &pb::StatusChange) -> Self {
        Self {
            from: status(c.from),
            to: status(c.to),
            actor: c.actor.clone(),
            reason: c.reason.clone(),
            changed_at: time(c.changed_at.as_ref()),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The status named in a request body, as protobuf; `None` for unknown names.
pub fn status_from_name(name: &str) -> Option<pb::ConversationStatus> {
    match name {
        "active" => Some(pb::ConversationStatus::Active),
        "pending" => Some(pb::ConversationStatus::Pending),
        "resolved" => Some(pb::ConversationStatus::Resolved),
        "archived" => Some(pb::ConversationStatus::Archived),
        _ => None,
    }
}

/// The priority named in a request body, as protobuf; `None` for unknown names.
pub fn priority_from_name(name: &str) -> Option<pb::Priority> {
    match name {
        "urgent" => Some(pb::Priority::Urgent),
        "high" => Some(pb::Priority::High),
        "normal" => Some(pb::Priority::Normal),
        "low" => Some(pb::Priority::Low),
        _ => None,
    }
}

/// A page of items with the cursor of the next page (`null` on the last).
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, next_cursor: String) -> Self {
        Self { items, next_cursor: (!next_cursor.is_empty()).then_some(next_cursor) }
    }
}

/// The answer to a send (reply, AI message, template): 201 when stored now, 200 with
/// `"replayed": true` when the idempotency key was seen before.
pub fn sent_reply(sent: &pb::SendMessageResponse) -> (axum::http::StatusCode, axum::Json<Value>) {
    let status = if sent.replayed { axum::http::StatusCode::OK } else { axum::http::StatusCode::CREATED };
    let body = serde_json::json!({
        "message": sent.message.as_ref().map(MessageJson::from),
        "conversation": sent.conversation.as_ref().map(ConversationJson::from),
        "replayed": sent.replayed,
    });
    (status, axum::Json(body))
}
