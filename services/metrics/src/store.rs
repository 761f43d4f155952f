//! The metrics service's PostgreSQL store.

use sqlx::PgPool;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The ids of the events this service has handled.
#[derive(Clone)]
pub struct EventLedger {
    pool: PgPool,
}

impl EventLedger {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records `event_id`; true when it was not seen before.
    pub async fn remember(
        &self,
        tenant_id: Uuid,
        event_id: &str,
        subject: &str,
    ) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO processed_events (event_id, tenant_id, subject) VALUES ($1, $2, $3)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(tenant_id)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }
}
