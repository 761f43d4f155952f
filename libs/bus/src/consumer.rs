//! Durable pull consumers: explicit ack, bounded redelivery with backoff, dead letters, and a
//! graceful stop that finishes what is in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::{AckKind, Message};
use futures::StreamExt;
use inbox_proto::events::v1::Envelope;
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::adopt_parent;
use crate::metrics::{CONSUMED, DEAD_LETTERS, HANDLE_SECONDS, WAIT_SECONDS};
use crate::publisher::{Bus, BusError, Stream, trace_headers_of};
use crate::subjects;

/// How long one pull request waits at the server for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(10);
/// The server's idle heartbeat on a waiting pull request; two missed start a fresh pull.
const PULL_HEARTBEAT: Duration = Duration::from_secs(2);
/// The first pause after a failed consumer setup; it doubles up to `SETUP_RETRY_MAX`.
const SETUP_RETRY_FIRST: Duration = Duration::from_millis(100);
const SETUP_RETRY_MAX: Duration = Duration::from_secs(5);

/// The default ack wait. A kill -9 heals within it (JetStream redelivers what the dead
/// process held); 30 s, the server's default, made a crash a 30 s stall for the customers whose
/// messages were in flight.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(5);

/// What a durable consumer reads and how hard it tries.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub stream: Stream,
    /// Durable name; replicas of a service share it and so share the work.
    pub durable_name: String,
    /// Subject filter within the stream, e.g. `ingest.>`.
    pub filter_subject: String,
    /// Deliveries before a message is dead-lettered.
    pub max_deliver: i64,
    /// Delay before redelivery, by attempt (the last one repeats).
    pub backoff: Vec<Duration>,
    /// How long the server waits for an ack before redelivering: how soon the messages a
    /// crashed (or frozen) process held reach another replica. A handler still working tells
    /// the server so every half of it (an in-progress ack), so a slow handler is not doubled.
    pub ack_wait: Duration,
    /// Messages handled at once by this process; also the consumer's `max_ack_pending` (at
    /// least 1,024), so every one of them can be in flight.
    pub concurrency: usize,
}

impl ConsumerSpec {
    /// A consumer with the fleet's defaults: 8 deliveries, backoff 1 s → 5 min, 5 s ack wait.
    pub fn new(stream: Stream, durable_name: impl Into<String>, filter_subject: impl Into<String>) -> Self {
        Self {
            stream,
            durable_name: durable_name.into(),
            filter_subject: filter_subject.into(),
            max_deliver: 8,
            backoff: [1, 5, 15, 30, 60, 120, 300].into_iter().map(Duration::from_secs).collect(),
            ack_wait: DEFAULT_ACK_WAIT,
            concurrency: 16,
        }
    }

    /// How often a handler still at work tells the server so: twice per ack wait.
    fn progress_every(&self) -> Duration {
        (self.ack_wait / 2).max(Duration::from_millis(100))
    }

    fn retry_delay(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
        self.backoff.get(index).or(self.backoff.last()).copied().unwrap_or(Duration::from_secs(1))
    }
}

/// One message handed to a handler.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subject: String,
    pub envelope: Envelope,
    /// 1 on first delivery.
    pub delivered: i64,
    pub stream_sequence: u64,
}

/// Why a handler did not finish a message.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A dependency failed; try again later (up to `max_deliver`).
    #[error("retryable: {0}")]
    Retry(String),
    /// The message can never be handled; dead-letter it now.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Handles messages of one consumer. Must be idempotent: a message can arrive more than once.
pub trait MessageHandler: Send + Sync + 'static {
    fn handle(&self, delivery: Delivery) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Runs `handler` over the consumer until `shutdown` fires, then lets in-flight messages finish
/// (and ack) before returning. A consumer that cannot be set up (the bus down or not ready)
/// is tried again until it can.
pub async fn run_consumer<H: MessageHandler>(
    bus: Bus,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: CancellationToken,
) {
    let Some(messages) = subscribe_until_it_works(&bus, &spec, &shutdown).await else {
        return;
    };
    tracing::info!(consumer = %spec.durable_name, filter = %spec.filter_subject, "consumer started");

    let spec = Arc::new(spec);
    let concurrency = spec.concurrency.max(1);
    messages
        .take_until(shutdown.cancelled_owned())
        .for_each_concurrent(concurrency, |next| {
            let spec = spec.clone();
            let handler = handler.clone();
            let bus = bus.clone();
            async move {
                match next {
                    Ok(message) => handle_one(&bus, &spec, handler.as_ref(), message).await,
                    Err(e) => tracing::warn!(consumer = %spec.durable_name, error = %e, "pull failed; continuing"),
                }
            }
        })
        .await;
    tracing::info!(consumer = %spec.durable_name, "consumer stopped");
}

/// The consumer's message stream, set up again after a pause while the server cannot give it
/// (NATS restarting, JetStream not ready yet, the stream not created yet): a replica that starts
/// during a bus outage waits for the bus instead of exiting. `None` when `shutdown` fired first.
async fn subscribe_until_it_works(
    bus: &Bus,
    spec: &ConsumerSpec,
    shutdown: &CancellationToken,
) -> Option<pull::Stream> {
    let mut pause = SETUP_RETRY_FIRST;
    loop {
        match subscribe(bus, spec).await {
            Ok(messages) => return Some(messages),
            Err(e) => tracing::warn!(
                consumer = %spec.durable_name,
                error = %e,
                retry_in_ms = pause.as_millis() as u64,
                "consumer setup failed; retrying"
            ),
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(SETUP_RETRY_MAX);
    }
}

/// Creates (or binds to) the durable consumer and opens its pull stream.
async fn subscribe(bus: &Bus, spec: &ConsumerSpec) -> Result<pull::Stream, BusError> {
    let consumer_error = |reason: String| BusError::Consumer { consumer: spec.durable_name.clone(), reason };
    let stream = bus.jetstream().get_stream(spec.stream.name()).await.map_err(|e| consumer_error(e.to_string()))?;
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some(spec.durable_name.clone()),
            filter_subject: spec.filter_subject.clone(),
            ack_policy: AckPolicy::Explicit,
            deliver_policy: DeliverPolicy::All,
            ack_wait: spec.ack_wait,
            max_deliver: spec.max_deliver,
            // The server's cap on unacknowledged messages follows what the service handles at
            // once (at least 1,024): a batching consumer gathers its next batch while it
            // commits the last only when more than a batch may be in flight.
            max_ack_pending: i64::try_from(spec.concurrency.max(1024)).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .await
        .map_err(|e| consumer_error(e.to_string()))?;
    // Pull requests live 10 s with a 2 s idle heartbeat (the client's defaults are 30 s and
    // 15 s). When the client's count of requested messages drifts from the server's, nothing
    // arrives until a heartbeat is missed and the client pulls afresh: 4 s at most, not 30.
    consumer
        .stream()
        .expires(PULL_EXPIRES)
        .heartbeat(PULL_HEARTBEAT)
        .messages()
        .await
        .map_err(|e| consumer_error(e.to_string()))
}

async fn handle_one<H: MessageHandler>(bus: &Bus, spec: &ConsumerSpec, handler: &H, message: Message) {
    let (delivered, stream_sequence) = match message.info() {
        Ok(info) => {
            if info.delivered == 1 {
                let waited = seconds_since_stored(info.published.unix_timestamp_nanos());
                WAIT_SECONDS.with_label_values(&[spec.durable_name.as_str()]).observe(waited);
            }
            (info.delivered, info.stream_sequence)
        }
        Err(_) => (1, 0),
    };
    let subject = message.subject.to_string();
    let span = tracing::info_span!(
        "bus.consume",
        consumer = %spec.durable_name,
        subject = %subject,
        delivered,
        event_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
    );
    adopt_parent(&span, &trace_headers_of(message.headers.as_ref()));

    async {
        let started = Instant::now();
        let outcome = match Envelope::decode(message.payload.clone()) {
            Ok(envelope) => {
                let span = tracing::Span::current();
                span.record("event_id", envelope.event_id.as_str());
                span.record("tenant_id", envelope.tenant_id.as_str());
                let handled =
                    handler.handle(Delivery { subject: subject.clone(), envelope, delivered, stream_sequence });
                while_telling_progress(&message, spec, handled).await
            }
            Err(e) => Err(HandlerError::Permanent(format!("not an Envelope: {e}"))),
        };
        HANDLE_SECONDS.with_label_values(&[spec.durable_name.as_str()]).observe(started.elapsed().as_secs_f64());
        tracing::debug!(ok = outcome.is_ok(), elapsed_us = started.elapsed().as_micros() as u64, "event handled");

        let consumer = spec.durable_name.as_str();
        match outcome {
            Ok(()) => {
                ack(&message, AckKind::Ack, consumer).await;
                CONSUMED.with_label_values(&[consumer, "acked"]).inc();
            }
            Err(HandlerError::Retry(reason)) if delivered < spec.max_deliver => {
                let delay = spec.retry_delay(delivered);
                tracing::warn!(reason = %reason, retry_in_ms = delay.as_millis() as u64, "handler failed; will retry");
                ack(&message, AckKind::Nak(Some(delay)), consumer).await;
                CONSUMED.with_label_values(&[consumer, "retried"]).inc();
            }
            Err(error) => {
                dead_letter(bus, spec, &message, &error.to_string(), delivered).await;
            }
        }
    }
    .instrument(span)
    .await
}

/// Awaits `work`, sending an in-progress ack every half ack wait while it runs: a handler that
/// is alive keeps its message however long it takes (a batch waiting on a slow database), while
/// a process that died or froze stops telling and its messages go elsewhere after the ack wait.
/// Most handlers finish long before the first tick, so this costs nothing on the hot path.
async fn while_telling_progress<T>(message: &Message, spec: &ConsumerSpec, work: impl Future<Output = T>) -> T {
    let every = spec.progress_every();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            _ = ticks.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(consumer = %spec.durable_name, error = %e, "in-progress ack failed");
                }
            }
        }
    }
}

/// Seconds from a stream's storing time (nanoseconds since the epoch, the server's clock) to
/// now; zero when the clocks disagree the other way.
pub fn seconds_since_stored(stored_unix_nanos: i128) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(stored_unix_nanos);
    ((now - stored_unix_nanos).max(0) as f64) / 1e9
}

async fn ack(message: &Message, kind: AckKind, consumer: &str) {
    if let Err(e) = message.ack_with(kind).await {
        // The server redelivers after ack_wait; the handler is idempotent.
        tracing::warn!(consumer, error = %e, "ack failed; message will be redelivered");
    }
}

/// Moves a message to `dlq.<stream>.<consumer>` with the reason in headers, then terminates
/// it. If the dead-letter publish fails the message is left for redelivery: never lost.
async fn dead_letter(bus: &Bus, spec: &ConsumerSpec, message: &Message, reason: &str, delivered: i64) {
    let stream = spec.stream.name();
    let consumer = spec.durable_name.as_str();
    let mut headers = message.headers.clone().unwrap_or_default();
    headers.insert("Inbox-Dlq-Reason", reason.replace(['\r', '\n'], " ").as_str());
    headers.insert("Inbox-Dlq-Subject", message.subject.as_str());
    headers.insert("Inbox-Dlq-Deliveries", delivered.to_string().as_str());
    let subject = subjects::dead_letter(stream, consumer);
    let stored = match bus.jetstream().publish_with_headers(subject, headers, message.payload.clone()).await {
        Ok(ack_future) => ack_future.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stored {
        Ok(()) => {
            tracing::error!(reason, deliveries = delivered, "message dead-lettered");
            DEAD_LETTERS.with_label_values(&[stream, consumer]).inc();
            CONSUMED.with_label_values(&[consumer, "dead_lettered"]).inc();
            ack(message, AckKind::Term, consumer).await;
        }
        Err(e) => {
            tracing::error!(reason, error = %e, "dead-letter publish failed; leaving message for redelivery");
            ack(message, AckKind::Nak(Some(spec.retry_delay(delivered))), consumer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_follow_the_backoff_table_and_repeat_its_last_step() {
        let spec = ConsumerSpec::new(Stream::Ingest, "c", "ingest.>");
        assert_eq!(spec.retry_delay(1), Duration::from_secs(1));
        assert_eq!(spec.retry_delay(2), Duration::from_secs(5));
        assert_eq!(spec.retry_delay(7), Duration::from_secs(300));
        assert_eq!(spec.retry_delay(50), Duration::from_secs(300));
    }
}
