//! Notifications end to end in-process: events of the conversation service, the real routing
//! service for people and teams, and each notification type reaching exactly the right people
//! under their preferences, live on their own subject, in their centre, once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeMap;

use common::{Convo, World, centre, next_frame, wait_for_rows};
use inbox_notification::proto as pb;
use inbox_proto::conversation::v1::{ConversationStatus, Priority, SenderKind};
use inbox_service::Role;
use inbox_testkit::service::{ServingStatus, get, grpc_health, sample};
use uuid::Uuid;

fn level(kind: pb::NotificationType, level: pb::Level) -> pb::TypePreference {
    pb::TypePreference { r#type: kind as i32, level: level as i32 }
}

/// Who got which type, by person.
async fn tally(pool: &sqlx::PgPool) -> BTreeMap<(Uuid, String), i64> {
    let rows: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT user_id, kind, count(*) FROM notifications GROUP BY user_id, kind")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(u, k, n)| ((u, k), n)).collect()
}

#[tokio::test]
async fn each_type_reaches_exactly_the_right_people_under_their_preferences() {
    let world = World::start("notification_types").await;
    let ana = world.person("Ana", "agent", "UTC").await;
    let ben = world.person("Ben", "agent", "UTC").await;
    let cleo = world.person("Cleo", "agent", "UTC").await;
    let sue = world.person("Sue", "supervisor", "Europe/Paris").await;
    let alice = world.person("Alice", "admin", "UTC").await;
    let support = world.team("Support", &[ana, sue]).await;
    let replica = world.replica().await;
    let mut client = replica.client().await;

    // Health first: ready, serving.
    let http = reqwest::Client::new();
    assert_eq!(get(&http, format!("http://{}/healthz", replica.http)).await.map(|r| r.0), Some(200));
    assert_eq!(grpc_health(replica.grpc).await.unwrap(), ServingStatus::Serving);

    // Ben never wants customer replies; Ana wants status changes; Sue is in do-not-disturb.
    let prefs = |types, dnd| pb::UpdatePreferencesRequest { types, do_not_disturb: dnd, ..Default::default() };
    let off = vec![level(pb::NotificationType::CustomerReplied, pb::Level::None)];
    client.update_preferences(world.as_user(ben, Role::Agent, prefs(off, None))).await.unwrap();
    let on = vec![level(pb::NotificationType::StatusChanged, pb::Level::Visual)];
    client.update_preferences(world.as_user(ana, Role::Agent, prefs(on, None))).await.unwrap();
    let got = client.update_preferences(world.as_user(sue, Role::Supervisor, prefs(vec![], Some(true)))).await.unwrap();
    assert!(got.get_ref().do_not_disturb);
    assert_eq!(got.get_ref().time_zone, "Europe/Paris", "the time zone comes from the routing profile");
    // An agent may not change a colleague's settings; an admin may.
    let other = pb::UpdatePreferencesRequest { user_id: ben.to_string(), ..Default::default() };
    let denied = client.update_preferences(world.as_user(ana, Role::Agent, other.clone())).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    client.update_preferences(world.as_user(alice, Role::Admin, other)).await.unwrap();

    let mut ana_live = world.live(ana).await;
    let mut sue_live = world.live(sue).await;
    let pool = world.pool().await;

    // 1. A conversation with no team opens: everyone may see it, so everyone hears.
    let mut c = Convo::new(&world);
    c.open(&world).await;
    let frame = next_frame(&mut ana_live).await;
    assert_eq!(frame.r#type, pb::NotificationType::NewConversation as i32);
    assert_eq!((frame.sound, frame.browser), (true, false), "new conversations: sound + visual");
    assert_eq!(frame.body, "Carla: My order never came");
    assert_eq!(frame.conversation_id, c.id().to_string());
    let frame = next_frame(&mut sue_live).await;
    assert_eq!((frame.sound, frame.browser, frame.level), (false, false, pb::Level::Visual as i32), "do not disturb");

    // 2. Sue assigns it to Ana in Support: Ana is told, with every alert.
    let assigned = c.assign(&world, Some(ana), Some(support), &format!("user:{sue}")).await;
    let frame = next_frame(&mut ana_live).await;
    assert_eq!(frame.r#type, pb::NotificationType::Assigned as i32);
    assert_eq!((frame.sound, frame.browser), (true, true), "assigned to me: all alerts");
    // The same event once more (a redelivery days later): nobody is told twice.
    let again = c.proto.clone();
    world
        .publish_again(
            "conversation.assigned",
            &assigned,
            inbox_bus::Payload::AssignmentChanged(inbox_proto::events::v1::AssignmentChanged {
                conversation: Some(again),
                previous_assignee_id: String::new(),
                previous_team_id: String::new(),
                actor: format!("user:{sue}"),
                note: String::new(),
            }),
        )
        .await;

    // 3. The customer writes again: the assignee alone.
    world.clock.advance(chrono::Duration::minutes(5));
    c.message(&world, SenderKind::Customer, "15551230001", "Hello? Anyone?").await;
    let frame = next_frame(&mut ana_live).await;
    assert_eq!(frame.r#type, pb::NotificationType::CustomerReplied as i32);
    assert_eq!((frame.sound, frame.browser), (false, false), "customer reply: visual only");
    assert_eq!(frame.body, "Carla: Hello? Anyone?");

    // 4. It becomes urgent: the assignee.
    c.set_priority(&world, Priority::Urgent).await;
    assert_eq!(next_frame(&mut ana_live).await.r#type, pb::NotificationType::Urgent as i32);

    // 5. Sue moves it to Pending: Ana (who turned status changes on) hears; her own change
    // back to Active tells nobody.
    c.set_status(&world, ConversationStatus::Pending, &format!("user:{sue}")).await;
    assert_eq!(next_frame(&mut ana_live).await.r#type, pb::NotificationType::StatusChanged as i32);
    c.set_status(&world, ConversationStatus::Active, &format!("user:{ana}")).await;

    // 6. A conversation queued for Support, unassigned: routing's assignment tells nobody; the
    // customer's reply reaches everyone who may see it: Support's members, supervisors, admins.
    let mut d = Convo::new(&world);
    d.open(&world).await;
    d.assign(&world, None, Some(support), "service:routing").await;
    world.clock.advance(chrono::Duration::minutes(1));
    d.message(&world, SenderKind::Customer, "15551230002", "Where is my refund").await;

    // 7. One with no team, unassigned: a reply reaches everyone but Ben, who turned replies off.
    let mut e = Convo::new(&world);
    e.open(&world).await;
    world.clock.advance(chrono::Duration::minutes(1));
    e.message(&world, SenderKind::Customer, "15551230003", "Hi").await;

    // New conversations 3 × 5 people, assigned 1, urgent 1, status 1, replies 1 + 3 + 4.
    let total = wait_for_rows(&pool, "notifications", 15 + 1 + 1 + 1 + 8).await;
    // A marker event after everything, so nothing still in flight is missed.
    let mut marker = Convo::new(&world);
    marker.assign(&world, Some(cleo), None, "service:routing").await;
    assert_eq!(wait_for_rows(&pool, "notifications WHERE kind = 'assigned'", 2).await, 2);
    let got = tally(&pool).await;
    let names = [(ana, "ana"), (ben, "ben"), (cleo, "cleo"), (sue, "sue"), (alice, "alice")];
    let readable: Vec<String> = got
        .iter()
        .map(|((u, k), n)| format!("{}:{k}={n}", names.iter().find(|(id, _)| id == u).map_or("?", |(_, name)| name)))
        .collect();
    eprintln!("notifications by person and type: {readable:?}");
    assert_eq!(total, 26, "{readable:?}");
    let n = |user: Uuid, kind: &str| got.get(&(user, kind.to_owned())).copied().unwrap_or(0);
    for person in [ana, ben, cleo, sue, alice] {
        assert_eq!(n(person, "new_conversation"), 3, "everyone hears of every new conversation with no team");
    }
    assert_eq!((n(ana, "assigned"), n(cleo, "assigned"), n(sue, "assigned")), (1, 1, 0));
    assert_eq!((n(ana, "urgent"), n(sue, "urgent")), (1, 0), "urgent: the assignee only");
    assert_eq!((n(ana, "status_changed"), n(sue, "status_changed")), (1, 0));
    assert_eq!(n(ana, "customer_replied"), 3, "hers, Support's queue, and the one everyone sees");
    assert_eq!(n(sue, "customer_replied"), 2);
    assert_eq!(n(alice, "customer_replied"), 2);
    assert_eq!(n(cleo, "customer_replied"), 1, "not Support's queue: she may not see it");
    assert_eq!(n(ben, "customer_replied"), 0, "he turned them off");

    // The centre: newest first, unread counted, marked read one by one or all at once.
    let listed = centre(&world, &replica, ana).await;
    assert_eq!(listed.len(), 9);
    let ids: Vec<Uuid> = listed.iter().map(|n| Uuid::parse_str(&n.id).unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let unread = client.unread_count(world.as_user(ana, Role::Agent, pb::UnreadCountRequest {})).await.unwrap();
    assert_eq!(unread.get_ref().unread_count, 9);
    let one = pb::MarkReadRequest { ids: vec![listed[0].id.clone()] };
    let marked = client.mark_read(world.as_user(ana, Role::Agent, one.clone())).await.unwrap().into_inner();
    assert_eq!((marked.marked, marked.unread_count), (1, 8));
    // Ben cannot mark Ana's.
    let theirs = client.mark_read(world.as_user(ben, Role::Agent, one)).await.unwrap().into_inner();
    assert_eq!(theirs.marked, 0);
    let page = pb::ListNotificationsRequest {
        page: Some(inbox_proto::common::v1::PageRequest { limit: 5, cursor: String::new() }),
        unread_only: true,
    };
    let first = client.list_notifications(world.as_user(ana, Role::Agent, page.clone())).await.unwrap().into_inner();
    assert_eq!((first.notifications.len(), first.unread_count), (5, 8));
    let rest = pb::ListNotificationsRequest {
        page: Some(inbox_proto::common::v1::PageRequest { limit: 5, cursor: first.next_cursor.clone() }),
        ..page
    };
    let second = client.list_notifications(world.as_user(ana, Role::Agent, rest)).await.unwrap().into_inner();
    assert_eq!((second.notifications.len(), second.next_cursor.as_str()), (3, ""));
    let all = client.mark_all_read(world.as_user(ana, Role::Agent, pb::MarkAllReadRequest {})).await.unwrap();
    assert_eq!((all.get_ref().marked, all.get_ref().unread_count), (8, 0));

    // Each event was handled once, the redelivered one recognised as such.
    let metrics = get(&http, format!("http://{}/metrics", replica.admin)).await.unwrap().1;
    let repeats = sample(
        &metrics,
        "inbox_notification_events_total",
        &[r#"kind="conversation.assigned""#, r#"first_seen="false""#],
    );
    assert_eq!(repeats, Some(1.0));
    replica.stop().await;
}

#[tokio::test]
async fn quiet_hours_in_the_agents_time_zone_silence_sound_and_push() {
    let world = World::start("notification_quiet").await;
    // 09:00 UTC is 18:00 in Tokyo: inside Kenji's 17:00–08:00 quiet hours, not Maria's in UTC.
    let kenji = world.person("Kenji", "agent", "Asia/Tokyo").await;
    let maria = world.person("Maria", "agent", "UTC").await;
    let replica = world.replica().await;
    let mut client = replica.client().await;
    for user in [kenji, maria] {
        let quiet = pb::UpdatePreferencesRequest {
            quiet_hours_start: Some("17:00".into()),
            quiet_hours_end: Some("08:00".into()),
            ..Default::default()
        };
        let got = client.update_preferences(world.as_user(user, Role::Agent, quiet)).await.unwrap().into_inner();
        assert_eq!((got.quiet_hours_start.as_str(), got.quiet_hours_end.as_str()), ("17:00", "08:00"));
    }
    let bad = pb::UpdatePreferencesRequest {
        quiet_hours_start: Some("25:00".into()),
        quiet_hours_end: Some("08:00".into()),
        ..Default::default()
    };
    assert_eq!(
        client.update_preferences(world.as_user(maria, Role::Agent, bad)).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let mut kenji_live = world.live(kenji).await;
    let mut maria_live = world.live(maria).await;
    let mut c = Convo::new(&world);
    c.assign(&world, Some(kenji), None, "service:routing").await;
    let quiet = next_frame(&mut kenji_live).await;
    assert_eq!((quiet.sound, quiet.browser, quiet.level), (false, false, pb::Level::Visual as i32));
    let mut d = Convo::new(&world);
    d.assign(&world, Some(maria), None, "service:routing").await;
    let loud = next_frame(&mut maria_live).await;
    assert_eq!((loud.sound, loud.browser, loud.level), (true, true, pb::Level::All as i32));
    replica.stop().await;
}
