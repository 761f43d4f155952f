//! The search service: finding conversations, customers, messages and call transcripts.
//!
//! Owns a tantivy index on local disk (`search.index_dir`, no database), fed by `events.>`
//! (durable consumer `search-<replica>`, batched: one commit per batch, acked after it).
//! Serves `inbox.search.v1.Search` over gRPC: conversations in the query language of
//! docs/search.md (tenant and team scoping inside the index), customers, the questions
//! customers ask most, and rebuilds from the conversation service. Every replica keeps a full
//! copy. Rules and figures: `docs/search.md`.

pub mod api;
pub mod config;
pub mod documents;
pub mod domain;
pub mod error;
pub mod events;
pub mod index;
pub mod peers;
pub mod rebuild;

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{Bus, ConsumerSpec, Stream, run_consumer};
use inbox_service::callers::Grant;
use inbox_service::grpc::{ClientTls, ServiceAuth, router_with_standard_services, serve_grpc};
use inbox_service::ops::{Readiness, ReadinessCheck, nats_check, routes, serve_with_admin};
use inbox_service::{Clock, Listeners, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

use crate::index::{SearchIndex, WriterOptions};
use crate::rebuild::Rebuilds;

/// Who may call this service over gRPC when `auth.callers` names them: the gateway only.
pub const CALLERS: &[Grant] = &[Grant::everything("gateway")];

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// [`run`], with the time taken from `clock`.
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let s = &settings.search;
    let root = s.index_dir.clone();
    index::prepare_index_dir(&root)
        .await
        .map_err(|e| RunError::Other(format!("search index directory {}: {e}", root.display())))?;
    let replica = index::replica_id(&root).map_err(|e| RunError::Other(format!("search replica id: {e}")))?;
    let consumer = if s.consumer.is_empty() { format!("search-{replica}") } else { s.consumer.clone() };
    let options = WriterOptions { threads: s.writer_threads, memory_bytes: s.writer_memory_mb * 1024 * 1024 };
    let opened = tokio::task::spawn_blocking({
        let root = root.clone();
        move || SearchIndex::open(&root, options)
    })
    .await?;
    let index = Arc::new(opened.map_err(|e| RunError::Other(format!("search index: {e}")))?);
    tracing::info!(
        directory = %index.directory().display(),
        documents = index.documents(),
        conversations = index.tables().live_conversations(),
        bootstrapping = index.bootstrapping(),
        consumer = %consumer,
        "index open"
    );

    let readiness = Readiness::expecting(&["nats", "index"]);
    let http = tokio::spawn(serve_with_admin(
        listeners.http,
        routes(readiness.clone()),
        listeners.admin,
        readiness.clone(),
        &settings.http,
        shutdown.clone(),
    ));
    let bus = inbox_service::retry_until_ready("nats", &shutdown, || async {
        let bus = Bus::connect_with(&settings.nats, "inbox-search").await?;
        bus.ensure_streams().await?;
        Ok::<_, inbox_bus::BusError>(bus)
    })
    .await;
    let Some(bus) = bus else {
        return Ok(http.await??);
    };
    readiness.register("nats", nats_check(bus.clone())).await;

    let peers = Arc::new(
        peers::Peers::new(
            &s.conversation_url,
            &s.routing_url,
            &ClientTls::from_settings(&settings.grpc).map_err(|e| RunError::Other(e.to_string()))?,
            settings.auth.service_token.clone(),
            Duration::from_secs(s.directory_cache_seconds),
        )
        .map_err(|e| RunError::Other(e.to_string()))?,
    );
    let rebuilds = Rebuilds::new(index.clone(), peers.clone(), clock.clone(), s.rebuild_concurrency, shutdown.clone());

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let api = crate::proto::search_server::SearchServer::with_interceptor(
        api::SearchApi {
            index: index.clone(),
            peers: peers.clone(),
            rebuilds: rebuilds.clone(),
            bus: bus.clone(),
            clock: clock.clone(),
            consumer: consumer.clone(),
        },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router.add_service(api), shutdown.clone()));

    let mut spec = ConsumerSpec::new(Stream::Events, consumer.clone(), "events.>");
    spec.concurrency = s.event_concurrency;
    let consumer_task = tokio::spawn(run_consumer(
        bus.clone(),
        spec,
        Arc::new(events::IndexEvents::start(index.clone(), peers, rebuilds.clone(), s.max_batch)),
        shutdown.clone(),
    ));
    if index.bootstrapping() {
        start_bootstrap(&root, &index, &rebuilds);
    }
    let bootstrap = tokio::spawn(watch_bootstrap(index.clone(), rebuilds, bus, consumer, root, shutdown.clone()));
    readiness.register("index", index_check(index.clone())).await;

    consumer_task.await?;
    bootstrap.await?;
    grpc.await??;
    http.await??;
    Ok(())
}

/// Ready once the index has caught up after being created empty.
fn index_check(index: Arc<SearchIndex>) -> ReadinessCheck {
    Arc::new(move || {
        let bootstrapping = index.bootstrapping();
        Box::pin(async move { if bootstrapping { Err("catching up".into()) } else { Ok(()) } })
    })
}

/// An index created empty rebuilds the tenants it already holds (a restart while catching up)
/// and those of the previous schema version's index; tenants first seen in events follow.
fn start_bootstrap(root: &std::path::Path, index: &SearchIndex, rebuilds: &Arc<Rebuilds>) {
    let mut tenants = index.tables().tenant_list();
    for older in index::older_versions(root) {
        tenants.extend(rebuild::tenants_of_index(&older));
    }
    tenants.sort_unstable();
    tenants.dedup();
    tracing::info!(tenants = tenants.len(), "index created empty: rebuilding its tenants");
    for tenant in tenants {
        rebuilds.request(tenant);
    }
}

/// Ends the bootstrap once the consumer has nothing pending and no rebuild runs; then the
/// previous schema version's index is removed.
async fn watch_bootstrap(
    index: Arc<SearchIndex>,
    rebuilds: Arc<Rebuilds>,
    bus: Bus,
    consumer: String,
    root: std::path::PathBuf,
    shutdown: CancellationToken,
) {
    while index.bootstrapping() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if rebuilds.busy() {
            continue;
        }
        let pending = async {
            let stream = bus.jetstream().get_stream(Stream::Events.name()).await.ok()?;
            let mut consumer =
                stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>(&consumer).await.ok()?;
            let info = consumer.info().await.ok()?;
            Some(info.num_pending + info.num_ack_pending as u64)
        };
        if pending.await == Some(0) && !rebuilds.busy() {
            if let Err(e) = index.finish_bootstrap() {
                tracing::warn!(error = %e, "cannot mark the index caught up");
                continue;
            }
            for older in index::older_versions(&root) {
                match std::fs::remove_dir_all(&older) {
                    Ok(()) => tracing::info!(directory = %older.display(), "previous index version removed"),
                    Err(e) => tracing::warn!(directory = %older.display(), error = %e, "cannot remove previous index"),
                }
            }
            tracing::info!("index caught up");
        }
    }
}

/// The `inbox.search.v1` protobuf types and gRPC stubs.
#[allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/inbox.search.v1.rs"));
}
