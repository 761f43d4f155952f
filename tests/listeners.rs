//! Every service of the fleet, as deployed: `/metrics` only on its admin listener, and a
//! public `/readyz` that says ready without showing its checks' errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use inbox_e2e::{Fleet, SERVICES};

#[tokio::test]
async fn every_service_serves_metrics_on_its_admin_listener_only() -> anyhow::Result<()> {
    let fleet = Fleet::start().await?;
    let client = reqwest::Client::new();
    for name in SERVICES {
        let public = client.get(format!("{}/metrics", fleet.http_url(name))).send().await?;
        // The gateway answers unknown paths with the web app (or 503 without a web build).
        if name != "gateway" {
            assert_eq!(public.status(), 404, "{name}: /metrics on the public listener");
        }
        assert!(!public.text().await?.contains("# TYPE"), "{name}: metrics on the public listener");
        let admin = client.get(format!("{}/metrics", fleet.admin_url(name))).send().await?;
        assert_eq!(admin.status(), 200, "{name}: /metrics on the admin listener");
        let text = admin.text().await?;
        assert!(text.contains("inbox_http_request_seconds"), "{name}: {text}");
        for base in [fleet.http_url(name), fleet.admin_url(name)] {
            let ready: serde_json::Value = client.get(format!("{base}/readyz")).send().await?.json().await?;
            assert_eq!(ready["ready"], true, "{name} at {base}: {ready}");
        }
    }
    Ok(())
}
