//! `just up`'s living demo, as a newcomer meets it: `scripts/up.sh` starts (with a private data
//! directory, private PostgreSQL, NATS and Redis, and free ports, so a developer's own `just up`
//! is left alone), prints the web inbox's URL and the credentials; signed in with them, the
//! public API shows the seeded history over all three channels, and then the simulator and the
//! reference AI agent at work: new conversations, AI answers, hand-offs, colleagues' replies
//! and customers answering them. Then Ctrl-C (SIGINT to its process group): everything it
//! started is gone.
//!
//! Needs the workspace's binaries built (`cargo build --workspace --bins`), as `just test` does.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use inbox_e2e::bin_dir;
use inbox_testkit::{free_port, wait_until};
use serde_json::{Value, json};

/// Past conversations seeded (few, to keep the test short; `just up` seeds 260).
const SEEDED: usize = 36;

/// `scripts/up.sh` running in its own process group.
struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
    data: tempfile::TempDir,
    /// The private PostgreSQL, NATS and Redis ports.
    servers: [u16; 3],
}

impl Up {
    fn start(base: u16) -> anyhow::Result<Up> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("repository root")?.to_path_buf();
        let bins = bin_dir()?;
        // Under target/: the private PostgreSQL runs as `postgres` when the test runs as root,
        // and must be able to reach its data directory (a 0700 /tmp directory would not do).
        let parent = bins.parent().context("target dir")?.join("tmp");
        std::fs::create_dir_all(&parent)?;
        let data = tempfile::Builder::new().prefix("demo-").tempdir_in(&parent)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755))?;
        }
        let servers = [free_port(), free_port(), free_port()];
        let mut child = Command::new("bash")
            .arg(root.join("scripts/up.sh"))
            .current_dir(&root)
            .env("INBOX_UP_DATA_DIR", data.path())
            .env("INBOX_UP_BASE_PORT", base.to_string())
            .env("INBOX_UP_BIN_DIR", &bins)
            .env("INBOX_UP_CONVERSATIONS", SEEDED.to_string())
            .env("INBOX_UP_PACE", "0.1")
            .env("INBOX_DEV_POSTGRES_PORT", servers[0].to_string())
            .env("INBOX_DEV_NATS_PORT", servers[1].to_string())
            .env("INBOX_DEV_REDIS_PORT", servers[2].to_string())
            .env_remove("INBOX_DEV_POSTGRES_URL")
            .env_remove("INBOX_DEV_NATS_URL")
            .env_remove("INBOX_DEV_REDIS_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("cannot run scripts/up.sh")?;
        let (tx, lines) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Up { child, lines, output: Vec::new(), data, servers })
    }

    /// Reads what it printed until `pick` finds something, for at most `within`.
    fn wait_for_line<T>(&mut self, within: Duration, mut pick: impl FnMut(&str) -> Option<T>) -> anyhow::Result<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = self.output.iter().find_map(|l| pick(l)) {
                return Ok(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(500))) {
                Ok(line) => self.output.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = self.child.try_wait()? {
                        bail!("scripts/up.sh exited ({status}):\n{}", self.output.join("\n"));
                    }
                }
                _ => bail!("not printed in time; it printed:\n{}\n{}", self.output.join("\n"), self.log_tail()),
            }
        }
    }

    fn log_tail(&self) -> String {
        ["simulator", "ai-agent", "gateway", "channel-ingest"]
            .iter()
            .map(|name| {
                let text =
                    std::fs::read_to_string(self.data.path().join(format!("logs/{name}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!("---- {name} ----\n{}", lines[lines.len().saturating_sub(15)..].join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
    fn interrupt(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let group = format!("-{}", self.child.id());
        Command::new("kill").args(["-INT", "--", &group]).status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("scripts/up.sh did not stop within 60 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether any process of its group is still alive.
    fn group_alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.group_alive() {
            let _ = self.interrupt();
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        }
    }
}

/// A base port whose seven service ports, their gRPC (+1000) and admin (+2000) ports and the
/// simulator's (+10) are free right now. All below 32,768, where Linux's ephemeral range
/// starts: the source port of some outgoing connection (a pool connecting to PostgreSQL) can
/// take a port in that range between this check and the service's bind (CI saw routing exit
/// with "address in use" on 36266).
fn free_base_port() -> anyhow::Result<u16> {
    for _ in 0..200 {
        let base = 20_000 + (free_port() % 10_000);
        let ports: Vec<u16> =
            (0..7).flat_map(|i| [base + i, base + 1000 + i, base + 2000 + i]).chain([base + 10]).collect();
        if ports.iter().all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok()) {
            return Ok(base);
        }
    }
    bail!("no free range of ports")
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> anyhow::Result<Value> {
    let response = client.get(&url).bearer_auth(token).send().await?;
    anyhow::ensure!(response.status().is_success(), "GET {url}: {}", response.status());
    Ok(response.json().await?)
}

async fn all_conversations(client: &reqwest::Client, gateway: &str, token: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(client, format!("{gateway}/v1/conversations?limit=100&cursor={cursor}"), token).await?;
        all.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["next_cursor"].as_str() {
            Some(next) if !next.is_empty() => cursor = next.to_owned(),
            _ => return Ok(all),
        }
    }
}

/// What the newcomer's inbox shows of the live part: conversations created after `since`.
#[derive(Debug, Default)]
struct Life {
    new_conversations: usize,
    ai_answers: usize,
    handoffs: usize,
    agent_replies: usize,
    customer_answers_to_people: usize,
}

async fn life_since(
    client: &reqwest::Client,
    gateway: &str,
    token: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<Life> {
    let mut life = Life::default();
    for c in all_conversations(client, gateway, token).await? {
        let created = c["created_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if created.is_none_or(|t| t < since) {
            continue;
        }
        life.new_conversations += 1;
        if c["needs_human"] == true || c["handled_by"] == "human" {
            life.handoffs += 1;
        }
        let id = c["id"].as_str().context("id")?;
        let messages = get(client, format!("{gateway}/v1/conversations/{id}/messages?limit=100"), token).await?;
        let kinds: Vec<&str> =
            messages["items"].as_array().into_iter().flatten().filter_map(|m| m["sender_kind"].as_str()).collect();
        life.ai_answers += kinds.iter().filter(|k| **k == "ai").count();
        life.agent_replies += kinds.iter().filter(|k| **k == "agent").count();
        // A customer who wrote after a person (or the AI) answered them.
        life.customer_answers_to_people +=
            kinds.windows(2).filter(|w| matches!(w[0], "ai" | "agent") && w[1] == "customer").count();
    }
    Ok(life)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn just_up_shows_a_living_inbox_and_stops_on_ctrl_c() -> anyhow::Result<()> {
    let base = free_base_port()?;
    let mut up = Up::start(base)?;

    // The newcomer reads the URL and the credentials off the terminal.
    let url = up.wait_for_line(Duration::from_secs(150), |line| {
        line.trim().strip_prefix("web inbox").map(|rest| rest.trim().trim_end_matches('/').to_owned())
    })?;
    assert_eq!(url, format!("http://127.0.0.1:{base}"));
    let (email, password) = up.wait_for_line(Duration::from_secs(5), |line| {
        let rest = line.trim().strip_prefix("sign in as")?;
        let (email, password) = rest.split_once("password:")?;
        Some((email.trim().to_owned(), password.trim().to_owned()))
    })?;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?;
    // The web inbox itself is served there.
    let page = client.get(format!("{url}/")).send().await?;
    assert!(page.status().is_success() || page.status() == 503, "GET / answered {}", page.status());
    let signed_in = client
        .post(format!("{url}/v1/auth/sign-in"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?;
    assert_eq!(signed_in.status(), 200, "sign-in with the printed credentials");
    let token = signed_in.json::<Value>().await?["access_token"].as_str().context("access_token")?.to_owned();

    // The history: every channel, resolved and archived ones, calls with voicemails.
    let seeded_file = up.data.path().join("run/demo.seeded");
    let seeded = wait_until(Duration::from_secs(120), || {
        let seeded_file = seeded_file.clone();
        async move { seeded_file.exists().then(Utc::now) }
    })
    .await;
    let Some(seeded_at) = seeded else { bail!("the history was not seeded in time\n{}", up.log_tail()) };
    let history = all_conversations(&client, &url, &token).await?;
    assert!(history.len() >= SEEDED * 9 / 10, "{} conversations after seeding {SEEDED}", history.len());
    for channel in ["whatsapp", "telephony", "webchat"] {
        assert!(history.iter().any(|c| c["channel"] == channel), "no {channel} conversation in the history");
    }
    for status in ["resolved", "archived"] {
        assert!(history.iter().any(|c| c["status"] == status), "no {status} conversation in the history");
    }

    // Then life: the simulator's customers, the AI agent and the colleagues.
    let life = wait_until(Duration::from_secs(100), || {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let life = life_since(&client, &url, &token, seeded_at).await.ok()?;
            eprintln!("{life:?}");
            (life.new_conversations >= 3
                && life.ai_answers >= 2
                && life.handoffs >= 1
                && life.agent_replies >= 1
                && life.customer_answers_to_people >= 1)
                .then_some(life)
        }
    })
    .await;
    let Some(life) = life else { bail!("the demo did not come alive in time\n{}", up.log_tail()) };
    eprintln!("alive: {life:?}");

    // Ctrl-C: everything it started stops, the servers too.
    let status = up.interrupt()?;
    assert!(status.success(), "scripts/up.sh exited with {status} on Ctrl-C");
    let gone = wait_until(Duration::from_secs(20), || {
        let alive = up.group_alive();
        async move { (!alive).then_some(()) }
    })
    .await;
    assert!(gone.is_some(), "processes of just up are still running after Ctrl-C");
    // The private servers run in sessions of their own: their ports tell they stopped.
    for port in [base, base + 1, base + 10].into_iter().chain(up.servers) {
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok(), "port {port} is still taken after Ctrl-C");
    }
    Ok(())
}
