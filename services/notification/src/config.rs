//! Settings of the notification service.

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
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "notification";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8084"
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
        self.http.validate()?;
        self.grpc.validate()?;
        self.postgres.validate()?;
        self.nats.validate()?;
        self.auth.validate()
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
    }
}
