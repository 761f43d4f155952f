//! `just bench sockets`: 10,000 agents' WebSockets on one gateway receiving live events.
//!
//! The gateway runs as its own process (this binary started again with `serve-gateway`), so
//! its resident memory is its own; routing runs in this process (presence tells it who is
//! online). 1,000 agents hold 10 sockets each. Events are published on the `EVENTS` stream as
//! the conversation service would; the fan-out latency of an event is the time from its
//! publish to its arrival at a socket, over every (socket, event). Then every socket
//! reconnects at once with `?after=` (a deploy's reconnect wave) and one more event is sent.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_proto::conversation::v1::{Conversation, Message};
use inbox_proto::events::v1::MessageCreated;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, free_port, wait_until};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Row, ms, percentile, row, service_env};

const AGENTS: usize = 1_000;
const SOCKETS_PER_AGENT: usize = 10;
const EVENTS: usize = 20;
const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789";

/// The child process's entry: runs the gateway from the environment the parent set.
pub async fn serve_gateway() -> std::process::ExitCode {
    inbox_service::service_main::<inbox_gateway::Settings, _, _, _>(inbox_gateway::run).await
}

/// The gateway process, killed when dropped.
struct GatewayProcess(Child);

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the socket tasks report.
enum Seen {
    Ready,
    Event { number: usize, at: Instant },
}

pub async fn bench_sockets() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let gateway_db = TestDatabase::create("bench_gateway").await?;
    let routing_db = gateway_db.sibling("routing");
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;

    // Routing, in this process.
    let redis_env = |prefix: &str| {
        [
            ("INBOX__REDIS__URL", redis.url().to_owned()),
            ("INBOX__REDIS__KEY_PREFIX", format!("{}{prefix}", redis.key_prefix())),
        ]
    };
    let env = service_env(routing_db.url(), nats.url(), &redis_env("routing:"), None);
    let settings: inbox_routing::Settings = inbox_config::load(inbox_routing::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let routing_grpc = listeners.grpc.local_addr()?;
    let shutdown = CancellationToken::new();
    let routing = tokio::spawn(inbox_routing::run(settings, listeners, shutdown.clone()));
    // The conversation service, in this process (a new tenant's settings are seeded there).
    let conversation_db = gateway_db.sibling("conversation");
    let env = service_env(conversation_db.url(), nats.url(), &[], None);
    let settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let conversation_grpc = listeners.grpc.local_addr()?;
    let conversation_service = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));

    // The gateway, in its own process.
    let (http, grpc) = (free_port(), free_port());
    let mut gateway_env = service_env(gateway_db.url(), nats.url(), &redis_env("gateway:"), Some("INBOX__LIVE__"));
    gateway_env.extend(
        [
            ("INBOX__HTTP__ADDR", format!("127.0.0.1:{http}")),
            ("INBOX__GRPC__ADDR", format!("127.0.0.1:{grpc}")),
            ("INBOX__GATEWAY__JWT_SECRET", "bench-jwt-secret-0123456789-0123456789".to_owned()),
            ("INBOX__GATEWAY__OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
            ("INBOX__GATEWAY__ROUTING_URL", format!("http://{routing_grpc}")),
            ("INBOX__GATEWAY__CONVERSATION_URL", format!("http://{conversation_grpc}")),
            ("INBOX__POSTGRES__MAX_CONNECTIONS", "16".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let child = Command::new(std::env::current_exe()?)
        .arg("serve-gateway")
        .env_clear()
        .envs(&gateway_env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the gateway process")?;
    let gateway = GatewayProcess(child);
    let pid = gateway.0.id();
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: String, body: Value| {
        client.request(method, format!("{base}{path}")).bearer_auth(OPERATOR_TOKEN).json(&body).send()
    };
    wait_until(Duration::from_secs(60), || async {
        let answer =
            admin(reqwest::Method::GET, format!("/v1/admin/tenants/{}/settings/access", Uuid::nil()), json!({}));
        answer.await.ok().filter(|r| r.status() != 503).map(|_| ())
    })
    .await
    .context("the gateway did not start")?;
    let (idle_rss, _) = memory_mib(pid);

    // A tenant and its agents, with a token each.
    let tenant: Value =
        admin(reqwest::Method::POST, "/v1/admin/tenants".into(), json!({"slug": "bench", "name": "Bench"}))
            .await?
            .json()
            .await?;
    let tenant_id = tenant["id"].as_str().with_context(|| format!("tenant: {tenant}"))?.to_owned();
    let mut tokens = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let body = json!({"email": format!("agent{i}@bench.test"), "name": format!("Agent {i}"), "role": "agent"});
        let user: Value =
            admin(reqwest::Method::POST, format!("/v1/admin/tenants/{tenant_id}/users"), body).await?.json().await?;
        let user_id = user["id"].as_str().with_context(|| format!("user: {user}"))?;
        let path = format!("/v1/admin/tenants/{tenant_id}/users/{user_id}/tokens");
        let minted: Value = admin(reqwest::Method::POST, path, json!({})).await?.json().await?;
        tokens.push(minted["token"].as_str().context("token")?.to_owned());
    }

    // 10,000 sockets, each reporting when it is ready and when each event arrives.
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Seen>();
    let reconnect = Arc::new(tokio::sync::Notify::new());
    let opening = Arc::new(Semaphore::new(200));
    let ws_base = base.replace("http://", "ws://");
    let started = Instant::now();
    let mut sockets = Vec::new();
    for n in 0..AGENTS * SOCKETS_PER_AGENT {
        let url = format!("{ws_base}/v1/stream");
        let token = tokens[n % AGENTS].clone();
        sockets.push(tokio::spawn(hold_socket(url, token, seen_tx.clone(), reconnect.clone(), opening.clone())));
    }
    let total = sockets.len();
    wait_for(&mut seen_rx, total, |s| matches!(s, Seen::Ready), Duration::from_secs(300)).await;
    let connect_time = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (connected_rss, _) = memory_mib(pid);

    // Events, one every 250 ms.
    let conversation =
        Conversation { id: Uuid::now_v7().to_string(), tenant_id: tenant_id.clone(), ..Default::default() };
    let mut published = Vec::with_capacity(EVENTS);
    for number in 0..EVENTS {
        published.push(publish(&bus, &tenant_id, &conversation, number).await?);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut latencies = Vec::with_capacity(total * EVENTS);
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < total * EVENTS && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), seen_rx.recv()).await {
            Ok(Some(Seen::Event { number, at })) if number < EVENTS => {
                latencies.push(at.saturating_duration_since(published[number]));
                received += 1;
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    latencies.sort_unstable();
    let (fanned_rss, _) = memory_mib(pid);

    // The reconnect wave: every socket at once, with `after`.
    let wave_started = Instant::now();
    reconnect.notify_waiters();
    let reready = wait_for(&mut seen_rx, total, |s| matches!(s, Seen::Ready), Duration::from_secs(300)).await;
    let wave_time = wave_started.elapsed();
    let after_wave = publish(&bus, &tenant_id, &conversation, EVENTS).await?;
    let mut last_arrival = Duration::ZERO;
    let got = wait_for_event(&mut seen_rx, total, EVENTS, after_wave, &mut last_arrival).await;
    let (_, peak_rss) = memory_mib(pid);

    shutdown.cancel();
    for socket in sockets {
        socket.abort();
    }
    drop(gateway);
    let _ = routing.await;
    let _ = conversation_service.await;
    let n = latencies.len();
    Ok(vec![
        row("sockets: gateway memory, idle", format!("{idle_rss} MiB"), "resident, before any socket"),
        row(
            "sockets: gateway memory, 10,000 sockets",
            format!("{connected_rss} MiB"),
            format!(
                "resident; {total} agent sockets ({AGENTS} agents x {SOCKETS_PER_AGENT}) opened in {:.1} s",
                connect_time.as_secs_f64()
            ),
        ),
        row(
            "sockets: gateway memory after fan-out",
            format!("{fanned_rss} MiB"),
            format!("{EVENTS} events to every socket"),
        ),
        row(
            "sockets: fan-out p50",
            ms(percentile(&latencies, 50.0)),
            format!("publish to arrival, {n} of {} deliveries", total * EVENTS),
        ),
        row("sockets: fan-out p99", ms(percentile(&latencies, 99.0)), "target: well under a second"),
        row(
            "sockets: fan-out max",
            ms(latencies.last().copied().unwrap_or_default()),
            "the last socket of the slowest event",
        ),
        row(
            "sockets: reconnect wave",
            format!("{:.1} s", wave_time.as_secs_f64()),
            format!(
                "{reready} of {total} sockets back (with ?after=); an event after it reached {got} in {}",
                ms(last_arrival)
            ),
        ),
        row("sockets: gateway peak memory", format!("{peak_rss} MiB"), "VmHWM over the whole run; target under 300 MB"),
    ])
}

async fn publish(bus: &Bus, tenant_id: &str, conversation: &Conversation, number: usize) -> anyhow::Result<Instant> {
    let message = Message {
        id: Uuid::now_v7().to_string(),
        conversation_id: conversation.id.clone(),
        external_id: format!("bench-{number}"),
        ..Default::default()
    };
    let envelope = new_envelope(
        Uuid::now_v7().to_string(),
        tenant_id,
        Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(conversation.clone()) }),
    );
    let at = Instant::now();
    bus.publish(&subjects::event(tenant_id, "message.created"), &envelope).await?;
    Ok(at)
}

/// Waits until `count` reports match `wanted` (or `limit` passes); how many did.
async fn wait_for(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
    wanted: impl Fn(&Seen) -> bool,
    limit: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    let mut matched = 0;
    while matched < count {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(s)) if wanted(&s) => matched += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    matched
}

/// Waits for event `number` at `count` sockets; how many got it, and when the last did.
async fn wait_for_event(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
    number: usize,
    published: Instant,
    last: &mut Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut got = 0;
    while got < count {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(Seen::Event { number: n, at })) if n == number => {
                got += 1;
                *last = (*last).max(at.saturating_duration_since(published));
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    got
}

/// One client socket: reports `ready` and each event; on `reconnect`, closes and opens again
/// with `?after=` the last sequence it saw.
async fn hold_socket(
    url: String,
    token: String,
    seen: mpsc::UnboundedSender<Seen>,
    reconnect: Arc<tokio::sync::Notify>,
    opening: Arc<Semaphore>,
) {
    let mut last_seq: Option<u64> = None;
    loop {
        let target = match last_seq {
            Some(seq) => format!("{url}?after={seq}"),
            None => url.clone(),
        };
        let socket = {
            let Ok(_permit) = opening.acquire().await else { return };
            let mut attempt = 0;
            loop {
                let request = {
                    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
                    let Ok(mut request) = target.as_str().into_client_request() else { return };
                    let Ok(bearer) = format!("Bearer {token}").parse() else { return };
                    request.headers_mut().insert("authorization", bearer);
                    request
                };
                match tokio_tungstenite::connect_async(request).await {
                    Ok((socket, _)) => break socket,
                    Err(_) if attempt < 50 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_) => return,
                }
            }
        };
        let (mut write, mut read) = socket.split();
        let wave = reconnect.notified();
        tokio::pin!(wave);
        loop {
            tokio::select! {
                () = &mut wave => {
                    let _ = write.send(Ws::Close(None)).await;
                    break;
                }
                frame = read.next() => match frame {
                    Some(Ok(Ws::Text(text))) => {
                        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                        if let Some(seq) = frame["seq"].as_u64() {
                            last_seq = Some(seq);
                        }
                        if frame["type"] == "ready" {
                            let _ = seen.send(Seen::Ready);
                        } else if frame["type"] == "message.created"
                            && let Some(number) = frame["message"]["external_id"].as_str().and_then(|e| e.strip_prefix("bench-")).and_then(|n| n.parse().ok())
                        {
                            let _ = seen.send(Seen::Event { number, at: Instant::now() });
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    }
}
