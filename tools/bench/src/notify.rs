//! The notification service in-process, with the real routing service for people and teams.
//!
//! - events → notification: `conversation.assigned` events paced at 1,000/s for
//!   `BENCH_NOTIFY_SECONDS` (10) to 50 agents; for each, the time from its publish until its
//!   "assigned to you" arrives on the assignee's core NATS subject `notify.<tenant>.<user>`,
//!   and until the gateway's `notification` frame arrives on the assignee's WebSocket; the CPU
//!   this process and PostgreSQL spent per 1,000 events;
//! - SLA timers: `BENCH_NOTIFY_TIMERS` (100,000) running timers whose warnings fall due over
//!   one minute; how late each fired after its due time (from the store: warned_at −
//!   warning_at);
//! - webhooks: `BENCH_NOTIFY_DELIVERIES` (8,000) deliveries queued for 8 endpoints of a local
//!   HTTP server; deliveries per second until all are delivered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1::{Conversation, ConversationStatus, Priority};
use inbox_proto::events::v1::AssignmentChanged;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use prost::Message as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Row, ms, percentile, row, service_env};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of every PostgreSQL process on the machine (the test cluster's backends, and
/// anything else running PostgreSQL here).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(cpu_seconds)
        .sum()
}

struct Services {
    _routing_db: TestDatabase,
    db: TestDatabase,
    nats: TestNats,
    redis: TestRedis,
    shutdown: CancellationToken,
    notification: tokio::task::JoinHandle<Result<(), inbox_service::RunError>>,
    routing_url: String,
}

async fn ready(http: std::net::SocketAddr) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let ok = wait_until(Duration::from_secs(60), || {
        let request = client.get(format!("http://{http}/readyz"));
        async move { request.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
    anyhow::ensure!(ok.is_some(), "service at {http} not ready");
    Ok(())
}

async fn start(extra: &[(&str, String)]) -> anyhow::Result<Services> {
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let db = TestDatabase::create("bench_notify").await?;
    let routing_db = db.sibling("routing");
    let shutdown = CancellationToken::new();
    let env = service_env(
        routing_db.url(),
        nats.url(),
        &[("INBOX__REDIS__URL", redis.url().to_owned()), ("INBOX__REDIS__KEY_PREFIX", redis.key_prefix().to_owned())],
        None,
    );
    let settings: inbox_routing::Settings = inbox_config::load(inbox_routing::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let (http, grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    tokio::spawn(inbox_routing::run(settings, listeners, shutdown.clone()));
    ready(http).await?;
    let routing_url = format!("http://{grpc}");
    let mut extra: Vec<(&str, String)> = extra.to_vec();
    extra.push(("INBOX__NOTIFICATION__ROUTING_URL", routing_url.clone()));
    // `INBOX__NOTIFICATION__MAX_BATCH=512 just bench notify` tries other settings.
    let env = service_env(db.url(), nats.url(), &extra, Some("INBOX__"));
    let settings: inbox_notification::Settings =
        inbox_config::load(inbox_notification::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let http = listeners.http.local_addr()?;
    let notification = tokio::spawn(inbox_notification::run(settings, listeners, shutdown.clone()));
    ready(http).await?;
    Ok(Services { _routing_db: routing_db, db, nats, redis, shutdown, notification, routing_url })
}

impl Services {
    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.notification).await???;
        Ok(())
    }
}

pub async fn bench_notify() -> anyhow::Result<Vec<Row>> {
    let mut rows = live_latency().await?;
    rows.extend(sla_timers().await?);
    rows.extend(webhooks().await?);
    Ok(rows)
}

/// Events at 1,000/s → "assigned to you", measured twice from the same publish: on the
/// assignee's NATS subject, and as the `notification` frame on the assignee's WebSocket
/// through a gateway (in this process, with the conversation service it needs for a tenant).
async fn live_latency() -> anyhow::Result<Vec<Row>> {
    let services = start(&[]).await?;
    let bus = Bus::connect(&services.nats.url(), "bench").await?;
    let gateway = start_gateway(&services).await?;
    let (tenant, agents) = gateway.agents(50).await?;

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let on_subject: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let on_socket: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let client = async_nats::connect(services.nats.url()).await?;
    let mut live = client.subscribe(format!("notify.{tenant}.>")).await?;
    client.flush().await?;
    let receiver = {
        let (sent, latencies) = (sent.clone(), on_subject.clone());
        tokio::spawn(async move {
            while let Some(message) = live.next().await {
                let arrived = Instant::now();
                let Ok(frame) = inbox_notification::proto::Notification::decode(message.payload) else { continue };
                if let Some(at) = sent.lock().unwrap_or_else(|p| p.into_inner()).get(&frame.conversation_id) {
                    latencies.lock().unwrap_or_else(|p| p.into_inner()).push(arrived - *at);
                }
            }
        })
    };
    let mut sockets = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
    for (_, token) in &agents {
        let socket = connect_socket(&gateway.ws_url, token).await?;
        sockets.push(tokio::spawn(read_notifications(socket, sent.clone(), on_socket.clone(), ready_tx.clone())));
    }
    for _ in 0..agents.len() {
        tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
            .await?
            .context("a socket closed before ready")?;
    }

    let seconds = setting("BENCH_NOTIFY_SECONDS", 10);
    let rate = 1_000usize;
    let total = seconds * rate;
    let (cpu_before, pg_before) = (cpu_seconds(std::process::id()), postgres_cpu_seconds());
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut published = 0;
    while published < total {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(total);
        let mut batch = Vec::new();
        for i in published..due {
            let conversation = Uuid::now_v7().to_string();
            let assignee = agents[i % agents.len()].0;
            let payload = Payload::AssignmentChanged(AssignmentChanged {
                conversation: Some(Conversation {
                    id: conversation.clone(),
                    tenant_id: tenant.to_string(),
                    channel: Channel::Whatsapp as i32,
                    status: ConversationStatus::Active as i32,
                    priority: Priority::Normal as i32,
                    assignee_id: assignee.to_string(),
                    version: 2,
                    ..Default::default()
                }),
                actor: "service:routing".into(),
                ..Default::default()
            });
            let envelope = new_envelope(Uuid::now_v7().to_string(), tenant.to_string(), payload);
            sent.lock().unwrap_or_else(|p| p.into_inner()).insert(conversation, Instant::now());
            batch.push((subjects::event(&tenant.to_string(), "conversation.assigned"), envelope));
        }
        bus.publish_all(&batch).await?;
        published = due;
    }
    let arrived = |l: &Arc<Mutex<Vec<Duration>>>| l.lock().unwrap_or_else(|p| p.into_inner()).len();
    let drained = wait_until(Duration::from_secs(60), || {
        let done = arrived(&on_subject) >= total && arrived(&on_socket) >= total;
        async move { done.then_some(()) }
    })
    .await;
    let elapsed = started.elapsed();
    let (cpu, pg) = (cpu_seconds(std::process::id()) - cpu_before, postgres_cpu_seconds() - pg_before);
    receiver.abort();
    for socket in sockets {
        socket.abort();
    }
    let sorted = |l: &Arc<Mutex<Vec<Duration>>>| {
        let mut l = l.lock().unwrap_or_else(|p| p.into_inner()).clone();
        l.sort();
        l
    };
    let (on_subject, on_socket) = (sorted(&on_subject), sorted(&on_socket));
    gateway.stop().await?;
    services.stop().await?;
    let per_thousand = |s: f64| format!("{:.2} CPU-s", s * 1000.0 / total as f64);
    let missing = if drained.is_none() { " (not all arrived)" } else { "" };
    Ok(vec![
        row(
            "notify: event → \"assigned\" on the subject p50",
            ms(percentile(&on_subject, 50.0)),
            format!("{total} events at {rate}/s, {} frames{missing}; NATS notify.<tenant>.<user>", on_subject.len()),
        ),
        row("notify: event → \"assigned\" on the subject p99", ms(percentile(&on_subject, 99.0)), ""),
        row(
            "notify: event → \"assigned\" on the WebSocket p50",
            ms(percentile(&on_socket, 50.0)),
            format!("{} frames on {} agents' sockets through the gateway{missing}", on_socket.len(), agents.len()),
        ),
        row("notify: event → \"assigned\" on the WebSocket p99", ms(percentile(&on_socket, 99.0)), "target < 100 ms"),
        row(
            "notify: CPU per 1,000 events, services",
            per_thousand(cpu),
            format!(
                "this process (routing, notification, gateway, conversation, driver) over {:.1} s",
                elapsed.as_secs_f64()
            ),
        ),
        row("notify: CPU per 1,000 events, PostgreSQL", per_thousand(pg), "every postgres process on the machine"),
    ])
}

const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789";

/// A gateway and the conversation service, in this process, beside [`Services`].
struct Gateway {
    _dbs: (TestDatabase, TestDatabase),
    shutdown: CancellationToken,
    base: String,
    ws_url: String,
    tasks: Vec<tokio::task::JoinHandle<Result<(), inbox_service::RunError>>>,
}

async fn start_gateway(services: &Services) -> anyhow::Result<Gateway> {
    let shutdown = CancellationToken::new();
    let conversation_db = services.db.sibling("conversation");
    let env = service_env(conversation_db.url(), services.nats.url(), &[], None);
    let settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let conversation_grpc = listeners.grpc.local_addr()?;
    let conversation = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));

    let gateway_db = services.db.sibling("gateway");
    let extra = [
        ("INBOX__REDIS__URL", services.redis.url().to_owned()),
        ("INBOX__REDIS__KEY_PREFIX", format!("{}gateway:", services.redis.key_prefix())),
        ("INBOX__GATEWAY__JWT_SECRET", "bench-jwt-secret-0123456789-0123456789".to_owned()),
        ("INBOX__GATEWAY__OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
        ("INBOX__GATEWAY__ROUTING_URL", services.routing_url.clone()),
        ("INBOX__GATEWAY__CONVERSATION_URL", format!("http://{conversation_grpc}")),
    ];
    let env = service_env(gateway_db.url(), services.nats.url(), &extra, None);
    let settings: inbox_gateway::Settings = inbox_config::load(inbox_gateway::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let http = listeners.http.local_addr()?;
    let gateway = tokio::spawn(inbox_gateway::run(settings, listeners, shutdown.clone()));
    ready(http).await?;
    Ok(Gateway {
        _dbs: (conversation_db, gateway_db),
        shutdown,
        base: format!("http://{http}"),
        ws_url: format!("ws://{http}/v1/stream"),
        tasks: vec![conversation, gateway],
    })
}

impl Gateway {
    /// A tenant and `n` agents in it (made through the admin API, so routing knows them),
    /// with a token each.
    async fn agents(&self, n: usize) -> anyhow::Result<(Uuid, Vec<(Uuid, String)>)> {
        let client = reqwest::Client::new();
        let admin = |path: String, body: serde_json::Value| {
            client.post(format!("{}{path}", self.base)).bearer_auth(OPERATOR_TOKEN).json(&body).send()
        };
        let tenant: serde_json::Value =
            admin("/v1/admin/tenants".into(), json!({"slug": "bench-notify", "name": "Bench"})).await?.json().await?;
        let tenant =
            tenant["id"].as_str().and_then(|t| Uuid::parse_str(t).ok()).with_context(|| format!("tenant: {tenant}"))?;
        let mut agents = Vec::with_capacity(n);
        for i in 0..n {
            let body = json!({"email": format!("agent{i}@bench.test"), "name": format!("Agent {i}"), "role": "agent"});
            let user: serde_json::Value =
                admin(format!("/v1/admin/tenants/{tenant}/users"), body).await?.json().await?;
            let id =
                user["id"].as_str().and_then(|u| Uuid::parse_str(u).ok()).with_context(|| format!("user: {user}"))?;
            let minted: serde_json::Value =
                admin(format!("/v1/admin/tenants/{tenant}/users/{id}/tokens"), json!({})).await?.json().await?;
            agents.push((id, minted["token"].as_str().context("token")?.to_owned()));
        }
        Ok((tenant, agents))
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task).await???;
        }
        Ok(())
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An agent's live socket, the token in the `Authorization` header.
async fn connect_socket(url: &str, token: &str) -> anyhow::Result<Socket> {
    Ok(tokio_tungstenite::connect_async(inbox_load::agents::stream_request(url, token)?).await?.0)
}

/// Reads `notification` frames until aborted, timing each bench conversation's first one.
async fn read_notifications(
    mut socket: Socket,
    sent: Arc<Mutex<HashMap<String, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    ready: tokio::sync::mpsc::UnboundedSender<()>,
) {
    use tokio_tungstenite::tungstenite::Message as Ws;
    while let Some(Ok(frame)) = socket.next().await {
        let arrived = Instant::now();
        let Ws::Text(text) = frame else { continue };
        let Ok(frame) = serde_json::from_str::<serde_json::Value>(text.as_str()) else { continue };
        match frame["type"].as_str() {
            Some("ready") => {
                let _ = ready.send(());
            }
            Some("notification") => {
                let conversation = frame["notification"]["conversation_id"].as_str().unwrap_or_default();
                if let Some(at) = sent.lock().unwrap_or_else(|p| p.into_inner()).get(conversation) {
                    latencies.lock().unwrap_or_else(|p| p.into_inner()).push(arrived - *at);
                }
            }
            _ => {}
        }
    }
}

/// 100,000 running timers whose warnings fall due within a minute.
async fn sla_timers() -> anyhow::Result<Vec<Row>> {
    let services = start(&[]).await?;
    let pool = sqlx::PgPool::connect(&services.db.url()).await?;
    let timers = setting("BENCH_NOTIFY_TIMERS", 100_000);
    let tenant = Uuid::now_v7();
    let first_due = chrono::Utc::now() + chrono::Duration::seconds(20);
    let spread_ms = 60_000i64;
    for chunk in (0..timers).collect::<Vec<_>>().chunks(10_000) {
        let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let assignees: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
        let due: Vec<chrono::DateTime<chrono::Utc>> = chunk
            .iter()
            .map(|i| first_due + chrono::Duration::milliseconds(*i as i64 * spread_ms / timers as i64))
            .collect();
        let started: Vec<chrono::DateTime<chrono::Utc>> =
            due.iter().map(|d| *d - chrono::Duration::seconds(480)).collect();
        sqlx::query(
            "INSERT INTO conversations (tenant_id, id, version, status, priority, channel, assignee_id, customer_name, \
               created_at, opened_at, status_changed_at) \
             SELECT $1, i, 1, 'active', 'normal', 'whatsapp', a, 'Bench', s, s, s \
             FROM UNNEST($2::uuid[], $3::uuid[], $4::timestamptz[]) AS u(i, a, s)",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(&assignees)
        .bind(&started)
        .execute(&pool)
        .await?;
        sqlx::query(
            "INSERT INTO sla_timers (tenant_id, conversation_id, target, target_seconds, started_at, elapsed_seconds, \
               running_since, warning_at, due_at, next_fire_at) \
             SELECT $1, i, 'first_response', 600, s, 0, s, w, s + interval '600 seconds', w \
             FROM UNNEST($2::uuid[], $3::timestamptz[], $4::timestamptz[]) AS u(i, s, w)",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(&started)
        .bind(&due)
        .execute(&pool)
        .await?;
    }
    let last_due = first_due + chrono::Duration::milliseconds(spread_ms);
    let fired = wait_until(Duration::from_secs(180), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla_timers WHERE warned_at IS NOT NULL")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n as usize >= timers && chrono::Utc::now() > last_due).then_some(n)
        }
    })
    .await;
    let late: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM warned_at - warning_at)::float8 FROM sla_timers WHERE warned_at IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    let pct =
        |p: f64| late.get(((p / 100.0) * late.len().saturating_sub(1) as f64).round() as usize).copied().unwrap_or(0.0);
    let within = late.iter().filter(|s| **s <= 1.0).count();
    pool.close().await;
    services.stop().await?;
    Ok(vec![
        row(
            "notify: SLA warnings fired within 1 s of due",
            format!("{within} / {timers}"),
            format!("{timers} running timers due over 60 s{}", if fired.is_none() { " (not all fired)" } else { "" }),
        ),
        row(
            "notify: SLA warning lateness p50 / p99 / max",
            format!("{:.0} / {:.0} / {:.0} ms", pct(50.0) * 1e3, pct(99.0) * 1e3, pct(100.0) * 1e3),
            "each with its notification and sla.warning event",
        ),
    ])
}

/// Webhook deliveries to 8 endpoints of a local server.
async fn webhooks() -> anyhow::Result<Vec<Row>> {
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/hooks/{n}",
            axum::routing::post(
                |axum::extract::State(count): axum::extract::State<Arc<std::sync::atomic::AtomicUsize>>| async move {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let services = start(&[]).await?;
    let pool = sqlx::PgPool::connect(&services.db.url()).await?;
    let tenant = Uuid::now_v7();
    let total = setting("BENCH_NOTIFY_DELIVERIES", 8_000);
    sqlx::query("INSERT INTO tenant_settings (tenant_id, allow_private_webhook_addresses) VALUES ($1, true)")
        .bind(tenant)
        .execute(&pool)
        .await?;
    let now = chrono::Utc::now();
    let mut endpoints = Vec::new();
    for n in 0..8 {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO webhook_endpoints (tenant_id, id, url, secret, events, created_at, enabled) \
             VALUES ($1, $2, $3, 'whsec_bench', '{message.created}', $4, false)",
        )
        .bind(tenant)
        .bind(id)
        .bind(format!("{base}/{n}"))
        .bind(now)
        .execute(&pool)
        .await?;
        endpoints.push(id);
    }
    let body = serde_json::json!({"type": "message.created", "data": {"message": {"text": "hello"}}}).to_string();
    let ids: Vec<Uuid> = (0..total).map(|_| Uuid::now_v7()).collect();
    let owners: Vec<Uuid> = (0..total).map(|i| endpoints[i % endpoints.len()]).collect();
    let keys: Vec<String> = ids.iter().map(|i| format!("bench:{i}")).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, event_type, dedupe_key, payload, status, created_at, \
           retry_until, next_attempt_at) \
         SELECT $1, i, e, 'message.created', k, $5, 'pending', $6, $6 + interval '1 day', $6 \
         FROM UNNEST($2::uuid[], $3::uuid[], $4::text[]) AS u(i, e, k)",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(&owners)
    .bind(&keys)
    .bind(&body)
    .bind(now)
    .execute(&pool)
    .await?;
    // Enabling the endpoints releases every delivery at once.
    let started = Instant::now();
    sqlx::query("UPDATE webhook_endpoints SET enabled = true WHERE tenant_id = $1").bind(tenant).execute(&pool).await?;
    let done = wait_until(Duration::from_secs(120), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n as usize >= total).then_some(())
        }
    })
    .await;
    let elapsed = started.elapsed();
    pool.close().await;
    services.stop().await?;
    Ok(vec![row(
        "notify: webhook deliveries per second",
        format!("{:.0}", total as f64 / elapsed.as_secs_f64()),
        format!(
            "{total} to 8 local endpoints, signed, each attempt logged; 64 senders, 4 per endpoint{}",
            if done.is_none() { " (not all delivered)" } else { "" }
        ),
    )])
}
