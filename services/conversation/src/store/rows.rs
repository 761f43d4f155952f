//! Rows as read from the store, and their protobuf form.

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::{Channel, MessageContent};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::timestamp_from;
use prost::Message as _;
use uuid::Uuid;

use crate::domain::{Priority, SenderKind, Status};

/// A conversation joined with its contact.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub contact_id: Uuid,
    pub contact_name: String,
    pub contact_created_at: DateTime<Utc>,
    pub contact_updated_at: DateTime<Utc>,
    pub channel: String,
    pub channel_account_id: String,
    pub customer_address: String,
    pub status: String,
    pub priority: String,
    pub last_message_at: DateTime<Utc>,
    pub last_message_preview: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub last_message_sender_kind: String,
    pub status_changed_at: DateTime<Utc>,
    pub priority_source: String,
    pub priority_reason: String,
    pub contact_segment: String,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub handled_by: String,
    pub needs_human: bool,
    pub needs_human_reason: String,
    pub summary: String,
    pub summary_updated_at: Option<DateTime<Utc>>,
    pub last_customer_message_at: Option<DateTime<Utc>>,
    pub waiting_since: Option<DateTime<Utc>>,
    /// The reading person's last read message; read only with their read state
    /// (`visibility::select_conversations`).
    #[sqlx(default)]
    pub last_read_message_id: Option<Uuid>,
    /// Customer messages after the reading person's last read one; `None` when not read for
    /// a person.
    #[sqlx(default)]
    pub unread: Option<i64>,
}

/// The columns a [`ConversationRow`] is read from (`c` = conversations, `k` = contacts).
pub(crate) const CONVERSATION_COLUMNS: &str = "c.tenant_id, c.id, c.contact_id, k.display_name AS contact_name, \
     k.created_at AS contact_created_at, k.updated_at AS contact_updated_at, c.channel, c.channel_account_id, \
     c.customer_address, c.status, c.priority, c.last_message_at, c.last_message_preview, c.created_at, \
     c.updated_at, c.version, c.last_message_sender_kind, c.status_changed_at, \
     c.priority_source, c.priority_reason, k.segment AS contact_segment, c.assignee_id, c.team_id, c.assigned_at, \
     c.handled_by, c.needs_human, c.needs_human_reason, c.summary, c.summary_updated_at, \
     c.last_customer_message_at, c.waiting_since";

/// [`CONVERSATION_COLUMNS`] from `conversations c` alone, for statements that lock or update
/// many conversations at once: a join with contacts there lets the planner pick a scan of the
/// tenant's contacts when statistics lag. The contact's fields are placeholders until
/// [`ConversationRow::set_contact`] fills them in.
pub(crate) const CONVERSATION_ONLY_COLUMNS: &str = "c.tenant_id, c.id, c.contact_id, ''::text AS contact_name, \
     c.created_at AS contact_created_at, c.created_at AS contact_updated_at, c.channel, c.channel_account_id, \
     c.customer_address, c.status, c.priority, c.last_message_at, c.last_message_preview, c.created_at, \
     c.updated_at, c.version, c.last_message_sender_kind, c.status_changed_at, \
     c.priority_source, c.priority_reason, ''::text AS contact_segment, c.assignee_id, c.team_id, c.assigned_at, \
     c.handled_by, c.needs_human, c.needs_human_reason, c.summary, c.summary_updated_at, \
     c.last_customer_message_at, c.waiting_since";

/// The contact's part of a [`ConversationRow`].
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ContactFields {
    pub id: Uuid,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub segment: String,
}

impl ContactFields {
    /// The columns a [`ContactFields`] is read from (`k` = contacts).
    pub(crate) const COLUMNS: &str = "k.id, k.display_name, k.created_at, k.updated_at, k.segment";

    fn of(row: &ConversationRow) -> Self {
        Self {
            id: row.contact_id,
            display_name: row.contact_name.clone(),
            created_at: row.contact_created_at,
            updated_at: row.contact_updated_at,
            segment: row.contact_segment.clone(),
        }
    }
}

impl ConversationRow {
    /// Fills in the contact's fields of a row read with [`CONVERSATION_ONLY_COLUMNS`].
    pub(crate) fn set_contact(&mut self, contact: &ContactFields) {
        self.contact_name.clone_from(&contact.display_name);
        self.contact_created_at = contact.created_at;
        self.contact_updated_at = contact.updated_at;
        self.contact_segment.clone_from(&contact.segment);
    }

    /// The contact's fields of this row, to carry over to the same conversation read again.
    pub(crate) fn contact(&self) -> ContactFields {
        ContactFields::of(self)
    }

    pub fn to_proto(&self) -> pb::Conversation {
        pb::Conversation {
            id: self.id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            channel: channel_of(&self.channel) as i32,
            channel_account_id: self.channel_account_id.clone(),
            contact: Some(pb::Contact {
                id: self.contact_id.to_string(),
                tenant_id: self.tenant_id.to_string(),
                display_name: self.contact_name.clone(),
                created_at: Some(timestamp_from(self.contact_created_at)),
                updated_at: Some(timestamp_from(self.contact_updated_at)),
                segment: self.contact_segment.clone(),
            }),
            customer_address: self.customer_address.clone(),
            status: Status::parse(&self.status).map_or(pb::ConversationStatus::Unspecified, Status::to_proto) as i32,
            priority: Priority::parse(&self.priority).map_or(pb::Priority::Unspecified, Priority::to_proto) as i32,
            last_message_at: Some(timestamp_from(self.last_message_at)),
            last_message_preview: self.last_message_preview.clone(),
            created_at: Some(timestamp_from(self.created_at)),
            updated_at: Some(timestamp_from(self.updated_at)),
            version: self.version,
            last_message_sender_kind: SenderKind::parse(&self.last_message_sender_kind)
                .map_or(pb::SenderKind::Unspecified, SenderKind::to_proto) as i32,
            status_changed_at: Some(timestamp_from(self.status_changed_at)),
            priority_source: self.priority_source.clone(),
            priority_reason: self.priority_reason.clone(),
            assignee_id: self.assignee_id.map(|id| id.to_string()).unwrap_or_default(),
            team_id: self.team_id.map(|id| id.to_string()).unwrap_or_default(),
            assigned_at: self.assigned_at.map(timestamp_from),
            handled_by: self.handled_by.clone(),
            needs_human: self.needs_human,
            needs_human_reason: self.needs_human_reason.clone(),
            summary: self.summary.clone(),
            last_customer_message_at: self.last_customer_message_at.map(timestamp_from),
            unread: self.unread.map(|n| u64::try_from(n).unwrap_or(0)),
            last_read_message_id: self.last_read_message_id.map(|id| id.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub channel: String,
    pub external_id: Option<String>,
    pub sender_kind: String,
    pub sender_id: String,
    pub content: Vec<u8>,
    pub sent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub internal_note: bool,
    pub idempotency_key: Option<String>,
    pub ai_confidence: Option<f32>,
}

pub(crate) const MESSAGE_COLUMNS: &str = "tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, \
     content, sent_at, created_at, internal_note, idempotency_key, ai_confidence";

impl MessageRow {
    pub fn to_proto(&self) -> pb::Message {
        pb::Message {
            id: self.id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            conversation_id: self.conversation_id.to_string(),
            channel: channel_of(&self.channel) as i32,
            external_id: self.external_id.clone().unwrap_or_default(),
            sender_kind: SenderKind::parse(&self.sender_kind).map_or(pb::SenderKind::Unspecified, SenderKind::to_proto)
                as i32,
            sender_id: self.sender_id.clone(),
            // Written by this service from a valid MessageContent; a decode failure would mean
            // a corrupted row, shown as empty content rather than failing the whole page.
            content: Some(MessageContent::decode(self.content.as_slice()).unwrap_or_default()),
            sent_at: Some(timestamp_from(self.sent_at)),
            created_at: Some(timestamp_from(self.created_at)),
            internal_note: self.internal_note,
            idempotency_key: self.idempotency_key.clone().unwrap_or_default(),
            ai_confidence: self.ai_confidence,
        }
    }
}

/// One entry of a conversation's status history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatusChangeRow {
    pub conversation_id: Uuid,
    pub from_status: String,
    pub to_status: String,
    pub actor: String,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
}

impl StatusChangeRow {
    pub fn to_proto(&self) -> pb::StatusChange {
        let status = |s: &str| Status::parse(s).map_or(pb::ConversationStatus::Unspecified, Status::to_proto) as i32;
        pb::StatusChange {
            conversation_id: self.conversation_id.to_string(),
            from: status(&self.from_status),
            to: status(&self.to_status),
            actor: self.actor.clone(),
            reason: self.reason.clone(),
            changed_at: Some(timestamp_from(self.changed_at)),
        }
    }
}

fn channel_of(token: &str) -> Channel {
    inbox_bus::subjects::channel_from_token(token).unwrap_or(Channel::Unspecified)
}
