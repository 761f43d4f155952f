//! Bulk actions: each conversation changes completely or not at all, with its history and
//! events, and the result reports each one. Real PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{seed_conversations, store, viewer};
use inbox_conversation::domain::views::ConversationFilter;
use inbox_conversation::domain::{Priority, Status};
use inbox_conversation::store::{BulkChange, BulkOutcome};
use inbox_service::Visibility;
use uuid::Uuid;

async fn count(store: &inbox_conversation::store::ConversationStore, sql: &str, tenant: Uuid) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(tenant).fetch_one(store.pool()).await.unwrap()
}

#[tokio::test]
async fn resolving_two_thousand_conversations_reports_each_and_records_each() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let ids = seed_conversations(&store, tenant, 2000).await;
    store.set_status(tenant, ids[0], Status::Resolved, "user:x", "").await.unwrap();
    let foreign = seed_conversations(&store, Uuid::now_v7(), 1).await[0];
    let missing = Uuid::now_v7();
    let mut selected = ids.clone();
    selected.extend([foreign, missing, ids[1]]);

    let change = BulkChange::Status { to: Status::Resolved, reason: "cleanup".into() };
    let results = store.bulk_change(tenant, &selected, &change, "user:boss", &Visibility::All).await.unwrap();
    assert_eq!(results.len(), 2002, "each id once, duplicates ignored");
    assert_eq!(results[0], (ids[0], BulkOutcome::Unchanged));
    assert!(results[1..2000].iter().all(|(_, o)| *o == BulkOutcome::Changed));
    assert_eq!(results[2000], (foreign, BulkOutcome::NotFound), "another tenant's conversation is not found");
    assert_eq!(results[2001], (missing, BulkOutcome::NotFound));

    assert_eq!(
        count(&store, "SELECT count(*) FROM conversations WHERE tenant_id = $1 AND status = 'resolved'", tenant).await,
        2000
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM status_changes WHERE tenant_id = $1 AND actor = 'user:boss' AND reason = 'cleanup'",
            tenant
        )
        .await,
        1999
    );
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE subject = $1")
        .bind(format!("events.{tenant}.conversation.status_changed"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(events, 2000, "one event per change (1999 bulk + 1 manual)");

    // Retried: nothing changes twice.
    let again = store.bulk_change(tenant, &ids, &change, "user:boss", &Visibility::All).await.unwrap();
    assert!(again.iter().all(|(_, o)| *o == BulkOutcome::Unchanged));
}

#[tokio::test]
async fn archiving_by_filter_priority_assignment_and_delete() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let ids = seed_conversations(&store, tenant, 10).await;
    for id in &ids[..4] {
        store.set_status(tenant, *id, Status::Resolved, "user:x", "").await.unwrap();
    }
    let resolved = ConversationFilter { statuses: vec![Status::Resolved], ..Default::default() };
    let me = Uuid::now_v7();
    let selected = store.select_conversation_ids(tenant, &resolved, &viewer(me), 10_000).await.unwrap();
    assert_eq!(selected.len(), 4);
    let archive = BulkChange::Status { to: Status::Archived, reason: String::new() };
    let results = store.bulk_change(tenant, &selected, &archive, "user:boss", &Visibility::All).await.unwrap();
    assert!(results.iter().all(|(_, o)| *o == BulkOutcome::Changed));
    assert_eq!(
        count(&store, "SELECT count(*) FROM conversations WHERE tenant_id = $1 AND status = 'archived'", tenant).await,
        4
    );

    let urgent = BulkChange::Priority { to: Priority::Urgent, reason: "incident".into() };
    store.bulk_change(tenant, &ids[4..], &urgent, "user:boss", &Visibility::All).await.unwrap();
    let row = store.get_conversation(tenant, ids[5]).await.unwrap().unwrap();
    assert_eq!(
        (row.priority.as_str(), row.priority_source.as_str(), row.priority_reason.as_str()),
        ("urgent", "manual", "incident")
    );

    let team = Uuid::now_v7();
    let assign = BulkChange::Assign { assignee_id: Some(me), team_id: Some(team), note: "VIP backlog".into() };
    store.bulk_change(tenant, &ids[4..], &assign, "user:boss", &Visibility::All).await.unwrap();
    let row = store.get_conversation(tenant, ids[9]).await.unwrap().unwrap();
    assert_eq!((row.assignee_id, row.team_id), (Some(me), Some(team)));
    assert!(row.assigned_at.is_some());

    let results =
        store.bulk_change(tenant, &ids[..2], &BulkChange::Delete, "user:admin", &Visibility::All).await.unwrap();
    assert!(results.iter().all(|(_, o)| *o == BulkOutcome::Changed));
    assert!(store.get_conversation(tenant, ids[0]).await.unwrap().is_none());
    assert_eq!(
        count(&store, "SELECT count(*) FROM messages WHERE tenant_id = $1", tenant).await,
        8,
        "the deleted conversations' messages are gone"
    );
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE subject LIKE '%.conversation.deleted'")
            .fetch_one(store.pool())
            .await
            .unwrap(),
        2
    );
}

/// Messages carry no foreign key to their conversation (migration 0010): locking keeps the
/// invariant instead. Inbound batches lock each conversation before adding messages to it,
/// and deleting locks the conversations before removing their messages, so whichever comes
/// first, no message is left pointing at a conversation that is gone.
#[tokio::test]
async fn bulk_delete_racing_inbound_leaves_no_orphans() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let customers: Vec<String> = (0..20).map(|i| format!("1555000{i:04}")).collect();
    let round = |r: usize| -> Vec<(Uuid, inbox_proto::ingest::v1::InboundMessage)> {
        customers
            .iter()
            .map(|from| (tenant, common::whatsapp_now(&store, tenant, from, &format!("wamid.{r}.{from}"), "hello")))
            .collect()
    };
    store.append_inbound_batch(&round(0)).await.unwrap();
    let orphans = "SELECT count(*) FROM messages m WHERE m.tenant_id = $1 AND NOT EXISTS \
                   (SELECT 1 FROM conversations c WHERE c.tenant_id = m.tenant_id AND c.id = m.conversation_id)";
    for r in 1..=15 {
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM conversations WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(store.pool())
            .await
            .unwrap();
        let batch = round(r);
        let (stored, deleted) = tokio::join!(
            store.append_inbound_batch(&batch),
            store.bulk_change(tenant, &ids, &BulkChange::Delete, "user:admin", &Visibility::All)
        );
        let stored = stored.unwrap();
        assert!(stored.iter().all(|o| matches!(o, Ok(inbox_conversation::store::Appended::Stored { .. }))));
        assert!(deleted.unwrap().iter().all(|(_, o)| *o == BulkOutcome::Changed));
        assert_eq!(count(&store, orphans, tenant).await, 0, "round {r}: a message outlived its conversation");
    }
    // Customers who write again after it all get a conversation again.
    store.append_inbound_batch(&round(16)).await.unwrap();
    assert_eq!(
        count(&store, "SELECT count(DISTINCT customer_address) FROM conversations WHERE tenant_id = $1", tenant).await,
        20
    );
}
