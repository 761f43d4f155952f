//! The notification service: who hears about what, and how.
//!
//! Owns notifications, per-agent preferences, browser push subscriptions, SLA policies and
//! timers, and outbound webhooks (Postgres `inbox_notification`). Consumes `events.>` (durable
//! `notification`, batched): each event becomes notifications by type, recipient and
//! preference (pushed live on core NATS `notify.<tenant>.<user>` and by Web Push), re-plans
//! the conversation's SLA clocks, and queues signed webhook deliveries. Fires SLA warnings
//! and breaches once across replicas (`events.<tenant>.sla.*` through its outbox). Serves
//! `inbox.notification.v1.Notifications` over gRPC. Rules: `docs/notifications.md`,
//! `docs/webhooks.md`.

pub mod api;
pub mod config;
pub mod delivery;
pub mod directory;
pub mod domain;
pub mod events;
pub mod proto;
pub mod store;
pub mod timers;

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_service::callers::Grant;
use inbox_service::grpc::{ClientTls, ServiceAuth, client_channel, router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

use crate::delivery::http::OutboundHttp;
use crate::delivery::push::PushSender;
use crate::delivery::webhooks::WebhookSender;
use crate::delivery::webpush::VapidKey;
use crate::directory::People;
use crate::store::{NotificationStore, OUTBOX_CHANNEL};

/// Who may call this service over gRPC when `auth.callers` names them: the gateway only.
pub const CALLERS: &[Grant] = &[Grant::everything("gateway")];

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// [`run`] with "now" taken from `clock` (tests move it).
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let needs = Needs {
        service: "notification",
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
    let bus = connected.bus;
    let other = |e: String| RunError::Other(e);
    let store = NotificationStore::new(pool.clone(), clock)
        .with_webhook_retry(chrono::Duration::hours(settings.webhooks.retry_hours));
    let peer_tls = ClientTls::from_settings(&settings.grpc).map_err(|e| other(e.to_string()))?;
    let routing = client_channel(&settings.notification.routing_url, &peer_tls).map_err(|e| other(e.to_string()))?;
    let people = People::new(
        routing,
        settings.auth.service_token.clone(),
        Duration::from_secs(settings.notification.directory_ttl_seconds),
    );
    let vapid = Arc::new(vapid_key(&settings, &store).await?);

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let api = crate::proto::notifications_server::NotificationsServer::with_interceptor(
        api::NotificationsApi { store: store.clone(), people: people.clone(), vapid: vapid.clone() },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router.add_service(api), shutdown.clone()));

    let mut spec = ConsumerSpec::new(Stream::Events, "notification", "events.>");
    spec.concurrency = settings.notification.event_concurrency;
    let consumer = tokio::spawn(run_consumer(
        bus.clone(),
        spec,
        Arc::new(events::HandleEvents::start(
            store.clone(),
            people.clone(),
            bus.client().clone(),
            settings.notification.batch_workers,
            settings.notification.max_batch,
        )),
        shutdown.clone(),
    ));
    let timers = tokio::spawn(timers::run_sla_timers(
        store.clone(),
        people.clone(),
        bus.client().clone(),
        Duration::from_millis(settings.sla.tick_ms),
        settings.sla.fire_batch,
        shutdown.clone(),
    ));
    let webhook_http = OutboundHttp::new(Duration::from_secs(settings.webhooks.timeout_seconds)).map_err(other)?;
    let webhooks = tokio::spawn(
        WebhookSender {
            store: store.clone(),
            http: webhook_http,
            people: people.clone(),
            nats: bus.client().clone(),
            settings: settings.webhooks.clone(),
        }
        .run(shutdown.clone()),
    );
    let push_http = OutboundHttp::new(Duration::from_secs(settings.push.timeout_seconds)).map_err(other)?;
    let push = tokio::spawn(
        PushSender {
            store: store.clone(),
            http: push_http,
            vapid,
            subject: settings.push.vapid_subject.clone(),
            ttl_seconds: settings.push.ttl_seconds,
            max_attempts: settings.push.max_attempts,
            concurrency: settings.push.concurrency,
            tick: Duration::from_millis(settings.webhooks.tick_ms),
        }
        .run(shutdown.clone()),
    );
    let relay = tokio::spawn(inbox_service::outbox::run_relay(
        pool.clone(),
        bus,
        OUTBOX_CHANNEL,
        settings.notification.outbox_batch,
        shutdown.clone(),
    ));

    consumer.await?;
    timers.await?;
    webhooks.await?;
    push.await?;
    relay.await?;
    grpc.await??;
    http.await??;
    pool.close().await;
    Ok(())
}

/// The configured VAPID key, else the one in the store (made by the first replica).
async fn vapid_key(settings: &Settings, store: &NotificationStore) -> Result<VapidKey, RunError> {
    let configured = settings.push.vapid_private_key.expose();
    if !configured.is_empty() {
        return VapidKey::from_base64(configured).map_err(|e| RunError::Other(e.to_string()));
    }
    let stored = store.vapid_key(&VapidKey::generate().to_bytes()).await.map_err(|e| RunError::Other(e.to_string()))?;
    VapidKey::from_bytes(&stored).map_err(|e| RunError::Other(e.to_string()))
}
