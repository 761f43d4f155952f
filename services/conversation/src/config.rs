//! Settings of the conversation service.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, SettingsError, in_range,
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
    /// Lanes storing inbound batches in one replica, one transaction at a time each; a
    /// conversation's messages always take the same lane.
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
        admin_addr = "127.0.0.1:10082"
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
    fn http(&self) -> &HttpSettings {
        &self.http
    }
    fn grpc_addr(&self) -> &str {
        &self.grpc.addr
    }
    fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()?;
        self.grpc.validate_tls()?;
        self.conversation.validate()
    }
}

impl ConversationSettings {
    /// Refuses values the service cannot run with (a batch of nothing, no worker, a sweep
    /// every zero seconds) and ones far beyond what a replica can hold.
    pub fn validate(&self) -> Result<(), SettingsError> {
        in_range("conversation.ingest_concurrency", self.ingest_concurrency, 1..=100_000)?;
        in_range("conversation.batch_workers", self.batch_workers, 1..=256)?;
        in_range("conversation.max_batch", self.max_batch, 1..=10_000)?;
        in_range("conversation.outbox_batch", self.outbox_batch, 1..=100_000)?;
        in_range("conversation.sweep_interval_seconds", self.sweep_interval_seconds, 1..=86_400)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inbox_service::ServiceSettings;

    use super::*;

    /// The settings as the service would load them with `env` as its environment.
    fn load(env: &[(&str, &str)]) -> Settings {
        let mut env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.entry("INBOX__AUTH__SERVICE_TOKEN".into()).or_insert_with(|| "a-long-enough-service-token".into());
        inbox_config::load(Settings::DEFAULTS, None, &env).unwrap()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(load(&[]).validate().is_ok());
    }

    #[test]
    fn a_batch_of_nothing_is_refused_naming_its_variable() {
        let err = load(&[("INBOX__CONVERSATION__MAX_BATCH", "0")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__CONVERSATION__MAX_BATCH"), "{err}");
    }

    #[test]
    fn every_numeric_setting_is_checked() {
        for (variable, nonsense) in [
            ("INBOX__CONVERSATION__INGEST_CONCURRENCY", "0"),
            ("INBOX__CONVERSATION__BATCH_WORKERS", "0"),
            ("INBOX__CONVERSATION__BATCH_WORKERS", "100000"),
            ("INBOX__CONVERSATION__MAX_BATCH", "1000000"),
            ("INBOX__CONVERSATION__OUTBOX_BATCH", "0"),
            ("INBOX__CONVERSATION__OUTBOX_BATCH", "-5"),
            ("INBOX__CONVERSATION__SWEEP_INTERVAL_SECONDS", "0"),
        ] {
            let err = load(&[(variable, nonsense)]).validate().unwrap_err().to_string();
            assert!(err.contains(variable), "{variable}={nonsense}: {err}");
        }
        let sensible = load(&[("INBOX__CONVERSATION__MAX_BATCH", "64"), ("INBOX__CONVERSATION__BATCH_WORKERS", "2")]);
        assert!(sensible.validate().is_ok());
    }

    #[test]
    fn a_short_service_token_is_still_refused() {
        assert!(load(&[("INBOX__AUTH__SERVICE_TOKEN", "short")]).validate().is_err());
    }
}
