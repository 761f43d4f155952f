//! Settings of the gateway.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings, Secret,
    SettingsError, in_range, not_blank, refuse,
};
use serde::Deserialize;

use crate::auth::MAX_TOKEN_TTL_HOURS;

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
    /// Lifetime of tokens issued without an explicit one.
    pub token_ttl_hours: i64,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "gateway";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8080"
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
        token_ttl_hours = 720
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
    fn http_addr(&self) -> &str {
        &self.http.addr
    }
    fn grpc_addr(&self) -> &str {
        &self.grpc.addr
    }
    fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()?;
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
        in_range("gateway.token_ttl_hours", self.token_ttl_hours, 1..=MAX_TOKEN_TTL_HOURS)
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
    fn a_blank_or_schemeless_service_address_is_refused_naming_its_variable() {
        for (variable, value) in [
            ("INBOX__GATEWAY__CONVERSATION_URL", " "),
            ("INBOX__GATEWAY__CHANNEL_INGEST_URL", "127.0.0.1:9081"),
            ("INBOX__GATEWAY__ROUTING_URL", ""),
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
