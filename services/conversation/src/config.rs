//! Settings of the conversation service.

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
    pub conversation: ConversationSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConversationSettings {
    /// Inbound messages in flight at once in one replica (pulled, waiting for their batch).
    pub ingest_concurrency: usize,
    /// Transactions storing inbound batches at once in one replica.
    pub batch_workers: usize,
    /// Most inbound messages stored in one transaction.
    pub max_batch: usize,
    /// Outbox rows published per relay round.
    pub outbox_batch: i64,
    /// Seconds between two rounds of the automatic status rules.
    pub sweep_interval_seconds: u64,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "conversation";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8082"
        [grpc]
        addr = "127.0.0.1:9082"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_conversation"
        [nats]
        url = "nats://127.0.0.1:4222"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [conversation]
        ingest_concurrency = 1024
        batch_workers = 3
        max_batch = 256
        outbox_batch = 500
        sweep_interval_seconds = 15
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
