//! Priority: set by people (sticks), or raised automatically from inbound messages.

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::events::v1::ConversationUpdated;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::status::{lock_conversation, reread_conversation};
use super::{ConversationRow, ConversationStore, StoreError};
use crate::domain::{Priority, PriorityRules, PrioritySource};

/// Writes a new priority at `now` on a conversation locked by the caller's transaction and
/// announces `conversation.priority_changed`.
async fn write_priority(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    priority: Priority,
    source: PrioritySource,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ConversationRow, StoreError> {
    sqlx::query(
        "UPDATE conversations SET priority = $3, priority_source = $4, priority_reason = $5, \
           updated_at = $6, version = version + 1 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(priority.as_str())
    .bind(source.as_str())
    .bind(reason)
    .bind(now)
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
        let updated =
            write_priority(&mut tx, &conversation, priority, PrioritySource::Manual, reason, self.now()).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    pub async fn priority_rules(&self, tenant_id: Uuid) -> Result<PriorityRules, StoreError> {
        priority_rules_in(&self.pool, tenant_id).await
    }

    pub async fn set_priority_rules(&self, tenant_id: Uuid, rules: &PriorityRules) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO priority_rules (tenant_id, urgent_keywords, urgent_segments, first_response_target_seconds) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET urgent_keywords = EXCLUDED.urgent_keywords, \
             urgent_segments = EXCLUDED.urgent_segments, \
             first_response_target_seconds = EXCLUDED.first_response_target_seconds",
        )
        .bind(tenant_id)
        .bind(&rules.urgent_keywords)
        .bind(&rules.urgent_segments)
        .bind(rules.first_response_target.map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Raises to high, as of the store's "now", the open conversations whose customer has
    /// waited longer than the tenant's response target (at most `batch`). Locked with SKIP
    /// LOCKED and re-checked under the lock, so replicas never raise one twice. Returns how many.
    pub async fn apply_response_targets(&self, batch: i64) -> Result<usize, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT c.tenant_id, c.id FROM conversations c JOIN priority_rules r ON r.tenant_id = c.tenant_id \
             WHERE c.waiting_since IS NOT NULL AND c.status IN ('active', 'pending') AND c.priority_rank > 1 \
               AND c.priority_source <> 'manual' AND r.first_response_target_seconds > 0 \
               AND c.waiting_since < $1 - make_interval(secs => r.first_response_target_seconds) \
             ORDER BY c.waiting_since LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
        )
        .bind(now)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut raised = 0;
        for (tenant_id, id) in due {
            let conversation = reread_conversation(&mut tx, tenant_id, id).await?;
            let Some(since) = conversation.waiting_since else { continue };
            let rules = priority_rules_in(&mut *tx, tenant_id).await?;
            let waited = (now - since).to_std().unwrap_or_default();
            let Some((proposed, reason)) = rules.response_target_missed(waited) else { continue };
            let current = Priority::parse(&conversation.priority).unwrap_or(Priority::Normal);
            let source = PrioritySource::parse(&conversation.priority_source).unwrap_or(PrioritySource::Default);
            if PriorityRules::may_raise(current, source, proposed) {
                write_priority(&mut tx, &conversation, proposed, PrioritySource::Auto, &reason, now).await?;
                raised += 1;
            }
        }
        tx.commit().await?;
        Ok(raised)
    }

    /// Puts a customer in a segment (`vip`, ...; empty for none).
    pub async fn set_contact_segment(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        segment: &str,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE contacts SET segment = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(contact_id)
            .bind(segment.trim().to_lowercase())
            .bind(self.now())
            .execute(&self.pool)
            .await?;
        Ok(updated.rows_affected() == 1)
    }
}

pub(crate) async fn priority_rules_in<'e, E>(executor: E, tenant_id: Uuid) -> Result<PriorityRules, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(Vec<String>, Vec<String>, i32)> = sqlx::query_as(
        "SELECT urgent_keywords, urgent_segments, first_response_target_seconds FROM priority_rules WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map_or_else(PriorityRules::default, |(urgent_keywords, urgent_segments, target)| PriorityRules {
        urgent_keywords,
        urgent_segments,
        first_response_target: (target > 0).then(|| std::time::Duration::from_secs(target.unsigned_abs().into())),
    }))
}
