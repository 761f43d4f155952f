//! Probing a service under test from outside: HTTP, gRPC health, Prometheus samples.

use std::net::SocketAddr;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

pub use tonic_health::pb::health_check_response::ServingStatus;

/// Status and body of `GET url`, or `None` when nothing answers.
pub async fn get(http: &reqwest::Client, url: String) -> Option<(u16, String)> {
    let response = http.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The overall `grpc.health.v1` status of the server at `addr`.
pub async fn grpc_health(addr: SocketAddr) -> anyhow::Result<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let response = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(response.into_inner().status())
}

/// The value of the Prometheus sample `name` whose labels include all of `labels`
/// (each written `key="value"`).
pub fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix('{')?.split_once("} "))
        .find(|(set, _)| labels.iter().all(|label| set.split(',').any(|pair| pair == *label)))
        .and_then(|(_, value)| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_found_by_name_and_labels() {
        let text = "# HELP x\ninbox_bus_consumed_total{consumer=\"routing\",outcome=\"acked\"} 2\n\
                    inbox_bus_consumed_total{consumer=\"search\",outcome=\"acked\"} 5\n";
        assert_eq!(sample(text, "inbox_bus_consumed_total", &[r#"consumer="search""#]), Some(5.0));
        assert_eq!(sample(text, "inbox_bus_consumed_total", &[r#"consumer="nobody""#]), None);
    }
}
