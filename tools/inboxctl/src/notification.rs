//! `inboxctl webhook` and `inboxctl sla`: a tenant's outbound webhook endpoints (with their
//! delivery log and replay) and its SLA policies, through the gateway's admin API
//! (`/v1/admin/tenants/{id}/webhooks...`, `/v1/admin/tenants/{id}/sla`).

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Gateway;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint; prints its signing secret (shown once).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        url: String,
        /// An event type to receive (repeat): contact.created, contact.updated,
        /// conversation.created, conversation.assigned, conversation.status_changed,
        /// conversation.resolved, message.created, sla.breached.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// A tenant's endpoints (secrets are never shown).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Change an endpoint; --enable resumes one that was disabled.
    Update {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        url: Option<String>,
        /// Replaces the subscribed event types (repeat).
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
    },
    /// A new signing secret (printed once); the old one stops at once.
    RotateSecret {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
    },
    /// The delivery log, newest first.
    Deliveries {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        /// One delivery with each attempt.
        #[arg(long)]
        delivery: Option<String>,
    },
    /// Send deliveries again (same ids): the listed ones, or every failed one since a time.
    Replay {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
        #[arg(long = "delivery")]
        deliveries: Vec<String>,
        /// RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
    /// Allow (or refuse again) endpoints on loopback, private and link-local addresses for a
    /// tenant (the operator only).
    AllowPrivate {
        #[arg(long)]
        tenant: String,
        #[arg(long, action = clap::ArgAction::Set)]
        allowed: bool,
    },
}

#[derive(Subcommand)]
pub enum SlaCommand {
    /// A tenant's SLA policies, warning share and business hours.
    Show {
        #[arg(long)]
        tenant: String,
    },
    /// Replace a tenant's SLA settings.
    Set {
        #[arg(long)]
        tenant: String,
        /// `PRIORITY:first=SECONDS,next=SECONDS,resolution=SECONDS` (repeat; omitted targets
        /// are none), e.g. `urgent:first=300,resolution=14400`.
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Warn at this share of a target (1–99).
        #[arg(long, default_value_t = 80)]
        warning_percent: u32,
        /// IANA zone of the business hours.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// `DAYS:HH:MM-HH:MM` (repeat), days `mon`..`sun` or a range `mon-fri`; none: around the clock.
        #[arg(long = "hours")]
        hours: Vec<String>,
    },
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `urgent:first=300,next=600,resolution=14400` as a policy.
fn policy(text: &str) -> anyhow::Result<Value> {
    let (priority, targets) = text.split_once(':').context("--policy is PRIORITY:first=S,next=S,resolution=S")?;
    if !["urgent", "high", "normal", "low"].contains(&priority) {
        bail!("priority {priority:?} is not urgent, high, normal or low");
    }
    let mut out =
        json!({"priority": priority, "first_response_seconds": 0, "next_response_seconds": 0, "resolution_seconds": 0});
    for target in targets.split(',').filter(|t| !t.is_empty()) {
        let (name, seconds) = target.split_once('=').with_context(|| format!("{target:?} is not NAME=SECONDS"))?;
        let seconds: u32 = seconds.parse().with_context(|| format!("{seconds:?} is not a number of seconds"))?;
        let key = match name {
            "first" => "first_response_seconds",
            "next" => "next_response_seconds",
            "resolution" => "resolution_seconds",
            other => bail!("target {other:?} is not first, next or resolution"),
        };
        out[key] = json!(seconds);
    }
    Ok(out)
}

/// `mon-fri:09:00-17:00` as one interval per day.
fn hours(text: &str) -> anyhow::Result<Vec<Value>> {
    let (days, times) = text.split_once(':').context("--hours is DAYS:HH:MM-HH:MM")?;
    let (start, end) = times.split_once('-').context("--hours is DAYS:HH:MM-HH:MM")?;
    let day =
        |d: &str| DAYS.iter().position(|x| *x == d).map(|i| i + 1).with_context(|| format!("{d:?} is not mon..sun"));
    let (first, last) = match days.split_once('-') {
        Some((a, b)) => (day(a)?, day(b)?),
        None => (day(days)?, day(days)?),
    };
    if first > last {
        bail!("{days:?}: the range runs from Monday to Sunday");
    }
    Ok((first..=last).map(|d| json!({"weekday": d, "start": start, "end": end})).collect())
}

impl WebhookCommand {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        let base = |tenant: &str| format!("/v1/admin/tenants/{tenant}/webhooks");
        match self {
            WebhookCommand::Add { tenant, url, events, description } => {
                let body = json!({"url": url, "events": events, "description": description});
                gateway.call(Method::POST, &base(&tenant), Some(body)).await
            }
            WebhookCommand::List { tenant } => gateway.call(Method::GET, &base(&tenant), None).await,
            WebhookCommand::Update { tenant, endpoint, url, events, enable, disable } => {
                let mut body = json!({});
                if let Some(url) = url {
                    body["url"] = json!(url);
                }
                if !events.is_empty() {
                    body["events"] = json!(events);
                }
                if enable || disable {
                    body["enabled"] = json!(enable);
                }
                gateway.call(Method::PATCH, &format!("{}/{endpoint}", base(&tenant)), Some(body)).await
            }
            WebhookCommand::Delete { tenant, endpoint } => {
                gateway.call(Method::DELETE, &format!("{}/{endpoint}", base(&tenant)), None).await
            }
            WebhookCommand::RotateSecret { tenant, endpoint } => {
                gateway.call(Method::POST, &format!("{}/{endpoint}/rotate-secret", base(&tenant)), None).await
            }
            WebhookCommand::Deliveries { tenant, endpoint, status, delivery } => {
                let path = match (delivery, status) {
                    (Some(id), _) => format!("{}/{endpoint}/deliveries/{id}", base(&tenant)),
                    (None, Some(status)) => format!("{}/{endpoint}/deliveries?status={status}", base(&tenant)),
                    (None, None) => format!("{}/{endpoint}/deliveries", base(&tenant)),
                };
                gateway.call(Method::GET, &path, None).await
            }
            WebhookCommand::Replay { tenant, endpoint, deliveries, since } => {
                if deliveries.is_empty() && since.is_none() {
                    bail!("replay: give --delivery ID (repeatable) or --since TIME");
                }
                let mut body = json!({"delivery_ids": deliveries});
                if let Some(since) = since {
                    let at = chrono::DateTime::parse_from_rfc3339(&since)
                        .with_context(|| format!("--since {since:?} is not an RFC 3339 time"))?;
                    body["since"] = json!(at.to_rfc3339());
                }
                gateway.call(Method::POST, &format!("{}/{endpoint}/replay", base(&tenant)), Some(body)).await
            }
            WebhookCommand::AllowPrivate { tenant, allowed } => {
                let body = json!({"allow_private_webhook_addresses": allowed});
                gateway
                    .call(Method::PUT, &format!("/v1/admin/tenants/{tenant}/notification-settings"), Some(body))
                    .await
            }
        }
    }
}

impl SlaCommand {
    pub async fn run(self, gateway: &Gateway) -> anyhow::Result<Value> {
        match self {
            SlaCommand::Show { tenant } => {
                gateway.call(Method::GET, &format!("/v1/admin/tenants/{tenant}/sla"), None).await
            }
            SlaCommand::Set { tenant, policies, warning_percent, time_zone, hours: spans } => {
                let policies = policies.iter().map(|p| policy(p)).collect::<anyhow::Result<Vec<_>>>()?;
                let mut business_hours = Vec::new();
                for span in &spans {
                    business_hours.extend(hours(span)?);
                }
                let body = json!({
                    "policies": policies,
                    "warning_percent": warning_percent,
                    "time_zone": time_zone,
                    "business_hours": business_hours,
                });
                gateway.call(Method::PUT, &format!("/v1/admin/tenants/{tenant}/sla"), Some(body)).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_names_its_priority_and_targets() {
        let p = policy("urgent:first=300,resolution=14400").unwrap();
        assert_eq!(p["priority"], "urgent");
        assert_eq!((p["first_response_seconds"].as_u64(), p["next_response_seconds"].as_u64()), (Some(300), Some(0)));
        assert_eq!(p["resolution_seconds"], 14400);
        assert!(policy("critical:first=1").is_err());
        assert!(policy("urgent:soon=1").is_err());
    }

    #[test]
    fn hours_expand_a_day_range() {
        let h = hours("mon-fri:09:00-17:30").unwrap();
        assert_eq!(h.len(), 5);
        assert_eq!(h[0], json!({"weekday": 1, "start": "09:00", "end": "17:30"}));
        assert_eq!(hours("sat:10:00-14:00").unwrap()[0]["weekday"], 6);
        assert!(hours("fri-mon:09:00-17:00").is_err());
        assert!(hours("someday:09:00-17:00").is_err());
    }
}
