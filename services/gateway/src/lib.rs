//! The gateway: the fleet's public edge for people and their clients. It authenticates
//! (people's sign-in sessions, machines' API keys, the operator token), enforces roles and
//! tenant isolation, serves the REST API under `/v1` by calling the services over gRPC, and
//! pushes live events over WebSocket.

pub mod access;
pub mod api;
pub mod auth;
pub mod config;
pub mod live;
pub mod store;
pub mod web;

use std::sync::Arc;

use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::conversation::v1::customers_client::CustomersClient;
use inbox_proto::conversation::v1::exports_client::ExportsClient;
use inbox_proto::conversation::v1::templates_client::TemplatesClient;
use inbox_proto::ingest::v1::channel_accounts_client::ChannelAccountsClient;
use inbox_proto::ingest::v1::channel_deliveries_client::ChannelDeliveriesClient;
use inbox_proto::ingest::v1::webchat_visitors_client::WebchatVisitorsClient;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_proto::search::v1::search_client::SearchClient;
use inbox_service::grpc::{ClientTls, client_channel, router_with_standard_services, serve_grpc};
use inbox_service::http_edge::WhenReady;
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Runs the gateway until `shutdown`, on the system clock.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// Runs the gateway until `shutdown`, issuing and checking tokens at the time `clock` tells.
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let needs = Needs {
        service: "gateway",
        postgres: Some((&settings.postgres, &store::MIGRATOR)),
        nats: &settings.nats,
        redis: Some(&settings.redis),
    };
    // Ready only once the API's state is set too, not merely when the stores answer: a client
    // (or a test) that waited for /readyz must never be told the service is starting.
    let readiness = inbox_service::Readiness::expecting(&["nats", "postgres", "redis", "api"]);
    let state = WhenReady::default();
    let visibility = axum::middleware::from_fn_with_state(state.clone(), api::access::scope_visibility);
    let public = api::routes().layer(visibility).merge(live::routes()).merge(web::routes()).with_state(state.clone());
    let router = routes(readiness.clone()).merge(public);
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
    let redis = connected.redis.ok_or_else(|| RunError::Other("redis connection missing".into()))?;
    let peer_tls = ClientTls::from_settings(&settings.grpc).map_err(|e| RunError::Other(e.to_string()))?;
    let conversations =
        client_channel(&settings.gateway.conversation_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?;
    let channel_ingest =
        client_channel(&settings.gateway.channel_ingest_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?;
    let routing =
        client_channel(&settings.gateway.routing_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?;
    let (live, live_tasks) = live::Live::start(live::LiveParts {
        settings: settings.live.clone(),
        bus: connected.bus.clone(),
        redis: redis.clone(),
        redis_prefix: settings.redis.key_prefix.clone(),
        clock: clock.clone(),
        routing: RoutingClient::new(routing.clone()),
        service_token: settings.auth.service_token.clone(),
        shutdown: shutdown.clone(),
    });
    let access = access::Access::new(
        access::AccessStore::new(pool.clone()),
        RoutingClient::new(routing.clone()),
        settings.auth.service_token.clone(),
        settings.live.visibility_cache(),
    );

    let gateway_store = store::GatewayStore::new(pool.clone());
    let auth = auth::Auth::new(auth::AuthParts {
        jwt_secret: settings.gateway.jwt_secret.clone(),
        operator_token: settings.gateway.operator_token.clone(),
        store: gateway_store.clone(),
        clock: clock.clone(),
        redis: redis.clone(),
        redis_prefix: settings.redis.key_prefix.clone(),
        nats: connected.bus.client().clone(),
        policy: settings.gateway.auth_policy(),
    })
    .map_err(|e| RunError::Other(e.to_string()))?;
    let revocations = tokio::spawn(
        auth::revocation_listener(auth.clone(), shutdown.clone()).await.map_err(|e| RunError::Other(e.to_string()))?,
    );
    let key_uses = tokio::spawn(auth::write_key_uses(auth.clone(), shutdown.clone()));

    state.set(api::AppState {
        inner: Arc::new(api::AppInner {
            store: gateway_store,
            auth,
            clock,
            service_token: settings.auth.service_token.clone(),
            customers: CustomersClient::new(conversations.clone()),
            templates: TemplatesClient::new(conversations.clone()),
            exports: ExportsClient::new(conversations.clone()),
            conversations: ConversationsClient::new(conversations),
            channel_accounts: ChannelAccountsClient::new(channel_ingest.clone()),
            webchat_visitors: WebchatVisitorsClient::new(channel_ingest.clone()),
            channel_deliveries: ChannelDeliveriesClient::new(channel_ingest),
            nats: connected.bus.client().clone(),
            routing: RoutingClient::new(routing),
            metrics: inbox_metrics::proto::metrics_client::MetricsClient::new(
                client_channel(&settings.gateway.metrics_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?,
            ),
            notification: inbox_notification::proto::notifications_client::NotificationsClient::new(
                client_channel(&settings.gateway.notification_url, &peer_tls)
                    .map_err(|e| RunError::Other(e.to_string()))?,
            ),
            search: SearchClient::new(
                client_channel(&settings.gateway.search_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?,
            ),
            live,
            access: Arc::new(access),
            redis,
            redis_prefix: settings.redis.key_prefix.clone(),
            token_ttl: chrono::Duration::hours(settings.gateway.token_ttl_hours),
        }),
    });

    readiness.mark_ready("api").await;
    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router, shutdown.clone()));
    grpc.await??;
    http.await??;
    for task in live_tasks {
        task.await?;
    }
    revocations.await?;
    key_uses.await?;
    pool.close().await;
    Ok(())
}
