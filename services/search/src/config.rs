//! Settings of the search service.

use std::path::PathBuf;

use inbox_config::{AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub grpc: GrpcSettings,
    pub nats: NatsSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub search: SearchSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchSettings {
    /// Where the index lives on local disk (`v<schema version>/` inside, and this replica's
    /// id); created at start, must be writable. One per replica.
    pub index_dir: PathBuf,
    /// gRPC address of the conversation service (reindex, customer profiles, time zones).
    pub conversation_url: String,
    /// gRPC address of the routing service (`assigned:<email>`, `team:<name>`).
    pub routing_url: String,
    /// Durable consumer of `events.>`; empty for `search-<replica id>` (each replica reads
    /// every event into its own copy).
    pub consumer: String,
    /// Events in flight at once (pulled, waiting for their batch); also the consumer's
    /// ack-pending limit on the server. A commit costs about the same for 100 events as for
    /// 5,000, so this bounds the indexing rate: events in flight per commit time.
    pub event_concurrency: usize,
    /// Most events in one index commit.
    pub max_batch: usize,
    /// Indexing threads of the writer.
    pub writer_threads: usize,
    /// Memory of the writer, in MB (at least 15 per thread).
    pub writer_memory_mb: usize,
    /// How long agents, teams and time zones read from other services are reused, in seconds.
    pub directory_cache_seconds: u64,
    /// Conversations whose messages a rebuild reads at once.
    pub rebuild_concurrency: usize,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "search";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8085"
        admin_addr = "127.0.0.1:10085"
        [grpc]
        addr = "127.0.0.1:9085"
        [nats]
        url = "nats://127.0.0.1:4222"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [search]
        index_dir = ".data/search"
        conversation_url = "http://127.0.0.1:9082"
        routing_url = "http://127.0.0.1:9083"
        consumer = ""
        event_concurrency = 8192
        max_batch = 8192
        writer_threads = 1
        writer_memory_mb = 128
        directory_cache_seconds = 30
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
        self.nats.validate()?;
        self.auth.validate()?;
        let s = &self.search;
        inbox_config::not_blank("search.index_dir", &s.index_dir.to_string_lossy())?;
        inbox_config::url_with_scheme("search.conversation_url", &s.conversation_url, &["http", "https"])?;
        inbox_config::url_with_scheme("search.routing_url", &s.routing_url, &["http", "https"])?;
        if !s.consumer.is_empty() && !s.consumer.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(inbox_config::refuse("search.consumer", "must be letters, digits, - and _ only"));
        }
        inbox_config::in_range("search.event_concurrency", s.event_concurrency, 1..=65_536)?;
        inbox_config::in_range("search.max_batch", s.max_batch, 1..=100_000)?;
        inbox_config::in_range("search.writer_threads", s.writer_threads, 1..=16)?;
        inbox_config::in_range("search.writer_memory_mb", s.writer_memory_mb, 15 * s.writer_threads..=16_384)?;
        inbox_config::in_range("search.directory_cache_seconds", s.directory_cache_seconds, 0..=3_600)?;
        inbox_config::in_range("search.rebuild_concurrency", s.rebuild_concurrency, 1..=64)
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
        for (key, value) in [
            ("INBOX__GRPC__ADDR", "port 9000"),
            ("INBOX__NATS__URL", ""),
            ("INBOX__SEARCH__CONVERSATION_URL", "127.0.0.1:9082"),
            ("INBOX__SEARCH__ROUTING_URL", "ftp://x"),
            ("INBOX__SEARCH__CONSUMER", "search replica"),
            ("INBOX__SEARCH__EVENT_CONCURRENCY", "100000"),
            ("INBOX__SEARCH__MAX_BATCH", "0"),
            ("INBOX__SEARCH__WRITER_MEMORY_MB", "10"),
            ("INBOX__SEARCH__REBUILD_CONCURRENCY", "0"),
        ] {
            let err = settings(&[(key, value)]).validate().unwrap_err().to_string();
            assert!(err.contains(key), "{key}={value}: {err}");
        }
    }

    #[test]
    fn the_writer_memory_grows_with_its_threads() {
        let err = settings(&[("INBOX__SEARCH__WRITER_THREADS", "4"), ("INBOX__SEARCH__WRITER_MEMORY_MB", "40")])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("INBOX__SEARCH__WRITER_MEMORY_MB"), "{err}");
    }
}
