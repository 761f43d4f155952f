//! Least privilege inside the fleet: each service reaches NATS and Redis as its own user, held
//! to its subjects and keys. A leaked service credential does not let its holder inject
//! provider traffic, read another service's replies or people's notifications, steal another
//! service's stream messages, change the streams, or read or write another service's Redis
//! state. (The rest of the suite runs the fleet with these users, so every subject, key and
//! command the fleet really uses is proven granted.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use async_nats::{Event, ServerError};
use inbox_e2e::Fleet;
use tokio::sync::mpsc;

/// A connection as one service's NATS user that reports each permissions violation the server
/// answers with.
struct Connection {
    client: async_nats::Client,
    violations: mpsc::UnboundedReceiver<String>,
}

impl Connection {
    async fn as_service(fleet: &Fleet, service: &str) -> anyhow::Result<Connection> {
        let (sender, violations) = mpsc::unbounded_channel();
        let client = async_nats::ConnectOptions::new()
            .user_and_password(service.to_owned(), inbox_e2e::nats_password(service))
            .custom_inbox_prefix(inbox_access::inbox_prefix(service))
            .request_timeout(Some(Duration::from_secs(2)))
            .event_callback(move |event| {
                let sender = sender.clone();
                async move {
                    if let Event::ServerError(ServerError::Other(text)) = event {
                        let _ = sender.send(text);
                    }
                }
            })
            .connect(fleet.nats.url())
            .await?;
        Ok(Connection { client, violations })
    }

    /// The violation the server reported next (within 5 s), if any.
    async fn next_violation(&mut self) -> Option<String> {
        self.client.flush().await.ok()?;
        tokio::time::timeout(Duration::from_secs(5), self.violations.recv()).await.ok().flatten()
    }

    /// Publishes on `subject` and expects the server to refuse it.
    async fn refused_publish(&mut self, subject: &str) {
        self.client.publish(subject.to_owned(), "x".into()).await.unwrap();
        let violation = self.next_violation().await.unwrap_or_default();
        assert!(
            violation.contains("Permissions Violation for Publish") && violation.contains(subject),
            "publish to {subject}: {violation:?}"
        );
    }

    /// Subscribes to `subject` and expects the server to refuse it.
    async fn refused_subscription(&mut self, subject: &str) {
        let _subscription = self.client.subscribe(subject.to_owned()).await.unwrap();
        let violation = self.next_violation().await.unwrap_or_default();
        assert!(
            violation.contains("Permissions Violation for Subscription") && violation.contains(subject),
            "subscribe to {subject}: {violation:?}"
        );
    }
}

#[tokio::test]
async fn a_services_nats_user_reaches_its_own_subjects_only() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = uuid::Uuid::now_v7();

    // Search's user: it reads the EVENTS stream's state and publishes its reindex requests...
    let mut search = Connection::as_service(&fleet, "search").await?;
    let jetstream = async_nats::jetstream::new(search.client.clone());
    let mut events = jetstream.get_stream("EVENTS").await?;
    events.info().await?;
    search.client.publish(format!("events.{tenant}.search.reindex_requested"), "x".into()).await?;
    assert_eq!(search.next_violation().await, None, "search's own subjects are granted");

    // ...but cannot play a provider, a domain event, a reply to a customer or a notification,
    search.refused_publish(&format!("ingest.whatsapp.{tenant}")).await;
    search.refused_publish(&format!("events.{tenant}.message.created")).await;
    search.refused_publish(&format!("outbound.whatsapp.{tenant}")).await;
    search.refused_publish(&format!("notify.{tenant}.someone")).await;
    // cannot listen to people's notifications, typing, or the replies to other services,
    search.refused_subscription("notify.>").await;
    search.refused_subscription("typing.>").await;
    search.refused_subscription("_INBOX.>").await;
    search.refused_subscription("_INBOX_gateway.>").await;
    // cannot pull another service's durable consumer (taking its messages) or ack for it,
    search.refused_publish("$JS.API.CONSUMER.MSG.NEXT.EVENTS.routing").await;
    search.refused_publish("$JS.API.CONSUMER.MSG.NEXT.INGEST.conversation").await;
    search.refused_publish("$JS.ACK.EVENTS.notification.1.1.1.1.1").await;
    // and cannot delete, purge or reconfigure a stream.
    search.refused_publish("$JS.API.STREAM.DELETE.EVENTS").await;
    search.refused_publish("$JS.API.STREAM.PURGE.EVENTS").await;
    search.refused_publish("$JS.API.STREAM.UPDATE.EVENTS").await;

    // Channel-ingest publishes provider traffic but never replies meant for customers, and
    // manages the stream it fills, not the others.
    let mut ingest = Connection::as_service(&fleet, "channel-ingest").await?;
    ingest.refused_publish(&format!("outbound.webchat.{tenant}")).await;
    ingest.refused_publish("$JS.API.STREAM.UPDATE.EVENTS").await;
    ingest.refused_subscription("gateway.revocations").await;

    // A wrong password is no user at all.
    let wrong = async_nats::ConnectOptions::new()
        .user_and_password("conversation".into(), "not-the-password".into())
        .connect(fleet.nats.url())
        .await;
    assert!(wrong.is_err(), "a wrong password connects");

    // The fleet itself, started with these users, never stepped outside them.
    for name in inbox_e2e::SERVICES {
        let log = fleet.log_text(name);
        assert!(!log.contains("Permissions Violation"), "{name}: {}", fleet.log_tail(name));
    }
    Ok(())
}

/// A Redis connection as `user` (`None`: the default user), and the error code of a command.
async fn redis_as(fleet: &Fleet, user: Option<&str>) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let mut url = fleet.redis_url().to_owned();
    if let Some(user) = user {
        url = url.replacen("redis://", &format!("redis://{user}:{}@", inbox_e2e::redis_password(user)), 1);
    }
    Ok(redis::Client::open(url)?.get_multiplexed_async_connection().await?)
}

/// The refusal Redis answered `command` with (empty when it was carried out).
async fn refusal(connection: &mut redis::aio::MultiplexedConnection, command: &mut redis::Cmd) -> String {
    match command.query_async::<redis::Value>(connection).await {
        Ok(_) => String::new(),
        Err(e) => e.code().unwrap_or("other").to_owned(),
    }
}

#[tokio::test]
async fn a_services_redis_user_reaches_its_own_keys_only() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let gateway_keys = fleet.redis_key_prefix("gateway").unwrap();
    let routing_keys = fleet.redis_key_prefix("routing").unwrap();
    let ingest_keys = fleet.redis_key_prefix("channel-ingest").unwrap();

    // Routing's user keeps its own state...
    let mut routing = redis_as(&fleet, Some("routing")).await?;
    let own = format!("{routing_keys}probe");
    assert_eq!(refusal(&mut routing, redis::cmd("SET").arg(&own).arg("1").arg("EX").arg(60)).await, "");
    assert_eq!(refusal(&mut routing, redis::cmd("GET").arg(&own)).await, "");
    // ...but reads and writes nothing of the gateway's (sign-in limits, tickets, presence) or
    // channel-ingest's (web chat limits and socket tickets),
    for key in [format!("{gateway_keys}ticket:abc"), format!("{ingest_keys}visitor:1"), "elsewhere".to_owned()] {
        assert_eq!(refusal(&mut routing, redis::cmd("GET").arg(&key)).await, "NOPERM", "GET {key}");
        assert_eq!(refusal(&mut routing, redis::cmd("DEL").arg(&key)).await, "NOPERM", "DEL {key}");
    }
    // cannot list keys, wipe the server, read its configuration or publish.
    assert_eq!(refusal(&mut routing, redis::cmd("KEYS").arg("*")).await, "NOPERM");
    assert_eq!(refusal(&mut routing, &mut redis::cmd("FLUSHALL")).await, "NOPERM");
    assert_eq!(refusal(&mut routing, redis::cmd("CONFIG").arg("GET").arg("*")).await, "NOPERM");
    assert_eq!(refusal(&mut routing, redis::cmd("PUBLISH").arg("x").arg("y")).await, "NOPERM");

    // The gateway's user cannot touch routing's availability book.
    let mut gateway = redis_as(&fleet, Some("gateway")).await?;
    assert_eq!(refusal(&mut gateway, redis::cmd("GET").arg(&own)).await, "NOPERM");

    // Without a user, Redis answers PING and nothing else.
    let mut anonymous = redis_as(&fleet, None).await?;
    assert_eq!(refusal(&mut anonymous, &mut redis::cmd("PING")).await, "");
    assert_eq!(refusal(&mut anonymous, redis::cmd("GET").arg(&own)).await, "NOPERM");
    // A wrong password is no user at all.
    let wrong = fleet.redis_url().replacen("redis://", "redis://routing:not-the-password@", 1);
    assert!(redis::Client::open(wrong)?.get_multiplexed_async_connection().await.is_err());

    // Every command the services send is granted: channel-ingest's web chat limits (a
    // transaction of INCRBY and EXPIRE) and socket tickets (SET, GETDEL) among them.
    let client = reqwest::Client::new();
    let tenant = inbox_e2e::support::set_up_tenant(&fleet, "least-privilege", "100000000000777")?;
    let key = inbox_e2e::support::add_webchat_widget(&fleet, &tenant.id, &["https://shop.example"])?;
    let session = client
        .post(format!("{}/webchat/v1/widgets/{key}/sessions", fleet.http_url("channel-ingest")))
        .header("Origin", "https://shop.example")
        .header("Content-Type", "application/json")
        .body(r#"{"name": "Ana"}"#)
        .send()
        .await?;
    assert!(session.status().is_success(), "{}", session.text().await?);
    for name in ["gateway", "channel-ingest", "routing"] {
        assert!(!fleet.log_text(name).contains("NOPERM"), "{name}: {}", fleet.log_tail(name));
    }
    Ok(())
}

/// Who is a NATS user and who a Redis user is written in `inbox-access` and wired in three
/// places: the tests' fleet (from `inbox-access` itself), `just up` (`ORDER` and `REDIS_USERS`
/// in scripts/up.sh) and the Helm chart (`inbox.serviceNames`, `inbox.redisServices`). They
/// must agree, or a deployment's service connects as a user its server does not know.
#[test]
fn the_fleets_nats_and_redis_users_are_the_same_for_just_up_the_chart_and_the_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sorted = |mut names: Vec<String>| {
        names.sort();
        names
    };
    let nats_users = sorted(inbox_access::SERVICES.iter().map(|s| (*s).to_owned()).collect());
    let redis_users = sorted(inbox_access::REDIS_NAMESPACES.iter().map(|(s, _)| (*s).to_owned()).collect());

    let up = std::fs::read_to_string(root.join("scripts/up.sh")).unwrap();
    let array = |name: &str| {
        let start = up.find(&format!("\n{name}=(")).unwrap() + name.len() + 3;
        sorted(up[start..start + up[start..].find(')').unwrap()].split_whitespace().map(str::to_owned).collect())
    };
    assert_eq!(array("ORDER"), nats_users, "scripts/up.sh ORDER");
    assert_eq!(array("REDIS_USERS"), redis_users, "scripts/up.sh REDIS_USERS");

    let helpers = std::fs::read_to_string(root.join("helm/inbox/templates/_helpers.tpl")).unwrap();
    let list = |define: &str| {
        let line = helpers.lines().skip_while(|l| !l.contains(&format!(r#"define "{define}""#))).nth(1).unwrap();
        sorted(line.split_whitespace().map(str::to_owned).collect())
    };
    assert_eq!(list("inbox.serviceNames"), nats_users, "chart inbox.serviceNames");
    assert_eq!(list("inbox.redisServices"), redis_users, "chart inbox.redisServices");

    assert_eq!(sorted(inbox_e2e::SERVICES.iter().map(|s| (*s).to_owned()).collect()), nats_users);
}
