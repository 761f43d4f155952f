//! Consumer of `events.>` (durable `metrics`): the conversation service's events, folded into
//! the rollups in batches.
//!
//! Deliveries are handled concurrently; each hands its fact to the shared batcher
//! ([`inbox_bus::Batcher`]) and waits for the outcome. A batch is whatever has queued up (at most
//! `max_batch`), folded in one transaction per tenant; a delivery is acked only after its
//! batch committed, and a redelivered one is recognised by its id in the same transaction.

pub mod facts;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use futures::StreamExt;
use inbox_bus::{BatchProcessor, Batcher, Delivery, HandlerError, MessageHandler, subjects};
use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use uuid::Uuid;

use crate::domain::fact::Fact;
use crate::store::{MetricsStore, StoreError};
use crate::zones::TenantZones;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_metrics_events_total",
        "Events consumed by metrics, by kind and outcome: folded (first seen), repeat (a redelivery), ignored.",
        &["kind", "outcome"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_metrics_batch_events",
        "Events folded per metrics transaction.",
        vec![1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0]
    )
    .expect("metric registers once")
});

/// Tenants of one batch folded at once (each holds a database connection).
const TENANTS_AT_ONCE: usize = 4;

/// Whether an event's id was seen for the first time, or why it could not be folded.
type Outcome = Result<bool, HandlerError>;

/// Folds the conversation service's events in batches.
pub struct FoldEvents {
    batcher: Batcher<FoldBatches>,
}

impl FoldEvents {
    /// Starts folding at most `max_batch` events per transaction, at most `workers`
    /// transactions at once; the batcher stops when the handler is dropped and drained.
    pub fn start(store: MetricsStore, zones: TenantZones, workers: usize, max_batch: usize) -> Self {
        Self { batcher: Batcher::start(FoldBatches { store, zones }, workers, max_batch) }
    }
}

struct FoldBatches {
    store: MetricsStore,
    zones: TenantZones,
}

impl BatchProcessor for FoldBatches {
    type Item = (Uuid, Fact);
    type Outcome = Outcome;

    async fn process(&self, items: Vec<(Uuid, Fact)>) -> Vec<Outcome> {
        BATCH_SIZE.observe(items.len() as f64);
        let mut outcomes: Vec<Outcome> =
            items.iter().map(|_| Err(HandlerError::Retry("the batch left the event unfolded".into()))).collect();
        let mut by_tenant: BTreeMap<Uuid, (Vec<usize>, Vec<Fact>)> = BTreeMap::new();
        for (i, (tenant, fact)) in items.into_iter().enumerate() {
            let (positions, facts) = by_tenant.entry(tenant).or_default();
            positions.push(i);
            facts.push(fact);
        }
        // Each tenant's facts fold in a transaction of their own (writers of one tenant take turns
        // on its lock; different tenants go side by side, a few at a time).
        let folded: Vec<(Vec<usize>, Vec<Outcome>)> = futures::stream::iter(by_tenant)
            .map(|(tenant, (positions, facts))| self.fold_tenant(tenant, positions, facts))
            .buffer_unordered(TENANTS_AT_ONCE)
            .collect()
            .await;
        for (positions, results) in folded {
            for (i, outcome) in positions.into_iter().zip(results) {
                outcomes[i] = outcome;
            }
        }
        outcomes
    }
}

impl FoldBatches {
    /// Folds one tenant's share of a batch; the outcome of each fact, with the facts' positions.
    async fn fold_tenant(&self, tenant: Uuid, positions: Vec<usize>, facts: Vec<Fact>) -> (Vec<usize>, Vec<Outcome>) {
        let zone = match self.zones.zone_of(tenant).await {
            Ok(zone) => zone,
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, "cannot bucket without the tenant's zone; events will be redelivered");
                let outcomes = facts.iter().map(|_| Err(HandlerError::Retry(e.to_string()))).collect();
                return (positions, outcomes);
            }
        };
        let outcomes = match self.store.apply_facts(tenant, zone, &facts).await {
            Ok(report) => {
                tracing::debug!(tenant_id = %tenant, events = facts.len(), conversations = report.conversations, cells = report.cells, surveys = report.surveys, "batch folded");
                // A copy delivered into the same batch is a repeat: only the first is new.
                let mut first_seen = report.first_seen;
                facts.iter().map(|fact| Ok(first_seen.remove(&fact.event_id))).collect()
            }
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, size = facts.len(), "metrics batch failed; its events will be redelivered");
                facts.iter().map(|_| Err(handler_error(&e))).collect()
            }
        };
        (positions, outcomes)
    }
}

/// What the consumer does with an event whose batch failed: a stored value it cannot read
/// will not read better later; anything else is tried again.
fn handler_error(e: &StoreError) -> HandlerError {
    match e {
        StoreError::Corrupt(_) | StoreError::Invalid(_) => HandlerError::Permanent(e.to_string()),
        StoreError::Database(_) => HandlerError::Retry(e.to_string()),
    }
}

impl MessageHandler for FoldEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
        let kind = subjects::event_kind(&delivery.subject, &envelope.tenant_id).ok_or_else(|| {
            HandlerError::Permanent(format!(
                "subject {:?} is not events.{}.<kind>",
                delivery.subject, envelope.tenant_id
            ))
        })?;
        if envelope.event_id.is_empty() {
            return Err(HandlerError::Permanent("envelope without an event id".into()));
        }
        let Some(fact) = facts::fact_of(&delivery.subject, kind, envelope) else {
            EVENTS.with_label_values(&[kind, "ignored"]).inc();
            return Ok(());
        };
        let kind = kind.to_owned();
        let first_seen =
            self.batcher.submit((tenant_id, fact)).await.map_err(|e| HandlerError::Retry(e.to_string()))??;
        EVENTS.with_label_values(&[kind.as_str(), if first_seen { "folded" } else { "repeat" }]).inc();
        Ok(())
    }
}
