//! Inbound messages stored per second by one conversation service from JetStream: 50,000
//! WhatsApp messages from 5,000 customers wait on INGEST, the service starts, and the clock
//! runs until every one is stored (contact, conversation, message and outbox rows written) and
//! acked.

use std::time::{Duration, Instant};

use anyhow::Context;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Row, inbound, row, service_env};

const MESSAGES: usize = 50_000;
const CUSTOMERS: usize = 5_000;

/// The URL the service under measurement connects with. `BENCH_POSTGRES_SSLMODE` (e.g.
/// `prefer`, sqlx's default) overrides the service's choice of no TLS on loopback, to compare.
fn service_url(db: &TestDatabase) -> String {
    match std::env::var("BENCH_POSTGRES_SSLMODE") {
        Ok(mode) => format!("{}?sslmode={mode}", db.url()),
        Err(_) => db.url(),
    }
}

/// Another deployment's history for `bench_ingest`'s second run: 50 tenants, 20,000 customers
/// and conversations, 100,000 messages, analysed. The tenant under measurement is new to the
/// statistics, which then call it empty: the case a plan chosen on the tenant's estimated size
/// gets wrong.
const OTHER_TENANTS: &str = "\
    INSERT INTO contacts (tenant_id, id, display_name) \
      SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, \
        ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid, 'customer ' || g FROM generate_series(1, 20000) g; \
    INSERT INTO contact_identities (tenant_id, channel, address, contact_id) \
      SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, 'whatsapp', '1777' || lpad(g::text, 7, '0'), \
        ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 20000) g; \
    INSERT INTO conversations (tenant_id, id, contact_id, channel, channel_account_id, customer_address, last_message_at) \
      SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, \
        ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid, ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid, \
        'whatsapp', 'other', '1777' || lpad(g::text, 7, '0'), now() - g * interval '1 minute' FROM generate_series(1, 20000) g; \
    INSERT INTO messages (tenant_id, id, conversation_id, channel, external_id, sender_kind, sender_id, content, body, sent_at) \
      SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid, gen_random_uuid(), \
        ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid, 'whatsapp', 'other.' || g || '.' || k, 'customer', \
        '1777' || lpad(g::text, 7, '0'), '\\x'::bytea, 'hello', now() FROM generate_series(1, 20000) g, generate_series(1, 5) k; \
    ANALYZE";

/// Both runs: into an empty database, and as a new tenant of a database holding others.
pub async fn bench_ingest() -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    rows.push(ingest_run("inbound messages stored from JetStream", None).await?);
    rows.push(ingest_run("inbound messages stored, new tenant in an analysed database", Some(OTHER_TENANTS)).await?);
    Ok(rows)
}

async fn ingest_run(name: &str, history: Option<&'static str>) -> anyhow::Result<Row> {
    let nats = TestNats::start().await?;
    let db = TestDatabase::create("bench_ingest_store").await?;
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;
    let tenant = Uuid::now_v7();
    let subject = subjects::ingest(Channel::Whatsapp, &tenant.to_string());
    for chunk in (0..MESSAGES).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let message = inbound(tenant, i, &format!("1888{:07}", i % CUSTOMERS));
                (
                    subject.clone(),
                    new_envelope(format!("ingest-bench-{i}"), tenant.to_string(), Payload::InboundMessage(message)),
                )
            })
            .collect();
        bus.publish_all(&batch).await?;
    }

    // `INBOX__CONVERSATION__BATCH_WORKERS=4 just bench ingest` tries other settings.
    let env = service_env(service_url(&db), nats.url(), &[], Some("INBOX__CONVERSATION__"));
    let settings: inbox_conversation::Settings =
        inbox_config::load(inbox_conversation::Settings::DEFAULTS, None, &env)?;
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    // Migrations are a deploy's one-time cost, not the service's throughput: applied before the
    // clock starts (the service then finds nothing to do).
    inbox_conversation::store::MIGRATOR.run(&pool).await?;
    if let Some(history) = history {
        sqlx::raw_sql(history).execute(&pool).await.context("other tenants' history")?;
    }
    // `BENCH_INGEST_SQL="DROP INDEX ..."` tries a schema variant: run after migrating.
    if let Ok(variant) = std::env::var("BENCH_INGEST_SQL") {
        sqlx::raw_sql(sqlx::AssertSqlSafe(variant)).execute(&pool).await.context("BENCH_INGEST_SQL")?;
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let service = tokio::spawn(inbox_conversation::run(settings, Listeners::ephemeral().await?, shutdown.clone()));
    let js = bus.jetstream().clone();
    wait_until(Duration::from_secs(600), || {
        let js = js.clone();
        async move {
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                js.get_consumer_from_stream("conversation", "INGEST").await.ok()?;
            let info = consumer.info().await.ok()?;
            (info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence >= MESSAGES as u64)
                .then_some(())
        }
    })
    .await
    .context("the conversation service did not drain INGEST")?;
    let elapsed = started.elapsed();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1").bind(tenant).fetch_one(&pool).await?;
    // From the first batch's transaction to the last one's: the rate once the service runs.
    let first_to_last: f64 = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM max(created_at) - min(created_at))::float8 FROM messages WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await?;
    eprintln!("first to last batch: {first_to_last:.3} s of {:.3} s", elapsed.as_secs_f64());
    anyhow::ensure!(stored as usize == MESSAGES, "stored {stored} of {MESSAGES}");
    shutdown.cancel();
    let _ = service.await;
    let setting =
        if history.is_some() { "50 other tenants' history analysed before" } else { "database migrated before" };
    Ok(row(
        name,
        format!("{:.0} msg/s", MESSAGES as f64 / elapsed.as_secs_f64()),
        format!(
            "{MESSAGES} messages, {CUSTOMERS} customers, one service, batched; clock from service start ({setting})"
        ),
    ))
}

/// The store alone: `append_inbound_batch` with batches of 256, one connection at a time.
pub async fn bench_batch_store() -> anyhow::Result<Vec<Row>> {
    let db = TestDatabase::create("bench_batch").await?;
    let settings = inbox_config::PostgresSettings { url: service_url(&db), max_connections: 4 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &inbox_conversation::store::MIGRATOR).await?;
    let store = inbox_conversation::store::ConversationStore::new(pool);
    let tenant = Uuid::now_v7();
    let batches = 40;
    let size = 256;
    let mut latencies = Vec::with_capacity(batches);
    let started = Instant::now();
    for b in 0..batches {
        let batch: Vec<_> = (0..size)
            .map(|i| {
                let n = b * size + i;
                (tenant, inbound(tenant, n, &format!("1999{:07}", n % CUSTOMERS)))
            })
            .collect();
        let t = Instant::now();
        store.append_inbound_batch(&batch).await?;
        latencies.push(t.elapsed());
    }
    let rate = (batches * size) as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok(vec![row(
        "inbound messages stored, batches of 256 (store only)",
        format!("{rate:.0} msg/s"),
        format!(
            "batch p50 {} / p99 {}; new customers included",
            crate::ms(crate::percentile(&latencies, 50.0)),
            crate::ms(crate::percentile(&latencies, 99.0))
        ),
    )])
}
