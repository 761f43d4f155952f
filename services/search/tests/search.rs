//! The search service in-process, on its own JetStream server and index directory.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_search::Settings;
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::service::{ServingStatus, get, grpc_health, sample};
use inbox_testkit::{TestNats, wait_until};
use prost::Message as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn settings(nats_url: String, index_dir: &Path) -> anyhow::Result<Settings> {
    let env = HashMap::from([
        ("INBOX__NATS__URL".to_owned(), nats_url),
        ("INBOX__SEARCH__INDEX_DIR".to_owned(), index_dir.display().to_string()),
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), "search-test-service-token".to_owned()),
        ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("INBOX__LOG__FORMAT".to_owned(), "json".to_owned()),
    ]);
    let settings: Settings = inbox_config::load(Settings::DEFAULTS, None, &env)?;
    settings.validate()?;
    Ok(settings)
}

#[tokio::test]
async fn every_event_is_consumed_including_a_redelivery() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let data = tempfile::tempdir()?;
    let index_dir = data.path().join("search");
    let listeners = Listeners::ephemeral().await?;
    let (http_addr, grpc_addr) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(inbox_search::run(settings(nats.url(), &index_dir)?, listeners, shutdown.clone()));

    // It becomes ready once NATS answers; the index directory exists by then.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let base = format!("http://{http_addr}");
    let ready = wait_until(Duration::from_secs(30), || async {
        get(&http, format!("{base}/readyz")).await.filter(|(status, _)| *status == 200)
    })
    .await;
    assert!(ready.is_some(), "/readyz did not answer 200 within 30 s");
    assert!(index_dir.is_dir(), "the index directory is created at start");
    assert_eq!(get(&http, format!("{base}/healthz")).await.map(|(status, _)| status), Some(200), "/healthz");
    assert_eq!(grpc_health(grpc_addr).await?, ServingStatus::Serving);

    // The same event arrives twice: once published, once more after the duplicate window.
    let bus = Bus::connect(&nats.url(), "search-test").await?;
    let tenant = Uuid::new_v4().to_string();
    let event_id = Uuid::now_v7().to_string();
    let envelope = new_envelope(&event_id, &tenant, Payload::MessageCreated(Default::default()));
    let subject = subjects::event(&tenant, "message.created");
    bus.publish(&subject, &envelope).await?;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{event_id}-redelivered").as_str());
    bus.jetstream().publish_with_headers(subject.clone(), headers, envelope.encode_to_vec().into()).await?.await?;

    let http = &http;
    let counted = wait_until(Duration::from_secs(10), move || async move {
        let metrics = get(http, format!("http://{http_addr}/metrics")).await?.1;
        let acked = sample(&metrics, "inbox_bus_consumed_total", &[r#"consumer="search""#, r#"outcome="acked""#])?;
        let counted = sample(&metrics, "inbox_search_events_total", &[r#"kind="message.created""#])?;
        (acked >= 2.0).then_some(counted)
    })
    .await;
    assert_eq!(counted, Some(2.0), "both deliveries are counted");

    shutdown.cancel();
    let stopped =
        tokio::time::timeout(Duration::from_secs(10), service).await.context("run did not return within 10 s")?;
    stopped??;
    Ok(())
}

#[tokio::test]
async fn an_index_directory_that_cannot_be_created_stops_the_service_at_start() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let occupied = data.path().join("a-file");
    std::fs::write(&occupied, b"")?;
    // No NATS is needed: the directory is checked before anything connects.
    let settings = settings("nats://127.0.0.1:1".into(), &occupied.join("search"))?;
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        inbox_search::run(settings, Listeners::ephemeral().await?, CancellationToken::new()),
    )
    .await
    .context("run did not return within 10 s")?;
    let error = outcome.err().context("run should refuse the index directory")?;
    assert!(error.to_string().contains("search index directory"), "{error}");
    Ok(())
}
