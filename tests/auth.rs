//! Signing in, end to end through the built binaries, as the web app and machines do it: a
//! person signs in with a password set by inboxctl, refreshes with the HttpOnly cookie and the
//! CSRF header (the refresh token rotates; one used twice revokes the session), signs out; an
//! admin revokes every session or disables the person, and their open live socket closes at
//! once; failed sign-ins are limited with `Retry-After`, an unknown email answered like a
//! wrong password; API keys are created, used, seen used, kept within their scope and revoked;
//! operator-minted tokens keep working for automation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use inbox_e2e::support::{Socket, connect_stream, get_json, inboxctl, send_json};
use inbox_e2e::{Fleet, OPERATOR_TOKEN, bin_dir};
use inbox_testkit::wait_until;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "correct horse battery staple";

/// A fleet whose gateway hashes passwords cheaply (the debug build's argon2 is slow; the
/// rules do not depend on the cost).
async fn fleet() -> Fleet {
    let cheap = [("INBOX__GATEWAY__PASSWORD_MEMORY_KIB", "256"), ("INBOX__GATEWAY__PASSWORD_ITERATIONS", "1")];
    Fleet::start_with(&cheap.map(|(k, v)| ("gateway", k, v.to_owned()))).await.unwrap()
}

struct Person {
    tenant: String,
    id: String,
    email: String,
    /// A token the operator minted when creating them.
    minted: String,
}

/// A tenant `slug` with a person of `role` whose password is [`PASSWORD`], set through
/// `inboxctl user set-password --password-stdin`.
fn person(fleet: &Fleet, slug: &str, email: &str, role: &str) -> Person {
    let tenant = inboxctl(fleet, &["tenant", "create", "--slug", slug, "--name", "Acme"]).unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let created =
        inboxctl(fleet, &["agent", "create", "--tenant", &tenant, "--email", email, "--name", "Sarah", "--role", role])
            .unwrap();
    let id = created["user"]["id"].as_str().unwrap().to_owned();
    let mut child = std::process::Command::new(bin_dir().unwrap().join("inboxctl"))
        .args(["user", "set-password", "--tenant", &tenant, "--user", &id, "--password-stdin", "--json"])
        .env("INBOX_GATEWAY_URL", fleet.http_url("gateway"))
        .env("INBOX_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "set-password: {}", String::from_utf8_lossy(&output.stdout));
    Person { tenant, id, email: email.to_owned(), minted: created["token"].as_str().unwrap().to_owned() }
}

/// The browser's side of a sign-in: the access token, and the cookies the gateway set.
#[derive(Debug, Clone)]
struct Browser {
    access_token: String,
    refresh: String,
    csrf: String,
}

/// `name=value` of each `Set-Cookie`, with its attributes.
fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| c.split(';').next()?.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

async fn sign_in(client: &reqwest::Client, fleet: &Fleet, email: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{}/v1/auth/sign-in", fleet.http_url("gateway")))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn signed_in(client: &reqwest::Client, fleet: &Fleet, email: &str) -> Browser {
    let response = sign_in(client, fleet, email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let body: Value = response.json().await.unwrap();
    Browser {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh: cookie_value(&cookies, "inbox_refresh").unwrap(),
        csrf: cookie_value(&cookies, "inbox_csrf").unwrap(),
    }
}

/// `POST /v1/auth/refresh` as the web app sends it: the cookies and the CSRF header.
async fn refresh_with_cookie(
    client: &reqwest::Client,
    fleet: &Fleet,
    refresh: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{}/v1/auth/refresh", fleet.http_url("gateway")))
        .header("Cookie", format!("inbox_refresh={refresh}; inbox_csrf=the-csrf"));
    if let Some(csrf) = csrf {
        request = request.header("X-CSRF-Token", csrf);
    }
    request.send().await.unwrap()
}

/// Waits until the gateway closes `socket` (a close frame, with its code, or the end of the
/// stream); fails after `within`.
async fn closed_within(socket: &mut Socket, within: Duration) -> anyhow::Result<Option<u16>> {
    tokio::time::timeout(within, async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) => return Ok(None),
                Some(Ok(Message::Close(frame))) => return Ok(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .context("the socket stayed open")?
}

#[tokio::test]
async fn a_person_signs_in_refreshes_with_the_cookie_and_signs_out() {
    let fleet = fleet().await;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let sarah = person(&fleet, "acme", "sarah@acme.test", "agent");

    let response = sign_in(&client, &fleet, "Sarah@Acme.test", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let refresh_cookie = cookies.iter().find(|c| c.starts_with("inbox_refresh=")).unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/auth"] {
        assert!(refresh_cookie.contains(attribute), "{refresh_cookie}");
    }
    let csrf_cookie = cookies.iter().find(|c| c.starts_with("inbox_csrf=")).unwrap();
    assert!(csrf_cookie.contains("Path=/;") && !csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        body["user"],
        json!({"id": sarah.id, "tenant_id": sarah.tenant, "email": "sarah@acme.test", "name": "Sarah", "role": "agent"})
    );
    assert!(body.get("refresh_token").is_none(), "a browser never sees the refresh token");
    let first = Browser {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh: cookie_value(&cookies, "inbox_refresh").unwrap(),
        csrf: cookie_value(&cookies, "inbox_csrf").unwrap(),
    };
    let (status, me) = get_json(&client, format!("{gateway}/v1/me"), &first.access_token).await.unwrap();
    assert_eq!((status, me["kind"].as_str(), me["id"].as_str()), (200, Some("user"), Some(sarah.id.as_str())));

    // The cookie alone is not enough: the page proves itself with the CSRF header.
    let response = refresh_with_cookie(&client, &fleet, &first.refresh, None).await;
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "permission_denied");
    let response = refresh_with_cookie(&client, &fleet, &first.refresh, Some("the-csrf")).await;
    assert_eq!(response.status(), 200);
    let rotated = cookie_value(&set_cookies(&response), "inbox_refresh").unwrap();
    assert_ne!(rotated, first.refresh);
    let second: Value = response.json().await.unwrap();
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &second_token).await.unwrap().0, 200);

    // A client without cookies refreshes with the body and gets the successor in the body.
    let (status, third) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/auth/refresh"),
        "",
        &json!({"refresh_token": rotated}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{third}");
    let third_refresh = third["refresh_token"].as_str().unwrap().to_owned();
    assert!(third_refresh.starts_with("rt_"));

    // The first refresh token again: theft. The whole session goes, the newest tokens too.
    let response = refresh_with_cookie(&client, &fleet, &first.refresh, Some("the-csrf")).await;
    assert_eq!(response.status(), 401);
    assert!(set_cookies(&response).iter().all(|c| c.contains("Max-Age=0")), "the cookies are cleared");
    let third_token = third["access_token"].as_str().unwrap();
    let (status, error) = get_json(&client, format!("{gateway}/v1/me"), third_token).await.unwrap();
    assert_eq!((status, error["error"]["code"].as_str()), (401, Some("unauthenticated")));
    let (status, _) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/auth/refresh"),
        "",
        &json!({"refresh_token": third_refresh}),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);

    // Signing out ends the session at once: its socket closes, its token is refused.
    let browser = signed_in(&client, &fleet, &sarah.email).await;
    let mut socket = connect_stream(&fleet, &browser.access_token).await.unwrap();
    let response = client
        .post(format!("{gateway}/v1/auth/sign-out"))
        .bearer_auth(&browser.access_token)
        .header("Cookie", format!("inbox_refresh={}; inbox_csrf={}", browser.refresh, browser.csrf))
        .header("X-CSRF-Token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(set_cookies(&response).iter().filter(|c| c.contains("Max-Age=0")).count(), 2);
    closed_within(&mut socket, Duration::from_secs(3)).await.unwrap();
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &browser.access_token).await.unwrap().0, 401);
    let response = refresh_with_cookie(&client, &fleet, &browser.refresh, Some("the-csrf")).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn revoking_every_session_or_disabling_a_person_closes_their_sockets_at_once() {
    let fleet = fleet().await;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let sarah = person(&fleet, "acme", "sarah@acme.test", "agent");

    // An operator-minted token works beside a signed-in session, and names who minted it.
    let minted = inboxctl(&fleet, &["token", "create", "--tenant", &sarah.tenant, "--user", &sarah.id]).unwrap();
    let minted = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &minted).await.unwrap().0, 200);
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &sarah.minted).await.unwrap().0, 200);

    let browser = signed_in(&client, &fleet, &sarah.email).await;
    let mut socket = connect_stream(&fleet, &browser.access_token).await.unwrap();
    let revoked =
        inboxctl(&fleet, &["user", "revoke-sessions", "--tenant", &sarah.tenant, "--user", &sarah.id]).unwrap();
    assert_eq!(revoked["revoked_sessions"], 3, "the sign-in and both minted tokens");
    closed_within(&mut socket, Duration::from_secs(3)).await.unwrap();
    for token in [&browser.access_token, &minted, &sarah.minted] {
        let (status, error) = get_json(&client, format!("{gateway}/v1/me"), token).await.unwrap();
        assert_eq!((status, error["error"]["code"].as_str()), (401, Some("unauthenticated")));
    }

    // Tokens minted after the revoke work; disabling refuses them and closes their sockets.
    let automation = inboxctl(&fleet, &["token", "create", "--tenant", &sarah.tenant, "--user", &sarah.id]).unwrap();
    let automation = automation["token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &automation).await.unwrap().0, 200);
    let browser = signed_in(&client, &fleet, &sarah.email).await;
    let mut minted_socket = connect_stream(&fleet, &automation).await.unwrap();
    let mut signed_in_socket = connect_stream(&fleet, &browser.access_token).await.unwrap();
    let disabled = inboxctl(&fleet, &["user", "disable", "--tenant", &sarah.tenant, "--user", &sarah.id]).unwrap();
    assert_eq!(disabled["disabled"], true);
    closed_within(&mut minted_socket, Duration::from_secs(3)).await.unwrap();
    closed_within(&mut signed_in_socket, Duration::from_secs(3)).await.unwrap();
    let (status, error) = get_json(&client, format!("{gateway}/v1/me"), &automation).await.unwrap();
    assert_eq!((status, error["error"]["message"].as_str()), (401, Some("this account is disabled")));
    let response = sign_in(&client, &fleet, &sarah.email, PASSWORD).await;
    assert_eq!(response.status(), 403);
    let refused = inboxctl(&fleet, &["token", "create", "--tenant", &sarah.tenant, "--user", &sarah.id]);
    assert!(refused.is_err(), "no token is minted for a disabled person");

    // Enabled again: a fresh sign-in works; what was issued before stays void.
    inboxctl(&fleet, &["user", "enable", "--tenant", &sarah.tenant, "--user", &sarah.id]).unwrap();
    let again = signed_in(&client, &fleet, &sarah.email).await;
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &again.access_token).await.unwrap().0, 200);
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &automation).await.unwrap().0, 401);
}

#[tokio::test]
async fn failed_sign_ins_are_limited_and_an_unknown_email_looks_like_a_wrong_password() {
    let fleet = fleet().await;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let sarah = person(&fleet, "acme", "sarah@acme.test", "agent");

    let wrong = sign_in(&client, &fleet, &sarah.email, "not her password").await;
    let wrong = (wrong.status().as_u16(), wrong.json::<Value>().await.unwrap());
    let unknown = sign_in(&client, &fleet, "nobody@acme.test", "not her password").await;
    let unknown = (unknown.status().as_u16(), unknown.json::<Value>().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["error"]["code"], "unauthenticated");

    for _ in 0..4 {
        assert_eq!(sign_in(&client, &fleet, &sarah.email, "still not it").await.status(), 401);
    }
    // The sixth try is refused before the password is looked at, even the right one.
    let limited = sign_in(&client, &fleet, &sarah.email, PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=901).contains(&retry_after), "{retry_after}");
    let error: Value = limited.json().await.unwrap();
    assert_eq!(error["error"]["code"], "rate_limited");
    // Limited the same way whether or not the account exists.
    for _ in 0..4 {
        assert_eq!(sign_in(&client, &fleet, "nobody@acme.test", "x").await.status(), 401);
    }
    assert_eq!(sign_in(&client, &fleet, "nobody@acme.test", "x").await.status(), 429);

    // Bad input changes nothing and says what is wrong.
    // Past the 16 KiB limit, and small enough to fit the socket buffers: the 413 is read, not
    // lost to a connection closed while the client still writes.
    let oversized = client
        .post(format!("{gateway}/v1/auth/sign-in"))
        .json(&json!({"email": "sarah@acme.test", "password": "x".repeat(20 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
    assert_eq!(oversized.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
    let (status, error) =
        send_json(&client, reqwest::Method::POST, format!("{gateway}/v1/auth/sign-in"), "", &json!({"email": "x"}))
            .await
            .unwrap();
    assert_eq!((status, error["error"]["code"].as_str()), (400, Some("invalid_argument")));
    let (status, _) = send_json(
        &client,
        reqwest::Method::PUT,
        format!("{gateway}/v1/admin/tenants/{}/users/{}/password", sarah.tenant, sarah.id),
        OPERATOR_TOKEN,
        &json!({"password": "too short"}),
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
}

#[tokio::test]
async fn api_keys_are_shown_once_used_within_their_scope_seen_used_and_revoked_at_once() {
    let fleet = fleet().await;
    let client = reqwest::Client::new();
    let gateway = fleet.http_url("gateway");
    let admin = person(&fleet, "acme", "ana@acme.test", "admin");
    let other = person(&fleet, "globex", "omar@globex.test", "admin");

    let created = inboxctl(
        &fleet,
        &["api-key", "create", "--tenant", &admin.tenant, "--name", "Reporting", "--scope", "read_only"],
    )
    .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ik_"));
    assert_eq!((created["scope"].as_str(), created["created_by"].as_str()), (Some("read_only"), Some("operator")));

    let (status, me) = get_json(&client, format!("{gateway}/v1/me"), &key).await.unwrap();
    assert_eq!((status, me["kind"].as_str(), me["role"].as_str()), (200, Some("api_key"), Some("supervisor")));
    assert_eq!(get_json(&client, format!("{gateway}/v1/conversations"), &key).await.unwrap().0, 200);
    let (status, error) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/conversations/{}/typing", uuid::Uuid::new_v4()),
        &key,
        &json!({"typing": true}),
    )
    .await
    .unwrap();
    assert_eq!((status, error["error"]["code"].as_str()), (403, Some("permission_denied")));
    let mut socket = connect_stream(&fleet, &key).await.unwrap();

    let listed = wait_until(Duration::from_secs(10), || async {
        let list = inboxctl(&fleet, &["api-key", "list", "--tenant", &admin.tenant]).ok()?;
        let item = list["items"].as_array()?.iter().find(|k| k["id"] == key_id.as_str())?.clone();
        item["last_used_at"].is_string().then_some(item)
    })
    .await
    .expect("the key's last use is recorded");
    assert!(listed.get("key").is_none(), "a listed key never shows its secret");

    // An admin of the tenant manages keys with their signed-in token; another tenant's admin
    // finds nothing there.
    let ana = signed_in(&client, &fleet, &admin.email).await;
    let (status, ai) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/admin/tenants/{}/api-keys", admin.tenant),
        &ana.access_token,
        &json!({"name": "Assistant", "scope": "ai_agent"}),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{ai}");
    assert_eq!(ai["created_by"], format!("user:{}", admin.id));
    let (status, me) = get_json(&client, format!("{gateway}/v1/me"), ai["key"].as_str().unwrap()).await.unwrap();
    assert_eq!((status, me["role"].as_str()), (200, Some("ai")));
    let omar = signed_in(&client, &fleet, &other.email).await;
    let (status, error) =
        get_json(&client, format!("{gateway}/v1/admin/tenants/{}/api-keys", admin.tenant), &omar.access_token)
            .await
            .unwrap();
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = send_json(
        &client,
        reqwest::Method::DELETE,
        format!("{gateway}/v1/admin/tenants/{}/api-keys/{key_id}", other.tenant),
        &omar.access_token,
        &json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status, 404, "another tenant's key is not there to revoke");
    assert_eq!(get_json(&client, format!("{gateway}/v1/me"), &key).await.unwrap().0, 200);
    let (status, _) = send_json(
        &client,
        reqwest::Method::POST,
        format!("{gateway}/v1/admin/tenants/{}/api-keys", admin.tenant),
        ai["key"].as_str().unwrap(),
        &json!({"name": "Escalation", "scope": "integration"}),
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "a key never administers");

    inboxctl(&fleet, &["api-key", "revoke", "--tenant", &admin.tenant, "--key", &key_id]).unwrap();
    closed_within(&mut socket, Duration::from_secs(3)).await.unwrap();
    let (status, error) = get_json(&client, format!("{gateway}/v1/me"), &key).await.unwrap();
    assert_eq!((status, error["error"]["message"].as_str()), (401, Some("this API key was revoked")));
}
