//! Live push: events of the JetStream `EVENTS` stream (each once, with its stream sequence,
//! replayable after a reconnect), agents' and customers' typing (`typing.>`), who is viewing
//! what (`presence.>`) and each person's notifications (`notify.>`, to that person only),
//! fanned out to each tenant's WebSockets, each socket filtered to what its holder may see;
//! and presence (availability on real transitions, across replicas).
//!
//! Modules depend downward: [`directory`], [`coalesce`], [`limit`], [`settings`] (pure) ←
//! [`frame`] (what a socket is sent, and to whom) ← [`viewers`], [`hub`], [`replay`],
//! [`presence`] ← [`socket`].

pub mod coalesce;
pub mod directory;
pub mod frame;
pub mod hub;
pub mod limit;
pub mod notifications;
pub mod presence;
pub mod replay;
pub mod settings;
pub mod socket;
mod upkeep;
pub mod viewers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use inbox_config::Secret;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::Clock;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

pub use hub::LiveHub;
pub use settings::LiveSettings;
pub use socket::routes;

use hub::HubLimits;
use presence::{Presence, PresenceTimings};
use viewers::Viewers;

/// Everything live of this replica.
pub struct Live {
    pub hub: Arc<LiveHub>,
    pub presence: Arc<Presence>,
    pub viewers: Arc<Viewers>,
    pub settings: LiveSettings,
    pub jetstream: async_nats::jetstream::Context,
    /// Fires when the replica stops: sockets close ("going away") and clients reconnect to
    /// another replica.
    pub shutdown: CancellationToken,
    replica: Uuid,
    sockets: AtomicU64,
}

/// What the live part needs from the running gateway.
pub struct LiveParts {
    pub settings: LiveSettings,
    pub bus: inbox_bus::Bus,
    pub redis: redis::aio::ConnectionManager,
    pub redis_prefix: String,
    pub clock: Clock,
    pub routing: RoutingClient<Channel>,
    pub service_token: Secret,
    pub shutdown: CancellationToken,
}

impl Live {
    /// Starts the relays from the bus, the hub's ticks, presence upkeep and the viewers'
    /// sweeper; they run until `shutdown`.
    pub fn start(parts: LiveParts) -> (Arc<Live>, Vec<JoinHandle<()>>) {
        let LiveParts { settings, bus, redis, redis_prefix, clock, routing, service_token, shutdown } = parts;
        let hub = Arc::new(LiveHub::new(HubLimits {
            queue: settings.socket_queue_frames,
            memory: settings.replay_memory_frames,
            replay_limit: settings.replay_limit,
            availability_interval: settings.availability_interval(),
        }));
        let presence = Arc::new(Presence::new(
            redis.clone(),
            redis_prefix.clone(),
            clock.clone(),
            PresenceTimings {
                grace: settings.presence_grace(),
                ttl: settings.presence_ttl(),
                hold: settings.availability_hold(),
                max_sockets: settings.max_sockets_per_user,
            },
            routing,
            service_token,
            shutdown.clone(),
        ));
        let viewers = Arc::new(Viewers::new(redis, redis_prefix, clock, settings.viewer_ttl(), bus.client().clone()));
        let tasks = vec![
            tokio::spawn(hub::relay_events_to_hub(bus.jetstream().clone(), hub.clone(), shutdown.clone())),
            tokio::spawn(hub::relay_signals_to_hub(
                bus.client().clone(),
                hub.clone(),
                inbox_bus::subjects::TYPING,
                shutdown.clone(),
            )),
            tokio::spawn(hub::relay_signals_to_hub(
                bus.client().clone(),
                hub.clone(),
                viewers::PRESENCE,
                shutdown.clone(),
            )),
            tokio::spawn(notifications::relay_notifications_to_hub(
                bus.client().clone(),
                hub.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(hub::tick_hub(hub.clone(), shutdown.clone())),
            tokio::spawn(presence::keep_presence(presence.clone(), shutdown.clone())),
            tokio::spawn(viewers::sweep_viewers(viewers.clone(), shutdown.clone())),
        ];
        let live = Live {
            hub,
            presence,
            viewers,
            settings,
            jetstream: bus.jetstream().clone(),
            shutdown,
            replica: Uuid::now_v7(),
            sockets: AtomicU64::new(0),
        };
        (Arc::new(live), tasks)
    }

    /// An id for a new socket, unique across replicas.
    pub fn next_socket_id(&self) -> String {
        format!("{}:{}", self.replica.simple(), self.sockets.fetch_add(1, Ordering::Relaxed))
    }
}
