//! The system's messages to the customer (the metrics service's CSAT survey): sent through
//! `SendMessage` by `service:metrics`, delivered like a reply, and no answer to the customer.
//! Real PostgreSQL; the API is called as the interceptor would hand it a call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use common::{customer_writes, store, text};
use inbox_conversation::api::ConversationsApi;
use inbox_conversation::domain::Status;
use inbox_conversation::store::{ConversationRow, ConversationStore, HistoryPage, Viewer};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_server::Conversations;
use inbox_service::{CallContext, Role};
use tonic::{Code, Request};
use uuid::Uuid;

const SURVEY: &str = "How would you rate the help you received? Reply 1 to 5.";

fn as_principal<T>(tenant: Uuid, principal: &str, role: Role, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(CallContext { tenant_id: tenant, principal: principal.into(), role });
    request
}

fn survey(conversation: Uuid, key: &str) -> pb::SendMessageRequest {
    pb::SendMessageRequest {
        conversation_id: conversation.to_string(),
        content: Some(text(SURVEY)),
        internal_note: false,
        idempotency_key: key.into(),
    }
}

/// A WhatsApp conversation the customer opened, an agent answered and resolved.
async fn resolved_conversation(store: &ConversationStore, tenant: Uuid) -> ConversationRow {
    let opened = customer_writes(store, tenant, "15551230001", "w1", "Where is my order?").await;
    common::reply(store, tenant, opened.id, "user:sarah", "It ships today", false, None).await.unwrap();
    let (resolved, _) =
        store.set_status(tenant, opened.id, Status::Resolved, "user:sarah", "answered").await.unwrap().unwrap();
    resolved
}

async fn outbound_count(store: &ConversationStore) -> usize {
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap();
    subjects.iter().filter(|s| s.starts_with("outbound.whatsapp.")).count()
}

#[tokio::test]
async fn the_metrics_service_sends_a_survey_that_is_delivered_and_leaves_the_conversation_resolved() {
    let (_db, store) = store().await;
    let api = ConversationsApi { store: store.clone() };
    let tenant = Uuid::now_v7();
    let resolved = resolved_conversation(&store, tenant).await;
    let delivered_before = outbound_count(&store).await;
    store.clock().advance(chrono::Duration::minutes(1));

    let key = format!("csat-survey:{}:1", resolved.id);
    let sent = api
        .send_message(as_principal(tenant, "service:metrics", Role::Service, survey(resolved.id, &key)))
        .await
        .unwrap()
        .into_inner();
    let message = sent.message.unwrap();
    assert_eq!(message.sender_kind, pb::SenderKind::System as i32);
    assert_eq!((message.sender_id.as_str(), message.idempotency_key.as_str()), ("service:metrics", key.as_str()));
    assert!(!sent.replayed);

    let after = store.get_conversation(tenant, resolved.id).await.unwrap().unwrap();
    assert_eq!(after.status, "resolved", "a survey is no agent reply: it does not reopen");
    assert_eq!(
        (after.last_message_sender_kind.as_str(), after.last_message_preview.as_str(), after.waiting_since),
        (resolved.last_message_sender_kind.as_str(), resolved.last_message_preview.as_str(), resolved.waiting_since),
        "nor does it move who spoke last, the preview or the wait"
    );
    assert_eq!(store.list_status_changes(tenant, resolved.id).await.unwrap().len(), 1, "only the resolution");
    assert_eq!(outbound_count(&store).await, delivered_before + 1, "queued for the customer's channel");

    // The sender retries (a lost answer): the same message, delivered once.
    let again = api
        .send_message(as_principal(tenant, "service:metrics", Role::Service, survey(resolved.id, &key)))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(again.message.unwrap().id, message.id);
    assert_eq!(outbound_count(&store).await, delivered_before + 1);
    let (messages, _) =
        store.list_messages(tenant, resolved.id, &Viewer::default(), 10, HistoryPage::Forward(None)).await.unwrap();
    assert_eq!(messages.iter().filter(|m| m.sender_kind == "system").count(), 1);
}

#[tokio::test]
async fn other_services_and_system_notes_are_refused() {
    let (_db, store) = store().await;
    let api = ConversationsApi { store: store.clone() };
    let tenant = Uuid::now_v7();
    let resolved = resolved_conversation(&store, tenant).await;
    let delivered_before = outbound_count(&store).await;

    for principal in ["service:routing", "service:notification", "service:metrics-impostor"] {
        let refused =
            api.send_message(as_principal(tenant, principal, Role::Service, survey(resolved.id, "csat-survey:x:1")));
        assert_eq!(refused.await.unwrap_err().code(), Code::PermissionDenied, "{principal}");
    }
    // The principal alone is not enough: the role must be a service's.
    let user = api.send_message(as_principal(tenant, "service:metrics", Role::Ai, survey(resolved.id, "k1")));
    assert_eq!(user.await.unwrap_err().code(), Code::PermissionDenied);
    let note = pb::SendMessageRequest { internal_note: true, ..survey(resolved.id, "k2") };
    let note = api.send_message(as_principal(tenant, "service:metrics", Role::Service, note));
    assert_eq!(note.await.unwrap_err().code(), Code::InvalidArgument);
    // Another tenant's conversation does not exist for it.
    let elsewhere =
        api.send_message(as_principal(Uuid::now_v7(), "service:metrics", Role::Service, survey(resolved.id, "k3")));
    assert_eq!(elsewhere.await.unwrap_err().code(), Code::NotFound);

    assert_eq!(outbound_count(&store).await, delivered_before, "nothing was queued");
    assert_eq!(store.get_conversation(tenant, resolved.id).await.unwrap().unwrap().status, "resolved");
}
