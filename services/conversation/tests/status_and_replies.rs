//! Agent replies, notes and the status workflow, against a real PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use chrono::Duration;
use inbox_conversation::domain::{Status, StatusRules};
use inbox_conversation::store::{Appended, ConversationRow, ConversationStore, HistoryPage, NewReply, Viewer};
use inbox_proto::common::v1::Channel;
use inbox_proto::ingest::v1::{InboundMessage, Sender};
use uuid::Uuid;

mod common;
use common::{store, text};

async fn customer_writes(store: &ConversationStore, tenant: Uuid, wamid: &str, body: &str) -> ConversationRow {
    common::customer_writes(store, tenant, "15551230001", wamid, body).await
}

async fn reply(store: &ConversationStore, tenant: Uuid, conversation: Uuid, body: &str, key: &str, note: bool) -> bool {
    let content = text(body);
    let sent = store
        .send_reply(
            tenant,
            &NewReply {
                conversation_id: conversation,
                author: "user:sarah",
                content: &content,
                internal_note: note,
                idempotency_key: key,
                last_seen: None,
            },
        )
        .await
        .unwrap()
        .expect("conversation exists");
    sent.replayed
}

async fn outbox_subjects(store: &ConversationStore) -> Vec<String> {
    sqlx::query_scalar("SELECT subject FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap()
}

#[tokio::test]
async fn a_reply_queued_offline_and_sent_twice_is_stored_and_delivered_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "Where is my order?").await;
    assert!(!reply(&store, tenant, conversation.id, "It ships today", "key-1", false).await);
    assert!(
        reply(&store, tenant, conversation.id, "It ships today", "key-1", false).await,
        "the second send is a replay"
    );

    let (messages, _) =
        store.list_messages(tenant, conversation.id, &Viewer::default(), 10, HistoryPage::Forward(None)).await.unwrap();
    assert_eq!(messages.len(), 2, "the customer's message and one reply");
    let outbound = outbox_subjects(&store).await.into_iter().filter(|s| s.starts_with("outbound.whatsapp.")).count();
    assert_eq!(outbound, 1, "queued for delivery once");
    let conversation = store.get_conversation(tenant, conversation.id).await.unwrap().unwrap();
    assert_eq!(
        (conversation.last_message_preview.as_str(), conversation.last_message_sender_kind.as_str()),
        ("It ships today", "agent")
    );
}

#[tokio::test]
async fn an_internal_note_never_reaches_the_customer_nor_changes_the_list_preview() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "Refund please").await;
    reply(&store, tenant, conversation.id, "Check the order in the CRM first", "note-1", true).await;
    assert!(outbox_subjects(&store).await.iter().all(|s| !s.starts_with("outbound.")));
    let after = store.get_conversation(tenant, conversation.id).await.unwrap().unwrap();
    assert_eq!(after.last_message_preview, "Refund please");
    assert_eq!(after.last_message_sender_kind, "customer");
    let (messages, _) =
        store.list_messages(tenant, conversation.id, &Viewer::default(), 10, HistoryPage::Forward(None)).await.unwrap();
    assert!(messages[1].internal_note);
}

#[tokio::test]
async fn a_manual_status_change_is_recorded_with_who_and_why() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "hi").await;
    let (resolved, change) = store
        .set_status(tenant, conversation.id, Status::Resolved, "user:sarah", "refund issued")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.status, "resolved");
    let change = change.expect("a change");
    assert_eq!((change.from_status.as_str(), change.to_status.as_str()), ("active", "resolved"));
    assert_eq!((change.actor.as_str(), change.reason.as_str()), ("user:sarah", "refund issued"));
    // The same status again is no change and no history.
    let (_, again) =
        store.set_status(tenant, conversation.id, Status::Resolved, "user:sarah", "").await.unwrap().unwrap();
    assert!(again.is_none());
    assert_eq!(store.list_status_changes(tenant, conversation.id).await.unwrap().len(), 1);
    assert!(outbox_subjects(&store).await.iter().any(|s| s.ends_with(".conversation.status_changed")));
    // Another tenant cannot touch it.
    assert!(store.set_status(Uuid::new_v4(), conversation.id, Status::Active, "user:x", "").await.unwrap().is_none());
}

#[tokio::test]
async fn a_resolved_conversation_reopens_when_the_customer_writes_and_the_history_says_so() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "hi").await;
    store.set_status(tenant, conversation.id, Status::Resolved, "user:sarah", "").await.unwrap();
    let reopened = customer_writes(&store, tenant, "w2", "one more thing").await;
    assert_eq!(reopened.status, "active");
    let history = store.list_status_changes(tenant, conversation.id).await.unwrap();
    assert_eq!(history.last().map(|c| (c.actor.as_str(), c.to_status.as_str())), Some(("customer", "active")));
}

#[tokio::test]
async fn a_tenant_that_turned_reopening_off_keeps_resolved_conversations_resolved() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    store
        .set_status_rules(tenant, &StatusRules { reopen_on_customer_message: false, ..Default::default() })
        .await
        .unwrap();
    let conversation = customer_writes(&store, tenant, "w1", "hi").await;
    store.set_status(tenant, conversation.id, Status::Resolved, "user:sarah", "").await.unwrap();
    assert_eq!(customer_writes(&store, tenant, "w2", "thanks!").await.status, "resolved");
}

#[tokio::test]
async fn no_customer_reply_for_an_hour_after_an_agent_reply_makes_it_pending_then_resolved_archives_after_a_week() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let waiting = customer_writes(&store, tenant, "w1", "hi").await;
    reply(&store, tenant, waiting.id, "Could you send your order number?", "k1", false).await;

    store.clock().advance(Duration::minutes(59));
    let soon = store.apply_status_rules(100).await.unwrap();
    assert_eq!(soon.to_pending, 0);
    store.clock().advance(Duration::minutes(2));
    let later = store.apply_status_rules(100).await.unwrap();
    assert_eq!(later.to_pending, 1);
    let pending = store.get_conversation(tenant, waiting.id).await.unwrap().unwrap();
    assert_eq!(pending.status, "pending");
    let history = store.list_status_changes(tenant, waiting.id).await.unwrap();
    assert_eq!(history.last().map(|c| c.actor.as_str()), Some("system:pending_timeout"));

    // The customer answers: Active again; an agent resolves it; a week later it is archived.
    customer_writes(&store, tenant, "w2", "It's 1234").await;
    store.set_status(tenant, waiting.id, Status::Resolved, "user:sarah", "").await.unwrap();
    store.clock().advance(Duration::days(7) + Duration::minutes(1));
    let report = store.apply_status_rules(100).await.unwrap();
    assert_eq!((report.to_pending, report.to_archived), (0, 1));
    assert_eq!(store.get_conversation(tenant, waiting.id).await.unwrap().unwrap().status, "archived");
}

#[tokio::test]
async fn a_conversation_where_the_customer_spoke_last_never_goes_pending() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "hello?").await;
    store.clock().advance(Duration::days(3));
    store.apply_status_rules(100).await.unwrap();
    assert_eq!(store.get_conversation(tenant, conversation.id).await.unwrap().unwrap().status, "active");
}

#[tokio::test]
async fn sweepers_racing_on_several_replicas_move_each_conversation_once() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    store.set_status_rules(tenant, &StatusRules::from_seconds(60, 3600, true).unwrap()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        let inbound = InboundMessage {
            tenant_id: tenant.to_string(),
            channel: Channel::Whatsapp as i32,
            channel_account_id: "acc".into(),
            external_id: format!("w{i}"),
            sent_at: Some(inbox_proto::timestamp_from(store.now())),
            sender: Some(Sender { address: format!("1555{i:07}"), display_name: String::new() }),
            content: Some(text("hi")),
            raw_payload_id: String::new(),
            visitor: None,
        };
        let Appended::Stored { conversation, .. } = store.append_inbound_message(tenant, &inbound).await.unwrap()
        else {
            panic!()
        };
        reply(&store, tenant, conversation.id, "Anything else?", &format!("k{i}"), false).await;
        ids.push(conversation.id);
    }
    store.clock().advance(Duration::minutes(2));
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.apply_status_rules(7).await.unwrap() })
        })
        .collect();
    let mut moved = 0;
    for s in sweeps {
        moved += s.await.unwrap().to_pending;
    }
    // Whatever the first round left, later rounds finish.
    while store.apply_status_rules(7).await.unwrap().to_pending > 0 {}
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM status_changes WHERE to_status = 'pending'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(changes, 40, "each conversation went pending exactly once");
    assert!(moved <= 40);
    for id in ids {
        assert_eq!(store.get_conversation(tenant, id).await.unwrap().unwrap().status, "pending");
    }
}

#[tokio::test]
async fn an_agent_reply_reopens_a_resolved_conversation() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let conversation = customer_writes(&store, tenant, "w1", "hi").await;
    store.set_status(tenant, conversation.id, Status::Resolved, "user:sarah", "").await.unwrap();
    reply(&store, tenant, conversation.id, "One more update for you", "k", false).await;
    let after = store.get_conversation(tenant, conversation.id).await.unwrap().unwrap();
    assert_eq!(after.status, "active");
    let history = store.list_status_changes(tenant, conversation.id).await.unwrap();
    assert_eq!(history.last().map(|c| c.reason.as_str()), Some("an agent replied"));
}

#[tokio::test]
async fn the_status_sweeper_moves_conversations_when_the_stores_clock_says_so() {
    let (_db, store) = store().await;
    let tenant = Uuid::new_v4();
    let waiting = customer_writes(&store, tenant, "w1", "hi").await;
    reply(&store, tenant, waiting.id, "Could you send your order number?", "k1", false).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn(inbox_conversation::events::run_status_sweeper(
        store.clone(),
        std::time::Duration::from_millis(20),
        shutdown.clone(),
    ));

    // Before the hour has passed by the store's clock, no round moves it.
    for _ in 0..3 {
        assert_eq!(store.apply_status_rules(100).await.unwrap().to_pending, 0);
    }
    assert_eq!(store.get_conversation(tenant, waiting.id).await.unwrap().unwrap().status, "active");

    // The clock moves past the pending timeout: the running sweeper applies the rule.
    store.clock().advance(Duration::minutes(61));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.get_conversation(tenant, waiting.id).await.unwrap().unwrap().status != "pending" {
        assert!(tokio::time::Instant::now() < deadline, "the sweeper never made it pending");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let history = store.list_status_changes(tenant, waiting.id).await.unwrap();
    let change = history.last().unwrap();
    assert_eq!(change.actor, "system:pending_timeout");
    assert_eq!(change.changed_at, store.now(), "recorded at the store's time");

    // Resolved, then a week by the store's clock: archived.
    store.set_status(tenant, waiting.id, Status::Resolved, "user:sarah", "").await.unwrap();
    store.clock().advance(Duration::days(7) + Duration::seconds(1));
    while store.get_conversation(tenant, waiting.id).await.unwrap().unwrap().status != "archived" {
        assert!(tokio::time::Instant::now() < deadline, "the sweeper never archived it");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    sweeper.await.unwrap();
}
