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

/// The most payloads one replay call takes.
pub const MAX_REPLAY: i64 = 10_000;

impl IngestStore {
    /// The tenant's archived payloads named by `ids`, or received in `[from, until)`, oldest first.
    pub async fn archived_payloads(
        &self,
        tenant_id: Uuid,
        ids: &[Uuid],
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        only_unpublished: bool,
    ) -> Result<Vec<ArchivedPayload>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, received_at, body FROM raw_payloads \
             WHERE tenant_id = $1 \
               AND (cardinality($2::uuid[]) = 0 OR id = ANY($2)) \
               AND ($3::timestamptz IS NULL OR received_at >= $3) \
               AND ($4::timestamptz IS NULL OR received_at < $4) \
               AND (NOT $5 OR NOT EXISTS (SELECT 1 FROM raw_payload_publications p WHERE p.id = raw_payloads.id)) \
             ORDER BY received_at, id LIMIT $6",
        )
        .bind(tenant_id)
        .bind(ids)
        .bind(from)
        .bind(until)
        .bind(only_unpublished)
        .bind(MAX_REPLAY)
        .fetch_all(&self.pool)
        .await?)
    }
}
