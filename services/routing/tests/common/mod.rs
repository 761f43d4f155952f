//! What routing's service tests share: the service in-process on the test's own database,
//! JetStream server and Redis key prefix, and calls to it as a person of a tenant.

#![allow(dead_code)] // each test file uses a part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use inbox_config::Secret;
use inbox_routing::Settings;
use inbox_service::{CallContext, Listeners, Role, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The service token of the tests' routing and of the calls they make.
pub const TOKEN: &str = "routing-service-test-token";

/// One routing service (a replica, when several share the stores).
pub struct Replica {
    pub grpc: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), inbox_service::RunError>>,
}

/// Starts routing on these stores with `extra` settings (`INBOX__...` variables) and waits
/// until it is ready. Only the events and calls of the test route: the sweeper stays out of
/// the way.
pub async fn start_replica(
    db: &TestDatabase,
    nats: &TestNats,
    redis: &TestRedis,
    extra: &[(&str, &str)],
) -> anyhow::Result<Replica> {
    let mut env = HashMap::from([
        ("INBOX__POSTGRES__URL".to_owned(), db.url()),
        ("INBOX__NATS__URL".to_owned(), nats.url()),
        ("INBOX__REDIS__URL".to_owned(), redis.url().to_owned()),
        ("INBOX__REDIS__KEY_PREFIX".to_owned(), redis.key_prefix().to_owned()),
        ("INBOX__AUTH__SERVICE_TOKEN".to_owned(), TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL".to_owned(), "warn".to_owned()),
        ("INBOX__ROUTING__SWEEP_INTERVAL_SECONDS".to_owned(), "3600".to_owned()),
        // Two replicas with the default pool (16) and this test's own took every connection a
        // shared PostgreSQL (100) had left while other suites ran: the test's pool then timed
        // out. Eight each still race (2 batch workers and up to 120 concurrent calls per replica).
        ("INBOX__POSTGRES__MAX_CONNECTIONS".to_owned(), "8".to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings: Settings = inbox_config::load(Settings::DEFAULTS, None, &env)?;
    let listeners = Listeners::ephemeral().await?;
    let (http, grpc) = (listeners.http.local_addr()?, listeners.grpc.local_addr()?);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(inbox_routing::run(settings, listeners, shutdown.clone()));
    let client = reqwest::Client::new();
    let ready = wait_until(Duration::from_secs(30), || {
        let request = client.get(format!("http://{http}/readyz"));
        async move { request.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
    anyhow::ensure!(ready.is_some(), "replica not ready");
    Ok(Replica { grpc, shutdown, task })
}

/// A call to routing as `principal` with `role` in `tenant`.
pub fn call<T>(tenant: Uuid, principal: &str, role: Role, message: T) -> tonic::Request<T> {
    CallContext { tenant_id: tenant, principal: principal.into(), role }.request(message, &Secret::new(TOKEN)).unwrap()
}
