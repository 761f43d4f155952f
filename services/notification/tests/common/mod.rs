//! A small world for the notification service's tests: the real routing service (people and
//! teams) and one or more notification replicas in-process, on their own databases, one
//! private JetStream server and a Redis key prefix, with one manual clock the test moves.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test binary uses part of it

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_notification::proto as pb;
use inbox_notification::proto::notifications_client::NotificationsClient;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content};
use inbox_proto::conversation::v1::{
    Contact, Conversation, ConversationStatus, Message, Priority, SenderKind, StatusChange,
};
use inbox_proto::events::v1::{
    AssignmentChanged, ConversationCreated, ConversationUpdated, MessageCreated, StatusChanged,
};
use inbox_proto::routing::v1 as routing;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::{CallContext, Clock, Listeners, Role, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TOKEN: &str = "notification-test-service-token";

/// A Monday morning far from any clock change; the tests' clock starts here.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, 6, 9, 0, 0).unwrap()
}

pub struct Replica {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// The admin listener: `/metrics`.
    pub admin: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), inbox_service::RunError>>,
}

impl Replica {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(20), self.task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "replica did not stop cleanly: {stopped:?}");
    }

    pub async fn client(&self) -> NotificationsClient<tonic::transport::Channel> {
        NotificationsClient::connect(format!("http://{}", self.grpc)).await.unwrap()
    }
}

pub struct World {
    pub db: TestDatabase,
    _routing_db: TestDatabase,
    pub nats: TestNats,
    _redis: TestRedis,
    pub bus: Bus,
    pub clock: Clock,
    pub routing_url: String,
    routing_shutdown: CancellationToken,
    pub tenant: Uuid,
    pub extra_env: Vec<(String, String)>,
}

impl World {
    pub async fn start(name: &str) -> World {
        Self::start_with(name, &[]).await
    }

    /// With extra notification settings, e.g. `("INBOX__WEBHOOKS__TIMEOUT_SECONDS", "2")`.
    pub async fn start_with(name: &str, extra: &[(&str, &str)]) -> World {
        let db = TestDatabase::create(name).await.unwrap();
        let routing_db = db.sibling("routing");
        let nats = TestNats::start().await.unwrap();
        let redis = TestRedis::start().await.unwrap();
        let env = HashMap::from([
            ("INBOX__POSTGRES__URL".to_owned(), routing_db.url()),
            ("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "4".to_owned()),
            ("INBOX__NATS__URL".to_owned(), nats.url()),
            ("INBOX__REDIS__URL".to_owned(), redis.url().to_owned()),
            ("INBOX__REDIS__KEY_PREFIX".to_owned(), redis.key_prefix().to_owned()),
            ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
            ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
            ("INBOX__ROUTING__SWEEP_INTERVAL_SECONDS".to_owned(), "3600".to_owned()),
        ]);
        let settings: inbox_routing::Settings =
            inbox_config::load(inbox_routing::Settings::DEFAULTS, None, &env).unwrap();
        let listeners = Listeners::ephemeral().await.unwrap();
        let (http, grpc) = (listeners.http.local_addr().unwrap(), listeners.grpc.local_addr().unwrap());
        let routing_shutdown = CancellationToken::new();
        tokio::spawn(inbox_routing::run(settings, listeners, routing_shutdown.clone()));
        wait_ready(http).await;
        let bus = Bus::connect(&nats.url(), "notification-test").await.unwrap();
        bus.ensure_streams().await.unwrap();
        World {
            db,
            _routing_db: routing_db,
            nats,
            _redis: redis,
            bus,
            clock: Clock::manual(start_time()),
            routing_url: format!("http://{grpc}"),
            routing_shutdown,
            tenant: Uuid::now_v7(),
            extra_env: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Starts a notification replica on the shared store, bus and clock.
    pub async fn replica(&self) -> Replica {
        let mut env = HashMap::from([
            ("INBOX__POSTGRES__URL".to_owned(), self.db.url()),
            ("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "6".to_owned()),
            ("INBOX__NATS__URL".to_owned(), self.nats.url()),
            ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
            ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
            ("INBOX__NOTIFICATION__ROUTING_URL".to_owned(), self.routing_url.clone()),
            ("INBOX__NOTIFICATION__DIRECTORY_TTL_SECONDS".to_owned(), "1".to_owned()),
            ("INBOX__SLA__TICK_MS".to_owned(), "50".to_owned()),
            ("INBOX__WEBHOOKS__TICK_MS".to_owned(), "50".to_owned()),
        ]);
        env.extend(self.extra_env.iter().cloned());
        let settings: inbox_notification::Settings =
            inbox_config::load(inbox_notification::Settings::DEFAULTS, None, &env).unwrap();
        settings.validate().unwrap();
        let listeners = Listeners::ephemeral().await.unwrap();
        let (http, grpc) = (listeners.http.local_addr().unwrap(), listeners.grpc.local_addr().unwrap());
        let admin = listeners.admin.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task =
            tokio::spawn(inbox_notification::run_with_clock(settings, listeners, shutdown.clone(), self.clock.clone()));
        wait_ready(http).await;
        Replica { grpc, http, admin, shutdown, task }
    }

    pub fn call<T>(&self, principal: &str, role: Role, message: T) -> tonic::Request<T> {
        CallContext { tenant_id: self.tenant, principal: principal.into(), role }
            .request(message, &Secret::new(TOKEN))
            .unwrap()
    }

    pub fn as_user<T>(&self, user: Uuid, role: Role, message: T) -> tonic::Request<T> {
        self.call(&format!("user:{user}"), role, message)
    }

    pub fn as_operator<T>(&self, message: T) -> tonic::Request<T> {
        self.call("operator", Role::Operator, message)
    }

    pub async fn routing(&self) -> RoutingClient<tonic::transport::Channel> {
        RoutingClient::connect(self.routing_url.clone()).await.unwrap()
    }

    /// A person of the tenant with a routing profile.
    pub async fn person(&self, name: &str, role: &str, time_zone: &str) -> Uuid {
        let id = Uuid::now_v7();
        let upsert = routing::UpsertAgentRequest {
            agent_id: id.to_string(),
            name: name.into(),
            email: format!("{}@acme.test", name.to_lowercase()),
            role: role.into(),
            time_zone: time_zone.into(),
            capacity: 5,
        };
        self.routing().await.upsert_agent(self.as_operator(upsert)).await.unwrap();
        id
    }

    pub async fn team(&self, name: &str, members: &[Uuid]) -> Uuid {
        let mut routing = self.routing().await;
        let team = routing::UpsertTeamRequest { name: name.into(), ..Default::default() };
        let team = routing.upsert_team(self.as_operator(team)).await.unwrap().into_inner().id;
        for m in members {
            let member = routing::SetMembershipRequest { team_id: team.clone(), agent_id: m.to_string(), member: true };
            routing.set_membership(self.as_operator(member)).await.unwrap();
        }
        Uuid::parse_str(&team).unwrap()
    }

    /// Publishes an event of the tenant, dated now by the test's clock.
    pub async fn publish(&self, kind: &str, payload: Payload) -> String {
        let tenant = self.tenant.to_string();
        let id = Uuid::now_v7().to_string();
        let mut envelope = new_envelope(&id, &tenant, payload);
        envelope.occurred_at = Some(inbox_proto::timestamp_from(self.clock.now()));
        self.bus.publish(&subjects::event(&tenant, kind), &envelope).await.unwrap();
        id
    }

    /// Publishes the same event once more under another message id (a redelivery from far
    /// beyond JetStream's duplicate window).
    pub async fn publish_again(&self, kind: &str, event_id: &str, payload: Payload) {
        let tenant = self.tenant.to_string();
        let mut envelope = new_envelope(event_id, &tenant, payload);
        envelope.occurred_at = Some(inbox_proto::timestamp_from(self.clock.now()));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{event_id}-again").as_str());
        self.bus
            .jetstream()
            .publish_with_headers(subjects::event(&tenant, kind), headers, envelope.encode_to_vec().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Live frames for one person.
    pub async fn live(&self, user: Uuid) -> async_nats::Subscriber {
        let client = async_nats::connect(self.nats.url()).await.unwrap();
        let subscriber = client.subscribe(format!("notify.{}.{user}", self.tenant)).await.unwrap();
        client.flush().await.unwrap();
        subscriber
    }

    /// Every `sla.*` event of the tenant published so far (from the stream).
    pub async fn sla_events(&self, kind: &str) -> Vec<inbox_bus::Envelope> {
        let stream = self.bus.jetstream().get_stream("EVENTS").await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                filter_subject: subjects::event(&self.tenant.to_string(), kind),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut batch =
            consumer.fetch().max_messages(10_000).expires(Duration::from_millis(500)).messages().await.unwrap();
        let mut out = Vec::new();
        while let Some(Ok(message)) = batch.next().await {
            out.push(inbox_bus::Envelope::decode(message.payload.clone()).unwrap());
        }
        out
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db.url()).await.unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.routing_shutdown.cancel();
    }
}

pub async fn wait_ready(http: SocketAddr) {
    let client = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(30), || {
        let request = client.get(format!("http://{http}/readyz"));
        async move { request.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
    assert!(ready.is_some(), "service at {http} not ready within 30 s");
}

/// The next live notification for a subscriber, within 10 s.
pub async fn next_frame(live: &mut async_nats::Subscriber) -> pb::Notification {
    let message = tokio::time::timeout(Duration::from_secs(10), live.next()).await.expect("a live frame within 10 s");
    pb::Notification::decode(message.expect("subscription open").payload).unwrap()
}

/// A conversation of the tenant as the conversation service describes it.
pub struct Convo {
    pub proto: Conversation,
}

impl Convo {
    pub fn new(world: &World) -> Convo {
        let now = inbox_proto::timestamp_from(world.clock.now());
        Convo {
            proto: Conversation {
                id: Uuid::now_v7().to_string(),
                tenant_id: world.tenant.to_string(),
                channel: Channel::Whatsapp as i32,
                contact: Some(Contact {
                    id: Uuid::now_v7().to_string(),
                    display_name: "Carla".into(),
                    created_at: Some(now),
                    updated_at: Some(now),
                    ..Default::default()
                }),
                customer_address: "15551230001".into(),
                status: ConversationStatus::Active as i32,
                priority: Priority::Normal as i32,
                last_message_preview: "My order never came".into(),
                created_at: Some(now),
                updated_at: Some(now),
                status_changed_at: Some(now),
                version: 1,
                ..Default::default()
            },
        }
    }

    pub fn id(&self) -> Uuid {
        Uuid::parse_str(&self.proto.id).unwrap()
    }

    /// The next version, changed by `change`.
    pub fn next(&mut self, world: &World, change: impl FnOnce(&mut Conversation)) -> Conversation {
        self.proto.version += 1;
        self.proto.updated_at = Some(inbox_proto::timestamp_from(world.clock.now()));
        change(&mut self.proto);
        self.proto.clone()
    }

    pub async fn open(&self, world: &World) -> String {
        world
            .publish(
                "conversation.created",
                Payload::ConversationCreated(ConversationCreated { conversation: Some(self.proto.clone()) }),
            )
            .await
    }

    pub async fn message(&mut self, world: &World, sender: SenderKind, sender_id: &str, text: &str) -> String {
        let now = inbox_proto::timestamp_from(world.clock.now());
        let conversation = self.next(world, |c| {
            c.last_message_preview = text.into();
            c.last_message_sender_kind = sender as i32;
        });
        let message = Message {
            id: Uuid::now_v7().to_string(),
            tenant_id: world.tenant.to_string(),
            conversation_id: self.proto.id.clone(),
            channel: Channel::Whatsapp as i32,
            sender_kind: sender as i32,
            sender_id: sender_id.into(),
            content: Some(MessageContent {
                kind: Some(message_content::Kind::Text(TextContent { body: text.into() })),
                reply_to: None,
            }),
            sent_at: Some(now),
            created_at: Some(now),
            ..Default::default()
        };
        world
            .publish(
                "message.created",
                Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(conversation) }),
            )
            .await
    }

    pub async fn assign(&mut self, world: &World, assignee: Option<Uuid>, team: Option<Uuid>, actor: &str) -> String {
        let previous = self.proto.assignee_id.clone();
        let previous_team = self.proto.team_id.clone();
        let conversation = self.next(world, |c| {
            c.assignee_id = assignee.map(|a| a.to_string()).unwrap_or_default();
            c.team_id = team.map(|t| t.to_string()).unwrap_or_default();
        });
        world
            .publish(
                "conversation.assigned",
                Payload::AssignmentChanged(AssignmentChanged {
                    conversation: Some(conversation),
                    previous_assignee_id: previous,
                    previous_team_id: previous_team,
                    actor: actor.into(),
                    note: String::new(),
                }),
            )
            .await
    }

    pub async fn set_status(&mut self, world: &World, to: ConversationStatus, actor: &str) -> String {
        let from = self.proto.status;
        let now = inbox_proto::timestamp_from(world.clock.now());
        let conversation = self.next(world, |c| {
            c.status = to as i32;
            c.status_changed_at = Some(now);
        });
        let change = StatusChange {
            conversation_id: self.proto.id.clone(),
            from,
            to: to as i32,
            actor: actor.into(),
            reason: String::new(),
            changed_at: Some(now),
        };
        world
            .publish(
                "conversation.status_changed",
                Payload::StatusChanged(StatusChanged { conversation: Some(conversation), change: Some(change) }),
            )
            .await
    }

    pub async fn set_priority(&mut self, world: &World, priority: Priority) -> String {
        let conversation = self.next(world, |c| c.priority = priority as i32);
        world
            .publish(
                "conversation.priority_changed",
                Payload::PriorityChanged(ConversationUpdated { conversation: Some(conversation) }),
            )
            .await
    }
}

/// Waits until the notifications table holds `n` rows matching `filter` (SQL after WHERE).
pub async fn wait_for_rows(pool: &sqlx::PgPool, filter: &'static str, n: i64) -> i64 {
    let counted = wait_until(Duration::from_secs(15), || async move {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {filter}")))
            .fetch_one(pool)
            .await
            .ok()?;
        (count >= n).then_some(count)
    })
    .await;
    counted.unwrap_or(-1)
}

/// The notifications of one person, as the centre lists them (newest first): (type, body).
pub async fn centre(world: &World, replica: &Replica, user: Uuid) -> Vec<pb::Notification> {
    let list = pb::ListNotificationsRequest { page: None, unread_only: false };
    replica
        .client()
        .await
        .list_notifications(world.as_user(user, Role::Agent, list))
        .await
        .unwrap()
        .into_inner()
        .notifications
}
