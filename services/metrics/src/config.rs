//! Settings of the metrics service.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, SettingsError, in_range,
    url_with_scheme,
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
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// gRPC address of the conversation service (tenants' time zones, CSAT surveys, rebuilds).
    pub conversation_url: String,
    /// Events in flight at once in one replica (pulled, waiting for their batch).
    pub event_concurrency: usize,
    /// Batches folded at once in one replica. Writers of one tenant take turns on its lock, and
    /// a batch folds its tenants side by side: one worker makes the largest batches.
    pub batch_workers: usize,
    /// Most events folded in one transaction.
    pub max_batch: usize,
    /// How long a tenant's time zone is cached before it is asked again.
    pub zone_ttl_seconds: u64,
    /// Milliseconds between two looks at the survey queue.
    pub survey_interval_ms: u64,
    /// Conversations whose history a rebuild reads at once.
    pub rebuild_concurrency: usize,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "metrics";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8086"
        admin_addr = "127.0.0.1:10086"
        [grpc]
        addr = "127.0.0.1:9086"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_metrics"
        [nats]
        url = "nats://127.0.0.1:4222"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [metrics]
        conversation_url = "http://127.0.0.1:9082"
        event_concurrency = 4096
        batch_workers = 1
        max_batch = 1000
        zone_ttl_seconds = 300
        survey_interval_ms = 1000
        rebuild_concurrency = 4
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
        self.http.validate()?;
        self.grpc.validate()?;
        self.postgres.validate()?;
        self.nats.validate()?;
        self.auth.validate()?;
        let m = &self.metrics;
        url_with_scheme("metrics.conversation_url", &m.conversation_url, &["http://", "https://"])?;
        in_range("metrics.event_concurrency", m.event_concurrency, 1..=100_000)?;
        in_range("metrics.batch_workers", m.batch_workers, 1..=64)?;
        in_range("metrics.max_batch", m.max_batch, 1..=10_000)?;
        in_range("metrics.zone_ttl_seconds", m.zone_ttl_seconds, 1..=86_400)?;
        in_range("metrics.survey_interval_ms", m.survey_interval_ms, 10..=3_600_000)?;
        in_range("metrics.rebuild_concurrency", m.rebuild_concurrency, 1..=64)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use inbox_service::ServiceSettings as _;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.entry("INBOX__AUTH__SERVICE_TOKEN".into()).or_insert_with(|| "a-service-token-of-length".into());
        inbox_config::load(Settings::DEFAULTS, None, &env).unwrap()
    }

    #[test]
    fn the_defaults_with_a_service_token_are_valid() {
        assert!(settings(&[]).validate().is_ok());
    }

    #[test]
    fn nonsense_is_refused_at_start_naming_the_variable() {
        let err = settings(&[("INBOX__GRPC__ADDR", "port 9000")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__GRPC__ADDR"), "{err}");
        let err = settings(&[("INBOX__NATS__URL", "")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__NATS__URL"), "{err}");
        let err = settings(&[("INBOX__METRICS__MAX_BATCH", "0")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__METRICS__MAX_BATCH"), "{err}");
        let err =
            settings(&[("INBOX__METRICS__CONVERSATION_URL", "localhost:9082")]).validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__METRICS__CONVERSATION_URL"), "{err}");
    }
}
