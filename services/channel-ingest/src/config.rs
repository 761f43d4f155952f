//! Settings of channel-ingest.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, SettingsError,
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
}

#[derive(Debug, Clone, Deserialize)]
pub struct IngestSettings {
    /// Largest webhook body accepted; larger ones get 413.
    pub max_body_bytes: usize,
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
        Ok(())
    }
}
