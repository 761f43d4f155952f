//! Settings of channel-ingest.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings, SettingsError,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub grpc: GrpcSettings,
    pub postgres: PostgresSettings,
    pub nats: NatsSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub ingest: IngestSettings,
    pub whatsapp: WhatsAppSettings,
    pub twilio: TwilioSettings,
    /// Web chat rate limits live in Redis, shared by every replica.
    pub redis: RedisSettings,
    pub webchat: WebchatSettings,
}

/// Twilio Programmable Voice as channel-ingest answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct TwilioSettings {
    /// The public base URL Twilio calls us at (scheme, host, optional port, optional path
    /// prefix; no trailing slash), exactly as configured in Twilio: `X-Twilio-Signature` covers
    /// the full URL, and our TwiML names callback URLs below it.
    pub public_base_url: String,
    /// Twilio's REST API (`https://api.twilio.com`; a local server in tests), for click-to-call.
    pub api_base_url: String,
    /// Timeout of one REST API request.
    pub request_timeout_ms: u64,
    /// Before connecting a number, ask Twilio that the Account SID and auth token are valid and
    /// the account owns the number (`IncomingPhoneNumbers`), so no tenant claims another's
    /// number. Off only where Twilio cannot be reached (the local demo).
    pub verify_numbers: bool,
}

/// The web chat widget's visitor API.
#[derive(Debug, Clone, Deserialize)]
pub struct WebchatSettings {
    /// Messages one visitor may post per minute (fixed one-minute windows); more get 429.
    pub visitor_messages_per_minute: u32,
    /// Requests one client address may make to the visitor API per minute; more get 429.
    pub address_requests_per_minute: u32,
    /// Take the client address from the last `X-Forwarded-For` entry, the one the proxy in
    /// front of channel-ingest appended (only behind exactly one such proxy); otherwise the TCP
    /// peer address.
    pub trust_forwarded_for: bool,
}

/// The Meta Graph API as channel-ingest calls it.
#[derive(Debug, Clone, Deserialize)]
pub struct WhatsAppSettings {
    /// `https://graph.facebook.com` in production; a local server in tests.
    pub graph_base_url: String,
    /// Graph API version, e.g. `v23.0`.
    pub graph_api_version: String,
    /// Timeout of one Graph API request.
    pub request_timeout_ms: u64,
    /// Requests per delivery attempt on 429/5xx before the message goes back to the bus
    /// (which redelivers it with its own backoff, up to its delivery limit).
    pub send_attempts: u32,
    /// First retry delay; doubles each time (a `Retry-After` is honoured up to 10 s).
    pub retry_base_ms: u64,
    /// Outbound messages sent at once by one replica.
    pub send_concurrency: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    /// Largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Wait for the raw archive's commit to reach the disk before publishing and answering.
    /// Off by default: the archive is committed (visible, replayable) before the payload is
    /// published, and reaches the disk within PostgreSQL's `wal_writer_delay` (200 ms), a
    /// shorter window than JetStream's own default sync interval for the published messages;
    /// on a machine with slow fsync, waiting for it bounds webhook latency and throughput.
    pub archive_synchronous_commit: bool,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "channel-ingest";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8081"
        [grpc]
        addr = "127.0.0.1:9081"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_ingest"
        [nats]
        url = "nats://127.0.0.1:4222"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [ingest]
        max_body_bytes = 1048576
        archive_synchronous_commit = false
        [whatsapp]
        graph_base_url = "https://graph.facebook.com"
        graph_api_version = "v23.0"
        request_timeout_ms = 10000
        send_attempts = 4
        retry_base_ms = 500
        send_concurrency = 16
        [twilio]
        public_base_url = "http://127.0.0.1:8081"
        api_base_url = "https://api.twilio.com"
        request_timeout_ms = 10000
        verify_numbers = true
        [redis]
        url = "redis://127.0.0.1:6379"
        key_prefix = "inbox:ingest:"
        [webchat]
        visitor_messages_per_minute = 30
        address_requests_per_minute = 300
        trust_forwarded_for = false
    "#;

    fn log(&self) -> &LogSettings {
        &self.log
    }
    fn http_addr(&self) -> &str {
        &self.http.addr
    }
    fn grpc_addr(&self) -> &str {
        &self.grpc.addr
    }
    fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()?;
        if self.ingest.max_body_bytes < 1024 {
            return Err(SettingsError::Validation("ingest.max_body_bytes must be at least 1024".into()));
        }
        if !(self.whatsapp.graph_base_url.starts_with("https://")
            || self.whatsapp.graph_base_url.starts_with("http://"))
        {
            return Err(SettingsError::Validation("whatsapp.graph_base_url must be an http(s) URL".into()));
        }
        if !(self.twilio.public_base_url.starts_with("https://") || self.twilio.public_base_url.starts_with("http://"))
        {
            return Err(SettingsError::Validation("twilio.public_base_url must be an http(s) URL".into()));
        }
        if !(self.twilio.api_base_url.starts_with("https://") || self.twilio.api_base_url.starts_with("http://"))
            || self.twilio.request_timeout_ms == 0
        {
            return Err(SettingsError::Validation(
                "twilio.api_base_url must be an http(s) URL and request_timeout_ms positive".into(),
            ));
        }
        if !self.whatsapp.graph_api_version.starts_with('v') {
            return Err(SettingsError::Validation("whatsapp.graph_api_version must look like v23.0".into()));
        }
        if self.whatsapp.send_attempts == 0 || self.whatsapp.request_timeout_ms == 0 {
            return Err(SettingsError::Validation(
                "whatsapp.send_attempts and request_timeout_ms must be positive".into(),
            ));
        }
        if self.webchat.visitor_messages_per_minute == 0 || self.webchat.address_requests_per_minute == 0 {
            return Err(SettingsError::Validation("webchat rate limits must be positive".into()));
        }
        Ok(())
    }
}
