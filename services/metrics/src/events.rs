//! Consumer of `events.>` (durable `metrics`): for now it records each event once and counts
//! it; the rollups come next.

use std::sync::LazyLock;

use inbox_bus::{Delivery, HandlerError, MessageHandler};
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use uuid::Uuid;

use crate::store::EventLedger;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_metrics_events_total",
        "Events consumed by metrics, by kind and whether their id was seen for the first time.",
        &["kind", "first_seen"]
    )
    .expect("metric registers once")
});

/// Records every domain event in the ledger, so a redelivery is recognised.
pub struct RecordMetricsEvents {
    pub ledger: EventLedger,
}

impl MessageHandler for RecordMetricsEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id).map_err(|_| {
            HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id))
        })?;
        let kind = event_kind(&delivery.subject, &envelope.tenant_id).ok_or_else(|| {
            HandlerError::Permanent(format!(
                "subject {:?} is not events.{}.<kind>",
                delivery.subject, envelope.tenant_id
            ))
        })?;
        if envelope.event_id.is_empty() {
            return Err(HandlerError::Permanent(
                "envelope without an event id".into(),
            ));
        }
        let first_seen = self
            .ledger
            .remember(tenant_id, &envelope.event_id, &delivery.subject)
            .await
            .map_err(|e| HandlerError::Retry(e.to_string()))?;
        EVENTS
            .with_label_values(&[kind, if first_seen { "true" } else { "false" }])
            .inc();
        tracing::debug!(kind, first_seen, "event recorded");
        Ok(())
    }
}

/// `message.created` from `events.<tenant>.message.created`; `None` for another tenant's subject.
fn event_kind<'a>(subject: &'a str, tenant_id: &str) -> Option<&'a str> {
    subject
        .strip_prefix("events.")?
        .strip_prefix(tenant_id)?
        .strip_prefix('.')
        .filter(|kind| !kind.is_empty())
}

#[cfg(test)]
mod tests {
    use super::event_kind;

    #[test]
    fn the_kind_is_what_follows_the_tenant_in_the_subject() {
        assert_eq!(
            event_kind("events.t1.message.created", "t1"),
            Some("message.created")
        );
        assert_eq!(event_kind("events.t2.message.created", "t1"), None);
        assert_eq!(event_kind("events.t1.", "t1"), None);
    }
}
