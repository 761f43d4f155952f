//! Consumer of `events.>` (durable `search`): for now it counts each event; indexing comes with
//! the tantivy index.

use std::sync::LazyLock;

use inbox_bus::{Delivery, HandlerError, MessageHandler};
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use uuid::Uuid;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("inbox_search_events_total", "Events consumed by search, by kind.", &["kind"])
        .expect("metric registers once")
});

/// Counts every domain event the index will be built from.
pub struct CountSearchEvents;

impl MessageHandler for CountSearchEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
        let kind = inbox_bus::subjects::event_kind(&delivery.subject, &envelope.tenant_id).ok_or_else(|| {
            HandlerError::Permanent(format!(
                "subject {:?} is not events.{}.<kind>",
                delivery.subject, envelope.tenant_id
            ))
        })?;
        EVENTS.with_label_values(&[kind]).inc();
        tracing::debug!(kind, "event counted");
        Ok(())
    }
}
