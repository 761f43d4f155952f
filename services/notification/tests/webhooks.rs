//! Signed outbound webhooks against local HTTP endpoints: signatures that verify, an endpoint
//! that fails for a while and then recovers receiving every delivery once, a slow endpoint
//! that slows nobody else, a dead one disabled with word to the admins, the delivery log,
//! replay, and private addresses refused unless the tenant allows them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::Duration as Span;
use common::{Convo, World};
use hmac::{Hmac, Mac};
use inbox_notification::proto as pb;
use inbox_proto::conversation::v1::{ConversationStatus, SenderKind};
use inbox_service::Role;
use inbox_testkit::wait_until;
use sha2::Sha256;

#[derive(Debug, Clone)]
struct Received {
    endpoint: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

#[derive(Default)]
struct Receiver {
    log: Mutex<Vec<Received>>,
    flaky_failing: AtomicBool,
    slow_in_flight: AtomicUsize,
    slow_most: AtomicUsize,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let answered = match name.as_str() {
        "flaky" if r.flaky_failing.load(Ordering::SeqCst) => StatusCode::INTERNAL_SERVER_ERROR,
        "dead" => StatusCode::SERVICE_UNAVAILABLE,
        "slow" => {
            let now = r.slow_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            r.slow_most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(30)).await;
            r.slow_in_flight.fetch_sub(1, Ordering::SeqCst);
            StatusCode::OK
        }
        _ => StatusCode::OK,
    };
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    r.log.lock().unwrap().push(Received {
        endpoint: name,
        id: header("inbox-webhook-id"),
        timestamp: header("inbox-webhook-timestamp"),
        signature: header("inbox-webhook-signature"),
        body,
        answered: answered.as_u16(),
    });
    answered
}

async fn serve(receiver: Arc<Receiver>) -> String {
    let app = axum::Router::new().route("/hooks/{name}", axum::routing::post(receive)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hooks")
}

fn verify(secret: &str, r: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    r.signature == format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn of(receiver: &Receiver, endpoint: &str) -> Vec<Received> {
    receiver.log.lock().unwrap().iter().filter(|r| r.endpoint == endpoint).cloned().collect()
}

/// Delivery ids answered 2xx, with how many times each.
fn delivered(receiver: &Receiver, endpoint: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in of(receiver, endpoint).into_iter().filter(|r| r.answered < 300) {
        *out.entry(r.id).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn signed_deliveries_survive_an_outage_slow_endpoints_slow_nobody_and_dead_ones_are_disabled() {
    let world = World::start_with(
        "notification_webhooks",
        &[
            ("INBOX__WEBHOOKS__TIMEOUT_SECONDS", "2"),
            ("INBOX__WEBHOOKS__PER_ENDPOINT", "2"),
            ("INBOX__WEBHOOKS__DISABLE_AFTER_FAILURES", "5"),
        ],
    )
    .await;
    let alice = world.person("Alice", "admin", "UTC").await;
    let ana = world.person("Ana", "agent", "UTC").await;
    let replica = world.replica().await;
    let mut client = replica.client().await;
    let receiver = Arc::new(Receiver::default());
    receiver.flaky_failing.store(true, Ordering::SeqCst);
    let base = serve(receiver.clone()).await;

    let create = |name: &str, events: &[&str]| pb::CreateWebhookEndpointRequest {
        url: format!("{base}/{name}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: format!("{name} endpoint"),
    };
    // Loopback is refused until the operator allows private addresses for the tenant; agents
    // manage no endpoints; admins may not change that setting.
    let refused =
        client.create_webhook_endpoint(world.as_user(alice, Role::Admin, create("fast", &["message.created"]))).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::InvalidArgument);
    let allow = pb::PutTenantSettingsRequest {
        settings: Some(pb::TenantNotificationSettings { allow_private_webhook_addresses: true }),
    };
    let denied = client.put_tenant_settings(world.as_user(alice, Role::Admin, allow)).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    client.put_tenant_settings(world.as_operator(allow)).await.unwrap();
    let denied =
        client.create_webhook_endpoint(world.as_user(ana, Role::Agent, create("fast", &["message.created"]))).await;
    assert_eq!(denied.unwrap_err().code(), tonic::Code::PermissionDenied);
    let unknown =
        client.create_webhook_endpoint(world.as_user(alice, Role::Admin, create("fast", &["message.deleted"]))).await;
    assert_eq!(unknown.unwrap_err().code(), tonic::Code::InvalidArgument);

    let all = ["contact.created", "conversation.created", "message.created", "conversation.resolved"];
    let mut endpoints = BTreeMap::new();
    for (name, events) in [
        ("fast", &all[..]),
        ("flaky", &all[..]),
        ("slow", &["message.created"][..]),
        ("dead", &["conversation.created"][..]),
    ] {
        let created =
            client.create_webhook_endpoint(world.as_user(alice, Role::Admin, create(name, events))).await.unwrap();
        let created = created.into_inner();
        assert!(created.secret.starts_with("whsec_"));
        endpoints.insert(name, (created.endpoint.unwrap().id, created.secret));
    }

    // Ten customers write; one conversation is resolved.
    let started = std::time::Instant::now();
    let mut conversations = Vec::new();
    for i in 0..10 {
        let mut c = Convo::new(&world);
        c.open(&world).await;
        c.message(&world, SenderKind::Customer, "15551230001", &format!("Hello {i}")).await;
        conversations.push(c);
    }
    conversations[0].set_status(&world, ConversationStatus::Resolved, &format!("user:{ana}")).await;

    // The fast endpoint has all 31 within seconds, though the slow one holds its two senders
    // for the whole timeout each time.
    let fast =
        wait_until(Duration::from_secs(10), || async { (delivered(&receiver, "fast").len() == 31).then_some(()) })
            .await;
    assert!(fast.is_some(), "fast endpoint got {} of 31", delivered(&receiver, "fast").len());
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    assert!(receiver.slow_most.load(Ordering::SeqCst) <= 2, "at most two in flight to one endpoint");
    // Every request is signed with the endpoint's secret over timestamp and body.
    for (name, (_, secret)) in &endpoints {
        for r in of(&receiver, name) {
            assert!(verify(secret, &r), "{name}: bad signature on {}", r.id);
        }
    }
    let bodies: Vec<serde_json::Value> =
        of(&receiver, "fast").iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let types: BTreeSet<&str> = bodies.iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(types, BTreeSet::from(all));
    let message = bodies.iter().find(|b| b["type"] == "message.created").unwrap();
    assert_eq!(message["data"]["message"]["sender_kind"], "customer");
    assert!(message["data"]["message"]["text"].as_str().unwrap().starts_with("Hello"));
    // The body names its delivery, as the header does.
    let ids: BTreeSet<String> = of(&receiver, "fast").into_iter().map(|r| r.id).collect();
    assert!(ids.contains(message["id"].as_str().unwrap()));

    // The flaky endpoint fails for ten minutes of retries, then recovers: every delivery
    // arrives once in the end.
    let tried_once =
        wait_until(Duration::from_secs(10), || async { (of(&receiver, "flaky").len() >= 31).then_some(()) }).await;
    assert!(tried_once.is_some(), "each tried once");
    let flaky_first = of(&receiver, "flaky").len();
    for step in [30, 60, 120, 240] {
        world.clock.advance(Span::seconds(step));
        let tried = wait_until(Duration::from_secs(10), || async {
            (of(&receiver, "flaky").len() >= flaky_first + 31).then_some(())
        })
        .await;
        assert!(tried.is_some() || step > 30, "retried after {step} s");
    }
    receiver.flaky_failing.store(false, Ordering::SeqCst);
    world.clock.advance(Span::minutes(30));
    let recovered =
        wait_until(Duration::from_secs(15), || async { (delivered(&receiver, "flaky").len() == 31).then_some(()) })
            .await;
    assert!(recovered.is_some(), "flaky endpoint got {} of 31", delivered(&receiver, "flaky").len());
    // More time passes: nothing delivered is sent again.
    world.clock.advance(Span::hours(3));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(delivered(&receiver, "flaky").values().all(|n| *n == 1), "each delivery once");

    // The delivery log: each attempt with its status.
    let (flaky_id, _) = &endpoints["flaky"];
    let list =
        pb::ListWebhookDeliveriesRequest { endpoint_id: flaky_id.clone(), status: "delivered".into(), page: None };
    let log = client.list_webhook_deliveries(world.as_user(alice, Role::Admin, list)).await.unwrap().into_inner();
    assert_eq!(log.deliveries.len(), 31);
    let one = client
        .get_webhook_delivery(world.as_user(
            alice,
            Role::Admin,
            pb::GetWebhookDeliveryRequest { id: log.deliveries[0].id.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<u32> = one.attempt_log.iter().map(|a| a.status_code).collect();
    assert!(statuses.len() >= 2 && statuses[..statuses.len() - 1].iter().all(|s| *s == 500), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200));

    // Replay sends a delivery again under its own id.
    let (fast_id, _) = &endpoints["fast"];
    let list = pb::ListWebhookDeliveriesRequest { endpoint_id: fast_id.clone(), status: String::new(), page: None };
    let fast_log = client.list_webhook_deliveries(world.as_user(alice, Role::Admin, list)).await.unwrap().into_inner();
    let again = fast_log.deliveries[0].id.clone();
    let replay = pb::ReplayWebhookDeliveriesRequest {
        endpoint_id: fast_id.clone(),
        delivery_ids: vec![again.clone()],
        since: None,
    };
    let replayed = client.replay_webhook_deliveries(world.as_user(alice, Role::Admin, replay)).await.unwrap();
    assert_eq!(replayed.get_ref().replayed, 1);
    let twice = wait_until(Duration::from_secs(10), || async {
        (delivered(&receiver, "fast").get(&again) == Some(&2)).then_some(())
    })
    .await;
    assert!(twice.is_some(), "the replayed delivery arrives again with the same id");

    // The dead endpoint keeps failing: after a day of failures it is disabled and the admins told.
    let (dead_id, _) = &endpoints["dead"];
    for _ in 0..13 {
        world.clock.advance(Span::hours(2));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let disabled = wait_until(Duration::from_secs(10), || async {
        let list = client
            .clone()
            .list_webhook_endpoints(world.as_user(alice, Role::Admin, pb::ListWebhookEndpointsRequest {}))
            .await
            .ok()?;
        list.into_inner().endpoints.into_iter().find(|e| &e.id == dead_id && !e.enabled)
    })
    .await
    .expect("the dead endpoint is disabled");
    assert!(disabled.disabled_reason.contains("failed"), "{}", disabled.disabled_reason);
    let told = wait_until(Duration::from_secs(10), || async {
        let list = pb::ListNotificationsRequest { page: None, unread_only: true };
        let listed =
            client.clone().list_notifications(world.as_user(alice, Role::Admin, list)).await.ok()?.into_inner();
        listed.notifications.into_iter().find(|n| n.r#type == pb::NotificationType::WebhookDisabled as i32)
    })
    .await;
    assert!(told.is_some(), "the admin is told");
    // The others still deliver.
    let flaky_enabled = client
        .list_webhook_endpoints(world.as_user(alice, Role::Admin, pb::ListWebhookEndpointsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .endpoints
        .into_iter()
        .filter(|e| e.enabled)
        .count();
    assert_eq!(flaky_enabled, 3);
    replica.stop().await;
}
