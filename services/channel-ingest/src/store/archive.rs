//! The raw payload archive: verified provider payloads, stored before processing.

use uuid::Uuid;

use super::{ChannelAccount, IngestStore, StoreError};

impl IngestStore {
    /// Archives a verified payload for `account`; returns its id.
    pub async fn archive_raw_payload(&self, account: &ChannelAccount, body: &[u8]) -> Result<Uuid, StoreError> {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO raw_payloads (id, tenant_id, account_id, channel, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(account.tenant_id)
            .bind(account.id)
            .bind(&account.channel)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(id)
    }

    /// Marks an archived payload as fully published to the bus, clearing an earlier failure.
    pub async fn mark_published(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO raw_payload_publications (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(id)
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
        from: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
        only_unpublished: bool,
    ) -> Result<Vec<ArchivedPayload>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, account_id, body FROM raw_payloads \
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
