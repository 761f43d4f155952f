//! `just bench`: measures the fleet's first path on this machine and prints a table.
//! Everything runs against private servers the testkit starts (own JetStream, own databases).

mod ingest;
mod list;
mod routing;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_channel_ingest::store::{IngestStore, NewWhatsAppAccount};
use inbox_channel_ingest::whatsapp::signature::sign;
use inbox_conversation::store::{ConversationStore, MIGRATOR};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

struct Row {
    what: String,
    value: String,
    note: String,
}

fn row(what: impl Into<String>, value: impl Into<String>, note: impl Into<String>) -> Row {
    Row { what: what.into(), value: value.into(), note: note.into() }
}

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
        rows.extend(progress(bench_webhook_path().await?));
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

async fn bench_webhook_path() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let ingest_db = TestDatabase::create("bench_ingest").await?;
    let conversation_db = TestDatabase::create("bench_conv").await?;
    let shutdown = CancellationToken::new();
    let common = |db: &TestDatabase| -> HashMap<String, String> {
        [
            ("INBOX__POSTGRES__URL", db.url()),
            ("INBOX__NATS__URL", nats.url()),
            ("INBOX__AUTH__SERVICE_TOKEN", "bench-service-token-0123".to_owned()),
            ("INBOX__LOG__LEVEL", "error".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let ingest_settings: inbox_channel_ingest::Settings =
        inbox_config::load(inbox_channel_ingest::Settings::DEFAULTS, None, &common(&ingest_db))?;
    let conversation_settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &common(&conversation_db))?;
    let ingest_listeners = Listeners::ephemeral().await?;
    let base = format!("http://{}", ingest_listeners.http.local_addr()?);
    tokio::spawn(inbox_channel_ingest::run(ingest_settings, ingest_listeners, shutdown.clone()));
    // Its own stop: the accept figures below measure channel-ingest alone on the machine.
    let conversation_shutdown = CancellationToken::new();
    tokio::spawn(inbox_conversation::run(
        conversation_settings,
        Listeners::ephemeral().await?,
        conversation_shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    for url in [format!("{base}/readyz")] {
        wait_until(Duration::from_secs(30), || {
            let r = client.get(&url);
            async move { r.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await
        .context("channel-ingest not ready")?;
    }
    let ingest_store = IngestStore::new(sqlx::PgPool::connect(&ingest_db.url()).await?);
    let secret = "bench-app-secret";
    ingest_store
        .upsert_whatsapp_account(
            Uuid::new_v4(),
            &NewWhatsAppAccount {
                phone_number_id: "1",
                display_phone_number: "",
                app_secret: secret,
                verify_token: "v",
                access_token: "",
                business_account_id: "",
            },
        )
        .await?;
    let events = async_nats::connect(nats.url()).await?;
    let mut created = events.subscribe("events.*.message.created").await?;

    let body = |i: usize| {
        serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "1"},
            "contacts": [{"profile": {"name": "B"}, "wa_id": format!("1777{:07}", i % 1000)}],
            "messages": [{"from": format!("1777{:07}", i % 1000), "id": format!("wamid.path.{i}"),
                          "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "hi"}}]}}]}]})
        .to_string()
    };
    let post = |i: usize| {
        let client = client.clone();
        let url = format!("{base}/webhooks/whatsapp");
        let b = body(i);
        async move {
            let t = Instant::now();
            let status = client
                .post(url)
                .header("X-Hub-Signature-256", sign(secret.as_bytes(), b.as_bytes()))
                .body(b)
                .send()
                .await?
                .status();
            anyhow::ensure!(status == 200, "webhook got {status}");
            anyhow::Ok(t.elapsed())
        }
    };

    // Webhook → message.created on the bus, one at a time.
    let mut end_to_end = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        post(i).await?;
        tokio::time::timeout(Duration::from_secs(10), created.next()).await?.context("events ended")?;
        end_to_end.push(t.elapsed());
    }
    end_to_end.sort();

    // Accept throughput and latency with 32 webhooks in flight.
    let total = 3_000;
    let started = Instant::now();
    let mut accept: Vec<Duration> = futures::stream::iter(200..200 + total)
        .map(post)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let accepted = total as f64 / started.elapsed().as_secs_f64();
    accept.sort();
    eprintln!("webhooks accepted, 32 in flight: {accepted:.0}/s");

    // Saturation: as many signed webhooks as one channel-ingest takes, 128 in flight, with the
    // conversation service stopped (it would share the two cores; INGEST keeps the messages).
    // Bodies are built and signed beforehand: the client's work is sending only.
    conversation_shutdown.cancel();
    let mut next = 200 + total;
    let saturation_total = 30_000;
    let prepared: Vec<(String, String)> = (next..next + saturation_total)
        .map(|i| {
            let b = body(i);
            let s = sign(secret.as_bytes(), b.as_bytes());
            (b, s)
        })
        .collect();
    let send_prepared = |url: String, (b, s): (String, String)| {
        let client = client.clone();
        async move {
            let status = client.post(url).header("X-Hub-Signature-256", s).body(b).send().await?.status();
            anyhow::ensure!(status == 200, "webhook got {status}");
            anyhow::Ok(())
        }
    };
    let started = Instant::now();
    futures::stream::iter(prepared.clone())
        .map(|p| send_prepared(format!("{base}/webhooks/whatsapp"), p))
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let saturated = saturation_total as f64 / started.elapsed().as_secs_f64();
    eprintln!("webhooks accepted at saturation: {saturated:.0}/s");
    next += saturation_total;

    // The harness's own ceiling: the same client and bodies against an axum route that answers
    // 200 at once, in the same process.
    let echo = axum::Router::new().route(
        "/webhooks/whatsapp",
        axum::routing::post(|_body: axum::body::Bytes| async { r#"{"status":"accepted"}"# }),
    );
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let echo_url = format!("http://{}/webhooks/whatsapp", echo_listener.local_addr()?);
    let echo_server = tokio::spawn(async move { axum::serve(echo_listener, echo).await });
    let started = Instant::now();
    futures::stream::iter(prepared)
        .map(|p| send_prepared(echo_url.clone(), p))
        .buffer_unordered(128)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ceiling = saturation_total as f64 / started.elapsed().as_secs_f64();
    echo_server.abort();

    // Open loop: 5,000 webhooks/s offered for 4 s; latency counts from when each was due, so a
    // stall shows up in the percentiles instead of slowing the sender down.
    let rate = 5_000u32;
    let offered = rate as usize * 4;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut prepared: std::collections::VecDeque<(String, String)> = (next..next + offered)
        .map(|i| {
            let b = body(i);
            let s = sign(secret.as_bytes(), b.as_bytes());
            (b, s)
        })
        .collect();
    let origin = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(offered);
    for k in 0..offered {
        let due = origin + period * u32::try_from(k)?;
        tokio::time::sleep_until(due).await;
        let Some(signed) = prepared.pop_front() else { break };
        let request = send_prepared(format!("{base}/webhooks/whatsapp"), signed);
        handles.push(tokio::spawn(async move {
            request.await?;
            anyhow::Ok(due.elapsed())
        }));
    }
    let mut open_loop = Vec::with_capacity(offered);
    let mut refused = 0usize;
    for h in handles {
        match h.await? {
            Ok(latency) => open_loop.push(latency),
            Err(_) => refused += 1,
        }
    }
    let achieved = offered as f64 / origin.elapsed().as_secs_f64();
    open_loop.sort();
    shutdown.cancel();
    conversation_shutdown.cancel();
    Ok(vec![
        row(
            "signed webhook → message.created event p50 / p99",
            format!("{} / {}", ms(percentile(&end_to_end, 50.0)), ms(percentile(&end_to_end, 99.0))),
            "channel-ingest + conversation in process, sequential",
        ),
        row(
            "signed webhooks accepted, 32 in flight",
            format!("{accepted:.0} /s"),
            "archive + JetStream ack before 200",
        ),
        row(
            "  accept latency p50 / p99",
            format!("{} / {}", ms(percentile(&accept, 50.0)), ms(percentile(&accept, 99.0))),
            "",
        ),
        row(
            "signed webhooks accepted, 128 in flight",
            format!("{saturated:.0} /s"),
            "one channel-ingest alone; archive committed + JetStream ack before 200",
        ),
        row(
            "  harness ceiling: same client, a route answering 200 at once",
            format!("{ceiling:.0} /s"),
            "HTTP client and server in this process on 2 cores",
        ),
        row(
            format!("  at {rate}/s offered: accept p50 / p99"),
            format!("{} / {}", ms(percentile(&open_loop, 50.0)), ms(percentile(&open_loop, 99.0))),
            format!("open loop, {offered} webhooks, {achieved:.0}/s achieved, {refused} refused"),
        ),
    ])
}
