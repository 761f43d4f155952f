//! channel-ingest's Prometheus metrics (process-wide registry, served on `/metrics`).

use std::sync::LazyLock;

use prometheus::{IntCounterVec, register_int_counter_vec};

// Registration fails only on a duplicate name, which would be a bug in this module.
#[allow(clippy::expect_used)]
pub static WEBHOOKS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_ingest_webhooks_total",
        "Provider webhooks by channel and outcome (accepted, bad_signature, malformed, unknown_account, too_large, unavailable).",
        &["channel", "outcome"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub static OUTBOUND_SENDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_ingest_outbound_deliveries_total",
        "Outbound deliveries handled, by the state they reached (accepted, failed, ...).",
        &["state"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub static ARCHIVE_BATCH: LazyLock<prometheus::HistogramVec> = LazyLock::new(|| {
    prometheus::register_histogram_vec!(
        "inbox_ingest_archive_batch_payloads",
        "Payloads per group-committed archive statement, by statement (insert, published).",
        &["statement"],
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
    )
    .expect("metric registers once")
});

/// Channel account lookups that reached PostgreSQL (cache misses), by channel: what a stream
/// of unsigned or forged webhooks can make the database do.
#[allow(clippy::expect_used)]
pub static ACCOUNT_QUERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_ingest_account_queries_total",
        "Channel account lookups sent to PostgreSQL by the webhook edges (cache misses), by channel.",
        &["channel"]
    )
    .expect("metric registers once")
});
