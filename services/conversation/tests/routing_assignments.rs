//! The assignment read model follows routing's events: in order, once, newest decision wins.
//! Real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{customer_writes, store};
use inbox_bus::{Delivery, MessageHandler, Payload, new_envelope};
use inbox_conversation::events::FollowRoutingAssignments;
use inbox_proto::routing::v1::AssignmentChange;
use uuid::Uuid;

fn change(conversation: Uuid, sequence: i64, assignee: Option<Uuid>, team: Option<Uuid>) -> AssignmentChange {
    AssignmentChange {
        conversation_id: conversation.to_string(),
        sequence,
        assignee_id: assignee.map(|a| a.to_string()).unwrap_or_default(),
        team_id: team.map(|t| t.to_string()).unwrap_or_default(),
        actor: "service:routing".into(),
        reason: "auto".into(),
        ..Default::default()
    }
}

fn delivery(tenant: Uuid, change: AssignmentChange) -> Delivery {
    let id = format!("routing:{}:{}", change.conversation_id, change.sequence);
    let envelope = new_envelope(id, tenant.to_string(), Payload::RoutingAssignmentChanged(change));
    Delivery {
        subject: format!("events.{tenant}.routing.assignment_changed"),
        envelope,
        delivered: 1,
        stream_sequence: 0,
    }
}

async fn assigned_events(store: &inbox_conversation::store::ConversationStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subject LIKE '%.conversation.assigned'")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn routings_changes_apply_in_sequence_and_older_or_repeated_ones_are_ignored() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let conversation = customer_writes(&store, tenant, "15550001111", "wamid.R.1", "I want a person").await.id;
    let follow = FollowRoutingAssignments::new(store.clone());
    let (team, sarah, tom) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

    follow.handle(delivery(tenant, change(conversation, 1, None, Some(team)))).await.unwrap();
    follow.handle(delivery(tenant, change(conversation, 3, Some(tom), Some(team)))).await.unwrap();
    // Sequence 2 arrives late, and 3 is redelivered: neither moves it back.
    follow.handle(delivery(tenant, change(conversation, 2, Some(sarah), Some(team)))).await.unwrap();
    follow.handle(delivery(tenant, change(conversation, 3, Some(tom), Some(team)))).await.unwrap();

    let row = store.get_conversation(tenant, conversation).await.unwrap().unwrap();
    assert_eq!((row.assignee_id, row.team_id), (Some(tom), Some(team)));
    assert_eq!(assigned_events(&store).await, 2, "conversation.assigned once per applied change");

    // Another tenant's event about this id changes nothing; an unknown conversation is skipped.
    follow.handle(delivery(Uuid::now_v7(), change(conversation, 9, Some(sarah), None))).await.unwrap();
    follow.handle(delivery(tenant, change(Uuid::now_v7(), 1, Some(sarah), None))).await.unwrap();
    let row = store.get_conversation(tenant, conversation).await.unwrap().unwrap();
    assert_eq!(row.assignee_id, Some(tom));

    // The direct assignment (the conversation service's own API) still works.
    store.set_assignment(tenant, conversation, Some(sarah), None, "user:lead", "").await.unwrap();
    let row = store.get_conversation(tenant, conversation).await.unwrap().unwrap();
    assert_eq!(row.assignee_id, Some(sarah));
}
