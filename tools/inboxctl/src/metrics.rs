//! `inboxctl metrics`: the metrics service's operations, through the gateway's admin API.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Gateway;

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// Recompute a tenant's figures from the conversation service's history: every
    /// conversation with activity since --from is read back and folded again (nothing counts
    /// twice). Waits until it is done unless --no-wait.
    Rebuild {
        #[arg(long)]
        tenant: String,
        /// RFC 3339 time (`2031-01-01T00:00:00Z`) or a date (`2031-01-01`, midnight UTC).
        #[arg(long)]
        from: String,
        /// Print the started rebuild and return at once.
        #[arg(long)]
        no_wait: bool,
    },
}

/// `--from` as RFC 3339.
fn from_time(text: &str) -> anyhow::Result<String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_rfc3339());
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .with_context(|| format!("--from {text:?} is neither an RFC 3339 time nor a date"))?;
    Ok(format!("{date}T00:00:00Z"))
}

impl MetricsCommand {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        match self {
            MetricsCommand::Rebuild { tenant, from, no_wait } => {
                let path = format!("/v1/admin/tenants/{tenant}/metrics/rebuilds");
                let started = gateway.call(Method::POST, &path, Some(json!({ "from": from_time(&from)? }))).await?;
                if no_wait {
                    return Ok(started);
                }
                let id = started["rebuild_id"].as_str().context("the gateway answered without a rebuild_id")?;
                loop {
                    let status = gateway.call(Method::GET, &format!("{path}/{id}"), None).await?;
                    match status["state"].as_str() {
                        Some("running") => tokio::time::sleep(Duration::from_millis(500)).await,
                        Some("done") => return Ok(status),
                        _ => bail!("rebuild {id} failed: {}", status["error"].as_str().unwrap_or("no reason given")),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_takes_a_time_or_a_date() {
        assert_eq!(from_time("2031-01-02T03:04:05+01:00").unwrap(), "2031-01-02T03:04:05+01:00");
        assert_eq!(from_time("2031-01-02").unwrap(), "2031-01-02T00:00:00Z");
        assert!(from_time("yesterday").is_err());
    }
}
