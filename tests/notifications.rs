//! Notifications end to end through the built binaries: a WhatsApp customer the AI cannot help
//! is routed to an available agent, whose WebSocket receives "assigned to you" (routing →
//! conversation → notification → `notify.<tenant>.<user>` → the gateway → that agent's socket
//! only).
//!
//! The fleet's notification process is replaced by one that knows routing's address
//! (`INBOX__NOTIFICATION__ROUTING_URL`), which the shared fleet does not pass yet (nor the
//! gateway's `INBOX__GATEWAY__NOTIFICATION_URL`, so the centre's REST routes are left to the
//! service's own tests).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use inbox_e2e::support::{
    PHONE_NUMBER_ID, connect_stream, customer_writes, inboxctl, next_frame_of_type, person_token, send_json,
    set_up_tenant,
};
use inbox_e2e::{Fleet, bin_dir, identity_env};
use inbox_testkit::{free_port, wait_until};
use reqwest::Method;
use serde_json::json;

/// A notification process on the fleet's store and bus that asks the fleet's routing for people.
struct Notification(std::process::Child);

impl Drop for Notification {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_notification(fleet: &mut Fleet) -> anyhow::Result<Notification> {
    let database = fleet.database_url("notification").context("notification database")?.to_owned();
    fleet.kill("notification")?;
    let (http, grpc) = (free_port(), free_port());
    let child = Command::new(bin_dir()?.join("inbox-notification"))
        .env("INBOX__HTTP__ADDR", format!("127.0.0.1:{http}"))
        .env("INBOX__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
        .env("INBOX__HTTP__ADMIN_ADDR", "127.0.0.1:0")
        .env("INBOX__POSTGRES__URL", database)
        .env("INBOX__POSTGRES__MAX_CONNECTIONS", "8")
        .env("INBOX__NATS__URL", fleet.nats.url())
        .envs(identity_env("notification"))
        .env("INBOX__NOTIFICATION__ROUTING_URL", format!("http://127.0.0.1:{}", fleet.grpc_port("routing")))
        .env("INBOX__LOG__LEVEL", "warn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let client = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(30), || {
        let request = client.get(format!("http://127.0.0.1:{http}/readyz"));
        async move { request.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
    anyhow::ensure!(ready.is_some(), "notification not ready");
    Ok(Notification(child))
}

#[tokio::test]
async fn an_agent_is_told_live_when_routing_assigns_a_whatsapp_conversation_to_them() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let _notification = start_notification(&mut fleet).await?;
    let tenant = set_up_tenant(&fleet, "notify", PHONE_NUMBER_ID)?;
    let ai = person_token(&fleet, &tenant.id, "ai@acme.test", "Acme Assistant", "ai")?;
    let created = inboxctl(
        &fleet,
        &[
            "agent",
            "create",
            "--tenant",
            &tenant.id,
            "--email",
            "tom@acme.test",
            "--name",
            "Tom",
            "--role",
            "agent",
            "--capacity",
            "3",
        ],
    )?;
    let tom = created["user"]["id"].as_str().context("user id")?.to_owned();
    let tom_token = created["token"].as_str().context("token")?.to_owned();
    let team = inboxctl(
        &fleet,
        &["team", "create", "--tenant", &tenant.id, "--name", "Support", "--handoff-channel", "whatsapp"],
    )?;
    let team_id = team["id"].as_str().context("team id")?.to_owned();
    inboxctl(&fleet, &["team", "add-member", "--tenant", &tenant.id, "--team", &team_id, "--user", &tom])?;

    // Tom and Sarah have the inbox open; Tom's socket makes him available.
    let mut tom_socket = connect_stream(&fleet, &tom_token).await?;
    let mut sarah_socket = connect_stream(&fleet, &tenant.token).await?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");

    // A customer writes; the AI is unsure; routing assigns the conversation to Tom.
    customer_writes(&client, &fleet, "wamid.NOTIFY.1", "16505550101", "I was charged twice").await?;
    let created = next_frame_of_type(&mut tom_socket, "message.created").await?;
    let id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();
    let unsure = json!({"text": "Let me check.", "confidence": 0.1, "idempotency_key": "ai-notify-1"});
    let (status, _) =
        send_json(&client, Method::POST, format!("{gateway}/v1/conversations/{id}/ai-messages"), &ai, &unsure).await?;
    assert_eq!(status, 201);

    // "Assigned to you" reaches Tom's socket, with what a browser needs.
    let assigned = loop {
        let frame = next_frame_of_type(&mut tom_socket, "notification").await?;
        if frame["notification"]["type"] == "assigned" {
            break frame;
        }
    };
    let n = &assigned["notification"];
    assert_eq!(n["conversation_id"], id.as_str());
    assert_eq!(n["title"], "Assigned to you");
    assert_eq!((n["sound"].as_bool(), n["browser"].as_bool()), (Some(true), Some(true)), "assigned: all alerts");
    // Sarah's socket never gets Tom's notification (she has her own "new conversation" ones).
    let sarah_saw = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let frame = next_frame_of_type(&mut sarah_socket, "notification").await?;
            if frame["notification"]["type"] == "assigned" {
                return anyhow::Ok(frame);
            }
        }
    })
    .await;
    assert!(!matches!(sarah_saw, Ok(Ok(_))), "another person's notification leaked");

    Ok(())
}
