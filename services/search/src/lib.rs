//! The search service: finding conversations, customers and messages.
//!
//! It will own a tantivy index on local disk (`search.index_dir`), built from `events.>`, answer
//! free-text and field queries (`phone:`, `email:`, `status:`...) over `inbox.search.v1` gRPC,
//! and backfill or reindex on request. It owns no database.
//! For now it prepares the index directory, reports health (readiness is NATS alone), and
//! consumes `events.>` (durable consumer `search`), counting each event.

pub mod config;
pub mod events;
pub mod index;

use std::sync::Arc;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_service::grpc::{router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_http};
use inbox_service::{Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    let index_dir = &settings.search.index_dir;
    index::prepare_index_dir(index_dir)
        .await
        .map_err(|e| RunError::Other(format!("search index directory {}: {e}", index_dir.display())))?;

    let needs = Needs { service: "search", postgres: None, nats: &settings.nats, redis: None };
    let readiness = needs.readiness();
    let http = tokio::spawn(serve_http(listeners.http, routes(readiness.clone()), shutdown.clone()));
    let Some(connected) = inbox_service::connect(needs, &readiness, &shutdown).await else {
        return Ok(http.await??);
    };

    let (_health, router) = router_with_standard_services();
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router, shutdown.clone()));

    let consumer = tokio::spawn(run_consumer(
        connected.bus,
        ConsumerSpec::new(Stream::Events, "search", "events.>"),
        Arc::new(events::CountSearchEvents),
        shutdown.clone(),
    ));

    consumer.await??;
    grpc.await??;
    http.await??;
    Ok(())
}
