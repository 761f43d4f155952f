//! Remembering handled event ids, so consumers stay idempotent beyond JetStream's duplicate
//! window. A service using it creates, in its own migrations:
//!
//! ```sql
//! CREATE TABLE processed_events (
//!     event_id     text        PRIMARY KEY,
//!     tenant_id    uuid        NOT NULL,
//!     subject      text        NOT NULL,
//!     processed_at timestamptz NOT NULL DEFAULT now()
//! );
//! ```

use inbox_bus::{Delivery, HandlerError, MessageHandler, subjects};
use prometheus::IntCounterVec;
use sqlx::PgPool;
use uuid::Uuid;

/// The ids of the events a service has handled.
#[derive(Clone)]
pub struct EventLedger {
    pool: PgPool,
}

impl EventLedger {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Records `event_id`; true when it was not seen before.
    pub async fn remember(&self, tenant_id: Uuid, event_id: &str, subject: &str) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(
            "INSERT INTO processed_events (event_id, tenant_id, subject) VALUES ($1, $2, $3) \
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

/// The consumer of `events.>` of a service whose own handling is still to come: it checks each
/// event's shape, records its id once, and counts it in `counter` by kind and first sighting
/// (labels `kind`, `first_seen`).
pub struct RecordEvents {
    ledger: EventLedger,
    counter: &'static IntCounterVec,
}

impl RecordEvents {
    pub fn new(ledger: EventLedger, counter: &'static IntCounterVec) -> Self {
        Self { ledger, counter }
    }
}

impl MessageHandler for RecordEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
        let kind = subjects::event_kind(&delivery.subject, &envelope.tenant_id).ok_or_else(|| {
            HandlerError::Permanent(format!(
                "subject {:?} is not events.{}.<kind>",
                delivery.subject, envelope.tenant_id
            ))
        })?;
        if envelope.event_id.is_empty() {
            return Err(HandlerError::Permanent("envelope without an event id".into()));
        }
        let first_seen = self
            .ledger
            .remember(tenant_id, &envelope.event_id, &delivery.subject)
            .await
            .map_err(|e| HandlerError::Retry(e.to_string()))?;
        self.counter.with_label_values(&[kind, if first_seen { "true" } else { "false" }]).inc();
        tracing::debug!(kind, first_seen, "event recorded");
        Ok(())
    }
}
