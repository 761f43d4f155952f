//! Settings of the gateway.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings, Secret,
    SettingsError,
};
use serde::Deserialize;

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
        token_ttl_hours = 720
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
        if self.gateway.jwt_secret.expose().len() < 32 {
            return Err(SettingsError::Validation(
                "gateway.jwt_secret must be at least 32 characters (INBOX__GATEWAY__JWT_SECRET)".into(),
            ));
        }
        if self.gateway.operator_token.expose().len() < 16 {
            return Err(SettingsError::Validation(
                "gateway.operator_token must be at least 16 characters (INBOX__GATEWAY__OPERATOR_TOKEN)".into(),
            ));
        }
        if self.gateway.token_ttl_hours <= 0 {
            return Err(SettingsError::Validation("gateway.token_ttl_hours must be positive".into()));
        }
        Ok(())
    }
}
