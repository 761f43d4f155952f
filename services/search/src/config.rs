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
    /// Where the index lives on local disk; created at start, must be writable.
    pub index_dir: PathBuf,
}

impl inbox_service::ServiceSettings for Settings {
    const NAME: &'static str = "search";
    const DEFAULTS: &'static str = r#"
        [http]
        addr = "127.0.0.1:8085"
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
