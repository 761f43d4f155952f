//! The inbox views, the list's filters and sorts, and cursor pagination, against real
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use chrono::Duration;
use common::{customer_writes, seed_conversations, store, text, viewer};
use inbox_conversation::domain::views::{Assignment, ConversationFilter, SortOrder, TimeWindow, View};
use inbox_conversation::domain::{Priority, Status, TenantSettings};
use inbox_conversation::store::{ConversationStore, NewReply};
use uuid::Uuid;

async fn list_all(
    store: &ConversationStore,
    tenant: Uuid,
    filter: &ConversationFilter,
    me: Uuid,
    sort: SortOrder,
    page: i64,
) -> Vec<inbox_conversation::store::ConversationRow> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let (rows, next) =
            store.list_conversations_filtered(tenant, filter, &viewer(me), sort, page, cursor).await.unwrap();
        out.extend(rows);
        match next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

async fn view_ids(store: &ConversationStore, tenant: Uuid, me: Uuid, view: View) -> HashSet<Uuid> {
    let filter = ConversationFilter { view: Some(view), ..Default::default() };
    list_all(store, tenant, &filter, me, SortOrder::Recent, 50).await.into_iter().map(|c| c.id).collect()
}

async fn reply(store: &ConversationStore, tenant: Uuid, conversation: Uuid, key: &str) {
    let content = text("on it");
    let reply = NewReply {
        conversation_id: conversation,
        author: "user:x",
        content: &content,
        internal_note: false,
        idempotency_key: key,
        last_seen: None,
    };
    store.send_reply(tenant, &reply).await.unwrap().unwrap();
}

#[tokio::test]
async fn each_view_lists_exactly_what_it_counts() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let (me, colleague) = (Uuid::now_v7(), Uuid::now_v7());
    let assign = |id, who| {
        let store = store.clone();
        async move { store.set_assignment(tenant, id, who, None, "user:boss", "").await.unwrap().unwrap() }
    };

    let needs_attention = customer_writes(&store, tenant, "1", "w1", "where is my order").await.id;
    assign(needs_attention, Some(me)).await;
    let waiting = customer_writes(&store, tenant, "2", "w2", "hello").await.id;
    assign(waiting, Some(me)).await;
    reply(&store, tenant, waiting, "k2").await;
    let ready = customer_writes(&store, tenant, "3", "w3", "thanks").await.id;
    assign(ready, Some(me)).await;
    store.set_status(tenant, ready, Status::Pending, "user:x", "").await.unwrap();
    let unassigned = customer_writes(&store, tenant, "4", "w4", "question").await.id;
    let in_progress = customer_writes(&store, tenant, "5", "w5", "question").await.id;
    assign(in_progress, Some(colleague)).await;
    let review = customer_writes(&store, tenant, "6", "w6", "can I talk to a real person?").await.id;
    let resolved_now = customer_writes(&store, tenant, "7", "w7", "ok").await.id;
    store.set_status(tenant, resolved_now, Status::Resolved, "user:x", "").await.unwrap();
    let resolved_long_ago = customer_writes(&store, tenant, "8", "w8", "ok").await.id;
    store.set_status(tenant, resolved_long_ago, Status::Resolved, "user:x", "").await.unwrap();
    sqlx::query("UPDATE conversations SET status_changed_at = $2 WHERE id = $1")
        .bind(resolved_long_ago)
        .bind(store.now() - Duration::days(3))
        .execute(store.pool())
        .await
        .unwrap();
    // Another tenant's conversations count nowhere.
    customer_writes(&store, Uuid::now_v7(), "1", "w1", "hello").await;

    let counts = store.count_views(tenant, &viewer(me), None).await.unwrap();
    let expected = [
        (View::AllActive, vec![needs_attention, waiting, unassigned, in_progress, review], counts.all_active),
        (View::AllPending, vec![ready], counts.all_pending),
        (View::AllResolvedToday, vec![resolved_now], counts.all_resolved_today),
        (View::MineNeedsAttention, vec![needs_attention], counts.mine_needs_attention),
        (View::MineWaitingForCustomer, vec![waiting], counts.mine_waiting_for_customer),
        (View::MineReadyToClose, vec![ready], counts.mine_ready_to_close),
        (View::TeamUnassigned, vec![unassigned], counts.team_unassigned),
        (View::TeamInProgress, vec![needs_attention, waiting, ready, in_progress], counts.team_in_progress),
        (View::TeamNeedsReview, vec![review], counts.team_needs_review),
    ];
    for (view, ids, count) in expected {
        let listed = view_ids(&store, tenant, me, view).await;
        assert_eq!(listed, ids.iter().copied().collect(), "{view:?} lists the wrong conversations");
        assert_eq!(count, ids.len() as i64, "{view:?} counts differently from what it lists");
    }
    assert_eq!(counts.open_by_channel, vec![(inbox_proto::common::v1::Channel::Whatsapp, 6)]);
    // The colleague's Mine views are theirs.
    let theirs = store.count_views(tenant, &viewer(colleague), None).await.unwrap();
    assert_eq!((theirs.mine_needs_attention, theirs.mine_waiting_for_customer), (1, 0));
}

#[tokio::test]
async fn resolved_today_starts_at_midnight_in_the_tenant_zone() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    // UTC+14: "today" there is rarely today in UTC.
    let settings = TenantSettings::parse("Pacific/Kiritimati", "Acme", 0.6, "x").unwrap();
    store.set_tenant_settings(tenant, &settings).await.unwrap();
    let midnight = settings.start_of_today(store.now());
    let before = customer_writes(&store, tenant, "1", "w1", "a").await.id;
    let after = customer_writes(&store, tenant, "2", "w2", "b").await.id;
    for (id, at) in [(before, midnight - Duration::seconds(1)), (after, midnight + Duration::seconds(1))] {
        store.set_status(tenant, id, Status::Resolved, "user:x", "").await.unwrap();
        sqlx::query("UPDATE conversations SET status_changed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let counts = store.count_views(tenant, &viewer(Uuid::now_v7()), None).await.unwrap();
    assert_eq!(counts.all_resolved_today, 1);
    assert_eq!(view_ids(&store, tenant, Uuid::now_v7(), View::AllResolvedToday).await, HashSet::from([after]));
}

#[tokio::test]
async fn filters_combine() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let me = Uuid::now_v7();
    let urgent_mine = customer_writes(&store, tenant, "1", "w1", "the site is down").await.id;
    store.set_assignment(tenant, urgent_mine, Some(me), None, "user:x", "").await.unwrap();
    let urgent_unassigned = customer_writes(&store, tenant, "2", "w2", "outage!").await.id;
    let normal_mine = customer_writes(&store, tenant, "3", "w3", "hello").await.id;
    store.set_assignment(tenant, normal_mine, Some(me), None, "user:x", "").await.unwrap();
    let old_urgent_mine = customer_writes(&store, tenant, "4", "w4", "emergency").await.id;
    store.set_assignment(tenant, old_urgent_mine, Some(me), None, "user:x", "").await.unwrap();
    sqlx::query("UPDATE conversations SET last_message_at = $2 WHERE id = $1")
        .bind(old_urgent_mine)
        .bind(store.now() - Duration::hours(2))
        .execute(store.pool())
        .await
        .unwrap();

    let filter = ConversationFilter {
        statuses: vec![Status::Active],
        channels: vec!["whatsapp"],
        priorities: vec![Priority::Urgent],
        assignment: Assignment::Me,
        window: Some(TimeWindow::LastHour),
        ..Default::default()
    };
    let ids: Vec<Uuid> =
        list_all(&store, tenant, &filter, me, SortOrder::Recent, 50).await.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![urgent_mine]);

    let unassigned = ConversationFilter { assignment: Assignment::Unassigned, ..Default::default() };
    let ids: Vec<Uuid> =
        list_all(&store, tenant, &unassigned, me, SortOrder::Recent, 50).await.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![urgent_unassigned]);

    let others = ConversationFilter { assignment: Assignment::Others, ..Default::default() };
    assert!(list_all(&store, tenant, &others, me, SortOrder::Recent, 50).await.is_empty());
    let telephony = ConversationFilter { channels: vec!["telephony"], ..Default::default() };
    assert!(list_all(&store, tenant, &telephony, me, SortOrder::Recent, 50).await.is_empty());
}

#[tokio::test]
async fn every_sort_pages_through_every_conversation_once_in_order() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    let me = Uuid::now_v7();
    let ids = seed_conversations(&store, tenant, 37).await;
    for (i, id) in ids.iter().enumerate() {
        let priority = [Priority::Low, Priority::Urgent, Priority::Normal, Priority::High][i % 4];
        store.set_priority(tenant, *id, priority, "").await.unwrap();
        if i % 3 == 0 {
            store.set_assignment(tenant, *id, Some(me), None, "user:x", "").await.unwrap();
        }
    }
    for sort in [SortOrder::Recent, SortOrder::Oldest, SortOrder::Priority, SortOrder::Channel, SortOrder::Assignment] {
        let rows = list_all(&store, tenant, &ConversationFilter::default(), me, sort, 5).await;
        assert_eq!(rows.len(), 37, "{sort:?}");
        assert_eq!(rows.iter().map(|r| r.id).collect::<HashSet<_>>().len(), 37, "{sort:?} repeated a row");
        let key = |r: &inbox_conversation::store::ConversationRow| match sort {
            SortOrder::Priority => inbox_conversation::domain::views::priority_rank(&r.priority),
            SortOrder::Assignment => i16::from(r.assignee_id.is_some()),
            _ => 0,
        };
        for pair in rows.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            match sort {
                SortOrder::Oldest => assert!((a.last_message_at, a.id) < (b.last_message_at, b.id)),
                _ => assert!(
                    key(a) < key(b) || (key(a) == key(b) && (a.last_message_at, a.id) > (b.last_message_at, b.id)),
                    "{sort:?} out of order"
                ),
            }
        }
    }
    // The first page by priority starts with the urgent ones.
    let (first, _) = store
        .list_conversations_filtered(tenant, &ConversationFilter::default(), &viewer(me), SortOrder::Priority, 3, None)
        .await
        .unwrap();
    assert!(first.iter().all(|c| c.priority == "urgent"));
}

#[tokio::test]
async fn a_cursor_from_another_sort_is_refused_and_me_needs_a_user() {
    let (_db, store) = store().await;
    let tenant = Uuid::now_v7();
    seed_conversations(&store, tenant, 3).await;
    let all = ConversationFilter::default();
    let (_, next) = store
        .list_conversations_filtered(tenant, &all, &viewer(Uuid::now_v7()), SortOrder::Recent, 1, None)
        .await
        .unwrap();
    let err = store
        .list_conversations_filtered(tenant, &all, &viewer(Uuid::now_v7()), SortOrder::Priority, 1, next)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another sort"));
    let mine = ConversationFilter { assignment: Assignment::Me, ..Default::default() };
    let nobody = inbox_conversation::store::Viewer::default();
    assert!(store.list_conversations_filtered(tenant, &mine, &nobody, SortOrder::Recent, 1, None).await.is_err());
}
