//! AI handling: the AI agent's messages with their confidence, the "needs human" flag, taking
//! over from the AI and handing back, and the conversation summary.

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::common::v1::{MessageContent, TextContent, message_content::Kind};
use inbox_proto::events::v1::{AiHandoff, ConversationUpdated};
use prost::Message as _;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::assignment::assign_in;
use super::messages::touch_conversation;
use super::outbox::{enqueue, enqueue_message_created};
use super::replies::{enqueue_outbound, ensure_customer_service_window, message_by_key, record_answer};
use super::rows::MESSAGE_COLUMNS;
use super::settings::tenant_settings_in;
use super::status::{lock_conversation, reread_conversation};
use super::{ConversationRow, ConversationStore, MessageRow, SentReply, StoreError};
use crate::domain::ai::{Handler, fallback_summary, needs_human_after_ai_message, render_handoff};
use crate::domain::{SenderKind, plain_text, preview};

/// An AI agent's message to store.
pub struct AiMessage<'a> {
    pub conversation_id: Uuid,
    /// `user:<id>` of the AI agent's account.
    pub author: &'a str,
    pub content: &'a MessageContent,
    pub confidence: f32,
    pub complex_issue: bool,
    pub complex_reason: &'a str,
    pub idempotency_key: &'a str,
}

/// A summary as shown: the AI's, or one derived from the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryView {
    pub text: String,
    /// `ai` or `fallback`.
    pub source: &'static str,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Flags a conversation (locked by the caller) "needs human" with `reason` at `now` and
/// announces `conversation.needs_human`. No-op when a person handles it already or it is flagged.
pub(crate) async fn flag_needs_human(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConversationRow>, StoreError> {
    if conversation.needs_human || conversation.handled_by == Handler::Human.as_str() {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE conversations SET needs_human = true, needs_human_reason = $3, updated_at = $4, version = version + 1 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(reason)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let updated = reread_conversation(tx, conversation.tenant_id, conversation.id).await?;
    announce(tx, &updated, "conversation.needs_human").await?;
    Ok(Some(updated))
}

/// Writes `ConversationUpdated` for `conversation` on `events.<tenant>.<kind>`.
async fn announce(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    kind: &str,
) -> Result<(), StoreError> {
    let tenant = conversation.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::ConversationUpdated(ConversationUpdated { conversation: Some(conversation.to_proto()) }),
    );
    enqueue(tx, &subjects::event(&tenant, kind), &event).await
}

async fn announce_handoff(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    agent: &str,
    kind: &str,
) -> Result<(), StoreError> {
    let tenant = conversation.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::AiHandoff(AiHandoff {
            conversation: Some(conversation.to_proto()),
            agent_id: agent.into(),
            ai_active: conversation.handled_by == Handler::Ai.as_str(),
        }),
    );
    enqueue(tx, &subjects::event(&tenant, kind), &event).await
}

impl ConversationStore {
    /// Stores the AI's message, queues it for delivery, and flags the conversation "needs
    /// human" when the confidence is below the tenant's threshold or the AI flagged a complex
    /// issue. Once a person took over, the AI may not answer (`Conflict`). Idempotent by key.
    pub async fn post_ai_message(&self, tenant_id: Uuid, ai: &AiMessage<'_>) -> Result<Option<SentReply>, StoreError> {
        let text = plain_text(ai.content);
        if text.trim().is_empty() {
            return Err(StoreError::Invalid("a message needs text".into()));
        }
        if !(0.0..=1.0).contains(&ai.confidence) {
            return Err(StoreError::Invalid("confidence must be between 0 and 1".into()));
        }
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, ai.conversation_id).await? else {
            return Ok(None);
        };
        if let Some(message) = message_by_key(&mut tx, tenant_id, conversation.id, ai.idempotency_key).await? {
            tx.rollback().await?;
            return Ok(Some(SentReply { message, conversation, replayed: true }));
        }
        if conversation.handled_by == Handler::Human.as_str() {
            return Err(StoreError::Conflict(
                "a person has taken over this conversation; the AI must not answer".into(),
            ));
        }
        ensure_customer_service_window(&conversation, ai.content, now)?;
        let message: MessageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (tenant_id, id, conversation_id, channel, sender_kind, sender_id, content, body, sent_at, \
               idempotency_key, ai_confidence, created_at) \
             VALUES ($1, $2, $3, $4, 'ai', $5, $6, $7, $10, $8, $9, $10) RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(conversation.id)
        .bind(&conversation.channel)
        .bind(ai.author)
        .bind(ai.content.encode_to_vec())
        .bind(&text)
        .bind(ai.idempotency_key)
        .bind(ai.confidence)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let mut conversation = record_answer(&mut tx, &message, &text, SenderKind::Ai, "the AI replied", now).await?;
        let settings = tenant_settings_in(&mut *tx, tenant_id).await?;
        if let Some(reason) = needs_human_after_ai_message(
            ai.confidence,
            settings.ai_confidence_threshold,
            ai.complex_issue,
            ai.complex_reason,
        ) && let Some(flagged) = flag_needs_human(&mut tx, &conversation, &reason, now).await?
        {
            conversation = flagged;
        }
        enqueue_message_created(&mut tx, &message, &conversation).await?;
        tx.commit().await?;
        Ok(Some(SentReply { message, conversation, replayed: false }))
    }

    /// The agent takes over: becomes the assignee, the AI is told to stop
    /// (`conversation.taken_over`), "needs human" clears, and the customer gets the tenant's
    /// hand-off message. Taking over again is a no-op; taking over from another person is a
    /// `Conflict` (reassign instead). `None` when the conversation is not the tenant's.
    pub async fn take_over(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        agent_id: Uuid,
        agent_name: &str,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        let actor = format!("user:{agent_id}");
        if conversation.handled_by == Handler::Human.as_str() {
            if conversation.assignee_id == Some(agent_id) {
                return Ok(Some(conversation));
            }
            return Err(StoreError::Conflict(
                "another person has taken over this conversation; reassign it instead".into(),
            ));
        }
        sqlx::query(
            "UPDATE conversations SET handled_by = 'human', needs_human = false, needs_human_reason = '', \
               updated_at = $3, version = version + 1 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let handed = reread_conversation(&mut tx, tenant_id, id).await?;
        let handed =
            assign_in(&mut tx, &handed, Some(agent_id), conversation.team_id, &actor, "took over from the AI", now)
                .await?
                .unwrap_or(handed);

        let settings = tenant_settings_in(&mut *tx, tenant_id).await?;
        let text = render_handoff(&settings.handoff_message, agent_name);
        let content = MessageContent { kind: Some(Kind::Text(TextContent { body: text.clone() })), reply_to: None };
        let message: MessageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO messages (tenant_id, id, conversation_id, channel, sender_kind, sender_id, content, body, sent_at, \
               created_at) \
             VALUES ($1, $2, $3, $4, 'system', 'handoff', $5, $6, $7, $7) RETURNING {MESSAGE_COLUMNS}"
        )))
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(&handed.channel)
        .bind(content.encode_to_vec())
        .bind(&text)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let handed =
            touch_conversation(&mut tx, tenant_id, id, message.sent_at, &preview(&text), SenderKind::System, now)
                .await?;
        enqueue_outbound(&mut tx, &message, &handed).await?;
        enqueue_message_created(&mut tx, &message, &handed).await?;
        announce_handoff(&mut tx, &handed, &actor, "conversation.taken_over").await?;
        tx.commit().await?;
        Ok(Some(handed))
    }

    /// Hands the conversation back to the AI (`conversation.released_to_ai`) and clears the
    /// assignee; the team stays. Only its owner may release it unless `any_owner` (supervisors
    /// and admins). A no-op when the AI handles it already.
    pub async fn release_to_ai(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        agent_id: Uuid,
        any_owner: bool,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        if conversation.handled_by == Handler::Ai.as_str() {
            return Ok(Some(conversation));
        }
        if !any_owner && conversation.assignee_id != Some(agent_id) {
            return Err(StoreError::Conflict("only the person handling it, or a supervisor, can release it".into()));
        }
        let actor = format!("user:{agent_id}");
        sqlx::query(
            "UPDATE conversations SET handled_by = 'ai', needs_human = false, needs_human_reason = '', \
               updated_at = $3, version = version + 1 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let released = reread_conversation(&mut tx, tenant_id, id).await?;
        let released = assign_in(&mut tx, &released, None, conversation.team_id, &actor, "released to the AI", now)
            .await?
            .unwrap_or(released);
        announce_handoff(&mut tx, &released, &actor, "conversation.released_to_ai").await?;
        tx.commit().await?;
        Ok(Some(released))
    }

    /// Sets the conversation's summary (written by the AI) and announces
    /// `conversation.summary_updated`.
    pub async fn set_summary(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        summary: &str,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        if conversation.summary == summary {
            return Ok(Some(conversation));
        }
        sqlx::query(
            "UPDATE conversations SET summary = $3, summary_updated_at = $4, updated_at = $4, version = version + 1 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(summary)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        let updated = reread_conversation(&mut tx, tenant_id, id).await?;
        announce(&mut tx, &updated, "conversation.summary_updated").await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    /// The summary to show: the AI's, or one derived from the conversation when it set none.
    pub async fn summary(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<SummaryView>, StoreError> {
        let Some(conversation) = self.get_conversation(tenant_id, id).await? else {
            return Ok(None);
        };
        if !conversation.summary.is_empty() {
            return Ok(Some(SummaryView {
                text: conversation.summary,
                source: "ai",
                updated_at: conversation.summary_updated_at,
            }));
        }
        let (count, first, latest): (i64, Option<String>, Option<String>) = sqlx::query_as(
            "SELECT count(*), \
               (SELECT body FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND sender_kind = 'customer' \
                ORDER BY sent_at, id LIMIT 1), \
               (SELECT body FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND NOT internal_note \
                ORDER BY sent_at DESC, id DESC LIMIT 1) \
             FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND NOT internal_note",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let customer = if conversation.contact_name.is_empty() {
            &conversation.customer_address
        } else {
            &conversation.contact_name
        };
        Ok(Some(SummaryView {
            text: fallback_summary(customer, &conversation.channel, count, first.as_deref(), latest.as_deref()),
            source: "fallback",
            updated_at: None,
        }))
    }
}
