//! Priority: automatic from inbound messages, manual overrides that stick; real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use inbox_conversation::domain::{Priority, PriorityRules};
use inbox_conversation::store::ConversationStore;
use uuid::Uuid;

mod common;
use common::{customer_writes, store};

async fn outbox_has(store: &ConversationStore, suffix: &str) -> bool {
    let subjects: Vec<String> = sqlx::query_scalar("SELECT subject FROM outbox").fetch_all(store.pool()).await.unwrap();
    subjects.iter().any(|s| s.ends_with(suffix))
}

#[tokio::test]
async fn an_outage_report_is_urgent_and_says_why() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "1555", "w1", "Your checkout has an outage right now").await;
    assert_eq!((conversation.priority.as_str(), conversation.priority_source.as_str()), ("urgent", "auto"));
    assert_eq!(conversation.priority_reason, "auto: keyword 'outage'");
    assert!(outbox_has(&store, ".conversation.priority_changed").await);
}

#[tokio::test]
async fn an_ordinary_question_stays_normal() {
    let (_db, store) = store().await;
    let conversation = customer_writes(&store, Uuid::new_v4(), "1555", "w1", "What are your opening hours?").await;
    assert_eq!((conversation.priority.as_str(), conversation.priority_source.as_str()), ("normal", "default"));
}

#[tokio::test]
async fn a_vip_customer_is_urgent_from_their_next_message() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let first = customer_writes(&store, tenant, "1555", "w1", "hello").await;
    assert!(store.set_contact_segment(tenant, first.contact_id, "VIP").await.unwrap());
    let next = customer_writes(&store, tenant, "1555", "w2", "hello again").await;
    assert_eq!((next.priority.as_str(), next.priority_reason.as_str()), ("urgent", "auto: VIP customer"));
}

#[tokio::test]
async fn automatic_priority_only_rises() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let urgent = customer_writes(&store, tenant, "1555", "w1", "site is down").await;
    assert_eq!(urgent.priority, "urgent");
    let after = customer_writes(&store, tenant, "1555", "w2", "I want a refund as well").await;
    assert_eq!((after.priority.as_str(), after.priority_reason.as_str()), ("urgent", "auto: keyword 'down'"));
}

#[tokio::test]
async fn a_manual_priority_sticks_against_automatic_prioritisation() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "1555", "w1", "hi").await;
    let set =
        store.set_priority(tenant, conversation.id, Priority::Low, "known tester account").await.unwrap().unwrap();
    assert_eq!((set.priority.as_str(), set.priority_source.as_str()), ("low", "manual"));
    assert_eq!(set.priority_reason, "known tester account");
    let after = customer_writes(&store, tenant, "1555", "w2", "EMERGENCY the site is down").await;
    assert_eq!((after.priority.as_str(), after.priority_source.as_str()), ("low", "manual"));
    // Another tenant cannot set it.
    assert!(store.set_priority(Uuid::new_v4(), conversation.id, Priority::Urgent, "").await.unwrap().is_none());
}

#[tokio::test]
async fn a_tenant_chooses_its_own_urgency_keywords() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    store
        .set_priority_rules(
            tenant,
            &PriorityRules {
                urgent_keywords: vec!["stuck in the lift".into()],
                urgent_segments: vec![],
                first_response_target: None,
            },
        )
        .await
        .unwrap();
    let lift = customer_writes(&store, tenant, "1555", "w1", "Help, I am stuck in the lift").await;
    assert_eq!(
        (lift.priority.as_str(), lift.priority_reason.as_str()),
        ("urgent", "auto: keyword 'stuck in the lift'")
    );
    let outage = customer_writes(&store, tenant, "1666", "w2", "there is an outage").await;
    assert_eq!(outage.priority, "normal", "the default keywords no longer apply to this tenant");
}
