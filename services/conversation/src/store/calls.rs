//! Phone calls of a conversation: their items are the conversation's telephony messages; the
//! disposition an agent sets is kept beside them (`call_dispositions`).

use chrono::{DateTime, Utc};
use inbox_proto::common::v1::{MessageContent, message_content::Kind};
use prost::Message as _;
use uuid::Uuid;

use inbox_bus::{Envelope, subjects};

use super::outbox::enqueue;
use super::{ConversationStore, StoreError};

/// The event kind of an agent's disposition change.
pub const CALL_DISPOSITION_CHANGED: &str = "call.disposition_changed";
use crate::domain::calls::{CallSummary, summarise_calls};

/// The disposition an agent set on a call.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentDisposition {
    pub call_sid: String,
    pub disposition: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

impl ConversationStore {
    /// The calls of a conversation of the tenant, oldest first, each with the disposition an
    /// agent set (if any); `None` when the tenant has no such conversation.
    pub async fn calls(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Option<Vec<(CallSummary, Option<AgentDisposition>)>>, StoreError> {
        if self.get_conversation(tenant_id, conversation_id).await?.is_none() {
            return Ok(None);
        }
        let rows: Vec<(Uuid, DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
            "SELECT id, sent_at, content FROM messages \
             WHERE tenant_id = $1 AND conversation_id = $2 AND channel = 'telephony' ORDER BY sent_at, id",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        let items: Vec<_> = rows
            .into_iter()
            .filter_map(|(id, at, content)| match MessageContent::decode(content.as_slice()).ok()?.kind {
                Some(Kind::Call(call)) => Some((id, at, call)),
                _ => None,
            })
            .collect();
        let agent: Vec<AgentDisposition> = sqlx::query_as(
            "SELECT call_sid, disposition, set_by, set_at FROM call_dispositions \
             WHERE tenant_id = $1 AND conversation_id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(
            summarise_calls(&items)
                .into_iter()
                .map(|call| {
                    let set = agent.iter().find(|a| a.call_sid == call.call_sid).cloned();
                    (call, set)
                })
                .collect(),
        ))
    }

    /// Records (or, with `None`, clears) the disposition an agent gives a call of the
    /// conversation, with its `call.disposition_changed` event in the same transaction. The
    /// caller checks that the call belongs to the conversation.
    pub async fn set_call_disposition(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        call_sid: &str,
        agent: Option<&AgentDisposition>,
        event: &Envelope,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        match agent {
            Some(agent) => {
                sqlx::query(
                    "INSERT INTO call_dispositions (tenant_id, conversation_id, call_sid, disposition, set_by, set_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id, conversation_id, call_sid) DO UPDATE SET \
                       disposition = EXCLUDED.disposition, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at",
                )
                .bind(tenant_id)
                .bind(conversation_id)
                .bind(call_sid)
                .bind(&agent.disposition)
                .bind(&agent.set_by)
                .bind(agent.set_at)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM call_dispositions WHERE tenant_id = $1 AND conversation_id = $2 AND call_sid = $3",
                )
                .bind(tenant_id)
                .bind(conversation_id)
                .bind(call_sid)
                .execute(&mut *tx)
                .await?;
            }
        }
        enqueue(&mut tx, &subjects::event(&tenant_id.to_string(), CALL_DISPOSITION_CHANGED), event).await?;
        tx.commit().await?;
        Ok(())
    }
}
