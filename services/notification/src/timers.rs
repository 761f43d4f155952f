//! Fires due SLA timers: every replica looks every `tick`; a timer row is taken by one
//! replica at a time (`SKIP LOCKED`) and fires its warning or breach once.

use std::sync::LazyLock;
use std::time::Duration;

use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use tokio_util::sync::CancellationToken;

use crate::delivery::live;
use crate::directory::People;
use crate::domain::sla::Alert;
use crate::store::{NotificationStore, StoreError};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static ALERTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_sla_alerts_total",
        "SLA warnings and breaches fired.",
        &["alert", "target"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static LATENESS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_notification_sla_fire_lateness_seconds",
        "How long after its planned time an SLA warning or breach fired.",
        vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 30.0]
    )
    .expect("metric registers once")
});

/// Why a round did not fire.
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    People(#[from] crate::directory::DirectoryError),
}

/// One round: fires up to `batch` due timers; how many timers it took.
pub async fn fire_once(
    store: &NotificationStore,
    people: &People,
    nats: &async_nats::Client,
    batch: i64,
) -> Result<usize, FireError> {
    let now = store.clock().now();
    let tenants = store.tenants_with_due_timers(now, batch).await?;
    if tenants.is_empty() {
        return Ok(0);
    }
    let directories = people.of_all(tenants).await?;
    let fired = store.fire_due_timers(now, batch, &directories).await?;
    for alert in &fired.alerts {
        let name = if alert.alert == Alert::Warning { "warning" } else { "breached" };
        ALERTS.with_label_values(&[name, alert.target.as_str()]).inc();
        LATENESS.observe((now - alert.planned_at).num_milliseconds().max(0) as f64 / 1000.0);
    }
    live::publish(nats, &fired.stored).await;
    Ok(fired.timers)
}

/// Fires timers until `shutdown`.
pub async fn run_sla_timers(
    store: NotificationStore,
    people: People,
    nats: async_nats::Client,
    tick: Duration,
    batch: i64,
    shutdown: CancellationToken,
) {
    loop {
        let full = match fire_once(&store, &people, &nats, batch).await {
            Ok(taken) => taken as i64 >= batch,
            Err(e) => {
                tracing::warn!(error = %e, "sla timers not fired this round; trying again");
                false
            }
        };
        if shutdown.is_cancelled() {
            break;
        }
        if full {
            continue; // more are due: no pause
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(tick) => {}
        }
    }
    tracing::info!("sla timers stopped");
}
