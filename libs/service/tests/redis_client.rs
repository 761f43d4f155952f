//! How a service connects to Redis: as its own ACL user, and over TLS verified by the
//! authority `redis.ca_file` names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::{Command, Stdio};
use std::time::Duration;

use inbox_config::{RedisSettings, Secret};
use inbox_service::startup::redis_client;
use inbox_testkit::{ServerProcess, TestRedis, free_port, make_certificates, wait_until};

fn settings(url: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        key_prefix: "inbox:routing:".into(),
        response_timeout_ms: 3_000,
        username: String::new(),
        password: Secret::default(),
        ca_file: String::new(),
    }
}

/// What the server answered `GET key` with: empty when it was carried out, else the error code.
async fn get(settings: &RedisSettings, key: &str) -> anyhow::Result<String> {
    let mut connection = redis_client(settings)?.get_multiplexed_async_connection().await?;
    let answer = redis::cmd("GET").arg(key).query_async::<Option<String>>(&mut connection).await;
    Ok(answer.err().map(|e| e.code().unwrap_or("other").to_owned()).unwrap_or_default())
}

#[tokio::test]
async fn a_service_connects_as_its_acl_user_held_to_its_keys() {
    let redis = TestRedis::start_with_acl(|base| {
        inbox_access::redis_acl_file(base, |_| "routing-0123456789".into(), inbox_access::REDIS_DEFAULT_USER_PING_ONLY)
    })
    .await
    .unwrap();
    let own = inbox_access::redis_key_prefix(redis.key_prefix(), "routing").unwrap();
    let gateways = inbox_access::redis_key_prefix(redis.key_prefix(), "gateway").unwrap();
    let routing = RedisSettings {
        username: "routing".into(),
        password: Secret::new("routing-0123456789"),
        ..settings(redis.url())
    };
    assert_eq!(get(&routing, &format!("{own}agents")).await.unwrap(), "");
    assert_eq!(get(&routing, &format!("{gateways}ticket:x")).await.unwrap(), "NOPERM");
    // Without the user: the default user, which may only PING.
    assert_eq!(get(&settings(redis.url()), &format!("{own}agents")).await.unwrap(), "NOPERM");
    let wrong = RedisSettings { password: Secret::new("not-the-password"), ..routing };
    assert!(get(&wrong, &format!("{own}agents")).await.is_err());
}

#[tokio::test]
async fn a_rediss_url_with_a_ca_file_connects_over_tls_verified_by_that_authority() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path()).unwrap();
    let port = free_port().to_string();
    let _server = ServerProcess(
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(&certificates.cert)
            .arg("--tls-key-file")
            .arg(&certificates.key)
            .arg("--tls-ca-cert-file")
            .arg(&certificates.ca)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("rediss://127.0.0.1:{port}");
    let trusted = RedisSettings { ca_file: certificates.ca.display().to_string(), ..settings(&url) };
    let answered = wait_until(Duration::from_secs(10), || async { get(&trusted, "k").await.ok() }).await;
    assert_eq!(answered.as_deref(), Some(""), "no TLS connection with the authority's certificate");
    // With the system's authorities only, the server's certificate is not trusted.
    assert!(get(&settings(&url), "k").await.is_err());
}
