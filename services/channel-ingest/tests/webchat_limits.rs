//! Web chat's limits as a deployment behind an ingress sees them, against real Redis and
//! PostgreSQL: who a request is (the proxy's `X-Forwarded-For` only from trusted proxies, IPv6
//! per /64), per-address limits per widget and over all widgets, hourly caps on new visitors
//! and page views, and visitor tokens that expire when idle. The service runs on a manual
//! clock set at the start of an hour, so no window rolls over during a test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use chrono::TimeZone;
use common::Ingest;
use inbox_channel_ingest::store::NewWidget;
use inbox_service::Clock;
use serde_json::{Value, json};

const ORIGIN: &str = "https://shop.test";

async fn start(env: &[(&str, &str)]) -> (Ingest, Clock) {
    let clock = Clock::manual(chrono::Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap());
    (common::start_with_clock(env, clock.clone()).await, clock)
}

async fn widget(ingest: &Ingest) -> String {
    let origins = vec![ORIGIN.to_owned()];
    let shop = NewWidget { name: "Shop", allowed_origins: &origins, greeting: "", color: "#112233" };
    ingest.store.create_widget(ingest.tenant, &shop).await.unwrap().widget_key
}

/// A visitor API call as the widget makes it, from `forwarded_for` (as our proxy on loopback
/// reports the client).
async fn call(
    ingest: &Ingest,
    method: reqwest::Method,
    path: &str,
    forwarded_for: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/webchat/v1/widgets/{path}", ingest.base))
        .header("Origin", ORIGIN)
        .header("X-Forwarded-For", forwarded_for);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

async fn config(ingest: &Ingest, key: &str, forwarded_for: &str) -> (u16, Option<String>) {
    let (status, retry_after, _) = call(ingest, reqwest::Method::GET, key, forwarded_for, None, None).await;
    (status, retry_after)
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_limited_per_widget_and_over_all_widgets() {
    let (ingest, _clock) = start(&[
        ("INBOX__WEBCHAT__TRUSTED_PROXIES", "127.0.0.0/8, ::1"),
        ("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE", "3"),
        ("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE_ALL_WIDGETS", "5"),
    ])
    .await;
    let (shop, blog) = (widget(&ingest).await, widget(&ingest).await);

    // Three on one widget, the fourth refused until the minute ends.
    for _ in 0..3 {
        assert_eq!(config(&ingest, &shop, "203.0.113.1").await.0, 200);
    }
    assert_eq!(config(&ingest, &shop, "203.0.113.1").await, (429, Some("60".to_owned())));
    // The same client on another widget has its own per-widget count, but not beyond five over
    // all widgets (the refused request counted too).
    assert_eq!(config(&ingest, &blog, "203.0.113.1").await.0, 200);
    assert_eq!(config(&ingest, &blog, "203.0.113.1").await.0, 429);

    // Another client behind the same proxy is not limited; what a client writes left of the
    // proxy's entry is not believed.
    assert_eq!(config(&ingest, &shop, "203.0.113.2").await.0, 200);
    assert_eq!(config(&ingest, &shop, "203.0.113.1, 203.0.113.3").await.0, 200);
    assert_eq!(config(&ingest, &shop, "203.0.113.3, 203.0.113.1").await.0, 429);

    // IPv6 clients count per /64: another address of the same /64 is the same client.
    for _ in 0..3 {
        assert_eq!(config(&ingest, &shop, "2001:db8:1:2::1").await.0, 200);
    }
    assert_eq!(config(&ingest, &shop, "2001:db8:1:2:ffff:ffff:ffff:9").await.0, 429);
    assert_eq!(config(&ingest, &shop, "2001:db8:1:3::1").await.0, 200);
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn without_trusted_proxies_the_forwarded_header_changes_nothing() {
    let (ingest, _clock) = start(&[("INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE", "2")]).await;
    let shop = widget(&ingest).await;
    assert_eq!(config(&ingest, &shop, "203.0.113.1").await.0, 200);
    assert_eq!(config(&ingest, &shop, "203.0.113.2").await.0, 200);
    // Each request named another address; all came from the same peer.
    assert_eq!(config(&ingest, &shop, "203.0.113.3").await.0, 429);
    ingest.shutdown.cancel();
}

fn session(token: Option<&str>, page: bool) -> Value {
    let mut body = json!({});
    if let Some(token) = token {
        body["visitor_token"] = json!(token);
    }
    if page {
        body["page"] = json!({"url": "https://shop.test/boots", "title": "Boots"});
    }
    body
}

#[tokio::test]
async fn new_visitors_and_page_views_per_address_are_capped_per_hour() {
    let (ingest, clock) = start(&[
        ("INBOX__WEBCHAT__TRUSTED_PROXIES", "127.0.0.1"),
        ("INBOX__WEBCHAT__VISITORS_PER_ADDRESS_PER_HOUR", "2"),
        ("INBOX__WEBCHAT__PAGE_VIEWS_PER_ADDRESS_PER_HOUR", "3"),
    ])
    .await;
    let shop = widget(&ingest).await;
    let sessions = format!("{shop}/sessions");
    let post = reqwest::Method::POST;

    let (status, _, first) =
        call(&ingest, post.clone(), &sessions, "203.0.113.1", None, Some(session(None, false))).await;
    assert_eq!(status, 201);
    let token = first["visitor_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&ingest, post.clone(), &sessions, "203.0.113.1", None, Some(session(None, false))).await.0, 201);
    // A third new visitor from the address within the hour: refused until the hour ends.
    let (status, retry_after, _) =
        call(&ingest, post.clone(), &sessions, "203.0.113.1", None, Some(session(None, false))).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("3600")));
    let visitors: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webchat_visitors").fetch_one(ingest.store.pool()).await.unwrap();
    assert_eq!(visitors, 2, "the refused session created nobody");
    // A returning visitor is not a new one; another address may start its own.
    let (status, _, resumed) =
        call(&ingest, post.clone(), &sessions, "203.0.113.1", None, Some(session(Some(&token), true))).await;
    assert_eq!((status, resumed["resumed"].as_bool()), (200, Some(true)));
    assert_eq!(call(&ingest, post.clone(), &sessions, "203.0.113.2", None, Some(session(None, false))).await.0, 201);

    // Page views: the session's above was the first of three.
    let views = format!("{shop}/page-views");
    let page = json!({"url": "https://shop.test/socks"});
    for _ in 0..2 {
        assert_eq!(call(&ingest, post.clone(), &views, "203.0.113.1", Some(&token), Some(page.clone())).await.0, 204);
    }
    let (status, retry_after, _) =
        call(&ingest, post.clone(), &views, "203.0.113.1", Some(&token), Some(page.clone())).await;
    assert_eq!((status, retry_after.is_some()), (429, true));

    // The next hour, both are open again.
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(call(&ingest, post.clone(), &views, "203.0.113.1", Some(&token), Some(page)).await.0, 204);
    assert_eq!(call(&ingest, post, &sessions, "203.0.113.1", None, Some(session(None, false))).await.0, 201);
    ingest.shutdown.cancel();
}

#[tokio::test]
async fn a_visitor_token_unused_for_the_idle_time_starts_a_new_visitor() {
    let (ingest, clock) = start(&[("INBOX__WEBCHAT__VISITOR_IDLE_DAYS", "30")]).await;
    let shop = widget(&ingest).await;
    let sessions = format!("{shop}/sessions");
    let messages = format!("{shop}/messages");
    let (status, _, started) =
        call(&ingest, reqwest::Method::POST, &sessions, "203.0.113.1", None, Some(session(None, false))).await;
    assert_eq!(status, 201);
    let token = started["visitor_token"].as_str().unwrap().to_owned();
    let visitor = started["visitor_id"].clone();

    // Used every 29 days, it lives on.
    for _ in 0..2 {
        clock.advance(chrono::Duration::days(29));
        assert_eq!(call(&ingest, reqwest::Method::GET, &messages, "203.0.113.1", Some(&token), None).await.0, 200);
    }
    // Unused for 31 days, it opens nothing, and a session with it starts a new visitor.
    clock.advance(chrono::Duration::days(31));
    assert_eq!(call(&ingest, reqwest::Method::GET, &messages, "203.0.113.1", Some(&token), None).await.0, 401);
    let (status, _, fresh) =
        call(&ingest, reqwest::Method::POST, &sessions, "203.0.113.1", None, Some(session(Some(&token), false))).await;
    assert_eq!((status, fresh["resumed"].as_bool()), (201, Some(false)));
    assert_ne!(fresh["visitor_id"], visitor);
    assert_ne!(fresh["visitor_token"].as_str(), Some(token.as_str()));
    ingest.shutdown.cancel();
}
