//! `just chaos`: steady traffic while a scripted schedule breaks the fleet, one fault at a time
//! and then overlapping; then the proofs, what was lost or doubled, and how long each fault
//! took to heal: from the moment the fault was removed (the process started again, the server
//! back, the process resumed, the link restored) until the last message sent while it lasted
//! reached the agent's socket.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::fleet::Fleet;
use crate::infra::{Nats, Postgres, Redis};
use crate::netns::Namespaces;
use crate::proc::load_average;
use crate::provider::GraphStub;
use crate::run::{self, RunSpec, ms, percentile};
use crate::traffic::{Mix, Numbers};

/// One fault.
#[derive(Debug, Clone)]
pub enum Fault {
    /// kill -9 a process (by label, e.g. `conversation#2`) and start it again at once.
    Kill(&'static str),
    /// kill -9 every NATS server and start them again.
    RestartNats,
    /// PostgreSQL stopped as by a power cut, started again after the pause.
    RestartPostgres(Duration),
    RestartRedis,
    /// SIGSTOP a process for this long, then SIGCONT.
    Pause(&'static str, Duration),
    /// Cut the isolated service's link for this long (every packet dropped).
    Cut(Duration),
    /// Slow the isolated service's link (a small token bucket) for this long.
    Slow(Duration),
    /// kill -9 one node of the NATS cluster, start it again after the pause.
    KillNatsNode(usize, Duration),
    /// Isolate one node of the NATS cluster for this long.
    Partition(usize, Duration),
    /// Several faults at once.
    Together(Vec<Fault>),
}

impl Fault {
    pub fn describe(&self) -> String {
        match self {
            Fault::Kill(label) => format!("kill -9 {label}"),
            Fault::RestartNats => "restart NATS (kill -9)".into(),
            Fault::RestartPostgres(d) => format!("PostgreSQL down {}s (immediate stop)", d.as_secs()),
            Fault::RestartRedis => "restart Redis (kill -9, data gone)".into(),
            Fault::Pause(label, d) => format!("SIGSTOP {label} {}s", d.as_secs()),
            Fault::Cut(d) => format!("drop all traffic of the isolated service {}s", d.as_secs()),
            Fault::Slow(d) => format!("slow link (tbf 512kbit) to the isolated service {}s", d.as_secs()),
            Fault::KillNatsNode(n, d) => format!("kill -9 NATS node n{} for {}s", n + 1, d.as_secs()),
            Fault::Partition(n, d) => format!("partition NATS node n{} {}s", n + 1, d.as_secs()),
            Fault::Together(all) => all.iter().map(Fault::describe).collect::<Vec<_>>().join(" + "),
        }
    }

    /// Roughly how long it takes, for planning the traffic.
    fn length(&self) -> Duration {
        match self {
            Fault::Kill(_) | Fault::RestartNats | Fault::RestartRedis => Duration::from_secs(3),
            Fault::RestartPostgres(d)
            | Fault::Pause(_, d)
            | Fault::Cut(d)
            | Fault::Slow(d)
            | Fault::KillNatsNode(_, d)
            | Fault::Partition(_, d) => *d + Duration::from_secs(2),
            Fault::Together(all) => all.iter().map(Fault::length).max().unwrap_or_default(),
        }
    }
}

/// Applies `fault` and removes it; returns when it is removed.
fn apply<'a>(fleet: &'a mut Fleet, fault: &'a Fault) -> futures::future::BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async move {
        match fault {
            Fault::Kill(label) => {
                let index = fleet.index_of(label)?;
                fleet.crash_and_restart(index).await?;
            }
            Fault::RestartNats => fleet.nats.restart_all().await?,
            Fault::RestartPostgres(down) => {
                fleet.postgres.crash()?;
                tokio::time::sleep(*down).await;
                fleet.postgres.restart().await?;
            }
            Fault::RestartRedis => fleet.redis.restart().await?,
            Fault::Pause(label, d) => {
                let index = fleet.index_of(label)?;
                fleet.processes[index].pause()?;
                tokio::time::sleep(*d).await;
                fleet.processes[index].resume()?;
            }
            Fault::Cut(d) => {
                let member = fleet
                    .isolated
                    .as_ref()
                    .map(|(m, _)| m.clone())
                    .ok_or_else(|| anyhow::anyhow!("no isolated service"))?;
                member.cut()?;
                tokio::time::sleep(*d).await;
                member.restore()?;
            }
            Fault::Slow(d) => {
                let member = fleet
                    .isolated
                    .as_ref()
                    .map(|(m, _)| m.clone())
                    .ok_or_else(|| anyhow::anyhow!("no isolated service"))?;
                member.slow("512kbit", "400ms")?;
                tokio::time::sleep(*d).await;
                member.unslow()?;
            }
            Fault::KillNatsNode(n, d) => {
                fleet.nats.nodes[*n].kill()?;
                tokio::time::sleep(*d).await;
                fleet.nats.nodes[*n].restart().await?;
            }
            Fault::Partition(n, d) => {
                let member = fleet
                    .nats
                    .netns
                    .as_ref()
                    .map(|ns| ns.members[*n].clone())
                    .ok_or_else(|| anyhow::anyhow!("no cluster"))?;
                member.cut()?;
                tokio::time::sleep(*d).await;
                member.restore()?;
            }
            Fault::Together(all) => {
                // One after the other within a second: their windows overlap.
                for fault in all {
                    match fault {
                        Fault::Kill(label) => {
                            let index = fleet.index_of(label)?;
                            fleet.processes[index].kill9();
                        }
                        Fault::Pause(label, _) => {
                            let index = fleet.index_of(label)?;
                            fleet.processes[index].pause()?;
                        }
                        other => apply(fleet, other).await?,
                    }
                }
                let longest = all.iter().filter_map(|f| if let Fault::Pause(_, d) = f { Some(*d) } else { None }).max();
                if let Some(d) = longest {
                    tokio::time::sleep(d).await;
                }
                for fault in all {
                    match fault {
                        Fault::Kill(label) => {
                            let index = fleet.index_of(label)?;
                            fleet.crash_and_restart(index).await?;
                        }
                        Fault::Pause(label, _) => {
                            let index = fleet.index_of(label)?;
                            fleet.processes[index].resume()?;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })
}

#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub work: PathBuf,
    pub bin_dir: PathBuf,
    pub rate: f64,
    pub schedule: Vec<Fault>,
    /// Calm between faults.
    pub gap: Duration,
    /// Run NATS as a three-node cluster, each node in its own network namespace.
    pub cluster: bool,
    /// Run this service's first process in a network namespace (for link faults).
    pub isolate: Option<&'static str>,
    pub settle: Duration,
}

/// The full schedule: every process killed once, each server restarted, pauses past the
/// timeouts, a consumer's redelivery filled, the link of one service cut and slowed, then
/// faults together.
pub fn full_schedule() -> Vec<Fault> {
    use Fault::*;
    let s = Duration::from_secs;
    vec![
        Kill("conversation"),
        Kill("conversation#2"),
        Kill("channel-ingest"),
        Kill("channel-ingest#2"),
        Kill("routing"),
        Kill("notification"),
        Kill("search"),
        Kill("metrics"),
        Kill("gateway"),
        RestartNats,
        RestartPostgres(s(2)),
        RestartRedis,
        // Far past the 5 s ack wait (its unacked messages go to the other replica) and past the
        // outbound senders' send lease.
        Pause("conversation#2", s(35)),
        Pause("gateway", s(12)),
        // Every consumer's handler fails while PostgreSQL is away: redelivery fills up.
        RestartPostgres(s(15)),
        Cut(s(10)),
        Slow(s(15)),
        Together(vec![Kill("conversation"), Kill("channel-ingest#2"), Kill("gateway")]),
        Together(vec![RestartRedis, Pause("search", s(10)), Kill("routing")]),
        Together(vec![Pause("conversation#2", s(8)), RestartNats]),
    ]
}

/// The clustered bus's schedule: a node killed, later a partition, with service faults between.
pub fn cluster_schedule() -> Vec<Fault> {
    use Fault::*;
    let s = Duration::from_secs;
    vec![
        KillNatsNode(1, s(15)),
        Kill("conversation"),
        Partition(2, s(20)),
        Kill("gateway"),
        Together(vec![KillNatsNode(0, s(10)), Kill("channel-ingest#2")]),
    ]
}

/// A few faults over a few thousand messages, for `just test`.
pub fn short_schedule() -> Vec<Fault> {
    use Fault::*;
    vec![Kill("conversation"), Kill("channel-ingest"), RestartNats, Kill("gateway")]
}

/// What the chaos run proved.
#[derive(Debug)]
pub struct ChaosReport {
    pub table: String,
    pub sent: usize,
    pub accepted: usize,
    pub lost: usize,
    pub doubled: usize,
    pub out_of_order: usize,
    pub socket_missing: usize,
    pub socket_doubled: usize,
    pub replies_lost: usize,
    pub replies_doubled: usize,
    pub replies_failed_visibly: usize,
    pub search_misses: usize,
    pub metrics_agree: bool,
}

pub async fn chaos(options: ChaosOptions) -> anyhow::Result<ChaosReport> {
    std::fs::create_dir_all(options.work.join("logs"))?;
    let started_load = load_average();
    let run_tag = format!("{:x}", std::process::id() % 0xfff);
    // Link faults: the isolated service and the servers it needs meet on a veth link.
    let isolation = match options.isolate {
        Some(service) => Some((Namespaces::create(&format!("ic{run_tag}"), 201, 1)?, service)),
        None => None,
    };
    let host_side = isolation.as_ref().map(|(ns, _)| ns.members[0].host_ip.clone());
    let postgres = Postgres::start(&options.work, host_side.clone()).await?;
    let nats = if options.cluster {
        Nats::cluster(&options.work, Namespaces::create(&format!("in{run_tag}"), 202, 3)?).await?
    } else {
        Nats::single(&options.work, host_side.as_deref().unwrap_or("127.0.0.1")).await?
    };
    let redis = Redis::start(&options.work, host_side.as_deref()).await?;
    let graph = GraphStub::start(host_side.as_deref().unwrap_or("127.0.0.1")).await?;
    let isolated = isolation.as_ref().map(|(ns, service)| (ns.members[0].clone(), *service));
    let mut fleet = Fleet::new(
        options.work.clone(),
        options.bin_dir.clone(),
        (postgres, nats, redis),
        graph.base_url.clone(),
        isolated,
    );
    // Redelivery after a crash: a message held by a dead process goes to another after its
    // consumer's ack wait (5 s; the outbound senders wait out their send lease); nothing here
    // shortens it.
    fleet.start_all().await?;
    fleet.add("channel-ingest").await?;
    fleet.add("conversation").await?;
    if options.cluster {
        replicate_streams(&fleet.nats.url()).await?;
    }
    let tenant = run::set_up_tenant(&fleet.gateway_url(), "chaos", 2, Numbers::new(0)).await?;

    let warmup = Duration::from_secs(5);
    let planned: Duration = options.schedule.iter().map(|f| f.length() + options.gap).sum::<Duration>() + warmup;
    let spec = RunSpec {
        run: format!("chaos{run_tag}"),
        rate: options.rate,
        seconds: planned.as_secs_f64(),
        mix: Mix { whatsapp_customers: (options.rate as u32 * 2).clamp(50, 2_000), visitors: 20, callers: 10 },
        connections: 16,
        reply_every: 20,
        settle: options.settle,
        watchers: 2,
    };
    eprintln!(
        "chaos: {} messages at {}/s over {:.0} s, {} faults",
        (spec.rate * spec.seconds) as u64,
        spec.rate,
        spec.seconds,
        options.schedule.len()
    );
    let running = run::start(spec, &tenant, &fleet.gateway_url(), fleet.ingest_addresses()).await?;
    let ledger = running.ledger.clone();
    tokio::time::sleep_until(ledger.origin + warmup).await;
    // (description, start, end) from the ledger's origin.
    let mut windows: Vec<(String, Duration, Duration)> = Vec::new();
    for fault in &options.schedule {
        let start = ledger.origin.elapsed();
        eprintln!("chaos: {:>6.1}s {}", start.as_secs_f64(), fault.describe());
        if let Err(e) = apply(&mut fleet, fault).await {
            eprintln!("chaos: {} failed: {e:#}", fault.describe());
        }
        windows.push((fault.describe(), start, ledger.origin.elapsed()));
        tokio::time::sleep(options.gap).await;
    }
    let finished = running.finish().await?;
    let d = finished.delivery();
    let stored = run::check_store(&fleet.postgres.url(), &tenant, &finished).await?;
    let at_provider = run::check_replies(&graph, &finished, &fleet.postgres.url()).await;
    let (replies, replies_lost, replies_doubled) = (at_provider.accepted, at_provider.lost, at_provider.doubled);
    let replies_failed_visibly = at_provider.failed_visibly;
    let metrics = run::metrics_customer_messages(&fleet.gateway_url(), &tenant.watcher_tokens[0], finished.base).await;
    // Search: a sample of accepted messages, each found by its marker.
    let search = format!("http://{}:{}", fleet.first("search").host, fleet.first("search").grpc);
    let mut search_misses = 0;
    let mut sampled = 0;
    for i in (0..ledger.len()).step_by((ledger.len() / 200).max(1)).filter(|i| ledger.is_accepted(*i)) {
        sampled += 1;
        if run::search_hits(&search, &tenant.id, &crate::traffic::marker(i as u64)).await.unwrap_or(0) == 0 {
            search_misses += 1;
        }
    }

    let mut table = String::new();
    let _ = writeln!(
        table,
        "\n## just chaos{} (machine load average at start: {started_load}; at end: {})\n",
        if options.cluster { " on a three-node NATS cluster" } else { "" },
        load_average()
    );
    let _ = writeln!(
        table,
        "| fault | at | lasted | heal: until the last message it caught reached the agent socket | worst webhook → socket of those |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|");
    let n = ledger.len();
    for (name, start, end) in &windows {
        // The messages it touched: sent before it was removed and not yet on the socket when it
        // struck (in flight anywhere in the pipeline, or sent while it lasted).
        let from = ((start.as_secs_f64() - 60.0).max(0.0) * ledger.rate) as usize;
        let to = ((end.as_secs_f64() * ledger.rate) as usize).min(n);
        let struck = u64::try_from(start.as_micros()).unwrap_or(u64::MAX);
        let mut latest = Duration::ZERO;
        let mut worst = Duration::ZERO;
        let mut unseen = 0;
        for i in from..to {
            let arrived = ledger.arrived_at[i].load(Ordering::Relaxed);
            if arrived == 0 {
                unseen += usize::from(ledger.is_accepted(i));
                continue;
            }
            if arrived < struck {
                continue;
            }
            let arrived = Duration::from_micros(arrived);
            latest = latest.max(arrived);
            worst = worst.max(arrived.saturating_sub(ledger.due(i)));
        }
        let heal = latest.saturating_sub(*end);
        let unseen = if unseen > 0 { format!(" ({unseen} never arrived)") } else { String::new() };
        let _ = writeln!(
            table,
            "| {name} | {:.1} s | {} | {}{unseen} | {} |",
            start.as_secs_f64(),
            ms(end.saturating_sub(*start)),
            ms(heal),
            ms(worst)
        );
    }
    let metrics_agree = matches!(metrics, Ok(m) if m == stored.customer_messages);
    let _ = writeln!(table);
    let _ = writeln!(table, "| proof | result |");
    let _ = writeln!(table, "|---|---|");
    let _ = writeln!(
        table,
        "| messages sent / accepted | {} / {} (refused answers {}, failed connections {}) |",
        d.planned, d.accepted, d.refused, d.send_errors
    );
    let _ = writeln!(
        table,
        "| stored: lost / doubled / out of provider order | {} / {} / {} |",
        stored.lost, stored.doubled, stored.out_of_order
    );
    let _ = writeln!(
        table,
        "| agent sockets (2): missing / doubled / out of order / reconnects (?after=) / resyncs | {} / {} / {} / {} / {} |",
        d.missing, d.doubled, d.out_of_order, d.reconnects, d.resyncs
    );
    let _ = writeln!(
        table,
        "| webhook → socket p50 / p99 / max | {} / {} / {} |",
        ms(percentile(&d.end_to_end, 50.0)),
        ms(percentile(&d.end_to_end, 99.0)),
        ms(d.end_to_end.last().copied().unwrap_or_default())
    );
    let _ = writeln!(
        table,
        "| agent replies accepted / lost at the provider / doubled / failed in plain sight (cut by a crash mid-send) | {replies} / {replies_lost} / {replies_doubled} / {replies_failed_visibly} (unknown sends {}) |",
        graph.unknown_sends()
    );
    let _ = writeln!(table, "| search finds the message (sample) | {} of {sampled} |", sampled - search_misses);
    let _ = writeln!(
        table,
        "| metrics' customer messages = store's | {} |",
        match &metrics {
            Ok(m) => format!(
                "{} ({m} vs {})",
                if *m == stored.customer_messages { "yes" } else { "NO" },
                stored.customer_messages
            ),
            Err(e) => format!("error: {e:#}"),
        }
    );
    if options.cluster {
        let _ = writeln!(
            table,
            "| streams' replicas at the end (INGEST, EVENTS, OUTBOUND, DLQ) | {} |",
            stream_replicas(&fleet.nats.url()).await
        );
    }
    if d.missing > 0 {
        let missing = finished.missing_on(0);
        let _ = writeln!(table, "\nmissing on socket 0 (first 20): {:?}", &missing[..missing.len().min(20)]);
    }
    fleet.stop();
    drop(isolation);
    Ok(ChaosReport {
        table,
        sent: d.planned,
        accepted: d.accepted,
        lost: stored.lost,
        doubled: stored.doubled,
        out_of_order: stored.out_of_order,
        socket_missing: d.missing,
        socket_doubled: d.doubled,
        replies_lost,
        replies_doubled,
        replies_failed_visibly,
        search_misses,
        metrics_agree,
    })
}

/// Streams replicated on all three nodes: `libs/bus` creates them with one replica (it sets
/// no `num_replicas`), so they are raised to three here once the services made them.
async fn replicate_streams(url: &str) -> anyhow::Result<()> {
    let client = async_nats::connect(url).await?;
    let js = async_nats::jetstream::new(client);
    for name in ["INGEST", "EVENTS", "OUTBOUND", "DLQ"] {
        let mut stream = js.get_stream(name).await?;
        let mut config = stream.info().await?.config.clone();
        config.num_replicas = 3;
        js.update_stream(config).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in ["INGEST", "EVENTS", "OUTBOUND", "DLQ"] {
        loop {
            let mut stream = js.get_stream(name).await?;
            let info = stream.info().await?;
            let replicas = info.cluster.as_ref().map_or(0, |c| c.replicas.len());
            if info.config.num_replicas == 3 && replicas == 2 {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "stream {name} did not get three replicas");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// `num_replicas` of each stream now (a service restart re-applies `libs/bus`'s configuration).
async fn stream_replicas(url: &str) -> String {
    let Ok(client) = async_nats::connect(url).await else { return "NATS unreachable".into() };
    let js = async_nats::jetstream::new(client);
    let mut out = Vec::new();
    for name in ["INGEST", "EVENTS", "OUTBOUND", "DLQ"] {
        let replicas = match js.get_stream(name).await {
            Ok(mut stream) => {
                stream.info().await.map(|i| i.config.num_replicas.to_string()).unwrap_or_else(|e| e.to_string())
            }
            Err(e) => e.to_string(),
        };
        out.push(replicas);
    }
    out.join(", ")
}
