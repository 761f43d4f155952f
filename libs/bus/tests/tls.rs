//! The bus over TLS: `nats.ca_file` names the authority that signed the server's certificate,
//! and makes TLS required.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::{Command, Stdio};
use std::time::Duration;

use inbox_bus::Bus;
use inbox_config::NatsSettings;
use inbox_testkit::{ServerProcess, free_port, make_certificates, wait_until};

#[tokio::test]
async fn a_ca_file_makes_the_connection_tls_verified_by_that_authority() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path()).unwrap();
    let port = free_port();
    let config = dir.path().join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ntls {{ cert_file: {:?}, key_file: {:?} }}\n",
            certificates.cert, certificates.key
        ),
    )
    .unwrap();
    let binary = std::env::var("INBOX_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let _server = ServerProcess(
        Command::new(binary).arg("-c").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );

    let url = format!("nats://127.0.0.1:{port}");
    let settings = NatsSettings { ca_file: certificates.ca.display().to_string(), ..NatsSettings::anonymous(&url) };
    let bus = wait_until(Duration::from_secs(10), || async { Bus::connect_with(&settings, "tls-test").await.ok() })
        .await
        .expect("no TLS connection with the authority's certificate");
    assert!(bus.is_connected());
    bus.client().publish("tls.check", "x".into()).await.unwrap();
    bus.client().flush().await.unwrap();

    // Without the authority the server's certificate is not trusted: no connection at all.
    assert!(Bus::connect(&url, "tls-test").await.is_err());
}
