//! Routing's rules against real PostgreSQL and Redis, through the store: who gets a
//! conversation that needs a person, what waits, capacity, reassignment and history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use inbox_routing::availability::AvailabilityBook;
use inbox_routing::domain::{Availability, Policy, Reason};
use inbox_routing::store::{AgentProfile, AssignTarget, ConversationFact, MIGRATOR, RoutingStore, StoreError};
use inbox_service::Clock;
use inbox_testkit::{TestDatabase, TestRedis, wait_until};
use uuid::Uuid;

struct World {
    store: RoutingStore,
    book: AvailabilityBook,
    /// The store's and the book's clock: it stands still unless a test moves it.
    clock: Clock,
    tenant: Uuid,
    _db: TestDatabase,
    _redis: TestRedis,
}

/// Monday 3 March 2031, 09:00 UTC: when every test starts, whatever the date it runs.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 3, 9, 0, 0).unwrap()
}

/// A pool of a few connections: other suites share the PostgreSQL server (100 connections).
async fn small_pool(db: &TestDatabase) -> anyhow::Result<sqlx::PgPool> {
    Ok(sqlx::postgres::PgPoolOptions::new().max_connections(5).connect(&db.url()).await?)
}

async fn world() -> anyhow::Result<World> {
    let db = TestDatabase::create("routing_store").await?;
    let redis = TestRedis::start().await?;
    let pool = small_pool(&db).await?;
    MIGRATOR.run(&pool).await?;
    let clock = Clock::manual(start());
    let client = redis::Client::open(redis.url())?;
    let book = AvailabilityBook::with_clock(
        redis::aio::ConnectionManager::new(client).await?,
        redis.key_prefix().to_owned(),
        clock.clone(),
    );
    let store = RoutingStore::with_clock(pool, clock.clone());
    Ok(World { store, book, clock, tenant: Uuid::now_v7(), _db: db, _redis: redis })
}

impl World {
    async fn agent(&self, name: &str, capacity: i32) -> Uuid {
        let id = Uuid::now_v7();
        let email = format!("{}@acme.test", name.to_lowercase());
        let profile =
            AgentProfile { id, name, email: &email, role: "agent", time_zone: None, capacity: Some(capacity) };
        self.store.upsert_agent(self.tenant, &profile).await.unwrap();
        id
    }

    async fn team(&self, name: &str, policy: Policy, channels: &[&str], members: &[Uuid]) -> Uuid {
        let channels: Vec<String> = channels.iter().map(|c| (*c).to_owned()).collect();
        let team = self.store.upsert_team(self.tenant, None, name, policy, &channels).await.unwrap();
        for m in members {
            self.store.set_membership(self.tenant, team.id, *m, true).await.unwrap();
        }
        team.id
    }

    async fn online(&self, agent: Uuid) {
        self.book.set(self.tenant, agent, Availability::Online, Duration::from_secs(60)).await.unwrap();
    }

    async fn assignee(&self, conversation: Uuid) -> Option<Uuid> {
        sqlx::query_scalar("SELECT assignee_id FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant)
            .bind(conversation)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    async fn load(&self, agent: Uuid) -> i32 {
        self.store.agent(self.tenant, agent).await.unwrap().unwrap().load
    }
}

/// `conversation.needs_human` for a WhatsApp conversation at `version`.
fn needs_human(conversation: Uuid, version: i64) -> ConversationFact {
    ConversationFact {
        event_id: Uuid::now_v7().to_string(),
        subject: "events.t.conversation.needs_human".into(),
        conversation_id: conversation,
        channel: "whatsapp".into(),
        version,
        open: true,
        needs_human: true,
        deleted: false,
        taken_over_by: None,
    }
}

fn resolved(conversation: Uuid, version: i64) -> ConversationFact {
    ConversationFact {
        subject: "events.t.conversation.status_changed".into(),
        open: false,
        needs_human: false,
        ..needs_human(conversation, version)
    }
}

#[tokio::test]
async fn a_conversation_needing_a_person_goes_to_the_online_member_of_the_team_taking_its_channel() -> anyhow::Result<()>
{
    let w = world().await?;
    let (sarah, tom, away) = (w.agent("Sarah", 5).await, w.agent("Tom", 5).await, w.agent("Away", 5).await);
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah, tom, away]).await;
    let _sales = w.team("Sales", Policy::RoundRobin, &["webchat"], &[]).await;
    w.online(sarah).await;
    w.online(tom).await;
    w.book.set(w.tenant, away, Availability::Away, Duration::from_secs(60)).await?;

    let conversations: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let facts: Vec<ConversationFact> = conversations.iter().map(|c| needs_human(*c, 3)).collect();
    let report = w.store.apply_facts(w.tenant, &facts, &w.book).await?;
    assert_eq!(report.routed, 4);
    let mut got = Vec::new();
    for c in &conversations {
        got.push(w.assignee(*c).await.expect("assigned"));
    }
    // Round robin: turns alternate; the away member gets nothing.
    assert_eq!(got.iter().filter(|a| **a == sarah).count(), 2);
    assert_eq!(got.iter().filter(|a| **a == tom).count(), 2);
    assert_ne!(got[0], got[1]);
    assert_eq!((w.load(sarah).await, w.load(tom).await, w.load(away).await), (2, 2, 0));

    // The history says routing chose, for the Support team: one change, team and agent at once.
    let history = w.store.history(w.tenant, conversations[0]).await?;
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].team_id, history[0].assignee_id), (Some(support), Some(got[0])));
    assert_eq!((history[0].previous_team_id, history[0].previous_assignee_id), (None, None));
    assert_eq!(
        (history[0].actor.as_str(), history[0].reason.as_str(), history[0].sequence),
        ("service:routing", "auto", 1)
    );
    Ok(())
}

#[tokio::test]
async fn with_nobody_available_it_waits_and_goes_to_the_first_agent_who_comes_online() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::LeastLoaded, &["whatsapp"], &[sarah]).await;
    let conversation = Uuid::now_v7();
    let report = w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?;
    assert_eq!(report.routed, 0);
    assert_eq!(w.assignee(conversation).await, None);
    assert_eq!(w.store.team(w.tenant, support).await?.unwrap().waiting, 1, "in the team's Unassigned view");

    w.online(sarah).await;
    assert_eq!(w.store.route_waiting(w.tenant, &[support], &w.book).await?, 1);
    assert_eq!(w.assignee(conversation).await, Some(sarah));
    assert_eq!(w.store.team(w.tenant, support).await?.unwrap().waiting, 0);
    Ok(())
}

#[tokio::test]
async fn least_loaded_never_exceeds_capacity_and_a_resolved_conversation_frees_room() -> anyhow::Result<()> {
    let w = world().await?;
    let (busy, free) = (w.agent("Busy", 2).await, w.agent("Free", 2).await);
    w.team("Support", Policy::LeastLoaded, &["whatsapp"], &[busy, free]).await;
    w.online(busy).await;
    w.online(free).await;

    let conversations: Vec<Uuid> = (0..6).map(|_| Uuid::now_v7()).collect();
    let facts: Vec<ConversationFact> = conversations.iter().map(|c| needs_human(*c, 2)).collect();
    assert_eq!(w.store.apply_facts(w.tenant, &facts, &w.book).await?.routed, 4, "two agents of capacity 2");
    assert_eq!((w.load(busy).await, w.load(free).await), (2, 2));
    let waiting: Vec<Uuid> = {
        let mut v = Vec::new();
        for c in &conversations {
            if w.assignee(*c).await.is_none() {
                v.push(*c);
            }
        }
        v
    };
    assert_eq!(waiting.len(), 2);

    // One of Busy's conversations is resolved: the room goes at once to the oldest waiting one.
    let mut of_busy = None;
    for c in &conversations {
        if w.assignee(*c).await == Some(busy) {
            of_busy = Some(*c);
        }
    }
    let report = w.store.apply_facts(w.tenant, &[resolved(of_busy.unwrap(), 5)], &w.book).await?;
    assert_eq!(report.routed, 1);
    assert_eq!(w.assignee(waiting[0]).await, Some(busy));
    assert_eq!(w.assignee(waiting[1]).await, None);
    assert_eq!((w.load(busy).await, w.load(free).await), (2, 2));
    Ok(())
}

#[tokio::test]
async fn an_event_delivered_twice_into_one_batch_is_applied_once() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    w.online(sarah).await;
    let conversation = Uuid::now_v7();
    let flagged = needs_human(conversation, 4);
    let report = w.store.apply_facts(w.tenant, &[flagged.clone(), flagged], &w.book).await?;
    assert_eq!((report.routed, report.first_seen.len()), (1, 1));
    assert_eq!(w.load(sarah).await, 1);
    assert_eq!(w.store.history(w.tenant, conversation).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_redelivered_or_stale_event_changes_nothing() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    w.online(sarah).await;
    let conversation = Uuid::now_v7();
    let flagged = needs_human(conversation, 4);
    assert_eq!(w.store.apply_facts(w.tenant, std::slice::from_ref(&flagged), &w.book).await?.routed, 1);
    // The same event again (redelivery): nothing more.
    let again = w.store.apply_facts(w.tenant, std::slice::from_ref(&flagged), &w.book).await?;
    assert!(again.first_seen.is_empty());
    // An older event of the conversation, arriving late: ignored (no reopening, no load change).
    let late = resolved(conversation, 3);
    assert_eq!(w.store.apply_facts(w.tenant, &[late], &w.book).await?.first_seen.len(), 1);
    assert_eq!(w.load(sarah).await, 1);
    assert_eq!(w.store.history(w.tenant, conversation).await?.len(), 1);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(w.store.pool()).await?;
    assert_eq!(outbox, 1, "one event per change");
    Ok(())
}

#[tokio::test]
async fn reassigning_needs_a_note_respects_capacity_and_is_kept_in_the_history() -> anyhow::Result<()> {
    let w = world().await?;
    let (sarah, tom, full) = (w.agent("Sarah", 5).await, w.agent("Tom", 5).await, w.agent("Full", 0).await);
    let conversation = Uuid::now_v7();
    w.store.learn_conversation(w.tenant, conversation, "whatsapp", 1, true, false).await?;
    let lead = format!("user:{}", Uuid::now_v7());
    let to = |a: Uuid| AssignTarget { assignee_id: Some(a), team_id: None };

    let first = w.store.assign(w.tenant, conversation, to(sarah), &lead, "", Reason::Manual, &w.book).await?;
    assert_eq!((first.outcome, first.assignee_id, first.sequence), ("changed", Some(sarah), 1));
    // A retried request changes nothing.
    let retried = w.store.assign(w.tenant, conversation, to(sarah), &lead, "", Reason::Manual, &w.book).await?;
    assert_eq!(retried.outcome, "unchanged");
    // Taking it from Sarah needs context.
    let refused = w.store.assign(w.tenant, conversation, to(tom), &lead, " ", Reason::Manual, &w.book).await;
    assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
    let full_refused = w.store.assign(w.tenant, conversation, to(full), &lead, "VIP", Reason::Manual, &w.book).await;
    assert!(matches!(full_refused, Err(StoreError::Conflict(_))), "{full_refused:?}");
    let moved = w
        .store
        .assign(w.tenant, conversation, to(tom), &lead, "Customer speaks Spanish; Tom does", Reason::Manual, &w.book)
        .await?;
    assert_eq!((moved.outcome, moved.assignee_id), ("changed", Some(tom)));
    assert_eq!((w.load(sarah).await, w.load(tom).await), (0, 1));

    let history = w.store.history(w.tenant, conversation).await?;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].previous_assignee_id, Some(sarah));
    assert_eq!(history[1].note, "Customer speaks Spanish; Tom does");
    assert_eq!(history[1].actor, lead);

    // Assigned to a team with nobody online: it waits there, and Tom's load is freed.
    let support = w.team("Support", Policy::RoundRobin, &[], &[sarah]).await;
    let waiting = w
        .store
        .assign(
            w.tenant,
            conversation,
            AssignTarget { assignee_id: None, team_id: Some(support) },
            &lead,
            "for support",
            Reason::Manual,
            &w.book,
        )
        .await?;
    assert_eq!((waiting.outcome, waiting.assignee_id, waiting.team_id), ("waiting", None, Some(support)));
    assert_eq!(w.load(tom).await, 0);
    // Another tenant sees none of it.
    assert!(w.store.history(Uuid::now_v7(), conversation).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn two_replicas_deciding_at_once_never_assign_twice_nor_overfill_an_agent() -> anyhow::Result<()> {
    let w = world().await?;
    let agents = [w.agent("A", 7).await, w.agent("B", 5).await, w.agent("C", 3).await];
    let (t1, t2) = (
        w.team("Support", Policy::RoundRobin, &["whatsapp"], &agents).await,
        w.team("Sales", Policy::LeastLoaded, &[], &agents[1..]).await,
    );
    for a in agents {
        w.online(a).await;
    }
    // Two stores with their own pools: two replicas. Both see the same 40 conversations (each
    // event delivered to both, as after a redelivery with a new id) plus bulk moves to Sales.
    let other = RoutingStore::with_clock(small_pool(&w._db).await?, w.clock.clone());
    let conversations: Vec<Uuid> = (0..40).map(|_| Uuid::now_v7()).collect();
    let mut tasks = Vec::new();
    for (replica, store) in [w.store.clone(), other.clone()].into_iter().enumerate() {
        for chunk in conversations.chunks(5) {
            let (store, book, tenant, chunk) = (store.clone(), w.book.clone(), w.tenant, chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                let facts: Vec<ConversationFact> = chunk.iter().map(|c| needs_human(*c, 2 + replica as i64)).collect();
                store.apply_facts(tenant, &facts, &book).await.map(|_| ())
            }));
        }
        for c in conversations.iter().step_by(3) {
            let (store, book, tenant, c) = (store.clone(), w.book.clone(), w.tenant, *c);
            tasks.push(tokio::spawn(async move {
                let target = AssignTarget { assignee_id: None, team_id: Some(t2) };
                match store.assign(tenant, c, target, "user:lead", "to sales", Reason::Bulk, &book).await {
                    Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }));
        }
    }
    for t in tasks {
        t.await??;
    }
    let _ = t1;
    // Capacity 15 in all: 15 assigned, the rest wait; nobody over capacity; loads match.
    let rows: Vec<(Uuid, Option<Uuid>, bool)> =
        sqlx::query_as("SELECT id, assignee_id, waiting FROM conversations WHERE tenant_id = $1")
            .bind(w.tenant)
            .fetch_all(w.store.pool())
            .await?;
    assert_eq!(rows.len(), 40);
    let assigned = rows.iter().filter(|r| r.1.is_some()).count();
    assert_eq!(assigned, 15, "every seat taken, none twice");
    assert!(rows.iter().all(|r| r.1.is_some() != r.2), "each either assigned or waiting");
    for (agent, capacity) in agents.iter().zip([7, 5, 3]) {
        let holding = rows.iter().filter(|r| r.1 == Some(*agent)).count() as i32;
        assert_eq!(w.load(*agent).await, holding, "load is the count of open assigned conversations");
        assert!(holding <= capacity);
    }
    // The history has one sequence per change, no gaps, no duplicates.
    for c in &conversations {
        let history = w.store.history(w.tenant, *c).await?;
        let sequences: Vec<i64> = history.iter().map(|h| h.sequence).collect();
        assert_eq!(sequences, (1..=history.len() as i64).collect::<Vec<_>>());
        // Each change starts from the previous one's result: never two decisions from one state.
        for pair in history.windows(2) {
            assert_eq!(
                (pair[1].previous_assignee_id, pair[1].previous_team_id),
                (pair[0].assignee_id, pair[0].team_id)
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn availability_expires_by_itself_so_a_crashed_client_is_not_routed_to() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    w.book.set(w.tenant, sarah, Availability::Online, Duration::from_secs(1)).await?;
    assert_eq!(w.book.online(w.tenant, &[sarah]).await?, [sarah]);
    // The client stops refreshing (it crashed): within the expiry Sarah is offline.
    let offline = wait_until(Duration::from_secs(5), || async {
        w.book.online(w.tenant, &[sarah]).await.ok().filter(|o| o.is_empty()).map(|_| ())
    })
    .await;
    assert!(offline.is_some(), "availability did not expire");
    let conversation = Uuid::now_v7();
    assert_eq!(w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?.routed, 0);
    assert_eq!(w.store.team(w.tenant, support).await?.unwrap().waiting, 1);
    // Away is not available either; offline removes the key.
    w.book.set(w.tenant, sarah, Availability::Away, Duration::from_secs(60)).await?;
    assert_eq!(w.store.route_waiting(w.tenant, &[support], &w.book).await?, 0);
    assert_eq!(w.book.of(w.tenant, &[sarah]).await?[&sarah], Availability::Away);
    w.book.set(w.tenant, sarah, Availability::Offline, Duration::from_secs(60)).await?;
    assert_eq!(w.book.of(w.tenant, &[sarah]).await?[&sarah], Availability::Offline);
    Ok(())
}

#[tokio::test]
async fn a_take_over_assigns_the_agent_and_reopening_or_deleting_moves_the_load() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 1).await;
    let conversation = Uuid::now_v7();
    // Sarah takes it over from the AI (even full, a person chose it).
    let taken = ConversationFact {
        subject: "events.t.conversation.taken_over".into(),
        needs_human: false,
        taken_over_by: Some(sarah),
        ..needs_human(conversation, 2)
    };
    w.store.apply_facts(w.tenant, &[taken], &w.book).await?;
    assert_eq!((w.assignee(conversation).await, w.load(sarah).await), (Some(sarah), 1));
    let history = w.store.history(w.tenant, conversation).await?;
    assert_eq!((history[0].reason.as_str(), history[0].actor.clone()), ("take_over", format!("user:{sarah}")));

    // Resolved: the load frees, the assignee stays recorded. The customer writes again: it
    // reopens with Sarah, and counts again.
    w.store.apply_facts(w.tenant, &[resolved(conversation, 3)], &w.book).await?;
    assert_eq!((w.assignee(conversation).await, w.load(sarah).await), (Some(sarah), 0));
    let reopened = ConversationFact { needs_human: false, ..needs_human(conversation, 4) };
    w.store.apply_facts(w.tenant, &[reopened], &w.book).await?;
    assert_eq!(w.load(sarah).await, 1);

    // Deleted: gone from her load for good, whatever arrives late.
    let deleted = ConversationFact {
        subject: "events.t.conversation.deleted".into(),
        channel: String::new(),
        version: i64::MAX,
        open: false,
        needs_human: false,
        deleted: true,
        ..needs_human(conversation, 0)
    };
    w.store.apply_facts(w.tenant, &[deleted], &w.book).await?;
    w.store.apply_facts(w.tenant, &[needs_human(conversation, 9)], &w.book).await?;
    assert_eq!(w.load(sarah).await, 0);
    Ok(())
}

#[tokio::test]
async fn a_team_is_deleted_only_once_nothing_open_is_left_in_it() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    let sales = w.team("Sales", Policy::RoundRobin, &[], &[sarah]).await;

    // A hand-off waits in Support (Sarah is offline): the team cannot go.
    let conversation = Uuid::now_v7();
    w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?;
    let refused = w.store.delete_team(w.tenant, support).await;
    assert!(matches!(&refused, Err(StoreError::Conflict(m)) if m.contains("1 open conversation")), "{refused:?}");
    assert_eq!(w.store.list_teams(w.tenant).await?.len(), 2, "nothing changed");

    // Once it is resolved, Support is deleted with its memberships; Sales stays.
    w.store.apply_facts(w.tenant, &[resolved(conversation, 3)], &w.book).await?;
    let deleted = w.store.delete_team(w.tenant, support).await?;
    assert_eq!(deleted.name, "Support");
    let teams = w.store.list_teams(w.tenant).await?;
    assert_eq!(teams.iter().map(|t| t.id).collect::<Vec<_>>(), vec![sales]);
    assert_eq!(w.store.teams_of(w.tenant, sarah).await?, vec![sales]);

    // Deleting again, or assigning to it, finds no team; another tenant cannot delete Sales.
    assert!(matches!(w.store.delete_team(w.tenant, support).await, Err(StoreError::NotFound(_))));
    let to_support = AssignTarget { assignee_id: None, team_id: Some(support) };
    let lead = format!("user:{}", Uuid::now_v7());
    let assigned = w.store.assign(w.tenant, conversation, to_support, &lead, "", Reason::Manual, &w.book).await;
    assert!(matches!(assigned, Err(StoreError::Invalid(_))), "{assigned:?}");
    assert!(matches!(w.store.delete_team(Uuid::now_v7(), sales).await, Err(StoreError::NotFound(_))));
    assert_eq!(w.store.list_teams(w.tenant).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn availability_ends_when_the_services_clock_passes_its_expiry_even_before_redis_drops_it() -> anyhow::Result<()>
{
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    w.book.set(w.tenant, sarah, Availability::Online, Duration::from_secs(90)).await?;
    w.clock.advance(chrono::Duration::seconds(89));
    assert_eq!(w.book.online(w.tenant, &[sarah]).await?, [sarah]);
    w.clock.advance(chrono::Duration::seconds(1));
    assert!(w.book.online(w.tenant, &[sarah]).await?.is_empty(), "90 s after it was set, by the service's clock");
    let conversation = Uuid::now_v7();
    assert_eq!(w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?.routed, 0);
    assert_eq!(w.store.team(w.tenant, support).await?.unwrap().waiting, 1);
    // A refresh brings her back, and what waits goes to her.
    w.online(sarah).await;
    assert_eq!(w.store.route_waiting(w.tenant, &[support], &w.book).await?, 1);
    Ok(())
}

#[tokio::test]
async fn round_robin_takes_turns_across_decisions_made_at_the_same_instant() -> anyhow::Result<()> {
    let w = world().await?;
    let (sarah, tom) = (w.agent("Sarah", 5).await, w.agent("Tom", 5).await);
    w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah, tom]).await;
    w.online(sarah).await;
    w.online(tom).await;
    // The clock stands still: each decision's turns must still come after the last ones.
    let mut got = Vec::new();
    for _ in 0..4 {
        let conversation = Uuid::now_v7();
        assert_eq!(w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?.routed, 1);
        got.push(w.assignee(conversation).await.unwrap());
    }
    assert_eq!(got[0], got[2]);
    assert_eq!(got[1], got[3]);
    assert_ne!(got[0], got[1]);
    Ok(())
}

#[tokio::test]
async fn the_times_routing_records_are_the_services_clock() -> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    let conversation = Uuid::now_v7();
    w.store.apply_facts(w.tenant, &[needs_human(conversation, 2)], &w.book).await?;
    let since: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT waiting_since FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(w.tenant)
            .bind(conversation)
            .fetch_one(w.store.pool())
            .await?;
    assert_eq!(since, Some(start()), "waiting since the service's now");

    w.clock.advance(chrono::Duration::minutes(7));
    w.online(sarah).await;
    assert_eq!(w.store.route_waiting(w.tenant, &[support], &w.book).await?, 1);
    let history = w.store.history(w.tenant, conversation).await?;
    assert_eq!(
        history.iter().map(|h| h.changed_at).collect::<Vec<_>>(),
        [start(), start() + chrono::Duration::minutes(7)]
    );
    let turn: DateTime<Utc> =
        sqlx::query_scalar("SELECT last_routed_at FROM team_members WHERE tenant_id = $1 AND agent_id = $2")
            .bind(w.tenant)
            .bind(sarah)
            .fetch_one(w.store.pool())
            .await?;
    assert!(turn > start() + chrono::Duration::minutes(7), "her turn is taken after the service's now: {turn}");
    assert!(turn < start() + chrono::Duration::minutes(8), "{turn}");
    Ok(())
}

#[tokio::test]
async fn an_agent_who_comes_online_while_a_batch_waits_for_a_lock_gets_what_the_batch_leaves_waiting()
-> anyhow::Result<()> {
    let w = world().await?;
    let sarah = w.agent("Sarah", 5).await;
    let support = w.team("Support", Policy::RoundRobin, &["whatsapp"], &[sarah]).await;
    let conversation = Uuid::now_v7();
    w.store.learn_conversation(w.tenant, conversation, "whatsapp", 1, true, false).await?;

    // Another transaction holds the conversation's row: the batch reads availability (Sarah is
    // offline), then waits for the row.
    let mut holder = w.store.pool().begin().await?;
    sqlx::query("SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
        .bind(w.tenant)
        .bind(conversation)
        .execute(&mut *holder)
        .await?;
    let batch = tokio::spawn({
        let (store, book, tenant) = (w.store.clone(), w.book.clone(), w.tenant);
        async move { store.apply_facts(tenant, &[needs_human(conversation, 2)], &book).await }
    });
    let pool = w.store.pool();
    let blocked = wait_until(Duration::from_secs(10), || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        (waiting > 0).then_some(())
    })
    .await;
    assert!(blocked.is_some(), "the batch did not reach the locked row");

    // Sarah comes online; routing her teams finds nothing waiting yet.
    w.online(sarah).await;
    assert_eq!(w.store.route_waiting(w.tenant, &[support], &w.book).await?, 0);
    holder.commit().await?;

    // The batch decided with what it read before (Sarah offline) and left the conversation
    // waiting; it looks again after its commit and hands it to her.
    let report = batch.await??;
    assert_eq!(report.routed, 1);
    assert_eq!(w.assignee(conversation).await, Some(sarah));
    assert_eq!(w.store.team(w.tenant, support).await?.unwrap().waiting, 0);
    Ok(())
}
