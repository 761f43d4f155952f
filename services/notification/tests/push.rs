//! Browser push against a local push service that speaks RFC 8030 and checks what a real one
//! checks: the VAPID JWT (RFC 8292) is verified with the key the browser subscribed with, and
//! the body is decrypted (RFC 8291, aes128gcm) with the subscription's private key.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, KeyInit};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use common::{Convo, World};
use hkdf::Hkdf;
use inbox_notification::proto as pb;
use inbox_service::{Clock, Role};
use inbox_testkit::wait_until;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// A browser's subscription keys.
struct Browser {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        loop {
            if let Ok(secret) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                return Browser { secret, auth: rand::random() };
            }
        }
    }

    fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    fn auth(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.auth)
    }

    /// RFC 8291 §3.4 and RFC 8188 from the receiving side.
    fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
        let key_length = body[20] as usize;
        let server_public = &body[21..21 + key_length];
        let ciphertext = &body[21 + key_length..];
        if record_size < 18 || ciphertext.len() > record_size as usize {
            return Err("one record expected".into());
        }
        let server = PublicKey::from_sec1_bytes(server_public).map_err(|e| e.to_string())?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), server.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(self.secret.public_key().to_encoded_point(false).as_bytes());
        info.extend_from_slice(server_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes()).expand(&info, &mut ikm).unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut key, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut key).unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
        let plain = Aes128Gcm::new_from_slice(&key)
            .unwrap()
            .decrypt(&nonce.into(), ciphertext)
            .map_err(|_| "the body does not decrypt with the subscription's key".to_owned())?;
        // Strip the padding: zeros, then the last record's delimiter 2.
        let end = plain.iter().rposition(|b| *b != 0).ok_or("no delimiter")?;
        if plain[end] != 2 {
            return Err("not the last record".into());
        }
        Ok(plain[..end].to_vec())
    }
}

#[derive(Default)]
struct PushService {
    browsers: HashMap<String, Browser>,
    /// Expected `k`: the application server key browsers subscribed with.
    vapid_key: String,
    origin: String,
    clock: Option<Clock>,
    received: Mutex<Vec<(String, serde_json::Value)>>,
    refused: Mutex<Vec<String>>,
    busy_once: Mutex<bool>,
}

#[derive(serde::Deserialize)]
struct Claims {
    aud: String,
    exp: i64,
    sub: String,
}

impl PushService {
    /// What a push service checks before it accepts a message.
    fn check(&self, name: &str, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, String> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if header("content-encoding") != "aes128gcm" {
            return Err("content-encoding must be aes128gcm".into());
        }
        header("ttl").parse::<u32>().map_err(|_| "a TTL header is required")?;
        let authorization = header("authorization");
        let (t, k) =
            authorization.strip_prefix("vapid t=").and_then(|r| r.split_once(", k=")).ok_or("vapid authorization")?;
        if k != self.vapid_key {
            return Err("k is not the key the browser subscribed with".into());
        }
        let point = URL_SAFE_NO_PAD.decode(k).map_err(|e| e.to_string())?;
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        let key = jsonwebtoken::DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[&self.origin]);
        validation.validate_exp = false; // checked below against the test's clock
        let claims = jsonwebtoken::decode::<Claims>(t, &key, &validation).map_err(|e| format!("JWT: {e}"))?.claims;
        let now: DateTime<Utc> = self.clock.as_ref().unwrap().now();
        if claims.exp <= now.timestamp() || claims.exp > now.timestamp() + 24 * 3600 {
            return Err("exp must lie within the next 24 hours".into());
        }
        if !claims.sub.starts_with("mailto:") || claims.aud != self.origin {
            return Err("sub and aud".into());
        }
        let browser = self.browsers.get(name).ok_or("no such subscription")?;
        let plain = browser.decrypt(body)?;
        serde_json::from_slice(&plain).map_err(|e| e.to_string())
    }
}

async fn push(
    State(service): State<Arc<PushService>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    if name == "gone" {
        return StatusCode::GONE;
    }
    if name == "busy" {
        let mut busy = service.busy_once.lock().unwrap();
        if !*busy {
            *busy = true;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    match service.check(&name, &headers, &body) {
        Ok(message) => {
            service.received.lock().unwrap().push((name, message));
            StatusCode::CREATED
        }
        Err(reason) => {
            service.refused.lock().unwrap().push(reason);
            StatusCode::BAD_REQUEST
        }
    }
}

#[tokio::test]
async fn push_messages_reach_the_browser_encrypted_and_signed_and_gone_subscriptions_are_dropped() {
    let world = World::start("notification_push").await;
    let ana = world.person("Ana", "agent", "UTC").await;
    let replica = world.replica().await;
    let mut client = replica.client().await;
    let vapid = client.get_vapid_key(world.as_user(ana, Role::Agent, pb::GetVapidKeyRequest {})).await.unwrap();
    let vapid_key = vapid.into_inner().public_key;
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid_key).unwrap().len(), 65, "an uncompressed P-256 point");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let browsers: HashMap<String, Browser> =
        ["laptop", "gone", "busy"].into_iter().map(|n| (n.to_owned(), Browser::new())).collect();
    let subscriptions: Vec<(String, String, String)> =
        browsers.iter().map(|(n, b)| (n.clone(), b.p256dh(), b.auth())).collect();
    let service = Arc::new(PushService {
        browsers,
        vapid_key,
        origin: origin.clone(),
        clock: Some(world.clock.clone()),
        ..Default::default()
    });
    let app = axum::Router::new().route("/push/{name}", axum::routing::post(push)).with_state(service.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Subscriptions are checked: keys that are keys, and no private address unless allowed.
    let register = |name: &str, p256dh: &str, auth: &str| pb::RegisterPushSubscriptionRequest {
        endpoint: format!("{origin}/push/{name}"),
        p256dh: p256dh.into(),
        auth: auth.into(),
        user_agent: "Firefox".into(),
    };
    let (_, p256dh, auth) = subscriptions[0].clone();
    let refused =
        client.register_push_subscription(world.as_user(ana, Role::Agent, register("laptop", &p256dh, &auth))).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::InvalidArgument, "loopback refused by default");
    let allow = pb::PutTenantSettingsRequest {
        settings: Some(pb::TenantNotificationSettings { allow_private_webhook_addresses: true }),
    };
    client.put_tenant_settings(world.as_operator(allow)).await.unwrap();
    let bad = client
        .register_push_subscription(world.as_user(ana, Role::Agent, register("laptop", "not-a-key", &auth)))
        .await;
    assert_eq!(bad.unwrap_err().code(), tonic::Code::InvalidArgument);
    for (name, p256dh, auth) in &subscriptions {
        client.register_push_subscription(world.as_user(ana, Role::Agent, register(name, p256dh, auth))).await.unwrap();
    }
    let listed = client
        .list_push_subscriptions(world.as_user(ana, Role::Agent, pb::ListPushSubscriptionsRequest {}))
        .await
        .unwrap();
    assert_eq!(listed.get_ref().subscriptions.len(), 3);

    // Assigned to Ana (level all): a push message to each of her browsers.
    let mut c = Convo::new(&world);
    c.assign(&world, Some(ana), None, "service:routing").await;
    let laptop = wait_until(Duration::from_secs(10), || async {
        service.received.lock().unwrap().iter().find(|(n, _)| n == "laptop").map(|(_, m)| m.clone())
    })
    .await;
    let message = laptop.unwrap_or_else(|| panic!("no push decrypted; refused: {:?}", service.refused.lock().unwrap()));
    assert_eq!(message["title"], "Assigned to you");
    assert_eq!(message["type"], "assigned");
    assert_eq!(message["conversation_id"], c.id().to_string());
    assert_eq!(message["url"], format!("/conversations/{}", c.id()));

    // The push service said the "gone" subscription no longer exists: it is dropped.
    let dropped = wait_until(Duration::from_secs(10), || {
        let mut client = client.clone();
        let request = world.as_user(ana, Role::Agent, pb::ListPushSubscriptionsRequest {});
        async move {
            let subs = client.list_push_subscriptions(request).await.ok()?.into_inner().subscriptions;
            (subs.len() == 2 && subs.iter().all(|s| !s.endpoint.ends_with("/gone"))).then_some(())
        }
    })
    .await;
    assert!(dropped.is_some(), "a 410 drops the subscription");

    // The busy one answered 503: tried again after its backoff, then delivered.
    assert!(!service.received.lock().unwrap().iter().any(|(n, _)| n == "busy"));
    world.clock.advance(chrono::Duration::seconds(15));
    let busy = wait_until(Duration::from_secs(10), || async {
        service.received.lock().unwrap().iter().any(|(n, _)| n == "busy").then_some(())
    })
    .await;
    assert!(busy.is_some(), "retried after a 503");
    assert!(service.refused.lock().unwrap().is_empty(), "{:?}", service.refused.lock().unwrap());

    // A type below "all" sends no push.
    let before = service.received.lock().unwrap().len();
    let d = Convo::new(&world);
    d.open(&world).await; // new conversation: sound + visual
    let pool = world.pool().await;
    assert_eq!(common::wait_for_rows(&pool, "notifications WHERE kind = 'new_conversation'", 1).await, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.received.lock().unwrap().len(), before);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM push_jobs").fetch_one(&pool).await.unwrap();
    assert_eq!(jobs, 0, "nothing left to send");
    replica.stop().await;
}
