//! AI handling: confidence and "needs human", taking over and handing back, summaries; and
//! response-time targets in prioritisation. Real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{customer_writes, store, text};
use inbox_conversation::domain::{Priority, PriorityRules, TenantSettings};
use inbox_conversation::store::{AiMessage, ConversationStore, HistoryPage, StoreError, Viewer};
use uuid::Uuid;

async fn ai_says(
    store: &ConversationStore,
    tenant: Uuid,
    conversation: Uuid,
    body: &str,
    confidence: f32,
    key: &str,
) -> Result<inbox_conversation::store::SentReply, StoreError> {
    let content = text(body);
    let message = AiMessage {
        conversation_id: conversation,
        author: "user:ai-agent",
        content: &content,
        confidence,
        complex_issue: false,
        complex_reason: "",
        idempotency_key: key,
    };
    store.post_ai_message(tenant, &message).await.map(|sent| sent.unwrap())
}

async fn outbox_subjects(store: &ConversationStore) -> Vec<String> {
    sqlx::query_scalar("SELECT subject FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_confident_ai_answer_is_delivered_and_an_unsure_one_asks_for_a_person() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let c = customer_writes(&store, tenant, "1555", "w1", "What are your opening hours?").await;

    let sure = ai_says(&store, tenant, c.id, "We open at 9.", 0.93, "a1").await.unwrap();
    assert_eq!(sure.message.ai_confidence, Some(0.93));
    assert_eq!(sure.message.sender_kind, "ai");
    assert!(!sure.conversation.needs_human);
    assert_eq!(sure.conversation.last_message_sender_kind, "ai");
    assert!(outbox_subjects(&store).await.iter().any(|s| s.starts_with("outbound.whatsapp.")));

    let unsure = ai_says(&store, tenant, c.id, "Maybe?", 0.42, "a2").await.unwrap();
    assert!(unsure.conversation.needs_human);
    assert_eq!(unsure.conversation.needs_human_reason, "AI confidence 0.42 below 0.60");
    assert!(outbox_subjects(&store).await.iter().any(|s| s.ends_with(".conversation.needs_human")));

    // The same key again stores and sends nothing more.
    let again = ai_says(&store, tenant, c.id, "Maybe?", 0.42, "a2").await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.message.id, unsure.message.id);
}

#[tokio::test]
async fn the_tenant_threshold_and_a_flagged_complex_issue_decide() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    store.set_tenant_settings(tenant, &TenantSettings::parse("UTC", "Acme", 0.3, "Hi").unwrap()).await.unwrap();
    let c = customer_writes(&store, tenant, "1555", "w1", "question").await;
    assert!(!ai_says(&store, tenant, c.id, "answer", 0.42, "a1").await.unwrap().conversation.needs_human);
    let content = text("This needs our legal team.");
    let complex = AiMessage {
        conversation_id: c.id,
        author: "user:ai-agent",
        content: &content,
        confidence: 0.99,
        complex_issue: true,
        complex_reason: "legal threat",
        idempotency_key: "a2",
    };
    let flagged = store.post_ai_message(tenant, &complex).await.unwrap().unwrap();
    assert_eq!(flagged.conversation.needs_human_reason, "the AI flagged a complex issue: legal threat");
}

#[tokio::test]
async fn a_customer_asking_for_a_person_sets_needs_human() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    customer_writes(&store, tenant, "1555", "w1", "hi").await;
    let c = customer_writes(&store, tenant, "1555", "w2", "Can I speak to a human please").await;
    assert!(c.needs_human);
    assert_eq!(c.needs_human_reason, "the customer asked for a person");
}

#[tokio::test]
async fn taking_over_makes_the_agent_owner_stops_the_ai_and_tells_the_customer_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (sarah, tom) = (Uuid::now_v7(), Uuid::now_v7());
    let c = customer_writes(&store, tenant, "1555", "w1", "I want a human").await;
    assert!(c.needs_human);

    let taken = store.take_over(tenant, c.id, sarah, "Sarah").await.unwrap().unwrap();
    assert_eq!(taken.handled_by, "human");
    assert_eq!(taken.assignee_id, Some(sarah));
    assert!(!taken.needs_human);
    let subjects = outbox_subjects(&store).await;
    assert!(subjects.iter().any(|s| s.ends_with(".conversation.taken_over")));
    assert!(subjects.iter().any(|s| s.ends_with(".conversation.assigned")));
    let (messages, _) =
        store.list_messages(tenant, c.id, &Viewer::default(), 50, HistoryPage::Forward(None)).await.unwrap();
    let handoff: Vec<_> = messages.iter().filter(|m| m.sender_kind == "system").collect();
    assert_eq!(handoff.len(), 1);
    let handoff_text = inbox_conversation::domain::plain_text(&handoff[0].to_proto().content.unwrap());
    assert!(handoff_text.contains("Let me connect you with Sarah"), "{handoff_text}");
    let outbound = subjects.iter().filter(|s| s.starts_with("outbound.")).count();
    assert_eq!(outbound, 1, "the hand-off message is delivered to the customer");

    // Again: nothing new. Another agent: refused. The AI: refused.
    store.take_over(tenant, c.id, sarah, "Sarah").await.unwrap().unwrap();
    let (messages, _) =
        store.list_messages(tenant, c.id, &Viewer::default(), 50, HistoryPage::Forward(None)).await.unwrap();
    assert_eq!(messages.iter().filter(|m| m.sender_kind == "system").count(), 1);
    assert!(matches!(store.take_over(tenant, c.id, tom, "Tom").await, Err(StoreError::Conflict(_))));
    assert!(matches!(ai_says(&store, tenant, c.id, "hello", 0.9, "a1").await, Err(StoreError::Conflict(_))));

    // Tom may not release Sarah's conversation; Sarah may.
    assert!(matches!(store.release_to_ai(tenant, c.id, tom, false).await, Err(StoreError::Conflict(_))));
    let released = store.release_to_ai(tenant, c.id, sarah, false).await.unwrap().unwrap();
    assert_eq!(released.handled_by, "ai");
    assert_eq!(released.assignee_id, None);
    assert!(outbox_subjects(&store).await.iter().any(|s| s.ends_with(".conversation.released_to_ai")));
    assert!(ai_says(&store, tenant, c.id, "I'm back", 0.9, "a2").await.is_ok());
}

#[tokio::test]
async fn the_summary_is_the_ais_or_a_sensible_fallback() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let c = customer_writes(&store, tenant, "1555", "w1", "My order has not arrived").await;
    customer_writes(&store, tenant, "1555", "w2", "Any news?").await;
    let fallback = store.summary(tenant, c.id).await.unwrap().unwrap();
    assert_eq!(fallback.source, "fallback");
    assert_eq!(
        fallback.text,
        "Ana on WhatsApp, 2 messages. Asked: \"My order has not arrived\". Latest: \"Any news?\"."
    );

    store.set_summary(tenant, c.id, "Order 123 late; customer waiting for tracking.").await.unwrap().unwrap();
    let summary = store.summary(tenant, c.id).await.unwrap().unwrap();
    assert_eq!((summary.source, summary.text.as_str()), ("ai", "Order 123 late; customer waiting for tracking."));
    assert!(outbox_subjects(&store).await.iter().any(|s| s.ends_with(".conversation.summary_updated")));
    assert!(store.summary(Uuid::now_v7(), c.id).await.unwrap().is_none(), "another tenant sees nothing");
}

#[tokio::test]
async fn a_customer_kept_waiting_past_the_response_target_becomes_high() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    store.set_priority_rules(tenant, &PriorityRules::parse(&[], &[], 900).unwrap()).await.unwrap();
    let waiting = customer_writes(&store, tenant, "1", "w1", "hello").await.id;
    let answered = customer_writes(&store, tenant, "2", "w2", "hello").await.id;
    let manual = customer_writes(&store, tenant, "3", "w3", "hello").await.id;
    store.set_priority(tenant, manual, Priority::Low, "not important").await.unwrap();
    ai_says(&store, tenant, answered, "hi!", 0.9, "a1").await.unwrap();
    store.clock().advance(chrono::Duration::minutes(20));
    assert_eq!(store.apply_response_targets(100).await.unwrap(), 1);
    let raised = store.get_conversation(tenant, waiting).await.unwrap().unwrap();
    assert_eq!(
        (raised.priority.as_str(), raised.priority_reason.as_str()),
        ("high", "auto: response target 15m missed")
    );
    assert_eq!(store.get_conversation(tenant, manual).await.unwrap().unwrap().priority, "low");
    assert_eq!(store.get_conversation(tenant, answered).await.unwrap().unwrap().priority, "normal");
    assert_eq!(store.apply_response_targets(100).await.unwrap(), 0, "raised once");
}
