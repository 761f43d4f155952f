//! Web chat end to end, over HTTP and WebSocket as the widget speaks it, through the built
//! binaries: two channel-ingest replicas, a visitor chatting with an agent (messages stored
//! once, visitor information and page context in the inbox, replies and typing live on every
//! replica's sockets, history), and the security edges (origins, CORS, tokens bound to one
//! visitor of one widget, validation with nothing written, rate limits).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use chrono::Timelike;

use anyhow::Context;
use futures::StreamExt;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    SHOP_ORIGIN, add_webchat_widget, connect_stream, conversation_with, get_json, inboxctl, next_frame_of_type,
    send_json, set_up_tenant, wait_until_settled,
};
use inbox_testkit::wait_until;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The widget's view of the visitor API on one replica.
struct Widget {
    client: reqwest::Client,
    base: String,
    key: String,
    origin: String,
    /// Sent as `X-Forwarded-For` when set (fleets that trust it).
    address: Option<String>,
}

impl Widget {
    fn url(&self, path: &str) -> String {
        format!("{}/webchat/v1/widgets/{}{path}", self.base, self.key)
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("Origin", &self.origin)
            .header("User-Agent", CHROME)
            .header("Content-Type", "application/json");
        if let Some(address) = &self.address {
            request = request.header("X-Forwarded-For", address);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn session(&self, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/sessions", None, Some(&body.to_string())).await
    }

    async fn post(&self, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/messages", Some(token), Some(&body.to_string())).await
    }

    async fn history(&self, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, "/messages", Some(token), None).await
    }

    /// A single-use socket ticket for the visitor of `token`.
    async fn ticket(&self, token: &str) -> anyhow::Result<String> {
        let (status, issued) = self.call(reqwest::Method::POST, "/socket-tickets", Some(token), Some("{}")).await;
        anyhow::ensure!(status == 201, "no socket ticket: {status} {issued}");
        Ok(issued["ticket"].as_str().context("ticket")?.to_owned())
    }

    async fn socket(&self, token: &str) -> anyhow::Result<inbox_e2e::support::Socket> {
        let ticket = self.ticket(token).await?;
        self.socket_with_ticket(&ticket).await
    }

    async fn socket_with_ticket(&self, ticket: &str) -> anyhow::Result<inbox_e2e::support::Socket> {
        let url = format!("{}?ticket={ticket}", self.url("/socket")).replace("http://", "ws://");
        let mut request = url.into_client_request()?;
        request.headers_mut().insert("Origin", self.origin.parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        next_frame(&mut socket, "ready").await?;
        Ok(socket)
    }
}

async fn next_frame(socket: &mut inbox_e2e::support::Socket, kind: &str) -> anyhow::Result<Value> {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let frame: Value = serde_json::from_str(socket.next().await.context("socket closed")??.to_text()?)?;
            if frame["type"] == kind {
                return anyhow::Ok(frame);
            }
        }
    })
    .await
    .with_context(|| format!("no {kind} frame"))?
}

/// Waits until the current minute has at least 30 s left: the limits count in fixed
/// one-minute windows, and a burst started there stays in one window (or, on a slow machine,
/// two) rather than being spread thin.
async fn fresh_window() -> anyhow::Result<()> {
    wait_until(Duration::from_secs(31), || async { (chrono::Utc::now().second() < 30).then_some(()) })
        .await
        .context("no fresh window")
}

fn widget(fleet_url: String, key: &str) -> Widget {
    Widget {
        client: reqwest::Client::new(),
        base: fleet_url,
        key: key.to_owned(),
        origin: SHOP_ORIGIN.into(),
        address: None,
    }
}

#[tokio::test]
async fn a_visitor_chats_with_an_agent_whichever_replica_serves_them() -> anyhow::Result<()> {
    let mut fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "acme", "106540352242922")?;
    let key = add_webchat_widget(&fleet, &tenant.id, &[SHOP_ORIGIN])?;
    let second = fleet.start_replica("channel-ingest").await?;
    let a = widget(fleet.http_url("channel-ingest"), &key);
    let b = widget(second, &key);
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");

    // The visitor arrives on the pricing page, gives a name, then opens the shoes page.
    let (status, session) = a
        .session(json!({"name": "Ana", "email": "Ana@Example.com", "locale": "fr-FR",
            "page": {"url": "http://shop.test/pricing", "title": "Pricing", "referrer": "https://search.test/?q=shoes"}}))
        .await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["widget"]["greeting"], "Hi! How can we help?");
    let token = session["visitor_token"].as_str().unwrap().to_owned();
    let visitor = session["visitor_id"].as_str().unwrap().to_owned();
    let (status, resumed) =
        b.session(json!({"visitor_token": token, "page": {"url": "http://shop.test/shoes", "title": "Shoes"}})).await;
    assert_eq!(
        (status, &resumed["visitor_id"], &resumed["name"]),
        (200, &json!(visitor), &json!("Ana")),
        "resumed on the other replica"
    );

    // A single-page site reports a page view without a load.
    let view = json!({"url": "http://shop.test/shoes#reviews", "title": "Shoes reviews", "referrer": "http://shop.test/shoes"});
    assert_eq!(a.call(reqwest::Method::POST, "/page-views", Some(&token), Some(&view.to_string())).await.0, 204);
    assert_eq!(a.call(reqwest::Method::POST, "/page-views", None, Some(&view.to_string())).await.0, 401);
    let bad = json!({"url": "ftp://shop.test/"});
    assert_eq!(a.call(reqwest::Method::POST, "/page-views", Some(&token), Some(&bad.to_string())).await.0, 400);

    // Sockets on both replicas, as two open tabs would be.
    let mut socket_a = a.socket(&token).await?;
    let mut socket_b = b.socket(&token).await?;

    // The widget resends with the same key to both replicas at once: stored once.
    let message = json!({"client_message_id": "m-1", "text": "Do you ship to Lyon?",
        "page": {"url": "http://shop.test/shoes", "title": "Shoes", "referrer": "http://shop.test/pricing"}});
    let ((s1, first), (s2, second)) = tokio::join!(a.post(&token, message.clone()), b.post(&token, message.clone()));
    let mut statuses = [s1, s2];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{first} {second}");
    assert_eq!(first["message"]["id"], second["message"]["id"]);
    wait_until_settled(&fleet).await?;

    let conversation = conversation_with(&client, &fleet, &tenant.token, &visitor).await?;
    assert_eq!(conversation["channel"], "webchat");
    assert_eq!(conversation["contact"]["display_name"], "Ana");
    let id = conversation["id"].as_str().unwrap().to_owned();
    let (_, page) = get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token).await?;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "stored once: {page}");
    assert_eq!(items[0]["content"]["text"], "Do you ship to Lyon?");

    // What the inbox sees about the visitor.
    let (status, detail) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &tenant.token).await?;
    assert_eq!(status, 200);
    let v = &detail["visitor"];
    assert_eq!(v["browser"], "Chrome 131", "{detail}");
    assert_eq!(v["locale"], "fr-FR");
    assert_eq!(v["email"], "ana@example.com");
    assert_eq!(v["current_page"]["url"], "http://shop.test/shoes#reviews");
    assert_eq!(v["current_page"]["title"], "Shoes reviews");
    let pages: Vec<&str> = v["pages"].as_array().unwrap().iter().map(|p| p["url"].as_str().unwrap()).collect();
    assert_eq!(pages, ["http://shop.test/pricing", "http://shop.test/shoes", "http://shop.test/shoes#reviews"]);
    assert_eq!(v["pages"][0]["referrer"], "https://search.test/?q=shoes");
    assert!(v["pages"][0]["at"].is_string());

    // The agent types, then replies: both tabs (both replicas) see it live, and so do the
    // tenant's agents in the inbox.
    let mut inbox_stream = connect_stream(&fleet, &tenant.token).await?;
    let typing_url = format!("{gateway}/v1/conversations/{id}/typing");
    let (status, _) =
        send_json(&client, reqwest::Method::POST, typing_url, &tenant.token, &json!({"typing": true})).await?;
    assert_eq!(status, 202);
    assert_eq!(next_frame(&mut socket_a, "typing").await?["typing"], true);
    assert_eq!(next_frame(&mut socket_b, "typing").await?["typing"], true);
    let seen = next_frame_of_type(&mut inbox_stream, "conversation.typing").await?;
    assert_eq!((&seen["conversation_id"], &seen["typing"]), (&json!(id), &json!(true)));
    let reply = json!({"text": "Yes, in two days.", "idempotency_key": "r-1"});
    let (status, sent) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/conversations/{id}/messages"),
        &tenant.token,
        &reply,
    )
    .await?;
    assert_eq!(status, 201, "{sent}");
    for socket in [&mut socket_a, &mut socket_b] {
        let frame = next_frame(socket, "message").await?;
        assert_eq!(
            (&frame["message"]["sender"], &frame["message"]["text"]),
            (&json!("agent"), &json!("Yes, in two days."))
        );
    }
    // Pushed to a socket: delivered.
    wait_until(Duration::from_secs(15), || {
        let (client, url, token) = (&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token);
        async move {
            let (_, page) = get_json(client, url, token).await.ok()?;
            page["items"].as_array()?.iter().any(|m| m["delivery"]["state"] == "delivered").then_some(())
        }
    })
    .await
    .context("the reply was not marked delivered")?;

    // Read receipts: only the visitor whose chat it is can mark the reply read.
    let reply_id = sent["message"]["id"].as_str().context("reply id")?.to_owned();
    let read = json!({"message_ids": [reply_id]}).to_string();
    let (_, stranger) = b.session(json!({"name": "Eve"})).await;
    let stranger_token = stranger["visitor_token"].as_str().context("stranger token")?;
    let (status, marked) = a.call(reqwest::Method::POST, "/read", Some(stranger_token), Some(&read)).await;
    assert_eq!((status, &marked["read"]), (200, &json!(0)), "not Eve's chat: {marked}");
    let (status, marked) = a.call(reqwest::Method::POST, "/read", Some(&token), Some(&read)).await;
    assert_eq!((status, &marked["read"]), (200, &json!(1)), "{marked}");
    let (status, _) = a.call(reqwest::Method::POST, "/read", Some(&token), Some(r#"{"message_ids": []}"#)).await;
    assert_eq!(status, 400);
    wait_until(Duration::from_secs(15), || {
        let (client, url, token) = (&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token);
        async move {
            let (_, page) = get_json(client, url, token).await.ok()?;
            page["items"].as_array()?.iter().any(|m| m["delivery"]["state"] == "read").then_some(())
        }
    })
    .await
    .context("the reply was not marked read")?;

    // History, from either replica: the visitor's message once, then the reply.
    let (status, history) = b.history(&token).await;
    assert_eq!(status, 200);
    let texts: Vec<(&str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["sender"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(texts, [("visitor", "Do you ship to Lyon?"), ("agent", "Yes, in two days.")]);

    // A replica told to stop closes its visitor sockets (their widgets reconnect elsewhere)
    // and exits cleanly.
    let status = fleet.terminate("channel-ingest").await?;
    assert!(status.success(), "{status}");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket_a.next().await {
                None | Some(Err(_) | Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .context("the stopping replica kept the visitor's socket open")?;
    assert_eq!(b.history(&token).await.0, 200, "the other replica still serves the visitor");
    Ok(())
}

#[tokio::test]
async fn the_visitor_api_checks_origins_tokens_input_and_rates() -> anyhow::Result<()> {
    let fleet = Fleet::start_with(&[
        ("channel-ingest", "INBOX__WEBCHAT__VISITOR_MESSAGES_PER_MINUTE", "5".into()),
        ("channel-ingest", "INBOX__WEBCHAT__ADDRESS_REQUESTS_PER_MINUTE", "40".into()),
        // The test speaks as a proxy on loopback reporting each visitor's address.
        ("channel-ingest", "INBOX__WEBCHAT__TRUSTED_PROXIES", "127.0.0.0/8, ::1".into()),
    ])
    .await?;
    let acme = set_up_tenant(&fleet, "acme", "106540352242922")?;
    let globex = set_up_tenant(&fleet, "globex", "106540352242923")?;
    let key = add_webchat_widget(&fleet, &acme.id, &[SHOP_ORIGIN])?;
    let other_key = add_webchat_widget(&fleet, &globex.id, &["https://globex.test"])?;
    let base = fleet.http_url("channel-ingest");
    let client = reqwest::Client::new();
    let w = |origin: &str, address: &str| Widget {
        client: client.clone(),
        base: base.clone(),
        key: key.clone(),
        origin: origin.to_owned(),
        address: Some(address.to_owned()),
    };
    let shop = w(SHOP_ORIGIN, "203.0.113.1");

    // The script itself.
    let script = client.get(format!("{base}/webchat/widget.js")).send().await?;
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers()["cache-control"], "public, max-age=300");
    let etag = script.headers()["etag"].to_str()?.to_owned();
    assert!(script.text().await?.contains("data-widget-key"));
    let again = client.get(format!("{base}/webchat/widget.js")).header("If-None-Match", &etag).send().await?;
    assert_eq!(again.status(), 304);

    // Origins: only the widget's own; CORS headers only for them, preflights included.
    let (status, _) = w("https://evil.test", "203.0.113.2").session(json!({})).await;
    assert_eq!(status, 403);
    let no_origin =
        client.post(shop.url("/sessions")).header("X-Forwarded-For", "203.0.113.2").body("{}").send().await?;
    assert_eq!(no_origin.status(), 403);
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, shop.url("/messages"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .header("X-Forwarded-For", "203.0.113.2")
            .send()
    };
    let allowed = preflight(SHOP_ORIGIN).await?;
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], SHOP_ORIGIN);
    let refused = preflight("https://evil.test").await?;
    assert_eq!(refused.status(), 403);
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let unknown = Widget { key: "wk_unknown".into(), ..w(SHOP_ORIGIN, "203.0.113.2") };
    assert_eq!(unknown.session(json!({})).await.0, 404);

    // Two visitors: each token opens only its own chat.
    let (status, ana) = shop.session(json!({"name": "Ana"})).await;
    assert_eq!(status, 201);
    let (_, bob) = shop.session(json!({"name": "Bob"})).await;
    let (ana_token, bob_token) = (ana["visitor_token"].as_str().unwrap(), bob["visitor_token"].as_str().unwrap());
    assert_ne!(ana["visitor_id"], bob["visitor_id"]);
    assert_eq!(shop.post(ana_token, json!({"client_message_id": "a-1", "text": "Ana's secret"})).await.0, 201);
    assert_eq!(shop.post(bob_token, json!({"client_message_id": "b-1", "text": "Bob's question"})).await.0, 201);
    // An anonymous visitor is told apart in the inbox; a name given later does not erase
    // itself with an empty one.
    let (_, anonymous) = shop.session(json!({})).await;
    let anonymous_token = anonymous["visitor_token"].as_str().unwrap();
    assert_eq!(shop.post(anonymous_token, json!({"client_message_id": "n-1", "text": "Anyone?"})).await.0, 201);
    wait_until_settled(&fleet).await?;
    let visitor_id = anonymous["visitor_id"].as_str().unwrap();
    let conversation = conversation_with(&client, &fleet, &acme.token, visitor_id).await?;
    assert_eq!(conversation["contact"]["display_name"], format!("Visitor {}", &visitor_id.replace('-', "")[24..]));
    let (_, ana_again) = shop.session(json!({"visitor_token": ana_token, "name": "", "email": ""})).await;
    assert_eq!(ana_again["name"], "Ana");

    // Valid messages are archived raw before they are processed.
    let ingest_db = sqlx::PgPool::connect(fleet.database_url("channel-ingest").unwrap()).await?;
    let archived = || async {
        let bodies: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT body FROM raw_payloads WHERE channel = 'webchat' ORDER BY received_at")
                .fetch_all(&ingest_db)
                .await
                .unwrap();
        bodies.into_iter().map(|b| serde_json::from_slice::<Value>(&b).unwrap()).collect::<Vec<_>>()
    };
    let raw = archived().await;
    assert_eq!(raw.len(), 3);
    assert_eq!(raw[0]["text"], "Ana's secret");
    let (_, bob_history) = shop.history(bob_token).await;
    let texts: Vec<&str> =
        bob_history["items"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Bob's question"], "Bob sees only his chat");
    assert_eq!(shop.history("wv_forged").await.0, 401);
    assert_eq!(shop.call(reqwest::Method::GET, "/messages", None, None).await.0, 401);
    // A token never crosses widgets (nor tenants), even from an origin the other widget allows.
    let globex_widget = Widget { key: other_key, ..w("https://globex.test", "203.0.113.3") };
    assert_eq!(globex_widget.history(ana_token).await.0, 401);
    assert_eq!(globex_widget.post(ana_token, json!({"client_message_id": "x", "text": "hi"})).await.0, 401);
    let (status, fresh) = globex_widget.session(json!({"visitor_token": ana_token})).await;
    assert_eq!(status, 201, "a foreign token starts a new visitor");
    assert_ne!(fresh["visitor_id"], ana["visitor_id"]);
    assert!(shop.socket("wv_forged").await.is_err(), "a socket needs a valid token");
    assert!(shop.socket(ana_token).await.is_ok());
    // The socket URL carries a single-use ticket, never the token; a ticket is the widget's own.
    assert!(shop.socket_with_ticket(ana_token).await.is_err(), "the token itself is no ticket");
    let ticket = shop.ticket(ana_token).await?;
    assert!(globex_widget.socket_with_ticket(&ticket).await.is_err(), "another widget's ticket");
    let ticket = shop.ticket(ana_token).await?;
    assert!(shop.socket_with_ticket(&ticket).await.is_ok());
    assert!(shop.socket_with_ticket(&ticket).await.is_err(), "a ticket opens one socket");
    let evil = w("https://evil.test", "203.0.113.4");
    assert!(evil.socket(ana_token).await.is_err(), "a socket needs an allowed origin");

    // Bad input: 400, nothing written.
    for body in [
        "not json",
        r#"{"client_message_id": "a-2", "text": "   "}"#,
        r#"{"client_message_id": "has space", "text": "hi"}"#,
        r#"{"client_message_id": "a-3", "text": "hi", "page": {"url": "javascript:alert(1)"}}"#,
        r#"{"client_message_id": "a-4", "text": "hi", "unknown": 1}"#,
    ] {
        let (status, error) = shop.call(reqwest::Method::POST, "/messages", Some(ana_token), Some(body)).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"]["code"], "invalid_argument");
    }
    assert_eq!(shop.session(json!({"email": "not-an-email"})).await.0, 400);
    let (_, ana_history) = shop.history(ana_token).await;
    assert_eq!(ana_history["items"].as_array().unwrap().len(), 1, "nothing written by bad input");
    assert_eq!(archived().await.len(), 3, "nothing archived for bad input");
    let big = "x".repeat(40 * 1024);
    assert_eq!(shop.post(ana_token, json!({"client_message_id": "big", "text": big})).await.0, 413);

    fresh_window().await?;
    // Per visitor: 5 messages a minute (Bob sent one already). Within two windows, at most 10
    // of 12 get through.
    let mut limited = 0;
    for i in 0..12 {
        let (status, body) =
            shop.post(bob_token, json!({"client_message_id": format!("r-{i}"), "text": "again"})).await;
        assert!(matches!(status, 201 | 429), "{status}");
        if status == 429 {
            assert_eq!(body["error"]["code"], "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 2, "the per-visitor limit answered 429 {limited} times");
    assert_eq!(archived().await.len(), 3 + 12 - limited, "nothing archived when limited");
    // Per client address: 40 requests a minute, whatever the visitor.
    fresh_window().await?;
    let flood = w(SHOP_ORIGIN, "198.51.100.7");
    let mut statuses = Vec::new();
    for _ in 0..60 {
        let (status, body) = flood.call(reqwest::Method::GET, "", None, None).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert!(statuses.iter().all(|s| matches!(s, 200 | 429)), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 20, "one window: {statuses:?}");
    // Another address is not limited by that one.
    assert_eq!(w(SHOP_ORIGIN, "198.51.100.8").call(reqwest::Method::GET, "", None, None).await.0, 200);
    Ok(())
}

/// The state a crash between storing a visitor's message and publishing it leaves behind: the
/// payload archived, unpublished, the message in the visitor's history, and nothing in the inbox.
/// `inboxctl webchat replay --only-unpublished` brings it in, once however often it runs.
#[tokio::test]
async fn a_visitor_message_stored_but_never_published_is_replayed_once() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "acme", "106540352242922")?;
    let key = add_webchat_widget(&fleet, &tenant.id, &[SHOP_ORIGIN])?;
    let a = widget(fleet.http_url("channel-ingest"), &key);
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let (status, session) =
        a.session(json!({"name": "Ana", "page": {"url": "http://shop.test/", "title": "Shop"}})).await;
    assert_eq!(status, 201, "{session}");
    let token = session["visitor_token"].as_str().unwrap().to_owned();
    let visitor: uuid::Uuid = session["visitor_id"].as_str().unwrap().parse()?;
    assert_eq!(a.post(&token, json!({"client_message_id": "m-1", "text": "Hello?"})).await.0, 201);
    wait_until_settled(&fleet).await?;

    let ingest = sqlx::PgPool::connect(fleet.database_url("channel-ingest").unwrap()).await?;
    let (account_id, tenant_id): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT account_id, tenant_id FROM webchat_visitors WHERE id = $1")
            .bind(visitor)
            .fetch_one(&ingest)
            .await?;
    let body = json!({"client_message_id": "m-2", "text": "Are you still there?",
        "page": {"url": "http://shop.test/cart", "title": "Cart"}});
    sqlx::query(
        "INSERT INTO raw_payloads (id, tenant_id, account_id, channel, body, received_at) \
         VALUES ($1, $2, $3, 'webchat', $4, $5)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(tenant_id)
    .bind(account_id)
    .bind(body.to_string().into_bytes())
    // The service's clock, as the service would have stamped it (not PostgreSQL's now()).
    .bind(chrono::Utc::now())
    .execute(&ingest)
    .await?;
    sqlx::query(
        "INSERT INTO webchat_messages (id, tenant_id, visitor_id, sender, client_message_id, body, sent_at) \
         VALUES ($1, $2, $3, 'visitor', 'm-2', 'Are you still there?', $4)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(tenant_id)
    .bind(visitor)
    .bind(chrono::Utc::now())
    .execute(&ingest)
    .await?;

    let texts = || async {
        let conversation = conversation_with(&client, &fleet, &tenant.token, &visitor.to_string()).await?;
        let id = conversation["id"].as_str().context("conversation id")?.to_owned();
        let (_, page) = get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token).await?;
        let items = page["items"].as_array().context("messages")?.clone();
        anyhow::Ok(
            items.iter().map(|m| m["content"]["text"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(texts().await?, ["Hello?"]);

    let replayed = inboxctl(&fleet, &["webchat", "replay", "--tenant", &tenant.id, "--only-unpublished"])?;
    assert_eq!((replayed["payloads"].as_u64(), replayed["messages"].as_u64()), (Some(1), Some(1)), "{replayed}");
    wait_until_settled(&fleet).await?;
    assert_eq!(texts().await?, ["Hello?", "Are you still there?"]);

    // Everything again, by time: published again, stored once.
    let since = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let again = inboxctl(&fleet, &["webchat", "replay", "--tenant", &tenant.id, "--since", &since])?;
    assert_eq!(again["messages"].as_u64(), Some(2), "{again}");
    wait_until_settled(&fleet).await?;
    assert_eq!(texts().await?, ["Hello?", "Are you still there?"]);
    Ok(())
}

/// Admins change a widget's allowed origins and look, and delete it; the key stays the same
/// until it stops answering. Another tenant cannot touch it.
#[tokio::test]
async fn an_admin_updates_a_widgets_origins_and_deletes_it() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "acme", "106540352242922")?;
    let globex = set_up_tenant(&fleet, "globex", "106540352242923")?;
    let key = add_webchat_widget(&fleet, &tenant.id, &[SHOP_ORIGIN])?;
    let listed = inboxctl(&fleet, &["webchat", "list", "--tenant", &tenant.id])?;
    let id = listed["items"][0]["id"].as_str().context("widget id")?.to_owned();
    let shop = widget(fleet.http_url("channel-ingest"), &key);
    let new_site = Widget { origin: "https://new.example".into(), ..widget(fleet.http_url("channel-ingest"), &key) };
    assert_eq!(shop.call(reqwest::Method::GET, "", None, None).await.0, 200);
    assert_eq!(new_site.call(reqwest::Method::GET, "", None, None).await.0, 403);

    let update = |tenant: &str| {
        let args = ["webchat", "update", "--tenant", tenant, "--widget", &id, "--name", "Acme Support"];
        inboxctl(&fleet, &[&args[..], &["--allowed-origin", "https://new.example", "--color", "#112233"]].concat())
    };
    assert!(update(&globex.id).is_err_and(|e| e.to_string().contains("no such widget")), "another tenant's");
    let updated = update(&tenant.id)?;
    assert_eq!((updated["widget_key"].as_str(), updated["name"].as_str()), (Some(key.as_str()), Some("Acme Support")));
    let (status, config) = new_site.call(reqwest::Method::GET, "", None, None).await;
    assert_eq!((status, config["color"].as_str()), (200, Some("#112233")), "{config}");
    assert_eq!(shop.call(reqwest::Method::GET, "", None, None).await.0, 403, "the old origin is no longer allowed");

    let deleted = inboxctl(&fleet, &["webchat", "delete", "--tenant", &tenant.id, "--widget", &id])?;
    assert_eq!(deleted["deleted"]["widget_key"], key.as_str());
    assert_eq!(new_site.call(reqwest::Method::GET, "", None, None).await.0, 404);
    let listed = inboxctl(&fleet, &["webchat", "list", "--tenant", &tenant.id])?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    assert!(inboxctl(&fleet, &["webchat", "delete", "--tenant", &tenant.id, "--widget", &id]).is_err(), "once");
    Ok(())
}
