//! The raw payload archive: verified provider payloads, stored before processing. The
//! group-committing writer (`archive_batch`) archives them; this module reads them back for
//! replay and records how publishing them went.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{IngestStore, StoreError};

impl IngestStore {
    /// Marks an archived payload as fully published to the bus, clearing an earlier failure.
    pub async fn mark_published(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO raw_payload_publications (id, published_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE raw_payloads SET error = NULL WHERE id = $1 AND error IS NOT NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records why publishing an archived payload failed (it stays unpublished, replayable).
    pub async fn mark_failed(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE raw_payloads SET error = $2 WHERE id = $1")
            .bind(id)
            .bind(error)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// An archived payload, for replay.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchivedPayload {
    pub id: Uuid,
    pub account_id: Uuid,
    /// When the webhook or request that carried it arrived: the time of anything it does not
    /// date itself.
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// Payloads one replay page holds: bodies are up to `ingest.max_body_bytes` each, so a page,
/// not the whole replay, is what sits in memory.
pub const REPLAY_PAGE: i64 = 50;

/// Which archived payloads a replay takes.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// These payloads (empty: any).
    pub ids: Vec<Uuid>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    /// Only those never fully published.
    pub only_unpublished: bool,
}

impl IngestStore {
    /// The next page (at most [`REPLAY_PAGE`]) of the tenant's archived payloads that `filter`
    /// takes, oldest first, after the payload `after` (received at, id) of the previous page.
    pub async fn archived_payload_page(
        &self,
        tenant_id: Uuid,
        filter: &ReplayFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
    ) -> Result<Vec<ArchivedPayload>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, received_at, body FROM raw_payloads \
             WHERE tenant_id = $1 \
               AND (cardinality($2::uuid[]) = 0 OR id = ANY($2)) \
               AND ($3::timestamptz IS NULL OR received_at >= $3) \
               AND ($4::timestamptz IS NULL OR received_at < $4) \
               AND (NOT $5 OR NOT EXISTS (SELECT 1 FROM raw_payload_publications p WHERE p.id = raw_payloads.id)) \
               AND ($6::timestamptz IS NULL OR (received_at, id) > ($6, $7)) \
             ORDER BY received_at, id LIMIT $8",
        )
        .bind(tenant_id)
        .bind(&filter.ids)
        .bind(filter.from)
        .bind(filter.until)
        .bind(filter.only_unpublished)
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, id)| id).unwrap_or_default())
        .bind(REPLAY_PAGE)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Marks archived payloads as fully published, in one transaction, clearing earlier
    /// failures.
    pub async fn mark_all_published(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO raw_payload_publications (id, published_at) SELECT id, $2 FROM unnest($1::uuid[]) AS t(id) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(ids)
        .bind(self.clock.now())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE raw_payloads SET error = NULL WHERE id = ANY($1) AND error IS NOT NULL")
            .bind(ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
