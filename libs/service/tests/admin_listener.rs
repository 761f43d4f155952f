//! What a service's public listener tells anyone, and what only its admin listener tells the
//! deployment: `/metrics` and why a dependency fails are served on the admin listener only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use inbox_config::HttpSettings;
use inbox_service::Readiness;
use inbox_service::ops::{postgres_check, routes, serve_with_admin};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What a failing check of an internal dependency may say: hosts and users nobody outside
/// should learn.
const INTERNAL_DETAIL: &str = "cannot reach redis://inbox-ops@10.20.30.40:6379";

struct Service {
    public: SocketAddr,
    admin: SocketAddr,
    _shutdown: tokio_util::sync::DropGuard,
}

/// A service whose PostgreSQL is down (nothing listens on its port) and whose Redis check
/// fails with internal details.
async fn service_with_a_dependency_down() -> Service {
    let public = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (public_addr, admin_addr) = (public.local_addr().unwrap(), admin.local_addr().unwrap());
    let unused_port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy(&format!("postgres://inbox:pw@127.0.0.1:{unused_port}/inbox"))
        .unwrap();
    let readiness = Readiness::expecting(&["postgres", "redis"]);
    readiness.register("postgres", postgres_check(pool)).await;
    readiness.register("redis", Arc::new(|| Box::pin(async { Err(INTERNAL_DETAIL.to_owned()) }))).await;
    let settings = HttpSettings::with_defaults(public_addr.to_string(), admin_addr.to_string());
    let shutdown = CancellationToken::new();
    tokio::spawn(serve_with_admin(public, routes(readiness.clone()), admin, readiness, &settings, shutdown.clone()));
    Service { public: public_addr, admin: admin_addr, _shutdown: shutdown.drop_guard() }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_listener_only() {
    let service = service_with_a_dependency_down().await;
    assert_eq!(get(service.public, "/metrics").await.0, 404);
    let (status, text) = get(service.admin, "/metrics").await;
    assert_eq!(status, 200);
    // The listeners' own request histogram, recorded by the requests above.
    assert!(text.contains("inbox_http_request_seconds"), "{text}");
    assert_eq!(get(service.public, "/healthz").await.0, 200);
    assert_eq!(get(service.admin, "/healthz").await.0, 200);
}

#[tokio::test]
async fn the_public_readyz_names_the_failing_checks_without_their_errors() {
    let service = service_with_a_dependency_down().await;

    let (status, text) = get(service.admin, "/readyz").await;
    assert_eq!(status, 503);
    let admin: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(admin["checks"]["redis"], INTERNAL_DETAIL);
    let postgres_error = admin["checks"]["postgres"].as_str().unwrap().to_owned();
    assert!(!["ok", "failing", ""].contains(&postgres_error.as_str()), "{text}");

    let (status, text) = get(service.public, "/readyz").await;
    assert_eq!(status, 503);
    let public: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(public["ready"], false);
    assert_eq!(public["checks"]["postgres"], "failing", "{text}");
    assert_eq!(public["checks"]["redis"], "failing", "{text}");
    assert!(!text.contains("10.20.30.40") && !text.contains(&postgres_error), "{text}");
}
