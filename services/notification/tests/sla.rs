//! SLA timers with two replicas on one store and one clock: warnings and breaches fire once
//! each, pause while the conversation waits for the customer, re-plan when the priority
//! changes, and still fire after every replica was down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use common::{Convo, World, wait_for_rows};
use inbox_notification::proto as pb;
use inbox_proto::conversation::v1::{ConversationStatus, Priority, SenderKind};
use inbox_service::Role;
use inbox_testkit::service::{get, sample};
use inbox_testkit::wait_until;

fn policy(priority: Priority, first: u32, next: u32, resolution: u32) -> pb::SlaPolicy {
    pb::SlaPolicy {
        priority: priority as i32,
        first_response_seconds: first,
        next_response_seconds: next,
        resolution_seconds: resolution,
    }
}

async fn alerts_fired(http: &reqwest::Client, replica: &common::Replica, alert: &str) -> f64 {
    // One process, one registry: the counter sums both replicas.
    let metrics = get(http, format!("http://{}/metrics", replica.admin)).await.unwrap().1;
    ["first_response", "next_response", "resolution"]
        .iter()
        .map(|target| {
            let target = format!("target=\"{target}\"");
            sample(&metrics, "inbox_notification_sla_alerts_total", &[&format!("alert=\"{alert}\""), &target])
                .unwrap_or(0.0)
        })
        .sum()
}

async fn timers(world: &World, replica: &common::Replica, convo: &Convo) -> Vec<pb::SlaTimer> {
    let request = pb::ListSlaTimersRequest { conversation_id: convo.id().to_string() };
    replica.client().await.list_sla_timers(world.as_operator(request)).await.unwrap().into_inner().timers
}

#[tokio::test]
async fn warnings_and_breaches_fire_once_across_two_replicas_pause_replan_and_survive_a_restart() {
    let world = World::start("notification_sla").await;
    let ana = world.person("Ana", "agent", "UTC").await;
    let sue = world.person("Sue", "supervisor", "UTC").await;
    let tom = world.person("Tom", "supervisor", "UTC").await;
    let support = world.team("Support", &[ana, sue]).await;
    world.team("Sales", &[tom]).await;
    let (a, b) = (world.replica().await, world.replica().await);
    let http = reqwest::Client::new();
    let pool = world.pool().await;

    // Normal: first response in 10 min, resolution in 1 h; urgent: first response in 2 min.
    let settings = pb::SlaSettings {
        policies: vec![policy(Priority::Normal, 600, 300, 3600), policy(Priority::Urgent, 120, 60, 1800)],
        warning_percent: 80,
        time_zone: "Europe/Paris".into(),
        business_hours: vec![],
    };
    let put = pb::PutSlaSettingsRequest { settings: Some(settings.clone()) };
    let denied = a.client().await.put_sla_settings(world.as_user(ana, Role::Agent, put.clone())).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let stored = a.client().await.put_sla_settings(world.as_operator(put)).await.unwrap().into_inner();
    assert_eq!(stored.policies.len(), 2);
    let nonsense = pb::PutSlaSettingsRequest {
        settings: Some(pb::SlaSettings {
            business_hours: vec![pb::BusinessHours { weekday: 9, start: "09:00".into(), end: "17:00".into() }],
            ..settings.clone()
        }),
    };
    assert_eq!(
        a.client().await.put_sla_settings(world.as_operator(nonsense)).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );

    // Forty conversations, each assigned to Ana in Support, all at once.
    let mut conversations = Vec::new();
    for _ in 0..40 {
        let mut c = Convo::new(&world);
        c.open(&world).await;
        c.assign(&world, Some(ana), Some(support), "service:routing").await;
        conversations.push(c);
    }
    let planned = wait_until(Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sla_timers WHERE next_fire_at IS NOT NULL")
                .fetch_one(&pool)
                .await
                .ok()?;
            let assigned: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations WHERE team_id = $1")
                .bind(support)
                .fetch_one(&pool)
                .await
                .ok()?;
            (n == 80 && assigned == 40).then_some(n)
        }
    })
    .await;
    assert_eq!(planned, Some(80), "a first-response and a resolution clock each");
    let first = &timers(&world, &a, &conversations[0]).await;
    let first_response = first.iter().find(|t| t.target == "first_response").unwrap();
    assert_eq!(first_response.due_at, Some(inbox_proto::timestamp_from(common::start_time() + Span::seconds(600))));
    assert_eq!(first_response.warning_at, Some(inbox_proto::timestamp_from(common::start_time() + Span::seconds(480))));

    // 8 minutes: 80 % of the first-response target. Each conversation warns Ana and Sue (the
    // team's supervisor), never Tom (another team's), once, whichever replica fires.
    world.clock.advance(Span::seconds(480));
    assert_eq!(wait_for_rows(&pool, "notifications WHERE kind = 'sla_warning'", 80).await, 80);
    let tom_heard: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id = $1 AND kind LIKE 'sla%'")
            .bind(tom)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(tom_heard, 0);
    let warned = wait_until(Duration::from_secs(10), || async {
        (world.sla_events("sla.warning").await.len() == 40).then_some(())
    })
    .await;
    assert!(warned.is_some(), "40 sla.warning events for the metrics service");
    // 10 minutes: breached, once each.
    world.clock.advance(Span::seconds(120));
    assert_eq!(wait_for_rows(&pool, "notifications WHERE kind = 'sla_breached'", 80).await, 80);
    let breached = wait_until(Duration::from_secs(10), || async {
        (world.sla_events("sla.breached").await.len() == 40).then_some(())
    })
    .await;
    assert!(breached.is_some(), "40 sla.breached events");
    // Both replicas kept looking for a while longer: still exactly once each.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(alerts_fired(&http, &a, "warning").await, 40.0);
    assert_eq!(alerts_fired(&http, &a, "breached").await, 40.0);
    let event = &world.sla_events("sla.breached").await[0];
    let Some(inbox_bus::Payload::SlaBreached(alert)) = &event.payload else { panic!("not an SlaAlert") };
    assert_eq!(
        (alert.target.as_str(), alert.target_seconds, alert.assignee_id.clone()),
        ("first_response", 600, ana.to_string())
    );

    // A reply stops the first-response clock.
    let mut answered = conversations.remove(0);
    answered.message(&world, SenderKind::Agent, &ana.to_string(), "On it").await;
    let stopped = wait_until(Duration::from_secs(10), || async {
        let t = timers(&world, &a, &answered).await;
        t.iter().find(|t| t.target == "first_response").and_then(|t| t.stopped_at).map(|_| ())
    })
    .await;
    assert!(stopped.is_some());

    // Pending pauses every clock; back to Active it resumes where it stopped; urgent re-plans
    // it with the shorter target.
    let mut p = Convo::new(&world);
    p.open(&world).await;
    p.assign(&world, Some(ana), Some(support), "service:routing").await;
    world.clock.advance(Span::seconds(100));
    p.set_status(&world, ConversationStatus::Pending, "system:auto").await;
    let paused = wait_until(Duration::from_secs(10), || async {
        let t = timers(&world, &b, &p).await;
        t.iter()
            .find(|t| t.target == "first_response")
            .filter(|t| t.paused && t.due_at.is_none())
            .map(|t| t.elapsed_seconds)
    })
    .await;
    assert_eq!(paused, Some(100));
    world.clock.advance(Span::hours(3));
    p.set_status(&world, ConversationStatus::Active, "customer").await;
    let resumed_at = world.clock.now();
    let resumed = wait_until(Duration::from_secs(10), || async {
        let t = timers(&world, &b, &p).await;
        t.iter().find(|t| t.target == "first_response").and_then(|t| t.due_at).filter(|_| true)
    })
    .await;
    assert_eq!(
        resumed,
        Some(inbox_proto::timestamp_from(resumed_at + Span::seconds(500))),
        "100 s counted, 500 s to go"
    );
    p.set_priority(&world, Priority::Urgent).await;
    let replanned = wait_until(Duration::from_secs(10), || async {
        let t = timers(&world, &b, &p).await;
        t.iter().find(|t| t.target == "first_response" && t.target_seconds == 120).and_then(|t| t.due_at)
    })
    .await;
    assert_eq!(replanned, Some(inbox_proto::timestamp_from(resumed_at + Span::seconds(20))));
    // Already past 80 % of the new target: the warning fires at once; nothing was fired while paused.
    let p_id = p.id();
    let warned = wait_until(Duration::from_secs(10), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM notifications WHERE conversation_id = $1 AND kind = 'sla_warning' AND sla_target = 'first_response'",
            )
            .bind(p_id)
            .fetch_one(&pool)
            .await
            .ok()?;
            (n == 2).then_some(())
        }
    })
    .await;
    assert!(warned.is_some());

    // Every replica stops; a conversation opens meanwhile and its target passes while nobody
    // runs. The replica that comes back fires its breach.
    a.stop().await;
    b.stop().await;
    let mut late = Convo::new(&world);
    late.open(&world).await;
    late.assign(&world, Some(ana), Some(support), "service:routing").await;
    world.clock.advance(Span::seconds(700));
    let c = world.replica().await;
    let late_id = late.id();
    let fired = wait_until(Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            let kinds: Vec<String> = sqlx::query_scalar(
                "SELECT kind FROM notifications WHERE conversation_id = $1 AND user_id = $2 AND kind LIKE 'sla%' ORDER BY kind",
            )
            .bind(late_id)
            .bind(ana)
            .fetch_all(&pool)
            .await
            .ok()?;
            (!kinds.is_empty()).then_some(kinds)
        }
    })
    .await;
    assert_eq!(fired, Some(vec!["sla_breached".to_owned()]), "found overdue: the breach, without a late warning");
    c.stop().await;
}
