//! Settings of the routing service.

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
    /// Agent availability and load.
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "routing";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8083"
        [grpc]
        addr = "127.0.0.1:9083"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_routing"
        [nats]
        url = "nats://127.0.0.1:4222"
        [redis]
        url = "redis://127.0.0.1:6379"
        key_prefix = "inbox:routing:"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
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
        self.auth.validate()
    }
}
