//! What the service keeps of each conversation (moved on by the events batch, read by SLA
//! re-planning), and the locks that keep two transactions about one conversation apart.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::StoreError;
use crate::domain::facts::{ConversationState, Priority, Status};

/// A stored conversation state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SnapshotRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub version: i64,
    pub status: String,
    pub priority: String,
    pub channel: String,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub customer_name: String,
    pub preview: String,
    pub created_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub status_changed_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub last_response_at: Option<DateTime<Utc>>,
    pub awaiting_since: Option<DateTime<Utc>>,
}

const SNAPSHOT_COLUMNS: &str = "c.tenant_id, c.id, c.version, c.status, c.priority, c.channel, c.assignee_id, c.team_id, \
    c.customer_name, c.preview, c.created_at, c.opened_at, c.status_changed_at, c.first_response_at, c.last_response_at, c.awaiting_since";

impl SnapshotRow {
    pub fn state(&self) -> Option<ConversationState> {
        Some(ConversationState {
            version: self.version,
            status: Status::parse(&self.status)?,
            priority: Priority::parse(&self.priority)?,
            channel: self.channel.clone(),
            assignee_id: self.assignee_id,
            team_id: self.team_id,
            customer_name: self.customer_name.clone(),
            preview: self.preview.clone(),
            created_at: self.created_at,
            opened_at: self.opened_at,
            status_changed_at: self.status_changed_at.unwrap_or(self.opened_at),
            first_response_at: self.first_response_at,
            last_response_at: self.last_response_at,
            awaiting_since: self.awaiting_since,
        })
    }
}

/// Every open conversation of a tenant, locked.
pub(crate) async fn lock_open_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
) -> Result<Vec<SnapshotRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM conversations c WHERE c.tenant_id = $1 AND c.status IN ('active', 'pending') \
         ORDER BY c.id FOR UPDATE"
    )))
    .bind(tenant_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// Holds, until the transaction ends, a lock per conversation of the batch, taken in one
/// order: two batches about one conversation (even one not stored yet, which has no row to
/// lock) run one after the other, each seeing what the other wrote.
pub(crate) async fn serialize_conversations(conn: &mut PgConnection, keys: &[(Uuid, Uuid)]) -> Result<(), StoreError> {
    let mut locks: Vec<i64> = keys
        .iter()
        .map(|(tenant, id)| {
            let (t, c) = (tenant.as_u64_pair().1, id.as_u64_pair().1);
            (t ^ c) as i64
        })
        .collect();
    locks.sort_unstable();
    locks.dedup();
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM UNNEST($1::bigint[]) AS k ORDER BY k) AS ordered",
    )
    .bind(&locks)
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn lock_conversations(
    conn: &mut PgConnection,
    keys: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), ConversationState>, StoreError> {
    let rows: Vec<SnapshotRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM UNNEST($1::uuid[], $2::uuid[]) AS k(t, i) \
         JOIN conversations c ON c.tenant_id = k.t AND c.id = k.i ORDER BY c.tenant_id, c.id FOR UPDATE OF c"
    )))
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Some(((r.tenant_id, r.id), r.state()?))).collect())
}

pub(crate) async fn save_conversations(
    conn: &mut PgConnection,
    states: &[((Uuid, Uuid), &ConversationState)],
) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO conversations (tenant_id, id, version, status, priority, channel, assignee_id, team_id, \
           customer_name, preview, created_at, opened_at, first_response_at, last_response_at, awaiting_since, \
           status_changed_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::uuid[], \
           $8::uuid[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], \
           $14::timestamptz[], $15::timestamptz[], $16::timestamptz[]) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status, \
           priority = EXCLUDED.priority, channel = EXCLUDED.channel, assignee_id = EXCLUDED.assignee_id, \
           team_id = EXCLUDED.team_id, customer_name = EXCLUDED.customer_name, preview = EXCLUDED.preview, \
           opened_at = EXCLUDED.opened_at, first_response_at = EXCLUDED.first_response_at, \
           last_response_at = EXCLUDED.last_response_at, awaiting_since = EXCLUDED.awaiting_since, \
           status_changed_at = EXCLUDED.status_changed_at",
    )
    .bind(states.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(states.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.version).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.status.as_str()).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.priority.as_str()).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.channel.as_str()).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.assignee_id).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.team_id).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.customer_name.as_str()).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.preview.as_str()).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.created_at).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.opened_at).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.first_response_at).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.last_response_at).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.awaiting_since).collect::<Vec<_>>())
    .bind(states.iter().map(|(_, s)| s.status_changed_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
