//! The routing service: who works on which conversation.
//!
//! Owns agents' working profiles, teams, memberships, capacity and the assignment history
//! (Postgres `inbox_routing`) and live availability (Redis, expiring). Consumes `events.>`
//! (durable consumer `routing`, batched): "needs human" conversations wait for their team and
//! go to an available member by the team's policy; closing frees capacity. Serves
//! `inbox.routing.v1.Routing` over gRPC and publishes `events.<tenant>.routing.*` through its
//! outbox. Rules: `docs/routing.md`.

pub mod api;
pub mod availability;
pub mod config;
pub mod domain;
pub mod events;
pub mod ids;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_proto::routing::v1::routing_server::RoutingServer;
use inbox_service::Role;
use inbox_service::callers::Grant;
use inbox_service::grpc::{ClientTls, ServiceAuth, client_channel, router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

use crate::availability::AvailabilityBook;
use crate::store::{OUTBOX_CHANNEL, RoutingStore};

/// Who may call routing over gRPC when `auth.callers` names them: the gateway for people;
/// notification and search read the agents (and search the teams) of a tenant.
pub const CALLERS: &[Grant] = &[
    Grant::everything("gateway"),
    Grant { caller: "notification", methods: &["/inbox.routing.v1.Routing/ListAgents"], roles: &[Role::Service] },
    Grant {
        caller: "search",
        methods: &["/inbox.routing.v1.Routing/ListAgents", "/inbox.routing.v1.Routing/ListTeams"],
        roles: &[Role::Service],
    },
];

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// [`run`] with "now" taken from `clock` (availability expiries, waiting times, round-robin
/// turns, the time of assignment changes).
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let needs = Needs {
        service: "routing",
        postgres: Some((&settings.postgres, &store::MIGRATOR)),
        nats: &settings.nats,
        redis: Some(&settings.redis),
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
    let redis = connected.redis.ok_or_else(|| RunError::Other("redis connection missing".into()))?;
    let bus = connected.bus;
    let store = RoutingStore::with_clock(pool.clone(), clock.clone());
    let book = AvailabilityBook::with_clock(redis, settings.redis.key_prefix.clone(), clock);
    let peer_tls = ClientTls::from_settings(&settings.grpc).map_err(|e| RunError::Other(e.to_string()))?;
    let conversations =
        client_channel(&settings.routing.conversation_url, &peer_tls).map_err(|e| RunError::Other(e.to_string()))?;

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let api = RoutingServer::with_interceptor(
        api::RoutingApi {
            store: store.clone(),
            book: book.clone(),
            bus: bus.clone(),
            conversations: ConversationsClient::new(conversations),
            service_token: settings.auth.service_token.clone(),
            bulk: api::BulkLimits {
                concurrency: settings.routing.bulk_concurrency,
                time_limit: Duration::from_millis(settings.routing.bulk_time_limit_ms),
            },
        },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router.add_service(api), shutdown.clone()));

    let mut spec = ConsumerSpec::new(Stream::Events, "routing", "events.>");
    spec.concurrency = settings.routing.event_concurrency;
    let consumer = tokio::spawn(run_consumer(
        bus.clone(),
        spec,
        Arc::new(events::DecideRoutingEvents::start(
            store.clone(),
            book.clone(),
            settings.routing.batch_workers,
            settings.routing.max_batch,
        )),
        shutdown.clone(),
    ));
    let sweeper = tokio::spawn(run_waiting_sweeper(
        store.clone(),
        book,
        Duration::from_secs(settings.routing.sweep_interval_seconds.max(1)),
        shutdown.clone(),
    ));
    let relay = tokio::spawn(inbox_service::outbox::run_relay(
        pool.clone(),
        bus,
        OUTBOX_CHANNEL,
        settings.routing.outbox_batch,
        shutdown.clone(),
    ));

    consumer.await?;
    sweeper.await?;
    relay.await?;
    grpc.await??;
    http.await??;
    pool.close().await;
    Ok(())
}

/// Routes waiting conversations every `interval`: availability that came back without a call
/// here (a refreshed key after an expiry) and capacity raised by an admin are caught within it.
async fn run_waiting_sweeper(
    store: RoutingStore,
    book: AvailabilityBook,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
        match store.teams_with_waiting(1_000).await {
            Ok(teams) => {
                for (tenant, team) in teams {
                    match store.route_waiting(tenant, &[team], &book).await {
                        Ok(0) => {}
                        Ok(routed) => {
                            tracing::info!(tenant_id = %tenant, team_id = %team, routed, "sweeper routed waiting conversations")
                        }
                        Err(e) => tracing::warn!(tenant_id = %tenant, team_id = %team, error = %e, "sweep failed"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_granted_method_is_one_the_protos_declare() {
        assert_eq!(inbox_service::callers::unknown_methods(super::CALLERS), Vec::<String>::new());
    }
}
