//! The notification centre: notifications stored per agent under their preferences, listed,
//! counted and marked read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::preferences::preferences_of;
use super::{NotificationStore, StoreError};
use crate::domain::facts::Draft;
use crate::domain::{Directory, Kind};

/// One stored notification.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub conversation_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub level: String,
    pub sound: bool,
    pub browser: bool,
    pub sla_target: String,
    pub due_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "tenant_id, id, user_id, kind, conversation_id, title, body, level, sound, browser, sla_target, due_at, created_at, read_at";

impl NotificationRow {
    /// The JSON a browser push message carries (the service worker shows it).
    pub fn push_payload(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "title": self.title,
            "body": self.body,
            "conversation_id": self.conversation_id,
            "url": self.conversation_id.map(|c| format!("/conversations/{c}")),
            "created_at": self.created_at,
        })
        .to_string()
    }

    /// How soon a push service should deliver it (RFC 8030 §5.3).
    pub fn push_urgency(&self) -> &'static str {
        match Kind::parse(&self.kind) {
            Some(Kind::Assigned | Kind::Urgent | Kind::SlaWarning | Kind::SlaBreached) => "high",
            _ => "normal",
        }
    }
}

/// A page of one agent's notifications, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<NotificationRow>,
    pub next_cursor: Option<Uuid>,
}

/// Stores `drafts` (each for one tenant) at `now` under each person's preferences, once per
/// dedupe key, and queues push messages for those delivered with a browser notification.
/// Returns the notifications stored now (not those a redelivery had stored already).
pub(crate) async fn store_drafts(
    conn: &mut PgConnection,
    drafts: &[(Uuid, Draft)],
    directories: &HashMap<Uuid, Arc<Directory>>,
    now: DateTime<Utc>,
) -> Result<Vec<NotificationRow>, StoreError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(Uuid, Uuid)> =
        drafts.iter().map(|(t, d)| (*t, d.user_id)).collect::<BTreeSet<_>>().into_iter().collect();
    let preferences = preferences_of(conn, &keys).await?;
    let mut rows: Vec<NotificationRow> = Vec::with_capacity(drafts.len());
    let mut dedupe: Vec<String> = Vec::with_capacity(drafts.len());
    for (tenant, draft) in drafts {
        let time_zone = directories.get(tenant).map_or(chrono_tz::Tz::UTC, |d| d.time_zone(draft.user_id));
        let prefs = preferences.get(&(*tenant, draft.user_id)).cloned().unwrap_or_default();
        let Some(decision) = prefs.decide(draft.kind, now, time_zone) else { continue };
        rows.push(NotificationRow {
            tenant_id: *tenant,
            id: Uuid::now_v7(),
            user_id: draft.user_id,
            kind: draft.kind.as_str().to_owned(),
            conversation_id: draft.conversation_id,
            title: draft.title.clone(),
            body: draft.body.clone(),
            level: decision.level.as_str().to_owned(),
            sound: decision.sound,
            browser: decision.browser,
            sla_target: draft.sla_target.clone(),
            due_at: draft.due_at,
            created_at: now,
            read_at: None,
        });
        dedupe.push(draft.dedupe_key.clone());
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let stored: Vec<NotificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO notifications (tenant_id, id, user_id, kind, conversation_id, title, body, level, sound, browser, \
           sla_target, due_at, created_at, dedupe_key) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], \
           $8::text[], $9::bool[], $10::bool[], $11::text[], $12::timestamptz[], $13::timestamptz[], $14::text[]) \
         ON CONFLICT (tenant_id, user_id, dedupe_key) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(rows.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.title.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.body.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.level.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sound).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.browser).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sla_target.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(&dedupe)
    .fetch_all(&mut *conn)
    .await?;
    let pushed: Vec<&NotificationRow> = stored.iter().filter(|r| r.browser).collect();
    if !pushed.is_empty() {
        sqlx::query(
            "INSERT INTO push_jobs (tenant_id, subscription_id, payload, urgency, created_at, next_attempt_at) \
             SELECT s.tenant_id, s.id, p.payload, p.urgency, $5, $5 \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS p(t, u, payload, urgency) \
             JOIN push_subscriptions s ON s.tenant_id = p.t AND s.user_id = p.u",
        )
        .bind(pushed.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
        .bind(pushed.iter().map(|r| r.user_id).collect::<Vec<_>>())
        .bind(pushed.iter().map(|r| r.push_payload()).collect::<Vec<_>>())
        .bind(pushed.iter().map(|r| r.push_urgency()).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(stored)
}

impl NotificationStore {
    /// Stores notifications outside an event batch (a disabled webhook endpoint).
    pub async fn store_notifications(
        &self,
        drafts: &[(Uuid, Draft)],
        directories: &HashMap<Uuid, Arc<Directory>>,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stored = store_drafts(&mut tx, drafts, directories, self.clock.now()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// One agent's notifications, newest first, after `cursor` (a notification id).
    pub async fn list_notifications(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        unread_only: bool,
        limit: i64,
        cursor: Option<Uuid>,
    ) -> Result<Page, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM notifications WHERE tenant_id = "));
        q.push_bind(tenant_id).push(" AND user_id = ").push_bind(user_id);
        if unread_only {
            q.push(" AND read_at IS NULL");
        }
        if let Some(cursor) = cursor {
            q.push(" AND id < ").push_bind(cursor);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let mut items: Vec<NotificationRow> = q.build_query_as().fetch_all(&self.pool).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|r| r.id)
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    pub async fn unread_count(&self, tenant_id: Uuid, user_id: Uuid) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(tenant_id)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// Marks the agent's notifications among `ids` (all unread ones when `None`) read; how
    /// many changed.
    pub async fn mark_read(&self, tenant_id: Uuid, user_id: Uuid, ids: Option<&[Uuid]>) -> Result<u64, StoreError> {
        let done =
            match ids {
                Some(ids) => {
                    sqlx::query(
                        "UPDATE notifications SET read_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND id = ANY($3) \
                 AND read_at IS NULL",
                    )
                    .bind(tenant_id)
                    .bind(user_id)
                    .bind(ids)
                    .bind(self.clock.now())
                    .execute(&self.pool)
                    .await?
                }
                None => sqlx::query(
                    "UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL",
                )
                .bind(tenant_id)
                .bind(user_id)
                .bind(self.clock.now())
                .execute(&self.pool)
                .await?,
            };
        Ok(done.rows_affected())
    }
}
