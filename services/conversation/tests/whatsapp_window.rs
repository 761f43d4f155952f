//! WhatsApp's 24-hour customer service window, where replies are stored: free-form only within
//! 24 hours of the customer's last message, templates always, notes never concerned; and the
//! queued outbound message carries the customer's last message time for channel-ingest's check.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{customer_writes, store, store_at, text};
use inbox_conversation::store::{NewReply, StoreError};
use inbox_proto::common::v1::{MessageContent, WhatsAppTemplateContent, message_content::Kind};
use inbox_proto::events::v1::Envelope;
use inbox_proto::events::v1::envelope::Payload;
use prost::Message as _;
use uuid::Uuid;

fn reply<'a>(conversation: Uuid, content: &'a MessageContent, note: bool, key: &'a str) -> NewReply<'a> {
    NewReply {
        conversation_id: conversation,
        author: "user:sarah",
        content,
        internal_note: note,
        idempotency_key: key,
        last_seen: None,
    }
}

#[tokio::test]
async fn free_form_replies_stop_24_hours_after_the_customer_wrote_and_templates_go_on() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "16505551234", "wamid.W1", "Hello?").await.id;
    let hello = text("Hi Ana, how can I help?");
    assert!(store.send_reply(tenant, &reply(conversation, &hello, false, "k1")).await.unwrap().is_some());

    // The outbound event tells channel-ingest when the customer last wrote.
    let envelopes: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT envelope FROM outbox WHERE subject LIKE 'outbound.whatsapp.%'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let Some(Payload::OutboundMessage(outbound)) = Envelope::decode(envelopes[0].as_slice()).unwrap().payload else {
        panic!("an outbound message")
    };
    assert!(outbound.last_customer_message_at.is_some());

    sqlx::query("UPDATE conversations SET last_customer_message_at = $2 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(store.now() - Duration::hours(25))
        .execute(store.pool())
        .await
        .unwrap();
    let late = text("Sorry for the wait");
    let refused = store.send_reply(tenant, &reply(conversation, &late, false, "k2")).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Conflict(ref m) if m.contains("24-hour customer service window is closed")),
        "{refused:?}"
    );
    let template = MessageContent {
        kind: Some(Kind::WhatsappTemplate(WhatsAppTemplateContent {
            name: "hello_world".into(),
            language_code: "en_US".into(),
            components: vec![],
        })),
        reply_to: None,
    };
    let sent = store.send_reply(tenant, &reply(conversation, &template, false, "k3")).await.unwrap().unwrap();
    assert_eq!(sent.to_proto().message.unwrap().content.unwrap(), template, "stored and returned as sent");
    assert!(store.send_reply(tenant, &reply(conversation, &late, true, "k4")).await.unwrap().is_some(), "a note");
}

#[tokio::test]
async fn the_window_opens_and_closes_by_the_stores_clock_not_by_the_date() {
    // Years before the machine's date: only the store's clock says how long ago the customer wrote.
    let (_db, store) = store_at(Utc.with_ymd_and_hms(2019, 6, 1, 8, 0, 0).unwrap()).await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "16505551234", "wamid.W1", "Hello?").await.id;
    let answer = text("Here is the answer");

    store.clock().advance(Duration::hours(23) + Duration::minutes(59));
    assert!(store.send_reply(tenant, &reply(conversation, &answer, false, "k1")).await.unwrap().is_some());

    store.clock().advance(Duration::minutes(2));
    let refused = store.send_reply(tenant, &reply(conversation, &answer, false, "k2")).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");

    // The customer writes again: the window opens again from that moment.
    customer_writes(&store, tenant, "16505551234", "wamid.W2", "Still there?").await;
    assert!(store.send_reply(tenant, &reply(conversation, &answer, false, "k2")).await.unwrap().is_some());
    store.clock().advance(Duration::hours(24));
    assert!(store.send_reply(tenant, &reply(conversation, &answer, false, "k3")).await.is_err());
}
