//! The outbox relay against real PostgreSQL and NATS: replicas relaying one outbox at once
//! publish every event and leave nothing behind, and a batch that cannot be published stays
//! in the outbox.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt as _;
use inbox_bus::{Bus, Envelope, Payload, new_envelope, subjects};
use inbox_proto::events::v1::SearchReindexRequested;
use inbox_service::outbox::{RelayError, relay_once};
use inbox_testkit::{TestDatabase, TestNats};
use prost::Message as _;
use sqlx::PgPool;
use uuid::Uuid;

const OUTBOX: &str = "CREATE TABLE outbox (id bigserial PRIMARY KEY, subject text NOT NULL, envelope bytea NOT NULL)";

async fn setup() -> (TestDatabase, PgPool, TestNats, Bus) {
    let db = TestDatabase::create("outbox").await.unwrap();
    let pool = PgPool::connect(&db.url()).await.unwrap();
    sqlx::query(OUTBOX).execute(&pool).await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let bus = Bus::connect(&nats.url(), "outbox-test").await.unwrap();
    bus.ensure_streams().await.unwrap();
    (db, pool, nats, bus)
}

/// Writes `n` events of `tenant` to the outbox; returns their ids.
async fn write_events(pool: &PgPool, tenant: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = Uuid::now_v7().to_string();
        let envelope =
            new_envelope(id.clone(), tenant, Payload::SearchReindexRequested(SearchReindexRequested::default()));
        sqlx::query("INSERT INTO outbox (subject, envelope) VALUES ($1, $2)")
            .bind(subjects::event(tenant, "search.reindex_requested"))
            .bind(envelope.encode_to_vec())
            .execute(pool)
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

async fn outbox_rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(pool).await.unwrap()
}

/// The event ids stored in the EVENTS stream for `tenant`, in stream order.
async fn published(bus: &Bus, tenant: &str) -> Vec<String> {
    let stream = bus.jetstream().get_stream("EVENTS").await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("events.{tenant}.>"),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = consumer.cached_info().num_pending as usize;
    let mut messages =
        consumer.fetch().max_messages(pending.max(1)).expires(Duration::from_secs(2)).messages().await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < pending {
        let message = messages.next().await.unwrap().unwrap();
        ids.push(Envelope::decode(message.payload.clone()).unwrap().event_id);
    }
    ids
}

#[tokio::test]
async fn replicas_relaying_one_outbox_publish_every_event_and_leave_nothing() {
    let (_db, pool, _nats, bus) = setup().await;
    let tenant = Uuid::now_v7().to_string();
    let written = write_events(&pool, &tenant, 1_500).await;

    // Three replicas at once, small batches so that they contend for rows.
    let replicas = (0..3).map(|_| {
        let (pool, bus) = (pool.clone(), bus.clone());
        tokio::spawn(async move {
            let mut relayed = 0;
            loop {
                match relay_once(&pool, &bus, 40).await.unwrap() {
                    0 => return relayed,
                    n => relayed += n,
                }
            }
        })
    });
    let relayed: usize = futures::future::join_all(replicas).await.into_iter().map(Result::unwrap).sum();

    assert_eq!(relayed, written.len(), "each row relayed by one replica only");
    assert_eq!(outbox_rows(&pool).await, 0);
    let ids = published(&bus, &tenant).await;
    assert_eq!(ids.len(), written.len(), "every event in the stream once");
    assert_eq!(ids.iter().collect::<HashSet<_>>(), written.iter().collect::<HashSet<_>>());
}

#[tokio::test]
async fn a_batch_that_cannot_be_published_stays_in_the_outbox() {
    let (_db, pool, _nats, bus) = setup().await;
    let tenant = Uuid::now_v7().to_string();
    let written = write_events(&pool, &tenant, 3).await;
    sqlx::query("INSERT INTO outbox (subject, envelope) VALUES ($1, $2)")
        .bind(subjects::event(&tenant, "search.reindex_requested"))
        .bind(b"not an envelope".to_vec())
        .execute(&pool)
        .await
        .unwrap();
    write_events(&pool, &tenant, 2).await;

    let failed = relay_once(&pool, &bus, 100).await;
    assert!(matches!(failed, Err(RelayError::Corrupt { .. })), "{failed:?}");
    assert_eq!(outbox_rows(&pool).await, 6, "the delete was rolled back with the batch");
    assert!(published(&bus, &tenant).await.is_empty(), "nothing of the batch went out");

    // The rows before the corrupt one go out in a batch that stops short of it; the corrupt
    // row keeps failing, and is kept.
    assert_eq!(relay_once(&pool, &bus, 3).await.unwrap(), 3);
    assert_eq!(published(&bus, &tenant).await, written);
    assert!(relay_once(&pool, &bus, 100).await.is_err());
    assert_eq!(outbox_rows(&pool).await, 3);
}
