//! `just load`: the fleet in release, one replica each and then channel-ingest ×2 and
//! conversation ×2, offered a ladder of rates; then ten thousand agent sockets on one gateway.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::fleet::Fleet;
use crate::infra::{Nats, Postgres, Redis};
use crate::proc::{cpu_seconds, load_average, own_cpu_seconds, rss_bytes};
use crate::provider::GraphStub;
use crate::run::{self, Finished, RunSpec, ms, percentile};
use crate::stages;
use crate::traffic::{Mix, Numbers};

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub work: PathBuf,
    pub bin_dir: PathBuf,
    pub rates: Vec<f64>,
    pub seconds: f64,
    pub sockets: usize,
    pub connections: usize,
}

/// CPU seconds of every measured process at one moment.
/// Where PostgreSQL's time went during the ladder, statement by statement (pg_stat_statements,
/// loaded by the run's private server), written beside the logs.
struct StatementProfile {
    pool: sqlx::PgPool,
}

impl StatementProfile {
    /// Zeroes the counters; `None` (said once) when the extension cannot be used.
    async fn reset(postgres_url: &str) -> Option<Self> {
        let attempt = async {
            let pool = sqlx::PgPool::connect(&format!("{postgres_url}/postgres")).await?;
            sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&pool).await?;
            sqlx::query("SELECT pg_stat_statements_reset()").execute(&pool).await?;
            Ok::<_, sqlx::Error>(Self { pool })
        };
        attempt.await.map_err(|e| eprintln!("load: no statement profile: {e}")).ok()
    }

    async fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let rows: Vec<(String, i64, f64, i64, String)> = sqlx::query_as(
            "SELECT d.datname::text, s.calls, s.total_exec_time, s.rows, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 300) \
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             ORDER BY s.total_exec_time DESC LIMIT 40",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out =
            String::from("| database | calls | total ms | mean ms | rows | statement |\n|---|---|---|---|---|---|\n");
        for (database, calls, total, rows, query) in rows {
            let mean = total / calls.max(1) as f64;
            let _ = writeln!(
                out,
                "| {database} | {calls} | {total:.0} | {mean:.3} | {rows} | `{}` |",
                query.replace('|', "\\|")
            );
        }
        std::fs::write(path, out)?;
        Ok(())
    }
}

/// How long the idle fleet is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(10);

fn cpu_snapshot(fleet: &Fleet) -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> =
        fleet.measured_pids().into_iter().map(|(label, pid, children)| (label, cpu_seconds(pid, children))).collect();
    all.push(("load generator".into(), own_cpu_seconds()));
    all
}

fn cpu_delta(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    after
        .iter()
        .map(|(label, a)| {
            let b = before.iter().find(|(l, _)| l == label).map_or(0.0, |(_, b)| *b);
            (label.clone(), (a - b).max(0.0))
        })
        .collect()
}

struct Step {
    topology: &'static str,
    rate: f64,
    finished: Finished,
    cpu: Vec<(String, f64)>,
    stored: run::Stored,
    replies: (usize, usize, usize),
    metrics_agree: String,
    /// Each stage's distribution during the step (the fleet's own histograms).
    stages: stages::StepStages,
}

pub async fn load(options: LoadOptions) -> anyhow::Result<String> {
    std::fs::create_dir_all(options.work.join("logs"))?;
    let started_load = load_average();
    eprintln!("load: private PostgreSQL, NATS, Redis under {}", options.work.display());
    let postgres = Postgres::start(&options.work, None).await?;
    let nats = Nats::single(&options.work, "127.0.0.1").await?;
    let redis = Redis::start(&options.work, None).await?;
    let graph = GraphStub::start("127.0.0.1").await?;
    let mut fleet = Fleet::new(
        options.work.clone(),
        options.bin_dir.clone(),
        (postgres, nats, redis),
        graph.base_url.clone(),
        None,
    );
    eprintln!("load: starting the seven services ({})", options.bin_dir.display());
    fleet.start_all().await?;
    // What the fleet spends with no traffic at all (timers, polls, heartbeats): the floor under
    // every per-message figure below.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle_before = cpu_snapshot(&fleet);
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle = cpu_delta(&idle_before, &cpu_snapshot(&fleet));
    let statements = StatementProfile::reset(&fleet.postgres.url()).await;

    let mut steps = Vec::new();
    let mut searchable = Vec::new();
    for topology in ["1 replica each", "ingest ×2, conversation ×2"] {
        if topology.starts_with("ingest") {
            fleet.add("channel-ingest").await?;
            fleet.add("conversation").await?;
        }
        for (n, rate) in options.rates.iter().enumerate() {
            let slug = format!("load-{}-{n}", if topology.starts_with('1') { "a" } else { "b" });
            let line = n as u32 + if topology.starts_with('1') { 0 } else { 100 };
            let tenant = run::set_up_tenant(&fleet.gateway_url(), &slug, 2, Numbers::new(line)).await?;
            let spec = RunSpec {
                run: slug.replace('-', ""),
                rate: *rate,
                seconds: options.seconds,
                mix: Mix { whatsapp_customers: (*rate as u32).clamp(200, 5_000), visitors: 50, callers: 20 },
                connections: options.connections,
                reply_every: 50,
                settle: Duration::from_secs(30),
                watchers: 2,
            };
            eprintln!("load: {topology}: {rate}/s for {} s", options.seconds);
            let before = cpu_snapshot(&fleet);
            let stages_before = stages::snapshot(&fleet).await;
            let running = run::start(spec, &tenant, &fleet.gateway_url(), fleet.ingest_addresses()).await?;
            let sampler = (n == 0 && topology.starts_with('1')).then(|| {
                tokio::spawn(sample_searchable(
                    running.ledger.clone(),
                    format!("http://{}:{}", fleet.first("search").host, fleet.first("search").grpc),
                    tenant.id.clone(),
                ))
            });
            let finished = running.finish().await?;
            let after = cpu_snapshot(&fleet);
            let stages_after = stages::snapshot(&fleet).await;
            if let Some(sampler) = sampler {
                searchable = sampler.await.unwrap_or_default();
            }
            let stored = run::check_store(&fleet.postgres.url(), &tenant, &finished).await?;
            let at_provider = run::check_replies(&graph, &finished, &fleet.postgres.url()).await;
            let replies = (at_provider.accepted, at_provider.lost, at_provider.doubled);
            let metrics_agree =
                metrics_agreement(&fleet.gateway_url(), &tenant, &finished, stored.customer_messages).await;
            let d = finished.delivery();
            eprintln!(
                "  accepted {}/{} at {:.0}/s ({} sends refused, {} failed), e2e p99 {}, missing {}, doubled {}, out of order {}",
                d.accepted,
                d.planned,
                d.achieved_per_second,
                d.refused,
                d.send_errors,
                ms(percentile(&d.end_to_end, 99.0)),
                d.missing,
                d.doubled,
                d.out_of_order
            );
            steps.push(Step {
                topology,
                rate: *rate,
                finished,
                cpu: cpu_delta(&before, &after),
                stored,
                replies,
                metrics_agree,
                stages: stages::between(&stages_before, &stages_after),
            });
        }
    }
    let memory: Vec<(String, u64)> =
        fleet.measured_pids().into_iter().map(|(label, pid, children)| (label, rss_bytes(pid, children))).collect();
    let sockets = if options.sockets > 0 { Some(sockets_phase(&fleet, options.sockets).await?) } else { None };
    if let Some(statements) = statements {
        let path = options.work.join("statements.md");
        match statements.write(&path).await {
            Ok(()) => eprintln!("load: PostgreSQL's statements by total time in {}", path.display()),
            Err(e) => eprintln!("load: no statement profile: {e:#}"),
        }
    }
    let ended_load = load_average();
    fleet.stop();
    Ok(table(&steps, &idle, &searchable, &memory, sockets.as_ref(), &started_load, &ended_load))
}

/// `(matches, detail)`: metrics' customer messages equal the store's once metrics caught up.
async fn metrics_agreement(gateway: &str, tenant: &run::Tenant, finished: &Finished, stored: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = 0;
    while Instant::now() < deadline {
        match run::metrics_customer_messages(gateway, &tenant.watcher_tokens[0], finished.base).await {
            Ok(count) if count == stored => return format!("yes ({count})"),
            Ok(count) => last = count,
            Err(e) => return format!("error: {e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    format!("no: metrics {last}, store {stored}")
}

/// Webhook → searchable: every 100th WhatsApp message of the run is searched for its marker
/// from its due time until found.
async fn sample_searchable(ledger: Arc<crate::traffic::Ledger>, search: String, tenant: String) -> Vec<Duration> {
    let mut found = Vec::new();
    let mut tasks = Vec::new();
    for i in (0..ledger.len()).step_by(100).filter(|i| ledger.plan[*i].channel == crate::traffic::Channel::WhatsApp) {
        let (ledger, search, tenant) = (ledger.clone(), search.clone(), tenant.clone());
        tasks.push(tokio::spawn(async move {
            let due = ledger.origin + ledger.due(i);
            tokio::time::sleep_until(due).await;
            let deadline = due + Duration::from_secs(30);
            while Instant::now() < deadline {
                if run::search_hits(&search, &tenant, &crate::traffic::marker(i as u64)).await.unwrap_or(0) > 0 {
                    return Some(due.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None
        }));
    }
    for task in tasks {
        if let Ok(Some(d)) = task.await {
            found.push(d);
        }
    }
    found.sort();
    found
}

struct SocketsFigures {
    opened: usize,
    gateway_before: u64,
    gateway_after: u64,
    fan_out: Vec<Duration>,
}

/// Ten thousand sockets of one tenant's admins on the gateway, then one message to all.
async fn sockets_phase(fleet: &Fleet, count: usize) -> anyhow::Result<SocketsFigures> {
    eprintln!("load: {count} agent sockets on one gateway");
    let gateway = fleet.first("gateway");
    let gateway_pid = gateway.pid().unwrap_or(0);
    let tenant = run::set_up_tenant(&fleet.gateway_url(), "load-sockets", 1, Numbers::new(900)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gateway_before = rss_bytes(gateway_pid, false);
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let marker = 424_242u64;
    let ws = fleet.gateway_url().replace("http://", "ws://");
    let opened = crate::agents::hold_sockets(&ws, &tenant.watcher_tokens[0], count, marker, seen_tx, stop_rx).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gateway_after = rss_bytes(gateway_pid, false);
    let planned = crate::traffic::Planned { channel: crate::traffic::Channel::WhatsApp, customer: 1, k: 0 };
    let body =
        crate::traffic::whatsapp_webhook(tenant.numbers, "sockets", marker, &planned, chrono::Utc::now().timestamp());
    let sent = Instant::now();
    let status = reqwest::Client::new()
        .post(format!("http://{}/webhooks/whatsapp", fleet.ingest_addresses()[0]))
        .header("x-hub-signature-256", crate::traffic::hub_signature(&body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.is_success(), "the sockets phase's webhook answered {status}");
    let mut fan_out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fan_out.len() < opened {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some(at)) => fan_out.push(at.duration_since(sent)),
            _ => break,
        }
    }
    fan_out.sort();
    let _ = stop.send(true);
    Ok(SocketsFigures { opened, gateway_before, gateway_after, fan_out })
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

fn table(
    steps: &[Step],
    idle: &[(String, f64)],
    searchable: &[Duration],
    memory: &[(String, u64)],
    sockets: Option<&SocketsFigures>,
    started_load: &str,
    ended_load: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## just load (machine load average at start: {started_load}; at end: {ended_load})\n");
    let _ = writeln!(
        out,
        "| fleet | offered | accepted /s | accept p50 / p99 | webhook → agent socket p50 / p99 / max | missing | doubled | out of order (socket) | store: lost / doubled / out of order | replies sent / lost / doubled | metrics = store |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut best: Option<f64> = None;
    for s in steps {
        let d = s.finished.delivery();
        let e99 = percentile(&d.end_to_end, 99.0);
        if d.missing == 0 && s.stored.lost == 0 && e99 < Duration::from_millis(50) && d.accepted == d.planned {
            best = Some(best.map_or(s.rate, |b: f64| b.max(s.rate)));
        }
        let _ = writeln!(
            out,
            "| {} | {:.0}/s | {:.0} | {} / {} | {} / {} / {} | {} | {} | {} | {} / {} / {} | {} / {} / {} | {} |",
            s.topology,
            s.rate,
            d.achieved_per_second,
            ms(percentile(&d.accept, 50.0)),
            ms(percentile(&d.accept, 99.0)),
            ms(percentile(&d.end_to_end, 50.0)),
            ms(e99),
            ms(d.end_to_end.last().copied().unwrap_or_default()),
            d.missing,
            d.doubled,
            d.out_of_order,
            s.stored.lost,
            s.stored.doubled,
            s.stored.out_of_order,
            s.replies.0,
            s.replies.1,
            s.replies.2,
            s.metrics_agree,
        );
    }
    let _ = writeln!(
        out,
        "\nHighest offered rate with webhook → socket p99 under 50 ms and nothing missing: {}",
        best.map_or("none of the rates tried".to_owned(), |b| format!("{b:.0}/s"))
    );
    if !searchable.is_empty() {
        let _ = writeln!(
            out,
            "Webhook → searchable (every 100th WhatsApp message of the first step, {} sampled): p50 {} / p99 {} / max {}",
            searchable.len(),
            ms(percentile(searchable, 50.0)),
            ms(percentile(searchable, 99.0)),
            ms(searchable.last().copied().unwrap_or_default())
        );
    }
    let _ = writeln!(
        out,
        "\n### Where the time goes: each stage's p50 / p99 (observations), from the fleet's own histograms\n"
    );
    let columns: Vec<(String, stages::StepStages)> = steps
        .iter()
        .map(|s| {
            let fleet = if s.topology.starts_with('1') { "×1" } else { "×2" };
            (format!("{fleet} {:.0}/s", s.rate), s.stages.clone())
        })
        .collect();
    out.push_str(&stages::table(&columns));
    let _ = writeln!(out, "\n### CPU seconds per 1,000 messages, by process\n");
    let labels: Vec<String> = steps.last().map(|s| s.cpu.iter().map(|(l, _)| l.clone()).collect()).unwrap_or_default();
    let _ = writeln!(out, "| fleet | offered | {} | all |", labels.join(" | "));
    let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(labels.len()));
    for s in steps {
        let accepted = s.finished.delivery().accepted.max(1) as f64;
        let per = |label: &str| s.cpu.iter().find(|(l, _)| l == label).map_or(0.0, |(_, c)| *c) * 1000.0 / accepted;
        let cells: Vec<String> = labels.iter().map(|l| format!("{:.3}", per(l))).collect();
        let fleet_total: f64 =
            s.cpu.iter().filter(|(l, _)| l != "load generator").map(|(_, c)| *c).sum::<f64>() * 1000.0 / accepted;
        let _ = writeln!(out, "| {} | {:.0}/s | {} | {:.2} |", s.topology, s.rate, cells.join(" | "), fleet_total);
    }
    let per_second =
        |label: &str| idle.iter().find(|(l, _)| l == label).map_or(0.0, |(_, c)| *c) / IDLE_WINDOW.as_secs_f64();
    let cells: Vec<String> = labels.iter().map(|l| format!("{:.3}", per_second(l))).collect();
    let idle_total: f64 =
        idle.iter().filter(|(l, _)| l != "load generator").map(|(_, c)| *c).sum::<f64>() / IDLE_WINDOW.as_secs_f64();
    let _ = writeln!(
        out,
        "| 1 replica each, idle: CPU seconds per second over {} s | none | {} | {:.2} |",
        IDLE_WINDOW.as_secs(),
        cells.join(" | "),
        idle_total
    );
    let _ = writeln!(out, "\n### Resident memory at the end of the rate ladder\n");
    let _ = writeln!(out, "| process | RSS |");
    let _ = writeln!(out, "|---|---|");
    for (label, bytes) in memory {
        let _ = writeln!(out, "| {label} | {} |", mb(*bytes));
    }
    if let Some(s) = sockets {
        let _ = writeln!(
            out,
            "\n### Agent sockets on one gateway\n\n{} sockets open; gateway RSS {} before, {} with them ({} for the sockets, {:.1} kB each); \
             one message to all of them: {} received it, p50 {} / p99 {} / max {}",
            s.opened,
            mb(s.gateway_before),
            mb(s.gateway_after),
            mb(s.gateway_after.saturating_sub(s.gateway_before)),
            s.gateway_after.saturating_sub(s.gateway_before) as f64 / s.opened.max(1) as f64 / 1024.0,
            s.fan_out.len(),
            ms(percentile(&s.fan_out, 50.0)),
            ms(percentile(&s.fan_out, 99.0)),
            ms(s.fan_out.last().copied().unwrap_or_default()),
        );
    }
    let _ = Ordering::Relaxed;
    out
}
