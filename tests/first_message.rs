//! The first path, end to end, through the built binaries: a signed WhatsApp webhook reaches
//! an agent's WebSocket and the REST API; retries are stored once; bad signatures change
//! nothing; a crash of the conversation service loses and doubles nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, get_json, next_frame_of_type, post_webhook, set_up_tenant, sign, stream_request,
    wait_until_settled, webhook,
};
use inbox_e2e::{Fleet, SERVICES};
use serde_json::{Value, json};

#[tokio::test]
async fn a_signed_whatsapp_message_reaches_the_agents_websocket_and_the_rest_api() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();

    // The agent is connected and listening before the customer writes.
    let ws_url = format!("{}/v1/stream", fleet.http_url("gateway").replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_request(&ws_url, &tenant.token)?).await?;
    let ready = socket.next().await.context("socket closed")??;
    assert_eq!(serde_json::from_str::<Value>(ready.to_text()?)?["type"], "ready");

    let now = chrono::Utc::now().timestamp();
    let body = webhook(PHONE_NUMBER_ID, "wamid.E2E.1", "16505551234", "Does it come in another color?", now);
    let started = std::time::Instant::now();
    assert_eq!(post_webhook(&client, &fleet, &body, &sign(APP_SECRET, &body)).await?, 200);

    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame: Value = serde_json::from_str(socket.next().await.context("socket closed")??.to_text()?)?;
            if frame["type"] == "message.created" {
                return anyhow::Ok(frame);
            }
        }
    })
    .await
    .context("no message.created on the agent's WebSocket")??;
    let latency = started.elapsed();
    assert_eq!(frame["message"]["content"]["text"], "Does it come in another color?");
    assert_eq!(frame["message"]["sender_kind"], "customer");
    assert_eq!(frame["conversation"]["contact"]["display_name"], "Sheena Nelson");
    assert!(latency < Duration::from_secs(10));
    eprintln!("webhook → agent WebSocket: {latency:?}");

    let (status, list) =
        get_json(&client, format!("{}/v1/conversations", fleet.http_url("gateway")), &tenant.token).await?;
    assert_eq!(status, 200);
    let conversations = list["items"].as_array().context("items")?;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0]["status"], "active");
    assert_eq!(conversations[0]["channel"], "whatsapp");
    let conversation_id = conversations[0]["id"].as_str().context("id")?.to_owned();
    let messages_url = format!("{}/v1/conversations/{conversation_id}/messages", fleet.http_url("gateway"));
    let (_, messages) = get_json(&client, messages_url.clone(), &tenant.token).await?;
    assert_eq!(messages["items"][0]["external_id"], "wamid.E2E.1");

    // Meta retries the same webhook: stored once.
    assert_eq!(post_webhook(&client, &fleet, &body, &sign(APP_SECRET, &body)).await?, 200);
    // A forged webhook: refused, nothing stored.
    let forged = webhook(PHONE_NUMBER_ID, "wamid.E2E.forged", "16505551234", "transfer the money", now);
    assert_eq!(post_webhook(&client, &fleet, &forged, &sign("wrong-secret", &forged)).await?, 401);
    // A malformed body: 400 with a JSON error.
    let response = client
        .post(format!("{}/webhooks/whatsapp", fleet.http_url("channel-ingest")))
        .header("X-Hub-Signature-256", sign(APP_SECRET, "{oops"))
        .body("{oops")
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await?["error"]["code"], "invalid_argument");

    wait_until_settled(&fleet).await?;
    let (_, messages) = get_json(&client, messages_url, &tenant.token).await?;
    let ids: Vec<&str> =
        messages["items"].as_array().context("items")?.iter().filter_map(|m| m["external_id"].as_str()).collect();
    assert_eq!(ids, ["wamid.E2E.1"], "the retry was stored once and the forgery not at all");

    // Without a token, or with another tenant's view of things: nothing.
    let (status, _) =
        get_json(&client, format!("{}/v1/conversations", fleet.http_url("gateway")), "not-a-token").await?;
    assert_eq!(status, 401);
    let other = set_up_tenant(&fleet, "globex", "200000000000001")?;
    let (_, theirs) =
        get_json(&client, format!("{}/v1/conversations", fleet.http_url("gateway")), &other.token).await?;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
    let (status, _) =
        get_json(&client, format!("{}/v1/conversations/{conversation_id}", fleet.http_url("gateway")), &other.token)
            .await?;
    assert_eq!(status, 404, "another tenant's conversation does not exist for them");
    let _ = tenant.id;

    // Every service stops cleanly on SIGTERM.
    for name in SERVICES {
        let status = fleet.terminate(name).await?;
        assert!(status.success(), "inbox-{name} exited with {status}");
    }
    Ok(())
}

#[tokio::test]
async fn every_message_is_stored_exactly_once_across_a_crash_of_the_conversation_service() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "crashy", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();
    let base = chrono::Utc::now().timestamp() - 10_000;
    const TOTAL: usize = 300;

    // Eight webhooks in flight at a time, as a busy provider would send them.
    let send = |range: std::ops::Range<usize>| {
        let client = client.clone();
        let url = format!("{}/webhooks/whatsapp", fleet.http_url("channel-ingest"));
        async move {
            futures::stream::iter(range)
                .map(|i| {
                    let client = client.clone();
                    let url = url.clone();
                    async move {
                        let body = webhook(
                            PHONE_NUMBER_ID,
                            &format!("wamid.crash.{i}"),
                            "16505550000",
                            &format!("message {i}"),
                            base + i as i64,
                        );
                        let status = client
                            .post(&url)
                            .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
                            .body(body)
                            .send()
                            .await?
                            .status();
                        anyhow::ensure!(status == 200, "webhook {i} got {status}");
                        anyhow::Ok(())
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<anyhow::Result<Vec<()>>>()
                .map(|_| ())
        }
    };
    send(0..100).await?;
    // Messages keep flowing while the conversation service crashes and comes back.
    let sender = tokio::spawn(send(100..TOTAL));
    fleet.kill("conversation")?;
    fleet.restart("conversation").await?;
    sender.await??;
    wait_until_settled(&fleet).await?;

    // Every message is in the conversation once, in the order the customer sent them.
    let (_, list) = get_json(&client, format!("{}/v1/conversations", fleet.http_url("gateway")), &tenant.token).await?;
    let conversation_id = list["items"][0]["id"].as_str().context("conversation")?.to_owned();
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!(
            "{}/v1/conversations/{conversation_id}/messages?limit=200&cursor={cursor}",
            fleet.http_url("gateway")
        );
        let (status, page) = get_json(&client, url, &tenant.token).await?;
        anyhow::ensure!(status == 200, "messages page: {page}");
        ids.extend(
            page["items"]
                .as_array()
                .context("items")?
                .iter()
                .filter_map(|m| m["external_id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..TOTAL).map(|i| format!("wamid.crash.{i}")).collect();
    assert_eq!(ids, expected);
    Ok(())
}

#[tokio::test]
async fn an_agent_replies_once_despite_a_retry_and_resolves_the_conversation_through_the_rest_api() -> anyhow::Result<()>
{
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "replies", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let ws_url = format!("{}/v1/stream", gateway.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_request(&ws_url, &tenant.token)?).await?;
    next_frame_of_type(&mut socket, "ready").await?;

    let body =
        webhook(PHONE_NUMBER_ID, "wamid.R.1", "16505551234", "Where is my parcel?", chrono::Utc::now().timestamp());
    assert_eq!(post_webhook(&client, &fleet, &body, &sign(APP_SECRET, &body)).await?, 200);
    let created = next_frame_of_type(&mut socket, "message.created").await?;
    let conversation_id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();

    // The agent's client sends the reply, loses the answer, and sends it again.
    let send = || {
        client
            .post(format!("{gateway}/v1/conversations/{conversation_id}/messages"))
            .bearer_auth(&tenant.token)
            .header("Idempotency-Key", "reply-7f3a")
            .json(&json!({"text": "It left our warehouse this morning."}))
            .send()
    };
    let first = send().await?;
    assert_eq!(first.status(), 201);
    let second = send().await?;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await?["replayed"], true);
    let reply = next_frame_of_type(&mut socket, "message.created").await?;
    assert_eq!(reply["message"]["sender_kind"], "agent");

    // Bad input changes nothing.
    let response = client
        .post(format!("{gateway}/v1/conversations/{conversation_id}/messages"))
        .bearer_auth(&tenant.token)
        .json(&json!({"text": "no key"}))
        .send()
        .await?;
    assert_eq!(response.status(), 400);

    let resolved = client
        .post(format!("{gateway}/v1/conversations/{conversation_id}/status"))
        .bearer_auth(&tenant.token)
        .json(&json!({"status": "resolved", "reason": "parcel located"}))
        .send()
        .await?;
    assert_eq!(resolved.status(), 200);
    let frame = next_frame_of_type(&mut socket, "conversation.status_changed").await?;
    assert_eq!(frame["change"]["to"], "resolved");
    assert_eq!(frame["change"]["reason"], "parcel located");

    let (_, history) =
        get_json(&client, format!("{gateway}/v1/conversations/{conversation_id}/status-history"), &tenant.token)
            .await?;
    assert_eq!(history["items"][0]["from"], "active");
    assert_eq!(history["items"][0]["to"], "resolved");
    assert!(history["items"][0]["actor"].as_str().is_some_and(|a| a.starts_with("user:")));

    let (_, messages) =
        get_json(&client, format!("{gateway}/v1/conversations/{conversation_id}/messages"), &tenant.token).await?;
    assert_eq!(messages["items"].as_array().map(Vec::len), Some(2), "the customer's message and one reply");

    // Queued once for delivery on the customer's channel.
    let nats = async_nats::connect(fleet.nats.url()).await?;
    let mut outbound = async_nats::jetstream::new(nats).get_stream("OUTBOUND").await?;
    assert_eq!(outbound.info().await?.state.messages, 1);

    // A person raises the priority, with a reason; the team sees it live.
    let prioritised = client
        .post(format!("{gateway}/v1/conversations/{conversation_id}/priority"))
        .bearer_auth(&tenant.token)
        .json(&json!({"priority": "urgent", "reason": "customer is travelling tomorrow"}))
        .send()
        .await?;
    assert_eq!(prioritised.status(), 200);
    let frame = next_frame_of_type(&mut socket, "conversation.priority_changed").await?;
    assert_eq!(frame["conversation"]["priority"], "urgent");
    assert_eq!(frame["conversation"]["priority_source"], "manual");
    assert_eq!(frame["conversation"]["priority_reason"], "customer is travelling tomorrow");

    // Only admins change the tenant's rules; agents read them.
    let (status, rules) = get_json(&client, format!("{gateway}/v1/settings/status-rules"), &tenant.token).await?;
    assert_eq!((status, rules["pending_timeout_seconds"].as_u64()), (200, Some(3600)));
    let denied = client
        .put(format!("{gateway}/v1/settings/status-rules"))
        .bearer_auth(&tenant.token)
        .json(&json!({"pending_timeout_seconds": 60, "auto_archive_seconds": 60, "reopen_on_customer_message": true}))
        .send()
        .await?;
    assert_eq!(denied.status(), 403);
    Ok(())
}
