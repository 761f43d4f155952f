//! Where a message's time goes, stage by stage, from the fleet's own histograms: each process's
//! `/metrics` (its admin listener) is read before and after a step, and the difference of the
//! cumulative buckets is that step's distribution of each stage.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::fleet::Fleet;

/// One stage: which service reports it, the histogram, and the labels that pick its series.
struct Stage {
    name: &'static str,
    service: &'static str,
    metric: &'static str,
    labels: &'static [(&'static str, &'static str)],
}

/// The stages in the order a WhatsApp message passes them.
const STAGES: &[Stage] = &[
    Stage {
        name: "webhook answered (archive + publish)",
        service: "channel-ingest",
        metric: "inbox_http_request_seconds",
        labels: &[("route", "/webhooks/whatsapp"), ("status", "200")],
    },
    Stage {
        name: "publish to INGEST (JetStream ack)",
        service: "channel-ingest",
        metric: "inbox_bus_publish_seconds",
        labels: &[("stream", "INGEST")],
    },
    Stage {
        name: "queued in INGEST before conversation",
        service: "conversation",
        metric: "inbox_bus_wait_seconds",
        labels: &[("consumer", "conversation")],
    },
    Stage {
        name: "conversation stores it (batch commit)",
        service: "conversation",
        metric: "inbox_bus_handle_seconds",
        labels: &[("consumer", "conversation")],
    },
    Stage {
        name: "outbox relay publishes to EVENTS",
        service: "conversation",
        metric: "inbox_bus_publish_seconds",
        labels: &[("stream", "EVENTS")],
    },
    Stage {
        name: "EVENTS → gateway live push",
        service: "gateway",
        metric: "inbox_gateway_live_event_age_seconds",
        labels: &[],
    },
    Stage {
        name: "queued in EVENTS before routing",
        service: "routing",
        metric: "inbox_bus_wait_seconds",
        labels: &[("consumer", "routing")],
    },
    Stage {
        name: "routing handles it",
        service: "routing",
        metric: "inbox_bus_handle_seconds",
        labels: &[("consumer", "routing")],
    },
    Stage {
        name: "queued in EVENTS before notification",
        service: "notification",
        metric: "inbox_bus_wait_seconds",
        labels: &[("consumer", "notification")],
    },
    Stage {
        name: "notification handles it",
        service: "notification",
        metric: "inbox_bus_handle_seconds",
        labels: &[("consumer", "notification")],
    },
    Stage {
        name: "queued in EVENTS before metrics",
        service: "metrics",
        metric: "inbox_bus_wait_seconds",
        labels: &[("consumer", "metrics")],
    },
    Stage {
        name: "metrics folds it",
        service: "metrics",
        metric: "inbox_bus_handle_seconds",
        labels: &[("consumer", "metrics")],
    },
    Stage { name: "queued in EVENTS before search", service: "search", metric: "inbox_bus_wait_seconds", labels: &[] },
    Stage { name: "search indexes it", service: "search", metric: "inbox_bus_handle_seconds", labels: &[] },
];

/// Cumulative counts of one histogram: `(le, count)`, in `le` order.
pub type Buckets = Vec<(f64, f64)>;

/// One step's buckets of every stage, in [`STAGES`] order.
pub type StepStages = Vec<Buckets>;

/// Cumulative bucket counts per stage, summed over the service's replicas.
#[derive(Debug, Clone, Default)]
pub struct Snapshot(StepStages);

/// Reads every process's `/metrics` now.
pub async fn snapshot(fleet: &Fleet) -> Snapshot {
    let client = reqwest::Client::new();
    let mut pages: Vec<(&'static str, String)> = Vec::new();
    for process in &fleet.processes {
        let url = format!("http://{}:{}/metrics", process.host, process.admin);
        let page = async { client.get(&url).timeout(Duration::from_secs(5)).send().await?.text().await };
        if let Ok(text) = page.await {
            pages.push((process.service, text));
        }
    }
    Snapshot(
        STAGES
            .iter()
            .map(|stage| {
                let mut buckets: Buckets = Vec::new();
                for (_, text) in pages.iter().filter(|(service, _)| *service == stage.service) {
                    for (le, count) in buckets_of(text, stage) {
                        match buckets.iter_mut().find(|(l, _)| *l == le) {
                            Some((_, c)) => *c += count,
                            None => buckets.push((le, count)),
                        }
                    }
                }
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                buckets
            })
            .collect(),
    )
}

/// `(le, cumulative count)` of the stage's series in one exposition page (label order free).
fn buckets_of(text: &str, stage: &Stage) -> Buckets {
    let prefix = format!("{}_bucket{{", stage.metric);
    let mut found: HashMap<String, f64> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else { continue };
        let Some((labels, value)) = rest.rsplit_once("} ") else { continue };
        let pairs: HashMap<&str, &str> = labels
            .split("\",")
            .filter_map(|pair| pair.split_once("=\""))
            .map(|(k, v)| (k.trim_matches(','), v.trim_end_matches('"')))
            .collect();
        if !stage.labels.iter().all(|(k, v)| pairs.get(k) == Some(v)) {
            continue;
        }
        let (Some(le), Ok(count)) = (pairs.get("le"), value.trim().parse::<f64>()) else { continue };
        *found.entry((*le).to_owned()).or_default() += count;
    }
    found
        .into_iter()
        .map(|(le, count)| (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) }, count))
        .collect()
}

/// One step's distribution of each stage: after minus before.
pub fn between(before: &Snapshot, after: &Snapshot) -> StepStages {
    after
        .0
        .iter()
        .enumerate()
        .map(|(i, buckets)| {
            buckets
                .iter()
                .map(|(le, count)| {
                    let earlier =
                        before.0.get(i).and_then(|b| b.iter().find(|(l, _)| l == le)).map_or(0.0, |(_, c)| *c);
                    (*le, (count - earlier).max(0.0))
                })
                .collect()
        })
        .collect()
}

/// The `q` quantile (0..1) of cumulative buckets, interpolated inside its bucket as Prometheus'
/// `histogram_quantile` does; `None` without observations.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last().map(|(_, c)| *c).filter(|c| *c > 0.0)?;
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower.0);
            }
            let width = count - lower.1;
            let within = if width > 0.0 { (rank - lower.1) / width } else { 1.0 };
            return Some(lower.0 + (le - lower.0) * within);
        }
        lower = (le, count);
    }
    Some(lower.0)
}

/// The table: a row per stage, a column per step (`p50 / p99`, and how many were observed).
pub fn table(columns: &[(String, StepStages)]) -> String {
    let mut out = String::new();
    let heads: Vec<&str> = columns.iter().map(|(head, _)| head.as_str()).collect();
    let _ = writeln!(out, "| stage | {} |", heads.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(heads.len()));
    for (i, stage) in STAGES.iter().enumerate() {
        let cells: Vec<String> = columns
            .iter()
            .map(|(_, stages)| {
                let buckets = stages.get(i).map(Vec::as_slice).unwrap_or_default();
                match (quantile(buckets, 0.5), quantile(buckets, 0.99)) {
                    (Some(p50), Some(p99)) => format!(
                        "{} / {} ({:.0})",
                        crate::run::ms(Duration::from_secs_f64(p50)),
                        crate::run::ms(Duration::from_secs_f64(p99)),
                        buckets.last().map_or(0.0, |(_, c)| *c)
                    ),
                    _ => "none".into(),
                }
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", stage.name, cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_prometheus() {
        let buckets = [(0.001, 0.0), (0.002, 50.0), (0.005, 90.0), (0.01, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&buckets, 0.5), Some(0.002));
        let p99 = quantile(&buckets, 0.99).unwrap_or_default();
        assert!((p99 - 0.0095).abs() < 1e-9, "{p99}");
        assert_eq!(quantile(&[(0.1, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn a_series_is_picked_by_its_labels_in_any_order() {
        let page = "# TYPE inbox_bus_wait_seconds histogram\n\
            inbox_bus_wait_seconds_bucket{consumer=\"routing\",le=\"0.001\"} 3\n\
            inbox_bus_wait_seconds_bucket{le=\"0.001\",consumer=\"metrics\"} 7\n\
            inbox_bus_wait_seconds_bucket{consumer=\"metrics\",le=\"+Inf\"} 9\n";
        let stage = Stage {
            name: "",
            service: "metrics",
            metric: "inbox_bus_wait_seconds",
            labels: &[("consumer", "metrics")],
        };
        let mut buckets = buckets_of(page, &stage);
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(buckets, vec![(0.001, 7.0), (f64::INFINITY, 9.0)]);
    }

    #[test]
    fn a_step_is_the_difference_of_two_snapshots() {
        let before = Snapshot(vec![vec![(0.01, 4.0), (f64::INFINITY, 5.0)]]);
        let after = Snapshot(vec![vec![(0.01, 10.0), (f64::INFINITY, 15.0)]]);
        assert_eq!(between(&before, &after), vec![vec![(0.01, 6.0), (f64::INFINITY, 10.0)]]);
    }
}
