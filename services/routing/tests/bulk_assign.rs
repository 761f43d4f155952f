//! Bulk assignment through routing's gRPC API, the service in-process on its own database,
//! JetStream server and Redis key prefix: each conversation is reported, the call answers
//! within its deadline, and what was not done can be sent again exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use inbox_proto::conversation::v1::ConversationFilter;
use inbox_proto::routing::v1 as pb;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_routing::store::RoutingStore;
use inbox_service::Role;
use inbox_testkit::{TestDatabase, TestNats, TestRedis};
use tonic::transport::Channel;
use uuid::Uuid;

mod common;
use common::{Replica, call, start_replica};

struct Routing {
    client: RoutingClient<Channel>,
    store: RoutingStore,
    tenant: Uuid,
    agent: Uuid,
    replica: Replica,
    _db: TestDatabase,
    _nats: TestNats,
    _redis: TestRedis,
}

/// Routing with four conversations assigned at once, and a conversation service that is not
/// there (nothing listens on its port): a conversation routing does not know fails to be
/// looked up.
async fn routing() -> Routing {
    let db = TestDatabase::create("routing_bulk").await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let closed = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let settings = [("INBOX__ROUTING__CONVERSATION_URL", closed.as_str()), ("INBOX__ROUTING__BULK_CONCURRENCY", "4")];
    let replica = start_replica(&db, &nats, &redis, &settings).await.unwrap();

    let mut client = RoutingClient::connect(format!("http://{}", replica.grpc)).await.unwrap();
    let tenant = Uuid::now_v7();
    let agent = Uuid::now_v7();
    let upsert = pb::UpsertAgentRequest {
        agent_id: agent.to_string(),
        name: "Sarah".into(),
        email: "sarah@acme.test".into(),
        role: "agent".into(),
        capacity: 100,
        ..Default::default()
    };
    client.upsert_agent(call(tenant, "operator", Role::Operator, upsert)).await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(3).connect(&db.url()).await.unwrap();
    Routing { client, store: RoutingStore::new(pool), tenant, agent, replica, _db: db, _nats: nats, _redis: redis }
}

impl Routing {
    /// `n` open conversations routing has heard of, nobody assigned.
    async fn conversations(&self, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let id = Uuid::now_v7();
            self.store.learn_conversation(self.tenant, id, "whatsapp", 1, true, false).await.unwrap();
            ids.push(id);
        }
        ids
    }

    /// A supervisor assigns `ids` to Sarah, giving the call `timeout`.
    async fn assign_to_sarah(
        &mut self,
        ids: &[String],
        timeout: Duration,
    ) -> Result<pb::BulkAssignResponse, tonic::Status> {
        let request = pb::BulkAssignRequest {
            filter: Some(ConversationFilter { ids: ids.to_vec(), ..Default::default() }),
            assignee_id: self.agent.to_string(),
            ..Default::default()
        };
        let mut request = call(self.tenant, "user:lena", Role::Supervisor, request);
        request.set_timeout(timeout);
        Ok(self.client.bulk_assign(request).await?.into_inner())
    }

    async fn assignees(&self, ids: &[Uuid]) -> Vec<Option<Uuid>> {
        let mut found = Vec::new();
        for id in ids {
            let assignee: Option<Uuid> =
                sqlx::query_scalar("SELECT assignee_id FROM conversations WHERE tenant_id = $1 AND id = $2")
                    .bind(self.tenant)
                    .bind(id)
                    .fetch_one(self.store.pool())
                    .await
                    .unwrap();
            found.push(assignee);
        }
        found
    }
}

fn texts(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

fn outcomes(response: &pb::BulkAssignResponse) -> Vec<(String, String)> {
    response.results.iter().map(|i| (i.conversation_id.clone(), i.outcome.clone())).collect()
}

#[tokio::test]
async fn a_bulk_assignment_reports_every_conversation_in_order_with_the_reason_of_each_failure() {
    let mut routing = routing().await;
    let known = routing.conversations(10).await;
    let unknown = Uuid::now_v7().to_string();
    let mut ids = texts(&known);
    ids.insert(3, unknown.clone());
    ids.insert(7, "not-an-id".into());

    let report = routing.assign_to_sarah(&ids, Duration::from_secs(10)).await.unwrap();
    let expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let outcome = if *id == unknown || id == "not-an-id" { "failed" } else { "changed" };
            (id.clone(), outcome.to_owned())
        })
        .collect();
    assert_eq!(outcomes(&report), expected);
    assert_eq!((report.changed, report.unchanged, report.failed, report.not_attempted), (10, 0, 2, 0));
    assert!(report.results[3].error.contains("conversation service unavailable"), "{:?}", report.results[3]);
    assert!(report.results[7].error.contains("conversation_id"), "{:?}", report.results[7]);
    assert_eq!(routing.assignees(&known).await, vec![Some(routing.agent); 10]);

    // Again: nothing to change.
    let again = routing.assign_to_sarah(&texts(&known), Duration::from_secs(10)).await.unwrap();
    assert_eq!((again.changed, again.unchanged, again.failed, again.not_attempted), (0, 10, 0, 0));
    routing.replica.shutdown.cancel();
}

#[tokio::test]
async fn more_ids_than_a_bulk_assignment_takes_are_refused_naming_the_limit() {
    let mut routing = routing().await;
    let ids: Vec<String> = (0..1001).map(|_| Uuid::now_v7().to_string()).collect();
    let refused = routing.assign_to_sarah(&ids, Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("at most 1000"), "{}", refused.message());
    routing.replica.shutdown.cancel();
}

#[tokio::test]
async fn a_bulk_assignment_answers_before_its_deadline_naming_what_it_did_not_do_and_that_is_sent_again() {
    let mut routing = routing().await;
    let ids = routing.conversations(12).await;
    // The first four (as many as are assigned at once) are held by another transaction: they
    // cannot finish before the call's deadline.
    let mut holder = routing.store.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM conversations WHERE tenant_id = $1 AND id = ANY($2) FOR UPDATE")
        .bind(routing.tenant)
        .bind(&ids[..4])
        .execute(&mut *holder)
        .await
        .unwrap();

    let report = routing.assign_to_sarah(&texts(&ids), Duration::from_secs(2)).await.unwrap();
    assert_eq!(report.results.len(), 12, "every conversation is reported");
    for item in &report.results[..4] {
        assert_eq!(item.outcome, "failed", "{item:?}");
        assert!(item.error.contains("timed out"), "{item:?}");
    }
    for item in &report.results[4..] {
        assert_eq!(item.outcome, "not_attempted", "{item:?}");
    }
    assert_eq!((report.changed, report.failed, report.not_attempted), (0, 4, 8));
    holder.rollback().await.unwrap();

    // The caller sends exactly what was not done.
    let rest: Vec<String> = report
        .results
        .iter()
        .filter(|i| matches!(i.outcome.as_str(), "failed" | "not_attempted"))
        .map(|i| i.conversation_id.clone())
        .collect();
    assert_eq!(rest, texts(&ids));
    let retried = routing.assign_to_sarah(&rest, Duration::from_secs(10)).await.unwrap();
    assert_eq!((retried.failed, retried.not_attempted), (0, 0), "{retried:?}");
    assert_eq!(retried.changed + retried.unchanged, 12);
    assert_eq!(routing.assignees(&ids).await, vec![Some(routing.agent); 12]);
    routing.replica.shutdown.cancel();
}
