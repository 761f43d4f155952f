//! `just bench webhook`: signed WhatsApp webhooks into one channel-ingest, answered 200 only
//! once the raw payload is archived and JetStream acked the message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use inbox_channel_ingest::store::{IngestStore, NewWhatsAppAccount};
use inbox_channel_ingest::whatsapp::signature::sign;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::load::{self, Connection};
use crate::{Row, ms, percentile, row, service_env};

const SECRET: &str = "bench-app-secret";
const PATH: &str = "/webhooks/whatsapp";

/// A `messages` webhook as Meta sends it: one text from one of a thousand customers.
fn body(i: usize) -> String {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": "B"}, "wa_id": format!("1777{:07}", i % 1000)}],
        "messages": [{"from": format!("1777{:07}", i % 1000), "id": format!("wamid.path.{i}"),
                      "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text", "text": {"body": "hi"}}]}}]}]})
    .to_string()
}

/// Webhooks `range`, signed, as bytes on the wire.
fn signed_requests(range: std::ops::Range<usize>) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        range
            .map(|i| {
                let b = body(i);
                let signature = sign(SECRET.as_bytes(), b.as_bytes());
                load::post_request("bench", PATH, &[("x-hub-signature-256", &signature)], b.as_bytes())
            })
            .collect(),
    )
}

pub async fn bench() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let ingest_db = TestDatabase::create("bench_ingest").await?;
    let conversation_db = TestDatabase::create("bench_conv").await?;
    let shutdown = CancellationToken::new();
    let common = |db: &TestDatabase| service_env(db.url(), nats.url(), &[], Some("INBOX__INGEST__"));
    let ingest_settings: inbox_channel_ingest::Settings =
        inbox_config::load(inbox_channel_ingest::Settings::DEFAULTS, None, &common(&ingest_db))?;
    let conversation_settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &common(&conversation_db))?;
    let ingest_listeners = Listeners::ephemeral().await?;
    let address = ingest_listeners.http.local_addr()?;
    let admin = ingest_listeners.admin.local_addr()?;
    tokio::spawn(inbox_channel_ingest::run(ingest_settings, ingest_listeners, shutdown.clone()));
    // Its own stop: the accept figures below measure channel-ingest alone on the machine.
    let conversation_shutdown = CancellationToken::new();
    tokio::spawn(inbox_conversation::run(
        conversation_settings,
        Listeners::ephemeral().await?,
        conversation_shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let ready = format!("http://{address}/readyz");
    wait_until(Duration::from_secs(30), || {
        let r = client.get(&ready);
        async move { r.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .context("channel-ingest not ready")?;
    let ingest_store = IngestStore::new(sqlx::PgPool::connect(&ingest_db.url()).await?);
    ingest_store
        .upsert_whatsapp_account(
            Uuid::new_v4(),
            &NewWhatsAppAccount {
                phone_number_id: "1",
                display_phone_number: "",
                app_secret: SECRET,
                verify_token: "v",
                access_token: "",
                business_account_id: "",
            },
        )
        .await?;
    let events = async_nats::connect(nats.url()).await?;
    let mut created = events.subscribe("events.*.message.created").await?;

    // Webhook → message.created on the bus, one at a time.
    let mut next = 0;
    let sequential = signed_requests(next..next + 200);
    next += sequential.len();
    let mut connection = Connection::open(address).await?;
    let (mut accept_alone, mut end_to_end) = (Vec::new(), Vec::new());
    for request in sequential.iter() {
        let t = Instant::now();
        anyhow::ensure!(connection.send(request).await? == 200, "a webhook was refused");
        accept_alone.push(t.elapsed());
        tokio::time::timeout(Duration::from_secs(10), created.next()).await?.context("events ended")?;
        end_to_end.push(t.elapsed());
    }
    accept_alone.sort();
    end_to_end.sort();

    // Accepted per second, 32 at a time, with the conversation service storing them alongside.
    let with_conversation = signed_requests(next..next + 10_000);
    next += with_conversation.len();
    let accepted = load::closed_loop(address, with_conversation, 32, 200).await?;
    eprintln!("webhooks accepted, 32 in flight, conversation service storing: {accepted:.0}/s");

    // Saturation: channel-ingest alone (the conversation service would share the two cores;
    // INGEST keeps the messages), 128 connections.
    conversation_shutdown.cancel();
    let saturation = signed_requests(next..next + 60_000);
    next += saturation.len();
    let before = archive_batches(&client, admin, "insert").await?;
    let marks_before = archive_batches(&client, admin, "published").await?;
    let saturated = load::closed_loop(address, saturation.clone(), 128, 200).await?;
    eprintln!("webhooks accepted at saturation: {saturated:.0}/s");
    let after = archive_batches(&client, admin, "insert").await?;
    let per_insert = (after.0 - before.0) / (after.1 - before.1).max(1.0);
    let marks_after = archive_batches(&client, admin, "published").await?;
    let per_mark = (marks_after.0 - marks_before.0) / (marks_after.1 - marks_before.1).max(1.0);

    // The load generator's own ceiling: the same requests against a route answering 200 at once.
    let echo = axum::Router::new()
        .route(PATH, axum::routing::post(|_body: axum::body::Bytes| async { r#"{"status":"accepted"}"# }));
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let echo_address = echo_listener.local_addr()?;
    let echo_server = tokio::spawn(async move { axum::serve(echo_listener, echo).await });
    let ceiling = load::closed_loop(echo_address, saturation, 128, 200).await?;
    echo_server.abort();

    // Open loop: 5,000 webhooks/s offered for 6 s over 64 connections.
    let rate = 5_000u32;
    let offered = signed_requests(next..next + rate as usize * 6);
    let run = load::open_loop(address, offered.clone(), 64, rate, 200).await?;
    shutdown.cancel();
    Ok(vec![
        row(
            "signed webhook → message.created event p50 / p99",
            format!("{} / {}", ms(percentile(&end_to_end, 50.0)), ms(percentile(&end_to_end, 99.0))),
            "channel-ingest + conversation in process, sequential",
        ),
        row(
            "  of which accepted (200) p50 / p99",
            format!("{} / {}", ms(percentile(&accept_alone, 50.0)), ms(percentile(&accept_alone, 99.0))),
            "",
        ),
        row(
            "signed webhooks accepted, 32 in flight",
            format!("{accepted:.0} /s"),
            "conversation service storing them alongside",
        ),
        row(
            "signed webhooks accepted, 128 connections",
            format!("{saturated:.0} /s"),
            "one channel-ingest alone; archive committed + JetStream ack before each 200",
        ),
        row(
            "  payloads per archive insert / per published mark (mean)",
            format!("{per_insert:.1} / {per_mark:.1}"),
            "group commit at saturation",
        ),
        row(
            "  load generator ceiling: a route answering 200 at once",
            format!("{ceiling:.0} /s"),
            "same requests and connections, same process and cores",
        ),
        row(
            format!("  at {rate}/s offered: accept p50 / p99"),
            format!("{} / {}", ms(percentile(&run.latencies, 50.0)), ms(percentile(&run.latencies, 99.0))),
            format!(
                "open loop, {} webhooks on 64 connections, {:.0}/s achieved, {} refused",
                offered.len(),
                run.achieved_per_second,
                run.refused
            ),
        ),
    ])
}

/// `(payloads, statements)` of the archive inserts so far, from channel-ingest's metrics.
async fn archive_batches(
    client: &reqwest::Client,
    admin: std::net::SocketAddr,
    statement: &str,
) -> anyhow::Result<(f64, f64)> {
    let text = client.get(format!("http://{admin}/metrics")).send().await?.text().await?;
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(&format!("statement=\"{statement}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((value("inbox_ingest_archive_batch_payloads_sum"), value("inbox_ingest_archive_batch_payloads_count")))
}
