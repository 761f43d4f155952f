//! Rebuilds and how far they got.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MetricsStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Rebuild {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub from_at: DateTime<Utc>,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub conversations_done: i64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: String,
}

const COLUMNS: &str = "id, tenant_id, from_at, state, conversations_done, started_at, updated_at, finished_at, error";

impl MetricsStore {
    pub async fn start_rebuild(&self, tenant_id: Uuid, from: DateTime<Utc>) -> Result<Rebuild, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rebuilds (id, tenant_id, from_at, state, started_at, updated_at) \
             VALUES ($1, $2, $3, 'running', $4, $4) \
             RETURNING {COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(from)
        .bind(self.clock.now())
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn rebuild_progress(&self, id: Uuid, conversations_done: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE rebuilds SET conversations_done = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(conversations_done)
            .bind(self.clock.now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a rebuild: done, or failed with `error`.
    pub async fn finish_rebuild(&self, id: Uuid, error: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("UPDATE rebuilds SET state = $2, error = $3, finished_at = $4, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(if error.is_some() { "failed" } else { "done" })
            .bind(error.unwrap_or_default())
            .bind(self.clock.now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn rebuild(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<Rebuild>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM rebuilds WHERE tenant_id = $1 AND id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
