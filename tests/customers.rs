//! The customer info panel, end to end through the built binaries: a WhatsApp message creates a
//! customer; an agent reads the profile, adds contact info and attributes, an integration syncs
//! a card twice, and the team's lists show the new name live.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use inbox_e2e::{Fleet, OPERATOR_TOKEN, bin_dir};
use serde_json::{Value, json};
use sha2::Sha256;

const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "e2e-meta-app-secret";

/// Runs the built inboxctl against the fleet's gateway and returns its `--json` output.
fn inboxctl(fleet: &Fleet, args: &[&str]) -> anyhow::Result<Value> {
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

/// A tenant with an agent and a WhatsApp number; returns the agent's token.
fn set_up_tenant(fleet: &Fleet, slug: &str, phone_number_id: &str) -> anyhow::Result<String> {
    let tenant = inboxctl(fleet, &["tenant", "create", "--slug", slug, "--name", "Acme Support"])?;
    let id = tenant["id"].as_str().context("tenant id")?.to_owned();
    let agent = inboxctl(
        fleet,
        &["agent", "create", "--tenant", &id, "--email", "sarah@acme.test", "--name", "Sarah", "--role", "agent"],
    )?;
    let token = agent["token"].as_str().context("token")?.to_owned();
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
    Ok(token)
}

fn webhook(phone_number_id: &str, wamid: &str, from: &str, text: &str) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string()
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> anyhow::Result<(u16, Value)> {
    let response = client.get(url).bearer_auth(token).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn send_json(request: reqwest::RequestBuilder, token: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let response = request.bearer_auth(token).json(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn next_frame_of_type(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    kind: &str,
) -> anyhow::Result<Value> {
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

#[tokio::test]
async fn an_agent_completes_the_profile_of_a_customer_who_wrote_on_whatsapp() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let token = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let ws_url = format!("{}/v1/stream?access_token={token}", gateway.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    next_frame_of_type(&mut socket, "ready").await?;

    let body = webhook(PHONE_NUMBER_ID, "wamid.C.1", "16505551234", "Can I change my delivery address?");
    let response = client
        .post(format!("{}/webhooks/whatsapp", fleet.http_url("channel-ingest")))
        .header("X-Hub-Signature-256", sign(APP_SECRET, &body))
        .body(body)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let created = next_frame_of_type(&mut socket, "message.created").await?;
    let conversation_id = created["conversation"]["id"].as_str().context("conversation id")?.to_owned();
    let customer_id = created["conversation"]["contact"]["id"].as_str().context("contact id")?.to_owned();
    let customer_url = format!("{gateway}/v1/customers/{customer_id}");

    // The right panel: the WhatsApp identity, its phone, one conversation.
    let (status, customer) = get_json(&client, customer_url.clone(), &token).await?;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["display_name"], "Sheena Nelson");
    assert_eq!(customer["identities"][0]["channel"], "whatsapp");
    assert_eq!(customer["identities"][0]["address"], "16505551234");
    assert_eq!(customer["phones"], json!(["+16505551234"]));
    assert_eq!(customer["total_conversations"], 1);

    // The agent adds an email and an attribute, and names the customer properly.
    let changes = json!({"display_name": "Sheena Nelson-Ortiz", "emails": ["Sheena@Example.com"],
                         "attributes": {"plan": "enterprise"}});
    let (status, updated) = send_json(client.patch(&customer_url), &token, &changes).await?;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["customer"]["emails"], json!(["sheena@example.com"]));
    assert_eq!(updated["customer"]["attributes"]["plan"], "enterprise");
    assert_eq!(updated["merged_customer_ids"], json!([]));
    // Live lists show the new name.
    let frame = next_frame_of_type(&mut socket, "conversation.customer_updated").await?;
    assert_eq!(frame["conversation"]["id"], conversation_id.as_str());
    assert_eq!(frame["conversation"]["contact"]["display_name"], "Sheena Nelson-Ortiz");

    // Bad input names the field and changes nothing; the segment is for supervisors.
    let (status, refused) = send_json(client.patch(&customer_url), &token, &json!({"emails": ["sheena@"]})).await?;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("invalid_argument")));
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.starts_with("emails:")), "{refused}");
    let (status, _) = send_json(client.patch(&customer_url), &token, &json!({"segment": "vip"})).await?;
    assert_eq!(status, 403);

    // The CRM sync runs twice: one card, written once.
    let card = json!({"source": "hubspot", "title": "Deal: Renewal",
                      "fields": [{"key": "Stage", "value": "Negotiation"}, {"key": "Amount", "value": "$12,000"}]});
    let cards_url = format!("{customer_url}/cards");
    let (status, first) = send_json(client.put(&cards_url), &token, &card).await?;
    assert_eq!(status, 200, "{first}");
    let (_, second) = send_json(client.put(&cards_url), &token, &card).await?;
    assert_eq!(second["updated_at"], first["updated_at"], "the second sync wrote nothing");
    let (_, customer) = get_json(&client, customer_url.clone(), &token).await?;
    let cards = customer["cards"].as_array().context("cards")?;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0]["fields"][0], json!({"key": "Stage", "value": "Negotiation"}));
    assert_eq!(customer["emails"], json!(["sheena@example.com"]));
    assert_eq!(customer["display_name"], "Sheena Nelson-Ortiz");

    // The customer's conversations, and this conversation's related ones (none yet).
    let (_, conversations) = get_json(&client, format!("{customer_url}/conversations?limit=10"), &token).await?;
    assert_eq!(conversations["items"][0]["id"], conversation_id.as_str());
    assert_eq!(conversations["next_cursor"], Value::Null);
    let (status, related) =
        get_json(&client, format!("{gateway}/v1/conversations/{conversation_id}/related"), &token).await?;
    assert_eq!((status, related["items"].as_array().map(Vec::len)), (200, Some(0)));

    let response =
        client.delete(format!("{cards_url}?source=hubspot&title=Deal:%20Renewal")).bearer_auth(&token).send().await?;
    assert_eq!(response.json::<Value>().await?["deleted"], true);

    // Another tenant's agent: the customer does not exist for them.
    let other = set_up_tenant(&fleet, "globex", "200000000000001")?;
    let (status, _) = get_json(&client, customer_url.clone(), &other).await?;
    assert_eq!(status, 404);
    let (_, customer) = get_json(&client, customer_url, &token).await?;
    assert_eq!(customer["cards"], json!([]), "the deleted card is gone");
    Ok(())
}
