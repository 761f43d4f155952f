//! Reading a conversation: each person's read state and unread count, and a long history read
//! from the newest message back. Real PostgreSQL; the store's clock moves a second between
//! messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{call, customer_message, reply, store};
use inbox_conversation::api::ConversationsApi;
use inbox_conversation::domain::views::{ConversationFilter, SortOrder};
use inbox_conversation::store::{ConversationStore, HistoryPage, MessageRow, StoreError, Viewer};
use inbox_proto::conversation::v1 as pb;
use inbox_proto::conversation::v1::conversations_server::Conversations;
use inbox_service::{Role, Visibility};
use tonic::Code;
use uuid::Uuid;

async fn customer_writes(store: &ConversationStore, tenant: Uuid, from: &str, body: &str) -> (Uuid, MessageRow) {
    store.clock().advance(chrono::Duration::seconds(1));
    let (conversation, message) = customer_message(store, tenant, from, body).await;
    (conversation.id, message)
}

/// The unread count `person` sees on the conversation, in the list and read alone.
async fn unread(store: &ConversationStore, tenant: Uuid, conversation: Uuid, person: Uuid) -> (i64, i64) {
    let viewer = Viewer::person(person);
    let (listed, _) = store
        .list_conversations_filtered(tenant, &ConversationFilter::default(), &viewer, SortOrder::Recent, 50, None)
        .await
        .unwrap();
    let in_list = listed.iter().find(|c| c.id == conversation).and_then(|c| c.unread).expect("listed with a count");
    let alone = store.visible_conversation(tenant, conversation, &viewer).await.unwrap().unwrap().unread.unwrap();
    (in_list, alone)
}

#[tokio::test]
async fn unread_counts_the_customers_messages_after_the_last_one_each_person_read() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (sarah, tom) = (Uuid::now_v7(), Uuid::now_v7());
    let (id, _) = customer_writes(&store, tenant, "15553210001", "Hi").await;
    let (_, second) = customer_writes(&store, tenant, "15553210001", "My order is late").await;
    customer_writes(&store, tenant, "15553210001", "Order 1234").await;
    assert_eq!(unread(&store, tenant, id, sarah).await, (3, 3), "nothing read yet");

    let read = store.mark_read(tenant, id, sarah, second.id).await.unwrap();
    assert_eq!((read.last_read_message_id, read.unread), (second.id, 1));
    assert_eq!(unread(&store, tenant, id, sarah).await, (1, 1));
    let row = store.visible_conversation(tenant, id, &Viewer::person(sarah)).await.unwrap().unwrap();
    assert_eq!(row.last_read_message_id, Some(second.id));
    assert_eq!(unread(&store, tenant, id, tom).await, (3, 3), "each person has their own");

    store.clock().advance(chrono::Duration::seconds(1));
    reply(&store, tenant, id, "user:tom", "Looking into it", false, None).await.unwrap();
    assert_eq!(unread(&store, tenant, id, sarah).await, (1, 1), "our answers are not unread customer messages");
    customer_writes(&store, tenant, "15553210001", "Thanks").await;
    assert_eq!(unread(&store, tenant, id, sarah).await, (2, 2));

    let service = store.visible_conversation(tenant, id, &Viewer::default()).await.unwrap().unwrap();
    assert_eq!((service.unread, service.last_read_message_id), (None, None), "no read state for a service");
    assert_eq!(service.to_proto().unread, None);
}

#[tokio::test]
async fn marking_read_is_idempotent_and_never_moves_back() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let sarah = Uuid::now_v7();
    let (id, first) = customer_writes(&store, tenant, "15553210002", "One").await;
    customer_writes(&store, tenant, "15553210002", "Two").await;
    let (_, third) = customer_writes(&store, tenant, "15553210002", "Three").await;

    let newest = store.mark_read(tenant, id, sarah, third.id).await.unwrap();
    assert_eq!((newest.last_read_message_id, newest.unread), (third.id, 0));
    assert_eq!(store.mark_read(tenant, id, sarah, third.id).await.unwrap(), newest, "the same mark again");
    let older = store.mark_read(tenant, id, sarah, first.id).await.unwrap();
    assert_eq!(older, newest, "a late mark of an older message (another tab) leaves it where it was");
    assert_eq!(unread(&store, tenant, id, sarah).await, (0, 0));

    let (_, elsewhere) = customer_writes(&store, tenant, "15553210003", "Other").await;
    let refused = store.mark_read(tenant, id, sarah, elsewhere.id).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
}

#[tokio::test]
async fn a_person_marks_read_through_the_api_only_what_they_may_see() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let api = ConversationsApi { store: store.clone() };
    let (id, message) = customer_writes(&store, tenant, "15553210004", "Hello").await;
    store.set_assignment(tenant, id, None, Some(Uuid::now_v7()), "user:boss", "").await.unwrap();
    let sarah = Uuid::now_v7();
    let mark = pb::MarkReadRequest { conversation_id: id.to_string(), last_read_message_id: message.id.to_string() };

    let outside = Visibility::Teams { team_ids: vec![Uuid::now_v7()], assignee: Some(sarah) };
    let refused = api.mark_read(call(tenant, Role::Agent, sarah, outside, mark.clone())).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    let read = api.mark_read(call(tenant, Role::Agent, sarah, Visibility::All, mark.clone())).await.unwrap();
    assert_eq!(
        read.into_inner(),
        pb::ReadState { conversation_id: id.to_string(), last_read_message_id: message.id.to_string(), unread: 0 }
    );
    let get = pb::GetConversationRequest { conversation_id: id.to_string() };
    let seen = api.get_conversation(call(tenant, Role::Agent, sarah, Visibility::All, get)).await.unwrap();
    let seen = seen.into_inner();
    assert_eq!((seen.unread, seen.last_read_message_id), (Some(0), message.id.to_string()));

    let bad = pb::MarkReadRequest { last_read_message_id: "latest".into(), ..mark };
    let refused = api.mark_read(call(tenant, Role::Agent, sarah, Visibility::All, bad)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_long_history_opens_at_the_newest_messages_and_pages_back_to_the_first() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let mut sent = Vec::new();
    let mut id = Uuid::nil();
    for i in 1..=7 {
        let (conversation, message) = customer_writes(&store, tenant, "15553210005", &format!("message {i}")).await;
        id = conversation;
        sent.push(message.id);
    }
    let everyone = Viewer::default();
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let (rows, next) = store.list_messages(tenant, id, &everyone, 3, HistoryPage::Backward(before)).await.unwrap();
        pages.push(rows.iter().map(|m| m.id).collect::<Vec<_>>());
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        pages,
        vec![sent[4..7].to_vec(), sent[1..4].to_vec(), sent[..1].to_vec()],
        "newest page first, each page in the order sent"
    );

    let (forward, next) = store.list_messages(tenant, id, &everyone, 3, HistoryPage::Forward(None)).await.unwrap();
    assert_eq!(forward.iter().map(|m| m.id).collect::<Vec<_>>(), sent[..3].to_vec(), "forward paging is as before");
    let (rest, _) = store.list_messages(tenant, id, &everyone, 10, HistoryPage::Forward(next)).await.unwrap();
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), sent[3..].to_vec());

    // The same through the API, with the cursor it hands out.
    let api = ConversationsApi { store: store.clone() };
    let page = |cursor: String| pb::ListEarlierMessagesRequest {
        conversation_id: id.to_string(),
        page: Some(inbox_proto::common::v1::PageRequest { limit: 4, cursor }),
    };
    let as_agent = |message| call(tenant, Role::Agent, Uuid::now_v7(), Visibility::All, message);
    let newest = api.list_earlier_messages(as_agent(page(String::new()))).await.unwrap().into_inner();
    let ids = |m: &[pb::Message]| m.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    let strings = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>();
    assert_eq!(ids(&newest.messages), strings(&sent[3..]));
    let older = api.list_earlier_messages(as_agent(page(newest.next_cursor))).await.unwrap().into_inner();
    assert_eq!((ids(&older.messages), older.next_cursor), (strings(&sent[..3]), String::new()));
}
