//! The connection, the streams, and publishing with an awaited ack.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use inbox_proto::events::v1::Envelope;
use prost::Message as _;

use crate::envelope::TRACE_HEADERS;
use crate::metrics::{PUBLISH_SECONDS, PUBLISHED};

/// The JetStream streams of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `ingest.>`: normalised provider traffic for the conversation service.
    Ingest,
    /// `events.>`: domain events for gateway, search, metrics, routing, notification.
    Events,
    /// `outbound.>`: replies for channel-ingest to deliver.
    Outbound,
    /// `dlq.>`: messages consumers gave up on, kept for inspection and replay.
    DeadLetter,
}

impl Stream {
    pub const ALL: [Stream; 4] = [Stream::Ingest, Stream::Events, Stream::Outbound, Stream::DeadLetter];

    pub fn name(self) -> &'static str {
        match self {
            Stream::Ingest => "INGEST",
            Stream::Events => "EVENTS",
            Stream::Outbound => "OUTBOUND",
            Stream::DeadLetter => "DLQ",
        }
    }

    fn subjects(self) -> &'static str {
        match self {
            Stream::Ingest => "ingest.>",
            Stream::Events => "events.>",
            Stream::Outbound => "outbound.>",
            Stream::DeadLetter => "dlq.>",
        }
    }

    fn max_age(self) -> Duration {
        const DAY: Duration = Duration::from_secs(24 * 3600);
        match self {
            Stream::DeadLetter => 30 * DAY,
            _ => 7 * DAY,
        }
    }

    fn config(self) -> stream::Config {
        stream::Config {
            name: self.name().to_owned(),
            subjects: vec![self.subjects().to_owned()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: self.max_age(),
            // Publishers retry within this window and JetStream drops the copies; consumers
            // stay idempotent for retries that come later.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    #[error("cannot create or update stream {stream}: {reason}")]
    Stream { stream: &'static str, reason: String },
    #[error("publish to {subject} failed: {reason}")]
    Publish { subject: String, reason: String },
    #[error("consumer {consumer}: {reason}")]
    Consumer { consumer: String, reason: String },
}

/// Timeout for one publish ack; a slower JetStream is treated as unavailable.
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to NATS with its JetStream context.
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

/// The outcome of one acknowledged publish.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub sequence: u64,
    /// JetStream had already stored a message with this id inside its duplicate window.
    pub duplicate: bool,
}

impl Bus {
    /// Connects to `url`, naming the connection after the service. Reconnects forever after a
    /// first successful connection.
    pub async fn connect(url: &str, connection_name: &str) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(connection_name)
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(PUBLISH_ACK_TIMEOUT))
            .connect(url)
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let jetstream = jetstream::new(client.clone());
        Ok(Self { client, jetstream })
    }

    /// Creates every stream, or updates its configuration to this version's. Idempotent.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for stream in Stream::ALL {
            self.jetstream
                .create_or_update_stream(stream.config())
                .await
                .map_err(|e| BusError::Stream { stream: stream.name(), reason: e.to_string() })?;
        }
        Ok(())
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// True while the connection to NATS is up.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Publishes `envelope` on `subject` with `Nats-Msg-Id = envelope.event_id` and waits for
    /// JetStream's ack.
    pub async fn publish(&self, subject: &str, envelope: &Envelope) -> Result<Published, BusError> {
        let started = Instant::now();
        let ack = self.send(subject, envelope).await?;
        await_ack(subject, ack, started).await
    }

    /// Publishes many envelopes, pipelined, and waits for every ack. Fails if any fails; the
    /// ones that were stored stay stored, and a retry of the whole batch is absorbed by the
    /// duplicate window.
    pub async fn publish_all(&self, batch: &[(String, Envelope)]) -> Result<Vec<Published>, BusError> {
        let started = Instant::now();
        let mut pending = Vec::with_capacity(batch.len());
        for (subject, envelope) in batch {
            pending.push((subject.as_str(), self.send(subject, envelope).await?));
        }
        let mut results = Vec::with_capacity(pending.len());
        for (subject, ack) in pending {
            results.push(await_ack(subject, ack, started).await?);
        }
        Ok(results)
    }

    async fn send(
        &self,
        subject: &str,
        envelope: &Envelope,
    ) -> Result<async_nats::jetstream::context::PublishAckFuture, BusError> {
        let mut headers = HeaderMap::new();
        let trace = if envelope.trace_context.is_empty() {
            crate::envelope::trace_context_of_current_span()
        } else {
            envelope.trace_context.clone()
        };
        insert_trace_headers(&mut headers, &trace);
        headers.insert("Inbox-Tenant", envelope.tenant_id.as_str());
        // `headers()` replaces the whole map: it must come before `message_id()`.
        let publish = PublishMessage::build()
            .headers(headers)
            .message_id(envelope.event_id.as_str())
            .payload(envelope.encode_to_vec().into());
        self.jetstream
            .send_publish(subject.to_owned(), publish)
            .await
            .map_err(|e| BusError::Publish { subject: subject.to_owned(), reason: e.to_string() })
    }
}

/// Waits for JetStream's ack of a message handed to NATS at `started`.
async fn await_ack(
    subject: &str,
    ack: async_nats::jetstream::context::PublishAckFuture,
    started: Instant,
) -> Result<Published, BusError> {
    let ack = tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack.into_future())
        .await
        .map_err(|_| BusError::Publish { subject: subject.to_owned(), reason: "ack timed out".into() })?
        .map_err(|e| BusError::Publish { subject: subject.to_owned(), reason: e.to_string() })?;
    PUBLISHED.with_label_values(&[ack.stream.as_str(), if ack.duplicate { "true" } else { "false" }]).inc();
    PUBLISH_SECONDS.with_label_values(&[ack.stream.as_str()]).observe(started.elapsed().as_secs_f64());
    Ok(Published { sequence: ack.sequence, duplicate: ack.duplicate })
}

fn insert_trace_headers(headers: &mut HeaderMap, trace: &HashMap<String, String>) {
    for key in TRACE_HEADERS {
        if let Some(value) = trace.get(key) {
            headers.insert(key, value.as_str());
        }
    }
}

/// Reads the W3C trace headers of a received message.
pub(crate) fn trace_headers_of(headers: Option<&HeaderMap>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(headers) = headers {
        for key in TRACE_HEADERS {
            if let Some(value) = headers.get(key) {
                out.insert(key.to_owned(), value.as_str().to_owned());
            }
        }
    }
    out
}
