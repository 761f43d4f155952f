//! The live hub's reader of the `EVENTS` stream against a JetStream server of the test's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_gateway::live::hub::{HubLimits, LiveHub, relay_events_to_hub};
use inbox_proto::events::v1::MessageCreated;
use inbox_testkit::{free_port, real_clock, wait_until};
use tokio_util::sync::CancellationToken;

async fn publish(bus: &Bus, n: usize) {
    let tenant = "01a25158-0e06-7544-9cae-f52551104444";
    for _ in 0..n {
        let id = uuid::Uuid::new_v4().to_string();
        let envelope = new_envelope(id, tenant, Payload::MessageCreated(MessageCreated::default()));
        bus.publish(&subjects::event(tenant, "message.created"), &envelope).await.unwrap();
    }
}

async fn head_reaches(hub: &Arc<LiveHub>, seq: u64, within: Duration) -> bool {
    wait_until(within, || {
        let hub = hub.clone();
        async move { (hub.head() >= seq).then_some(()) }
    })
    .await
    .is_some()
}

/// A `nats-server -js` on a fixed port and store, which the test kills (-9) and starts again.
struct RestartableNats {
    port: u16,
    store: tempfile::TempDir,
    child: std::process::Child,
}

impl RestartableNats {
    async fn start() -> Self {
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Self::spawn(port, &store);
        let nats = Self { port, store, child };
        nats.wait_ready().await;
        nats
    }

    fn spawn(port: u16, store: &tempfile::TempDir) -> std::process::Child {
        real_clock(std::process::Command::new(
            std::env::var("INBOX_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into()),
        ))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server on PATH")
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) {
        let url = self.url();
        let ready = wait_until(Duration::from_secs(10), || {
            let url = url.clone();
            async move { async_nats::connect(&url).await.ok().map(|_| ()) }
        })
        .await;
        assert!(ready.is_some(), "nats-server on {url}");
    }

    async fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = Self::spawn(self.port, &self.store);
        self.wait_ready().await;
    }
}

impl Drop for RestartableNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn after_a_nats_restart_the_hub_reads_on_within_seconds() {
    let mut nats = RestartableNats::start().await;
    let bus = Bus::connect(&nats.url(), "hub-test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    let limits = HubLimits { queue: 64, memory: 64, replay_limit: 1000, availability_interval: Duration::from_secs(1) };
    let hub = Arc::new(LiveHub::new(limits));
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(relay_events_to_hub(bus.jetstream().clone(), hub.clone(), shutdown.clone()));
    // The relay starts at the stream's end; once it reads, what follows reaches the hub.
    let mut published = 0;
    while !head_reaches(&hub, 1, Duration::from_millis(500)).await {
        publish(&bus, 1).await;
        published += 1;
        assert!(published < 20, "the hub never started reading");
    }
    let head = hub.head();

    // kill -9 and start again: the stream is restored from disk, the hub's ordered consumer
    // (memory only) is gone, and the stream moves on.
    nats.restart().await;
    let publisher = Bus::connect(&nats.url(), "hub-test-publisher").await.unwrap();
    publish(&publisher, 20).await;
    let reached = head_reaches(&hub, head + 20, Duration::from_secs(10)).await;
    assert!(
        reached,
        "the 20 events after the restart read within 10 s (the client alone takes 15 s); head {}",
        hub.head()
    );
    shutdown.cancel();
    relay.await.unwrap();
}
