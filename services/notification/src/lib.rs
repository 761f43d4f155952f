//! The notification service: who hears about what, and how.
//!
//! It will own notifications, per-agent preferences, browser push subscriptions, SLA timers and
//! integration webhooks (Postgres `inbox_notification`), turn domain events into per-agent
//! notifications by type and preference, publish them on `notify.*`, warn before SLA breaches,
//! send signed outbound webhooks, and serve `inbox.notification.v1` over gRPC.
//! For now it starts with its database connected, reports health, and consumes `events.>`
//! (durable consumer `notification`), remembering each event id once.

pub mod config;
pub mod events;
pub mod store;

use std::sync::Arc;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_service::grpc::{router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_http};
use inbox_service::{Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    let needs = Needs {
        service: "notification",
        postgres: Some((&settings.postgres, &store::MIGRATOR)),
        nats: &settings.nats,
        redis: None,
    };
    let readiness = needs.readiness();
    let http = tokio::spawn(serve_http(listeners.http, routes(readiness.clone()), shutdown.clone()));
    let Some(connected) = inbox_service::connect(needs, &readiness, &shutdown).await else {
        return Ok(http.await??);
    };
    let pool = connected.pool.ok_or_else(|| RunError::Other("postgres pool missing".into()))?;

    let (_health, router) = router_with_standard_services();
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router, shutdown.clone()));

    let consumer = tokio::spawn(run_consumer(
        connected.bus,
        ConsumerSpec::new(Stream::Events, "notification", "events.>"),
        Arc::new(events::record_notification_events(inbox_service::ledger::EventLedger::new(pool.clone()))),
        shutdown.clone(),
    ));

    consumer.await??;
    grpc.await??;
    http.await??;
    pool.close().await;
    Ok(())
}
