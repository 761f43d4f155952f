//! The send guard: a reply written on an out-of-date view is refused, naming the message the
//! sender missed, unless they insist. Real PostgreSQL; the store's clock moves a second between
//! messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{call, customer_message, reply, store, text};
use inbox_conversation::api::{ConversationsApi, TemplatesApi};
use inbox_conversation::domain::templates::{TemplateBody, TemplateName};
use inbox_conversation::store::{AiMessage, ConversationStore, CreatedTemplate, NewReply, StoreError};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_server::Conversations;
use inbox_proto::conversation::v1::templates_server::Templates;
use inbox_service::{Role, Visibility};
use tonic::Code;
use uuid::Uuid;

const SARAH: &str = "user:00000000-0000-7000-8000-00000000000a";
const TOM: &str = "user:00000000-0000-7000-8000-00000000000b";

fn a_second_later(store: &ConversationStore) {
    store.clock().advance(chrono::Duration::seconds(1));
}

fn newer_of(refused: Result<impl std::fmt::Debug, StoreError>) -> Uuid {
    match refused {
        Err(StoreError::StaleView { newer_message_id }) => newer_message_id,
        other => panic!("expected a stale view, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_reply_on_a_stale_view_is_refused_naming_the_newer_message_and_goes_through_when_forced() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (conversation, asked) = customer_message(&store, tenant, "15551230001", "Where is my order?").await;
    a_second_later(&store);
    // Sarah and Tom both read the question; Tom answers first.
    let toms = reply(&store, tenant, conversation.id, TOM, "It ships today.", false, Some(asked.id)).await.unwrap();
    a_second_later(&store);
    let refused = reply(&store, tenant, conversation.id, SARAH, "Let me check.", false, Some(asked.id)).await;
    assert_eq!(newer_of(refused), toms.message.id);
    let sarahs_answers = |store: &ConversationStore| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages WHERE sender_id = $1")
                .bind(SARAH)
                .fetch_one(store.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(sarahs_answers(&store).await, 0, "nothing stored");
    // On the view that shows Tom's answer, or insisting (no guard), her reply goes.
    reply(&store, tenant, conversation.id, SARAH, "And I add a gift.", false, Some(toms.message.id)).await.unwrap();
    a_second_later(&store);
    reply(&store, tenant, conversation.id, SARAH, "Let me check.", false, None).await.unwrap();
    assert_eq!(sarahs_answers(&store).await, 2);
}

#[tokio::test]
async fn a_colleagues_note_and_the_ai_count_as_acting_but_the_customer_and_the_senders_own_messages_do_not() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (conversation, seen) = customer_message(&store, tenant, "15551230002", "Hello").await;
    a_second_later(&store);
    reply(&store, tenant, conversation.id, SARAH, "From my other tab", false, None).await.unwrap();
    a_second_later(&store);
    customer_message(&store, tenant, "15551230002", "Are you there?").await;
    a_second_later(&store);
    let mine = reply(&store, tenant, conversation.id, SARAH, "Yes!", false, Some(seen.id)).await;
    assert!(mine.is_ok(), "my own earlier message and the customer's are no collision: {mine:?}");

    a_second_later(&store);
    let note = reply(&store, tenant, conversation.id, TOM, "I know this customer", true, None).await.unwrap();
    a_second_later(&store);
    let refused = reply(&store, tenant, conversation.id, SARAH, "Anything else?", false, Some(seen.id)).await;
    assert_eq!(newer_of(refused), note.message.id, "a colleague's internal note: someone acted");

    a_second_later(&store);
    let content = text("I can help with that.");
    let ai = AiMessage {
        conversation_id: conversation.id,
        author: "user:00000000-0000-7000-8000-0000000000a1",
        content: &content,
        confidence: 0.9,
        complex_issue: false,
        complex_reason: "",
        idempotency_key: "ai-1",
    };
    let ai = store.post_ai_message(tenant, &ai).await.unwrap().unwrap();
    a_second_later(&store);
    let refused = reply(&store, tenant, conversation.id, SARAH, "Anything else?", false, Some(note.message.id)).await;
    assert_eq!(newer_of(refused), ai.message.id, "the AI answered after the note she saw");
    let refused = reply(&store, tenant, conversation.id, SARAH, "Anything else?", false, Some(seen.id)).await;
    assert_eq!(newer_of(refused), ai.message.id, "the newest of what she missed is named");
}

#[tokio::test]
async fn a_retried_send_replays_and_is_never_refused() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (conversation, seen) = customer_message(&store, tenant, "15551230003", "Hi").await;
    a_second_later(&store);
    let content = text("Hello Ana");
    let send = NewReply {
        conversation_id: conversation.id,
        author: SARAH,
        content: &content,
        internal_note: false,
        idempotency_key: "compose-1",
        last_seen: Some(seen.id),
    };
    let first = store.send_reply(tenant, &send).await.unwrap().unwrap();
    a_second_later(&store);
    reply(&store, tenant, conversation.id, TOM, "Welcome!", false, None).await.unwrap();
    // Her client did not get the answer and sends the same message again, on the same view.
    let again = store.send_reply(tenant, &send).await.unwrap().unwrap();
    assert!(again.replayed);
    assert_eq!(again.message.id, first.message.id);
}

#[tokio::test]
async fn a_last_seen_message_must_be_one_of_the_conversation() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (conversation, _) = customer_message(&store, tenant, "15551230004", "Hi").await;
    let (_, elsewhere) = customer_message(&store, tenant, "15551230005", "Hi").await;
    let refused = reply(&store, tenant, conversation.id, SARAH, "Hello", false, Some(elsewhere.id)).await;
    assert!(matches!(refused, Err(StoreError::Invalid(ref r)) if r.contains("last_seen_message_id")), "{refused:?}");
}

#[tokio::test]
async fn the_refusal_is_a_conflict_whose_details_name_the_newer_message_for_replies_and_templates() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (conversation, seen) = customer_message(&store, tenant, "15551230006", "Hi").await;
    a_second_later(&store);
    let toms = reply(&store, tenant, conversation.id, TOM, "Hello!", false, None).await.unwrap();
    a_second_later(&store);
    let sarah = Uuid::now_v7();
    let guard = |force| Some(pb::SendGuard { last_seen_message_id: seen.id.to_string(), force });
    let details = |status: &tonic::Status| {
        let value = status.metadata().get("x-inbox-error-details").expect("details").to_str().unwrap().to_owned();
        serde_json::from_str::<serde_json::Value>(&value).unwrap()
    };
    let expected = serde_json::json!({"newer_message_id": toms.message.id.to_string()});

    let api = ConversationsApi { store: store.clone() };
    let send = |key: &str, force| pb::SendGuardedMessageRequest {
        send: Some(pb::SendMessageRequest {
            conversation_id: conversation.id.to_string(),
            content: Some(text("Hi Ana")),
            internal_note: false,
            idempotency_key: key.into(),
        }),
        guard: guard(force),
    };
    let refused = api
        .send_guarded_message(call(tenant, Role::Agent, sarah, Visibility::All, send("k1", false)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Aborted, "conflict travels as ABORTED with its precise code");
    assert_eq!(refused.metadata().get("x-inbox-error-code").unwrap(), "conflict");
    assert_eq!(details(&refused), expected);
    assert!(
        !api.send_guarded_message(call(tenant, Role::Agent, sarah, Visibility::All, send("k1", true)))
            .await
            .unwrap()
            .into_inner()
            .replayed
    );

    let templates = TemplatesApi { store: store.clone() };
    let template = match store
        .create_template(
            tenant,
            &TemplateName::parse("thanks").unwrap(),
            &TemplateBody::parse("Thank you!").unwrap(),
            "user:admin",
        )
        .await
        .unwrap()
    {
        CreatedTemplate::Created(row) => row.id.to_string(),
        other => panic!("{other:?}"),
    };
    let send_template = |key: &str, force| pb::SendTemplateMessageRequest {
        template_id: template.clone(),
        conversation_id: conversation.id.to_string(),
        agent_name: "Sarah".into(),
        variables: Default::default(),
        idempotency_key: key.into(),
        guard: guard(force),
    };
    let refused = templates
        .send_template_message(call(tenant, Role::Agent, sarah, Visibility::All, send_template("t1", false)))
        .await
        .unwrap_err();
    assert_eq!(details(&refused), expected);
    assert!(
        templates
            .send_template_message(call(tenant, Role::Agent, sarah, Visibility::All, send_template("t1", true)))
            .await
            .is_ok()
    );
}
