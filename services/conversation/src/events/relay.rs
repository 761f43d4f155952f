//! The outbox relay loop: woken by NOTIFY, polling as a fallback.

use std::time::Duration;

use inbox_bus::Bus;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::store::{OUTBOX_CHANNEL, relay_outbox_once};

/// Longest wait between two outbox scans when no notification arrives.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Relays the outbox to JetStream until `shutdown`, then drains what is left.
pub async fn run_outbox_relay(pool: PgPool, bus: Bus, batch: i64, shutdown: CancellationToken) {
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen(OUTBOX_CHANNEL).await {
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
        match relay_outbox_once(&pool, &bus, batch).await {
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
    while let Ok(n) = relay_outbox_once(&pool, &bus, batch).await {
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
