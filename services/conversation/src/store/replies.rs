//! Agents' replies and internal notes, and the system's messages to the customer (the CSAT
//! survey), stored once per client idempotency key.

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::common::v1::{Channel, MessageContent};
use inbox_proto::events::v1::OutboundMessage;
use prost::Message as _;
use uuid::Uuid;

use super::messages::touch_conversation;
use super::outbox::{enqueue, enqueue_message_created};
use super::rows::MESSAGE_COLUMNS;
use super::status::{change_status, lock_conversation, status_rules_in};
use super::{ConversationRow, ConversationStore, MessageRow, StoreError};
use crate::domain::send_guard::someone_else_acted;
use crate::domain::{SenderKind, Status, plain_text, preview};

/// A reply or note to store.
pub struct NewReply<'a> {
    pub conversation_id: Uuid,
    /// `user:<id>` of the agent.
    pub author: &'a str,
    pub content: &'a MessageContent,
    pub internal_note: bool,
    pub idempotency_key: &'a str,
    /// The send guard: the newest message the author had seen; the send is refused
    /// ([`StoreError::StaleView`]) when someone else acted after it. `None`: no guard (none
    /// given, or the author insists).
    pub last_seen: Option<Uuid>,
}

/// A message the system sends the customer on its own behalf.
pub struct NewSystemMessage<'a> {
    pub conversation_id: Uuid,
    /// The sending service's principal (`service:metrics`).
    pub sender: &'a str,
    pub content: &'a MessageContent,
    pub idempotency_key: &'a str,
}

/// What sending did.
#[derive(Debug)]
pub struct SentReply {
    pub message: MessageRow,
    pub conversation: ConversationRow,
    /// The key was used before: this is the message stored then, and nothing new happened.
    pub replayed: bool,
}

/// Queues `message` for delivery to the customer on `outbound.<channel>.<tenant>`; the event id
/// is derived from the message id, so a repeated relay delivers it once.
pub(crate) async fn enqueue_outbound(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    message: &MessageRow,
    conversation: &ConversationRow,
) -> Result<(), StoreError> {
    let tenant = conversation.tenant_id.to_string();
    let channel = inbox_bus::subjects::channel_from_token(&conversation.channel).unwrap_or(Channel::Unspecified);
    let outbound = new_envelope(
        format!("outbound:{}", message.id),
        &tenant,
        Payload::OutboundMessage(OutboundMessage {
            message: Some(message.to_proto()),
            channel_account_id: conversation.channel_account_id.clone(),
            customer_address: conversation.customer_address.clone(),
            last_customer_message_at: conversation.last_customer_message_at.map(inbox_proto::timestamp_from),
        }),
    );
    enqueue(tx, &subjects::outbound(channel, &tenant), &outbound).await
}

/// Refuses a free-form WhatsApp message sent at `now` outside the 24-hour customer service
/// window (`Conflict`, with the sentence the agent sees).
pub(crate) fn ensure_customer_service_window(
    conversation: &ConversationRow,
    content: &MessageContent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::domain::customer_service_window::check_reply_allowed(
        &conversation.channel,
        content,
        conversation.last_customer_message_at,
        now,
    )
    .map_err(StoreError::Conflict)
}

/// Records our answer to the customer (an agent's reply or the AI's, already inserted as
/// `message`) on its conversation at `now`: the preview and who spoke last, the status an answer
/// leads to (changed by the message's author, for `reason`), and the message queued for
/// delivery. Returns the conversation as it is now.
pub(crate) async fn record_answer(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    message: &MessageRow,
    text: &str,
    sender: SenderKind,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ConversationRow, StoreError> {
    let (tenant_id, id) = (message.tenant_id, message.conversation_id);
    let touched = touch_conversation(tx, tenant_id, id, message.sent_at, &preview(text), sender, now).await?;
    let rules = status_rules_in(&mut **tx, tenant_id).await?;
    let current = Status::parse(&touched.status).unwrap_or(Status::Active);
    let conversation =
        match change_status(tx, &touched, rules.after_agent_reply(current), &message.sender_id, reason, now).await? {
            Some((updated, _)) => updated,
            None => touched,
        };
    enqueue_outbound(tx, message, &conversation).await?;
    Ok(conversation)
}

impl SentReply {
    pub fn to_proto(&self) -> inbox_proto::conversation::v1::SendMessageResponse {
        inbox_proto::conversation::v1::SendMessageResponse {
            message: Some(self.message.to_proto()),
            conversation: Some(self.conversation.to_proto()),
            replayed: self.replayed,
        }
    }
}

/// A message we write into a conversation (a person's, or the system's), as inserted.
struct Written<'a> {
    sender: (SenderKind, &'a str),
    content: &'a MessageContent,
    /// Its plain text.
    text: &'a str,
    internal_note: bool,
    idempotency_key: &'a str,
}

/// Inserts `message` into `conversation`, sent at `now`.
async fn insert_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    conversation: &ConversationRow,
    message: &Written<'_>,
    now: DateTime<Utc>,
) -> Result<MessageRow, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO messages (tenant_id, id, conversation_id, channel, sender_kind, sender_id, content, body, sent_at, \
           internal_note, idempotency_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9) RETURNING {MESSAGE_COLUMNS}"
    )))
    .bind(conversation.tenant_id)
    .bind(Uuid::now_v7())
    .bind(conversation.id)
    .bind(&conversation.channel)
    .bind(message.sender.0.as_str())
    .bind(message.sender.1)
    .bind(message.content.encode_to_vec())
    .bind(message.text)
    .bind(now)
    .bind(message.internal_note)
    .bind(message.idempotency_key)
    .fetch_one(&mut **tx)
    .await?)
}

/// The message a client key stored before, if any.
pub(crate) async fn message_by_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    conversation_id: Uuid,
    key: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND idempotency_key = $3"
    )))
    .bind(tenant_id)
    .bind(conversation_id)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The send guard's check: the newest message after `last_seen` by which someone other than
/// `author` acted (`domain::send_guard`), in the order the list shows (sent time, then id).
/// `last_seen` must be a message of the conversation.
async fn newer_by_someone_else(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant_id: Uuid,
    conversation_id: Uuid,
    last_seen: Uuid,
    author: &str,
) -> Result<Option<Uuid>, StoreError> {
    let seen: Option<(DateTime<Utc>, Uuid)> =
        sqlx::query_as("SELECT sent_at, id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3")
            .bind(tenant_id)
            .bind(conversation_id)
            .bind(last_seen)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((at, id)) = seen else {
        return Err(StoreError::Invalid("last_seen_message_id is not a message of this conversation".into()));
    };
    // Only people and the AI can have acted: the customer's and the system's messages are
    // skipped in SQL, the rest by the domain's rule.
    let after: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, sender_kind, sender_id FROM messages \
         WHERE tenant_id = $1 AND conversation_id = $2 AND (sent_at, id) > ($3, $4) AND sender_kind IN ('agent', 'ai') \
         ORDER BY sent_at DESC, id DESC",
    )
    .bind(tenant_id)
    .bind(conversation_id)
    .bind(at)
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(after
        .into_iter()
        .find(|(_, kind, sender)| SenderKind::parse(kind).is_some_and(|kind| someone_else_acted(kind, sender, author)))
        .map(|(id, _, _)| id))
}

impl ConversationStore {
    /// Stores an agent's reply (and queues it on `outbound.<channel>.<tenant>` for delivery) or
    /// an internal note (never delivered). A second send with the same idempotency key returns
    /// the first message and changes nothing, guard or not. With a guard (`last_seen`), refused
    /// when someone else acted after the message the author saw. `None` when the conversation
    /// is not the tenant's.
    pub async fn send_reply(&self, tenant_id: Uuid, reply: &NewReply<'_>) -> Result<Option<SentReply>, StoreError> {
        let text = plain_text(reply.content);
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("a message needs text".into()));
        }
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, reply.conversation_id).await? else {
            return Ok(None);
        };
        // The conversation is locked: a concurrent send with the same key waits and replays.
        if let Some(message) = message_by_key(&mut tx, tenant_id, conversation.id, reply.idempotency_key).await? {
            tx.rollback().await?;
            return Ok(Some(SentReply { message, conversation, replayed: true }));
        }
        // Locked: a colleague's reply is either committed (and seen here) or waits for ours.
        if let Some(last_seen) = reply.last_seen
            && let Some(newer) =
                newer_by_someone_else(&mut tx, tenant_id, conversation.id, last_seen, reply.author).await?
        {
            return Err(StoreError::StaleView { newer_message_id: newer });
        }
        if !reply.internal_note {
            ensure_customer_service_window(&conversation, reply.content, now)?;
        }
        let written = Written {
            sender: (SenderKind::Agent, reply.author),
            content: reply.content,
            text: &text,
            internal_note: reply.internal_note,
            idempotency_key: reply.idempotency_key,
        };
        let message = insert_message(&mut tx, &conversation, &written, now).await?;

        let conversation = if reply.internal_note {
            // A note is not part of the exchange with the customer: no preview, no status timer.
            conversation
        } else {
            record_answer(&mut tx, &message, &text, SenderKind::Agent, "an agent replied", now).await?
        };
        enqueue_message_created(&mut tx, &message, &conversation).await?;
        tx.commit().await?;
        Ok(Some(SentReply { message, conversation, replayed: false }))
    }

    /// Stores a message the system sends the customer on its own behalf (`sender`, e.g.
    /// `service:metrics` sending the CSAT survey) with sender kind `system`, and queues it on
    /// `outbound.<channel>.<tenant>` like an agent's reply. It is not an answer to the customer:
    /// the conversation is left as it is (status, preview, who spoke last, the wait and the
    /// Pending timer). A second send with the same idempotency key returns the first message.
    /// `None` when the conversation is not the tenant's.
    pub async fn send_system_message(
        &self,
        tenant_id: Uuid,
        message: &NewSystemMessage<'_>,
    ) -> Result<Option<SentReply>, StoreError> {
        let text = plain_text(message.content);
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("a message needs text".into()));
        }
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, message.conversation_id).await? else {
            return Ok(None);
        };
        if let Some(stored) = message_by_key(&mut tx, tenant_id, conversation.id, message.idempotency_key).await? {
            tx.rollback().await?;
            return Ok(Some(SentReply { message: stored, conversation, replayed: true }));
        }
        ensure_customer_service_window(&conversation, message.content, now)?;
        let written = Written {
            sender: (SenderKind::System, message.sender),
            content: message.content,
            text: &text,
            internal_note: false,
            idempotency_key: message.idempotency_key,
        };
        let stored = insert_message(&mut tx, &conversation, &written, now).await?;
        enqueue_outbound(&mut tx, &stored, &conversation).await?;
        enqueue_message_created(&mut tx, &stored, &conversation).await?;
        tx.commit().await?;
        Ok(Some(SentReply { message: stored, conversation, replayed: false }))
    }
}
