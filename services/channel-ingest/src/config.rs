//! Settings of channel-ingest.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings, Secret,
    SettingsError, in_range, not_blank, refuse,
};
use serde::Deserialize;

use crate::secrets::SecretKeys;
use crate::webchat::client_address::Cidr;

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
    /// Keys that seal channel secrets in PostgreSQL.
    pub secrets: SecretsSettings,
}

/// The keys channel secrets are sealed with (AES-256-GCM; see `crate::secrets`).
#[derive(Debug, Clone, Deserialize)]
pub struct SecretsSettings {
    /// `kid1:<base64 of 32 bytes>,kid2:...`: every key a stored secret may be sealed under.
    pub keys: Secret,
    /// The key id new secrets are sealed under; rows under other keys are sealed again under
    /// it when the service starts.
    pub active_key: String,
}

impl SecretsSettings {
    /// The parsed keys; `validate` has refused settings this fails on.
    pub fn keys(&self) -> Result<SecretKeys, SettingsError> {
        SecretKeys::parse(self.keys.expose(), &self.active_key).map_err(|problem| {
            let key = if problem.contains("active key") { "secrets.active_key" } else { "secrets.keys" };
            refuse(key, problem)
        })
    }
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

/// The web chat widget's visitor API. Every "per address" limit counts an IPv4 address, or an
/// IPv6 /64 (what one subscriber gets), in fixed windows shared by every replica (Redis).
#[derive(Debug, Clone, Deserialize)]
pub struct WebchatSettings {
    /// Messages one visitor may post per minute (fixed one-minute windows); more get 429.
    pub visitor_messages_per_minute: u32,
    /// Requests one client address may make to one widget's visitor API per minute; more get
    /// 429.
    pub address_requests_per_minute: u32,
    /// Requests one client address may make to the visitor API of all widgets together per
    /// minute (made-up widget keys count here too); more get 429.
    pub address_requests_per_minute_all_widgets: u32,
    /// The proxies in front of channel-ingest (ingress controllers, load balancers), as
    /// comma-separated CIDRs (`10.0.0.0/8,fd00::/8`). A request from one of them is credited
    /// to the rightmost `X-Forwarded-For` address that is not one of them; a request from any
    /// other peer to the peer, whatever its headers say. Empty: `X-Forwarded-For` is ignored.
    pub trusted_proxies: String,
    /// Replaced by `trusted_proxies`; refused when set, so a deployment that relied on it
    /// does not silently count every visitor as its proxy.
    pub trust_forwarded_for: bool,
    /// A visitor token unused for this many days no longer opens its visitor (the widget
    /// starts a new one).
    pub visitor_idle_days: u32,
    /// New visitors one client address may start per hour (all widgets); more get 429.
    pub visitors_per_address_per_hour: u32,
    /// Page views one client address may record per hour (all widgets); more get 429.
    pub page_views_per_address_per_hour: u32,
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
    /// Before a number is connected, ask the Graph API with the tenant's access token that
    /// the `phone_number_id` exists and belongs to the given WhatsApp Business Account, so no
    /// tenant claims another's number. Off only where Meta cannot be reached (the local demo).
    pub verify_numbers: bool,
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
        admin_addr = "127.0.0.1:10081"
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
        verify_numbers = true
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
        address_requests_per_minute_all_widgets = 1200
        trusted_proxies = ""
        trust_forwarded_for = false
        visitor_idle_days = 30
        visitors_per_address_per_hour = 60
        page_views_per_address_per_hour = 1200
        [secrets]
        keys = ""
        active_key = ""
    "#;

    fn log(&self) -> &LogSettings {
        &self.log
    }
    fn http(&self) -> &HttpSettings {
        &self.http
    }
    fn grpc_addr(&self) -> &str {
        &self.grpc.addr
    }
    /// Refuses, naming the variable to fix, any setting the service cannot run with.
    fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()?;
        self.grpc.validate_tls()?;
        not_blank("http.addr", &self.http.addr)?;
        not_blank("grpc.addr", &self.grpc.addr)?;
        not_blank("postgres.url", &self.postgres.url)?;
        in_range("postgres.max_connections", self.postgres.max_connections, 1..=1000)?;
        not_blank("nats.url", &self.nats.url)?;
        not_blank("redis.url", &self.redis.url)?;
        in_range("ingest.max_body_bytes", self.ingest.max_body_bytes, 1024..=MAX_BODY_BYTES)?;
        self.whatsapp.validate()?;
        self.twilio.validate()?;
        self.webchat.validate()?;
        self.secrets.keys().map(|_| ())
    }
}

/// The largest webhook body a setting may allow (Meta's and Twilio's are far smaller).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The longest timeout of one provider request a setting may ask for.
const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;

impl WhatsAppSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        http_url("whatsapp.graph_base_url", &self.graph_base_url)?;
        let version = self.graph_api_version.strip_prefix('v').unwrap_or_default();
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(refuse(
                "whatsapp.graph_api_version",
                format_args!("must look like v23.0, not {:?}", self.graph_api_version),
            ));
        }
        in_range("whatsapp.request_timeout_ms", self.request_timeout_ms, 100..=MAX_REQUEST_TIMEOUT_MS)?;
        in_range("whatsapp.send_attempts", self.send_attempts, 1..=20)?;
        // Delays double from here and are capped at 10 s.
        in_range("whatsapp.retry_base_ms", self.retry_base_ms, 1..=10_000)?;
        in_range("whatsapp.send_concurrency", self.send_concurrency, 1..=1024)
    }
}

impl TwilioSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        http_url("twilio.public_base_url", &self.public_base_url)?;
        http_url("twilio.api_base_url", &self.api_base_url)?;
        in_range("twilio.request_timeout_ms", self.request_timeout_ms, 100..=MAX_REQUEST_TIMEOUT_MS)
    }
}

impl WebchatSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        in_range("webchat.visitor_messages_per_minute", self.visitor_messages_per_minute, 1..=10_000)?;
        in_range("webchat.address_requests_per_minute", self.address_requests_per_minute, 1..=1_000_000)?;
        in_range(
            "webchat.address_requests_per_minute_all_widgets",
            self.address_requests_per_minute_all_widgets,
            1..=10_000_000,
        )?;
        in_range("webchat.visitor_idle_days", self.visitor_idle_days, 1..=3650)?;
        in_range("webchat.visitors_per_address_per_hour", self.visitors_per_address_per_hour, 1..=1_000_000)?;
        in_range("webchat.page_views_per_address_per_hour", self.page_views_per_address_per_hour, 1..=10_000_000)?;
        if self.trust_forwarded_for {
            return Err(refuse(
                "webchat.trust_forwarded_for",
                "is replaced by webchat.trusted_proxies: the CIDRs of the proxies in front (INBOX__WEBCHAT__TRUSTED_PROXIES)",
            ));
        }
        self.trusted_proxies().map(|_| ())
    }

    /// The parsed `trusted_proxies`.
    pub fn trusted_proxies(&self) -> Result<Vec<Cidr>, SettingsError> {
        Cidr::parse_list(&self.trusted_proxies).map_err(|problem| refuse("webchat.trusted_proxies", problem))
    }
}

/// A URL the service calls or is called at: set, `http://` or `https://`, and a host after it.
fn http_url(key: &str, value: &str) -> Result<(), SettingsError> {
    not_blank(key, value)?;
    let host = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).unwrap_or_default();
    if host.is_empty() || host.starts_with('/') || host.contains(char::is_whitespace) {
        return Err(refuse(key, format_args!("must be an http:// or https:// URL, not {value:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inbox_service::ServiceSettings;

    use super::*;

    /// A valid AES-256 key (32 zero bytes, base64).
    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    /// Settings as the process would load them from `env` over the defaults.
    fn load(env: &[(&str, &str)]) -> Settings {
        let mut vars = HashMap::from([
            ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), "a-service-token-of-16+".to_owned()),
            ("INBOX__SECRETS__KEYS".to_owned(), format!("k1:{KEY}")),
            ("INBOX__SECRETS__ACTIVE_KEY".to_owned(), "k1".to_owned()),
        ]);
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        inbox_config::load(Settings::DEFAULTS, None, &vars).unwrap()
    }

    #[test]
    fn the_defaults_and_the_test_fleets_settings_are_accepted() {
        load(&[]).validate().unwrap();
        load(&[
            ("INBOX__INGEST__MAX_BODY_BYTES", "4096"),
            ("INBOX__WHATSAPP__GRAPH_BASE_URL", "http://127.0.0.1:41234"),
            ("INBOX__WHATSAPP__RETRY_BASE_MS", "20"),
            ("INBOX__WHATSAPP__REQUEST_TIMEOUT_MS", "2000"),
            ("INBOX__TWILIO__PUBLIC_BASE_URL", "https://calls.example.test/"),
            ("INBOX__TWILIO__API_BASE_URL", "http://127.0.0.1:41235"),
            ("INBOX__WEBCHAT__VISITOR_MESSAGES_PER_MINUTE", "5"),
            ("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE", "40"),
            ("INBOX__WEBCHAT__TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8,127.0.0.1"),
            ("INBOX__WHATSAPP__VERIFY_NUMBERS", "false"),
            ("INBOX__SECRETS__KEYS", &format!("old:{KEY},new:{KEY}")),
            ("INBOX__SECRETS__ACTIVE_KEY", "new"),
        ])
        .validate()
        .unwrap();
    }

    #[test]
    fn secret_keys_are_required_checked_and_never_repeated_in_the_refusal() {
        let short = "c2hvcnQ=";
        for (variable, value, names) in [
            ("INBOX__SECRETS__KEYS", "", "INBOX__SECRETS__KEYS"),
            ("INBOX__SECRETS__KEYS", &format!("k1:{short}") as &str, "INBOX__SECRETS__KEYS"),
            ("INBOX__SECRETS__KEYS", "k1", "INBOX__SECRETS__KEYS"),
            ("INBOX__SECRETS__ACTIVE_KEY", "k2", "INBOX__SECRETS__ACTIVE_KEY"),
            ("INBOX__SECRETS__ACTIVE_KEY", "", "INBOX__SECRETS__ACTIVE_KEY"),
        ] {
            let err = load(&[(variable, value)]).validate().unwrap_err().to_string();
            assert!(err.contains(names), "{variable}={value:?}: {err}");
            assert!(!err.contains(short) && !err.contains(KEY), "{err}");
        }
        assert!(!format!("{:?}", load(&[]).secrets).contains(KEY), "settings are logged without the keys");
    }

    #[test]
    fn trusted_proxies_must_be_cidrs_and_the_old_switch_is_refused_by_name() {
        for nonsense in ["10.0.0.0/33", "proxy.internal", "::/129", "10.0.0.0/8;10.1.0.0/16"] {
            let err = load(&[("INBOX__WEBCHAT__TRUSTED_PROXIES", nonsense)]).validate().unwrap_err().to_string();
            assert!(err.contains("INBOX__WEBCHAT__TRUSTED_PROXIES"), "{nonsense}: {err}");
        }
        let err = load(&[("INBOX__WEBCHAT__TRUST_FORWARDED_FOR", "true")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__WEBCHAT__TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn every_numeric_setting_out_of_range_is_refused_naming_its_variable() {
        for (variable, nonsense) in [
            ("INBOX__POSTGRES__MAX_CONNECTIONS", "0"),
            ("INBOX__INGEST__MAX_BODY_BYTES", "0"),
            ("INBOX__INGEST__MAX_BODY_BYTES", "100"),
            ("INBOX__INGEST__MAX_BODY_BYTES", "1000000000"),
            ("INBOX__WHATSAPP__REQUEST_TIMEOUT_MS", "0"),
            ("INBOX__WHATSAPP__REQUEST_TIMEOUT_MS", "3600000"),
            ("INBOX__WHATSAPP__SEND_ATTEMPTS", "0"),
            ("INBOX__WHATSAPP__SEND_ATTEMPTS", "1000"),
            ("INBOX__WHATSAPP__RETRY_BASE_MS", "0"),
            ("INBOX__WHATSAPP__RETRY_BASE_MS", "60000"),
            ("INBOX__WHATSAPP__SEND_CONCURRENCY", "0"),
            ("INBOX__WHATSAPP__SEND_CONCURRENCY", "100000"),
            ("INBOX__TWILIO__REQUEST_TIMEOUT_MS", "0"),
            ("INBOX__WEBCHAT__VISITOR_MESSAGES_PER_MINUTE", "0"),
            ("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE", "0"),
            ("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE_ALL_WIDGETS", "0"),
            ("INBOX__WEBCHAT__VISITOR_IDLE_DAYS", "0"),
            ("INBOX__WEBCHAT__VISITOR_IDLE_DAYS", "100000"),
            ("INBOX__WEBCHAT__VISITORS_PER_ADDRESS_PER_HOUR", "0"),
            ("INBOX__WEBCHAT__PAGE_VIEWS_PER_ADDRESS_PER_HOUR", "0"),
        ] {
            let err = load(&[(variable, nonsense)]).validate().unwrap_err().to_string();
            assert!(err.contains(variable) && err.contains(nonsense), "{variable}={nonsense}: {err}");
        }
    }

    #[test]
    fn urls_that_must_be_set_are_refused_when_blank_or_not_http() {
        for (variable, nonsense) in [
            ("INBOX__WHATSAPP__GRAPH_BASE_URL", ""),
            ("INBOX__WHATSAPP__GRAPH_BASE_URL", "graph.facebook.com"),
            ("INBOX__TWILIO__PUBLIC_BASE_URL", " "),
            ("INBOX__TWILIO__PUBLIC_BASE_URL", "https://"),
            ("INBOX__TWILIO__API_BASE_URL", "ftp://api.twilio.com"),
            ("INBOX__POSTGRES__URL", ""),
            ("INBOX__NATS__URL", ""),
            ("INBOX__REDIS__URL", ""),
            ("INBOX__WHATSAPP__GRAPH_API_VERSION", "23.0"),
            ("INBOX__WHATSAPP__GRAPH_API_VERSION", "v"),
        ] {
            let err = load(&[(variable, nonsense)]).validate().unwrap_err().to_string();
            assert!(err.contains(variable), "{variable}={nonsense:?}: {err}");
        }
    }

    #[test]
    fn a_short_service_token_is_refused() {
        let err = load(&[("INBOX__AUTH__SERVICE_TOKEN", "short")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__AUTH__SERVICE_TOKEN"), "{err}");
    }
}
