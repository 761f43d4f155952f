//! Tenants' time zones as last read from the conversation service.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MetricsStore, StoreError};

impl MetricsStore {
    /// The zone last remembered for the tenant.
    pub async fn remembered_zone(&self, tenant_id: Uuid) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT time_zone FROM tenant_zones WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn remember_zone(&self, tenant_id: Uuid, zone: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_zones (tenant_id, time_zone, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET time_zone = excluded.time_zone, fetched_at = excluded.fetched_at",
        )
        .bind(tenant_id)
        .bind(zone)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
