//! The metrics service: how the support team is doing.
//!
//! Consumes `events.>` (durable consumer `metrics`, batched) and keeps, per conversation, the
//! timeline of facts that start and stop its clocks and what it contributed to the rollups:
//! hour and day buckets in the tenant's time zone, for the tenant, each channel, team and agent,
//! with counters and mergeable sketches (Postgres `inbox_metrics`). Serves `inbox.metrics.v1`
//! over gRPC (reports, live figures, CSV, CSAT settings, rebuilds), sends CSAT surveys when a
//! person resolves a conversation. Definitions: `docs/metrics.md`.

pub mod api;
pub mod config;
pub mod domain;
pub mod events;
pub mod proto;
pub mod rebuild;
pub mod store;
pub mod survey;
pub mod zones;

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_service::callers::Grant;
use inbox_service::grpc::{ClientTls, ServiceAuth, client_channel, router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

use crate::proto::metrics_server::MetricsServer;
use crate::rebuild::Rebuilder;
use crate::store::MetricsStore;
use crate::survey::SurveySender;
use crate::zones::TenantZones;

/// Who may call this service over gRPC when `auth.callers` names them: the gateway only.
pub const CALLERS: &[Grant] = &[Grant::everything("gateway")];

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// [`run`] with the clock "now" comes from (a manual clock in tests).
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let needs = Needs {
        service: "metrics",
        postgres: Some((&settings.postgres, &store::MIGRATOR)),
        nats: &settings.nats,
        redis: None,
    };
    let readiness = needs.readiness();
    let http = tokio::spawn(serve_with_admin(
        listeners.http,
        routes(readiness.clone()),
        listeners.admin,
        readiness.clone(),
        &settings.http,
        shutdown.clone(),
    ));
    let Some(connected) = inbox_service::connect(needs, &readiness, &shutdown).await else {
        return Ok(http.await??);
    };
    let pool = connected.pool.ok_or_else(|| RunError::Other("postgres pool missing".into()))?;
    let m = &settings.metrics;
    let store = MetricsStore::new(pool.clone(), clock);
    let peer_tls = ClientTls::from_settings(&settings.grpc).map_err(|e| RunError::Other(e.to_string()))?;
    let conversations = ConversationsClient::new(
        client_channel(&m.conversation_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?,
    );
    let token = settings.auth.service_token.clone();
    let zones =
        TenantZones::new(conversations.clone(), token.clone(), store.clone(), Duration::from_secs(m.zone_ttl_seconds));
    let rebuilder = Rebuilder {
        store: store.clone(),
        zones: zones.clone(),
        conversations: conversations.clone(),
        token: token.clone(),
        concurrency: m.rebuild_concurrency,
    };

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let api = MetricsServer::with_interceptor(
        api::MetricsApi { store: store.clone(), zones: zones.clone(), rebuilder },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router.add_service(api), shutdown.clone()));

    let mut spec = ConsumerSpec::new(Stream::Events, "metrics", "events.>");
    spec.concurrency = m.event_concurrency;
    let consumer = tokio::spawn(run_consumer(
        connected.bus,
        spec,
        Arc::new(events::FoldEvents::start(store.clone(), zones, m.batch_workers, m.max_batch)),
        shutdown.clone(),
    ));
    let surveys = tokio::spawn(
        SurveySender { store, conversations, token }.run(Duration::from_millis(m.survey_interval_ms), shutdown.clone()),
    );

    consumer.await?;
    surveys.await?;
    grpc.await??;
    http.await??;
    pool.close().await;
    Ok(())
}
