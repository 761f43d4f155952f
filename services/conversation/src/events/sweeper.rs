//! The status sweeper: applies the tenants' automatic rules (Active → Pending after the
//! pending timeout, Resolved → Archived after the archive delay) and the response-time targets
//! of prioritisation (a customer kept waiting is raised to high) every few seconds. Every
//! replica runs one; the store's row locking keeps them from moving a conversation twice. "Now"
//! is the store's clock.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::ConversationStore;

/// Conversations moved per rule per round; a full round runs again at once.
const BATCH: i64 = 500;

pub async fn run_status_sweeper(store: ConversationStore, interval: Duration, shutdown: CancellationToken) {
    loop {
        let raised = match store.apply_response_targets(BATCH).await {
            Ok(raised) => {
                if raised > 0 {
                    tracing::info!(raised, "response targets missed; priorities raised");
                }
                raised
            }
            Err(e) => {
                tracing::warn!(error = %e, "response target sweep failed; will retry");
                0
            }
        };
        match store.apply_status_rules(BATCH).await {
            Ok(report) => {
                if report.to_pending > 0 || report.to_archived > 0 {
                    tracing::info!(
                        to_pending = report.to_pending,
                        to_archived = report.to_archived,
                        "status rules applied"
                    );
                }
                if report.to_pending as i64 == BATCH || report.to_archived as i64 == BATCH || raised as i64 == BATCH {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "status sweep failed; will retry"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("status sweeper stopped");
}
