//! The bus over TLS: `nats.ca_file` names the authority that signed the server's certificate,
//! and makes TLS required.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use inbox_bus::Bus;
use inbox_config::NatsSettings;
use inbox_testkit::{free_port, wait_until};

/// A nats-server that requires TLS; killed when dropped.
struct TlsNats(Child);

impl Drop for TlsNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status().unwrap();
    assert!(status.success(), "openssl {args:?}");
}

/// A certificate authority (`ca.pem`) and a certificate it signed for 127.0.0.1.
fn make_certificates(dir: &Path) {
    let days = ["-days", "3650"];
    let authority = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"];
    openssl(dir, &[&authority[..], &days, &["-subj", "/CN=inbox test authority"]].concat());
    let request = ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"];
    openssl(dir, &[&request[..], &["-subj", "/CN=127.0.0.1"]].concat());
    let extensions = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("ext"), extensions).unwrap();
    let sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
    openssl(dir, &[&sign[..], &days, &["-out", "server.pem", "-extfile", "ext"]].concat());
}

#[tokio::test]
async fn a_ca_file_makes_the_connection_tls_verified_by_that_authority() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let port = free_port();
    let config = dir.path().join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:{port}\ntls {{ cert_file: \"{0}/server.pem\", key_file: \"{0}/server.key\" }}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let binary = std::env::var("INBOX_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let _server = TlsNats(
        Command::new(binary).arg("-c").arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );

    let url = format!("nats://127.0.0.1:{port}");
    let settings =
        NatsSettings { ca_file: dir.path().join("ca.pem").display().to_string(), ..NatsSettings::anonymous(&url) };
    let bus = wait_until(Duration::from_secs(10), || async { Bus::connect_with(&settings, "tls-test").await.ok() })
        .await
        .expect("no TLS connection with the authority's certificate");
    assert!(bus.is_connected());
    bus.client().publish("tls.check", "x".into()).await.unwrap();
    bus.client().flush().await.unwrap();

    // Without the authority the server's certificate is not trusted: no connection at all.
    assert!(Bus::connect(&url, "tls-test").await.is_err());
}
