//! The transactional outbox: routing's events commit with the assignment they describe; the
//! relay publishes them (Nats-Msg-Id = event id) and deletes them. A crash between the two
//! publishes again; JetStream's duplicate window and the consumers' sequence checks absorb it.

use inbox_bus::{Bus, Envelope};
use prost::Message as _;
use sqlx::PgPool;

use super::StoreError;

/// The NOTIFY channel that wakes the relay when a transaction wrote outbox rows (see
/// `assignments::write_decisions`, which writes them with the decisions).
pub const OUTBOX_CHANNEL: &str = "inbox_routing_outbox";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] inbox_bus::BusError),
}

impl From<sqlx::Error> for RelayError {
    fn from(e: sqlx::Error) -> Self {
        RelayError::Store(StoreError::Database(e))
    }
}

/// Publishes up to `batch` outbox rows in id order and deletes them once JetStream acked all.
/// SKIP LOCKED lets several replicas relay disjoint batches. Returns how many were published.
pub async fn relay_outbox_once(pool: &PgPool, bus: &Bus, batch: i64) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    // Deleting relayed rows need not wait for the disk: a delete lost in a crash only publishes
    // those events again, which the duplicate window and the consumers' sequence checks absorb.
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    let rows: Vec<(i64, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, subject, envelope FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for (id, subject, bytes) in rows {
        ids.push(id);
        match Envelope::decode(bytes.as_slice()) {
            Ok(envelope) => messages.push((subject, envelope)),
            // Written by this service from a valid Envelope; dropping it would lose an event.
            Err(e) => return Err(StoreError::Invalid(format!("outbox row {id} is not an Envelope: {e}")).into()),
        }
    }
    bus.publish_all(&messages).await?;
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)").bind(&ids).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(ids.len())
}
