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
    /// Agent availability (keys expire by themselves).
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub routing: RoutingSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoutingSettings {
    /// gRPC address of the conversation service (conversations routing has not seen yet, and
    /// bulk assignment by filter).
    pub conversation_url: String,
    /// Events in flight at once in one replica (pulled, waiting for their batch).
    pub event_concurrency: usize,
    /// Transactions deciding batches at once in one replica.
    pub batch_workers: usize,
    /// Most events decided in one transaction.
    pub max_batch: usize,
    /// Outbox rows published per relay round.
    pub outbox_batch: i64,
    /// Seconds between two sweeps that route waiting conversations (a safety net: routing also
    /// runs when an agent comes online or capacity frees).
    pub sweep_interval_seconds: u64,
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
        [routing]
        conversation_url = "http://127.0.0.1:9082"
        event_concurrency = 512
        batch_workers = 2
        max_batch = 256
        outbox_batch = 500
        sweep_interval_seconds = 10
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
        if self.routing.max_batch == 0 || self.routing.batch_workers == 0 {
            return Err(SettingsError::Validation(
                "routing.max_batch and routing.batch_workers must be positive".into(),
            ));
        }
        Ok(())
    }
}
