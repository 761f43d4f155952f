//! Layered settings for every service: built-in defaults (an embedded TOML string), then an
//! optional file, then `INBOX__<SECTION>__<KEY>` environment variables. The environment is
//! passed in as a map so tests never touch the process environment.

use std::collections::HashMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// Environment variable that names an optional settings file (TOML).
pub const CONFIG_FILE_VAR: &str = "INBOX_CONFIG_FILE";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {0}")]
    Invalid(#[from] config::ConfigError),
    #[error("invalid settings: {0}")]
    Validation(String),
}

/// Loads settings of type `T`: `defaults` (TOML) < `file` < `env` (`INBOX__A__B` → `a.b`).
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<T, SettingsError> {
    let mut builder = config::Config::builder().add_source(config::File::from_str(defaults, config::FileFormat::Toml));
    if let Some(path) = file {
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml).required(true));
    }
    let env_source = config::Environment::with_prefix("INBOX")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(Some(env.clone()));
    Ok(builder.add_source(env_source).build()?.try_deserialize()?)
}

/// Loads settings from the real process environment and the file it names, if any.
pub fn load_from_process<T: DeserializeOwned>(defaults: &str) -> Result<T, SettingsError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let file = env.get(CONFIG_FILE_VAR).map(Path::new);
    load(defaults, file, &env)
}

/// A secret value: deserialized like a string, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"<redacted>\"" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Where a service listens for HTTP, and how long and how many clients it serves there. The
/// limits have defaults, so a service's `[http]` section needs only the two addresses.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// The public listener: the service's HTTP API if it has one, `/healthz`, and `/readyz`
    /// answering only ready or not and the names of the failing checks.
    pub addr: String,
    /// The admin listener, for the deployment only: `/metrics`, `/healthz`, and `/readyz`
    /// with each failing check's error. Each service's default is its public port + 2000
    /// on 127.0.0.1 (gateway 10080 ... metrics 10086).
    pub admin_addr: String,
    /// How long a client may take to send a request's head (the request line and headers),
    /// counted from when the server starts waiting for it; then the connection is closed. It
    /// also closes a keep-alive connection left idle that long, so a proxy in front must drop
    /// idle upstream connections sooner. Default 30,000 (30 s).
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a client may take to send a request's body once its head arrived; a body still
    /// incomplete then is answered `408 Request Timeout`. Default 30,000 (30 s).
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Connections served at once (WebSockets included, for as long as they stay open); more
    /// wait in the kernel's accept queue until one closes. Default 20,000: twice the gateway's
    /// 10,000 agent sockets. Mind the process's file descriptor limit.
    #[serde(default = "default_max_http_connections")]
    pub max_connections: usize,
}

fn default_header_timeout_ms() -> u64 {
    30_000
}

fn default_body_timeout_ms() -> u64 {
    30_000
}

fn default_max_http_connections() -> usize {
    20_000
}

impl HttpSettings {
    /// Settings for `addr` with every limit at its default.
    pub fn with_defaults(addr: impl Into<String>, admin_addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            admin_addr: admin_addr.into(),
            header_timeout_ms: default_header_timeout_ms(),
            body_timeout_ms: default_body_timeout_ms(),
            max_connections: default_max_http_connections(),
        }
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        socket_address("http.addr", &self.addr)?;
        socket_address("http.admin_addr", &self.admin_addr)?;
        in_range("http.header_timeout_ms", self.header_timeout_ms, 100..=600_000)?;
        in_range("http.body_timeout_ms", self.body_timeout_ms, 100..=3_600_000)?;
        in_range("http.max_connections", self.max_connections, 1..=1_000_000)
    }

    pub fn header_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.header_timeout_ms)
    }

    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.body_timeout_ms)
    }
}

/// Where a service listens for gRPC (its API plus `grpc.health.v1`).
#[derive(Debug, Clone, Deserialize)]
pub struct GrpcSettings {
    pub addr: String,
    /// Serve gRPC server reflection (the list and shape of every method, for `grpcurl`).
    /// Off by default: it tells a caller who reached the port what to try; `just up` turns it on.
    #[serde(default)]
    pub reflection: bool,
    /// The listener's certificate chain (PEM). Set together with `tls_key_file`, the listener
    /// speaks TLS only; both empty (the default): plaintext.
    #[serde(default)]
    pub tls_cert_file: String,
    /// The private key (PEM) of `tls_cert_file`. Read at start, never logged.
    #[serde(default)]
    pub tls_key_file: String,
    /// A PEM file of the authorities that sign the peers' certificates, for the `https://`
    /// URLs this service calls (without it, the system's authorities). While it is set, an
    /// `http://` peer URL is refused: the service token would travel in clear.
    #[serde(default)]
    pub ca_file: String,
}

impl GrpcSettings {
    /// Plaintext settings listening on `addr`.
    pub fn plaintext(addr: impl Into<String>) -> Self {
        Self {
            addr: addr.into(),
            reflection: false,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            ca_file: String::new(),
        }
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        socket_address("grpc.addr", &self.addr)?;
        self.validate_tls()
    }

    /// Refuses a certificate without its key (or the reverse) and files the service cannot read.
    pub fn validate_tls(&self) -> Result<(), SettingsError> {
        match (self.tls_cert_file.trim().is_empty(), self.tls_key_file.trim().is_empty()) {
            (true, false) => return Err(refuse("grpc.tls_cert_file", "must be set when grpc.tls_key_file is")),
            (false, true) => return Err(refuse("grpc.tls_key_file", "must be set when grpc.tls_cert_file is")),
            _ => {}
        }
        for (key, path) in [
            ("grpc.tls_cert_file", &self.tls_cert_file),
            ("grpc.tls_key_file", &self.tls_key_file),
            ("grpc.ca_file", &self.ca_file),
        ] {
            readable_file(key, path)?;
        }
        Ok(())
    }

    /// Whether the listener serves TLS only.
    pub fn serves_tls(&self) -> bool {
        !self.tls_cert_file.trim().is_empty()
    }
}

/// Refuses a non-empty `path` of `key` that cannot be opened for reading.
fn readable_file(key: &str, path: &str) -> Result<(), SettingsError> {
    if path.trim().is_empty() {
        return Ok(());
    }
    std::fs::File::open(path).map(|_| ()).map_err(|e| refuse(key, format_args!("{path:?} cannot be read: {e}")))
}

/// Refuses a listen address that is not `ip:port`.
pub fn socket_address(key: &str, value: &str) -> Result<(), SettingsError> {
    value
        .parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| refuse(key, format_args!("must be an ip:port address such as 127.0.0.1:8080, not {value:?}")))
}

/// Refuses a URL of `key` that is blank or does not start with one of `schemes` (`"nats://"`).
pub fn url_with_scheme(key: &str, value: &str, schemes: &[&str]) -> Result<(), SettingsError> {
    if schemes.iter().any(|scheme| value.starts_with(scheme) && value.len() > scheme.len()) {
        Ok(())
    } else {
        Err(refuse(key, format_args!("must be a URL starting with {}", schemes.join(" or "))))
    }
}

/// The service's own PostgreSQL database.
#[derive(Clone, Deserialize)]
pub struct PostgresSettings {
    /// `postgres://user:password@host:port/database`; the database is created when missing.
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    16
}

impl PostgresSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        url_with_scheme("postgres.url", &self.url, &["postgres://", "postgresql://"])?;
        in_range("postgres.max_connections", self.max_connections, 1..=1_000)
    }
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("url", &redact_url_password(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Deserialize)]
pub struct NatsSettings {
    pub url: String,
    /// This service's NATS user (docs/security.md: each service its own, limited to its
    /// subjects). Empty: connect without credentials (a server that admits anyone).
    #[serde(default)]
    pub user: String,
    /// The user's password; set exactly when `user` is.
    #[serde(default)]
    pub password: Secret,
    /// A PEM file of the certificate authorities that sign the server's certificate; when set
    /// the connection must be TLS (as with a `tls://` URL, which uses the system's roots).
    #[serde(default)]
    pub ca_file: String,
}

impl NatsSettings {
    /// Settings for `url` without credentials or TLS.
    pub fn anonymous(url: impl Into<String>) -> Self {
        Self { url: url.into(), user: String::new(), password: Secret::default(), ca_file: String::new() }
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        url_with_scheme("nats.url", &self.url, &["nats://", "tls://"])?;
        credentials_pair("nats.user", &self.user, "nats.password", &self.password)
    }
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &redact_url_password(&self.url))
            .field("user", &self.user)
            .field("password", &self.password)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Refuses a user without a password or a password without a user.
fn credentials_pair(user_key: &str, user: &str, password_key: &str, password: &Secret) -> Result<(), SettingsError> {
    match (user.trim().is_empty(), password.is_empty()) {
        (true, false) => Err(refuse(user_key, format_args!("must be set when {password_key} is"))),
        (false, true) => Err(refuse(password_key, format_args!("must be set when {user_key} is"))),
        _ => Ok(()),
    }
}

#[derive(Clone, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    /// Prefix of every key this service writes, so several deployments can share a server.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// How long one command may wait for its answer before it fails (the client's default,
    /// 500 ms, failed rate-limit checks on a busy machine while Redis itself was healthy).
    #[serde(default = "default_redis_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// This service's Redis ACL user (docs/security.md: each service its own, limited to its
    /// `key_prefix`). Empty: the URL's credentials, if any, or the default user.
    #[serde(default)]
    pub username: String,
    /// The ACL user's password; set exactly when `username` is.
    #[serde(default)]
    pub password: Secret,
    /// A PEM file of the certificate authorities that sign the server's certificate, for a
    /// `rediss://` URL (without it, the system's authorities).
    #[serde(default)]
    pub ca_file: String,
}

fn default_key_prefix() -> String {
    "inbox:".to_owned()
}

fn default_redis_response_timeout_ms() -> u64 {
    3_000
}

impl RedisSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        url_with_scheme("redis.url", &self.url, &["redis://", "rediss://", "unix://"])?;
        in_range("redis.response_timeout_ms", self.response_timeout_ms, 50..=60_000)?;
        if !self.ca_file.is_empty() && !self.url.starts_with("rediss://") {
            return Err(refuse("redis.ca_file", "needs a rediss:// URL"));
        }
        credentials_pair("redis.username", &self.username, "redis.password", &self.password)
    }

    pub fn response_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.response_timeout_ms)
    }
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url_password(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// How services authenticate each other.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// This service's credential: the bearer token its outgoing gRPC calls present.
    pub service_token: Secret,
    /// Who may call this service: `name:<SHA-256 hex of that service's token>`, comma
    /// separated (`gateway:9f86…,search:60303…`); a name twice while its token rotates. Each
    /// caller is then held to what the callee
    /// grants it by name (methods, roles). Empty: the shared-token mode, where every holder of
    /// this service's own `service_token` may call everything.
    #[serde(default)]
    pub callers: String,
}

/// One entry of `auth.callers`: a caller's name and the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerEntry {
    pub name: String,
    pub token_sha256: [u8; 32],
}

impl AuthSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.service_token.expose().len() < 16 {
            return Err(refuse("auth.service_token", "must be set to at least 16 characters"));
        }
        self.caller_entries()?;
        Ok(())
    }

    /// `auth.callers` parsed; empty in the shared-token mode.
    pub fn caller_entries(&self) -> Result<Vec<CallerEntry>, SettingsError> {
        let mut entries: Vec<CallerEntry> = Vec::new();
        for item in self.callers.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = |problem: &str| {
                refuse("auth.callers", format!("entry {:?}: {problem}", item.split(':').next().unwrap_or("")))
            };
            let (name, hash) = item.split_once(':').ok_or_else(|| bad("must be name:<sha256 hex>"))?;
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(bad("the name must be lowercase letters, digits and '-'"));
            }
            let hash = hash.trim();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad("the token hash must be 64 hex digits (the SHA-256 of the caller's token)"));
            }
            let mut token_sha256 = [0u8; 32];
            for (i, byte) in token_sha256.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).map_err(|_| bad("not hex"))?;
            }
            // A name may be listed twice (old and new token while it rotates); a token once.
            if entries.iter().any(|e| e.token_sha256 == token_sha256) {
                return Err(bad("the same token hash is listed twice"));
            }
            entries.push(CallerEntry { name: name.to_owned(), token_sha256 });
        }
        Ok(entries)
    }
}

/// The variable that sets `key` (`conversation.max_batch` → `INBOX__CONVERSATION__MAX_BATCH`),
/// so a refusal tells the operator exactly what to change.
pub fn variable_of(key: &str) -> String {
    format!("INBOX__{}", key.replace('.', "__").to_uppercase())
}

/// Refuses a setting: `<key> <problem> (<variable>)`.
pub fn refuse(key: &str, problem: impl std::fmt::Display) -> SettingsError {
    SettingsError::Validation(format!("{key} {problem} ({})", variable_of(key)))
}

/// Refuses `value` of `key` unless it lies within `range`, e.g.
/// `in_range("conversation.max_batch", s.max_batch, 1..=10_000)?`.
pub fn in_range<T>(key: &str, value: T, range: std::ops::RangeInclusive<T>) -> Result<(), SettingsError>
where
    T: PartialOrd + std::fmt::Display,
{
    if range.contains(&value) {
        Ok(())
    } else {
        Err(refuse(key, format_args!("must be between {} and {}, not {value}", range.start(), range.end())))
    }
}

/// Refuses an empty (or blank) value of `key`.
pub fn not_blank(key: &str, value: &str) -> Result<(), SettingsError> {
    if value.trim().is_empty() { Err(refuse(key, "must be set")) } else { Ok(()) }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// An `EnvFilter` directive such as `info` or `info,inbox_bus=debug`.
    pub level: String,
    /// `json` (default) or `pretty`.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &authority[..colon], &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        http: HttpSettings,
        postgres: PostgresSettings,
        auth: AuthSettings,
    }

    const DEFAULTS: &str = r#"
        [http]
        addr = "127.0.0.1:8080"
        admin_addr = "127.0.0.1:10080"
        [postgres]
        url = "postgres://localhost/inbox_sample"
        [auth]
        service_token = ""
    "#;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_apply_when_nothing_overrides_them() {
        let s: Sample = load(DEFAULTS, None, &env(&[])).unwrap();
        assert_eq!(s.http.addr, "127.0.0.1:8080");
        assert_eq!(s.postgres.max_connections, 16);
        assert_eq!(
            (s.http.header_timeout_ms, s.http.body_timeout_ms, s.http.max_connections),
            (30_000, 30_000, 20_000)
        );
    }

    #[test]
    fn a_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("inbox-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("settings.toml");
        std::fs::write(
            &file,
            "[http]\naddr = \"0.0.0.0:1\"\nadmin_addr = \"0.0.0.0:2\"\n[postgres]\nurl = \"postgres://file/db\"\nmax_connections = 4\n",
        )
        .unwrap();
        let s: Sample = load(DEFAULTS, Some(&file), &env(&[("INBOX__POSTGRES__URL", "postgres://env/db")])).unwrap();
        assert_eq!(s.http.addr, "0.0.0.0:1");
        assert_eq!(s.postgres.url, "postgres://env/db");
        assert_eq!(s.postgres.max_connections, 4);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn numbers_from_the_environment_are_parsed() {
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__POSTGRES__MAX_CONNECTIONS", "32")])).unwrap();
        assert_eq!(s.postgres.max_connections, 32);
    }

    #[test]
    fn a_wrongly_typed_value_is_a_clear_error() {
        let err = load::<Sample>(DEFAULTS, None, &env(&[("INBOX__POSTGRES__MAX_CONNECTIONS", "many")])).unwrap_err();
        assert!(err.to_string().contains("max_connections"), "{err}");
    }

    #[test]
    fn secrets_and_url_passwords_never_show_in_debug_output() {
        let s: Sample = load(
            DEFAULTS,
            None,
            &env(&[
                ("INBOX__AUTH__SERVICE_TOKEN", "s3cr3t-token-value"),
                ("INBOX__POSTGRES__URL", "postgres://u:hunter2@db/x"),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("postgres://u:***@db/x"), "{printed}");
    }

    #[test]
    fn callers_are_names_with_token_hashes_and_anything_else_is_refused_by_name() {
        let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let with = |callers: &str| {
            let s: Sample = load(
                DEFAULTS,
                None,
                &env(&[("INBOX__AUTH__SERVICE_TOKEN", "a-long-enough-token"), ("INBOX__AUTH__CALLERS", callers)]),
            )
            .unwrap();
            s.auth
        };
        let auth = with(&format!(" gateway:{hash} , search:{}", "0".repeat(64)));
        let entries = auth.caller_entries().unwrap();
        assert_eq!(entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["gateway", "search"]);
        assert_eq!(entries[0].token_sha256[..2], [0x9f, 0x86]);
        assert!(with("").caller_entries().unwrap().is_empty());
        // Two tokens of one caller while it rotates.
        assert_eq!(with(&format!("gateway:{hash},gateway:{}", "1".repeat(64))).caller_entries().unwrap().len(), 2);
        for bad in [
            "gateway".to_owned(),
            format!("Gateway:{hash}"),
            "gateway:abc".to_owned(),
            format!("gateway:{hash},search:{hash}"),
        ] {
            let err = with(&bad).validate().unwrap_err().to_string();
            assert!(err.contains("INBOX__AUTH__CALLERS") && !err.contains(hash), "{bad}: {err}");
        }
    }

    #[test]
    fn a_short_service_token_is_refused() {
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__AUTH__SERVICE_TOKEN", "short")])).unwrap();
        assert!(s.auth.validate().is_err());
    }

    #[test]
    fn a_value_out_of_range_is_refused_naming_its_variable() {
        let err = in_range("conversation.max_batch", 0usize, 1..=10_000).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid settings: conversation.max_batch must be between 1 and 10000, not 0 (INBOX__CONVERSATION__MAX_BATCH)"
        );
        assert!(in_range("conversation.max_batch", 256usize, 1..=10_000).is_ok());
        assert!(not_blank("search.index_dir", " ").unwrap_err().to_string().contains("INBOX__SEARCH__INDEX_DIR"));
    }

    #[test]
    fn listen_addresses_and_store_urls_are_checked() {
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__HTTP__ADDR", "localhost")])).unwrap();
        assert!(s.http.validate().unwrap_err().to_string().contains("INBOX__HTTP__ADDR"));
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__HTTP__ADMIN_ADDR", "")])).unwrap();
        assert!(s.http.validate().unwrap_err().to_string().contains("INBOX__HTTP__ADMIN_ADDR"));
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__POSTGRES__URL", "mysql://x/y")])).unwrap();
        assert!(s.postgres.validate().unwrap_err().to_string().contains("INBOX__POSTGRES__URL"));
        let s: Sample = load(DEFAULTS, None, &env(&[("INBOX__POSTGRES__MAX_CONNECTIONS", "0")])).unwrap();
        assert!(s.postgres.validate().unwrap_err().to_string().contains("INBOX__POSTGRES__MAX_CONNECTIONS"));
        let s: Sample = load(DEFAULTS, None, &env(&[])).unwrap();
        assert!(s.http.validate().is_ok() && s.postgres.validate().is_ok());
        for (variable, nonsense) in [
            ("INBOX__HTTP__HEADER_TIMEOUT_MS", "0"),
            ("INBOX__HTTP__HEADER_TIMEOUT_MS", "86400000"),
            ("INBOX__HTTP__BODY_TIMEOUT_MS", "10"),
            ("INBOX__HTTP__MAX_CONNECTIONS", "0"),
        ] {
            let s: Sample = load(DEFAULTS, None, &env(&[(variable, nonsense)])).unwrap();
            let err = s.http.validate().unwrap_err().to_string();
            assert!(err.contains(variable), "{variable}={nonsense}: {err}");
        }
        assert!(NatsSettings::anonymous("nats://127.0.0.1:4222").validate().is_ok());
        assert!(NatsSettings::anonymous("127.0.0.1:4222").validate().is_err());
        let redis = |timeout| RedisSettings {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "t:".into(),
            response_timeout_ms: timeout,
            username: String::new(),
            password: Secret::default(),
            ca_file: String::new(),
        };
        assert!(redis(3_000).validate().is_ok());
        assert!(redis(0).validate().unwrap_err().to_string().contains("INBOX__REDIS__RESPONSE_TIMEOUT_MS"));
        let authority = RedisSettings { ca_file: "/etc/ca.pem".into(), ..redis(3_000) };
        assert!(authority.validate().unwrap_err().to_string().contains("INBOX__REDIS__CA_FILE"));
        assert!(RedisSettings { url: "rediss://h:6380".into(), ..authority }.validate().is_ok());
    }

    #[test]
    fn a_user_comes_with_its_password_and_the_password_is_never_printed() {
        let nats = NatsSettings { user: "search".into(), ..NatsSettings::anonymous("nats://h:4222") };
        assert!(nats.validate().unwrap_err().to_string().contains("INBOX__NATS__PASSWORD"));
        let nats = NatsSettings { password: Secret::new("pw-0123456789"), ..NatsSettings::anonymous("nats://h:4222") };
        assert!(nats.validate().unwrap_err().to_string().contains("INBOX__NATS__USER"));
        let nats = NatsSettings { user: "search".into(), ..nats };
        assert!(nats.validate().is_ok());
        assert!(!format!("{nats:?}").contains("pw-0123456789"));
        let redis: RedisSettings = load(
            "url = \"redis://h:6379\"",
            None,
            &env(&[("INBOX__USERNAME", "routing"), ("INBOX__PASSWORD", "pw-0123456789")]),
        )
        .unwrap();
        assert!(redis.validate().is_ok());
        assert_eq!(redis.password.expose(), "pw-0123456789");
        assert!(!format!("{redis:?}").contains("pw-0123456789"));
        let redis = RedisSettings { password: Secret::default(), ..redis };
        assert!(redis.validate().unwrap_err().to_string().contains("INBOX__REDIS__PASSWORD"));
    }

    #[test]
    fn grpc_tls_needs_a_certificate_with_its_key_and_files_that_can_be_read() {
        let dir = tempfile_dir("grpc-tls");
        let cert = dir.join("tls.crt");
        let key = dir.join("tls.key");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
        let path = |p: &Path| p.display().to_string();
        let plaintext = GrpcSettings::plaintext("127.0.0.1:9080");
        assert!(plaintext.validate().is_ok() && !plaintext.serves_tls());
        let only_cert = GrpcSettings { tls_cert_file: path(&cert), ..plaintext.clone() };
        assert!(only_cert.validate().unwrap_err().to_string().contains("INBOX__GRPC__TLS_KEY_FILE"));
        let only_key = GrpcSettings { tls_key_file: path(&key), ..plaintext.clone() };
        assert!(only_key.validate().unwrap_err().to_string().contains("INBOX__GRPC__TLS_CERT_FILE"));
        let tls = GrpcSettings { tls_key_file: path(&key), ..only_cert };
        assert!(tls.validate().is_ok() && tls.serves_tls());
        let missing = dir.join("missing.pem");
        let no_ca = GrpcSettings { ca_file: path(&missing), ..tls.clone() };
        let err = no_ca.validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__GRPC__CA_FILE") && err.contains("missing.pem"), "{err}");
        let no_key = GrpcSettings { tls_key_file: path(&missing), ..tls };
        let err = no_key.validate().unwrap_err().to_string();
        assert!(err.contains("INBOX__GRPC__TLS_KEY_FILE") && !err.contains("PRIVATE KEY"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("inbox-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn urls_without_password_are_left_alone() {
        assert_eq!(redact_url_password("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url_password("postgres://postgres@h:5432/db"), "postgres://postgres@h:5432/db");
    }
}
