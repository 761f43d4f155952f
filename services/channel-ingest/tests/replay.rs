//! Replay of the raw archive, one path for every channel: a WhatsApp webhook, a Twilio
//! callback and a web chat visitor message archived while the bus was down are published by
//! one `ReplayRawPayloads` call, once however often it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{
    APP_SECRET, Ingest, PHONE_NUMBER_ID, SERVICE_TOKEN, TWILIO_ACCOUNT_SID as ACCOUNT_SID, TWILIO_NUMBER as NUMBER,
    TWILIO_PUBLIC_BASE_URL as PUBLIC, TWILIO_TOKEN,
};
use inbox_channel_ingest::store::NewWidget;
use inbox_config::Secret;
use inbox_proto::ingest::v1 as pb;
use inbox_proto::ingest::v1::channel_deliveries_client::ChannelDeliveriesClient;
use inbox_service::{CallContext, Role};
use serde_json::{Value, json};

const ORIGIN: &str = "https://shop.test";

/// Connects a WhatsApp number, a Twilio number and a web chat widget to the test's tenant;
/// returns the widget's key.
async fn connect_accounts(ingest: &Ingest) -> String {
    ingest.connect_whatsapp_number().await;
    ingest.connect_twilio_number().await;
    let origins = vec![ORIGIN.to_owned()];
    let shop = NewWidget { name: "Shop", allowed_origins: &origins, greeting: "", color: "#112233" };
    ingest.store.create_widget(ingest.tenant, &shop).await.unwrap().widget_key
}

async fn post_whatsapp(ingest: &Ingest) -> u16 {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.R", "timestamp": "1749416383", "type": "text", "text": {"body": "Hi"}}]
        }}]}]
    })
    .to_string();
    let signature = inbox_channel_ingest::whatsapp::signature::sign(APP_SECRET.as_bytes(), body.as_bytes());
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", ingest.base))
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn post_twilio_call(ingest: &Ingest) -> u16 {
    let path = "/webhooks/twilio/voice";
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CAreplay"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+4915112345678"),
        ("To", NUMBER),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let signature = inbox_channel_ingest::twilio::signature::sign(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
    let response = reqwest::Client::new()
        .post(format!("{}{path}", ingest.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn post_visitor_message(ingest: &Ingest, widget_key: &str) -> u16 {
    let client = reqwest::Client::new();
    let widget = format!("{}/webchat/v1/widgets/{widget_key}", ingest.base);
    let session: Value = client
        .post(format!("{widget}/sessions"))
        .header("origin", ORIGIN)
        .json(&json!({"name": "Ana"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["visitor_token"].as_str().expect("a visitor token");
    let response = client
        .post(format!("{widget}/messages"))
        .header("origin", ORIGIN)
        .bearer_auth(token)
        .json(&json!({"client_message_id": "m-replay", "text": "Is it in stock?"}))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn replay(ingest: &Ingest, request: pb::ReplayRawPayloadsRequest) -> pb::ReplayRawPayloadsResponse {
    let mut client = ChannelDeliveriesClient::connect(format!("http://{}", ingest.grpc)).await.unwrap();
    let admin = CallContext { tenant_id: ingest.tenant, principal: "operator".into(), role: Role::Admin };
    let mut request = admin.request(request, &Secret::new(SERVICE_TOKEN)).unwrap();
    // A replay of ten thousand payloads on a loaded machine takes longer than a usual call.
    request.set_timeout(std::time::Duration::from_secs(120));
    client.replay_raw_payloads(request).await.unwrap().into_inner()
}

#[tokio::test]
async fn payloads_of_every_channel_archived_while_the_bus_was_down_are_replayed_once() {
    let ingest = common::start(&[("INBOX__TWILIO__PUBLIC_BASE_URL", PUBLIC)]).await;
    // Received times are the service's clock (the same as this process's), not the database's:
    // the replay below finds the payloads by them, also with the clock moved.
    let started = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let widget_key = connect_accounts(&ingest).await;
    // The INGEST stream is gone: every publish on ingest.> fails.
    ingest.bus.jetstream().delete_stream("INGEST").await.unwrap();
    assert_eq!(post_whatsapp(&ingest).await, 503, "meta retries");
    assert_eq!(post_twilio_call(&ingest).await, 200, "the caller is answered");
    assert_eq!(post_visitor_message(&ingest, &widget_key).await, 503, "the widget resends");
    let unpublished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM raw_payloads r WHERE NOT EXISTS (SELECT 1 FROM raw_payload_publications p WHERE p.id = r.id)",
    )
    .fetch_one(ingest.store.pool())
    .await
    .unwrap();
    assert_eq!(unpublished, 3, "each archived, none published");

    ingest.bus.ensure_streams().await.unwrap();
    let only_unpublished = pb::ReplayRawPayloadsRequest { only_unpublished: true, ..Default::default() };
    let replayed = replay(&ingest, only_unpublished.clone()).await;
    assert_eq!((replayed.payloads, replayed.messages), (3, 3), "{replayed:?}");
    assert_eq!(ingest.ingest_messages().await, 3, "one message of each channel");
    let subjects: Vec<String> = ["whatsapp", "telephony", "webchat"]
        .into_iter()
        .map(|channel| format!("ingest.{channel}.{}", ingest.tenant))
        .collect();
    let stream = ingest.bus.jetstream().get_stream("INGEST").await.unwrap();
    for subject in &subjects {
        assert!(stream.get_last_raw_message_by_subject(subject).await.is_ok(), "nothing published on {subject}");
    }

    let again = replay(&ingest, only_unpublished).await;
    assert_eq!(again.payloads, 0, "all marked published");
    let since_start = pb::ReplayRawPayloadsRequest {
        received_from: Some(inbox_proto::timestamp_from(started)),
        ..Default::default()
    };
    let all = replay(&ingest, since_start).await;
    assert_eq!((all.payloads, all.messages), (3, 3), "{all:?}");
    assert_eq!(ingest.ingest_messages().await, 3, "the same event ids: nothing twice");
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_replay_of_more_payloads_than_fit_in_memory_at_once_takes_them_all_page_by_page() {
    let ingest = common::start(&[]).await;
    let widget_key = connect_accounts(&ingest).await;
    let widget = ingest.store.widget_by_key(&widget_key).await.unwrap().unwrap();
    // 10,050 archived visitor messages whose messages were never stored (the widget resent
    // them): each is read and replayed, and publishes nothing.
    let received = chrono::Utc::now();
    sqlx::query(
        "INSERT INTO raw_payloads (id, tenant_id, account_id, channel, received_at, body) \
         SELECT gen_random_uuid(), $1, $2, 'webchat', $3 + n * interval '1 millisecond', \
                convert_to('{\"client_message_id\":\"lost-' || n || '\",\"text\":\"hi\"}', 'UTF8') \
         FROM generate_series(1, 10050) n",
    )
    .bind(ingest.tenant)
    .bind(widget.id)
    .bind(received)
    .execute(ingest.store.pool())
    .await
    .unwrap();
    let replayed = replay(&ingest, pb::ReplayRawPayloadsRequest { only_unpublished: true, ..Default::default() }).await;
    assert_eq!((replayed.payloads, replayed.messages), (10_050, 0), "{replayed:?}");
    let published: i64 = sqlx::query_scalar("SELECT count(*) FROM raw_payload_publications")
        .fetch_one(ingest.store.pool())
        .await
        .unwrap();
    assert_eq!(published, 10_050);
    ingest.shutdown.cancel();
}
