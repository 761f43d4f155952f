//! `just bench signin`: one gateway (in process, production argon2id cost unless
//! `INBOX__GATEWAY__PASSWORD_*` say otherwise) against private PostgreSQL, Redis and NATS.
//! Measures sign-ins per second and their latency (argon2 dominates), then what judging a
//! credential costs a request: `GET /v1/me` with a signed-in session's token and with an API
//! key (records cached), beside `GET /healthz` (no credential) on the same server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use inbox_gateway::store::{GatewayStore, MIGRATOR};
use inbox_service::{Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::load::{Connection, post_request};
use crate::{Row, ms, percentile, row, service_env};

const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789";
const PASSWORD: &str = "correct horse battery staple";
/// People signing in, in turn.
const PEOPLE: usize = 32;
const SIGN_INS: usize = 256;
const SIGN_IN_CONNECTIONS: usize = 4;
const READS: usize = 40_000;
const READ_CONNECTIONS: usize = 16;

fn get_request(path: &str, token: Option<&str>) -> Vec<u8> {
    let authorization = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nhost: bench\r\n{authorization}\r\n").into_bytes()
}

/// Sends every request over `connections` keep-alive connections; the rate, and each
/// request's latency, sorted. Every answer must be `expected`.
async fn measure(
    address: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    expected: u16,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut open = Vec::with_capacity(connections);
    for _ in 0..connections {
        open.push(Connection::open(address).await?);
    }
    let started = Instant::now();
    let workers: Vec<_> = open
        .into_iter()
        .map(|mut connection| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else { return anyhow::Ok(latencies) };
                    let sent = Instant::now();
                    let status = connection.send(request).await?;
                    anyhow::ensure!(status == expected, "request {i} answered {status}");
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests.len());
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let rate = requests.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok((rate, latencies))
}

pub async fn bench_signin() -> anyhow::Result<Vec<Row>> {
    let nats = TestNats::start().await?;
    let redis = TestRedis::start().await?;
    let db = TestDatabase::create("bench_gateway").await?;
    let extra = [
        ("INBOX__REDIS__URL", redis.url().to_owned()),
        ("INBOX__REDIS__KEY_PREFIX", redis.key_prefix().to_owned()),
        ("INBOX__GATEWAY__JWT_SECRET", "bench-jwt-secret-0123456789-0123456789".to_owned()),
        ("INBOX__GATEWAY__OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
    ];
    let env = service_env(db.url(), nats.url(), &extra, Some("INBOX__GATEWAY__"));
    let settings: inbox_gateway::Settings = inbox_config::load(inbox_gateway::Settings::DEFAULTS, None, &env)?;
    settings.validate()?;
    let cost = settings.gateway.auth_policy().hash_cost;
    let listeners = Listeners::ephemeral().await?;
    let address = listeners.http.local_addr()?;
    let shutdown = CancellationToken::new();
    let gateway = tokio::spawn(inbox_gateway::run(settings, listeners, shutdown.clone()));
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    wait_until(Duration::from_secs(60), || async {
        let answer = http.get(format!("{base}/readyz")).send().await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await
    .context("the gateway did not become ready")?;

    // People with passwords (set through the admin API, hashed as in production).
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db.url()).await?;
    MIGRATOR.run(&pool).await?;
    let store = GatewayStore::new(pool);
    let (tenant, _) = store.upsert_tenant("bench", "Bench", "UTC").await?;
    let mut emails = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let email = format!("agent{i}@bench.test");
        let user = store.upsert_user(tenant.id, &email, &format!("Agent {i}"), "agent").await?;
        let url = format!("{base}/v1/admin/tenants/{}/users/{}/password", tenant.id, user.id);
        let answer = http.put(url).bearer_auth(OPERATOR_TOKEN).json(&json!({"password": PASSWORD})).send().await?;
        anyhow::ensure!(answer.status() == 204, "setting a password answered {}", answer.status());
        emails.push(email);
    }

    let sign_ins: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..SIGN_INS)
            .map(|i| {
                let body = json!({"email": emails[i % PEOPLE], "password": PASSWORD}).to_string();
                post_request("bench", "/v1/auth/sign-in", &[], body.as_bytes())
            })
            .collect(),
    );
    let (sign_in_rate, sign_in_latencies) = measure(address, sign_ins, SIGN_IN_CONNECTIONS, 200).await?;

    let signed_in: Value = http
        .post(format!("{base}/v1/auth/sign-in"))
        .json(&json!({"email": emails[0], "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = signed_in["access_token"].as_str().context("no access token")?.to_owned();
    let key: Value = http
        .post(format!("{base}/v1/admin/tenants/{}/api-keys", tenant.id))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({"name": "Bench", "scope": "read_only"}))
        .send()
        .await?
        .json()
        .await?;
    let key = key["key"].as_str().context("no api key")?.to_owned();

    let reads = |path: &str, credential: Option<&str>| Arc::new(vec![get_request(path, credential); READS]);
    let (health_rate, health_latencies) = measure(address, reads("/healthz", None), READ_CONNECTIONS, 200).await?;
    let (me_rate, me_latencies) = measure(address, reads("/v1/me", Some(&token)), READ_CONNECTIONS, 200).await?;
    let (key_rate, key_latencies) = measure(address, reads("/v1/me", Some(&key)), READ_CONNECTIONS, 200).await?;
    shutdown.cancel();
    let _ = gateway.await;

    let cost_note = format!(
        "argon2id m={} KiB t={} p={}, {SIGN_IN_CONNECTIONS} connections",
        cost.memory_kib, cost.iterations, cost.parallelism
    );
    Ok(vec![
        row("sign-ins per second", format!("{sign_in_rate:.0}"), cost_note.clone()),
        row(
            "sign-in p50 / p99",
            format!("{} / {}", ms(percentile(&sign_in_latencies, 50.0)), ms(percentile(&sign_in_latencies, 99.0))),
            cost_note,
        ),
        row(
            "GET /healthz per second (no credential)",
            format!("{health_rate:.0}"),
            format!("p99 {}, {READ_CONNECTIONS} connections", ms(percentile(&health_latencies, 99.0))),
        ),
        row(
            "GET /v1/me per second (signed-in session)",
            format!("{me_rate:.0}"),
            format!("p99 {}; session and user records cached; reads the user row", ms(percentile(&me_latencies, 99.0))),
        ),
        row(
            "GET /v1/me per second (API key)",
            format!("{key_rate:.0}"),
            format!("p99 {}; key record cached; reads the key row", ms(percentile(&key_latencies, 99.0))),
        ),
    ])
}
