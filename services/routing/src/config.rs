//! Settings of the routing service.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, RedisSettings,
    SettingsError, in_range, not_blank,
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
    /// Conversations of one bulk assignment assigned at once.
    pub bulk_concurrency: usize,
    /// Longest a bulk assignment runs when its caller gave a longer deadline or none; what is
    /// not done by then is reported `not_attempted`.
    pub bulk_time_limit_ms: u64,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "routing";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8083"
        admin_addr = "127.0.0.1:10083"
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
        bulk_concurrency = 4
        bulk_time_limit_ms = 20000
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
        self.routing.validate()
    }
}

impl RoutingSettings {
    /// Refuses values the service cannot work with, naming the variable to change.
    pub fn validate(&self) -> Result<(), SettingsError> {
        not_blank("routing.conversation_url", &self.conversation_url)?;
        in_range("routing.event_concurrency", self.event_concurrency, 1..=100_000)?;
        in_range("routing.batch_workers", self.batch_workers, 1..=256)?;
        in_range("routing.max_batch", self.max_batch, 1..=10_000)?;
        in_range("routing.outbox_batch", self.outbox_batch, 1..=100_000)?;
        in_range("routing.sweep_interval_seconds", self.sweep_interval_seconds, 1..=86_400)?;
        in_range("routing.bulk_concurrency", self.bulk_concurrency, 1..=64)?;
        in_range("routing.bulk_time_limit_ms", self.bulk_time_limit_ms, 100..=600_000)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inbox_service::ServiceSettings;

    use super::*;

    fn settings(overrides: &[(&str, &str)]) -> Settings {
        let mut env = HashMap::from([("INBOX__AUTH__SERVICE_TOKEN".to_owned(), "a-token-of-some-length".to_owned())]);
        env.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        inbox_config::load(Settings::DEFAULTS, None, &env).unwrap()
    }

    fn refusal(variable: &str, value: &str) -> String {
        settings(&[(variable, value)]).validate().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_valid() {
        settings(&[]).validate().unwrap();
    }

    #[test]
    fn every_number_of_the_routing_section_is_refused_outside_its_range_naming_the_variable() {
        for (variable, nonsense) in [
            ("INBOX__ROUTING__EVENT_CONCURRENCY", "0"),
            ("INBOX__ROUTING__BATCH_WORKERS", "0"),
            ("INBOX__ROUTING__BATCH_WORKERS", "10000"),
            ("INBOX__ROUTING__MAX_BATCH", "0"),
            ("INBOX__ROUTING__MAX_BATCH", "1000000"),
            ("INBOX__ROUTING__OUTBOX_BATCH", "0"),
            ("INBOX__ROUTING__OUTBOX_BATCH", "-5"),
            ("INBOX__ROUTING__SWEEP_INTERVAL_SECONDS", "0"),
            ("INBOX__ROUTING__SWEEP_INTERVAL_SECONDS", "604800"),
            ("INBOX__ROUTING__BULK_CONCURRENCY", "0"),
            ("INBOX__ROUTING__BULK_CONCURRENCY", "65"),
            ("INBOX__ROUTING__BULK_TIME_LIMIT_MS", "99"),
            ("INBOX__ROUTING__BULK_TIME_LIMIT_MS", "600001"),
        ] {
            let message = refusal(variable, nonsense);
            assert!(message.contains(variable), "{variable}={nonsense}: {message}");
            assert!(message.contains(&format!("not {nonsense}")), "{variable}={nonsense}: {message}");
        }
    }

    #[test]
    fn values_at_the_edges_of_the_ranges_are_accepted() {
        settings(&[
            ("INBOX__ROUTING__EVENT_CONCURRENCY", "1"),
            ("INBOX__ROUTING__BATCH_WORKERS", "256"),
            ("INBOX__ROUTING__MAX_BATCH", "10000"),
            ("INBOX__ROUTING__OUTBOX_BATCH", "1"),
            ("INBOX__ROUTING__SWEEP_INTERVAL_SECONDS", "86400"),
            ("INBOX__ROUTING__BULK_CONCURRENCY", "64"),
            ("INBOX__ROUTING__BULK_TIME_LIMIT_MS", "100"),
        ])
        .validate()
        .unwrap();
    }

    #[test]
    fn a_blank_conversation_address_is_refused() {
        assert!(refusal("INBOX__ROUTING__CONVERSATION_URL", " ").contains("INBOX__ROUTING__CONVERSATION_URL"));
    }
}
