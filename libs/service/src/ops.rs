//! `/healthz` (the process is alive), `/readyz` (its dependencies answer and its migrations
//! are applied) and `/metrics` (Prometheus text), split over two listeners: the public one
//! answers `/healthz` and whether the service is ready, naming the failing checks only; the
//! admin one (`[http] admin_addr`, for the deployment: probes of its own, Prometheus, an
//! operator) also answers why, and serves `/metrics`. A dependency's error text can carry
//! hosts, users and internal addresses; it never reaches the public listener.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use tokio::sync::RwLock;

pub use crate::http_listener::serve_http;

/// One dependency check: `Ok` when it answers.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The readiness of a service: not ready until every dependency it declared has been
/// registered (connected, migrated) and answers now.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<RwLock<ReadinessState>>,
}

#[derive(Default)]
struct ReadinessState {
    expected: Vec<&'static str>,
    checks: Vec<(&'static str, ReadinessCheck)>,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// Readiness that waits for the named dependencies.
    pub fn expecting(names: &[&'static str]) -> Self {
        Self { inner: Arc::new(RwLock::new(ReadinessState { expected: names.to_vec(), checks: Vec::new() })) }
    }

    /// Registers a dependency once it is connected (and, for stores, migrated).
    pub async fn register(&self, name: &'static str, check: ReadinessCheck) {
        self.inner.write().await.checks.push((name, check));
    }

    /// Marks a part of the service itself ready for good (it has no dependency to ask).
    pub async fn mark_ready(&self, name: &'static str) {
        self.register(name, Arc::new(|| Box::pin(async { Ok(()) }))).await;
    }

    /// Runs every check; the map says what failed.
    pub async fn evaluate(&self) -> (bool, Map<String, Value>) {
        let (expected, checks) = {
            let state = self.inner.read().await;
            (state.expected.clone(), state.checks.clone())
        };
        let mut report = Map::new();
        let mut ready = true;
        for name in expected {
            let Some((_, check)) = checks.iter().find(|(n, _)| *n == name) else {
                report.insert(name.to_owned(), Value::String("starting".into()));
                ready = false;
                continue;
            };
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => "ok".to_owned(),
                Ok(Err(e)) => e,
                Err(_) => "timed out".to_owned(),
            };
            ready &= outcome == "ok";
            report.insert(name.to_owned(), Value::String(outcome));
        }
        (ready, report)
    }

    pub async fn is_ready(&self) -> bool {
        self.evaluate().await.0
    }
}

/// The public ops routes, to merge into a service's HTTP router: `/healthz`, and `/readyz`
/// with each check's name and `ok` or `failing` (the error goes to the log).
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(public_readyz))
        .with_state(readiness)
}

/// The admin listener's routes: `/healthz`, `/readyz` with each failing check's error, and
/// `/metrics`.
pub fn admin_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(admin_readyz))
        .route("/metrics", get(metrics))
        .with_state(readiness)
}

/// Serves `router` (which should include [`routes`]) on the public listener and
/// [`admin_routes`] on the admin listener, both within `settings`' limits, until `shutdown`.
pub fn serve_with_admin(
    public: tokio::net::TcpListener,
    router: Router,
    admin: tokio::net::TcpListener,
    readiness: Readiness,
    settings: &inbox_config::HttpSettings,
    shutdown: tokio_util::sync::CancellationToken,
) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
    let public = serve_http(public, router, settings, shutdown.clone());
    let admin = serve_http(admin, admin_routes(readiness), settings, shutdown);
    async move { tokio::try_join!(public, admin).map(|_| ()) }
}

async fn public_readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ready, checks) = readiness.evaluate().await;
    let checks: Map<String, Value> = checks
        .into_iter()
        .map(|(name, outcome)| {
            let summary = match outcome.as_str() {
                Some("ok") => "ok",
                Some("starting") => "starting",
                _ => {
                    tracing::warn!(check = %name, error = %outcome, "readiness check failing");
                    "failing"
                }
            };
            (name, Value::String(summary.to_owned()))
        })
        .collect();
    readyz_response(ready, checks)
}

async fn admin_readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ready, checks) = readiness.evaluate().await;
    readyz_response(ready, checks)
}

fn readyz_response(ready: bool, checks: Map<String, Value>) -> impl IntoResponse {
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // The pid lets a supervisor (the end-to-end harness) tell this process from another one
    // that answers on the same port.
    (status, Json(json!({"ready": ready, "checks": checks, "pid": std::process::id()})))
}

async fn metrics() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], inbox_telemetry::render_metrics())
}

/// A check that runs `SELECT 1` on the pool.
pub fn postgres_check(pool: sqlx::PgPool) -> ReadinessCheck {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { sqlx::query("SELECT 1").execute(&pool).await.map(|_| ()).map_err(|e| e.to_string()) })
    })
}

/// A check that the NATS connection is up.
pub fn nats_check(bus: inbox_bus::Bus) -> ReadinessCheck {
    Arc::new(move || {
        let connected = bus.is_connected();
        Box::pin(async move { if connected { Ok(()) } else { Err("disconnected".into()) } })
    })
}

/// A check that Redis answers PING.
pub fn redis_check(redis: redis::aio::ConnectionManager) -> ReadinessCheck {
    Arc::new(move || {
        let mut redis = redis.clone();
        Box::pin(async move {
            redis::cmd("PING").query_async::<String>(&mut redis).await.map(|_| ()).map_err(|e| e.to_string())
        })
    })
}
