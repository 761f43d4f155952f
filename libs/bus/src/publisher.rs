//! The connection, the streams, and publishing with an awaited ack.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use inbox_config::NatsSettings;
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
    /// The NATS user it connected as, if any.
    user: Option<String>,
}

/// The outcome of one acknowledged publish.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    pub sequence: u64,
    /// JetStream had already stored a message with this id inside its duplicate window.
    pub duplicate: bool,
}

impl Bus {
    /// Connects to `url` without credentials, naming the connection `connection_name`.
    /// Reconnects forever after a first successful connection.
    pub async fn connect(url: &str, connection_name: &str) -> Result<Self, BusError> {
        Self::connect_with(&NatsSettings::anonymous(url), connection_name).await
    }

    /// Connects as the service's settings say: as its own NATS user when one is set (its
    /// requests then answered under that user's inbox prefix, the only one it may read; see
    /// `inbox-access`), over TLS with the given authorities when `ca_file` is set.
    pub async fn connect_with(settings: &NatsSettings, connection_name: &str) -> Result<Self, BusError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(connection_name)
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(PUBLISH_ACK_TIMEOUT))
            // A subject outside the user's permissions is refused by the server, not the call:
            // the refusal shows here (a request on it only times out).
            .event_callback(|event| async move {
                if let async_nats::Event::ServerError(error) = event {
                    tracing::warn!(error = %error, "nats server error");
                }
            });
        if !settings.user.is_empty() {
            options = options
                .user_and_password(settings.user.clone(), settings.password.expose().to_owned())
                .custom_inbox_prefix(inbox_access::inbox_prefix(&settings.user));
        }
        if !settings.ca_file.is_empty() {
            options = options.add_root_certificates(settings.ca_file.clone().into()).require_tls(true);
        }
        let client = options.connect(settings.url.as_str()).await.map_err(|e| BusError::Connect(e.to_string()))?;
        let jetstream = jetstream::new(client.clone());
        let user = Some(settings.user.clone()).filter(|u| !u.is_empty());
        Ok(Self { client, jetstream, user })
    }

    /// Creates every stream, or updates its configuration to this version's; a stream already
    /// as configured is left alone. Idempotent. Connected as a service's own user, it changes
    /// only the streams that service manages (`inbox_access::STREAMS`, all its user may
    /// change), and fails, to be retried, while another stream is missing or not yet updated
    /// by its manager.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        // Its own streams are made even while another's is missing, so no two services wait
        // for each other.
        let mut waiting = None;
        for stream in Stream::ALL {
            let wanted = stream.config();
            if let Ok(existing) = self.jetstream.get_stream(stream.name()).await
                && same_settings(&existing.cached_info().config, &wanted)
            {
                continue;
            }
            let manager = inbox_access::stream_manager(stream.name());
            if let Some(user) = &self.user
                && manager != Some(user.as_str())
            {
                let manager = manager.unwrap_or("its manager");
                let reason = format!("missing or not yet updated; waiting for {manager} to create or update it");
                waiting.get_or_insert(BusError::Stream { stream: stream.name(), reason });
                continue;
            }
            self.jetstream
                .create_or_update_stream(wanted)
                .await
                .map_err(|e| BusError::Stream { stream: stream.name(), reason: e.to_string() })?;
        }
        waiting.map_or(Ok(()), Err)
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

/// Whether a stream's configuration already has what this version sets.
fn same_settings(existing: &stream::Config, wanted: &stream::Config) -> bool {
    existing.subjects == wanted.subjects
        && existing.storage == wanted.storage
        && existing.retention == wanted.retention
        && existing.max_age == wanted.max_age
        && existing.duplicate_window == wanted.duplicate_window
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
