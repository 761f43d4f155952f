//! What a client meets at the gateway's public edge, over HTTP against a running gateway (real
//! PostgreSQL, Redis and NATS; the services behind it are not needed for these routes): request
//! budgets per person and per API key, and tickets — the only credential a URL may carry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::StreamExt;
use inbox_config::Secret;
use inbox_gateway::Settings;
use inbox_gateway::auth::{Auth, AuthParts, KeyScope};
use inbox_gateway::store::{GatewayStore, User};
use inbox_service::{Clock, Listeners, ServiceSettings};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use tokio_util::sync::CancellationToken;

const JWT_SECRET: &str = "a-jwt-secret-of-at-least-32-characters";
const OPERATOR_TOKEN: &str = "operator-token-0123456789";
const PER_USER: u32 = 5;
const PER_KEY: u32 = 3;

/// Monday 3 March 2031, 09:00:00 UTC, the start of a minute: when every test starts,
/// whatever the date it runs.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 3, 3, 9, 0, 0).unwrap()
}

/// A running gateway on its own database and Redis prefix, on a clock the test moves, and an
/// [`Auth`] beside it (same secret, same store) that mints its callers' credentials.
struct Gateway {
    base: String,
    redis_url: String,
    redis_prefix: String,
    http: reqwest::Client,
    clock: Clock,
    store: GatewayStore,
    minter: Auth,
    shutdown: CancellationToken,
    _db: TestDatabase,
    _redis: TestRedis,
    _nats: TestNats,
}

impl Gateway {
    async fn start() -> Gateway {
        let db = TestDatabase::create("gateway_edge").await.unwrap();
        let redis = TestRedis::start().await.unwrap();
        let nats = TestNats::start().await.unwrap();
        let env: HashMap<String, String> = [
            ("INBOX__POSTGRES__URL", db.url()),
            ("INBOX__REDIS__URL", redis.url().to_owned()),
            ("INBOX__REDIS__KEY_PREFIX", redis.key_prefix().to_owned()),
            ("INBOX__NATS__URL", nats.url()),
            ("INBOX__AUTH__SERVICE_TOKEN", "a-service-token-of-16+".to_owned()),
            ("INBOX__GATEWAY__JWT_SECRET", JWT_SECRET.to_owned()),
            ("INBOX__GATEWAY__OPERATOR_TOKEN", OPERATOR_TOKEN.to_owned()),
            ("INBOX__GATEWAY__PASSWORD_MEMORY_KIB", "64".to_owned()),
            ("INBOX__GATEWAY__PASSWORD_ITERATIONS", "1".to_owned()),
            ("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_USER", PER_USER.to_string()),
            ("INBOX__GATEWAY__REQUESTS_PER_MINUTE_PER_KEY", PER_KEY.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let settings: Settings = inbox_config::load(Settings::DEFAULTS, None, &env).unwrap();
        settings.validate().unwrap();
        let clock = Clock::manual(start());
        let listeners = Listeners::ephemeral().await.unwrap();
        let base = format!("http://{}", listeners.http.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(inbox_gateway::run_with_clock(settings.clone(), listeners, shutdown.clone(), clock.clone()));
        let http = reqwest::Client::builder().timeout(StdDuration::from_secs(10)).build().unwrap();
        let ready = wait_until(StdDuration::from_secs(30), || {
            let request = http.get(format!("{base}/readyz"));
            async move { request.send().await.ok().filter(|r| r.status() == 200) }
        })
        .await;
        assert!(ready.is_some(), "/readyz did not answer 200 within 30 s");

        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&db.url()).await.unwrap();
        let store = GatewayStore::new(pool);
        let redis_connection =
            redis::aio::ConnectionManager::new(redis::Client::open(redis.url()).unwrap()).await.unwrap();
        let minter = Auth::new(AuthParts {
            jwt_secret: Secret::new(JWT_SECRET),
            operator_token: Secret::new(OPERATOR_TOKEN),
            store: store.clone(),
            clock: clock.clone(),
            redis: redis_connection,
            redis_prefix: format!("{}minter:", redis.key_prefix()),
            nats: async_nats::connect(nats.url()).await.unwrap(),
            policy: settings.gateway.auth_policy(),
        })
        .unwrap();
        let (redis_url, redis_prefix) = (redis.url().to_owned(), redis.key_prefix().to_owned());
        Gateway {
            base,
            redis_url,
            redis_prefix,
            http,
            clock,
            store,
            minter,
            shutdown,
            _db: db,
            _redis: redis,
            _nats: nats,
        }
    }

    async fn person(&self, tenant: &str, email: &str) -> User {
        let (tenant, _) = self.store.upsert_tenant(tenant, "Acme", "UTC").await.unwrap();
        self.store.upsert_user(tenant.id, email, "Sarah", "agent").await.unwrap()
    }

    async fn token_of(&self, user: &User) -> String {
        self.minter.mint(user, Duration::hours(1), "operator").await.unwrap().0
    }

    async fn key_of(&self, user: &User, name: &str) -> String {
        self.minter.create_key(user.tenant_id, name, KeyScope::Integration, "operator").await.unwrap().1
    }

    /// `GET /v1/me` with `credential` in the `Authorization` header.
    async fn me(&self, credential: &str) -> reqwest::Response {
        self.http.get(format!("{}/v1/me", self.base)).bearer_auth(credential).send().await.unwrap()
    }

    /// A ticket of the holder of `credential`, from `POST /v1/auth/ticket`.
    async fn ticket(&self, credential: &str) -> serde_json::Value {
        let response =
            self.http.post(format!("{}/v1/auth/ticket", self.base)).bearer_auth(credential).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Opens the live stream at `query` (with `credential` in the header when given): its first
    /// frame, or the status the upgrade was refused with and the error message.
    async fn open_stream(&self, query: &str, credential: Option<&str>) -> Result<serde_json::Value, (u16, String)> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let url = format!("{}/v1/stream{query}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        if let Some(credential) = credential {
            request.headers_mut().insert("authorization", format!("Bearer {credential}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((mut socket, _)) => {
                let frame = tokio::time::timeout(StdDuration::from_secs(10), socket.next()).await.unwrap();
                Ok(serde_json::from_str(frame.unwrap().unwrap().to_text().unwrap()).unwrap())
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
                Err((response.status().as_u16(), body))
            }
            Err(e) => panic!("stream: {e}"),
        }
    }

    /// Asks `GET /v1/me` `times` times; the statuses answered.
    async fn me_times(&self, credential: &str, times: u32) -> Vec<u16> {
        let mut statuses = Vec::new();
        for _ in 0..times {
            statuses.push(self.me(credential).await.status().as_u16());
        }
        statuses
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test]
async fn a_person_over_their_budget_waits_while_a_colleague_and_the_operator_carry_on() {
    let gateway = Gateway::start().await;
    let sarah = gateway.person("acme", "sarah@acme.test").await;
    let tom = gateway.person("acme", "tom@acme.test").await;
    let (sarahs, toms) = (gateway.token_of(&sarah).await, gateway.token_of(&tom).await);

    assert_eq!(gateway.me_times(&sarahs, PER_USER).await, vec![200; PER_USER as usize]);
    let refused = gateway.me(&sarahs).await;
    assert_eq!(refused.status(), 429);
    // The budget is per minute and the clock stands at the start of one: free again once this
    // minute has passed.
    assert_eq!(refused.headers()["retry-after"], "61");
    assert_eq!(refused.headers()["ratelimit-limit"], PER_USER.to_string().as_str());
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    assert_eq!(gateway.me(&toms).await.status(), 200, "a colleague of the same tenant has a budget of their own");
    assert_eq!(gateway.me_times(OPERATOR_TOKEN, PER_USER * 2).await, vec![200; PER_USER as usize * 2]);

    // Refused requests did not use up budget: once the minute has slid by, Sarah is back.
    assert_eq!(gateway.me(&sarahs).await.status(), 429);
    gateway.clock.advance(Duration::seconds(61));
    assert_eq!(gateway.me(&sarahs).await.status(), 200);
}

#[tokio::test]
async fn an_api_key_over_its_budget_waits_while_another_key_and_its_creator_carry_on() {
    let gateway = Gateway::start().await;
    let admin = gateway.person("acme", "admin@acme.test").await;
    let crm = gateway.key_of(&admin, "crm").await;
    let billing = gateway.key_of(&admin, "billing").await;

    assert_eq!(gateway.me_times(&crm, PER_KEY + 1).await, vec![200, 200, 200, 429]);
    let refused = gateway.me(&crm).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(gateway.me(&billing).await.status(), 200, "another key of the tenant has a budget of its own");
    assert_eq!(gateway.me(&gateway.token_of(&admin).await).await.status(), 200);
}

#[tokio::test]
async fn a_browser_opens_the_live_stream_with_a_ticket_that_works_once() {
    let gateway = Gateway::start().await;
    let admin = gateway.person("acme", "admin@acme.test").await;
    let key = gateway.key_of(&admin, "wallboard").await;

    let issued = gateway.ticket(&key).await;
    assert_eq!(issued["expires_in"], 30);
    let ticket = issued["ticket"].as_str().unwrap().to_owned();
    assert!(ticket.starts_with("tk_") && ticket.len() == 46, "{ticket}");
    // Redis holds its digest, for half a minute, never the ticket itself.
    let mut redis =
        redis::Client::open(gateway.redis_url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let stored: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}ticket:*", gateway.redis_prefix)).query_async(&mut redis).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(!stored[0].contains(&ticket[3..]));
    let ttl: i64 = redis::cmd("PTTL").arg(&stored[0]).query_async(&mut redis).await.unwrap();
    assert!((1..=30_000).contains(&ttl), "{ttl}");

    let ready = gateway.open_stream(&format!("?access_token={ticket}"), None).await.unwrap();
    assert_eq!(ready["type"], "ready");
    let (status, message) = gateway.open_stream(&format!("?access_token={ticket}"), None).await.unwrap_err();
    assert_eq!(status, 401, "a ticket opens one socket");
    assert!(message.contains("used or expired"), "{message}");

    // Clients that can send a header keep doing so.
    assert_eq!(gateway.open_stream("?after=0", Some(&key)).await.unwrap()["type"], "ready");
}

#[tokio::test]
async fn a_token_or_key_in_a_url_is_refused_and_says_what_to_do_instead() {
    let gateway = Gateway::start().await;
    let sarah = gateway.person("acme", "sarah@acme.test").await;
    let token = gateway.token_of(&sarah).await;
    let key = gateway.key_of(&sarah, "crm").await;

    for credential in [&token, &key] {
        let (status, message) = gateway.open_stream(&format!("?access_token={credential}"), None).await.unwrap_err();
        assert_eq!(status, 401);
        assert!(message.contains("POST /v1/auth/ticket"), "{message}");
    }
    // Elsewhere the URL takes no credential at all, not even a ticket.
    let ticket = gateway.ticket(&token).await["ticket"].as_str().unwrap().to_owned();
    for credential in [&token, &ticket] {
        let response =
            gateway.http.get(format!("{}/v1/me?access_token={credential}", gateway.base)).send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("Authorization header"), "{body}");
    }
    assert_eq!(gateway.me(&token).await.status(), 200);
    // The operator opens no stream and needs no ticket.
    let response =
        gateway.http.post(format!("{}/v1/auth/ticket", gateway.base)).bearer_auth(OPERATOR_TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 400);
}
