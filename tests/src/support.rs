//! What the end-to-end tests share: setting up tenants and people the way an operator would
//! (with the built `inboxctl`), sending WhatsApp webhooks the way Meta would, and talking to
//! the gateway's REST API and WebSocket the way a client would.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use inbox_testkit::wait_until;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{Fleet, OPERATOR_TOKEN, bin_dir};

pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const APP_SECRET: &str = "e2e-meta-app-secret";

/// Runs the built inboxctl against the fleet's gateway and returns its `--json` output.
pub fn inboxctl(fleet: &Fleet, args: &[&str]) -> anyhow::Result<Value> {
    let output = std::process::Command::new(bin_dir()?.join("inboxctl"))
        .args(args)
        .arg("--json")
        .env("INBOX_GATEWAY_URL", fleet.http_url("gateway"))
        .env("INBOX_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .output()?;
    let value: Value =
        serde_json::from_slice(&output.stdout).with_context(|| format!("inboxctl {args:?} printed no JSON"))?;
    anyhow::ensure!(output.status.success(), "inboxctl {args:?} failed: {value}");
    Ok(value)
}

pub struct Tenant {
    pub id: String,
    /// Token of Sarah, an agent.
    pub token: String,
}

/// A tenant (Europe/Paris) with Sarah, an agent, and a WhatsApp number.
pub fn set_up_tenant(fleet: &Fleet, slug: &str, phone_number_id: &str) -> anyhow::Result<Tenant> {
    let tenant = inboxctl(
        fleet,
        &["tenant", "create", "--slug", slug, "--name", "Acme Support", "--time-zone", "Europe/Paris"],
    )?;
    let id = tenant["id"].as_str().context("tenant id")?.to_owned();
    let token = person_token(fleet, &id, "sarah@acme.test", "Sarah", "agent")?;
    inboxctl(
        fleet,
        &[
            "whatsapp",
            "add",
            "--tenant",
            &id,
            "--phone-number-id",
            phone_number_id,
            "--app-secret",
            APP_SECRET,
            "--verify-token",
            "vt",
            "--access-token",
            "EAAG",
        ],
    )?;
    Ok(Tenant { id, token })
}

/// Creates a person (or the AI account, role `ai`) of the tenant and returns their token.
pub fn person_token(fleet: &Fleet, tenant: &str, email: &str, name: &str, role: &str) -> anyhow::Result<String> {
    let person =
        inboxctl(fleet, &["agent", "create", "--tenant", tenant, "--email", email, "--name", name, "--role", role])?;
    Ok(person["token"].as_str().context("token")?.to_owned())
}

/// A Cloud API text-message webhook as Meta sends it.
pub fn webhook(phone_number_id: &str, wamid: &str, from: &str, text: &str, timestamp: i64) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string()
}

/// `X-Hub-Signature-256` of `body` with the app secret.
#[allow(clippy::expect_used)] // HMAC-SHA256 takes keys of any length
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn post_webhook(client: &reqwest::Client, fleet: &Fleet, body: &str, signature: &str) -> anyhow::Result<u16> {
    let response = client
        .post(format!("{}/webhooks/whatsapp", fleet.http_url("channel-ingest")))
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// A customer's WhatsApp text, correctly signed, accepted by channel-ingest.
pub async fn customer_writes(
    client: &reqwest::Client,
    fleet: &Fleet,
    wamid: &str,
    from: &str,
    text: &str,
) -> anyhow::Result<()> {
    let body = webhook(PHONE_NUMBER_ID, wamid, from, text, chrono::Utc::now().timestamp());
    let status = post_webhook(client, fleet, &body, &sign(APP_SECRET, &body)).await?;
    anyhow::ensure!(status == 200, "webhook {wamid} got {status}");
    Ok(())
}

pub async fn get_json(client: &reqwest::Client, url: String, token: &str) -> anyhow::Result<(u16, Value)> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Sends `body` with `method` and returns the status and the JSON answer.
pub async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let response = client.request(method, url).bearer_auth(token).json(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Waits until the conversation service has handled (and acked) everything on INGEST and its
/// outbox relay has published everything: then REST reads are final.
pub async fn wait_until_settled(fleet: &Fleet) -> anyhow::Result<()> {
    let client = async_nats::connect(fleet.nats.url()).await?;
    let js = async_nats::jetstream::new(client);
    wait_until(Duration::from_secs(30), || {
        let js = js.clone();
        async move {
            let mut stream = js.get_stream("INGEST").await.ok()?;
            let last = stream.info().await.ok()?.state.last_sequence;
            let mut consumer: async_nats::jetstream::consumer::PullConsumer =
                js.get_consumer_from_stream("conversation", "INGEST").await.ok()?;
            let info = consumer.info().await.ok()?;
            (info.num_pending == 0 && info.num_ack_pending == 0 && info.ack_floor.stream_sequence >= last).then_some(())
        }
    })
    .await
    .context("the conversation service did not drain INGEST")
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The live WebSocket of the person with `token`, after its `ready` frame.
pub async fn connect_stream(fleet: &Fleet, token: &str) -> anyhow::Result<Socket> {
    let url = format!("{}/v1/stream", fleet.http_url("gateway").replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(stream_request(&url, token)?).await?;
    next_frame_of_type(&mut socket, "ready").await?;
    Ok(socket)
}

/// The upgrade request of the live stream at `url`, with `token` in the `Authorization`
/// header (the gateway takes nothing but a short-lived ticket in the URL).
pub use inbox_load::agents::stream_request;

/// The next frame of type `kind`, skipping others; fails after 10 s.
pub async fn next_frame_of_type(socket: &mut Socket, kind: &str) -> anyhow::Result<Value> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame: Value = serde_json::from_str(socket.next().await.context("socket closed")??.to_text()?)?;
            if frame["type"] == kind {
                return anyhow::Ok(frame);
            }
        }
    })
    .await
    .with_context(|| format!("no {kind} frame"))?
}

/// The website the e2e tests embed the widget on.
pub const SHOP_ORIGIN: &str = "http://shop.test";

/// A web chat widget of `tenant` allowing `origins`; returns its public key.
pub fn add_webchat_widget(fleet: &Fleet, tenant: &str, origins: &[&str]) -> anyhow::Result<String> {
    let mut args =
        vec!["webchat", "add", "--tenant", tenant, "--name", "Acme Help", "--greeting", "Hi! How can we help?"];
    for origin in origins {
        args.extend(["--allowed-origin", origin]);
    }
    let widget = inboxctl(fleet, &args)?;
    Ok(widget["widget_key"].as_str().context("widget_key")?.to_owned())
}

/// The conversation whose customer address is `address`, once the inbox has it.
pub async fn conversation_with(
    client: &reqwest::Client,
    fleet: &Fleet,
    token: &str,
    address: &str,
) -> anyhow::Result<Value> {
    let url = format!("{}/v1/conversations?limit=100", fleet.http_url("gateway"));
    wait_until(Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            let (_, list) = get_json(client, url, token).await.ok()?;
            list["items"].as_array()?.iter().find(|c| c["customer_address"] == address).cloned()
        }
    })
    .await
    .with_context(|| format!("no conversation with {address}"))
}
