//! Bus metrics, registered once in the process-wide Prometheus registry.

use std::sync::LazyLock;

use prometheus::{HistogramVec, IntCounterVec, register_histogram_vec, register_int_counter_vec};

// Registration fails only on a duplicate name, which would be a bug in this module.
#[allow(clippy::expect_used)]
pub(crate) static PUBLISHED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_bus_published_total",
        "Messages published and acked by JetStream.",
        &["stream", "duplicate"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub(crate) static CONSUMED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_bus_consumed_total",
        "Messages handled by a durable consumer, by outcome (acked, retried, dead_lettered).",
        &["consumer", "outcome"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub(crate) static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_bus_dead_letters_total",
        "Messages moved to the dead-letter stream. Alert on any increase.",
        &["stream", "consumer"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub(crate) static HANDLE_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "inbox_bus_handle_seconds",
        "Time a consumer's handler took per message.",
        &["consumer"],
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    )
    .expect("metric registers once")
});

/// Buckets for the stages of a message's way through the fleet: half a millisecond to ten
/// seconds, fine where the latency targets are (tens of milliseconds).
pub const STAGE_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

#[allow(clippy::expect_used)]
pub(crate) static WAIT_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "inbox_bus_wait_seconds",
        "Time from a message's storing in its JetStream stream to its handler starting, per consumer: the queue in front of it.",
        &["consumer"],
        STAGE_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
pub(crate) static PUBLISH_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "inbox_bus_publish_seconds",
        "Time from handing a message to NATS to JetStream's ack, per stream.",
        &["stream"],
        STAGE_BUCKETS.to_vec()
    )
    .expect("metric registers once")
});
