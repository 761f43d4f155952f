//! A whole fleet for end-to-end tests: the seven built service binaries run as processes
//! against a private JetStream server and a private Redis, on which each service is its own
//! user held to its subjects and keys (`inbox-access`), and a fresh database per service.
//! Binaries come from the cargo target directory (`cargo build --workspace --bins` first; the
//! justfile's `test` does) or from `INBOX_BIN_DIR`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod graph;
pub mod support;
pub mod webdriver;

use anyhow::{Context, bail};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, free_port};

pub const SERVICES: [&str; 7] =
    ["gateway", "channel-ingest", "conversation", "routing", "notification", "search", "metrics"];
const WITH_POSTGRES: [&str; 6] = ["gateway", "channel-ingest", "conversation", "routing", "notification", "metrics"];

/// The services each service calls over gRPC (the fleet's call graph, as `just up` and the
/// Helm chart wire it): a callee admits these callers only, each by its own token.
pub const CALLS: [(&str, &[&str]); 7] = [
    ("gateway", &["conversation", "channel-ingest", "routing", "metrics", "notification", "search"]),
    ("channel-ingest", &[]),
    ("conversation", &[]),
    ("routing", &["conversation"]),
    ("notification", &["routing"]),
    ("search", &["conversation", "routing"]),
    ("metrics", &["conversation"]),
];
pub const OPERATOR_TOKEN: &str = "e2e-operator-token-0123456789";
const JWT_SECRET: &str = "e2e-jwt-secret-0123456789-0123456789";
/// 32 bytes, base64: the key channel-ingest seals channel secrets with in the tests.
const CHANNEL_SECRETS_KEY: &str = "ZTJlLWNoYW5uZWwtc2VjcmV0cy1rZXktMzItYnl0ZXM=";

struct Process {
    child: Child,
    http: u16,
    grpc: u16,
    /// The admin listener: `/metrics` and the detailed `/readyz`.
    admin: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
}

pub struct Fleet {
    processes: HashMap<&'static str, Process>,
    bin_dir: PathBuf,
    logs: tempfile::TempDir,
    pub nats: TestNats,
    redis: TestRedis,
    _databases: Vec<TestDatabase>,
    _base: TestDatabase,
    search_dir: tempfile::TempDir,
    /// Extra processes of a service started with `start_replica`.
    replicas: Vec<Process>,
    database_urls: HashMap<&'static str, String>,
}

/// The NATS user the tests themselves connect as without credentials (`no_auth_user`): allowed
/// everything, as the outside world the tests play (providers' traffic, watching events).
const NATS_TEST_USER: &str = "e2e-test";

/// `name`'s password as its own NATS user (the user is the service's name).
pub fn nats_password(name: &str) -> String {
    format!("e2e-nats-{name}-0123456789")
}

/// The fleet's NATS server configuration: each service its own user limited to its subjects
/// (`inbox-access`, as `just up` and the operator's servers), and the tests' user.
fn nats_config() -> String {
    let users = inbox_access::nats_authorization(nats_password, Some((NATS_TEST_USER, "e2e-test-0123456789")));
    format!("{users}no_auth_user: \"{NATS_TEST_USER}\"\n")
}

/// The settings that make `name` connect to NATS as its own user.
pub fn nats_env(name: &str) -> [(String, String); 2] {
    [("INBOX__NATS__USER".to_owned(), name.to_owned()), ("INBOX__NATS__PASSWORD".to_owned(), nats_password(name))]
}

/// `name`'s password as its own Redis ACL user (the user is the service's name).
pub fn redis_password(name: &str) -> String {
    format!("e2e-redis-{name}-0123456789")
}

/// The settings that make `name` keep its Redis state under its own prefix, as its own ACL
/// user limited to that prefix (`inbox-access`, as `just up` and the operator's Redis).
fn redis_env(name: &str, base: &str) -> Vec<(String, String)> {
    let Some(prefix) = inbox_access::redis_key_prefix(base, name) else { return Vec::new() };
    vec![
        ("INBOX__REDIS__KEY_PREFIX".to_owned(), prefix),
        ("INBOX__REDIS__USERNAME".to_owned(), name.to_owned()),
        ("INBOX__REDIS__PASSWORD".to_owned(), redis_password(name)),
    ]
}

/// The token `name` presents on its gRPC calls; each service has its own.
pub fn service_token(name: &str) -> String {
    format!("e2e-{name}-token-0123456789")
}

/// `INBOX__AUTH__CALLERS` of `name`: every service that calls it, by its token's SHA-256.
pub fn callers_of(name: &str) -> String {
    use sha2::Digest as _;
    CALLS
        .iter()
        .filter(|(_, callees)| callees.contains(&name))
        .map(|(caller, _)| format!("{caller}:{}", hex::encode(sha2::Sha256::digest(service_token(caller)))))
        .collect::<Vec<_>>()
        .join(",")
}

/// The settings that make `name` one identity among the fleet's: its token and its callers.
pub fn identity_env(name: &str) -> [(String, String); 2] {
    [
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), service_token(name)),
        ("INBOX__AUTH__CALLERS".to_owned(), callers_of(name)),
    ]
}

/// Where the built binaries are.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("INBOX_BIN_DIR") {
        return Ok(dir.into());
    }
    // target/<profile>/deps/<test binary> → target/<profile>
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|deps| deps.parent()).context("cannot locate the target directory")?;
    Ok(dir.to_path_buf())
}

impl Fleet {
    /// Starts every service and waits until each reports ready.
    pub async fn start() -> anyhow::Result<Fleet> {
        Self::start_with(&[]).await
    }

    /// Like `start`, with extra settings for some services: `(service, variable, value)`.
    ///
    /// Ports are picked free but only taken when a service binds them, so a fleet started at
    /// the same moment (another test thread) can take one first; the service that lost the race
    /// exits at once. Such a start is retried on new ports, twice at most.
    pub async fn start_with(extra_env: &[(&str, &str, String)]) -> anyhow::Result<Fleet> {
        let mut attempt = 1;
        loop {
            match Self::try_start(extra_env).await {
                Ok(fleet) => return Ok(fleet),
                Err(StartError::Exited(e)) if attempt < 3 => {
                    eprintln!("fleet start attempt {attempt} failed, retrying on new ports: {e:#}");
                    attempt += 1;
                }
                Err(StartError::Exited(e) | StartError::Other(e)) => return Err(e),
            }
        }
    }

    async fn try_start(extra_env: &[(&str, &str, String)]) -> Result<Fleet, StartError> {
        let bin_dir = bin_dir()?;
        for name in SERVICES {
            let bin = bin_dir.join(format!("inbox-{name}"));
            if !bin.is_file() {
                let missing =
                    anyhow::anyhow!("{} is missing: run `cargo build --workspace --bins` first", bin.display());
                return Err(missing.into());
            }
        }
        let nats = TestNats::start_with_config(Some(&nats_config())).await?;
        // A Redis of the fleet's own: its users are the services' (and a default user that
        // may only PING), with keys under this test's prefix.
        let redis = TestRedis::start_with_acl(|base| {
            inbox_access::redis_acl_file(base, redis_password, inbox_access::REDIS_DEFAULT_USER_PING_ONLY)
        })
        .await?;
        let base = TestDatabase::create("e2e").await?;
        let databases: HashMap<&str, TestDatabase> = WITH_POSTGRES.iter().map(|s| (*s, base.sibling(s))).collect();
        let search_dir = tempfile::tempdir()?;
        let ports: HashMap<&str, (u16, u16, u16)> =
            SERVICES.iter().map(|s| (*s, (free_port(), free_port(), free_port()))).collect();

        let mut fleet = Fleet {
            processes: HashMap::new(),
            bin_dir,
            logs: tempfile::tempdir()?,
            nats,
            redis,
            _databases: Vec::new(),
            _base: base,
            search_dir,
            replicas: Vec::new(),
            database_urls: databases.iter().map(|(name, db)| (*name, db.url())).collect(),
        };
        for name in SERVICES {
            let (http, grpc, admin) = ports[name];
            let mut env = vec![
                ("INBOX__HTTP__ADDR".to_owned(), format!("127.0.0.1:{http}")),
                ("INBOX__HTTP__ADMIN_ADDR".to_owned(), format!("127.0.0.1:{admin}")),
                ("INBOX__GRPC__ADDR".to_owned(), format!("127.0.0.1:{grpc}")),
                ("INBOX__NATS__URL".to_owned(), fleet.nats.url()),
                ("INBOX__LOG__LEVEL".to_owned(), "info".to_owned()),
            ];
            env.extend(identity_env(name));
            env.extend(nats_env(name));
            if inbox_access::redis_key_prefix("", name).is_some() {
                env.push(("INBOX__REDIS__URL".into(), fleet.redis.url().to_owned()));
                env.extend(redis_env(name, fleet.redis.key_prefix()));
            }
            if let Some(db) = databases.get(name) {
                env.push(("INBOX__POSTGRES__URL".to_owned(), db.url()));
                // Two fleets run at once (one per test thread): small pools keep them well
                // inside PostgreSQL's default 100 connections.
                env.push(("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "8".to_owned()));
            }
            // Every service finds the gRPC addresses of those it calls.
            let grpc_of = |service: &str| format!("http://127.0.0.1:{}", ports[service].1);
            let calls: &[(&str, &str)] = match name {
                "gateway" => &[
                    ("INBOX__GATEWAY__CONVERSATION_URL", "conversation"),
                    ("INBOX__GATEWAY__CHANNEL_INGEST_URL", "channel-ingest"),
                    ("INBOX__GATEWAY__ROUTING_URL", "routing"),
                    ("INBOX__GATEWAY__METRICS_URL", "metrics"),
                    ("INBOX__GATEWAY__NOTIFICATION_URL", "notification"),
                    ("INBOX__GATEWAY__SEARCH_URL", "search"),
                ],
                "routing" => &[("INBOX__ROUTING__CONVERSATION_URL", "conversation")],
                "notification" => &[("INBOX__NOTIFICATION__ROUTING_URL", "routing")],
                "metrics" => &[("INBOX__METRICS__CONVERSATION_URL", "conversation")],
                "search" => {
                    &[("INBOX__SEARCH__CONVERSATION_URL", "conversation"), ("INBOX__SEARCH__ROUTING_URL", "routing")]
                }
                _ => &[],
            };
            env.extend(calls.iter().map(|(key, service)| ((*key).to_owned(), grpc_of(service))));
            match name {
                "gateway" => {
                    env.push(("INBOX__GATEWAY__JWT_SECRET".into(), JWT_SECRET.into()));
                    env.push(("INBOX__GATEWAY__OPERATOR_TOKEN".into(), OPERATOR_TOKEN.into()));
                    // The tests poll the gateway every 20 ms with one person's token while they
                    // wait (3,000 requests a minute); the budgets themselves are proven in
                    // services/gateway/tests/public_edge.rs.
                    env.push(("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER".into(), "1000000".into()));
                    env.push(("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY".into(), "1000000".into()));
                }
                "channel-ingest" => {
                    // Channel secrets are sealed at rest with this key (AES-256-GCM, key id e2e).
                    env.push(("INBOX__SECRETS__KEYS".into(), format!("e2e:{CHANNEL_SECRETS_KEY}")));
                    env.push(("INBOX__SECRETS__ACTIVE_KEY".into(), "e2e".into()));
                    // The tests' WhatsApp numbers exist at no Graph API: connecting one is not
                    // checked with Meta here (channel-ingest's own tests prove the check against
                    // a local Graph API; a test may turn it back on with `start_with`).
                    env.push(("INBOX__WHATSAPP__VERIFY_NUMBERS".into(), "false".into()));
                }
                "search" => {
                    env.push(("INBOX__SEARCH__INDEX_DIR".into(), fleet.search_dir.path().display().to_string()))
                }
                _ => {}
            }
            for (service, key, value) in extra_env {
                if *service == name {
                    env.push(((*key).to_owned(), value.clone()));
                }
            }
            let log = fleet.logs.path().join(format!("{name}.log"));
            let child = fleet.spawn(name, &env, &log)?;
            fleet.processes.insert(name, Process { child, http, grpc, admin, env, log });
        }
        fleet._databases = databases.into_values().collect();
        for name in SERVICES {
            if let Err(e) = fleet.wait_ready(name).await {
                let exited = SERVICES
                    .iter()
                    .any(|s| fleet.processes.get_mut(s).is_some_and(|p| matches!(p.child.try_wait(), Ok(Some(_)))));
                return Err(if exited { StartError::Exited(e) } else { StartError::Other(e) });
            }
        }
        Ok(fleet)
    }

    fn spawn(&self, name: &str, env: &[(String, String)], log: &PathBuf) -> anyhow::Result<Child> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        Command::new(self.bin_dir.join(format!("inbox-{name}")))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .with_context(|| format!("cannot start inbox-{name}"))
    }

    /// Starts one more process of `name` with the same settings on new ports (a second
    /// replica sharing the store and the bus); returns its HTTP base URL once ready.
    pub async fn start_replica(&mut self, name: &str) -> anyhow::Result<String> {
        // Like a fleet's start, a replica can lose its ports to another process before it binds
        // them; it then exits at once and is started again on new ones.
        let mut attempt = 1;
        loop {
            let (http, grpc, admin) = (free_port(), free_port(), free_port());
            let mut env = self.processes[name].env.clone();
            for (key, value) in &mut env {
                match key.as_str() {
                    "INBOX__HTTP__ADDR" => *value = format!("127.0.0.1:{http}"),
                    "INBOX__GRPC__ADDR" => *value = format!("127.0.0.1:{grpc}"),
                    "INBOX__HTTP__ADMIN_ADDR" => *value = format!("127.0.0.1:{admin}"),
                    _ => {}
                }
            }
            let log = self.logs.path().join(format!("{name}-replica-{}-{attempt}.log", self.replicas.len() + 2));
            let child = self.spawn(name, &env, &log)?;
            let mut process = Process { child, http, grpc, admin, env, log: log.clone() };
            let url = format!("http://127.0.0.1:{http}");
            match wait_until_ready(&url, &mut process).await {
                Ok(()) => {
                    self.replicas.push(process);
                    return Ok(url);
                }
                Err(e) => {
                    let exited = matches!(process.child.try_wait(), Ok(Some(_)));
                    let _ = process.child.kill();
                    let _ = process.child.wait();
                    if !exited || attempt == 3 {
                        let tail = std::fs::read_to_string(&log).unwrap_or_default();
                        return Err(e.context(format!("replica of inbox-{name} did not become ready; log:\n{tail}")));
                    }
                    eprintln!("replica of inbox-{name} exited on start (attempt {attempt}), retrying on new ports");
                    attempt += 1;
                }
            }
        }
    }

    pub fn http_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.processes[name].http)
    }

    /// The base URL of a service's admin listener (`/metrics`, the detailed `/readyz`).
    pub fn admin_url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}", self.processes[name].admin)
    }

    /// The database of a service, for tests that check what it stored.
    pub fn database_url(&self, name: &str) -> Option<&str> {
        self.database_urls.get(name).map(String::as_str)
    }

    /// The fleet's Redis (its default user may only PING).
    pub fn redis_url(&self) -> &str {
        self.redis.url()
    }

    /// The key prefix `name` keeps its Redis state under, if it has any.
    pub fn redis_key_prefix(&self, name: &str) -> Option<String> {
        inbox_access::redis_key_prefix(self.redis.key_prefix(), name)
    }

    pub fn grpc_port(&self, name: &str) -> u16 {
        self.processes[name].grpc
    }

    /// Waits until `GET /readyz` answers 200.
    pub async fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let url = self.http_url(name);
        let process = self.processes.get_mut(name).context("no such service")?;
        let ready = wait_until_ready(&url, process).await;
        ready.with_context(|| format!("inbox-{name} did not become ready; log:\n{}", self.log_tail(name)))
    }

    /// Kills a service without warning (SIGKILL), as a crash would.
    pub fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self.processes.get_mut(name).context("no such service")?;
        process.child.kill()?;
        process.child.wait()?;
        Ok(())
    }

    /// Starts a killed service again with the same settings and waits until it is ready.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<()> {
        let (env, log) = {
            let p = &self.processes[name];
            (p.env.clone(), p.log.clone())
        };
        let child = self.spawn(name, &env, &log)?;
        self.processes.get_mut(name).context("no such service")?.child = child;
        self.wait_ready(name).await
    }

    /// Sends SIGTERM to a service and returns its exit status once it stopped.
    pub async fn terminate(&mut self, name: &str) -> anyhow::Result<std::process::ExitStatus> {
        let process = self.processes.get_mut(name).context("no such service")?;
        let status = Command::new("kill").args(["-TERM", &process.child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = process.child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                bail!("inbox-{name} did not stop within 15 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything a service (its first process) logged so far.
    pub fn log_text(&self, name: &str) -> String {
        std::fs::read_to_string(&self.processes[name].log).unwrap_or_default()
    }

    /// The last lines a service logged.
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(&self.processes[name].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Why a fleet did not start: a service exited (lost a port to another process, most likely),
/// or anything else.
enum StartError {
    Exited(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(e)
    }
}

impl From<std::io::Error> for StartError {
    fn from(e: std::io::Error) -> Self {
        StartError::Other(e.into())
    }
}

/// Waits until `process` answers `GET {base_url}/readyz` with 200 and its own pid: another
/// process listening on that port (one that won a race for it) does not count, and a process
/// that exited fails at once.
async fn wait_until_ready(base_url: &str, process: &mut Process) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{base_url}/readyz");
    let pid = process.child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait()? {
            bail!("the process exited ({status})");
        }
        let answer = client.get(&url).timeout(Duration::from_secs(2)).send().await;
        if let Ok(response) = answer
            && response.status() == 200
        {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if body["pid"].as_u64() == Some(u64::from(pid)) {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("not ready within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // On a failed assertion, every service's last lines; otherwise those of any service that
        // died on its own (a test that returns an error does not panic).
        let panicking = std::thread::panicking();
        for name in SERVICES {
            let exited = self.processes.get_mut(name).is_some_and(|p| matches!(p.child.try_wait(), Ok(Some(_))));
            if panicking || exited {
                eprintln!("---- inbox-{name} (last lines) ----\n{}", self.log_tail(name));
            }
        }
        for process in self.processes.values_mut().chain(self.replicas.iter_mut()) {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
    }
}
