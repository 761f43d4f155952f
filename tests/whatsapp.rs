//! WhatsApp Cloud API end to end, through the built binaries and a local Graph API: every
//! documented inbound type, statuses moving deliveries forward, replies (text, media, template,
//! buttons) with retries and permanent failures, the 24-hour window, media opened through the
//! gateway, and replay of the archive.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use anyhow::Context;
use inbox_e2e::Fleet;
use inbox_e2e::graph::{MEDIA_BYTES, fleet_with_graph, meta_error};
use inbox_e2e::support::{
    APP_SECRET, PHONE_NUMBER_ID, connect_stream, get_json, inboxctl, next_frame_of_type, post_webhook, send_json,
    set_up_tenant, sign, wait_until_settled, webhook,
};
use inbox_testkit::wait_until;
use serde_json::{Value, json};

const SHEENA: &str = "16505551234";
const PABLO: &str = "16505550002";

/// The fixture with every documented message type, re-dated to the last minutes.
fn every_type_webhook() -> String {
    let mut payload: Value =
        serde_json::from_str(include_str!("../services/channel-ingest/tests/fixtures/whatsapp_every_type.json"))
            .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut i = 0;
    for entry in payload["entry"].as_array_mut().unwrap() {
        for change in entry["changes"].as_array_mut().unwrap() {
            for message in change["value"]["messages"].as_array_mut().unwrap() {
                i += 1;
                message["timestamp"] = json!((now - 600 + i).to_string());
            }
        }
    }
    payload.to_string()
}

fn status_webhook(wamid: &str, status: &str, errors: Option<Value>) -> String {
    let mut update = json!({"id": wamid, "status": status, "timestamp": chrono::Utc::now().timestamp().to_string(),
        "recipient_id": SHEENA,
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}});
    if let Some(errors) = errors {
        update["errors"] = errors;
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                  "statuses": [update]}}]}]})
    .to_string()
}

struct Inbox<'a> {
    fleet: &'a Fleet,
    client: reqwest::Client,
    token: String,
}

impl Inbox<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fleet.http_url("gateway"))
    }

    async fn conversation_of(&self, address: &str) -> anyhow::Result<String> {
        let (_, list) = get_json(&self.client, self.url("/v1/conversations?limit=100"), &self.token).await?;
        list["items"]
            .as_array()
            .context("items")?
            .iter()
            .find(|c| c["customer_address"] == address)
            .and_then(|c| c["id"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("no conversation with {address}"))
    }

    async fn messages(&self, conversation: &str) -> anyhow::Result<Vec<Value>> {
        let (status, page) = get_json(
            &self.client,
            self.url(&format!("/v1/conversations/{conversation}/messages?limit=200")),
            &self.token,
        )
        .await?;
        anyhow::ensure!(status == 200, "messages answered {status}: {page}");
        Ok(page["items"].as_array().context("items")?.clone())
    }

    async fn reply(&self, conversation: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        send_json(
            &self.client,
            reqwest::Method::POST,
            self.url(&format!("/v1/conversations/{conversation}/messages")),
            &self.token,
            &body,
        )
        .await
    }

    /// Waits until the message's delivery is in `state`; returns the delivery.
    async fn delivery_reaches(&self, conversation: &str, message_id: &str, state: &str) -> anyhow::Result<Value> {
        wait_until(Duration::from_secs(20), || async {
            let messages = self.messages(conversation).await.ok()?;
            let delivery = messages.iter().find(|m| m["id"] == message_id)?["delivery"].clone();
            (delivery["state"] == state).then_some(delivery)
        })
        .await
        .with_context(|| format!("delivery of {message_id} never reached {state}"))
    }

    async fn webhook(&self, body: &str) -> anyhow::Result<u16> {
        post_webhook(&self.client, self.fleet, body, &sign(APP_SECRET, body)).await
    }
}

fn content_of<'a>(messages: &'a [Value], wamid: &str) -> &'a Value {
    &messages.iter().find(|m| m["external_id"] == wamid).unwrap_or_else(|| panic!("{wamid} missing"))["content"]
}

#[tokio::test]
async fn every_documented_inbound_type_is_stored_once_and_shown() -> anyhow::Result<()> {
    let (fleet, graph) = fleet_with_graph().await?;
    let tenant = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let inbox = Inbox { fleet: &fleet, client: reqwest::Client::new(), token: tenant.token.clone() };

    let body = every_type_webhook();
    assert_eq!(inbox.webhook(&body).await?, 200);
    assert_eq!(inbox.webhook(&body).await?, 200, "Meta's retry of the same POST");
    wait_until_settled(&fleet).await?;

    let sheena = inbox.conversation_of(SHEENA).await?;
    let pablo = inbox.conversation_of(PABLO).await?;
    let messages = inbox.messages(&sheena).await?;
    assert_eq!(messages.len(), 15, "fifteen messages from Sheena, each stored once");
    assert_eq!(inbox.messages(&pablo).await?.len(), 1, "the second entry of the same POST");

    assert_eq!(content_of(&messages, "wamid.EVERY.01")["text"], "Does it come in another color?");
    let image = content_of(&messages, "wamid.EVERY.02");
    assert_eq!((image["type"].as_str(), image["kind"].as_str()), (Some("media"), Some("image")));
    assert_eq!(
        (image["media_id"].as_str(), image["mime_type"].as_str()),
        (Some("1003383421387256"), Some("image/jpeg"))
    );
    assert_eq!(image["caption"], "This one");
    assert!(image["sha256"].as_str().unwrap().starts_with("8d8c5cb9"));
    assert_eq!(content_of(&messages, "wamid.EVERY.03")["kind"], "voice");
    assert_eq!(content_of(&messages, "wamid.EVERY.04")["kind"], "video");
    assert_eq!(content_of(&messages, "wamid.EVERY.05")["filename"], "invoice-1042.pdf");
    assert_eq!(content_of(&messages, "wamid.EVERY.06")["kind"], "sticker");
    let place = content_of(&messages, "wamid.EVERY.07");
    assert_eq!((place["type"].as_str(), place["name"].as_str()), (Some("location"), Some("Philz Coffee")));
    assert_eq!(place["latitude"], 37.483307);
    let cards = content_of(&messages, "wamid.EVERY.08");
    assert_eq!(cards["contacts"][0]["formatted_name"], "Barbara J. Johnson");
    assert_eq!(cards["contacts"][0]["phones"][0]["wa_id"], SHEENA);
    let button = content_of(&messages, "wamid.EVERY.09");
    assert_eq!(
        (button["type"].as_str(), button["reply_type"].as_str()),
        (Some("interactive_reply"), Some("button_reply"))
    );
    assert_eq!((button["id"].as_str(), button["title"].as_str()), (Some("change-button"), Some("Change")));
    assert_eq!(button["reply_to"]["external_id"], "wamid.OURS.BUTTONS");
    assert_eq!(content_of(&messages, "wamid.EVERY.10")["reply_type"], "list_reply");
    let quick = content_of(&messages, "wamid.EVERY.11");
    assert_eq!((quick["reply_type"].as_str(), quick["id"].as_str()), (Some("quick_reply"), Some("STOP_PROMOS")));
    let reaction = content_of(&messages, "wamid.EVERY.12");
    assert_eq!((reaction["type"].as_str(), reaction["emoji"].as_str()), (Some("reaction"), Some("\u{1F44D}")));
    assert_eq!(content_of(&messages, "wamid.EVERY.13")["reply_to"]["external_id"], "wamid.OURS.TEXT");
    let unknown = content_of(&messages, "wamid.EVERY.14");
    assert_eq!(unknown["type"], "unsupported");
    assert!(unknown["description"].as_str().unwrap().contains("Message type unknown"));
    assert_eq!(content_of(&messages, "wamid.EVERY.15")["provider_type"], "order");

    // The profile name named the customer; the list preview reads the last message.
    let (_, conversation) =
        get_json(&inbox.client, inbox.url(&format!("/v1/conversations/{pablo}")), &inbox.token).await?;
    assert_eq!(conversation["contact"]["display_name"], "Pablo Morales");

    // Media opens through the gateway, fetched with the number's access token.
    let response = inbox
        .client
        .get(inbox.url(&format!("/v1/conversations/{sheena}/media/1003383421387256")))
        .bearer_auth(&inbox.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["content-disposition"], "inline; filename=\"media-1003383421387256.jpg\"");
    assert_eq!(response.headers()["content-security-policy"], "sandbox; default-src 'none'");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await?.as_ref(), MEDIA_BYTES);
    let lookups = graph.media_requests();
    assert_eq!(lookups[0], ("1003383421387256".to_owned(), "Bearer EAAG".to_owned()));
    assert_eq!(lookups[1].0, "download:1003383421387256");
    let (status, _) =
        get_json(&inbox.client, inbox.url(&format!("/v1/conversations/{sheena}/media/expired")), &inbox.token).await?;
    assert_eq!(status, 404, "an expired media id is not found");
    let (status, _) = get_json(
        &inbox.client,
        inbox.url(&format!("/v1/conversations/{sheena}/media/1003383421387256")),
        "not-a-token",
    )
    .await?;
    assert_eq!(status, 401);
    let other = set_up_tenant(&fleet, "globex", "106540352242999")?;
    let (status, _) =
        get_json(&inbox.client, inbox.url(&format!("/v1/conversations/{sheena}/media/1003383421387256")), &other.token)
            .await?;
    assert_eq!(status, 404, "another tenant cannot open it");

    // Replaying the archive stores nothing twice.
    let replayed =
        inboxctl(&fleet, &["whatsapp", "replay", "--tenant", &tenant.id, "--since", "2020-01-01T00:00:00Z"])?;
    assert_eq!(replayed["payloads"], 2, "{replayed}");
    assert_eq!(replayed["messages"], 32);
    wait_until_settled(&fleet).await?;
    assert_eq!(inbox.messages(&sheena).await?.len(), 15);
    Ok(())
}

#[tokio::test]
async fn replies_reach_the_provider_once_and_statuses_move_their_delivery_forward() -> anyhow::Result<()> {
    let (fleet, graph) = fleet_with_graph().await?;
    let tenant = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let inbox = Inbox { fleet: &fleet, client: reqwest::Client::new(), token: tenant.token.clone() };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        inbox.webhook(&webhook(PHONE_NUMBER_ID, "wamid.IN.1", SHEENA, "Where is my parcel?", now - 60)).await?,
        200
    );
    wait_until_settled(&fleet).await?;
    let sheena = inbox.conversation_of(SHEENA).await?;
    let mut socket = connect_stream(&fleet, &tenant.token).await?;

    // Text: sent once even though the client retries with the same key.
    let text = json!({"text": "It left our warehouse today", "idempotency_key": "k-text"});
    let (status, sent) = inbox.reply(&sheena, text.clone()).await?;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(inbox.reply(&sheena, text).await?.0, 200);
    let text_id = sent["message"]["id"].as_str().unwrap().to_owned();
    let accepted = inbox.delivery_reaches(&sheena, &text_id, "accepted").await?;
    let wamid = accepted["external_id"].as_str().unwrap().to_owned();
    let sends = graph.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].phone_number_id, PHONE_NUMBER_ID);
    assert_eq!(sends[0].authorization, "Bearer EAAG");
    assert_eq!(
        sends[0].body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": SHEENA, "type": "text",
               "text": {"preview_url": false, "body": "It left our warehouse today"}})
    );

    // Statuses: read, then a late `sent` that changes nothing; retried status webhooks too.
    assert_eq!(inbox.webhook(&status_webhook(&wamid, "delivered", None)).await?, 200);
    assert_eq!(inbox.webhook(&status_webhook(&wamid, "read", None)).await?, 200);
    assert_eq!(inbox.webhook(&status_webhook(&wamid, "sent", None)).await?, 200);
    assert_eq!(inbox.webhook(&status_webhook(&wamid, "read", None)).await?, 200);
    inbox.delivery_reaches(&sheena, &text_id, "read").await?;
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = next_frame_of_type(&mut socket, "message.delivery_updated").await?;
            if frame["delivery"]["state"] == "read" {
                return anyhow::Ok(frame);
            }
        }
    })
    .await??;
    assert_eq!(frame["delivery"]["message_id"], text_id.as_str());
    assert_eq!(frame["delivery"]["conversation_id"], sheena.as_str());
    wait_until_settled(&fleet).await?;
    let customer_messages = inbox.messages(&sheena).await?.iter().filter(|m| m["sender_kind"] == "customer").count();
    assert_eq!(customer_messages, 1, "statuses never create customer messages");

    // 429 then 503, then accepted: three calls, one message.
    graph.plan(vec![
        (429, meta_error(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached.")),
        (503, json!({"error": {"message": "Service temporarily unavailable", "code": 2, "type": "OAuthException"}})),
    ]);
    let (_, sent) = inbox
        .reply(&sheena, json!({"text": "A photo of the label", "idempotency_key": "k-media",
                                "attachment": {"kind": "image", "url": "https://files.example.com/label.jpg", "mime_type": "image/jpeg"}}))
        .await?;
    let media_id = sent["message"]["id"].as_str().unwrap().to_owned();
    let delivery = inbox.delivery_reaches(&sheena, &media_id, "accepted").await?;
    assert_eq!(delivery["attempts"], 3);
    let sends = graph.sends();
    let media_sends: Vec<_> = sends.iter().filter(|s| s.body["type"] == "image").collect();
    assert_eq!(media_sends.iter().map(|s| s.answered).collect::<Vec<_>>(), [429, 503, 200]);
    assert_eq!(
        media_sends[2].body["image"],
        json!({"link": "https://files.example.com/label.jpg", "caption": "A photo of the label"})
    );

    // A permanent 400 is a failed delivery with Meta's reason, never retried.
    graph.plan(vec![(
        400,
        meta_error(
            131030,
            "(#131030) Recipient phone number not in allowed list",
            "Recipient phone number not in allowed list: add it and try again.",
        ),
    )]);
    let (_, sent) = inbox
        .reply(
            &sheena,
            json!({"idempotency_key": "k-buttons", "interactive": {"body": "Change the address?",
               "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]}}),
        )
        .await?;
    let buttons_id = sent["message"]["id"].as_str().unwrap().to_owned();
    let failed = inbox.delivery_reaches(&sheena, &buttons_id, "failed").await?;
    assert_eq!(failed["error"]["code"], 131030);
    assert!(failed["error"]["details"].as_str().unwrap().starts_with("Recipient phone number not in allowed list"));
    assert_eq!(graph.sends().iter().filter(|s| s.body["type"] == "interactive").count(), 1);
    let interactive =
        graph.sends().into_iter().find(|s| s.body["type"] == "interactive").unwrap().body["interactive"].clone();
    assert_eq!(interactive["action"]["buttons"][1], json!({"type": "reply", "reply": {"id": "no", "title": "No"}}));

    // No answer within the timeout: Meta may have it, so it is failed, never sent twice.
    graph.plan(vec![(0, Value::Null)]);
    let (_, sent) = inbox.reply(&sheena, json!({"text": "Are you there?", "idempotency_key": "k-timeout"})).await?;
    let timeout_id = sent["message"]["id"].as_str().unwrap().to_owned();
    let failed = inbox.delivery_reaches(&sheena, &timeout_id, "failed").await?;
    assert_eq!(failed["error"]["title"], "delivery_outcome_unknown");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(graph.sends().iter().filter(|s| s.body["text"]["body"] == "Are you there?").count(), 1);

    // A template is accepted, then Meta reports it failed: the provider's error is kept.
    let template = json!({"idempotency_key": "k-template", "template": {"name": "order_update", "language": "en_US",
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sheena"}]},
                       {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "TRACK"}]}]}});
    let (status, sent) = inbox.reply(&sheena, template).await?;
    assert_eq!(status, 201, "{sent}");
    let template_id = sent["message"]["id"].as_str().unwrap().to_owned();
    let template_wamid =
        inbox.delivery_reaches(&sheena, &template_id, "accepted").await?["external_id"].as_str().unwrap().to_owned();
    let sent_template = graph.sends().into_iter().find(|s| s.body["type"] == "template").unwrap();
    assert_eq!(
        sent_template.body["template"],
        json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Sheena"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]}]})
    );
    let errors = json!([{"code": 132001, "title": "Template name does not exist in the translation",
        "message": "Template name does not exist in the translation",
        "error_data": {"details": "template name (order_update) does not exist in en_US"}}]);
    assert_eq!(inbox.webhook(&status_webhook(&template_wamid, "failed", Some(errors))).await?, 200);
    let failed = inbox.delivery_reaches(&sheena, &template_id, "failed").await?;
    assert_eq!(failed["error"]["code"], 132001);
    assert_eq!(failed["error"]["title"], "Template name does not exist in the translation");
    assert_eq!(failed["error"]["details"], "template name (order_update) does not exist in en_US");
    assert_eq!(inbox.webhook(&status_webhook(&template_wamid, "delivered", None)).await?, 200);
    inbox.delivery_reaches(&sheena, &template_id, "failed").await?;
    Ok(())
}

#[tokio::test]
async fn outside_the_24_hour_window_only_a_template_can_be_sent() -> anyhow::Result<()> {
    let (fleet, graph) = fleet_with_graph().await?;
    let tenant = set_up_tenant(&fleet, "acme", PHONE_NUMBER_ID)?;
    let inbox = Inbox { fleet: &fleet, client: reqwest::Client::new(), token: tenant.token.clone() };
    let yesterday = chrono::Utc::now().timestamp() - 25 * 3600;
    assert_eq!(inbox.webhook(&webhook(PHONE_NUMBER_ID, "wamid.OLD.1", PABLO, "Hello?", yesterday)).await?, 200);
    wait_until_settled(&fleet).await?;
    let pablo = inbox.conversation_of(PABLO).await?;

    let (status, answer) = inbox.reply(&pablo, json!({"text": "Sorry for the wait", "idempotency_key": "k1"})).await?;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("24-hour customer service window is closed"),
        "{answer}"
    );
    let (status, _) = inbox
        .reply(&pablo, json!({"idempotency_key": "k2", "template": {"name": "hello_world", "language": "en_US"}}))
        .await?;
    assert_eq!(status, 201);
    wait_until(Duration::from_secs(20), || async { (graph.sends().len() == 1).then_some(()) })
        .await
        .context("the template never reached the provider")?;
    let sends = graph.sends();
    assert_eq!(sends[0].body["template"], json!({"name": "hello_world", "language": {"code": "en_US"}}));
    let notes = inbox
        .reply(&pablo, json!({"text": "internal: called him", "internal_note": true, "idempotency_key": "k3"}))
        .await?;
    assert_eq!(notes.0, 201, "notes never leave, so no window applies");
    Ok(())
}
