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

    /// Marks an archived payload as fully published to the bus.
    pub async fn mark_published(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE raw_payloads SET published_at = now(), error = NULL WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
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
