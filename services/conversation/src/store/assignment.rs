//! The assignment read model: who works a conversation and for which team. Routing owns
//! assignment and feeds this through its events; the API can also set it directly.

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::events::v1::AssignmentChanged;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::status::{lock_conversation, reread_conversation};
use super::{ConversationRow, ConversationStore, StoreError};

/// Sets assignee and team at `now` on a conversation locked by the caller's transaction and
/// announces `conversation.assigned`. `None` when nothing changed.
pub(crate) async fn assign_in(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    actor: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Option<ConversationRow>, StoreError> {
    if conversation.assignee_id == assignee_id && conversation.team_id == team_id {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE conversations SET assignee_id = $3, team_id = $4, \
           assigned_at = CASE WHEN $3 IS NULL THEN NULL WHEN assignee_id IS DISTINCT FROM $3 THEN $5 ELSE assigned_at END, \
           updated_at = $5, version = version + 1 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(assignee_id)
    .bind(team_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let updated = reread_conversation(tx, conversation.tenant_id, conversation.id).await?;
    let tenant = conversation.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::AssignmentChanged(assignment_changed(&updated, conversation, actor, note)),
    );
    enqueue(tx, &subjects::event(&tenant, "conversation.assigned"), &event).await?;
    Ok(Some(updated))
}

pub(crate) fn assignment_changed(
    updated: &ConversationRow,
    before: &ConversationRow,
    actor: &str,
    note: &str,
) -> AssignmentChanged {
    AssignmentChanged {
        conversation: Some(updated.to_proto()),
        previous_assignee_id: before.assignee_id.map(|id| id.to_string()).unwrap_or_default(),
        previous_team_id: before.team_id.map(|id| id.to_string()).unwrap_or_default(),
        actor: actor.into(),
        note: note.into(),
    }
}

impl ConversationStore {
    /// Assigns a conversation to an agent and/or a team (`None` clears). `None` when the
    /// conversation is not the tenant's; otherwise it and whether anything changed.
    pub async fn set_assignment(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        assignee_id: Option<Uuid>,
        team_id: Option<Uuid>,
        actor: &str,
        note: &str,
    ) -> Result<Option<(ConversationRow, bool)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        let changed = assign_in(&mut tx, &conversation, assignee_id, team_id, actor, note, self.now()).await?;
        tx.commit().await?;
        Ok(Some(match changed {
            Some(updated) => (updated, true),
            None => (conversation, false),
        }))
    }
}

/// What applying one of routing's assignment changes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutedAssignment {
    /// The read model now follows it (and `conversation.assigned` was announced if it changed).
    Applied,
    /// Routing already said something newer (or this very change) about the conversation.
    Stale,
    /// The tenant has no such conversation (deleted since).
    Missing,
}

impl ConversationStore {
    /// Applies routing's change number `sequence` to the assignment read model, unless a change
    /// with this or a higher sequence was applied already: redeliveries and out-of-order
    /// arrivals leave the newest decision in place.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_routing_assignment(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        sequence: i64,
        assignee_id: Option<Uuid>,
        team_id: Option<Uuid>,
        actor: &str,
        note: &str,
    ) -> Result<RoutedAssignment, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(RoutedAssignment::Missing);
        };
        let applied: i64 =
            sqlx::query_scalar("SELECT routing_sequence FROM conversations WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if sequence <= applied {
            return Ok(RoutedAssignment::Stale);
        }
        assign_in(&mut tx, &conversation, assignee_id, team_id, actor, note, self.now()).await?;
        sqlx::query("UPDATE conversations SET routing_sequence = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RoutedAssignment::Applied)
    }
}
