//! The conversation service: owner of customers, conversations and messages.
//!
//! Consumes `ingest.>` (durable consumer `conversation`), stores each inbound message exactly
//! once with its events in the same transaction, relays the outbox to `events.>`, applies the
//! tenants' automatic status rules, and serves
//! `inbox.conversation.v1.Conversations` and `inbox.conversation.v1.Customers` over gRPC.

pub mod api;
pub mod config;
pub mod domain;
pub mod events;
pub mod store;

use std::sync::Arc;

use inbox_bus::{ConsumerSpec, Stream, run_consumer};
use inbox_proto::conversation::v1::conversations_server::ConversationsServer;
use inbox_proto::conversation::v1::customers_server::CustomersServer;
use inbox_proto::conversation::v1::exports_server::ExportsServer;
use inbox_proto::conversation::v1::templates_server::TemplatesServer;
use inbox_service::Role;
use inbox_service::callers::{ALL_ROLES, Grant};
use inbox_service::grpc::{ServiceAuth, router_with_standard_services, serve_grpc};
use inbox_service::ops::{routes, serve_with_admin};
use inbox_service::{Clock, Listeners, Needs, RunError};
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// Who may call conversation over gRPC when `auth.callers` names them: the gateway for
/// people; routing reads the conversations it assigns (with the person's role it acts for);
/// metrics reads history for rebuilds and time zones and sends the CSAT survey; search reads
/// history for its index, tenant settings and customers.
pub const CALLERS: &[Grant] = &[
    Grant::everything("gateway"),
    Grant {
        caller: "routing",
        methods: &[
            "/inbox.conversation.v1.Conversations/GetConversation",
            "/inbox.conversation.v1.Conversations/ListConversations",
        ],
        roles: ALL_ROLES,
    },
    Grant {
        caller: "metrics",
        methods: &[
            "/inbox.conversation.v1.Conversations/GetConversation",
            "/inbox.conversation.v1.Conversations/ListConversations",
            "/inbox.conversation.v1.Conversations/ListMessages",
            "/inbox.conversation.v1.Conversations/ListStatusChanges",
            "/inbox.conversation.v1.Conversations/GetTenantSettings",
            "/inbox.conversation.v1.Conversations/SendMessage",
        ],
        roles: &[Role::Service],
    },
    Grant {
        caller: "search",
        methods: &[
            "/inbox.conversation.v1.Conversations/ListConversations",
            "/inbox.conversation.v1.Conversations/ListMessages",
            "/inbox.conversation.v1.Conversations/GetTenantSettings",
            "/inbox.conversation.v1.Customers/GetCustomer",
        ],
        roles: &[Role::Service, Role::Admin],
    },
];

/// Runs the service on `listeners` until `shutdown`; in-flight work finishes first.
pub async fn run(settings: Settings, listeners: Listeners, shutdown: CancellationToken) -> Result<(), RunError> {
    run_with_clock(settings, listeners, shutdown, Clock::system()).await
}

/// [`run`] with "now" taken from `clock` by every rule and timestamp of the service.
pub async fn run_with_clock(
    settings: Settings,
    listeners: Listeners,
    shutdown: CancellationToken,
    clock: Clock,
) -> Result<(), RunError> {
    let needs = Needs {
        service: "conversation",
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
    let store = store::ConversationStore::with_clock(pool.clone(), clock);

    let (_health, router) = router_with_standard_services(&settings.grpc)?;
    let api = ConversationsServer::with_interceptor(
        api::ConversationsApi { store: store.clone() },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let templates = TemplatesServer::with_interceptor(
        api::TemplatesApi { store: store.clone() },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let exports =
        ExportsServer::with_interceptor(api::ExportsApi::new(store.clone()), ServiceAuth::new(&settings.auth, CALLERS));
    let customers = CustomersServer::with_interceptor(
        api::CustomersApi { store: store.clone() },
        ServiceAuth::new(&settings.auth, CALLERS),
    );
    let router = router.add_service(api).add_service(templates).add_service(exports).add_service(customers);
    let grpc = tokio::spawn(serve_grpc(listeners.grpc, router, shutdown.clone()));

    let mut spec = ConsumerSpec::new(Stream::Ingest, "conversation", "ingest.>");
    spec.concurrency = settings.conversation.ingest_concurrency;
    let consumer = tokio::spawn(run_consumer(
        bus.clone(),
        spec,
        Arc::new(events::StoreInboundMessages::start(
            store.clone(),
            settings.conversation.batch_workers,
            settings.conversation.max_batch,
        )),
        shutdown.clone(),
    ));
    // The assignment read model follows routing's decisions.
    let follower = tokio::spawn(run_consumer(
        bus.clone(),
        ConsumerSpec::new(Stream::Events, "conversation-routing", events::ROUTING_ASSIGNMENTS),
        Arc::new(events::FollowRoutingAssignments::new(store.clone())),
        shutdown.clone(),
    ));
    let sweeper = tokio::spawn(events::run_status_sweeper(
        store.clone(),
        std::time::Duration::from_secs(settings.conversation.sweep_interval_seconds.max(1)),
        shutdown.clone(),
    ));
    let relay = tokio::spawn(inbox_service::outbox::run_relay(
        pool.clone(),
        bus,
        store::OUTBOX_CHANNEL,
        settings.conversation.outbox_batch,
        shutdown.clone(),
    ));

    // The consumer stops pulling and acks what it finished; the relay then drains the outbox.
    consumer.await?;
    follower.await?;
    sweeper.await?;
    relay.await?;
    grpc.await??;
    http.await??;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_granted_method_is_one_the_protos_declare() {
        assert_eq!(inbox_service::callers::unknown_methods(super::CALLERS), Vec::<String>::new());
    }
}
