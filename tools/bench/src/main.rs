//! `just bench`: measures the fleet's first path on this machine and prints a table.
//! Everything runs against private servers the testkit starts (own JetStream, own databases).

mod ingest;
mod list;
mod load;
mod metrics;
mod notify;
mod routing;
mod search;
mod signin;
mod sockets;
mod webhook;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_conversation::store::{ConversationStore, MIGRATOR};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_testkit::{TestDatabase, TestNats};
use uuid::Uuid;

struct Row {
    what: String,
    value: String,
    note: String,
}

fn row(what: impl Into<String>, value: impl Into<String>, note: impl Into<String>) -> Row {
    Row { what: what.into(), value: value.into(), note: note.into() }
}

/// The environment an in-process service under measurement is configured from: its database,
/// the private NATS, the bench's service token, errors-only logs, then `extra`, then any
/// `overrides` variables of the bench's own environment (e.g. `INBOX__ROUTING__`).
fn service_env(
    database_url: String,
    nats_url: String,
    extra: &[(&str, String)],
    overrides: Option<&str>,
) -> HashMap<String, String> {
    [
        ("INBOX__POSTGRES__URL", database_url),
        ("INBOX__NATS__URL", nats_url),
        ("INBOX__AUTH__SERVICE_TOKEN", BENCH_SERVICE_TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL", "error".to_owned()),
    ]
    .into_iter()
    .chain(extra.iter().cloned())
    .map(|(k, v)| (k.to_owned(), v))
    .chain(std::env::vars().filter(|(k, _)| overrides.is_some_and(|prefix| k.starts_with(prefix))))
    .collect()
}

/// What the services under measurement accept as a peer service's token.
const BENCH_SERVICE_TOKEN: &str = "bench-service-token-0123";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

inbox_service::use_mimalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `sockets` measures a gateway in a process of its own: this binary, started again.
    if std::env::args().nth(1).as_deref() == Some("serve-gateway") {
        std::process::exit(i32::from(sockets::serve_gateway().await != std::process::ExitCode::SUCCESS));
    }
    // `BENCH_LOG=warn just bench ingest` shows what the in-process services log (to stderr).
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    // `just bench` runs everything; `just bench list` (or any names) runs those only.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut rows =
        vec![row("disk fsyncs per second", format!("{:.0}", fsync_rate()?), "commit-bound figures follow it")];
    if wanted("bus") {
        rows.extend(progress(bench_bus().await?));
    }
    if wanted("store") {
        rows.extend(progress(bench_store().await?));
    }
    if wanted("webhook") {
        rows.extend(progress(webhook::bench().await?));
    }
    if wanted("batch") {
        rows.extend(progress(ingest::bench_batch_store().await?));
    }
    if wanted("ingest") {
        rows.extend(progress(ingest::bench_ingest().await?));
    }
    if wanted("list") {
        rows.extend(progress(list::bench_list().await?));
    }
    if wanted("routing") {
        rows.extend(progress(routing::bench_routing().await?));
    }
    if wanted("search") {
        rows.extend(progress(search::bench_search().await?));
    }
    if wanted("metrics") {
        rows.extend(progress(metrics::bench_metrics().await?));
    }
    if wanted("signin") {
        rows.extend(progress(signin::bench_signin().await?));
    }
    if wanted("sockets") {
        rows.extend(progress(sockets::bench_sockets().await?));
    }
    if wanted("notify") {
        rows.extend(progress(notify::bench_notify().await?));
    }
    rows.push(row(
        "peak memory of this process",
        format!("{} MiB", peak_rss_mib()),
        "bench driver + in-process services",
    ));

    let width = rows.iter().map(|r| r.what.len()).max().unwrap_or(10);
    let vwidth = rows.iter().map(|r| r.value.len()).max().unwrap_or(10);
    println!("\n| {:width$} | {:>vwidth$} | note", "measurement", "value");
    println!("|{}|{}|------", "-".repeat(width + 2), "-".repeat(vwidth + 2));
    for r in rows {
        println!("| {:width$} | {:>vwidth$} | {}", r.what, r.value, r.note);
    }
    Ok(())
}

/// Prints a group's rows as soon as they are measured, so a later failure loses nothing.
fn progress(rows: Vec<Row>) -> Vec<Row> {
    for r in &rows {
        eprintln!("measured: {}: {} ({})", r.what, r.value, r.note);
    }
    rows
}

fn fsync_rate() -> anyhow::Result<f64> {
    use std::io::Write;
    let dir = tempfile_dir()?;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path)?;
    let n = 200;
    let started = Instant::now();
    for _ in 0..n {
        file.write_all(b"x")?;
        file.sync_data()?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    Ok(rate)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("inbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

fn inbound(tenant: Uuid, i: usize, from: &str) -> InboundMessage {
    InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "bench".into(),
        external_id: format!("wamid.bench.{i}"),
        sent_at: Some(inbox_proto::timestamp_from(chrono::Utc::now())),
        sender: Some(Sender { address: from.into(), display_name: "Bench".into() }),
        content: Some(MessageContent {
            kind: Some(Kind::Text(TextContent { body: format!("message {i}") })),
            reply_to: None,
        }),
        raw_payload_id: String::new(),
        visitor: None,
    }
}

async fn bench_bus() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;
    let tenant = Uuid::new_v4();
    let subject = subjects::ingest(Channel::Whatsapp, &tenant.to_string());
    let envelope = |i: usize| {
        new_envelope(format!("bench-{i}"), tenant.to_string(), Payload::InboundMessage(inbound(tenant, i, "1")))
    };

    let n = 3_000;
    let started = Instant::now();
    for i in 0..n {
        bus.publish(&subject, &envelope(i)).await?;
    }
    let one_by_one = n as f64 / started.elapsed().as_secs_f64();

    let batches = 100;
    let started = Instant::now();
    for b in 0..batches {
        let batch: Vec<_> = (0..100).map(|i| (subject.clone(), envelope(n + b * 100 + i))).collect();
        bus.publish_all(&batch).await?;
    }
    let pipelined = (batches * 100) as f64 / started.elapsed().as_secs_f64();
    Ok(vec![
        row(
            "JetStream publish, ack awaited one by one",
            format!("{one_by_one:.0} msg/s"),
            "Nats-Msg-Id set, file storage",
        ),
        row(
            "JetStream publish, 100 pipelined per batch",
            format!("{pipelined:.0} msg/s"),
            "how the outbox relay publishes",
        ),
    ])
}

async fn bench_store() -> anyhow::Result<Vec<Row>> {
    let db = TestDatabase::create("bench").await?;
    let settings = inbox_config::PostgresSettings { url: db.url(), max_connections: 16 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &MIGRATOR).await?;
    let store = ConversationStore::new(pool);
    let tenant = Uuid::new_v4();

    let n = 2_000;
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        store.append_inbound_message(tenant, &inbound(tenant, i, &format!("1555{:07}", i % 500))).await?;
        latencies.push(t.elapsed());
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();
    latencies.sort();

    let concurrency = 16;
    let started = Instant::now();
    let total = 8_000;
    futures::stream::iter(n..n + total)
        .map(|i| {
            let store = store.clone();
            async move { store.append_inbound_message(tenant, &inbound(tenant, i, &format!("1666{:07}", i % 2_000))).await }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let concurrent = total as f64 / started.elapsed().as_secs_f64();
    Ok(vec![
        row(
            "inbound message stored, one at a time",
            format!("{sequential:.0} msg/s"),
            "contact + conversation + message + outbox, one tx each",
        ),
        row(
            "  latency p50 / p99",
            format!("{} / {}", ms(percentile(&latencies, 50.0)), ms(percentile(&latencies, 99.0))),
            "",
        ),
        row(
            format!("inbound message stored, {concurrency} concurrent"),
            format!("{concurrent:.0} msg/s"),
            "the one-by-one path (the consumer batches: see below)",
        ),
    ])
}
