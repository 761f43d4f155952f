//! channel-ingest's WhatsApp edge, run in-process against real PostgreSQL and JetStream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{APP_SECRET as SECRET, Ingest};
use inbox_channel_ingest::whatsapp::signature::sign;
use inbox_testkit::wait_until;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

async fn start() -> Ingest {
    let ingest = common::start(&[("INBOX__INGEST__MAX_BODY_BYTES", "65536")]).await;
    ingest.connect_whatsapp_number().await;
    ingest
}

fn webhook(wamid: &str, phone_number_id: &str) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": wamid, "timestamp": "1749416383", "type": "text", "text": {"body": "Hi"}}]
        }}]}]
    })
    .to_string()
}

impl Ingest {
    async fn post(&self, body: &str, signature: Option<String>) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(format!("{}/webhooks/whatsapp", self.base)).body(body.to_owned());
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn archived(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM raw_payloads").fetch_one(self.store.pool()).await.unwrap()
    }
}

#[tokio::test]
async fn a_signed_webhook_is_archived_then_published_for_the_accounts_tenant() {
    let ingest = start().await;
    let body = webhook("wamid.A", "106540352242922");
    let (status, reply) = ingest.post(&body, Some(sign(SECRET.as_bytes(), body.as_bytes()))).await;
    assert_eq!((status, reply["messages"].as_u64()), (200, Some(1)));
    assert_eq!(ingest.ingest_messages().await, 1);
    let archived_body: Vec<u8> =
        sqlx::query_scalar("SELECT body FROM raw_payloads").fetch_one(ingest.store.pool()).await.unwrap();
    assert_eq!(archived_body, body.as_bytes(), "archived byte for byte");
    // Marked published shortly after (batched, off the answer's path).
    wait_until(Duration::from_secs(10), || async {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM raw_payload_publications)")
            .fetch_one(ingest.store.pool())
            .await
            .ok()
            .filter(|published| *published)
    })
    .await
    .expect("marked published");
    let stream = ingest.bus.jetstream().get_stream("INGEST").await.unwrap();
    let raw = stream.get_last_raw_message_by_subject(&format!("ingest.whatsapp.{}", ingest.tenant)).await.unwrap();
    assert!(!raw.payload.is_empty());
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_retried_webhook_publishes_the_message_once() {
    let ingest = start().await;
    let body = webhook("wamid.B", "106540352242922");
    for _ in 0..3 {
        let (status, _) = ingest.post(&body, Some(sign(SECRET.as_bytes(), body.as_bytes()))).await;
        assert_eq!(status, 200);
    }
    assert_eq!(ingest.ingest_messages().await, 1, "JetStream dropped the copies by message id");
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_bad_signature_gets_401_and_changes_nothing() {
    let ingest = start().await;
    let body = webhook("wamid.C", "106540352242922");
    let (status, reply) = ingest.post(&body, Some(sign(b"not-the-secret", body.as_bytes()))).await;
    assert_eq!(status, 401);
    assert_eq!(reply["error"]["code"], "invalid_signature");
    let (status, _) = ingest.post(&body, None).await;
    assert_eq!(status, 401);
    assert_eq!((ingest.archived().await, ingest.ingest_messages().await), (0, 0));
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn malformed_unknown_and_oversized_webhooks_get_clear_errors() {
    let ingest = start().await;
    let (status, reply) = ingest.post("{not json", Some(sign(SECRET.as_bytes(), b"{not json"))).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], "invalid_argument");
    assert!(reply["error"]["message"].as_str().unwrap().contains("not valid JSON"));

    let unknown = webhook("wamid.D", "999");
    let (status, reply) = ingest.post(&unknown, Some(sign(SECRET.as_bytes(), unknown.as_bytes()))).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (404, Some("not_found")));

    let huge = format!("{{\"object\":\"whatsapp_business_account\",\"pad\":\"{}\"}}", "x".repeat(70_000));
    let (status, reply) = ingest.post(&huge, Some(sign(SECRET.as_bytes(), huge.as_bytes()))).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (413, Some("payload_too_large")));
    assert_eq!((ingest.archived().await, ingest.ingest_messages().await), (0, 0));
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn metas_verification_handshake_echoes_the_challenge_for_a_known_token_only() {
    let ingest = start().await;
    let url = |token: &str| {
        format!(
            "{}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444",
            ingest.base
        )
    };
    let ok = reqwest::get(url("verify-me")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(reqwest::get(url("guess")).await.unwrap().status(), 403);
    ingest.shutdown.cancel();
}

/// A template status update as Meta documents it: the entry names the WhatsApp Business
/// Account, no phone number.
fn template_status_update(business_account_id: &str) -> String {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": business_account_id, "time": 1749416383, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": "APPROVED", "message_template_id": 1_234_567_890_u64,
                      "message_template_name": "order_update", "message_template_language": "en_US", "reason": "NONE"}
        }]}]
    })
    .to_string()
}

#[tokio::test]
async fn webhooks_of_other_fields_are_verified_by_business_account_archived_and_acknowledged() {
    let ingest = start().await;
    let body = template_status_update("102290129340398");
    let (status, reply) = ingest.post(&body, Some(sign(b"another-apps-secret", body.as_bytes()))).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (401, Some("invalid_signature")), "{reply}");
    let unknown = template_status_update("999999");
    let (status, reply) = ingest.post(&unknown, Some(sign(SECRET.as_bytes(), unknown.as_bytes()))).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (404, Some("not_found")), "{reply}");
    assert_eq!(ingest.archived().await, 0, "refusals change nothing");

    let (status, reply) = ingest.post(&body, Some(sign(SECRET.as_bytes(), body.as_bytes()))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["fields"], serde_json::json!(["message_template_status_update"]));
    let (tenant, archived): (Uuid, Vec<u8>) =
        sqlx::query_as("SELECT tenant_id, body FROM raw_payloads").fetch_one(ingest.store.pool()).await.unwrap();
    assert_eq!((tenant, archived.as_slice()), (ingest.tenant, body.as_bytes()));
    assert_eq!(ingest.ingest_messages().await, 0, "nothing for the conversation service");
    ingest.shutdown.cancel();
}
