//! The widget in a real headless Chromium: a small website (an allowed origin) embeds the
//! script tag; the visitor opens the bubble, gives a name and email and writes; the inbox
//! sees the message with visitor information and page context; an agent types and replies
//! and the widget shows both live; after a reload the same visitor sees the history.
//! Fails (never skips) when Chromium or chromedriver is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use inbox_e2e::Fleet;
use inbox_e2e::support::{
    add_webchat_widget, conversation_with, get_json, send_json, set_up_tenant, wait_until_settled,
};
use inbox_e2e::webdriver::Browser;
use inbox_testkit::wait_until;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone)]
struct Site {
    script_src: String,
    widget_key: String,
}

/// The shop's pages: each embeds the widget with one script tag.
async fn page(State(site): State<Site>, Path(name): Path<String>) -> Html<String> {
    let title = if name == "shoes" { "Running shoes" } else { "Pricing" };
    Html(format!(
        r#"<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><a id="to-shoes" href="/shoes">Shoes</a>
<script src="{}" data-widget-key="{}" async></script></body></html>"#,
        site.script_src, site.widget_key
    ))
}

#[tokio::test]
async fn a_visitor_chats_from_a_website_in_a_real_browser() -> anyhow::Result<()> {
    let browser = Browser::start().await?;
    let fleet = Fleet::start().await?;
    let tenant = set_up_tenant(&fleet, "acme", "106540352242922")?;

    // The shop, on its own origin (another port than channel-ingest: CORS applies for real).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let shop = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let widget_key = add_webchat_widget(&fleet, &tenant.id, &[&shop])?;
    let site = Site { script_src: format!("{}/webchat/widget.js", fleet.http_url("channel-ingest")), widget_key };
    let app = axum::Router::new().route("/{name}", get(page)).with_state(site);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The visitor reads the pricing, follows the link to the shoes, opens the chat and writes.
    browser.goto(&format!("{shop}/pricing")).await?;
    browser
        .wait_for(
            "the widget ready on the pricing page",
            WAIT,
            "return document.querySelector('#inbox-webchat[data-ready]') !== null",
        )
        .await?;
    browser.click("#to-shoes").await?;
    browser.wait_for("the shoes page", WAIT, "return document.title === 'Running shoes' && document.querySelector('#inbox-webchat[data-ready]') !== null").await?;
    let visitor =
        browser.script("return document.getElementById('inbox-webchat').getAttribute('data-visitor-id')").await?;
    let visitor = visitor.as_str().expect("visitor id").to_owned();
    browser.click("#inbox-webchat-bubble").await?;
    browser
        .wait_for(
            "the open panel",
            WAIT,
            "return getComputedStyle(document.getElementById('inbox-webchat-panel')).display === 'flex'",
        )
        .await?;
    browser.wait_for("the greeting", WAIT, "return document.querySelector('.inbox-webchat-msg[data-sender=greeting]')?.textContent === 'Hi! How can we help?'").await?;
    browser.type_into("#inbox-webchat-name", "Ana").await?;
    browser.type_into("#inbox-webchat-email", "ana@example.com").await?;
    browser.type_into("#inbox-webchat-input", "Do you ship to Lyon?").await?;
    browser.click("#inbox-webchat-send").await?;
    browser
        .wait_for(
            "the message as sent",
            WAIT,
            "const m = document.querySelector('.inbox-webchat-msg[data-sender=visitor]'); \
             return m && !m.hasAttribute('data-state') && m.getAttribute('data-id').length === 36",
        )
        .await?;

    // The inbox: the message, the visitor, the page they wrote from and where they came from.
    wait_until_settled(&fleet).await?;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let conversation = conversation_with(&client, &fleet, &tenant.token, &visitor).await?;
    let id = conversation["id"].as_str().unwrap().to_owned();
    assert_eq!(conversation["contact"]["display_name"], "Ana");
    let (_, messages) = get_json(&client, format!("{gateway}/v1/conversations/{id}/messages"), &tenant.token).await?;
    assert_eq!(messages["items"][0]["content"]["text"], "Do you ship to Lyon?");
    let (_, detail) = get_json(&client, format!("{gateway}/v1/conversations/{id}"), &tenant.token).await?;
    let v = &detail["visitor"];
    assert!(v["browser"].as_str().unwrap().contains("Chrome"), "{v}");
    assert!(v["user_agent"].as_str().unwrap().contains("Chrome/"), "{v}");
    assert!(v["locale"].as_str().unwrap().starts_with("fr"), "{v}");
    assert_eq!(v["name"], "Ana");
    assert_eq!(v["email"], "ana@example.com");
    assert_eq!(v["current_page"]["url"], format!("{shop}/shoes"));
    assert_eq!(v["current_page"]["title"], "Running shoes");
    let pages: Vec<String> =
        v["pages"].as_array().unwrap().iter().map(|p| p["url"].as_str().unwrap().to_owned()).collect();
    assert_eq!(pages.first(), Some(&format!("{shop}/pricing")), "{v}");
    assert_eq!(pages.last(), Some(&format!("{shop}/shoes")), "{v}");
    assert_eq!(v["pages"].as_array().unwrap().last().unwrap()["referrer"], format!("{shop}/pricing"));

    // A single-page navigation is a page view too.
    browser.script("document.title = 'Checkout'; history.pushState({}, '', '/checkout'); return true").await?;
    let checkout = format!("{shop}/checkout");
    let url = format!("{gateway}/v1/conversations/{id}");
    let seen = inbox_testkit::wait_until(WAIT, || async {
        let (_, detail) = get_json(&client, url.clone(), &tenant.token).await.ok()?;
        (detail["visitor"]["current_page"]["url"] == checkout.as_str()).then_some(detail)
    })
    .await
    .expect("the single-page navigation reached the inbox");
    assert_eq!(seen["visitor"]["current_page"]["title"], "Checkout");
    assert_eq!(seen["visitor"]["current_page"]["referrer"], format!("{shop}/shoes"));

    // The agent types, then answers: the widget shows both, live.
    let (status, _) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/conversations/{id}/typing"),
        &tenant.token,
        &json!({"typing": true}),
    )
    .await?;
    assert_eq!(status, 202);
    browser
        .wait_for(
            "the typing indicator",
            WAIT,
            "return getComputedStyle(document.getElementById('inbox-webchat-typing')).display === 'block'",
        )
        .await?;
    // The read receipt of the coming reply is cut, as a reload or a navigation right after a
    // reply appeared cuts it: the widget must send it again on the next page.
    browser
        .script(
            "const send = window.fetch; window.fetch = function (url) { \
               return String(url).endsWith('/read') ? new Promise(function () {}) : send.apply(this, arguments); \
             }; return true",
        )
        .await?;
    let reply = json!({"text": "Yes, in two days.", "idempotency_key": "r-1"});
    let (status, _) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/conversations/{id}/messages"),
        &tenant.token,
        &reply,
    )
    .await?;
    assert_eq!(status, 201);
    browser.wait_for("the agent's reply", WAIT, "return document.querySelector('.inbox-webchat-msg[data-sender=agent]')?.textContent === 'Yes, in two days.'").await?;
    browser
        .wait_for(
            "the typing indicator gone",
            WAIT,
            "return getComputedStyle(document.getElementById('inbox-webchat-typing')).display === 'none'",
        )
        .await?;

    // A reload: the same visitor, the history back.
    browser.refresh().await?;
    browser
        .wait_for(
            "the history after a reload",
            WAIT,
            "return document.querySelector('#inbox-webchat[data-history-loaded]') !== null",
        )
        .await?;
    let after =
        browser.script("return document.getElementById('inbox-webchat').getAttribute('data-visitor-id')").await?;
    assert_eq!(after.as_str(), Some(visitor.as_str()), "the same visitor after a reload");
    let texts = browser
        .script("return Array.from(document.querySelectorAll('.inbox-webchat-msg[data-sender=visitor], .inbox-webchat-msg[data-sender=agent]')).map(m => m.textContent)")
        .await?;
    assert_eq!(texts, json!(["Do you ship to Lyon?", "Yes, in two days."]));

    // The panel is closed after the reload: a new reply puts a dot on the bubble until opened.
    let reply = json!({"text": "Anything else?", "idempotency_key": "r-2"});
    let url = format!("{gateway}/v1/conversations/{id}/messages");
    assert_eq!(send_json(&client, reqwest::Method::POST, url, &tenant.token, &reply).await?.0, 201);
    browser
        .wait_for(
            "the unread dot",
            WAIT,
            "return document.getElementById('inbox-webchat').classList.contains('unread') && \
             Array.from(document.querySelectorAll('.inbox-webchat-msg[data-sender=agent]')).some(m => m.textContent === 'Anything else?')",
        )
        .await?;
    // Read receipts: the reply that came while the panel was open is read, the one that came
    // while it was closed only delivered, until the visitor opens the panel.
    let delivery_of = |text: &'static str| {
        let (client, url, token) =
            (client.clone(), format!("{gateway}/v1/conversations/{id}/messages"), tenant.token.clone());
        async move {
            let (_, page) = get_json(&client, url, &token).await.ok()?;
            let message = page["items"].as_array()?.iter().find(|m| m["content"]["text"] == text)?.clone();
            message["delivery"]["state"].as_str().map(str::to_owned)
        }
    };
    let read = wait_until(WAIT, || async { (delivery_of("Yes, in two days.").await? == "read").then_some(()) }).await;
    assert!(read.is_some(), "the reply seen in the open panel was not marked read");
    let delivered = wait_until(WAIT, || async { (delivery_of("Anything else?").await? == "delivered").then_some(()) });
    assert!(delivered.await.is_some(), "the reply to the closed panel should be delivered, not read");
    browser.click("#inbox-webchat-bubble").await?;
    browser
        .wait_for("the dot gone", WAIT, "return !document.getElementById('inbox-webchat').classList.contains('unread')")
        .await?;
    let read = wait_until(WAIT, || async { (delivery_of("Anything else?").await? == "read").then_some(()) }).await;
    assert!(read.is_some(), "opening the panel did not mark the reply read");
    Ok(())
}
