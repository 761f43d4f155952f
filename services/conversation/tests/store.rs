//! The conversation store against a real PostgreSQL database of the test's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::{DateTime, Duration, TimeZone, Utc};
use inbox_config::PostgresSettings;
use inbox_conversation::store::{Appended, ConversationStore, HistoryPage, MIGRATOR, Viewer};
use inbox_proto::common::v1::{Channel, MessageContent, TextContent, message_content::Kind};
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use inbox_service::Clock;
use inbox_testkit::TestDatabase;
use uuid::Uuid;

/// The morning the tests' customers write, from 09:00 UTC on.
fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

/// A store whose clock stands at noon of that morning.
async fn store() -> (TestDatabase, ConversationStore) {
    let db = TestDatabase::create("conv").await.unwrap();
    let settings = PostgresSettings { url: db.url(), max_connections: 8 };
    let pool = inbox_service::postgres::connect_and_migrate(&settings, &MIGRATOR).await.unwrap();
    (db, ConversationStore::with_clock(pool, Clock::manual(morning() + Duration::hours(3))))
}

fn whatsapp(tenant: Uuid, wamid: &str, from: &str, text: &str, minute: i64) -> InboundMessage {
    let sent = morning() + Duration::minutes(minute);
    InboundMessage {
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        channel_account_id: "acc-1".into(),
        external_id: wamid.into(),
        sent_at: Some(inbox_proto::timestamp_from(sent)),
        sender: Some(Sender { address: from.into(), display_name: "Ana".into() }),
        content: Some(MessageContent { kind: Some(Kind::Text(TextContent { body: text.into() })), reply_to: None }),
        raw_payload_id: String::new(),
        visitor: None,
    }
}

#[tokio::test]
async fn a_first_message_opens_a_conversation_with_a_new_customer() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let Appended::Stored { conversation, conversation_created, .. } =
        store.append_inbound_message(tenant, &whatsapp(tenant, "wamid.1", "15551230001", "Hello", 0)).await.unwrap()
    else {
        panic!("expected a stored message")
    };
    assert!(conversation_created);
    assert_eq!(conversation.status, "active");
    assert_eq!(conversation.contact_name, "Ana");
    assert_eq!(conversation.last_message_preview, "Hello");
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(store.pool()).await.unwrap();
    assert_eq!(outbox, 2, "conversation.created and message.created, in the same transaction");
}

#[tokio::test]
async fn the_same_provider_message_delivered_twice_is_stored_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let msg = whatsapp(tenant, "wamid.dup", "15551230001", "Hello", 0);
    assert!(matches!(store.append_inbound_message(tenant, &msg).await.unwrap(), Appended::Stored { .. }));
    assert!(matches!(store.append_inbound_message(tenant, &msg).await.unwrap(), Appended::Duplicate));
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(store.pool()).await.unwrap();
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(store.pool()).await.unwrap();
    let version: i64 = sqlx::query_scalar("SELECT version FROM conversations").fetch_one(store.pool()).await.unwrap();
    assert_eq!((messages, outbox, version), (1, 2, 1), "a duplicate changes nothing");
}

#[tokio::test]
async fn concurrent_deliveries_of_many_messages_store_each_exactly_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let mut tasks = Vec::new();
    // Three "replicas" each deliver the same 30 messages from 3 customers at the same time.
    for _replica in 0..3 {
        for i in 0..30 {
            let store = store.clone();
            let msg = whatsapp(tenant, &format!("wamid.{i}"), &format!("1555000000{}", i % 3), "hi", i);
            tasks.push(tokio::spawn(async move { store.append_inbound_message(tenant, &msg).await.unwrap() }));
        }
    }
    let mut stored = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Appended::Stored { .. }) {
            stored += 1;
        }
    }
    assert_eq!(stored, 30);
    let (messages, conversations, contacts): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM conversations), (SELECT count(*) FROM contacts)",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((messages, conversations, contacts), (30, 3, 3));
}

#[tokio::test]
async fn messages_are_listed_in_the_order_the_customer_sent_them_whatever_the_arrival_order() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    for (wamid, minute) in [("c", 3), ("a", 1), ("b", 2)] {
        store.append_inbound_message(tenant, &whatsapp(tenant, wamid, "15551230001", wamid, minute)).await.unwrap();
    }
    let (conversations, _) = store.list_conversations(tenant, 10, None).await.unwrap();
    let conversation = &conversations[0];
    assert_eq!(conversation.last_message_preview, "c", "the preview follows the newest by provider time");
    let (messages, _) =
        store.list_messages(tenant, conversation.id, &Viewer::default(), 10, HistoryPage::Forward(None)).await.unwrap();
    let ids: Vec<_> = messages.iter().map(|m| m.external_id.clone().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
}

#[tokio::test]
async fn a_resolved_conversation_reopens_when_the_customer_writes() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    store.append_inbound_message(tenant, &whatsapp(tenant, "w1", "15551230001", "one", 0)).await.unwrap();
    sqlx::query("UPDATE conversations SET status = 'resolved'").execute(store.pool()).await.unwrap();
    let Appended::Stored { conversation, conversation_created, .. } =
        store.append_inbound_message(tenant, &whatsapp(tenant, "w2", "15551230001", "two", 1)).await.unwrap()
    else {
        panic!("expected a stored message")
    };
    assert!(!conversation_created, "the same thread is reused");
    assert_eq!(conversation.status, "active");
}

#[tokio::test]
async fn another_tenant_sees_nothing_of_it() {
    let (_db, store) = store().await;
    let (tenant, other) = (Uuid::new_v4(), Uuid::new_v4());
    store.append_inbound_message(tenant, &whatsapp(tenant, "w1", "15551230001", "secret", 0)).await.unwrap();
    let (mine, _) = store.list_conversations(tenant, 10, None).await.unwrap();
    let (theirs, _) = store.list_conversations(other, 10, None).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(theirs.is_empty());
    assert!(store.get_conversation(other, mine[0].id).await.unwrap().is_none());
    // The same provider id in another tenant is another message.
    assert!(matches!(
        store.append_inbound_message(other, &whatsapp(other, "w1", "15551230001", "x", 0)).await.unwrap(),
        Appended::Stored { .. }
    ));
}

#[tokio::test]
async fn pages_follow_each_other_without_gaps_or_repeats() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    for i in 0..7 {
        store
            .append_inbound_message(tenant, &whatsapp(tenant, &format!("w{i}"), &format!("1555{i:07}"), "x", i))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (rows, next) = store.list_conversations(tenant, 3, cursor).await.unwrap();
        seen.extend(rows.iter().map(|r| r.customer_address.clone()));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("1555{i:07}")).collect();
    assert_eq!(seen, expected, "most recent first, every conversation once");
}
