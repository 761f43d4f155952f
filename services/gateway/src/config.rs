//! Settings of the gateway.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings, Secret,
    SettingsError, in_range, not_blank, refuse,
};
use serde::Deserialize;

use crate::auth::password::HashCost;
use crate::auth::rate_limit::SignInLimits;
use crate::auth::{AuthPolicy, MAX_TOKEN_TTL_HOURS, RequestLimits};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub grpc: GrpcSettings,
    pub postgres: PostgresSettings,
    pub nats: NatsSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub gateway: GatewaySettings,
    /// The live stream: socket limits, replay, presence, viewers.
    pub live: crate::live::LiveSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    /// HMAC key (HS256) the gateway signs and checks agent tokens with.
    pub jwt_secret: Secret,
    /// Bearer token of the deployment's operator (inboxctl): may administer every tenant.
    pub operator_token: Secret,
    /// gRPC address of the conversation service.
    pub conversation_url: String,
    /// gRPC address of channel-ingest.
    pub channel_ingest_url: String,
    /// gRPC address of routing (agents' profiles, teams, availability, assignment).
    pub routing_url: String,
    /// gRPC address of metrics (reports, live figures, CSAT settings, rebuilds).
    pub metrics_url: String,
    /// gRPC address of notification (the centre, preferences, push, SLA, webhooks).
    pub notification_url: String,
    /// gRPC address of search (conversations, customers, top questions, the index).
    pub search_url: String,
    /// Lifetime of tokens issued without an explicit one.
    pub token_ttl_hours: i64,
    /// Lifetime of an access token from signing in or refreshing.
    pub access_token_ttl_seconds: i64,
    /// Lifetime of a signed-in session: its refresh tokens die with it.
    pub session_ttl_hours: i64,
    /// argon2id memory cost of password hashes, in KiB (OWASP: 19456).
    pub password_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub password_iterations: u32,
    /// argon2id lanes (OWASP: 1).
    pub password_parallelism: u32,
    /// Failed sign-ins allowed per account (email) within the window.
    pub sign_in_failures_per_account: u32,
    /// Failed sign-ins allowed per client address within the window.
    pub sign_in_failures_per_address: u32,
    pub sign_in_window_seconds: i64,
    /// How long a user, session or key record is trusted before it is read again; every
    /// revocation also clears it at once on every replica. 0: read on every request.
    pub auth_cache_ttl_ms: u64,
    /// Take the client's address for sign-in limits from `X-Forwarded-For` (only behind a
    /// proxy that sets it).
    pub trust_forwarded_for: bool,
    /// REST requests a person may make per minute, over every replica (1 to 1,000,000; there
    /// is no "unlimited").
    pub requests_per_minute_per_user: u32,
    /// REST requests an API key may make per minute, over every replica (1 to 1,000,000).
    pub requests_per_minute_per_key: u32,
    /// How long a ticket (`POST /v1/auth/ticket`: the credential a browser puts in the live
    /// stream's or a media link's URL) may wait to be used, in seconds (5 to 300).
    pub ticket_ttl_seconds: u64,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "gateway";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8080"
        admin_addr = "127.0.0.1:10080"
        [grpc]
        addr = "127.0.0.1:9080"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_gateway"
        [nats]
        url = "nats://127.0.0.1:4222"
        [redis]
        url = "redis://127.0.0.1:6379"
        key_prefix = "inbox:gateway:"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [gateway]
        jwt_secret = ""
        operator_token = ""
        conversation_url = "http://127.0.0.1:9082"
        channel_ingest_url = "http://127.0.0.1:9081"
        routing_url = "http://127.0.0.1:9083"
        metrics_url = "http://127.0.0.1:9086"
        notification_url = "http://127.0.0.1:9084"
        search_url = "http://127.0.0.1:9085"
        token_ttl_hours = 720
        access_token_ttl_seconds = 900
        session_ttl_hours = 720
        password_memory_kib = 19456
        password_iterations = 2
        password_parallelism = 1
        sign_in_failures_per_account = 5
        sign_in_failures_per_address = 30
        sign_in_window_seconds = 900
        auth_cache_ttl_ms = 5000
        trust_forwarded_for = false
        requests_per_minute_per_user = 1200
        requests_per_minute_per_key = 600
        ticket_ttl_seconds = 30
        [live]
        max_sockets_per_user = 20
        max_client_frame_bytes = 4096
        socket_queue_frames = 512
        replay_limit = 10000
        replay_memory_frames = 1024
        ping_seconds = 25
        idle_timeout_seconds = 60
        presence_grace_seconds = 10
        presence_ttl_seconds = 60
        availability_hold_seconds = 3600
        availability_interval_ms = 1000
        viewer_ttl_seconds = 60
        visibility_cache_seconds = 5
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
    fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()?;
        self.grpc.validate_tls()?;
        not_blank("http.addr", &self.http.addr)?;
        not_blank("grpc.addr", &self.grpc.addr)?;
        not_blank("postgres.url", &self.postgres.url)?;
        in_range("postgres.max_connections", self.postgres.max_connections, 1..=1000)?;
        not_blank("nats.url", &self.nats.url)?;
        not_blank("redis.url", &self.redis.url)?;
        self.live.validate()?;
        self.gateway.validate()
    }
}

impl GatewaySettings {
    /// Refuses, naming the variable, what would make the gateway fail later or insecure.
    fn validate(&self) -> Result<(), SettingsError> {
        if self.jwt_secret.expose().len() < 32 {
            return Err(refuse("gateway.jwt_secret", "must be at least 32 characters"));
        }
        if self.operator_token.expose().len() < 16 {
            return Err(refuse("gateway.operator_token", "must be at least 16 characters"));
        }
        grpc_url("gateway.conversation_url", &self.conversation_url)?;
        grpc_url("gateway.channel_ingest_url", &self.channel_ingest_url)?;
        grpc_url("gateway.routing_url", &self.routing_url)?;
        grpc_url("gateway.metrics_url", &self.metrics_url)?;
        grpc_url("gateway.notification_url", &self.notification_url)?;
        grpc_url("gateway.search_url", &self.search_url)?;
        in_range("gateway.token_ttl_hours", self.token_ttl_hours, 1..=MAX_TOKEN_TTL_HOURS)?;
        in_range("gateway.access_token_ttl_seconds", self.access_token_ttl_seconds, 60..=86_400)?;
        in_range("gateway.session_ttl_hours", self.session_ttl_hours, 1..=MAX_TOKEN_TTL_HOURS)?;
        in_range("gateway.password_memory_kib", self.password_memory_kib, 8..=4_194_304)?;
        in_range("gateway.password_iterations", self.password_iterations, 1..=64)?;
        in_range("gateway.password_parallelism", self.password_parallelism, 1..=16)?;
        if let Err(problem) = self.auth_policy().hash_cost.params() {
            return Err(refuse("gateway.password_memory_kib", format_args!("with this parallelism: {problem}")));
        }
        in_range("gateway.sign_in_failures_per_account", self.sign_in_failures_per_account, 1..=1_000)?;
        in_range("gateway.sign_in_failures_per_address", self.sign_in_failures_per_address, 1..=100_000)?;
        in_range("gateway.sign_in_window_seconds", self.sign_in_window_seconds, 60..=86_400)?;
        in_range("gateway.auth_cache_ttl_ms", self.auth_cache_ttl_ms, 0..=60_000)?;
        in_range("gateway.requests_per_minute_per_user", self.requests_per_minute_per_user, 1..=1_000_000)?;
        in_range("gateway.requests_per_minute_per_key", self.requests_per_minute_per_key, 1..=1_000_000)?;
        in_range("gateway.ticket_ttl_seconds", self.ticket_ttl_seconds, 5..=300)
    }

    /// Lifetimes, password cost and sign-in limits, as [`crate::auth::Auth`] applies them.
    pub fn auth_policy(&self) -> AuthPolicy {
        AuthPolicy {
            access_ttl: chrono::Duration::seconds(self.access_token_ttl_seconds),
            session_ttl: chrono::Duration::hours(self.session_ttl_hours),
            record_ttl: std::time::Duration::from_millis(self.auth_cache_ttl_ms),
            hash_cost: HashCost {
                memory_kib: self.password_memory_kib,
                iterations: self.password_iterations,
                parallelism: self.password_parallelism,
            },
            limits: SignInLimits {
                per_account: self.sign_in_failures_per_account,
                per_address: self.sign_in_failures_per_address,
                window_seconds: self.sign_in_window_seconds,
            },
            trust_forwarded_for: self.trust_forwarded_for,
            requests: RequestLimits {
                per_user: self.requests_per_minute_per_user,
                per_key: self.requests_per_minute_per_key,
            },
            ticket_ttl: std::time::Duration::from_secs(self.ticket_ttl_seconds),
        }
    }
}

/// A service's gRPC address: set, and `http://` or `https://` (the channel needs the scheme).
fn grpc_url(key: &str, value: &str) -> Result<(), SettingsError> {
    not_blank(key, value)?;
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(refuse(key, format_args!("must be an http:// or https:// address, not {value:?}")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inbox_service::ServiceSettings;

    use super::*;

    /// Settings as the process would load them from `env` over the defaults.
    fn load(env: &[(&str, &str)]) -> Settings {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("INBOX__AUTH__SERVICE_TOKEN".into(), "a-service-token-of-16+".into()),
            ("INBOX__GATEWAY__JWT_SECRET".into(), "a-jwt-secret-of-at-least-32-characters".into()),
            ("INBOX__GATEWAY__OPERATOR_TOKEN".into(), "operator-token-123".into()),
        ]);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        inbox_config::load(Settings::DEFAULTS, None, &vars).unwrap()
    }

    fn refusal(env: &[(&str, &str)]) -> String {
        load(env).validate().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_with_secrets_set_are_accepted() {
        let settings = load(&[]);
        settings.validate().unwrap();
        assert_eq!(settings.gateway.token_ttl_hours, 720);
    }

    #[test]
    fn short_secrets_are_refused_naming_their_variable() {
        assert!(refusal(&[("INBOX__GATEWAY__JWT_SECRET", "short")]).contains("INBOX__GATEWAY__JWT_SECRET"));
        assert!(refusal(&[("INBOX__GATEWAY__OPERATOR_TOKEN", "short")]).contains("INBOX__GATEWAY__OPERATOR_TOKEN"));
        assert!(refusal(&[("INBOX__AUTH__SERVICE_TOKEN", "")]).contains("INBOX__AUTH__SERVICE_TOKEN"));
    }

    #[test]
    fn a_token_lifetime_outside_an_hour_to_a_year_is_refused() {
        for hours in ["0", "-5", "8761"] {
            let refused = refusal(&[("INBOX__GATEWAY__TOKEN_TTL_HOURS", hours)]);
            assert!(refused.contains("INBOX__GATEWAY__TOKEN_TTL_HOURS"), "{hours}: {refused}");
            assert!(refused.contains("between 1 and 8760"), "{refused}");
        }
        load(&[("INBOX__GATEWAY__TOKEN_TTL_HOURS", "8760")]).validate().unwrap();
    }

    #[test]
    fn sign_in_defaults_are_owasps_argon2id_cost_short_access_tokens_and_modest_limits() {
        let policy = load(&[]).gateway.auth_policy();
        assert_eq!(policy.hash_cost, HashCost { memory_kib: 19456, iterations: 2, parallelism: 1 });
        assert_eq!(policy.access_ttl, chrono::Duration::minutes(15));
        assert_eq!(policy.session_ttl, chrono::Duration::days(30));
        assert_eq!(policy.limits, SignInLimits { per_account: 5, per_address: 30, window_seconds: 900 });
        assert!(!policy.trust_forwarded_for);
    }

    #[test]
    fn request_budgets_default_generous_and_cannot_be_switched_off() {
        assert_eq!(load(&[]).gateway.auth_policy().requests, RequestLimits { per_user: 1200, per_key: 600 });
        for (variable, value) in [
            ("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER", "0"),
            ("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY", "0"),
            ("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER", "1000001"),
        ] {
            let refused = refusal(&[(variable, value)]);
            assert!(refused.contains(variable), "{variable}={value}: {refused}");
        }
        load(&[("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY", "1")]).validate().unwrap();
    }

    #[test]
    fn tickets_live_half_a_minute_by_default_and_never_long() {
        assert_eq!(load(&[]).gateway.auth_policy().ticket_ttl, std::time::Duration::from_secs(30));
        for value in ["0", "4", "301"] {
            let refused = refusal(&[("INBOX__GATEWAY__TICKET_TTL_SECONDS", value)]);
            assert!(refused.contains("INBOX__GATEWAY__TICKET_TTL_SECONDS"), "{value}: {refused}");
        }
    }

    #[test]
    fn tests_may_lower_the_password_cost_but_not_below_what_argon2_accepts() {
        let cheap = [("INBOX__GATEWAY__PASSWORD_MEMORY_KIB", "64"), ("INBOX__GATEWAY__PASSWORD_ITERATIONS", "1")];
        load(&cheap).validate().unwrap();
        for (variable, value) in [
            ("INBOX__GATEWAY__PASSWORD_MEMORY_KIB", "4"),
            ("INBOX__GATEWAY__PASSWORD_ITERATIONS", "0"),
            ("INBOX__GATEWAY__PASSWORD_PARALLELISM", "17"),
        ] {
            let refused = refusal(&[(variable, value)]);
            assert!(refused.contains(variable), "{variable}: {refused}");
        }
        let lanes =
            refusal(&[("INBOX__GATEWAY__PASSWORD_MEMORY_KIB", "16"), ("INBOX__GATEWAY__PASSWORD_PARALLELISM", "4")]);
        assert!(lanes.contains("INBOX__GATEWAY__PASSWORD_MEMORY_KIB"), "{lanes}");
    }

    #[test]
    fn sign_in_lifetimes_limits_and_the_cache_are_kept_within_reason() {
        for (variable, value) in [
            ("INBOX__GATEWAY__ACCESS_TOKEN_TTL_SECONDS", "59"),
            ("INBOX__GATEWAY__ACCESS_TOKEN_TTL_SECONDS", "86401"),
            ("INBOX__GATEWAY__SESSION_TTL_HOURS", "0"),
            ("INBOX__GATEWAY__SIGN_IN_FAILURES_PER_ACCOUNT", "0"),
            ("INBOX__GATEWAY__SIGN_IN_FAILURES_PER_ADDRESS", "0"),
            ("INBOX__GATEWAY__SIGN_IN_WINDOW_SECONDS", "30"),
            ("INBOX__GATEWAY__AUTH_CACHE_TTL_MS", "60001"),
        ] {
            let refused = refusal(&[(variable, value)]);
            assert!(refused.contains(variable), "{variable}={value}: {refused}");
        }
        load(&[("INBOX__GATEWAY__AUTH_CACHE_TTL_MS", "0")]).validate().unwrap();
    }

    #[test]
    fn a_blank_or_schemeless_service_address_is_refused_naming_its_variable() {
        for (variable, value) in [
            ("INBOX__GATEWAY__CONVERSATION_URL", " "),
            ("INBOX__GATEWAY__CHANNEL_INGEST_URL", "127.0.0.1:9081"),
            ("INBOX__GATEWAY__ROUTING_URL", ""),
            ("INBOX__GATEWAY__SEARCH_URL", "127.0.0.1:9085"),
        ] {
            let refused = refusal(&[(variable, value)]);
            assert!(refused.contains(variable), "{variable}: {refused}");
        }
        load(&[("INBOX__GATEWAY__ROUTING_URL", "https://routing.internal:9083")]).validate().unwrap();
    }

    #[test]
    fn blank_listeners_and_stores_and_an_empty_pool_are_refused() {
        for (variable, value) in [
            ("INBOX__HTTP__ADDR", ""),
            ("INBOX__GRPC__ADDR", " "),
            ("INBOX__POSTGRES__URL", ""),
            ("INBOX__POSTGRES__MAX_CONNECTIONS", "0"),
            ("INBOX__NATS__URL", ""),
            ("INBOX__REDIS__URL", ""),
        ] {
            let refused = refusal(&[(variable, value)]);
            assert!(refused.contains(variable), "{variable}: {refused}");
        }
    }
}
