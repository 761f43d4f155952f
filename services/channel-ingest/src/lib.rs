//! channel-ingest: the fleet's gateway to the customer channels. Stateless (every replica is
//! equal), it checks provider signatures, archives raw payloads, normalises them to protobuf
//! and publishes them on `ingest.<channel>.<tenant>`. Channel accounts and their secrets live
//! in its own database and are managed over gRPC (`inbox.ingest.v1.ChannelAccounts`). It also
//! serves the web chat widget and its visitors (`webchat`): their API, their sockets, and the
//! delivery of agents' replies and typing to them.

pub mod api;
pub mod config;
pub mod error;
pub mod events;
pub mod https;
pub mod ids;
pub mod ingest;
pub mod metrics;
pub mod outbound;
pub mod redact;
pub mod replay;
pub mod secrets;
pub mod store;
pub mod twilio;
pub mod webchat;
pub mod whatsapp;

use inbox_proto::ingest::v1::channel_accounts_server::ChannelAccountsServer;
use inbox_proto::ingest::v1::channel_deliveries_server::ChannelDeliveriesServer;
use inbox_proto::ingest::v1::webchat_visitors_server::WebchatVisitorsServer;
use inbox_service::callers::Grant;
use inbox_service::grpc::{ServiceAuth, router_with_standard_services, serve_grpc};
use inbox_service::http_edge::WhenReady;
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Who may call channel-ingest over gRPC when `auth.callers` names them: the gateway only.
pub const CALLERS: &[Grant] = &[Grant::everything("gateway")];

/// Runs channel-ingest until `shutdown`; in-flight webhooks finish first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// Like [`run`], with "now" taken from `clock` (a manual clock in tests).
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let secret_keys = settings.secrets.keys().map_err(|e| RunError::Other(e.to_string()))?;
    let trusted_proxies = settings.webchat.trusted_proxies().map_err(|e| RunError::Other(e.to_string()))?;
    let needs = Needs {
        service: "channel-ingest",
        postgres: Some((&settings.postgres, &store::MIGRATOR)),
        nats: &settings.nats,
        redis: Some(&settings.redis),
    };
    // Ready only once the routes' state is set, not merely when the stores answer: a provider
    // (or a test) that waited for /readyz must never be told the service is starting.
    let readiness = needs.readiness_with(&["api"]);
    let webhook_context = WhenReady::default();
    let webchat_context = WhenReady::default();
    let router = routes(readiness.clone())
        .merge(api::webhook_routes(webhook_context.clone(), settings.ingest.max_body_bytes))
        .merge(api::webchat::routes(webchat_context.clone()));
    let http = tokio::spawn(serve_with_admin(
        listeners.http,
        router,
        listeners.admin,
        readiness.clone(),
        &settings.http,
        shutdown.clone(),
    ));
    let Some(connected) = inbox_service::connect(needs, &readiness, &shutdown).await else {
        return Ok(http.await??);
    };
    let pool = connected.pool.ok_or_else(|| RunError::Other("postgres pool missing".into()))?;
    let store = store::IngestStore::with_clock(pool.clone(), clock).with_secrets(secret_keys);
    // Before anything reads an account: secrets still in the clear (written before sealing) or
    // under an older key are sealed under the active key; rows under a key no longer
    // configured stop the start, naming it.
    let sealed = store.seal_secrets().await.map_err(|e| RunError::Other(format!("sealing channel secrets: {e}")))?;
    if sealed != store::SealReport::default() {
        tracing::info!(
            sealed = sealed.sealed,
            resealed = sealed.resealed,
            "channel secrets sealed under the active key"
        );
    }
    let bus = connected.bus;
    let redis = connected.redis.ok_or_else(|| RunError::Other("redis connection missing".into()))?;
    let archive = store::ArchiveBatcher::start(store.clone(), settings.ingest.archive_synchronous_commit);
    webhook_context.set(api::WebhookContext {
        store: store.clone(),
        bus: bus.clone(),
        archive: archive.clone(),
        twilio_public_base_url: settings.twilio.public_base_url.trim_end_matches('/').to_owned(),
    });
    let hub = std::sync::Arc::new(webchat::hub::VisitorHub::default());
    webchat_context.set(std::sync::Arc::new(api::webchat::WebchatContext {
        store: store.clone(),
        bus: bus.clone(),
        archive,
        hub: hub.clone(),
        limiter: webchat::rate_limit::RateLimiter::new(redis.clone(), settings.redis.key_prefix.clone()),
        tickets: webchat::tickets::SocketTickets::new(redis, settings.redis.key_prefix.clone()),
        settings: settings.webchat.clone(),
        trusted_proxies,
        shutdown: shutdown.clone(),
    }));
    readiness.mark_ready("api").await;
    let visitor_relay =
        tokio::spawn(webchat::hub::relay_visitor_frames(bus.clone(), store.clone(), hub, shutdown.clone()));
    let webchat_deliverer = webchat::outbound::spawn_webchat_deliverer(
        webchat::outbound::WebchatDeliverer { store: store.clone(), bus: bus.clone(), replica: uuid::Uuid::new_v4() },
        bus.clone(),
        shutdown.clone(),
    );

    let w = &settings.whatsapp;
    let graph = whatsapp::graph::GraphClient::new(
        &w.graph_base_url,
        &w.graph_api_version,
        std::time::Duration::from_millis(w.request_timeout_ms),
    )
    .map_err(|e| RunError::Other(format!("graph api client: {e}")))?;
    let sender = outbound::spawn_whatsapp_sender(
        outbound::WhatsAppSender {
            store: store.clone(),
            bus: bus.clone(),
            graph: graph.clone(),
            settings: w.clone(),
            replica: uuid::Uuid::new_v4(),
            max_deliver: 0,
        },
        bus.clone(),
        shutdown.clone(),
    );

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let auth = ServiceAuth::new(&settings.auth, CALLERS);

    let visitors = WebchatVisitorsServer::with_interceptor(
        api::visitors::WebchatVisitorsApi { store: store.clone() },
        auth.clone(),
    );
    let twilio = twilio::rest::TwilioRest::new(
        &settings.twilio.api_base_url,
        std::time::Duration::from_millis(settings.twilio.request_timeout_ms),
    )
    .map_err(|e| RunError::Other(format!("twilio api client: {e}")))?;
    let accounts = ChannelAccountsServer::with_interceptor(
        api::accounts::ChannelAccountsApi {
            store: store.clone(),
            twilio_verifier: settings.twilio.verify_numbers.then(|| twilio.clone()),
            graph_verifier: settings.whatsapp.verify_numbers.then(|| graph.clone()),
        },
        auth.clone(),
    );
    let deliveries = ChannelDeliveriesServer::with_interceptor(
        api::deliveries::ChannelDeliveriesApi {
            store,
            bus,
            graph,
            twilio,
            twilio_public_base_url: settings.twilio.public_base_url.trim_end_matches('/').to_owned(),
        },
        auth,
    );
    let grpc = tokio::spawn(serve_grpc(
        listeners.grpc,
        router.add_service(accounts).add_service(deliveries).add_service(visitors),
        shutdown.clone(),
    ));
    grpc.await??;
    http.await??;
    let _ = sender.await;
    let _ = webchat_deliverer.await;
    let _ = visitor_relay.await;
    pool.close().await;
    Ok(())
}
