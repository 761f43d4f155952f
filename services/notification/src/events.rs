//! Consumer of `events.>` (durable `notification`): for now it records each event once and
//! counts it; notifications by type and agent preference come next.

use std::sync::LazyLock;

use inbox_service::ledger::{EventLedger, RecordEvents};
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_notification_events_total",
        "Events consumed by notification, by kind and whether their id was seen for the first time.",
        &["kind", "first_seen"]
    )
    .expect("metric registers once")
});

/// Records every domain event in the ledger, so a redelivery is recognised.
pub fn record_notification_events(ledger: EventLedger) -> RecordEvents {
    RecordEvents::new(ledger, &EVENTS)
}
