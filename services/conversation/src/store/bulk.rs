//! Bulk actions: one change applied to many conversations. Conversations are processed in
//! chunks, each chunk in one transaction with set-based statements (so ten thousand take
//! seconds, not minutes): every conversation changes completely or not at all, with its
//! history and events, and the result reports each one.

use std::collections::HashMap;

use inbox_bus::{Envelope, Payload, new_envelope, subjects};
use inbox_proto::events::v1::{ConversationDeleted, ConversationUpdated, StatusChanged};
use inbox_service::Visibility;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::assignment::assignment_changed;
use super::outbox::enqueue_many;
use super::rows::StatusChangeRow;
use super::status::lock_conversations;
use super::visibility::{Viewer, select_conversations};
use super::{ConversationRow, ConversationStore, StoreError};
use crate::domain::{Priority, Status};

/// Conversations changed per transaction.
const CHUNK: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub enum BulkChange {
    Status {
        to: Status,
        reason: String,
    },
    Priority {
        to: Priority,
        reason: String,
    },
    Assign {
        assignee_id: Option<Uuid>,
        team_id: Option<Uuid>,
        note: String,
    },
    /// Deletes the conversation with its messages and history.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    Changed,
    Unchanged,
    NotFound,
    Failed(String),
}

impl BulkOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            BulkOutcome::Changed => "changed",
            BulkOutcome::Unchanged => "unchanged",
            BulkOutcome::NotFound => "not_found",
            BulkOutcome::Failed(_) => "failed",
        }
    }
}

impl BulkChange {
    /// Whether applying the change to `row` would change anything.
    fn changes(&self, row: &ConversationRow) -> bool {
        match self {
            BulkChange::Status { to, .. } => row.status != to.as_str(),
            BulkChange::Priority { to, reason } => {
                row.priority != to.as_str() || row.priority_source != "manual" || row.priority_reason != *reason
            }
            BulkChange::Assign { assignee_id, team_id, .. } => {
                row.assignee_id != *assignee_id || row.team_id != *team_id
            }
            BulkChange::Delete => true,
        }
    }
}

impl ConversationStore {
    /// Applies `change` to each of `ids` (duplicates ignored) as `actor`, who sees what
    /// `visibility` allows; the outcome of each, in the order given. An id the actor may not
    /// see is `NotFound`, like an unknown one.
    pub async fn bulk_change(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
        change: &BulkChange,
        actor: &str,
        visibility: &Visibility,
    ) -> Result<Vec<(Uuid, BulkOutcome)>, StoreError> {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let ids: Vec<Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let mut results = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            match self.bulk_change_chunk(tenant_id, chunk, change, actor, visibility).await {
                Ok(outcomes) => results
                    .extend(chunk.iter().map(|id| (*id, outcomes.get(id).cloned().unwrap_or(BulkOutcome::NotFound)))),
                Err(refused @ (StoreError::Invalid(_) | StoreError::Conflict(_))) => return Err(refused),
                Err(e) => {
                    tracing::error!(error = %e, %tenant_id, "bulk change chunk failed");
                    results
                        .extend(chunk.iter().map(|id| (*id, BulkOutcome::Failed("store unavailable; retry".into()))));
                }
            }
        }
        Ok(results)
    }

    async fn bulk_change_chunk(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
        change: &BulkChange,
        actor: &str,
        visibility: &Visibility,
    ) -> Result<HashMap<Uuid, BulkOutcome>, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let mut qb = select_conversations(tenant_id, &Viewer::default().seeing(visibility.clone()));
        qb.push(" AND c.id = ANY(").push_bind(ids.to_vec()).push(") ORDER BY c.id FOR UPDATE OF c");
        let before: Vec<ConversationRow> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let mut outcomes: HashMap<Uuid, BulkOutcome> = HashMap::with_capacity(ids.len());
        let mut changing: Vec<&ConversationRow> = Vec::new();
        for row in &before {
            if change.changes(row) {
                changing.push(row);
                outcomes.insert(row.id, BulkOutcome::Changed);
            } else {
                outcomes.insert(row.id, BulkOutcome::Unchanged);
            }
        }
        if changing.is_empty() {
            tx.commit().await?;
            return Ok(outcomes);
        }
        let changed_ids: Vec<Uuid> = changing.iter().map(|r| r.id).collect();
        let tenant = tenant_id.to_string();
        let event = |payload: Payload| new_envelope(Uuid::now_v7().to_string(), &tenant, payload);
        let mut events: Vec<(String, Envelope)> = Vec::with_capacity(changing.len());
        match change {
            BulkChange::Status { to, reason } => {
                sqlx::query(
                    "UPDATE conversations SET status = $3, status_changed_at = $4, updated_at = $4, \
                       version = version + 1 WHERE tenant_id = $1 AND id = ANY($2)",
                )
                .bind(tenant_id)
                .bind(&changed_ids)
                .bind(to.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let froms: Vec<String> = changing.iter().map(|r| r.status.clone()).collect();
                let changes: Vec<StatusChangeRow> = sqlx::query_as(
                    "INSERT INTO status_changes (tenant_id, conversation_id, from_status, to_status, actor, reason, changed_at) \
                     SELECT $1, t.id, t.from_status, $4, $5, $6, $7 FROM UNNEST($2::uuid[], $3::text[]) AS t(id, from_status) \
                     RETURNING conversation_id, from_status, to_status, actor, reason, changed_at",
                )
                .bind(tenant_id)
                .bind(&changed_ids)
                .bind(&froms)
                .bind(to.as_str())
                .bind(actor)
                .bind(reason)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
                let after = reread(&mut tx, tenant_id, &changed_ids).await?;
                for change in changes {
                    if let Some(row) = after.get(&change.conversation_id) {
                        let payload =
                            StatusChanged { conversation: Some(row.to_proto()), change: Some(change.to_proto()) };
                        events.push((
                            subjects::event(&tenant, "conversation.status_changed"),
                            event(Payload::StatusChanged(payload)),
                        ));
                    }
                }
            }
            BulkChange::Priority { to, reason } => {
                sqlx::query(
                    "UPDATE conversations SET priority = $3, priority_source = 'manual', priority_reason = $4, \
                       updated_at = $5, version = version + 1 WHERE tenant_id = $1 AND id = ANY($2)",
                )
                .bind(tenant_id)
                .bind(&changed_ids)
                .bind(to.as_str())
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let after = reread(&mut tx, tenant_id, &changed_ids).await?;
                for row in after.values() {
                    let payload = ConversationUpdated { conversation: Some(row.to_proto()) };
                    events.push((
                        subjects::event(&tenant, "conversation.priority_changed"),
                        event(Payload::PriorityChanged(payload)),
                    ));
                }
            }
            BulkChange::Assign { assignee_id, team_id, note } => {
                sqlx::query(
                    "UPDATE conversations SET assignee_id = $3, team_id = $4, \
                       assigned_at = CASE WHEN $3 IS NULL THEN NULL WHEN assignee_id IS DISTINCT FROM $3 THEN $5 \
                         ELSE assigned_at END, \
                       updated_at = $5, version = version + 1 WHERE tenant_id = $1 AND id = ANY($2)",
                )
                .bind(tenant_id)
                .bind(&changed_ids)
                .bind(assignee_id)
                .bind(team_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let after = reread(&mut tx, tenant_id, &changed_ids).await?;
                for row in &changing {
                    if let Some(updated) = after.get(&row.id) {
                        events.push((
                            subjects::event(&tenant, "conversation.assigned"),
                            event(Payload::AssignmentChanged(assignment_changed(updated, row, actor, note))),
                        ));
                    }
                }
            }
            BulkChange::Delete => {
                for table in ["messages", "status_changes", "conversation_reads"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE tenant_id = $1 AND conversation_id = ANY($2)"
                    )))
                    .bind(tenant_id)
                    .bind(&changed_ids)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND id = ANY($2)")
                    .bind(tenant_id)
                    .bind(&changed_ids)
                    .execute(&mut *tx)
                    .await?;
                for id in &changed_ids {
                    let payload = ConversationDeleted { conversation_id: id.to_string() };
                    events.push((
                        subjects::event(&tenant, "conversation.deleted"),
                        event(Payload::ConversationDeleted(payload)),
                    ));
                }
            }
        }
        enqueue_many(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// The conversations as they are now, by id (still locked by this transaction).
async fn reread(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ConversationRow>, StoreError> {
    let keys: Vec<(Uuid, Uuid)> = ids.iter().map(|id| (tenant_id, *id)).collect();
    Ok(lock_conversations(tx, &keys).await?.into_iter().map(|((_, id), row)| (id, row)).collect())
}
