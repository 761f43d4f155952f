//! Settings of the notification service.

use inbox_config::{
    AuthSettings, GrpcSettings, HttpSettings, LogSettings, NatsSettings, PostgresSettings, Secret, SettingsError,
    in_range, not_blank, url_with_scheme,
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
    pub notification: NotificationSettings,
    pub sla: SlaSettings,
    pub webhooks: WebhookSettings,
    pub push: PushSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    /// gRPC address of the routing service (the tenant's people and teams).
    pub routing_url: String,
    /// How long a tenant's people and teams are reused before routing is asked again.
    pub directory_ttl_seconds: u64,
    /// Events in flight at once in one replica (pulled, waiting for their batch).
    pub event_concurrency: usize,
    /// Transactions handling batches at once in one replica.
    pub batch_workers: usize,
    /// Most events handled in one transaction.
    pub max_batch: usize,
    /// Outbox rows (SLA events) published per relay round.
    pub outbox_batch: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SlaSettings {
    /// Longest wait between two looks for due SLA timers.
    pub tick_ms: u64,
    /// Most timers fired in one transaction.
    pub fire_batch: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Deliveries in flight at once in one replica.
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint (a slow endpoint holds no more).
    pub per_endpoint: usize,
    /// Seconds one attempt may take.
    pub timeout_seconds: u64,
    /// Hours a delivery is retried (from its creation or replay).
    pub retry_hours: i64,
    /// An endpoint that failed every attempt for this many hours, and at least
    /// `disable_after_failures` times, is disabled.
    pub disable_after_hours: i64,
    pub disable_after_failures: i32,
    /// Longest wait between two looks for due deliveries.
    pub tick_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PushSettings {
    /// The contact push services may reach (`mailto:` or `https:`), the VAPID `sub` claim.
    pub vapid_subject: String,
    /// base64url of a P-256 private key; empty: one is made at first start and kept in the store.
    pub vapid_private_key: Secret,
    /// Seconds a push service keeps an undelivered message (the TTL header).
    pub ttl_seconds: u32,
    pub timeout_seconds: u64,
    /// Attempts before a message is dropped (429 and 5xx are retried).
    pub max_attempts: i32,
    pub concurrency: usize,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "notification";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8084"
        admin_addr = "127.0.0.1:10084"
        [grpc]
        addr = "127.0.0.1:9084"
        [postgres]
        url = "postgres://postgres@127.0.0.1:5432/inbox_notification"
        [nats]
        url = "nats://127.0.0.1:4222"
        [auth]
        service_token = ""
        [log]
        level = "info"
        format = "json"
        [notification]
        routing_url = "http://127.0.0.1:9083"
        directory_ttl_seconds = 30
        event_concurrency = 512
        batch_workers = 2
        max_batch = 256
        outbox_batch = 500
        [sla]
        tick_ms = 250
        fire_batch = 1000
        [webhooks]
        concurrency = 64
        per_endpoint = 4
        timeout_seconds = 10
        retry_hours = 24
        disable_after_hours = 24
        disable_after_failures = 10
        tick_ms = 250
        [push]
        vapid_subject = "mailto:ops@inbox.invalid"
        vapid_private_key = ""
        ttl_seconds = 3600
        timeout_seconds = 10
        max_attempts = 5
        concurrency = 32
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
        let n = &self.notification;
        url_with_scheme("notification.routing_url", &n.routing_url, &["http://", "https://"])?;
        in_range("notification.directory_ttl_seconds", n.directory_ttl_seconds, 1..=3600)?;
        in_range("notification.event_concurrency", n.event_concurrency, 1..=100_000)?;
        in_range("notification.batch_workers", n.batch_workers, 1..=256)?;
        in_range("notification.max_batch", n.max_batch, 1..=10_000)?;
        in_range("notification.outbox_batch", n.outbox_batch, 1..=100_000)?;
        in_range("sla.tick_ms", self.sla.tick_ms, 10..=60_000)?;
        in_range("sla.fire_batch", self.sla.fire_batch, 1..=100_000)?;
        let w = &self.webhooks;
        in_range("webhooks.concurrency", w.concurrency, 1..=10_000)?;
        in_range("webhooks.per_endpoint", w.per_endpoint, 1..=1_000)?;
        in_range("webhooks.timeout_seconds", w.timeout_seconds, 1..=300)?;
        in_range("webhooks.retry_hours", w.retry_hours, 1..=24 * 30)?;
        in_range("webhooks.disable_after_hours", w.disable_after_hours, 1..=24 * 30)?;
        in_range("webhooks.disable_after_failures", w.disable_after_failures, 1..=100_000)?;
        in_range("webhooks.tick_ms", w.tick_ms, 10..=60_000)?;
        let p = &self.push;
        url_with_scheme("push.vapid_subject", &p.vapid_subject, &["mailto:", "https://"])?;
        if !p.vapid_private_key.is_empty() {
            crate::delivery::webpush::VapidKey::from_base64(p.vapid_private_key.expose()).map_err(|_| {
                inbox_config::refuse("push.vapid_private_key", "must be base64url of a P-256 private key")
            })?;
        }
        in_range("push.ttl_seconds", p.ttl_seconds, 0..=2_419_200)?;
        in_range("push.timeout_seconds", p.timeout_seconds, 1..=300)?;
        in_range("push.max_attempts", p.max_attempts, 1..=100)?;
        in_range("push.concurrency", p.concurrency, 1..=10_000)?;
        not_blank("push.vapid_subject", &p.vapid_subject)
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
        for (variable, value) in [
            ("INBOX__GRPC__ADDR", "port 9000"),
            ("INBOX__NATS__URL", ""),
            ("INBOX__NOTIFICATION__ROUTING_URL", "routing:9083"),
            ("INBOX__NOTIFICATION__MAX_BATCH", "0"),
            ("INBOX__SLA__TICK_MS", "0"),
            ("INBOX__WEBHOOKS__PER_ENDPOINT", "0"),
            ("INBOX__WEBHOOKS__RETRY_HOURS", "0"),
            ("INBOX__PUSH__VAPID_SUBJECT", "ops@example.com"),
            ("INBOX__PUSH__VAPID_PRIVATE_KEY", "not-a-key"),
        ] {
            let err = settings(&[(variable, value)]).validate().unwrap_err().to_string();
            assert!(err.contains(variable), "{variable}: {err}");
        }
    }

    #[test]
    fn the_vapid_key_is_redacted_when_settings_are_logged() {
        let key = crate::delivery::webpush::VapidKey::generate();
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, key.to_bytes());
        let s = settings(&[("INBOX__PUSH__VAPID_PRIVATE_KEY", &encoded)]);
        assert!(s.validate().is_ok());
        assert!(!format!("{s:?}").contains(&encoded));
    }
}
