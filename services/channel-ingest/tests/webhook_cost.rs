//! What an unsigned or forged webhook can make channel-ingest do before its signature is
//! checked: bounded work, counted in PostgreSQL account lookups
//! (`inbox_ingest_account_queries_total`), never in wall time.
//!
//! The counter is process-wide, so this binary holds ONE test, which runs the cases in turn
//! and reads the counter's change across each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{BUSINESS_ACCOUNT_ID, Ingest, PHONE_NUMBER_ID, TWILIO_PUBLIC_BASE_URL};
use inbox_channel_ingest::metrics::ACCOUNT_QUERIES;
use serde_json::{Value, json};

fn lookups(channel: &str) -> u64 {
    ACCOUNT_QUERIES.with_label_values(&[channel]).get()
}

impl Ingest {
    async fn post_whatsapp(&self, body: String, signature: Option<&str>) -> (u16, Value) {
        let mut request = reqwest::Client::new().post(format!("{}/webhooks/whatsapp", self.base)).body(body);
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post_twilio_call(&self, to: &str) -> u16 {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("AccountSid", "AC00000000000000000000000000000abc"),
                ("CallSid", "CAforged"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("From", "+4915112345678"),
                ("To", to),
            ])
            .finish();
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks/twilio/voice", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", "Zm9yZ2Vk")
            .body(body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }
}

/// Entries of account updates, each naming its own WhatsApp Business Account.
fn account_updates(ids: impl Iterator<Item = String>) -> String {
    changes_of("account_update", ids)
}

/// Entries with one change of `field` each, each naming its own WhatsApp Business Account.
fn changes_of(field: &str, ids: impl Iterator<Item = String>) -> String {
    let entries: Vec<Value> = ids.map(|id| json!({"id": id, "changes": [{"field": field}]})).collect();
    json!({"object": "whatsapp_business_account", "entry": entries}).to_string()
}

/// One entry per phone_number_id, each with one text message.
fn messages_to(phone_number_ids: impl Iterator<Item = String>) -> String {
    let entries: Vec<Value> = phone_number_ids
        .map(|id| {
            json!({"id": "1", "changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": id},
                "messages": [{"from": "16505551234", "id": format!("wamid.{id}"), "timestamp": "1749416383", "type": "text", "text": {"body": "hi"}}]
            }}]})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": entries}).to_string()
}

#[tokio::test]
async fn forged_and_unknown_webhooks_cost_at_most_one_account_lookup_whatever_their_size() {
    let ingest = common::start(&[("INBOX__TWILIO__PUBLIC_BASE_URL", TWILIO_PUBLIC_BASE_URL)]).await;
    ingest.connect_whatsapp_number().await;
    ingest.connect_twilio_number().await;

    // ~1 MiB, 24,000 entries, each naming another business account: more than Meta ever batches
    // into one webhook, refused before anything is looked up.
    let before = lookups("whatsapp");
    let huge = changes_of("x", (0..24_000).map(|i| format!("{}", 10_000 + i)));
    assert!(huge.len() < 1024 * 1024, "{}", huge.len());
    let (status, reply) = ingest.post_whatsapp(huge, None).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("invalid_argument")), "{reply}");
    assert_eq!(lookups("whatsapp") - before, 0, "no account looked up for a webhook over Meta's caps");

    // At Meta's cap, every business account unknown: 404, one lookup for all of them, and none
    // for the same request again (unknown accounts are remembered briefly).
    let before = lookups("whatsapp");
    for _ in 0..20 {
        let forged = account_updates((0..1000).map(|i| format!("{}", 900_000 + i)));
        let (status, reply) = ingest.post_whatsapp(forged, None).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (404, Some("not_found")), "{reply}");
    }
    assert_eq!(lookups("whatsapp") - before, 1, "one lookup for 20 forged webhooks of 1,000 accounts");

    // A thousand unknown numbers with messages: the same.
    let before = lookups("whatsapp");
    for _ in 0..20 {
        let (status, reply) =
            ingest.post_whatsapp(messages_to((0..1000).map(|i| format!("{}", 700_000 + i))), None).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (404, Some("not_found")), "{reply}");
    }
    assert_eq!(lookups("whatsapp") - before, 1);

    // Our business account among 999 unknown ones, and our number among unknown ones, forged:
    // 401 (the signature is what decides), still one lookup each, then none.
    let before = lookups("whatsapp");
    for _ in 0..20 {
        let ids = std::iter::once(BUSINESS_ACCOUNT_ID.to_owned()).chain((0..999).map(|i| format!("{}", 500_000 + i)));
        let (status, reply) = ingest.post_whatsapp(account_updates(ids), Some("sha256=00")).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (401, Some("invalid_signature")), "{reply}");
        let (status, reply) =
            ingest.post_whatsapp(messages_to(std::iter::once(PHONE_NUMBER_ID.to_owned())), None).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (401, Some("invalid_signature")), "{reply}");
    }
    assert!(lookups("whatsapp") - before <= 2, "{} lookups", lookups("whatsapp") - before);
    let archived: i64 =
        sqlx::query_scalar("SELECT count(*) FROM raw_payloads").fetch_one(ingest.store.pool()).await.unwrap();
    assert_eq!(archived, 0, "refusals store nothing");

    // Twilio callbacks naming a number nobody connected: 404, one lookup for twenty.
    let before = lookups("telephony");
    for _ in 0..20 {
        assert_eq!(ingest.post_twilio_call("+14155550999").await, 404);
    }
    assert_eq!(lookups("telephony") - before, 1, "unknown numbers are remembered briefly");
    ingest.shutdown.cancel();
}
