//! channel-ingest run in-process against real PostgreSQL and JetStream, as each edge's tests
//! start it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design
#![allow(dead_code)] // each test binary uses its part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use inbox_bus::Bus;
use inbox_channel_ingest::Settings;
use inbox_channel_ingest::secrets::SecretKeys;
use inbox_channel_ingest::store::{IngestStore, NewTwilioAccount, NewWhatsAppAccount};
use inbox_service::{Clock, Listeners};
use inbox_testkit::{TestDatabase, TestNats, TestRedis, wait_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The service token the tests' gRPC calls present.
pub const SERVICE_TOKEN: &str = "service-token-for-tests";

/// The WhatsApp number the tests connect, and the app secret that signs its webhooks.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const BUSINESS_ACCOUNT_ID: &str = "102290129340398";
pub const APP_SECRET: &str = "app-secret-of-the-test";

/// The Twilio number the tests connect, its account and auth token, and the public base URL
/// Twilio signs callbacks for (`INBOX__TWILIO__PUBLIC_BASE_URL`).
pub const TWILIO_NUMBER: &str = "+14155550100";
pub const TWILIO_ACCOUNT_SID: &str = "AC00000000000000000000000000000abc";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-of-the-test";
pub const TWILIO_PUBLIC_BASE_URL: &str = "https://calls.example.test";

/// The keys the tests seal channel secrets with (`INBOX__SECRETS__KEYS`), and the active one.
pub const SECRET_KEYS: &str =
    "test-old:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,test-new:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
pub const ACTIVE_KEY: &str = "test-new";

/// The keys of [`SECRET_KEYS`] with `active` sealing new values.
pub fn secret_keys(active: &str) -> SecretKeys {
    SecretKeys::parse(SECRET_KEYS, active).unwrap()
}

pub struct Ingest {
    /// `http://127.0.0.1:<port>` of the webhooks and the web chat visitor API.
    pub base: String,
    pub grpc: SocketAddr,
    /// The service's database, opened by the test.
    pub store: IngestStore,
    pub bus: Bus,
    /// The tenant the test connects its accounts to.
    pub tenant: Uuid,
    pub shutdown: CancellationToken,
    /// The database's URL (to open it as the service would, with other keys).
    pub db_url: String,
    /// The settings' variables the service was started with.
    pub vars: HashMap<String, String>,
    _db: TestDatabase,
    _nats: TestNats,
    _redis: TestRedis,
}

/// Starts channel-ingest with a fresh database and JetStream, the defaults overridden by `env`
/// (`INBOX__...` pairs), and waits until it is ready.
pub async fn start(env: &[(&str, &str)]) -> Ingest {
    start_with_clock(env, Clock::system()).await
}

/// Like [`start`], the service reading "now" from `clock` (a manual clock in tests that move
/// time).
pub async fn start_with_clock(env: &[(&str, &str)], clock: Clock) -> Ingest {
    let db = TestDatabase::create("ingest").await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let redis = TestRedis::start().await.unwrap();
    let mut vars: HashMap<String, String> = [
        ("INBOX__POSTGRES__URL", db.url()),
        ("INBOX__NATS__URL", nats.url()),
        ("INBOX__REDIS__URL", redis.url().to_owned()),
        ("INBOX__REDIS__KEY_PREFIX", redis.key_prefix().to_owned()),
        ("INBOX__AUTH__SERVICE_TOKEN", SERVICE_TOKEN.to_owned()),
        ("INBOX__LOG__LEVEL", "warn".to_owned()),
        ("INBOX__SECRETS__KEYS", SECRET_KEYS.to_owned()),
        ("INBOX__SECRETS__ACTIVE_KEY", ACTIVE_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings: Settings =
        inbox_config::load(<Settings as inbox_service::ServiceSettings>::DEFAULTS, None, &vars).unwrap();
    let started_with = vars.clone();
    let listeners = Listeners::ephemeral().await.unwrap();
    let base = format!("http://{}", listeners.http.local_addr().unwrap());
    let grpc = listeners.grpc.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(inbox_channel_ingest::run_with_clock(settings, listeners, shutdown.clone(), clock.clone()));
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(20), || {
        let req = client.get(format!("{base}/readyz"));
        async move { req.send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await
    .expect("channel-ingest became ready");
    let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
    let bus = Bus::connect(&nats.url(), "test").await.unwrap();
    let store = IngestStore::with_clock(pool, clock).with_secrets(secret_keys(ACTIVE_KEY));
    Ingest {
        base,
        grpc,
        store,
        bus,
        tenant: Uuid::new_v4(),
        shutdown,
        db_url: db.url(),
        vars: started_with,
        _db: db,
        _nats: nats,
        _redis: redis,
    }
}

impl Ingest {
    /// Starts another replica on the same database, bus and Redis, with `env` over the first
    /// one's settings; returns its HTTP base URL once it is ready, or the error it stopped with.
    pub async fn start_replica(&self, env: &[(&str, &str)]) -> Result<String, String> {
        let mut vars = self.vars.clone();
        vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let settings: Settings =
            inbox_config::load(<Settings as inbox_service::ServiceSettings>::DEFAULTS, None, &vars).unwrap();
        let listeners = Listeners::ephemeral().await.unwrap();
        let base = format!("http://{}", listeners.http.local_addr().unwrap());
        let replica = tokio::spawn(inbox_channel_ingest::run(settings, listeners, self.shutdown.clone()));
        let client = reqwest::Client::new();
        // Serving webhooks (anything but 503 from the webhook edge): connected, migrated, and
        // past what the service does at start.
        let ready = wait_until(Duration::from_secs(20), || {
            let req = client.get(format!("{base}/webhooks/whatsapp"));
            async move { req.send().await.ok().filter(|r| r.status() != 503).map(|_| ()) }
        });
        tokio::select! {
            ready = ready => ready.map(|()| base).ok_or_else(|| "not ready within 20 s".to_owned()),
            stopped = replica => Err(match stopped {
                Ok(Ok(())) => "stopped".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            }),
        }
    }

    /// Every channel account row as PostgreSQL would dump it (one JSON text per row).
    pub async fn raw_accounts(&self) -> String {
        let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(c)::text FROM channel_accounts c")
            .fetch_all(self.store.pool())
            .await
            .unwrap();
        rows.join("\n")
    }

    /// Connects [`PHONE_NUMBER_ID`] to the test's tenant.
    pub async fn connect_whatsapp_number(&self) {
        let number = NewWhatsAppAccount {
            phone_number_id: PHONE_NUMBER_ID,
            display_phone_number: "15550783881",
            app_secret: APP_SECRET,
            verify_token: "verify-me",
            access_token: "EAAG-token",
            business_account_id: BUSINESS_ACCOUNT_ID,
        };
        self.store.upsert_whatsapp_account(self.tenant, &number).await.unwrap();
    }

    /// Connects [`TWILIO_NUMBER`] to the test's tenant; calls ring one agent's phone.
    pub async fn connect_twilio_number(&self) {
        let number = NewTwilioAccount {
            phone_number: TWILIO_NUMBER,
            auth_token: TWILIO_TOKEN,
            config: serde_json::json!({"account_sid": TWILIO_ACCOUNT_SID, "voice": {"agent_numbers": ["+14155550111"]}}),
        };
        self.store.upsert_twilio_account(self.tenant, &number).await.unwrap();
    }

    /// Messages the INGEST stream holds.
    pub async fn ingest_messages(&self) -> u64 {
        self.bus.jetstream().get_stream("INGEST").await.unwrap().info().await.unwrap().state.messages
    }
}
