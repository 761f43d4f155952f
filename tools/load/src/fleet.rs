//! The seven services as separate processes, as `just up` starts them (same binaries, same
//! variables), each with a database of its own on the private PostgreSQL; more replicas of a
//! service share its database and the bus. A service can be killed, restarted, paused and
//! resumed, and may run inside a network namespace.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::infra::{Nats, Postgres, Redis, free_port};
use crate::netns::Member;
use crate::proc::kill;

/// In the order `just up` starts them.
pub const SERVICES: [&str; 7] =
    ["conversation", "channel-ingest", "routing", "notification", "search", "metrics", "gateway"];

pub const SERVICE_TOKEN: &str = "load-service-token-0123456789";
pub const OPERATOR_TOKEN: &str = "load-operator-token-0123456789";
const JWT_SECRET: &str = "load-jwt-secret-0123456789-0123456789";
/// What Twilio is configured to call: the signature covers it, whichever replica answers.
pub const TWILIO_PUBLIC_BASE_URL: &str = "https://ingest.load.test";

fn database_of(service: &str) -> Option<&'static str> {
    Some(match service {
        "gateway" => "inbox_gateway",
        "channel-ingest" => "inbox_ingest",
        "conversation" => "inbox_conversation",
        "routing" => "inbox_routing",
        "notification" => "inbox_notification",
        "metrics" => "inbox_metrics",
        _ => return None,
    })
}

/// One process of a service.
pub struct Process {
    pub service: &'static str,
    pub replica: usize,
    pub host: String,
    pub http: u16,
    pub grpc: u16,
    /// The admin listener: `/metrics`.
    pub admin: u16,
    env: Vec<(String, String)>,
    netns: Option<Member>,
    log: PathBuf,
    child: Option<Child>,
    pub paused: bool,
}

impl Process {
    pub fn label(&self) -> String {
        if self.replica == 1 { self.service.to_owned() } else { format!("{}#{}", self.service, self.replica) }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}:{}", self.host, self.http)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of the process's log.
    fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process ended because a port picked for it was taken before it bound it
    /// (ports are picked free, then bound by the service: another process's outgoing
    /// connection can take one in between).
    fn lost_a_port(&mut self) -> bool {
        let exited = self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some());
        exited && std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("Address already in use"))
    }

    fn spawn(&mut self, bin_dir: &Path) -> anyhow::Result<()> {
        let bin = bin_dir.join(format!("inbox-{}", self.service));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = match &self.netns {
            Some(member) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &member.name]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        self.child = Some(command.spawn().with_context(|| format!("cannot start {}", bin.display()))?);
        self.paused = false;
        Ok(())
    }

    /// Waits until `/readyz` answers 200 with this process's pid.
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.http_url());
        let deadline = Instant::now() + within;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("{} exited ({status}); the end of {}:\n{}", self.label(), self.log.display(), self.log_tail(20));
            }
            if let Ok(response) = client.get(&url).timeout(Duration::from_secs(2)).send().await
                && response.status() == 200
            {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                // In a namespace the pid is `ip netns exec`'s, which becomes the service (exec).
                if body["pid"].as_u64().is_some() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("{} not ready within {within:?}; see {}", self.label(), self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// kill -9, as a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                let _ = kill("-CONT", child.id());
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pause(&mut self) -> anyhow::Result<()> {
        kill("-STOP", self.pid().context("not running")?)?;
        self.paused = true;
        Ok(())
    }

    pub fn resume(&mut self) -> anyhow::Result<()> {
        kill("-CONT", self.pid().context("not running")?)?;
        self.paused = false;
        Ok(())
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// Where the services run and what they stand on.
pub struct Fleet {
    pub work: PathBuf,
    bin_dir: PathBuf,
    pub postgres: Postgres,
    pub nats: Nats,
    pub redis: Redis,
    pub processes: Vec<Process>,
    /// The Graph API the WhatsApp channel talks to.
    graph_base_url: String,
    /// The namespace one service runs in (for link faults), and which service.
    pub isolated: Option<(Member, &'static str)>,
    /// Settings for every process of a service: `(service, variable, value)`.
    pub extra_env: Vec<(&'static str, String, String)>,
}

/// How to reach the servers from the host and from inside a namespace.
struct Addresses {
    postgres: String,
    redis: String,
}

impl Fleet {
    pub fn new(
        work: PathBuf,
        bin_dir: PathBuf,
        (postgres, nats, redis): (Postgres, Nats, Redis),
        graph_base_url: String,
        isolated: Option<(Member, &'static str)>,
    ) -> Fleet {
        Fleet {
            work,
            bin_dir,
            postgres,
            nats,
            redis,
            processes: Vec::new(),
            graph_base_url,
            isolated,
            extra_env: Vec::new(),
        }
    }

    fn addresses(&self, inside: Option<&Member>) -> Addresses {
        match inside {
            Some(member) => Addresses {
                postgres: self.postgres.url_via(&member.host_ip),
                redis: self.redis.url_via(&member.host_ip),
            },
            None => Addresses { postgres: self.postgres.url(), redis: self.redis.url() },
        }
    }

    /// The first process of `service`.
    pub fn first(&self, service: &str) -> &Process {
        self.processes.iter().find(|p| p.service == service).unwrap_or_else(|| unreachable!("{service} is started"))
    }

    fn grpc_url(&self, service: &str) -> String {
        let p = self.first(service);
        format!("http://{}:{}", p.host, p.grpc)
    }

    pub fn gateway_url(&self) -> String {
        self.first("gateway").http_url()
    }

    /// Every channel-ingest process's HTTP address (providers reach any of them).
    pub fn ingest_addresses(&self) -> Vec<std::net::SocketAddr> {
        self.processes
            .iter()
            .filter(|p| p.service == "channel-ingest")
            .filter_map(|p| format!("{}:{}", p.host, p.http).parse().ok())
            .collect()
    }

    fn env_for(
        &self,
        service: &'static str,
        host: &str,
        (http, grpc, admin): (u16, u16, u16),
        inside: Option<&Member>,
    ) -> Vec<(String, String)> {
        let at = self.addresses(inside);
        let mut env: Vec<(String, String)> = vec![
            ("INBOX__HTTP__ADDR".into(), format!("{host}:{http}")),
            ("INBOX__GRPC__ADDR".into(), format!("{host}:{grpc}")),
            // The admin listener (`/metrics`): the load run reads each stage's histograms there.
            ("INBOX__HTTP__ADMIN_ADDR".into(), format!("{host}:{admin}")),
            ("INBOX__NATS__URL".into(), self.nats.url_for(self.processes.len())),
            ("INBOX__AUTH__SERVICE_TOKEN".into(), SERVICE_TOKEN.into()),
            ("INBOX__LOG__FORMAT".into(), "json".into()),
            ("INBOX__LOG__LEVEL".into(), "warn".into()),
        ];
        if let Some(db) = database_of(service) {
            env.push(("INBOX__POSTGRES__URL".into(), format!("{}/{db}", at.postgres)));
        }
        let mut calls: Vec<(&str, &str)> = match service {
            "gateway" => vec![
                ("INBOX__GATEWAY__CONVERSATION_URL", "conversation"),
                ("INBOX__GATEWAY__CHANNEL_INGEST_URL", "channel-ingest"),
                ("INBOX__GATEWAY__ROUTING_URL", "routing"),
                ("INBOX__GATEWAY__METRICS_URL", "metrics"),
                ("INBOX__GATEWAY__NOTIFICATION_URL", "notification"),
                ("INBOX__GATEWAY__SEARCH_URL", "search"),
            ],
            "routing" => vec![("INBOX__ROUTING__CONVERSATION_URL", "conversation")],
            "notification" => vec![("INBOX__NOTIFICATION__ROUTING_URL", "routing")],
            "metrics" => vec![("INBOX__METRICS__CONVERSATION_URL", "conversation")],
            "search" => {
                vec![("INBOX__SEARCH__CONVERSATION_URL", "conversation"), ("INBOX__SEARCH__ROUTING_URL", "routing")]
            }
            _ => vec![],
        };
        calls.retain(|(_, callee)| self.processes.iter().any(|p| p.service == *callee));
        env.extend(calls.iter().map(|(key, callee)| ((*key).to_owned(), self.grpc_url(callee))));
        match service {
            "gateway" => {
                env.push(("INBOX__REDIS__URL".into(), at.redis.clone()));
                env.push(("INBOX__GATEWAY__JWT_SECRET".into(), JWT_SECRET.into()));
                env.push(("INBOX__GATEWAY__OPERATOR_TOKEN".into(), OPERATOR_TOKEN.into()));
                // Ten thousand sockets of a handful of people (see the sockets phase).
                env.push(("INBOX__LIVE__MAX_SOCKETS_PER_USER".into(), "20000".into()));
                // A handful of agents answer a fleet-wide load over REST: the run measures the
                // fleet, not the per-person request budget.
                env.push(("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER".into(), "1000000".into()));
                env.push(("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY".into(), "1000000".into()));
            }
            "routing" => env.push(("INBOX__REDIS__URL".into(), at.redis.clone())),
            "channel-ingest" => {
                env.push(("INBOX__REDIS__URL".into(), at.redis.clone()));
                env.push(("INBOX__TWILIO__VERIFY_NUMBERS".into(), "false".into()));
                // Channel secrets are encrypted at rest with this key (32 bytes, base64).
                env.push(("INBOX__SECRETS__KEYS".into(), "load:bG9hZC10ZXN0LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=".into()));
                env.push(("INBOX__SECRETS__ACTIVE_KEY".into(), "load".into()));
                env.push(("INBOX__TWILIO__PUBLIC_BASE_URL".into(), TWILIO_PUBLIC_BASE_URL.into()));
                env.push(("INBOX__WHATSAPP__GRAPH_BASE_URL".into(), self.graph_base_url.clone()));
                env.push(("INBOX__WHATSAPP__GRAPH_API_VERSION".into(), crate::provider::GRAPH_VERSION.into()));
                // Every visitor comes from this one machine's address: its per-address budgets
                // (one widget, all widgets, new visitors, page views) would refuse the run's
                // traffic and the ladder would measure the limits instead of the fleet.
                env.push(("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE".into(), "1000000".into()));
                env.push(("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE_ALL_WIDGETS".into(), "10000000".into()));
                env.push(("INBOX__WEBCHAT__VISITORS_PER_ADDRESS_PER_HOUR".into(), "1000000".into()));
                env.push(("INBOX__WEBCHAT__PAGE_VIEWS_PER_ADDRESS_PER_HOUR".into(), "10000000".into()));
                env.push(("INBOX__WEBCHAT__VISITOR_MESSAGES_PER_MINUTE".into(), "10000".into()));
            }
            "search" => {
                env.push(("INBOX__SEARCH__INDEX_DIR".into(), self.work.join("search-index").display().to_string()))
            }
            _ => {}
        }
        for (s, key, value) in &self.extra_env {
            if *s == service {
                env.push((key.clone(), value.clone()));
            }
        }
        env
    }

    /// Starts one more process of `service` (the first one when none runs yet) and waits until
    /// it is ready.
    pub async fn add(&mut self, service: &'static str) -> anyhow::Result<usize> {
        let replica = self.processes.iter().filter(|p| p.service == service).count() + 1;
        let inside = self.isolated.as_ref().filter(|(_, s)| *s == service && replica == 1).map(|(m, _)| m.clone());
        let host = inside.as_ref().map_or_else(|| "127.0.0.1".to_owned(), |m| m.inner_ip.clone());
        let log = self.work.join("logs").join(format!("{service}-{replica}.log"));
        let mut attempt = 1;
        loop {
            let (http, grpc, admin) = (free_port()?, free_port()?, free_port()?);
            let env = self.env_for(service, &host, (http, grpc, admin), inside.as_ref());
            let mut process = Process {
                service,
                replica,
                host: host.clone(),
                http,
                grpc,
                admin,
                env,
                netns: inside.clone(),
                log: log.clone(),
                child: None,
                paused: false,
            };
            process.spawn(&self.bin_dir)?;
            match process.wait_ready(Duration::from_secs(120)).await {
                Ok(()) => {
                    self.processes.push(process);
                    return Ok(self.processes.len() - 1);
                }
                Err(e) if attempt < 3 && process.lost_a_port() => {
                    eprintln!("{} lost a port before binding it; starting it again on others: {e}", process.label());
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every service once, in `just up`'s order.
    pub async fn start_all(&mut self) -> anyhow::Result<()> {
        for service in SERVICES {
            self.add(service).await?;
        }
        Ok(())
    }

    pub fn index_of(&self, label: &str) -> anyhow::Result<usize> {
        self.processes.iter().position(|p| p.label() == label).with_context(|| format!("no process {label}"))
    }

    /// kill -9 then start again with the same settings, as a supervisor would; returns when
    /// it is ready again.
    pub async fn crash_and_restart(&mut self, index: usize) -> anyhow::Result<()> {
        let process = &mut self.processes[index];
        process.kill9();
        process.spawn(&self.bin_dir)?;
        process.wait_ready(Duration::from_secs(120)).await
    }

    /// The pids to measure: `(label, pid, with children)`.
    pub fn measured_pids(&self) -> Vec<(String, u32, bool)> {
        let mut pids: Vec<(String, u32, bool)> =
            self.processes.iter().filter_map(|p| p.pid().map(|pid| (p.label(), pid, false))).collect();
        for node in &self.nats.nodes {
            if let Some(pid) = node.pid() {
                let label = if self.nats.nodes.len() == 1 { "nats".to_owned() } else { format!("nats {}", node.name) };
                pids.push((label, pid, false));
            }
        }
        if let Some(pid) = self.postgres.pid() {
            pids.push(("postgresql".into(), pid, true));
        }
        if let Some(pid) = self.redis.pid() {
            pids.push(("redis".into(), pid, false));
        }
        pids
    }

    /// Every process's settings by label, for the record.
    pub fn layout(&self) -> HashMap<String, String> {
        self.processes.iter().map(|p| (p.label(), p.http_url())).collect()
    }

    pub fn stop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            if let Some(pid) = process.pid() {
                if process.paused {
                    let _ = kill("-CONT", pid);
                }
                let _ = kill("-TERM", pid);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for process in &mut self.processes {
            while process.is_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            process.kill9();
        }
        self.postgres.stop();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}
