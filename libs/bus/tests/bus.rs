//! The bus against a real JetStream server of the test's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use inbox_bus::{
    Bus, ConsumerSpec, Delivery, HandlerError, MessageHandler, Payload, Stream, new_envelope, run_consumer, subjects,
};
use inbox_proto::common::v1::Channel;
use inbox_proto::ingest::v1::InboundMessage;
use inbox_testkit::{TestNats, wait_until};
use tokio_util::sync::CancellationToken;

fn inbound(external_id: &str) -> Payload {
    Payload::InboundMessage(InboundMessage {
        tenant_id: "t1".into(),
        channel: Channel::Whatsapp as i32,
        external_id: external_id.into(),
        ..Default::default()
    })
}

async fn bus() -> (TestNats, Bus) {
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url(), "bus-test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    (nats, bus)
}

#[tokio::test]
async fn ensuring_streams_twice_is_harmless() {
    let (_nats, bus) = bus().await;
    bus.ensure_streams().await.unwrap();
    let names: Vec<String> = bus.jetstream().stream_names().map(|n| n.unwrap()).collect().await;
    for stream in ["INGEST", "EVENTS", "OUTBOUND", "DLQ"] {
        assert!(names.contains(&stream.to_owned()), "{names:?}");
    }
}

#[tokio::test]
async fn the_same_event_id_published_twice_is_stored_once() {
    let (_nats, bus) = bus().await;
    let envelope = new_envelope("wa:wamid.1", "t1", inbound("wamid.1"));
    let subject = subjects::ingest(Channel::Whatsapp, "t1");
    let first = bus.publish(&subject, &envelope).await.unwrap();
    let second = bus.publish(&subject, &envelope).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    let mut stream = bus.jetstream().get_stream("INGEST").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Delivery>>,
    failures_before_success: AtomicUsize,
    permanent: bool,
}

impl MessageHandler for Recorder {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        if self.permanent {
            return Err(HandlerError::Permanent("cannot ever handle this".into()));
        }
        if self.failures_before_success.load(Ordering::SeqCst) > 0 {
            self.failures_before_success.fetch_sub(1, Ordering::SeqCst);
            return Err(HandlerError::Retry("database down".into()));
        }
        self.seen.lock().unwrap().push(delivery);
        Ok(())
    }
}

fn fast_spec(durable: &str) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(Stream::Ingest, durable, "ingest.>");
    spec.backoff = vec![Duration::from_millis(50)];
    spec.max_deliver = 3;
    spec
}

#[tokio::test]
async fn a_consumer_retries_a_failing_message_until_it_succeeds() {
    let (_nats, bus) = bus().await;
    let handler = Arc::new(Recorder { failures_before_success: AtomicUsize::new(2), ..Default::default() });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_consumer(bus.clone(), fast_spec("retrying"), handler.clone(), shutdown.clone()));
    bus.publish(&subjects::ingest(Channel::Whatsapp, "t1"), &new_envelope("e1", "t1", inbound("w1"))).await.unwrap();

    let delivered = wait_until(Duration::from_secs(10), || {
        let handler = handler.clone();
        async move { handler.seen.lock().unwrap().first().map(|d| d.delivered) }
    })
    .await;
    assert_eq!(delivered, Some(3), "handled on the third delivery");
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_consumer_started_before_its_stream_exists_waits_for_it_instead_of_giving_up() {
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url(), "bus-test").await.unwrap();
    let handler = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    // As a replica that starts while JetStream is not ready: its consumer cannot be created yet.
    let task = tokio::spawn(run_consumer(bus.clone(), fast_spec("early"), handler.clone(), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!task.is_finished(), "the consumer gave up while the stream was missing");

    bus.ensure_streams().await.unwrap();
    bus.publish(&subjects::ingest(Channel::Whatsapp, "t1"), &new_envelope("e0", "t1", inbound("w0"))).await.unwrap();
    let handled = wait_until(Duration::from_secs(15), || {
        let handler = handler.clone();
        async move { handler.seen.lock().unwrap().first().map(|d| d.envelope.event_id.clone()) }
    })
    .await;
    assert_eq!(handled.as_deref(), Some("e0"));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_consumer_still_waiting_for_its_stream_stops_when_asked() {
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url(), "bus-test").await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_consumer(bus, fast_spec("never"), Arc::new(Recorder::default()), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task).await.expect("stopped waiting on shutdown").unwrap();
}

#[tokio::test]
async fn a_message_that_can_never_be_handled_goes_to_the_dead_letter_stream() {
    let (_nats, bus) = bus().await;
    let handler = Arc::new(Recorder { permanent: true, ..Default::default() });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_consumer(bus.clone(), fast_spec("doomed"), handler, shutdown.clone()));
    bus.publish(&subjects::ingest(Channel::Whatsapp, "t1"), &new_envelope("e2", "t1", inbound("w2"))).await.unwrap();

    let bus2 = bus.clone();
    let dead = wait_until(Duration::from_secs(10), || {
        let bus = bus2.clone();
        async move {
            let mut dlq = bus.jetstream().get_stream("DLQ").await.ok()?;
            let n = dlq.info().await.ok()?.state.messages;
            (n == 1).then_some(n)
        }
    })
    .await;
    assert_eq!(dead, Some(1));
    let dlq = bus.jetstream().get_stream("DLQ").await.unwrap();
    let raw = dlq.get_last_raw_message_by_subject("dlq.INGEST.doomed").await.unwrap();
    let reason = raw.headers.get("Inbox-Dlq-Reason").map(|v| v.as_str().to_owned());
    assert_eq!(reason.as_deref(), Some("permanent: cannot ever handle this"));
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn two_replicas_of_a_consumer_share_the_work_without_doubling_it() {
    let (_nats, bus) = bus().await;
    let handler = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let a = tokio::spawn(run_consumer(bus.clone(), fast_spec("shared"), handler.clone(), shutdown.clone()));
    let b = tokio::spawn(run_consumer(bus.clone(), fast_spec("shared"), handler.clone(), shutdown.clone()));
    for i in 0..200 {
        bus.publish(
            &subjects::ingest(Channel::Whatsapp, "t1"),
            &new_envelope(format!("e{i}"), "t1", inbound(&format!("w{i}"))),
        )
        .await
        .unwrap();
    }
    let count = wait_until(Duration::from_secs(10), || {
        let handler = handler.clone();
        async move {
            let n = handler.seen.lock().unwrap().len();
            (n >= 200).then_some(n)
        }
    })
    .await;
    assert_eq!(count, Some(200));
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    let mut ids: Vec<String> = handler.seen.lock().unwrap().iter().map(|d| d.envelope.event_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

/// Takes its time on every message, or (when `freeze_first`) never finishes a first delivery,
/// as a process frozen or killed mid-message; counts every delivery it is handed.
#[derive(Default)]
struct Slow {
    handling: Duration,
    freeze_first: bool,
    deliveries: Mutex<Vec<i64>>,
    done: Mutex<Vec<i64>>,
}

impl MessageHandler for Slow {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        self.deliveries.lock().unwrap().push(delivery.delivered);
        if self.freeze_first && delivery.delivered == 1 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(self.handling).await;
        self.done.lock().unwrap().push(delivery.delivered);
        Ok(())
    }
}

#[tokio::test]
async fn a_handler_slower_than_the_ack_wait_keeps_its_message_and_is_not_doubled() {
    let (_nats, bus) = bus().await;
    let mut spec = fast_spec("slow");
    spec.ack_wait = Duration::from_secs(1);
    let slow = Arc::new(Slow { handling: Duration::from_millis(3500), ..Default::default() });
    let shutdown = CancellationToken::new();
    let a = tokio::spawn(run_consumer(bus.clone(), spec.clone(), slow.clone(), shutdown.clone()));
    let b = tokio::spawn(run_consumer(bus.clone(), spec, slow.clone(), shutdown.clone()));
    bus.publish(&subjects::ingest(Channel::Whatsapp, "t1"), &new_envelope("s1", "t1", inbound("ws1"))).await.unwrap();

    let done = wait_until(Duration::from_secs(15), || {
        let slow = slow.clone();
        async move { slow.done.lock().unwrap().first().copied() }
    })
    .await;
    assert_eq!(done, Some(1), "finished on its first delivery");
    // Past two more ack waits: the server was told the handler was alive and never redelivered.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(*slow.deliveries.lock().unwrap(), vec![1], "handed out once, 3.5 s of work on a 1 s ack wait");
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
}

#[tokio::test]
async fn what_a_dead_replica_held_reaches_the_other_within_the_default_ack_wait() {
    let (_nats, bus) = bus().await;
    let spec = ConsumerSpec::new(Stream::Ingest, "heals", "ingest.>");
    assert!(spec.ack_wait <= Duration::from_secs(5), "a crash heals in seconds, not the server's 30 s");
    let dying = Arc::new(Slow { freeze_first: true, ..Default::default() });
    let survivor = Arc::new(Slow::default());
    let shutdown = CancellationToken::new();
    let a = tokio::spawn(run_consumer(bus.clone(), spec.clone(), dying.clone(), shutdown.clone()));
    bus.publish(&subjects::ingest(Channel::Whatsapp, "t1"), &new_envelope("d1", "t1", inbound("wd1"))).await.unwrap();
    let taken = wait_until(Duration::from_secs(10), || {
        let dying = dying.clone();
        async move { dying.deliveries.lock().unwrap().first().copied() }
    })
    .await;
    assert_eq!(taken, Some(1), "the first replica holds it");

    let b = tokio::spawn(run_consumer(bus.clone(), spec, survivor.clone(), shutdown.clone()));
    a.abort(); // as kill -9: no ack, no nak, no more in-progress acks
    let redelivered = wait_until(Duration::from_secs(20), || {
        let survivor = survivor.clone();
        async move { survivor.done.lock().unwrap().first().copied() }
    })
    .await;
    assert_eq!(redelivered, Some(2), "the survivor handles it on the second delivery");
    shutdown.cancel();
    b.await.unwrap();
}
