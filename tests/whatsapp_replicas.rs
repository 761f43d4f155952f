//! channel-ingest is stateless: two replicas take webhooks (the same ones, raced to both) and
//! deliver replies from one shared consumer; every customer message is stored once and every
//! reply reaches the provider once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;

use inbox_e2e::graph::fleet_with_graph;
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, get_json, send_json, set_up_tenant, sign, wait_until_settled, webhook,
};
use inbox_testkit::wait_until;
use serde_json::{Value, json};

const CUSTOMERS: usize = 40;

#[tokio::test]
async fn two_replicas_store_every_message_once_and_send_every_reply_once() -> anyhow::Result<()> {
    let (mut fleet, graph) = fleet_with_graph().await?;
    let tenant = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let second = fleet.start_replica("channel-ingest").await?;
    let replicas = [fleet.http_url("channel-ingest"), second];
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp();

    // Each webhook goes to both replicas at once, as a Meta retry racing the first try would.
    let poster = client.clone();
    let posts = (0..CUSTOMERS).flat_map(move |i| {
        let client = poster.clone();
        let body = webhook(PHONE_NUMBER_ID, &format!("wamid.R.{i}"), &format!("1650555{i:04}"), "Hello", now - 60);
        let signature = sign(APP_SECRET, &body);
        let replicas = replicas.clone();
        replicas.into_iter().map(move |base| {
            let (client, body, signature) = (client.clone(), body.clone(), signature.clone());
            async move {
                client
                    .post(format!("{base}/webhooks/whatsapp"))
                    .header("X-Hub-Signature-256", signature)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        })
    });
    for status in futures::future::join_all(posts).await {
        assert_eq!(status?, 200);
    }
    wait_until_settled(&fleet).await?;

    let gateway = fleet.http_url("gateway");
    let (_, list) = get_json(&client, format!("{gateway}/v1/conversations?limit=200"), &tenant.token).await?;
    let conversations: Vec<String> =
        list["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(conversations.len(), CUSTOMERS);
    for id in &conversations {
        let (_, page) = get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token).await?;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "stored once");
    }

    // One reply per conversation, eight at a time: the replicas share the outbound consumer.
    // A busy machine may answer 503; the client retries with the same key, as documented.
    let replies = conversations.iter().map(|id| {
        let client = client.clone();
        let (url, token) = (format!("{gateway}/v1/conversations/{id}/messages"), tenant.token.clone());
        async move {
            let body = json!({"text": "On its way", "idempotency_key": "r1"});
            let mut last = 0;
            for _ in 0..5 {
                last = send_json(&client, reqwest::Method::POST, url.clone(), &token, &body).await?.0;
                if last != 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            anyhow::Ok(last)
        }
    });
    let statuses: Vec<anyhow::Result<u16>> = futures::stream::iter(replies).buffer_unordered(8).collect().await;
    for status in statuses {
        assert!(matches!(status?, 200 | 201), "stored once, or replayed by its key");
    }
    wait_until(Duration::from_secs(30), || async { (graph.sends().len() >= CUSTOMERS).then_some(()) })
        .await
        .context("not every reply reached the provider")?;
    // Every delivery is recorded as accepted before we look for duplicates.
    wait_until(Duration::from_secs(30), || async {
        for id in &conversations {
            let (_, page) =
                get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token).await.ok()?;
            let accepted = page["items"].as_array()?.iter().any(|m: &Value| m["delivery"]["state"] == "accepted");
            if !accepted {
                return None;
            }
        }
        Some(())
    })
    .await
    .context("not every delivery was recorded as accepted")?;
    let sends = graph.sends();
    let recipients: HashSet<String> = sends.iter().map(|s| s.body["to"].as_str().unwrap().to_owned()).collect();
    assert_eq!((sends.len(), recipients.len()), (CUSTOMERS, CUSTOMERS), "each reply reached the provider once");
    Ok(())
}
