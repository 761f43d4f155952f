//! One batch of the conversation service's events, in one transaction: the event ids
//! remembered, the conversations' state moved on, their SLA clocks re-planned, the
//! notifications stored under each person's preferences and the webhook deliveries queued.
//! A redelivered event (its id already remembered) changes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::notifications::{NotificationRow, store_drafts};
use super::sla::{TimerRow, lock_timers, save_timers, sla_configs};
use super::webhooks::{WebhookEvent, queue_deliveries};
use super::{NotificationStore, StoreError};
use crate::domain::Directory;
use crate::domain::facts::{ConversationState, Draft, Fact, Priority, Status, What, drafts};
use crate::domain::sla::reconcile;

/// One event of the batch.
#[derive(Debug, Clone)]
pub struct EventItem {
    pub tenant_id: Uuid,
    pub event_id: String,
    pub subject: String,
    /// What it says about a conversation, if anything.
    pub fact: Option<Fact>,
    /// What it makes webhook endpoints receive.
    pub webhooks: Vec<WebhookEvent>,
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Ids seen for the first time (the others were redeliveries).
    pub first_seen: HashSet<String>,
    /// Notifications stored, for the live push.
    pub stored: Vec<NotificationRow>,
}

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
async fn serialize_conversations(conn: &mut PgConnection, keys: &[(Uuid, Uuid)]) -> Result<(), StoreError> {
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

async fn lock_conversations(
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

async fn save_conversations(
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

impl NotificationStore {
    /// Applies a batch of events in one transaction. `directories` holds the people of every
    /// tenant in the batch (looked up before, so no lock waits on routing).
    pub async fn apply_events(
        &self,
        items: &[EventItem],
        directories: &HashMap<Uuid, Arc<Directory>>,
    ) -> Result<BatchReport, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let first_seen: HashSet<String> = sqlx::query_scalar(
            "INSERT INTO processed_events (event_id, tenant_id, subject, processed_at) \
             SELECT e, t, s, $4 FROM UNNEST($1::text[], $2::uuid[], $3::text[]) AS u(e, t, s) \
             ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        )
        .bind(items.iter().map(|i| i.event_id.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.tenant_id).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.subject.as_str()).collect::<Vec<_>>())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        // Only the first copy of an event delivered twice into this batch counts.
        let mut taken = HashSet::new();
        let fresh: Vec<&EventItem> =
            items.iter().filter(|i| first_seen.contains(&i.event_id) && taken.insert(i.event_id.as_str())).collect();

        let keys: Vec<(Uuid, Uuid)> = fresh
            .iter()
            .filter_map(|i| Some((i.tenant_id, i.fact.as_ref()?.conversation_id)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        serialize_conversations(&mut tx, &keys).await?;
        let mut states = lock_conversations(&mut tx, &keys).await?;
        let mut clocks = lock_timers(&mut tx, &keys).await?;
        let tenants: Vec<Uuid> = keys.iter().map(|k| k.0).collect::<BTreeSet<_>>().into_iter().collect();
        let configs = sla_configs(&mut tx, &tenants).await?;

        let empty = Arc::new(Directory::default());
        let mut notes: Vec<(Uuid, Draft)> = Vec::new();
        let mut changed: BTreeSet<(Uuid, Uuid)> = BTreeSet::new();
        let mut deleted: BTreeSet<(Uuid, Uuid)> = BTreeSet::new();
        for item in &fresh {
            let Some(fact) = &item.fact else { continue };
            let key = (item.tenant_id, fact.conversation_id);
            if fact.what == What::Deleted {
                states.remove(&key);
                clocks.remove(&key);
                changed.remove(&key);
                deleted.insert(key);
                continue;
            }
            let before = states.get(&key);
            let Some(after) = ConversationState::after(before, fact) else { continue };
            let directory = directories.get(&item.tenant_id).unwrap_or(&empty);
            notes.extend(drafts(fact, before, &after, directory).into_iter().map(|d| (item.tenant_id, d)));
            let config = configs.get(&item.tenant_id).cloned().unwrap_or_default();
            let entry = clocks.entry(key).or_default();
            // A fact is dated by its event, but never later than now (a clock running ahead).
            reconcile(entry, &after.standing(), &config.policy(after.priority), &config.schedule, fact.at.min(now));
            states.insert(key, after);
            changed.insert(key);
        }

        let to_save: Vec<((Uuid, Uuid), &ConversationState)> =
            changed.iter().filter_map(|k| Some((*k, states.get(k)?))).collect();
        save_conversations(&mut tx, &to_save).await?;
        let mut timers = Vec::new();
        for key in &changed {
            let config = configs.get(&key.0).cloned().unwrap_or_default();
            for clock in clocks.get(key).into_iter().flat_map(|c| c.values()) {
                timers.push(TimerRow::of(key.0, key.1, clock, clock.plan(&config.schedule, config.warning_percent)));
            }
        }
        save_timers(&mut tx, &timers).await?;
        if !deleted.is_empty() {
            let (t, c): (Vec<Uuid>, Vec<Uuid>) = deleted.iter().copied().unzip();
            sqlx::query(
                "DELETE FROM sla_timers USING UNNEST($1::uuid[], $2::uuid[]) AS k(t, c) \
                 WHERE sla_timers.tenant_id = k.t AND sla_timers.conversation_id = k.c",
            )
            .bind(&t)
            .bind(&c)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM conversations USING UNNEST($1::uuid[], $2::uuid[]) AS k(t, c) \
                 WHERE conversations.tenant_id = k.t AND conversations.id = k.c",
            )
            .bind(&t)
            .bind(&c)
            .execute(&mut *tx)
            .await?;
        }
        let stored = store_drafts(&mut tx, &notes, directories, now).await?;
        let webhooks: Vec<(Uuid, &WebhookEvent)> =
            fresh.iter().flat_map(|i| i.webhooks.iter().map(|w| (i.tenant_id, w))).collect();
        queue_deliveries(&mut tx, &webhooks, now, self.webhook_retry_window()).await?;
        tx.commit().await?;
        Ok(BatchReport { first_seen, stored })
    }
}
