//! channel-ingest's Twilio Voice edge, run in-process against real PostgreSQL and JetStream:
//! refused callbacks store and publish nothing; valid ones are archived raw before their call
//! item is published (once, however often Twilio retries), and the archive replays.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{
    Ingest, TWILIO_ACCOUNT_SID as ACCOUNT_SID, TWILIO_NUMBER as NUMBER, TWILIO_PUBLIC_BASE_URL as PUBLIC,
    TWILIO_TOKEN as TOKEN,
};
use inbox_channel_ingest::ingest::twilio_from_archive;
use inbox_channel_ingest::twilio::signature::sign;

async fn start() -> Ingest {
    let ingest =
        common::start(&[("INBOX__INGEST__MAX_BODY_BYTES", "4096"), ("INBOX__TWILIO__PUBLIC_BASE_URL", PUBLIC)]).await;
    ingest.connect_twilio_number().await;
    ingest
}

fn params(call_sid: &str, to: &str, account_sid: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", account_sid),
        ("CallSid", call_sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+4915112345678"),
        ("To", to),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Ingest {
    async fn post(&self, path: &str, params: &[(String, String)], signature: Option<String>) -> (u16, String) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    async fn post_signed(&self, path: &str, params: &[(String, String)]) -> (u16, String) {
        let signature = sign(TOKEN, &format!("{PUBLIC}{path}"), params);
        self.post(path, params, Some(signature)).await
    }

    async fn archived(&self) -> Vec<Vec<u8>> {
        sqlx::query_scalar("SELECT body FROM raw_payloads ORDER BY received_at")
            .fetch_all(self.store.pool())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn refused_callbacks_store_and_publish_nothing() {
    let ingest = start().await;
    let good = params("CA1", NUMBER, ACCOUNT_SID);
    let path = "/webhooks/twilio/voice";

    let (status, _) = ingest.post(path, &good, None).await;
    assert_eq!(status, 401, "unsigned");
    let (status, _) = ingest.post(path, &good, Some(sign("another-token", &format!("{PUBLIC}{path}"), &good))).await;
    assert_eq!(status, 401, "signed with another token");
    let (status, _) = ingest.post(path, &good, Some(sign(TOKEN, &format!("http://localhost{path}"), &good))).await;
    assert_eq!(status, 401, "signed for another URL");
    let (status, body) = ingest.post_signed(path, &good[1..]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AccountSid"), "{body}");
    let (status, _) = ingest.post_signed(path, &params("CA1", "+14155559999", ACCOUNT_SID)).await;
    assert_eq!(status, 404, "unknown number");
    let (status, _) = ingest.post_signed(path, &params("CA1", NUMBER, "AC99999999999999999999999999999999")).await;
    assert_eq!(status, 404, "the number under another Twilio account");
    let mut large = good.clone();
    large.push(("Padding".into(), "x".repeat(8000)));
    let (status, _) = ingest.post_signed(path, &large).await;
    assert_eq!(status, 413);

    assert!(ingest.archived().await.is_empty(), "nothing archived");
    assert_eq!(ingest.ingest_messages().await, 0, "nothing published");
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_valid_callback_is_archived_then_published_once_and_replays() {
    let ingest = start().await;
    let path = "/webhooks/twilio/voice";
    let call = params("CAvalid", NUMBER, ACCOUNT_SID);
    let (status, twiml) = ingest.post_signed(path, &call).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains("<Number>+14155550111</Number>"), "{twiml}");
    let (status, _) = ingest.post_signed(path, &call).await;
    assert_eq!(status, 200, "Twilio's retry");

    let archived = ingest.archived().await;
    assert_eq!(archived.len(), 2, "each verified request is archived raw");
    assert_eq!(ingest.ingest_messages().await, 1, "the retry publishes the same event id: one item");
    let replayed = twilio_from_archive(&archived[0]).expect("the archive parses back");
    assert_eq!(replayed.call_sid(), "CAvalid");
    let (external_id, _) = replayed.call_item().unwrap();
    assert_eq!(external_id, "call:CAvalid:started");

    // A recording that is not finished is archived (never dropped) but makes no item.
    let recording: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CAvalid"),
        ("RecordingSid", "RE1"),
        ("RecordingStatus", "in-progress"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let path = "/webhooks/twilio/voice/recording?kind=voicemail&number=%2B14155550100&caller=%2B4915112345678";
    let (status, body) = ingest.post_signed(path, &recording).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ingest.archived().await.len(), 3);
    assert_eq!(ingest.ingest_messages().await, 1);
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_caller_is_answered_even_when_the_bus_refuses_the_item_which_is_left_to_replay() {
    let ingest = start().await;
    // The INGEST stream is gone: every publish on ingest.> fails.
    ingest.bus.jetstream().delete_stream("INGEST").await.unwrap();
    let (status, twiml) = ingest.post_signed("/webhooks/twilio/voice", &params("CAnobus", NUMBER, ACCOUNT_SID)).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains("<Dial"), "the call goes on: {twiml}");
    let (published, error): (Option<chrono::DateTime<chrono::Utc>>, Option<String>) = sqlx::query_as(
        "SELECT p.published_at, r.error FROM raw_payloads r LEFT JOIN raw_payload_publications p USING (id)",
    )
    .fetch_one(ingest.store.pool())
    .await
    .unwrap();
    assert!(published.is_none() && error.is_some(), "archived, marked for replay");

    // A status callback has no caller waiting: it says so, and Twilio's record stays archived.
    let mut status_params = params("CAnobus", NUMBER, ACCOUNT_SID);
    status_params.retain(|(k, _)| k != "CallStatus");
    status_params
        .extend([("CallStatus".to_owned(), "completed".to_owned()), ("CallDuration".to_owned(), "12".to_owned())]);
    let (status, _) = ingest.post_signed("/webhooks/twilio/voice/status", &status_params).await;
    assert_eq!(status, 503);
    assert_eq!(ingest.archived().await.len(), 2);
    ingest.shutdown.cancel();
}
