//! Priority: set by people (sticks), or raised automatically from inbound messages.

use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::events::v1::ConversationUpdated;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::status::{lock_conversation, reread_conversation};
use super::{ConversationRow, ConversationStore, StoreError};
use crate::domain::{Priority, PriorityRules, PrioritySource};

/// Writes a new priority on a conversation locked by the caller's transaction and announces
/// `conversation.priority_changed`.
async fn write_priority(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    priority: Priority,
    source: PrioritySource,
    reason: &str,
) -> Result<ConversationRow, StoreError> {
    sqlx::query(
        "UPDATE conversations SET priority = $3, priority_source = $4, priority_reason = $5, \
           updated_at = now(), version = version + 1 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(priority.as_str())
    .bind(source.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    let updated = reread_conversation(tx, conversation.tenant_id, conversation.id).await?;
    let tenant = conversation.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::PriorityChanged(ConversationUpdated { conversation: Some(updated.to_proto()) }),
    );
    enqueue(tx, &subjects::event(&tenant, "conversation.priority_changed"), &event).await?;
    Ok(updated)
}

/// Raises the priority of a conversation (locked by the caller) when a customer message calls
/// for it, unless a person set the priority. Returns the updated conversation if it changed.
pub(crate) async fn raise_priority_for_message(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    text: &str,
) -> Result<Option<ConversationRow>, StoreError> {
    let rules = priority_rules_in(&mut **tx, conversation.tenant_id).await?;
    let Some((proposed, reason)) = rules.assess(text, &conversation.contact_segment) else {
        return Ok(None);
    };
    let current = Priority::parse(&conversation.priority).unwrap_or(Priority::Normal);
    let source = PrioritySource::parse(&conversation.priority_source).unwrap_or(PrioritySource::Default);
    if !PriorityRules::may_raise(current, source, proposed) {
        return Ok(None);
    }
    Ok(Some(write_priority(tx, conversation, proposed, PrioritySource::Auto, &reason).await?))
}

impl ConversationStore {
    /// A person sets the priority, with an optional reason; it sticks against automatic
    /// prioritisation. `None` when the conversation is not the tenant's.
    pub async fn set_priority(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        priority: Priority,
        reason: &str,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        let updated = write_priority(&mut tx, &conversation, priority, PrioritySource::Manual, reason).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    pub async fn priority_rules(&self, tenant_id: Uuid) -> Result<PriorityRules, StoreError> {
        priority_rules_in(&self.pool, tenant_id).await
    }

    pub async fn set_priority_rules(&self, tenant_id: Uuid, rules: &PriorityRules) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO priority_rules (tenant_id, urgent_keywords, urgent_segments) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET urgent_keywords = EXCLUDED.urgent_keywords, \
             urgent_segments = EXCLUDED.urgent_segments",
        )
        .bind(tenant_id)
        .bind(&rules.urgent_keywords)
        .bind(&rules.urgent_segments)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Puts a customer in a segment (`vip`, ...; empty for none).
    pub async fn set_contact_segment(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        segment: &str,
    ) -> Result<bool, StoreError> {
        let updated =
            sqlx::query("UPDATE contacts SET segment = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(contact_id)
                .bind(segment.trim().to_lowercase())
                .execute(&self.pool)
                .await?;
        Ok(updated.rows_affected() == 1)
    }
}

async fn priority_rules_in<'e, E>(executor: E, tenant_id: Uuid) -> Result<PriorityRules, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(Vec<String>, Vec<String>)> =
        sqlx::query_as("SELECT urgent_keywords, urgent_segments FROM priority_rules WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.map_or_else(PriorityRules::default, |(urgent_keywords, urgent_segments)| PriorityRules {
        urgent_keywords,
        urgent_segments,
    }))
}
