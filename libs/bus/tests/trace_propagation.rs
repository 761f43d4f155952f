//! Trace context crosses the bus: a consumer handles a message inside the publisher's trace.
//! In a test binary of its own: tracing caches per-callsite interest process-wide, and a
//! thread-scoped subscriber here would race with tests running on threads without one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use inbox_bus::{
    Bus, ConsumerSpec, Delivery, HandlerError, MessageHandler, Payload, Stream, new_envelope, run_consumer, subjects,
};
use inbox_proto::common::v1::Channel;
use inbox_proto::ingest::v1::InboundMessage;
use inbox_testkit::{TestNats, wait_until};
use tokio_util::sync::CancellationToken;

/// Records the trace id active while each message is handled.
struct TraceRecorder {
    seen: Mutex<Vec<Option<String>>>,
}

impl MessageHandler for TraceRecorder {
    async fn handle(&self, _delivery: Delivery) -> Result<(), HandlerError> {
        self.seen.lock().unwrap().push(inbox_telemetry::current_trace_id());
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_consumer_continues_the_publishers_trace() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bus-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url(), "trace-test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    let handler = Arc::new(TraceRecorder { seen: Mutex::new(Vec::new()) });
    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn(run_consumer(
        bus.clone(),
        ConsumerSpec::new(Stream::Ingest, "traced", "ingest.>"),
        handler.clone(),
        shutdown.clone(),
    ));

    let publisher_trace = async {
        bus.publish(
            &subjects::ingest(Channel::Whatsapp, "t1"),
            &new_envelope(
                "traced-1",
                "t1",
                Payload::InboundMessage(InboundMessage { tenant_id: "t1".into(), ..Default::default() }),
            ),
        )
        .await
        .unwrap();
        inbox_telemetry::current_trace_id()
    }
    .instrument(tracing::info_span!("webhook"))
    .await;
    assert!(publisher_trace.is_some());

    let seen = wait_until(Duration::from_secs(10), || {
        let handler = handler.clone();
        async move { handler.seen.lock().unwrap().first().cloned() }
    })
    .await;
    assert_eq!(seen, Some(publisher_trace), "the handler runs inside the publisher's trace");
    shutdown.cancel();
    consumer.await.unwrap();
}
