//! The rollups on real PostgreSQL: conversations told as the facts of their events, folded in
//! batches, read back as reports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use common::{Story, minute, renamed, store_at};
use inbox_metrics::api::present::{figures_to_proto, series_of};
use inbox_metrics::domain::buckets::{Dim, Grain};
use inbox_metrics::domain::fact::Fact;
use inbox_metrics::domain::timeline::{Actor, HandoffReason, SlaOutcome, Status};
use inbox_metrics::proto as pb;
use inbox_metrics::store::MetricsStore;
use inbox_metrics::store::csat::CsatSettings;
use uuid::Uuid;

const PARIS: Tz = chrono_tz::Europe::Paris;

/// The figures of every group of `dim` over `[from, to)` in `grain` buckets.
async fn totals(
    store: &MetricsStore,
    tenant: Uuid,
    grain: Grain,
    dim: Dim,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(String, pb::Figures)> {
    let cells = store.read_cells(tenant, grain, dim, None, from, to).await.unwrap();
    series_of(dim, cells, None).into_iter().map(|s| (s.key, figures_to_proto(&s.total))).collect()
}

async fn tenant_totals(store: &MetricsStore, tenant: Uuid) -> pb::Figures {
    let all = totals(store, tenant, Grain::Day, Dim::Tenant, minute(-3 * 24 * 60), minute(10 * 24 * 60)).await;
    all.into_iter().next().unwrap().1
}

/// Every cell of a tenant, as stored.
async fn cells_of(store: &MetricsStore, tenant: Uuid) -> BTreeSet<(i16, i16, String, DateTime<Utc>, Vec<u8>)> {
    sqlx::query_as("SELECT grain, dim, key, bucket_start, figures FROM rollups WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// A conversation with everything: the AI answers, hands off for low confidence, a person takes
/// over and resolves; the customer comes back, it goes Pending for an hour, the customer
/// writes again, and another person resolves it.
fn eventful(sarah: Uuid, tom: Uuid, team: Uuid) -> Story {
    let mut s = Story::new("whatsapp", minute(0));
    s.created()
        .customer(minute(0))
        .ai(minute(1), 0.9)
        .customer(minute(3))
        .ai(minute(4), 0.2)
        .needs_human(minute(4), HandoffReason::LowConfidence)
        .assign(minute(5), None, Some(team))
        .take_over(minute(8), sarah)
        .person(minute(10), sarah)
        .customer(minute(12))
        .person(minute(15), sarah)
        .status(minute(30), Status::Resolved, Actor::Person(sarah))
        .customer(minute(100))
        .status(minute(100), Status::Active, Actor::Customer)
        .assign(minute(101), Some(tom), Some(team))
        .person(minute(110), tom)
        .status(minute(170), Status::Pending, Actor::Other)
        .customer(minute(230))
        .status(minute(230), Status::Active, Actor::Customer)
        .person(minute(235), tom)
        .status(minute(240), Status::Resolved, Actor::Person(tom));
    s
}

#[tokio::test]
async fn each_definition_holds_on_a_conversation_with_a_handoff_a_reopen_and_a_pending_pause() {
    let (_db, store) = store_at(minute(300)).await;
    let tenant = Uuid::now_v7();
    let (sarah, tom, team) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let story = eventful(sarah, tom, team);
    for fact in &story.facts {
        store.apply_facts(tenant, PARIS, std::slice::from_ref(fact)).await.unwrap();
    }
    let f = tenant_totals(&store, tenant).await;
    assert_eq!((f.new_conversations, f.resolutions, f.reopened), (1, 2, 1));
    assert_eq!((f.customer_messages, f.agent_messages, f.ai_messages), (5, 4, 2));
    // From the hand-off at :04 to Sarah's reply at :10.
    let first = f.first_response.unwrap();
    assert_eq!((first.count, first.mean), (1, 360.0));
    // :12 → :15, the reopen at :100 → :110, and :230 → :235.
    let next = f.next_response.unwrap();
    assert_eq!((next.count, next.mean), (3, (180.0 + 600.0 + 300.0) / 3.0));
    // :00 → :30 and :100 → :240 (the Pending hour included).
    let resolution = f.resolution.unwrap();
    assert_eq!((resolution.count, resolution.mean), (2, (1800.0 + 8400.0) / 2.0));
    // Engaged :08–:30; then :110–:170 and :230–:240 (not the Pending hour).
    let active = f.active_time.unwrap();
    assert_eq!((active.count, active.mean), (2, (22.0 * 60.0 + 70.0 * 60.0) / 2.0));
    let ai = f.ai.unwrap();
    assert_eq!((ai.conversations_answered, ai.handoffs, ai.resolutions_without_person), (1, 1, 0));
    assert_eq!(ai.handoff_reasons.iter().find(|r| r.reason == "low_confidence").unwrap().count, 1);
    assert_eq!(ai.confidence_histogram[2] + ai.confidence_histogram[9], 2);

    let agents = totals(&store, tenant, Grain::Day, Dim::Agent, minute(-1440), minute(1440)).await;
    let of = |who: Uuid| agents.iter().find(|(k, _)| *k == who.to_string()).unwrap().1.clone();
    let (hers, his) = (of(sarah), of(tom));
    assert_eq!((hers.conversations_handled, hers.conversations_resolved, hers.resolutions), (1, 1, 1));
    assert_eq!((his.conversations_handled, his.conversations_resolved, his.resolutions), (1, 1, 1));
    assert_eq!(hers.first_response.unwrap().count, 1);
    assert_eq!(his.next_response.unwrap().count, 2);
    assert_eq!(his.resolution.unwrap().mean, 8400.0);

    let teams = totals(&store, tenant, Grain::Day, Dim::Team, minute(-1440), minute(1440)).await;
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].1.resolutions, 2, "both resolutions happened with the team");
    let channels = totals(&store, tenant, Grain::Hour, Dim::Channel, minute(0), minute(600)).await;
    assert_eq!(channels[0].0, "whatsapp");
    assert_eq!(channels[0].1.customer_messages, 5);
    // Hour buckets: the first resolution in the 09:00 UTC hour, the second at 13:00.
    let hours = totals(&store, tenant, Grain::Hour, Dim::Tenant, minute(0), minute(60)).await;
    assert_eq!(hours[0].1.resolutions, 1);
}

#[tokio::test]
async fn events_delivered_twice_and_out_of_order_give_the_figures_of_one_ordered_delivery() {
    let (_db, store) = store_at(minute(300)).await;
    let (ordered, shuffled) = (Uuid::now_v7(), Uuid::now_v7());
    let (sarah, tom, team) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let story = eventful(sarah, tom, team);
    store.apply_facts(ordered, PARIS, &story.facts).await.unwrap();

    // The same events, most of them twice, in a scrambled order and uneven batches.
    let mut deliveries: Vec<Fact> = story.facts.iter().rev().cloned().collect();
    deliveries.rotate_left(7);
    deliveries.extend(story.facts.iter().step_by(2).cloned());
    deliveries.extend(story.facts.iter().skip(3).step_by(3).cloned());
    let deliveries = renamed(&deliveries);
    let mut repeats = 0;
    for batch in deliveries.chunks(4) {
        let report = store.apply_facts(shuffled, PARIS, batch).await.unwrap();
        let batch_ids: BTreeSet<&str> = batch.iter().map(|f| f.event_id.as_str()).collect();
        repeats += batch.len() - report.first_seen.len();
        assert!(report.first_seen.iter().all(|id| batch_ids.contains(id.as_str())));
    }
    assert_eq!(repeats, deliveries.len() - story.facts.len(), "every copy was recognised as a repeat");
    let (a, b) = (cells_of(&store, ordered).await, cells_of(&store, shuffled).await);
    assert!(!a.is_empty());
    assert_eq!(a, b, "the same cells with the same figures");

    // Delivering everything again changes nothing.
    let again = store.apply_facts(shuffled, PARIS, &deliveries).await.unwrap();
    assert!(again.first_seen.is_empty());
    assert_eq!(cells_of(&store, shuffled).await, a);
}

#[tokio::test]
async fn a_late_fact_moves_figures_where_a_recount_puts_them() {
    let (_db, store) = store_at(minute(300)).await;
    let (late, recount) = (Uuid::now_v7(), Uuid::now_v7());
    let sarah = Uuid::now_v7();
    let mut s = Story::new("webchat", minute(0));
    s.created().customer(minute(0)).customer(minute(2)).person(minute(20), sarah).status(
        minute(25),
        Status::Resolved,
        Actor::Person(sarah),
    );
    // The customer's first message arrives last: the first response was 20 minutes, not 18.
    let first_message = s.facts[1].clone();
    let rest: Vec<Fact> = s.facts.iter().filter(|f| f.event_id != first_message.event_id).cloned().collect();
    store.apply_facts(late, PARIS, &rest).await.unwrap();
    assert_eq!(tenant_totals(&store, late).await.first_response.unwrap().mean, 18.0 * 60.0);
    store.apply_facts(late, PARIS, &[first_message]).await.unwrap();
    assert_eq!(tenant_totals(&store, late).await.first_response.unwrap().mean, 20.0 * 60.0);
    store.apply_facts(recount, PARIS, &renamed(&s.facts)).await.unwrap();
    assert_eq!(cells_of(&store, late).await, cells_of(&store, recount).await);
}

#[tokio::test]
async fn days_start_at_midnight_in_the_tenant_zone_and_a_new_zone_moves_a_conversation_when_it_next_changes() {
    let (_db, store) = store_at(minute(24 * 60)).await;
    let tenant = Uuid::now_v7();
    let sarah = Uuid::now_v7();
    // 23:30 UTC on 3 March is 00:30 on 4 March in Paris.
    let late_evening = Utc.with_ymd_and_hms(2031, 3, 3, 23, 30, 0).unwrap();
    let mut s = Story::new("whatsapp", late_evening);
    s.created().customer(late_evening).person(late_evening + Duration::minutes(5), sarah);
    store.apply_facts(tenant, PARIS, &s.facts).await.unwrap();
    let paris_day = Utc.with_ymd_and_hms(2031, 3, 3, 23, 0, 0).unwrap();
    let days = totals(&store, tenant, Grain::Day, Dim::Tenant, paris_day, paris_day + Duration::hours(1)).await;
    assert_eq!(days[0].1.new_conversations, 1, "the Paris day of 4 March starts at 23:00 UTC");

    // The tenant moves to UTC; the conversation's next fact re-buckets all it contributed.
    let n = s.facts.len();
    s.status(late_evening + Duration::minutes(9), Status::Resolved, Actor::Person(sarah));
    store.apply_facts(tenant, chrono_tz::UTC, &s.facts[n..]).await.unwrap();
    let utc_day = Utc.with_ymd_and_hms(2031, 3, 3, 0, 0, 0).unwrap();
    let days = totals(&store, tenant, Grain::Day, Dim::Tenant, utc_day, utc_day + Duration::hours(1)).await;
    assert_eq!((days[0].1.new_conversations, days[0].1.resolutions), (1, 1));
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rollups WHERE tenant_id = $1 AND grain = 1 AND bucket_start = $2")
            .bind(tenant)
            .bind(paris_day)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(left, 0, "cells left empty are deleted");
}

#[tokio::test]
async fn the_live_figures_count_open_conversations_and_the_backlog_waiting_for_a_person() {
    let (_db, store) = store_at(minute(60)).await;
    let tenant = Uuid::now_v7();
    let (sarah, team) = (Uuid::now_v7(), Uuid::now_v7());
    let mut waiting = Story::new("whatsapp", minute(0));
    waiting.created().customer(minute(0));
    let mut with_ai = Story::new("whatsapp", minute(0));
    with_ai.created().customer(minute(0)).ai(minute(1), 0.9).customer(minute(2));
    let mut flagged = Story::new("webchat", minute(0));
    flagged.created().customer(minute(0)).ai(minute(1), 0.1).needs_human(minute(1), HandoffReason::LowConfidence);
    flagged.customer(minute(3));
    let mut assigned = Story::new("webchat", minute(0));
    assigned.created().customer(minute(0)).assign(minute(1), Some(sarah), Some(team)).person(minute(2), sarah);
    assigned.customer(minute(4));
    let mut pending = Story::new("whatsapp", minute(0));
    pending.created().customer(minute(0)).person(minute(1), sarah).status(minute(2), Status::Pending, Actor::Other);
    let mut resolved = Story::new("whatsapp", minute(0));
    resolved.created().customer(minute(0)).status(minute(2), Status::Resolved, Actor::Person(sarah));
    let facts: Vec<Fact> =
        [&waiting, &with_ai, &flagged, &assigned, &pending, &resolved].iter().flat_map(|s| s.facts.clone()).collect();
    store.apply_facts(tenant, PARIS, &facts).await.unwrap();

    let all = store.live_counts(tenant, Dim::Tenant).await.unwrap();
    assert_eq!((all[0].active, all[0].pending, all[0].backlog, all[0].backlog_unassigned), (4, 1, 3, 2));
    let agents = store.live_counts(tenant, Dim::Agent).await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!((agents[0].key.clone(), agents[0].active, agents[0].backlog), (sarah.to_string(), 1, 1));
    let channels = store.live_counts(tenant, Dim::Channel).await.unwrap();
    let webchat = channels.iter().find(|c| c.key == "webchat").unwrap();
    assert_eq!((webchat.active, webchat.backlog), (2, 2));
}

#[tokio::test]
async fn a_fresh_resolution_by_a_person_queues_one_survey_when_the_tenant_surveys() {
    let (_db, store) = store_at(minute(40)).await;
    let tenant = Uuid::now_v7();
    let sarah = Uuid::now_v7();
    let story = |channel: &'static str, resolved_at: i64| {
        let mut s = Story::new(channel, minute(0));
        s.created().customer(minute(0)).person(minute(1), sarah).status(
            minute(resolved_at),
            Status::Resolved,
            Actor::Person(sarah),
        );
        s
    };
    let before = story("whatsapp", 30);
    store.apply_facts(tenant, PARIS, &before.facts).await.unwrap();
    assert!(store.surveys_of(tenant, before.conversation_id).await.unwrap().is_empty(), "surveys are off by default");

    store.set_csat_settings(tenant, &CsatSettings { enabled: true, survey_text: String::new() }).await.unwrap();
    let (fresh, old, phone) = (story("whatsapp", 30), story("webchat", -61), story("telephony", 30));
    let mut facts = [fresh.facts.clone(), old.facts.clone(), phone.facts.clone()].concat();
    let report = store.apply_facts(tenant, PARIS, &facts).await.unwrap();
    assert_eq!(report.surveys, 1);
    assert_eq!(store.surveys_of(tenant, fresh.conversation_id).await.unwrap(), vec![("pending".into(), String::new())]);
    assert!(store.surveys_of(tenant, old.conversation_id).await.unwrap().is_empty(), "resolved too long ago");
    assert!(store.surveys_of(tenant, phone.conversation_id).await.unwrap().is_empty(), "no messages on calls");

    // Redelivered: still one survey.
    facts.reverse();
    assert_eq!(store.apply_facts(tenant, PARIS, &facts).await.unwrap().surveys, 0);
    let claimed = store.claim_due_surveys(10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].conversation_id, claimed[0].agent_id, claimed[0].attempts),
        (fresh.conversation_id, Some(sarah), 1)
    );
    assert!(store.claim_due_surveys(10).await.unwrap().is_empty(), "claimed once at a time");
}

#[tokio::test]
async fn a_rating_after_the_survey_is_counted_once_for_the_resolver() {
    let (_db, store) = store_at(minute(100)).await;
    let tenant = Uuid::now_v7();
    let sarah = Uuid::now_v7();
    let mut s = Story::new("whatsapp", minute(0));
    s.created()
        .customer(minute(0))
        .person(minute(2), sarah)
        .status(minute(10), Status::Resolved, Actor::Person(sarah))
        .survey(minute(11))
        .customer_says(minute(13), Some(4))
        .customer_says(minute(14), Some(1));
    store.apply_facts(tenant, PARIS, &s.facts).await.unwrap();
    let agents = totals(&store, tenant, Grain::Day, Dim::Agent, minute(-1440), minute(1440)).await;
    let csat = agents[0].1.csat.clone().unwrap();
    assert_eq!(agents[0].0, sarah.to_string());
    assert_eq!((csat.surveys_sent, csat.responses, csat.by_score), (1, 1, vec![0, 0, 0, 1, 0]));
    assert_eq!(csat.average, 4.0);
    assert_eq!(tenant_totals(&store, tenant).await.next_response.unwrap().count, 0, "the rating keeps nobody waiting");
}

#[tokio::test]
async fn sla_alerts_count_for_the_assignee_and_team_even_when_they_arrive_first() {
    let (_db, store) = store_at(minute(100)).await;
    let tenant = Uuid::now_v7();
    let (sarah, team) = (Uuid::now_v7(), Uuid::now_v7());
    let mut s = Story::new("webchat", minute(0));
    s.created().customer(minute(0)).assign(minute(1), Some(sarah), Some(team));
    s.sla(minute(12), SlaOutcome::Warning, 1).sla(minute(15), SlaOutcome::Breached, 1).sla(
        minute(15),
        SlaOutcome::Breached,
        3,
    );
    // The alerts first, then the conversation's own events.
    let alerts: Vec<Fact> = s.facts[3..].to_vec();
    store.apply_facts(tenant, PARIS, &alerts).await.unwrap();
    store.apply_facts(tenant, PARIS, &s.facts[..3]).await.unwrap();
    let sla = tenant_totals(&store, tenant).await.sla.unwrap();
    assert_eq!((sla.warnings, sla.breaches, sla.met), (1, 2, 0), "two targets missed at the same minute are two");
    let agents = totals(&store, tenant, Grain::Day, Dim::Agent, minute(-1440), minute(1440)).await;
    assert_eq!(agents[0].1.sla.unwrap().breaches, 2);
    let live = store.live_counts(tenant, Dim::Channel).await.unwrap();
    assert_eq!(
        (live[0].key.as_str(), live[0].backlog),
        ("webchat", 1),
        "the real snapshot replaced the provisional one"
    );
}
