//! gRPC between services over TLS: `grpc.tls_cert_file` and `grpc.tls_key_file` make the
//! listener TLS-only, and a caller verifies it against the authority of `grpc.ca_file`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use inbox_config::GrpcSettings;
use inbox_service::grpc::{ClientTls, client_channel, router_with_standard_services, serve_grpc};
use inbox_testkit::make_certificates;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Asks `grpc.health.v1` at `url`; the status it answered, or why the call failed.
async fn health_check(url: &str, tls: &ClientTls) -> Result<i32, String> {
    let channel = client_channel(url, tls).map_err(|e| e.message)?;
    let mut client = HealthClient::new(channel);
    let call = client.check(HealthCheckRequest { service: String::new() });
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(Ok(answer)) => Ok(answer.into_inner().status),
        Ok(Err(status)) => Err(status.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

#[tokio::test]
async fn a_tls_listener_answers_callers_that_trust_its_authority_and_nobody_else() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path()).unwrap();
    let server = GrpcSettings {
        tls_cert_file: certificates.cert.display().to_string(),
        tls_key_file: certificates.key.display().to_string(),
        ..GrpcSettings::plaintext("127.0.0.1:0")
    };
    server.validate().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_health, router) = router_with_standard_services(&server).unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(serve_grpc(listener, router, shutdown.clone()));

    let caller =
        GrpcSettings { ca_file: certificates.ca.display().to_string(), ..GrpcSettings::plaintext("127.0.0.1:0") };
    let trusting = ClientTls::from_settings(&caller).unwrap();
    let https = format!("https://127.0.0.1:{port}");
    let serving_status = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(health_check(&https, &trusting).await, Ok(serving_status));

    // The system's authorities never signed the test authority's certificate.
    let refused = health_check(&https, &ClientTls::default()).await.unwrap_err();
    assert!(refused.contains("invalid peer certificate"), "{refused}");

    // A plaintext caller gets nothing from the TLS-only listener.
    let http = format!("http://127.0.0.1:{port}");
    let plain = health_check(&http, &ClientTls::default()).await.unwrap_err();
    assert!(plain.contains("transport error"), "{plain}");

    // With an authority configured, a plaintext peer URL is a misconfiguration, refused at once.
    let refused = health_check(&http, &trusting).await.unwrap_err();
    assert!(refused.contains("in clear") && refused.contains("INBOX__GRPC__CA_FILE"), "{refused}");

    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_listener_without_tls_settings_stays_plaintext() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_health, router) = router_with_standard_services(&GrpcSettings::plaintext("127.0.0.1:0")).unwrap();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(serve_grpc(listener, router, shutdown.clone()));
    let serving_status = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(health_check(&format!("http://127.0.0.1:{port}"), &ClientTls::default()).await, Ok(serving_status));
    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_key_that_is_not_pem_stops_the_service_at_start_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = make_certificates(dir.path()).unwrap();
    let key = dir.path().join("garbled.key");
    std::fs::write(&key, "not-a-key-but-secret-material").unwrap();
    let server = GrpcSettings {
        tls_cert_file: certificates.cert.display().to_string(),
        tls_key_file: key.display().to_string(),
        ..GrpcSettings::plaintext("127.0.0.1:0")
    };
    let Err(err) = router_with_standard_services(&server) else { panic!("a key that is not PEM is refused") };
    let err = err.to_string();
    assert!(!err.contains("secret-material"), "{err}");
}
