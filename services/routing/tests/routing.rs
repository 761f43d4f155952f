//! The routing service in-process, on its own database, JetStream server and Redis key prefix.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_routing::Settings;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::service::{ServingStatus, get, grpc_health, sample};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test]
async fn a_redelivered_event_is_recorded_once() -> anyhow::Result<()> {
    let db = TestDatabase::create("routing").await?;
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let env = HashMap::from([
        ("INBOX__POSTGRES__URL".to_owned(), db.url()),
        ("INBOX__NATS__URL".to_owned(), nats.url()),
        ("INBOX__REDIS__URL".to_owned(), redis.url().to_owned()),
        ("INBOX__REDIS__KEY_PREFIX".to_owned(), redis.key_prefix().to_owned()),
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), "routing-test-service-token".to_owned()),
        ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("INBOX__LOG__FORMAT".to_owned(), "json".to_owned()),
        // Other suites share the PostgreSQL server (100 connections).
        ("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "8".to_owned()),
    ]);
    let settings: Settings = inbox_config::load(Settings::DEFAULTS, None, &env)?;
    settings.validate()?;
    let listeners = Listeners::ephemeral().await?;
    let (http_addr, grpc_addr) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let admin_addr = listeners.admin.local_addr()?;
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(inbox_routing::run(settings, listeners, shutdown.clone()));

    // It becomes ready once Postgres (migrated), NATS and Redis answer.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let base = format!("http://{http_addr}");
    let ready = wait_until(Duration::from_secs(30), || async {
        get(&http, format!("{base}/readyz")).await.filter(|(status, _)| *status == 200)
    })
    .await;
    assert!(ready.is_some(), "/readyz did not answer 200 within 30 s");
    assert_eq!(get(&http, format!("{base}/healthz")).await.map(|(status, _)| status), Some(200), "/healthz");
    assert_eq!(grpc_health(grpc_addr).await?, ServingStatus::Serving);

    // The same event arrives twice: once published, once more after the duplicate window.
    let bus = Bus::connect(&nats.url(), "routing-test").await?;
    let tenant = Uuid::new_v4().to_string();
    let event_id = Uuid::now_v7().to_string();
    let envelope = new_envelope(&event_id, &tenant, Payload::MessageCreated(Default::default()));
    let subject = subjects::event(&tenant, "message.created");
    bus.publish(&subject, &envelope).await?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{event_id}-redelivered").as_str());
    bus.jetstream().publish_with_headers(subject.clone(), headers, envelope.encode_to_vec().into()).await?.await?;

    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let (http, pool, event_id) = (&http, &pool, event_id.as_str());
    let handled = wait_until(Duration::from_secs(10), move || async move {
        let metrics = get(http, format!("http://{admin_addr}/metrics")).await?.1;
        let acked = sample(&metrics, "inbox_bus_consumed_total", &[r#"consumer="routing""#, r#"outcome="acked""#])?;
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(pool)
            .await
            .ok()?;
        let counted = |first_seen: &str| {
            sample(&metrics, "inbox_routing_events_total", &[r#"kind="message.created""#, first_seen]).unwrap_or(0.0)
        };
        (acked >= 2.0).then(|| (rows, counted(r#"first_seen="true""#), counted(r#"first_seen="false""#)))
    })
    .await;
    assert_eq!(handled, Some((1, 1.0, 1.0)), "one ledger row; one first sighting, one repeat");
    pool.close().await;

    shutdown.cancel();
    let stopped =
        tokio::time::timeout(Duration::from_secs(10), service).await.context("run did not return within 10 s")?;
    stopped??;
    Ok(())
}
