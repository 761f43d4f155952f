//! The customer's answer to the CSAT survey does not reopen the conversation; anything else,
//! or a rating after the survey's window, reopens it as before. Real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use chrono::Duration;
use common::{customer_writes, store, text};
use inbox_conversation::domain::Status;
use inbox_conversation::store::{ConversationRow, ConversationStore, NewSystemMessage};
use inbox_proto::common::v1::message_content::Kind;
use inbox_proto::common::v1::{InteractiveReplyContent, MessageContent};
use uuid::Uuid;

/// A conversation of the customer at `from` that an agent answered and resolved, and that
/// the metrics service then sent its survey.
async fn surveyed_conversation(store: &ConversationStore, tenant: Uuid, from: &str) -> ConversationRow {
    let opened = customer_writes(store, tenant, from, &format!("{from}-1"), "Where is my order?").await;
    common::reply(store, tenant, opened.id, "user:sarah", "It ships today", false, None).await.unwrap();
    store.set_status(tenant, opened.id, Status::Resolved, "user:sarah", "answered").await.unwrap();
    store.clock().advance(Duration::minutes(1));
    let (content, key) = (text("How did we do? Reply 1 to 5."), format!("csat-survey:{}:1", opened.id));
    let survey = NewSystemMessage {
        conversation_id: opened.id,
        sender: "service:metrics",
        content: &content,
        idempotency_key: &key,
    };
    store.send_system_message(tenant, &survey).await.unwrap().expect("the conversation exists").conversation
}

async fn message_created_events(store: &ConversationStore) -> usize {
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap();
    subjects.iter().filter(|s| s.ends_with(".message.created")).count()
}

#[tokio::test]
async fn a_rating_answering_the_survey_is_stored_and_the_conversation_stays_resolved() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let surveyed = surveyed_conversation(&store, tenant, "15551230001").await;
    let events_before = message_created_events(&store).await;
    store.clock().advance(Duration::hours(2));

    let answered = customer_writes(&store, tenant, "15551230001", "w-answer", "5").await;
    assert_eq!(answered.id, surveyed.id);
    assert_eq!(answered.status, "resolved", "the answer is no new request");
    assert_eq!(answered.waiting_since, surveyed.waiting_since, "no wait starts");
    assert_eq!(answered.last_message_preview, "5");
    assert_eq!(store.list_status_changes(tenant, surveyed.id).await.unwrap().len(), 1, "only the resolution");
    assert_eq!(message_created_events(&store).await, events_before + 1, "metrics reads the rating from the event");

    // A tap on a survey button answers too (here on a second conversation).
    let other = surveyed_conversation(&store, tenant, "15551230002").await;
    let tap = MessageContent {
        kind: Some(Kind::InteractiveReply(InteractiveReplyContent {
            reply_type: "button_reply".into(),
            id: "csat:3".into(),
            title: "😐 OK".into(),
            description: String::new(),
        })),
        reply_to: None,
    };
    let mut inbound = common::whatsapp_now(&store, tenant, "15551230002", "w-tap", "");
    inbound.content = Some(tap);
    store.append_inbound_message(tenant, &inbound).await.unwrap();
    assert_eq!(store.get_conversation(tenant, other.id).await.unwrap().unwrap().status, "resolved");
}

#[tokio::test]
async fn a_message_that_is_no_rating_reopens_as_before() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let surveyed = surveyed_conversation(&store, tenant, "15551230001").await;
    let reopened = customer_writes(&store, tenant, "15551230001", "w-more", "my parcel still has not arrived").await;
    assert_eq!((reopened.id, reopened.status.as_str()), (surveyed.id, "active"));
    let history = store.list_status_changes(tenant, surveyed.id).await.unwrap();
    assert_eq!(history.last().map(|c| (c.actor.as_str(), c.to_status.as_str())), Some(("customer", "active")));
}

#[tokio::test]
async fn a_rating_after_the_survey_window_reopens() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let surveyed = surveyed_conversation(&store, tenant, "15551230001").await;
    store.clock().advance(Duration::days(3) + Duration::minutes(1));
    let late = customer_writes(&store, tenant, "15551230001", "w-late", "5").await;
    assert_eq!((late.id, late.status.as_str()), (surveyed.id, "active"));
}

#[tokio::test]
async fn a_rating_without_a_survey_or_after_a_later_reply_reopens() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    // Resolved, no survey sent.
    let opened = customer_writes(&store, tenant, "15551230001", "w1", "hi").await;
    store.set_status(tenant, opened.id, Status::Resolved, "user:sarah", "").await.unwrap();
    assert_eq!(customer_writes(&store, tenant, "15551230001", "w2", "5").await.status, "active");

    // Surveyed, then an agent wrote again and resolved: the survey is no longer the question.
    let surveyed = surveyed_conversation(&store, tenant, "15551230002").await;
    store.clock().advance(Duration::minutes(1));
    common::reply(&store, tenant, surveyed.id, "user:sarah", "One more thing: your voucher", false, None)
        .await
        .unwrap();
    store.set_status(tenant, surveyed.id, Status::Resolved, "user:sarah", "").await.unwrap();
    assert_eq!(customer_writes(&store, tenant, "15551230002", "w3", "5").await.status, "active");
}
