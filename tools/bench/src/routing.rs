//! Auto-routing by one routing service from JetStream: "needs human" events of conversations
//! no one holds go to the online members of the team taking WhatsApp hand-offs (50 agents,
//! least loaded, room for everything).
//!
//! - decisions per second: 20,000 events published at once; the clock runs from the first
//!   publish until every conversation is assigned (history, loads and outbox committed);
//! - latency: events paced at a steady rate; for each, the time from its publish until routing's
//!   `routing.assignment_changed` for it arrives on NATS (through the outbox relay).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use inbox_bus::{Bus, Envelope, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1::{Conversation, ConversationStatus};
use inbox_proto::events::v1::ConversationUpdated;
use inbox_routing::availability::AvailabilityBook;
use inbox_routing::domain::{Availability, Policy};
use inbox_routing::store::{AgentProfile, RoutingStore};
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Row, ms, percentile, row, service_env};

const AGENTS: usize = 50;
const BURST: usize = 20_000;

fn needs_human(tenant: Uuid, conversation: Uuid) -> (String, Envelope) {
    let tenant = tenant.to_string();
    let payload = Payload::ConversationUpdated(ConversationUpdated {
        conversation: Some(Conversation {
            id: conversation.to_string(),
            tenant_id: tenant.clone(),
            channel: Channel::Whatsapp as i32,
            status: ConversationStatus::Active as i32,
            version: 3,
            needs_human: true,
            needs_human_reason: "AI confidence 0.20 below 0.60".into(),
            ..Default::default()
        }),
    });
    (subjects::event(&tenant, "conversation.needs_human"), new_envelope(Uuid::now_v7().to_string(), &tenant, payload))
}

/// A tenant with one Support team of online agents with room for `room` conversations each.
async fn staffed_tenant(store: &RoutingStore, book: &AvailabilityBook, room: i32) -> anyhow::Result<Uuid> {
    let tenant = Uuid::now_v7();
    let team = store.upsert_team(tenant, None, "Support", Policy::LeastLoaded, &["whatsapp".to_owned()]).await?;
    for i in 0..AGENTS {
        let id = Uuid::now_v7();
        let email = format!("agent{i}@bench.test");
        let name = format!("Agent {i}");
        let profile =
            AgentProfile { id, name: &name, email: &email, role: "agent", time_zone: None, capacity: Some(room) };
        store.upsert_agent(tenant, &profile).await?;
        store.set_membership(tenant, team.id, id, true).await?;
        book.set(tenant, id, Availability::Online, Duration::from_secs(3600)).await?;
    }
    Ok(tenant)
}

pub async fn bench_routing() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let db = TestDatabase::create("bench_routing").await?;
    let bus = Bus::connect(&nats.url(), "bench").await?;
    bus.ensure_streams().await?;
    // `INBOX__ROUTING__MAX_BATCH=512 just bench routing` tries other settings.
    let env = service_env(
        db.url(),
        nats.url(),
        &[("INBOX__REDIS__URL", redis.url().to_owned()), ("INBOX__REDIS__KEY_PREFIX", redis.key_prefix().to_owned())],
        Some("INBOX__ROUTING__"),
    );
    let settings: inbox_routing::Settings = inbox_config::load(inbox_routing::Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let http = listeners.http.local_addr()?;
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(inbox_routing::run(settings, listeners, shutdown.clone()));
    let probe = reqwest::Client::new();
    wait_until(Duration::from_secs(60), || {
        let request = probe.get(format!("http://{http}/readyz"));
        async move { request.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .context("routing did not become ready")?;

    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let store = RoutingStore::new(pool.clone());
    let book = AvailabilityBook::new(
        redis::aio::ConnectionManager::new(redis::Client::open(redis.url())?).await?,
        redis.key_prefix().to_owned(),
    );

    // Throughput: a burst of hand-offs.
    let tenant = staffed_tenant(&store, &book, 1_000).await?;
    let events: Vec<(String, Envelope)> = (0..BURST).map(|_| needs_human(tenant, Uuid::now_v7())).collect();
    let started = Instant::now();
    for chunk in events.chunks(500) {
        bus.publish_all(chunk).await?;
    }
    let published = started.elapsed();
    let pool_ref = &pool;
    wait_until(Duration::from_secs(300), || async move {
        let assigned: i64 =
            sqlx::query_scalar("SELECT count(*) FROM conversations WHERE tenant_id = $1 AND assignee_id IS NOT NULL")
                .bind(tenant)
                .fetch_one(pool_ref)
                .await
                .ok()?;
        (assigned as usize >= BURST).then_some(())
    })
    .await
    .context("routing did not assign the burst")?;
    let burst_elapsed = started.elapsed();
    let max_load: i32 =
        sqlx::query_scalar("SELECT max(load) FROM agents WHERE tenant_id = $1").bind(tenant).fetch_one(&pool).await?;

    // Latency: a steady stream, each event timed to its assignment event.
    let mut rows = vec![row(
        "auto-routing decisions (burst of 20,000 hand-offs)",
        format!("{:.0} decisions/s", BURST as f64 / burst_elapsed.as_secs_f64()),
        format!(
            "{AGENTS} online agents, least loaded, one replica; publish took {}; busiest agent {max_load}",
            ms(published)
        ),
    )];
    for rate in [1_000usize, 5_000] {
        rows.push(latency_at(&bus, &nats, &store, &book, rate).await?);
    }
    shutdown.cancel();
    let _ = service.await;
    pool.close().await;
    Ok(rows)
}

/// p50/p99 from a "needs human" publish to its assignment event, at `rate` events/s for 4 s.
async fn latency_at(
    bus: &Bus,
    nats: &TestNats,
    store: &RoutingStore,
    book: &AvailabilityBook,
    rate: usize,
) -> anyhow::Result<Row> {
    let tenant = staffed_tenant(store, book, 1_000).await?;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let client = async_nats::connect(nats.url()).await?;
    let mut assignments = client.subscribe(subjects::event(&tenant.to_string(), "routing.assignment_changed")).await?;
    let total = rate * 4;
    let receiver = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(total);
            while latencies.len() < total {
                let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(30), assignments.next()).await else {
                    break;
                };
                let arrived = Instant::now();
                let Ok(envelope) = Envelope::decode(message.payload) else { continue };
                let Some(Payload::RoutingAssignmentChanged(change)) = envelope.payload else { continue };
                if change.assignee_id.is_empty() {
                    continue; // the team step; the agent's assignment follows
                }
                let started = sent.lock().ok().and_then(|s| s.get(&change.conversation_id).copied());
                if let Some(started) = started {
                    latencies.push(arrived - started);
                }
            }
            latencies
        })
    };
    // Every 10 ms, one pipelined publish of rate/100 events.
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut published = 0;
    while published < total {
        tick.tick().await;
        let batch: Vec<(String, Envelope)> = (0..per_tick.min(total - published))
            .map(|_| {
                let id = Uuid::now_v7();
                (id, needs_human(tenant, id))
            })
            .map(|(id, event)| {
                if let Ok(mut s) = sent.lock() {
                    s.insert(id.to_string(), Instant::now());
                }
                event
            })
            .collect();
        published += batch.len();
        bus.publish_all(&batch).await?;
    }
    let mut latencies = receiver.await?;
    latencies.sort();
    Ok(row(
        format!("needs human -> agent assignment event, {rate}/s"),
        format!("p99 {}", ms(percentile(&latencies, 99.0))),
        format!(
            "p50 {}; {} of {total} measured; through JetStream, one routing replica and its outbox relay",
            ms(percentile(&latencies, 50.0)),
            latencies.len()
        ),
    ))
}
