//! `just bench metrics`: the metrics service's two costs.
//!
//! - **Folding**: 100,000 conversations spread over 92 days (70 % a customer, a person, another
//!   customer message, a second answer, resolved; 30 % answered first by the AI, handed off for
//!   low confidence, taken over, answered and resolved; 50 agents, 5 teams, 3 channels), about
//!   700,000 events published on `events.>` in the order they happened (conversations
//!   interleave). The service starts and the clock runs until every event is folded; CPU
//!   (the bench process, which hosts the service, and the PostgreSQL cluster) per 1,000 events.
//! - **The dashboard**: the last 90 days of that tenant in day buckets (a point per day and the
//!   range's totals), p50 / p99 through the gateway (`GET /v1/metrics/report`, an admin's token,
//!   one keep-alive connection) and, for reference, straight over gRPC; then the same figures
//!   computed by a SQL scan of the raw rows (messages, status changes, hand-offs of the same
//!   conversations), timed, compared, and the ratio.
//!
//! The conversation service (tenant settings: the time zone), routing (the admin's profile) and
//! the gateway run in-process beside metrics.
//!
//! `BENCH_METRICS_CONVERSATIONS=20000 just bench metrics` runs a smaller tenant.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use inbox_bus::{Bus, Envelope, Payload, new_envelope, subjects};
use inbox_config::Secret;
use inbox_metrics::proto as mpb;
use inbox_metrics::proto::metrics_client::MetricsClient;
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::events::v1::{
    AssignmentChanged, ConversationCreated, ConversationUpdated, MessageCreated, StatusChanged,
};
use inbox_service::{CallContext, Listeners, Role, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{BENCH_SERVICE_TOKEN, Row, ms, percentile, row, service_env};

const DAYS: i64 = 92;
const AGENTS: usize = 50;
const TEAMS: usize = 5;
const ZONE: &str = "Europe/Paris";
const DASHBOARD_REQUESTS: usize = 1_000;
const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789";
const SCAN_RUNS: usize = 5;

fn conversations() -> usize {
    std::env::var("BENCH_METRICS_CONVERSATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}

/// A deterministic stream of numbers in [0, 1).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }

    /// Seconds, log-uniform between `low` and `high`.
    fn seconds(&mut self, low: f64, high: f64) -> chrono::Duration {
        let s = (low.ln() + self.next() * (high.ln() - low.ln())).exp();
        chrono::Duration::milliseconds((s * 1000.0) as i64)
    }
}

/// The raw rows a conversation store would hold for the SQL scan.
#[derive(Default)]
struct Raw {
    conversations: (Vec<Uuid>, Vec<DateTime<Utc>>),
    messages: (Vec<Uuid>, Vec<DateTime<Utc>>, Vec<&'static str>),
    handoffs: (Vec<Uuid>, Vec<DateTime<Utc>>),
    resolutions: (Vec<Uuid>, Vec<DateTime<Utc>>),
}

impl Raw {
    fn len(&self) -> usize {
        self.messages.0.len()
    }
}

/// One conversation's state as the conversation service would publish it, event by event.
struct Told {
    tenant: String,
    c: pb::Conversation,
    events: Vec<(DateTime<Utc>, String, Envelope)>,
}

impl Told {
    fn new(tenant: Uuid, id: Uuid, channel: Channel, at: DateTime<Utc>) -> Self {
        let c = pb::Conversation {
            id: id.to_string(),
            tenant_id: tenant.to_string(),
            channel: channel as i32,
            status: pb::ConversationStatus::Active as i32,
            created_at: Some(inbox_proto::timestamp_from(at)),
            updated_at: Some(inbox_proto::timestamp_from(at)),
            handled_by: "ai".into(),
            version: 1,
            ..Default::default()
        };
        let mut told = Told { tenant: tenant.to_string(), c, events: Vec::new() };
        let created = Payload::ConversationCreated(ConversationCreated { conversation: Some(told.c.clone()) });
        told.push(at, "conversation.created", created);
        told
    }

    fn push(&mut self, at: DateTime<Utc>, kind: &str, payload: Payload) {
        let mut envelope = new_envelope(Uuid::now_v7().to_string(), &self.tenant, payload);
        envelope.occurred_at = Some(inbox_proto::timestamp_from(at));
        self.events.push((at, subjects::event(&self.tenant, kind), envelope));
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.c.version += 1;
        self.c.updated_at = Some(inbox_proto::timestamp_from(at));
    }

    fn message(&mut self, at: DateTime<Utc>, kind: pb::SenderKind, sender: &str, confidence: Option<f32>) {
        self.touch(at);
        self.c.last_message_sender_kind = kind as i32;
        let message = pb::Message {
            id: Uuid::now_v7().to_string(),
            tenant_id: self.tenant.clone(),
            conversation_id: self.c.id.clone(),
            channel: self.c.channel,
            sender_kind: kind as i32,
            sender_id: sender.into(),
            content: Some(MessageContent {
                kind: Some(Kind::Text(TextContent { body: "Where is my order?".into() })),
                reply_to: None,
            }),
            sent_at: Some(inbox_proto::timestamp_from(at)),
            ai_confidence: confidence,
            ..Default::default()
        };
        let payload =
            Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(self.c.clone()) });
        self.push(at, "message.created", payload);
    }

    fn assign(&mut self, at: DateTime<Utc>, agent: Uuid, team: Uuid) {
        self.touch(at);
        self.c.assignee_id = agent.to_string();
        self.c.team_id = team.to_string();
        self.c.assigned_at = Some(inbox_proto::timestamp_from(at));
        let payload = Payload::AssignmentChanged(AssignmentChanged {
            conversation: Some(self.c.clone()),
            actor: "service:routing".into(),
            ..Default::default()
        });
        self.push(at, "conversation.assigned", payload);
    }

    fn needs_human(&mut self, at: DateTime<Utc>, confidence: f32) {
        self.touch(at);
        self.c.needs_human = true;
        self.c.needs_human_reason = format!("AI confidence {confidence:.2} below 0.60");
        let payload = Payload::ConversationUpdated(ConversationUpdated { conversation: Some(self.c.clone()) });
        self.push(at, "conversation.needs_human", payload);
    }

    fn resolve(&mut self, at: DateTime<Utc>, agent: Uuid) {
        self.touch(at);
        self.c.status = pb::ConversationStatus::Resolved as i32;
        let change = pb::StatusChange {
            conversation_id: self.c.id.clone(),
            from: pb::ConversationStatus::Active as i32,
            to: pb::ConversationStatus::Resolved as i32,
            actor: format!("user:{agent}"),
            reason: String::new(),
            changed_at: Some(inbox_proto::timestamp_from(at)),
        };
        let payload =
            Payload::StatusChanged(StatusChanged { conversation: Some(self.c.clone()), change: Some(change) });
        self.push(at, "conversation.status_changed", payload);
    }
}

/// Conversation `i`: its events, and its raw rows added to `raw`.
fn story(
    i: usize,
    tenant: Uuid,
    start: DateTime<Utc>,
    n: usize,
    agents: &[Uuid],
    teams: &[Uuid],
    raw: &mut Raw,
) -> Told {
    let mut dice = Dice(i as u64 ^ 0x5eed);
    let t0 = start + chrono::Duration::milliseconds((DAYS * 86_400_000) * i as i64 / n as i64);
    let id = Uuid::now_v7();
    let channel = [Channel::Whatsapp, Channel::Whatsapp, Channel::Webchat, Channel::Telephony][i % 4];
    let (agent, team) = (agents[(i / 3) % agents.len()], teams[i % teams.len()]);
    let person = format!("user:{agent}");
    let mut told = Told::new(tenant, id, channel, t0);
    raw.conversations.0.push(id);
    raw.conversations.1.push(t0);
    let say = |told: &mut Told, raw: &mut Raw, at, kind: pb::SenderKind, sender: &str, confidence| {
        told.message(at, kind, sender, confidence);
        raw.messages.0.push(id);
        raw.messages.1.push(at);
        raw.messages.2.push(match kind {
            pb::SenderKind::Customer => "customer",
            pb::SenderKind::Ai => "ai",
            _ => "agent",
        });
    };
    say(&mut told, raw, t0, pb::SenderKind::Customer, "16505550100", None);
    let last_reply = if i % 10 < 7 {
        told.assign(t0 + chrono::Duration::seconds(30), agent, team);
        let t1 = t0 + dice.seconds(20.0, 7_200.0);
        say(&mut told, raw, t1, pb::SenderKind::Agent, &person, None);
        let t2 = t1 + chrono::Duration::seconds(120);
        say(&mut told, raw, t2, pb::SenderKind::Customer, "16505550100", None);
        let t3 = t2 + dice.seconds(10.0, 1_800.0);
        say(&mut told, raw, t3, pb::SenderKind::Agent, &person, None);
        t3
    } else {
        let confidence = 0.2 + 0.35 * dice.next() as f32;
        let answered = t0 + chrono::Duration::seconds(5);
        say(&mut told, raw, answered, pb::SenderKind::Ai, "user:ai", Some(confidence));
        told.needs_human(answered, confidence);
        raw.handoffs.0.push(id);
        raw.handoffs.1.push(answered);
        let taken = answered + dice.seconds(30.0, 1_800.0);
        told.c.handled_by = "human".into();
        told.c.needs_human = false;
        told.assign(taken, agent, team);
        told.message(taken, pb::SenderKind::System, "handoff", None);
        let t1 = taken + dice.seconds(10.0, 600.0);
        say(&mut told, raw, t1, pb::SenderKind::Agent, &person, None);
        t1
    };
    let resolved = last_reply + dice.seconds(60.0, 36_000.0);
    told.resolve(resolved, agent);
    raw.resolutions.0.push(id);
    raw.resolutions.1.push(resolved);
    told
}

fn cpu_of(pid: u32) -> f64 {
    // utime and stime, in clock ticks (100 per second on Linux).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            Some((fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// CPU seconds of a PostgreSQL cluster: its postmaster's children (backends, writers).
fn cluster_cpu(postmaster: u32) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    .is_some_and(|ppid| ppid == postmaster)
            })
        })
        .map(cpu_of)
        .sum::<f64>()
        + cpu_of(postmaster)
}

async fn ready(http: &reqwest::Client, addr: std::net::SocketAddr, what: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(60), || {
        let r = http.get(format!("http://{addr}/readyz"));
        async move { r.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .with_context(|| format!("{what} did not become ready"))
}

pub async fn bench_metrics() -> anyhow::Result<Vec<Row>> {
    let n = conversations();
    let nats = TestNats::start().await?;
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;
    let redis = TestRedis::start().await?;
    let (conversation_db, routing_db, gateway_db, metrics_db, raw_db) = (
        TestDatabase::create("bench_metrics_conv").await?,
        TestDatabase::create("bench_metrics_routing").await?,
        TestDatabase::create("bench_metrics_gateway").await?,
        TestDatabase::create("bench_metrics").await?,
        TestDatabase::create("bench_metrics_raw").await?,
    );
    let http = reqwest::Client::new();
    let shutdown = CancellationToken::new();

    // The conversation service (the tenant's time zone), routing and the gateway.
    let env = service_env(conversation_db.url(), nats.url(), &[], None);
    let settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let (conversation_http, conversation_grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let conversation_service = tokio::spawn(inbox_conversation::run(settings, listeners, shutdown.clone()));
    let redis_env = |prefix: &str| {
        [
            ("INBOX__REDIS__URL", redis.url().to_owned()),
            ("INBOX__REDIS__KEY_PREFIX", format!("{}{prefix}", redis.key_prefix())),
        ]
    };
    let mut extra = redis_env("routing:").to_vec();
    extra.push(("INBOX__ROUTING__CONVERSATION_URL", format!("http://{conversation_grpc}")));
    let env = service_env(routing_db.url(), nats.url(), &extra, None);
    let settings: inbox_routing::Settings = inbox_config::load(inbox_routing::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let (routing_http, routing_grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    // Routing is needed only to give the admin a profile: it stops before the history is
    // published, so it does not fold that history beside metrics.
    let routing_stop = CancellationToken::new();
    let routing_service = tokio::spawn(inbox_routing::run(settings, listeners, routing_stop.clone()));
    // Metrics' sockets now, so the gateway knows where it will be; it starts after the history.
    let metrics_listeners = Listeners::ephemeral().await?;
    let metrics_grpc = metrics_listeners.grpc.local_addr()?;
    let mut extra = redis_env("gateway:").to_vec();
    extra.extend([
        ("INBOX__GATEWAY__JWT_SECRET", "bench-jwt-secret-0123456789-0123456789".to_owned()),
        ("INBOX__GATEWAY__OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
        ("INBOX__GATEWAY__CONVERSATION_URL", format!("http://{conversation_grpc}")),
        ("INBOX__GATEWAY__ROUTING_URL", format!("http://{routing_grpc}")),
        ("INBOX__GATEWAY__METRICS_URL", format!("http://{metrics_grpc}")),
    ]);
    let env = service_env(gateway_db.url(), nats.url(), &extra, None);
    let settings: inbox_gateway::Settings = inbox_config::load(inbox_gateway::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let gateway_http = listeners.http.local_addr()?;
    let gateway_service = tokio::spawn(inbox_gateway::run(settings, listeners, shutdown.clone()));
    ready(&http, conversation_http, "the conversation service").await?;
    ready(&http, routing_http, "routing").await?;
    ready(&http, gateway_http, "the gateway").await?;

    // A tenant in Paris and its admin, as an operator makes them.
    let gateway = format!("http://{gateway_http}");
    let admin_call = |path: String, body: Value| {
        http.post(format!("{gateway}{path}")).bearer_auth(OPERATOR_TOKEN).json(&body).send()
    };
    let created: Value =
        admin_call("/v1/admin/tenants".into(), json!({"slug": "bench-metrics", "name": "Bench", "time_zone": ZONE}))
            .await?
            .json()
            .await?;
    let tenant: Uuid = created["id"].as_str().context("tenant id")?.parse()?;
    let user: Value = admin_call(
        format!("/v1/admin/tenants/{tenant}/users"),
        json!({"email": "admin@bench.test", "name": "Ada", "role": "admin"}),
    )
    .await?
    .json()
    .await?;
    let user_id = user["id"].as_str().context("user id")?;
    let minted: Value =
        admin_call(format!("/v1/admin/tenants/{tenant}/users/{user_id}/tokens"), json!({})).await?.json().await?;
    let token = minted["token"].as_str().context("token")?.to_owned();
    routing_stop.cancel();
    let _ = routing_service.await;
    let secret = Secret::new(BENCH_SERVICE_TOKEN);
    let admin = CallContext { tenant_id: tenant, principal: format!("user:{user_id}"), role: Role::Admin };

    // The events, in the order they happened, and the raw rows.
    let now = Utc::now();
    let start = now - chrono::Duration::days(DAYS + 1);
    let agents: Vec<Uuid> = (0..AGENTS).map(|_| Uuid::now_v7()).collect();
    let teams: Vec<Uuid> = (0..TEAMS).map(|_| Uuid::now_v7()).collect();
    let raw_pool = sqlx::PgPool::connect(&raw_db.url()).await?;
    create_raw_tables(&raw_pool).await?;
    let mut raw = Raw::default();
    let mut heap: BinaryHeap<Reverse<(DateTime<Utc>, usize, usize)>> = BinaryHeap::new();
    let mut stories: std::collections::HashMap<usize, Told> = std::collections::HashMap::new();
    let mut ready_events: Vec<(String, Envelope)> = Vec::with_capacity(2_000);
    let mut published = 0usize;
    let generating = Instant::now();
    for i in 0..=n {
        let horizon = if i < n {
            let told = story(i, tenant, start, n, &agents, &teams, &mut raw);
            let t0 = told.events[0].0;
            for (k, (at, _, _)) in told.events.iter().enumerate() {
                heap.push(Reverse((*at, i, k)));
            }
            stories.insert(i, told);
            t0
        } else {
            DateTime::<Utc>::MAX_UTC
        };
        // Everything before the next conversation's start is final: publish it in time order.
        while let Some(Reverse((at, c, k))) = heap.peek().copied() {
            if at >= horizon {
                break;
            }
            heap.pop();
            let told = stories.get_mut(&c).context("story")?;
            let (_, subject, envelope) =
                std::mem::replace(&mut told.events[k], (at, String::new(), Envelope::default()));
            ready_events.push((subject, envelope));
            if told.events.iter().all(|(_, s, _)| s.is_empty()) {
                stories.remove(&c);
            }
            if ready_events.len() >= 1_000 {
                bus.publish_all(&ready_events).await?;
                published += ready_events.len();
                ready_events.clear();
            }
        }
        if raw.len() >= 20_000 || i == n {
            insert_raw(&raw_pool, tenant, std::mem::take(&mut raw)).await?;
        }
    }
    bus.publish_all(&ready_events).await?;
    published += ready_events.len();
    sqlx::query("ANALYZE").execute(&raw_pool).await?;
    let generated_in = generating.elapsed();

    // Folding: the service starts on a full stream.
    let metrics_pool_probe = sqlx::PgPool::connect(&metrics_db.url()).await?;
    let postmaster: u32 = {
        let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&metrics_pool_probe).await?;
        std::fs::read_to_string(format!("/proc/{backend}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let env = service_env(
        metrics_db.url(),
        nats.url(),
        &[("INBOX__METRICS__CONVERSATION_URL", format!("http://{conversation_grpc}"))],
        Some("INBOX__METRICS__"),
    );
    let settings: inbox_metrics::Settings = inbox_config::load(inbox_metrics::Settings::DEFAULTS, None, &env)?;
    let (cpu_self, cpu_pg) = (cpu_of(std::process::id()), cluster_cpu(postmaster));
    let folding = Instant::now();
    let metrics_service = tokio::spawn(inbox_metrics::run(settings, metrics_listeners, shutdown.clone()));
    // Done when the consumer has acked the whole stream (asked of NATS, not of PostgreSQL,
    // so the watching costs the measured database nothing).
    let js = bus.jetstream().clone();
    let last = js.get_stream("EVENTS").await?.info().await?.state.last_sequence;
    wait_until(Duration::from_secs(1_800), || {
        let js = js.clone();
        async move {
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                js.get_consumer_from_stream("metrics", "EVENTS").await.ok()?;
            let info = consumer.info().await.ok()?;
            (info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence >= last).then_some(())
        }
    })
    .await
    .context("metrics did not fold every event")?;
    let folded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processed_events").fetch_one(&metrics_pool_probe).await?;
    anyhow::ensure!(folded as usize == published, "{folded} of {published} events folded");
    let fold_time = folding.elapsed();
    let (cpu_self, cpu_pg) = (cpu_of(std::process::id()) - cpu_self, cluster_cpu(postmaster) - cpu_pg);
    let per_thousand = |cpu: f64| format!("{:.0} ms", cpu / published as f64 * 1_000.0 * 1_000.0);
    let (cells, states): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM rollups), (SELECT count(*) FROM conversation_states)")
            .fetch_one(&metrics_pool_probe)
            .await?;

    // The dashboard: the last 90 days in day buckets.
    let zone: chrono_tz::Tz = ZONE.parse()?;
    let today = inbox_metrics::domain::buckets::bucket_start(now, zone, inbox_metrics::domain::buckets::Grain::Day);
    let (from, to) = (today - chrono::Duration::days(89), today + chrono::Duration::days(1));
    let (from, to) = (
        inbox_metrics::domain::buckets::bucket_start(
            from + chrono::Duration::hours(12),
            zone,
            inbox_metrics::domain::buckets::Grain::Day,
        ),
        inbox_metrics::domain::buckets::bucket_start(
            to + chrono::Duration::hours(12),
            zone,
            inbox_metrics::domain::buckets::Grain::Day,
        ),
    );
    let query = format!(
        "{gateway}/v1/metrics/report?bucket=day&group_by=tenant&from={}&to={}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut through_gateway = Vec::with_capacity(DASHBOARD_REQUESTS);
    let mut report = Value::Null;
    for _ in 0..DASHBOARD_REQUESTS {
        let started = Instant::now();
        let answer = http.get(&query).bearer_auth(&token).send().await?;
        anyhow::ensure!(answer.status() == 200, "the report answered {}", answer.status());
        report = answer.json().await?;
        through_gateway.push(started.elapsed());
    }
    through_gateway.sort();
    let metrics = MetricsClient::connect(format!("http://{metrics_grpc}")).await?;
    let request = mpb::ReportRequest {
        from: Some(inbox_proto::timestamp_from(from)),
        to: Some(inbox_proto::timestamp_from(to)),
        bucket: mpb::Bucket::Day as i32,
        group_by: mpb::Grouping::Tenant as i32,
        group_ids: vec![],
        totals_only: false,
    };
    let mut over_grpc = Vec::with_capacity(DASHBOARD_REQUESTS);
    for _ in 0..DASHBOARD_REQUESTS {
        let started = Instant::now();
        metrics.clone().get_report(admin.request(request.clone(), &secret)?).await?;
        over_grpc.push(started.elapsed());
    }
    over_grpc.sort();
    let series = &report["series"][0];
    let rollup = &series["total"];
    let points = series["points"].as_array().map_or(0, Vec::len);

    // The same figures by a scan of the raw rows.
    let mut scans = Vec::with_capacity(SCAN_RUNS);
    let mut scanned = ScanFigures::default();
    for _ in 0..SCAN_RUNS {
        let started = Instant::now();
        scanned = scan(&raw_pool, tenant, from, to).await?;
        scans.push(started.elapsed());
    }
    scans.sort();

    shutdown.cancel();
    for service in [metrics_service, conversation_service, gateway_service] {
        let _ = service.await;
    }

    let number = |v: &Value| v.as_f64().unwrap_or(0.0);
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let (frt, resolution) = (&rollup["first_response_seconds"], &rollup["resolution_seconds"]);
    let same = |a: f64, b: f64| if (a - b).abs() <= b.abs() * 0.01 + 0.001 { "=" } else { "≠" };
    let same_count = |a: u64, b: u64| if a == b { "=" } else { "≠" };
    let rollup_p99 = percentile(&through_gateway, 99.0);
    let scan_p50 = percentile(&scans, 50.0);
    let (new, resolutions, frt_count) =
        (count(&rollup["new_conversations"]), count(&rollup["resolutions"]), count(&frt["count"]));
    Ok(vec![
        row(
            "metrics: events folded into rollups",
            format!("{:.0}/s", published as f64 / fold_time.as_secs_f64()),
            format!(
                "{published} events of {n} conversations over {DAYS} days, in time order, from a full stream; {:.1} s; {states} conversations, {cells} cells",
                fold_time.as_secs_f64()
            ),
        ),
        row(
            "  CPU per 1,000 events: metrics process",
            per_thousand(cpu_self),
            "bench process hosting the service (the others idle)",
        ),
        row("  CPU per 1,000 events: PostgreSQL", per_thousand(cpu_pg), "the cluster's backends and writers"),
        row(
            "metrics: 90-day dashboard through the gateway, p50 / p99",
            format!("{} / {}", ms(percentile(&through_gateway, 50.0)), ms(rollup_p99)),
            format!("GET /v1/metrics/report, {DASHBOARD_REQUESTS} requests; {points} day points and the totals"),
        ),
        row(
            "  the same over gRPC, p50 / p99",
            format!("{} / {}", ms(percentile(&over_grpc, 50.0)), ms(percentile(&over_grpc, 99.0))),
            "metrics service alone",
        ),
        row(
            "metrics: the same by SQL scan of raw rows, p50 / max",
            format!("{} / {}", ms(scan_p50), ms(*scans.last().unwrap_or(&Duration::ZERO))),
            format!(
                "{SCAN_RUNS} runs; ratio scan p50 / gateway p99: {:.0}x",
                scan_p50.as_secs_f64() / rollup_p99.as_secs_f64().max(1e-9)
            ),
        ),
        row(
            "  figures: rollups vs scan",
            "see note",
            format!(
                "new {new} {} {}; resolutions {resolutions} {} {}; first response n {frt_count} {} {}, p50 {:.1} {} {:.1} s, p99 {:.1} {} {:.1} s; resolution p50 {:.0} {} {:.0} s, p99 {:.0} {} {:.0} s",
                same_count(new, scanned.new),
                scanned.new,
                same_count(resolutions, scanned.resolutions),
                scanned.resolutions,
                same_count(frt_count, scanned.frt_count),
                scanned.frt_count,
                number(&frt["p50"]),
                same(number(&frt["p50"]), scanned.frt_p50),
                scanned.frt_p50,
                number(&frt["p99"]),
                same(number(&frt["p99"]), scanned.frt_p99),
                scanned.frt_p99,
                number(&resolution["p50"]),
                same(number(&resolution["p50"]), scanned.resolution_p50),
                scanned.resolution_p50,
                number(&resolution["p99"]),
                same(number(&resolution["p99"]), scanned.resolution_p99),
                scanned.resolution_p99,
            ),
        ),
        row(
            "  generating and publishing that history",
            format!("{:.1} s", generated_in.as_secs_f64()),
            "not measured above",
        ),
    ])
}

async fn create_raw_tables(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for statement in [
        "CREATE TABLE raw_conversations (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, created_at timestamptz NOT NULL)",
        "CREATE INDEX ON raw_conversations (tenant_id, created_at)",
        "CREATE TABLE raw_messages (conversation_id uuid NOT NULL, sent_at timestamptz NOT NULL, sender_kind text NOT NULL)",
        "CREATE INDEX ON raw_messages (conversation_id, sender_kind, sent_at)",
        "CREATE TABLE raw_handoffs (conversation_id uuid NOT NULL, at timestamptz NOT NULL)",
        "CREATE INDEX ON raw_handoffs (conversation_id, at)",
        "CREATE TABLE raw_status_changes (conversation_id uuid NOT NULL, to_status text NOT NULL, changed_at timestamptz NOT NULL)",
        "CREATE INDEX ON raw_status_changes (conversation_id, to_status, changed_at)",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

async fn insert_raw(pool: &sqlx::PgPool, tenant: Uuid, raw: Raw) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO raw_conversations SELECT $1, * FROM UNNEST($2::uuid[], $3::timestamptz[])")
        .bind(tenant)
        .bind(&raw.conversations.0)
        .bind(&raw.conversations.1)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO raw_messages SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[])")
        .bind(&raw.messages.0)
        .bind(&raw.messages.1)
        .bind(&raw.messages.2)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO raw_handoffs SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[])")
        .bind(&raw.handoffs.0)
        .bind(&raw.handoffs.1)
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO raw_status_changes SELECT u.c, 'resolved', u.t FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(c, t)")
        .bind(&raw.resolutions.0)
        .bind(&raw.resolutions.1)
        .execute(pool)
        .await?;
    Ok(())
}

/// A day of the scan's series: figure, local day, count, p50, p99.
type ScanDay = (String, Option<chrono::NaiveDateTime>, i64, Option<f64>, Option<f64>);
/// The scan's totals: new, resolutions, first responses, their p50 and p99, resolution p50 and p99.
type ScanTotals = (i64, i64, i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>);

#[derive(Debug, Default)]
struct ScanFigures {
    new: u64,
    resolutions: u64,
    frt_count: u64,
    frt_p50: f64,
    frt_p99: f64,
    resolution_p50: f64,
    resolution_p99: f64,
}

/// The dashboard's figures from the raw rows, as a report that scans them would compute them:
/// per conversation its first customer message, first AI message, first hand-off, first person
/// reply and resolution; then per day of the tenant's zone new conversations, resolutions,
/// first response and resolution time percentiles, and the same over the range.
async fn scan(
    pool: &sqlx::PgPool,
    tenant: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<ScanFigures> {
    const PER_CONVERSATION: &str = "\
        WITH c AS ( \
          SELECT rc.id, rc.created_at, \
            (SELECT min(sent_at) FROM raw_messages m WHERE m.conversation_id = rc.id AND m.sender_kind = 'customer') AS first_customer, \
            (SELECT min(sent_at) FROM raw_messages m WHERE m.conversation_id = rc.id AND m.sender_kind = 'ai') AS first_ai, \
            (SELECT min(sent_at) FROM raw_messages m WHERE m.conversation_id = rc.id AND m.sender_kind = 'agent') AS first_reply, \
            (SELECT min(at) FROM raw_handoffs h WHERE h.conversation_id = rc.id) AS handoff, \
            (SELECT min(changed_at) FROM raw_status_changes s WHERE s.conversation_id = rc.id AND s.to_status = 'resolved') AS resolved \
          FROM raw_conversations rc WHERE rc.tenant_id = $1 AND rc.created_at < $3 AND rc.created_at >= $2 - interval '3 days'), \
        frt AS (SELECT first_reply AS at, extract(epoch FROM first_reply - CASE WHEN first_ai < first_reply \
                  THEN coalesce(handoff, first_reply) ELSE first_customer END)::float8 AS s \
                FROM c WHERE first_reply >= $2 AND first_reply < $3), \
        res AS (SELECT resolved AS at, extract(epoch FROM resolved - least(created_at, first_customer))::float8 AS s \
                FROM c WHERE resolved >= $2 AND resolved < $3), \
        new AS (SELECT created_at AS at FROM c WHERE created_at >= $2) ";
    // The day series, as the dashboard shows it.
    let _days: Vec<ScanDay> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PER_CONVERSATION} \
         SELECT 'frt', date_trunc('day', at AT TIME ZONE $4), count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY s), \
           percentile_disc(0.99) WITHIN GROUP (ORDER BY s) FROM frt GROUP BY 2 \
         UNION ALL SELECT 'resolution', date_trunc('day', at AT TIME ZONE $4), count(*), \
           percentile_disc(0.5) WITHIN GROUP (ORDER BY s), percentile_disc(0.99) WITHIN GROUP (ORDER BY s) FROM res GROUP BY 2 \
         UNION ALL SELECT 'new', date_trunc('day', at AT TIME ZONE $4), count(*), NULL, NULL FROM new GROUP BY 2"
    )))
    .bind(tenant)
    .bind(from)
    .bind(to)
    .bind(ZONE)
    .fetch_all(pool)
    .await?;
    // And the range's totals.
    let (new, resolutions, frt_count, frt_p50, frt_p99, resolution_p50, resolution_p99): ScanTotals =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{PER_CONVERSATION} \
             SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM res), (SELECT count(*) FROM frt), \
               (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s) FROM frt), \
               (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY s) FROM frt), \
               (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s) FROM res), \
               (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY s) FROM res)"
        )))
        .bind(tenant)
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
    Ok(ScanFigures {
        new: new as u64,
        resolutions: resolutions as u64,
        frt_count: frt_count as u64,
        frt_p50: frt_p50.unwrap_or(0.0),
        frt_p99: frt_p99.unwrap_or(0.0),
        resolution_p50: resolution_p50.unwrap_or(0.0),
        resolution_p99: resolution_p99.unwrap_or(0.0),
    })
}
