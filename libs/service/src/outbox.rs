//! The transactional outbox's relay, shared by every service that owns one: events commit in
//! an `outbox (id bigserial, subject text, envelope bytea)` table with the change they
//! describe; the relay publishes them (Nats-Msg-Id = event id) and deletes them. A crash
//! between publish and delete publishes again, and JetStream's duplicate window (then the
//! consumers' idempotency) absorbs the copy: repeated, never lost.
//!
//! Writers `pg_notify` the service's channel in the same transaction; the relay listens on it
//! and polls as a fallback.

use std::time::Duration;

use inbox_bus::{Bus, BusError, Envelope};
use prost::Message as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

/// Longest wait between two outbox scans when no notification arrives.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A row that does not decode; it is kept (dropping it would lose an event).
    #[error("outbox row {id} is not an Envelope: {reason}")]
    Corrupt { id: i64, reason: String },
}

/// Publishes up to `batch` outbox rows in id order and deletes them once JetStream acked all.
/// Rows are locked with SKIP LOCKED, so several replicas relay disjoint batches. Returns how
/// many were published.
///
/// One statement takes the batch: it deletes the rows inside this transaction and returns
/// them. Until the commit, which comes only after JetStream acked every one, they stay locked
/// (other replicas skip them); a failed publish, a corrupt row, a crash or a lost session rolls
/// the delete back and the rows are relayed again.
pub async fn relay_once(pool: &PgPool, bus: &Bus, batch: i64) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    // The same statement sets the transaction's settings. Deleting relayed rows need not wait
    // for the disk: a delete lost in a crash only publishes those events again, which the
    // duplicate window and the consumers absorb. A relay frozen (SIGSTOP, a stalled VM) while
    // it holds its rows loses them after 5 s idle: the server ends its session and another
    // replica relays them (the chaos run saw a frozen conversation replica hold its batch's
    // events back for the whole 35 s freeze).
    let mut rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "WITH settings AS MATERIALIZED ( \
             SELECT set_config('synchronous_commit', 'off', true), \
                    set_config('idle_in_transaction_session_timeout', '5s', true)) \
         DELETE FROM outbox WHERE id IN ( \
             SELECT o.id FROM outbox o, settings ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED) \
         RETURNING id, subject, envelope",
    )
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    rows.sort_unstable_by_key(|(id, _, _)| *id);
    let mut messages = Vec::with_capacity(rows.len());
    for (id, subject, bytes) in rows {
        let envelope =
            Envelope::decode(bytes.as_slice()).map_err(|e| RelayError::Corrupt { id, reason: e.to_string() })?;
        messages.push((subject, envelope));
    }
    bus.publish_all(&messages).await?;
    tx.commit().await?;
    Ok(messages.len())
}

/// Relays the outbox to JetStream until `shutdown`, woken by NOTIFY on `channel`, then drains
/// what is left.
pub async fn run_relay(pool: PgPool, bus: Bus, channel: &'static str, batch: i64, shutdown: CancellationToken) {
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen(channel).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "outbox listener connection failed; polling only");
            None
        }
    };
    let mut failures = 0u32;
    loop {
        match relay_once(&pool, &bus, batch).await {
            // A full batch means more may be waiting: go again at once.
            Ok(n) if n as i64 == batch => {
                failures = 0;
                continue;
            }
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "outbox relay round failed; will retry");
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
        let wait = if failures > 0 { Duration::from_millis(100 * 2u64.pow(failures.min(6))) } else { POLL_INTERVAL };
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = wait_for_notification(listener.as_mut()), if failures == 0 => {}
        }
    }
    // Final drain so events of work finished during shutdown go out now, not at next start.
    while let Ok(n) = relay_once(&pool, &bus, batch).await {
        if n == 0 {
            break;
        }
    }
    tracing::info!("outbox relay stopped");
}

async fn wait_for_notification(listener: Option<&mut PgListener>) {
    match listener {
        Some(l) => {
            if let Err(e) = l.recv().await {
                tracing::warn!(error = %e, "outbox notification failed");
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        None => std::future::pending().await,
    }
}
