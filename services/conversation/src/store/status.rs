//! Status changes: by people, by the customer's and agents' messages, and by the tenant's
//! automatic rules. Every change is recorded (who or what, and why) and announced through the
//! outbox in the same transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::events::v1::StatusChanged;
use sqlx::{FromRow, Postgres, Row, Transaction};
use uuid::Uuid;

use super::outbox::enqueue;
use super::rows::{CONVERSATION_COLUMNS, CONVERSATION_ONLY_COLUMNS, ContactFields, StatusChangeRow};
use super::{ConversationRow, ConversationStore, StoreError};
use crate::domain::{ARCHIVE_RULE, PENDING_RULE, Status, StatusRules};

/// Reads one conversation of the tenant inside a transaction, locking it for update.
pub(crate) async fn lock_conversation(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ConversationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
         JOIN contacts k ON k.tenant_id = c.tenant_id AND k.id = c.contact_id \
         WHERE c.tenant_id = $1 AND c.id = $2 FOR UPDATE OF c"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Reads conversations of several tenants inside a transaction, locking them in id order.
pub(crate) async fn lock_conversations(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), ConversationRow>, StoreError> {
    // One query per tenant, `id = ANY(...)` on conversations alone: the primary key serves it
    // whatever the statistics say, where a join against UNNEST or with contacts lets the
    // planner pick a scan.
    let mut by_tenant: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for (tenant, id) in keys {
        by_tenant.entry(*tenant).or_default().push(*id);
    }
    let mut out = HashMap::with_capacity(keys.len());
    for (tenant, mut ids) in by_tenant {
        ids.sort();
        let mut rows: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_ONLY_COLUMNS} FROM conversations c \
             WHERE c.tenant_id = $1 AND c.id = ANY($2) ORDER BY c.id FOR UPDATE"
        )))
        .bind(tenant)
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        fill_contacts(tx, &mut rows).await?;
        out.extend(rows.into_iter().map(|r| ((r.tenant_id, r.id), r)));
    }
    Ok(out)
}

/// Fills in the contact's fields of conversations read with [`CONVERSATION_ONLY_COLUMNS`], in
/// one statement: each (tenant, contact) key is joined to its row (a join needs no estimate of
/// a tenant's size; see `batch::find_threads`).
pub(crate) async fn fill_contacts(
    tx: &mut Transaction<'_, Postgres>,
    rows: &mut [ConversationRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(Uuid, Uuid)> = rows.iter().map(|r| (r.tenant_id, r.contact_id)).collect();
    keys.sort();
    keys.dedup();
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT u.t AS contact_tenant, {} FROM UNNEST($1::uuid[], $2::uuid[]) AS u(t, i) \
         JOIN contacts k ON k.tenant_id = u.t AND k.id = u.i",
        ContactFields::COLUMNS
    )))
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut contacts: HashMap<(Uuid, Uuid), ContactFields> = HashMap::with_capacity(found.len());
    for row in &found {
        let contact = ContactFields::from_row(row)?;
        contacts.insert((row.try_get("contact_tenant")?, contact.id), contact);
    }
    for row in rows {
        // The foreign key guarantees the contact; a missing one would be a broken invariant.
        let contact = contacts
            .get(&(row.tenant_id, row.contact_id))
            .ok_or_else(|| StoreError::Internal(format!("conversation {} has no contact", row.id)))?;
        row.set_contact(contact);
    }
    Ok(())
}

/// Reads a conversation back inside a transaction (after an update).
pub(crate) async fn reread_conversation(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<ConversationRow, StoreError> {
    lock_conversation(tx, tenant_id, id)
        .await?
        .ok_or_else(|| StoreError::Internal(format!("conversation {id} vanished inside its transaction")))
}

/// Moves `conversation` (locked by the caller's transaction) to `to` at `now`, records the
/// change and writes `conversation.status_changed` to the outbox. No-op (`None`) when already
/// there.
pub(crate) async fn change_status(
    tx: &mut Transaction<'_, Postgres>,
    conversation: &ConversationRow,
    to: Status,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ConversationRow, StatusChangeRow)>, StoreError> {
    let from = conversation.status.as_str();
    if from == to.as_str() {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE conversations SET status = $3, status_changed_at = $4, updated_at = $4, version = version + 1 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(to.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let change: StatusChangeRow = sqlx::query_as(
        "INSERT INTO status_changes (tenant_id, conversation_id, from_status, to_status, actor, reason, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING conversation_id, from_status, to_status, actor, reason, changed_at",
    )
    .bind(conversation.tenant_id)
    .bind(conversation.id)
    .bind(from)
    .bind(to.as_str())
    .bind(actor)
    .bind(reason)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let updated = reread_conversation(tx, conversation.tenant_id, conversation.id).await?;
    let tenant = conversation.tenant_id.to_string();
    let event = new_envelope(
        Uuid::now_v7().to_string(),
        &tenant,
        Payload::StatusChanged(StatusChanged {
            conversation: Some(updated.to_proto()),
            change: Some(change.to_proto()),
        }),
    );
    enqueue(tx, &subjects::event(&tenant, "conversation.status_changed"), &event).await?;
    Ok(Some((updated, change)))
}

/// What the sweeper did in one round.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub to_pending: usize,
    pub to_archived: usize,
}

impl ConversationStore {
    /// Moves a conversation to `to` by hand. `None` when it does not exist in this tenant;
    /// otherwise the conversation and, if the status changed, the recorded change.
    pub async fn set_status(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        to: Status,
        actor: &str,
        reason: &str,
    ) -> Result<Option<(ConversationRow, Option<StatusChangeRow>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(conversation) = lock_conversation(&mut tx, tenant_id, id).await? else {
            return Ok(None);
        };
        let changed = change_status(&mut tx, &conversation, to, actor, reason, self.now()).await?;
        tx.commit().await?;
        Ok(Some(match changed {
            Some((updated, change)) => (updated, Some(change)),
            None => (conversation, None),
        }))
    }

    /// A conversation's status history, oldest first.
    pub async fn list_status_changes(&self, tenant_id: Uuid, id: Uuid) -> Result<Vec<StatusChangeRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT conversation_id, from_status, to_status, actor, reason, changed_at FROM status_changes \
             WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The tenant's automatic status rules (defaults when never set).
    pub async fn status_rules(&self, tenant_id: Uuid) -> Result<StatusRules, StoreError> {
        status_rules_in(&self.pool, tenant_id).await
    }

    pub async fn set_status_rules(&self, tenant_id: Uuid, rules: &StatusRules) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO status_rules (tenant_id, pending_timeout_seconds, auto_archive_seconds, reopen_on_customer_message) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             pending_timeout_seconds = EXCLUDED.pending_timeout_seconds, auto_archive_seconds = EXCLUDED.auto_archive_seconds, \
             reopen_on_customer_message = EXCLUDED.reopen_on_customer_message",
        )
        .bind(tenant_id)
        .bind(seconds(rules.pending_timeout))
        .bind(seconds(rules.auto_archive))
        .bind(rules.reopen_on_customer_message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One round of the automatic rules as of the store's "now", at most `batch` conversations
    /// per rule. Candidates are locked with SKIP LOCKED and re-checked under the lock, so
    /// replicas running rounds at the same time never move a conversation twice.
    pub async fn apply_status_rules(&self, batch: i64) -> Result<SweepReport, StoreError> {
        let now = self.now();
        let defaults = StatusRules::default();
        let mut tx = self.pool.begin().await?;
        let due_pending: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT c.tenant_id, c.id FROM conversations c LEFT JOIN status_rules r ON r.tenant_id = c.tenant_id \
             WHERE c.status = 'active' AND c.last_message_sender_kind IN ('agent', 'ai') \
               AND c.last_message_at <= $1 - make_interval(secs => COALESCE(r.pending_timeout_seconds, $2)) \
             ORDER BY c.last_message_at LIMIT $3 FOR UPDATE OF c SKIP LOCKED",
        )
        .bind(now)
        .bind(seconds(defaults.pending_timeout))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
        let due_archive: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT c.tenant_id, c.id FROM conversations c LEFT JOIN status_rules r ON r.tenant_id = c.tenant_id \
             WHERE c.status = 'resolved' \
               AND c.status_changed_at <= $1 - make_interval(secs => COALESCE(r.auto_archive_seconds, $2)) \
             ORDER BY c.status_changed_at LIMIT $3 FOR UPDATE OF c SKIP LOCKED",
        )
        .bind(now)
        .bind(seconds(defaults.auto_archive))
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;

        let mut report = SweepReport::default();
        for (tenant_id, id) in due_pending {
            let conversation = reread_conversation(&mut tx, tenant_id, id).await?;
            let (actor, reason) = PENDING_RULE;
            if change_status(&mut tx, &conversation, Status::Pending, actor, reason, now).await?.is_some() {
                report.to_pending += 1;
            }
        }
        for (tenant_id, id) in due_archive {
            let conversation = reread_conversation(&mut tx, tenant_id, id).await?;
            let (actor, reason) = ARCHIVE_RULE;
            if change_status(&mut tx, &conversation, Status::Archived, actor, reason, now).await?.is_some() {
                report.to_archived += 1;
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

pub(crate) async fn status_rules_in<'e, E>(executor: E, tenant_id: Uuid) -> Result<StatusRules, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(i32, i32, bool)> = sqlx::query_as(
        "SELECT pending_timeout_seconds, auto_archive_seconds, reopen_on_customer_message FROM status_rules WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(executor)
    .await?;
    Ok(match row {
        Some((pending, archive, reopen)) => {
            StatusRules::from_seconds(u32::try_from(pending).unwrap_or(1), u32::try_from(archive).unwrap_or(1), reopen)
                .map_err(StoreError::Invalid)?
        }
        None => StatusRules::default(),
    })
}

fn seconds(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}
