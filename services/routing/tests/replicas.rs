//! Two routing replicas in-process, sharing one database, one JetStream server (one durable
//! consumer, split between them) and one Redis, raced for the same conversations and agents:
//! hand-offs arrive (some twice), agents come online through either replica, supervisors move
//! the same conversations to another team through both at once, conversations are resolved.
//! Nothing is assigned twice, nobody goes over capacity, nothing that could be routed waits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // tests fail loudly; rows read as tuples

use std::time::Duration;

use inbox_bus::{Bus, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1::{Conversation, ConversationStatus, StatusChange};
use inbox_proto::events::v1::{ConversationUpdated, StatusChanged};
use inbox_proto::routing::v1 as pb;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::Role;
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use prost::Message as _;
use uuid::Uuid;

mod common;
use common::{call, start_replica};

fn conversation(tenant: Uuid, id: Uuid, status: ConversationStatus, version: i64, needs_human: bool) -> Conversation {
    Conversation {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        channel: Channel::Whatsapp as i32,
        status: status as i32,
        version,
        needs_human,
        ..Default::default()
    }
}

#[tokio::test]
async fn two_replicas_racing_never_assign_twice_nor_overfill_and_leave_nothing_routable_waiting() -> anyhow::Result<()>
{
    let db = TestDatabase::create("routing_replicas").await?;
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let small_batches = [("INBOX__ROUTING__MAX_BATCH", "16")];
    let a = start_replica(&db, &nats, &redis, &small_batches).await?;
    let b = start_replica(&db, &nats, &redis, &small_batches).await?;
    let mut ra = RoutingClient::connect(format!("http://{}", a.grpc)).await?;
    let mut rb = RoutingClient::connect(format!("http://{}", b.grpc)).await?;
    let tenant = Uuid::now_v7();

    // Three agents (capacity 20, 15, 10), both teams; Support takes WhatsApp hand-offs.
    let mut agents = Vec::new();
    for (i, capacity) in [20u32, 15, 10].into_iter().enumerate() {
        let id = Uuid::now_v7();
        let upsert = pb::UpsertAgentRequest {
            agent_id: id.to_string(),
            name: format!("Agent {i}"),
            email: format!("agent{i}@acme.test"),
            role: "agent".into(),
            capacity,
            ..Default::default()
        };
        ra.upsert_agent(call(tenant, "operator", Role::Operator, upsert)).await?;
        agents.push((id, capacity as i64));
    }
    let team = |name: &str, channels: &[&str]| pb::UpsertTeamRequest {
        name: name.into(),
        policy: pb::RoutingPolicy::LeastLoaded as i32,
        handoff_channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        ..Default::default()
    };
    let support = ra.upsert_team(call(tenant, "operator", Role::Operator, team("Support", &["whatsapp"]))).await?;
    let sales = rb.upsert_team(call(tenant, "operator", Role::Operator, team("Sales", &[]))).await?;
    let (support, sales) = (support.into_inner().id, sales.into_inner().id);
    // An agent may not create teams.
    let denied = ra.upsert_team(call(tenant, "user:x", Role::Agent, team("Rogue", &[]))).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    for (agent, _) in &agents {
        for t in [&support, &sales] {
            let m = pb::SetMembershipRequest { team_id: t.clone(), agent_id: agent.to_string(), member: true };
            rb.set_membership(call(tenant, "user:lead", Role::Supervisor, m)).await?;
        }
    }

    // 200 hand-offs while nobody is online (40 of them delivered twice): all wait.
    let bus = Bus::connect(&nats.url(), "replica-test").await?;
    let ids: Vec<Uuid> = (0..200).map(|_| Uuid::now_v7()).collect();
    let subject = subjects::event(&tenant.to_string(), "conversation.needs_human");
    let events: Vec<_> = ids
        .iter()
        .map(|id| {
            let payload = Payload::ConversationUpdated(ConversationUpdated {
                conversation: Some(conversation(tenant, *id, ConversationStatus::Active, 2, true)),
            });
            (subject.clone(), new_envelope(Uuid::now_v7().to_string(), tenant.to_string(), payload))
        })
        .collect();
    bus.publish_all(&events).await?;
    for (s, e) in events.iter().take(40) {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}-again", e.event_id).as_str());
        bus.jetstream().publish_with_headers(s.clone(), headers, e.encode_to_vec().into()).await?.await?;
    }
    let pool = sqlx::PgPool::connect(&db.url()).await?;
    let waiting = wait_until(Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let n: i64 =
                sqlx::query_scalar("SELECT count(*) FROM conversations WHERE waiting").fetch_one(&pool).await.ok()?;
            (n == 200).then_some(())
        }
    })
    .await;
    assert!(waiting.is_some(), "every hand-off waits while nobody is online");

    // The race: agents come online through both replicas; both replicas move the same 60
    // conversations to Sales; 30 conversations are resolved.
    let mut tasks = Vec::new();
    for (i, (agent, _)) in agents.iter().enumerate() {
        for client in [ra.clone(), rb.clone()] {
            let mut client = client;
            let request = pb::SetAvailabilityRequest {
                agent_id: String::new(),
                availability: pb::Availability::Online as i32,
                ttl_seconds: 600,
            };
            let principal = format!("user:{agent}");
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
                client.set_availability(call(tenant, &principal, Role::Agent, request)).await.map(|_| ())
            }));
        }
    }
    for id in ids.iter().take(60) {
        for client in [ra.clone(), rb.clone()] {
            let mut client = client;
            let request = pb::AssignRequest {
                conversation_id: id.to_string(),
                team_id: sales.clone(),
                note: "sales lead".into(),
                ..Default::default()
            };
            tasks.push(tokio::spawn(async move {
                client.assign(call(tenant, "user:lead", Role::Supervisor, request)).await.map(|_| ())
            }));
        }
    }
    let status_subject = subjects::event(&tenant.to_string(), "conversation.status_changed");
    let resolved: Vec<_> = ids
        .iter()
        .skip(100)
        .take(30)
        .map(|id| {
            let payload = Payload::StatusChanged(StatusChanged {
                conversation: Some(conversation(tenant, *id, ConversationStatus::Resolved, 5, false)),
                change: Some(StatusChange::default()),
            });
            (status_subject.clone(), new_envelope(Uuid::now_v7().to_string(), tenant.to_string(), payload))
        })
        .collect();
    bus.publish_all(&resolved).await?;
    for t in tasks {
        t.await??;
    }

    // Quiet: the durable consumer has nothing pending or unacked twice in a row.
    let js = bus.jetstream().clone();
    let mut quiet = 0;
    for _ in 0..200 {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer =
            js.get_consumer_from_stream("routing", "EVENTS").await?;
        let info = consumer.info().await?;
        quiet = if info.num_pending == 0 && info.num_ack_pending == 0 { quiet + 1 } else { 0 };
        if quiet >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(quiet >= 3, "the consumer did not settle");

    let rows: Vec<(Uuid, Option<Uuid>, Option<Uuid>, bool, bool)> =
        sqlx::query_as("SELECT id, assignee_id, team_id, waiting, open FROM conversations WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&pool)
            .await?;
    assert_eq!(rows.len(), 200);
    let mut total_capacity = 0;
    for (agent, capacity) in &agents {
        let holding = rows.iter().filter(|r| r.1 == Some(*agent) && r.4).count() as i64;
        let load: i64 = sqlx::query_scalar("SELECT load::int8 FROM agents WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(agent)
            .fetch_one(&pool)
            .await?;
        assert_eq!(load, holding, "load is what the agent holds");
        assert!(holding <= *capacity, "over capacity: {holding} > {capacity}");
        total_capacity += capacity;
    }
    // Everyone is full (45 seats) and the rest waits: nothing routable was left waiting.
    let open_assigned = rows.iter().filter(|r| r.1.is_some() && r.4).count() as i64;
    assert_eq!(open_assigned, total_capacity);
    assert!(rows.iter().filter(|r| r.4).all(|r| r.1.is_some() != r.3), "open: assigned xor waiting");
    // The 60 moved to Sales once each (the other replica's identical request: unchanged).
    for id in ids.iter().take(60) {
        let history: Vec<(i64, Option<Uuid>, String)> = sqlx::query_as(
            "SELECT sequence, team_id, reason FROM assignment_history WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY sequence",
        )
        .bind(tenant)
        .bind(id)
        .fetch_all(&pool)
        .await?;
        let to_sales = history.iter().filter(|h| h.2 == "manual" && h.1.map(|t| t.to_string()) == Some(sales.clone()));
        assert_eq!(to_sales.count(), 1, "{history:?}");
        let sequences: Vec<i64> = history.iter().map(|h| h.0).collect();
        assert_eq!(sequences, (1..=history.len() as i64).collect::<Vec<_>>());
    }
    // Each change of every conversation starts from the previous one's result.
    let chain: Vec<(Uuid, Option<Uuid>, Option<Uuid>, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT conversation_id, assignee_id, team_id, previous_assignee_id, previous_team_id \
         FROM assignment_history WHERE tenant_id = $1 ORDER BY conversation_id, sequence",
    )
    .bind(tenant)
    .fetch_all(&pool)
    .await?;
    for pair in chain.windows(2).filter(|p| p[0].0 == p[1].0) {
        assert_eq!((pair[1].3, pair[1].4), (pair[0].1, pair[0].2), "a decision from a stale state");
    }
    // The history over gRPC, from either replica, is the same, oldest first; another tenant sees none.
    let first = ids[0].to_string();
    let via_a = ra
        .list_assignment_history(call(
            tenant,
            "user:lead",
            Role::Supervisor,
            pb::ListAssignmentHistoryRequest { conversation_id: first.clone() },
        ))
        .await?
        .into_inner();
    let via_b = rb
        .list_assignment_history(call(
            tenant,
            "user:lead",
            Role::Agent,
            pb::ListAssignmentHistoryRequest { conversation_id: first.clone() },
        ))
        .await?
        .into_inner();
    assert_eq!(via_a, via_b);
    assert!(via_a.changes.windows(2).all(|w| w[0].sequence < w[1].sequence));
    let foreign = ra
        .list_assignment_history(call(
            Uuid::now_v7(),
            "user:lead",
            Role::Supervisor,
            pb::ListAssignmentHistoryRequest { conversation_id: first },
        ))
        .await?
        .into_inner();
    assert!(foreign.changes.is_empty());
    // No conversation was given to an agent twice without being taken away in between.
    let doubles: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM assignment_history h WHERE tenant_id = $1 AND assignee_id IS NOT NULL \
           AND previous_assignee_id IS NOT NULL AND reason = 'auto'",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await?;
    assert_eq!(doubles, 0);

    for r in [a, b] {
        r.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), r.task).await???;
    }
    pool.close().await;
    Ok(())
}
