//! Consumer of `events.>` (durable `routing`): the conversation service's events, decided in
//! batches.
//!
//! Deliveries are handled concurrently; each hands its fact to the shared batcher
//! ([`inbox_bus::Batcher`]) and waits for the outcome. A batch is whatever has queued up (at most
//! `max_batch`), decided in one transaction per tenant, so under load one commit serves hundreds
//! of events and an idle system still decides a lone event at once. A delivery is acked only
//! after its batch committed; a redelivered one is recognised by its id in the same transaction.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use inbox_bus::{BatchProcessor, Batcher, Delivery, Envelope, HandlerError, MessageHandler, Payload, subjects};
use inbox_proto::conversation::v1::{Conversation, ConversationStatus};
use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use uuid::Uuid;

use crate::availability::AvailabilityBook;
use crate::ids::parse_id;
use crate::store::{ConversationFact, RoutingStore, StoreError};

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_routing_events_total",
        "Events consumed by routing, by kind and whether their id was seen for the first time.",
        &["kind", "first_seen"]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_routing_batch_events",
        "Events decided per routing transaction.",
        vec![1.0, 4.0, 16.0, 64.0, 128.0, 256.0, 512.0]
    )
    .expect("metric registers once")
});

/// The fact an event states about a conversation; `None` for events routing ignores (its own).
pub fn fact_of(subject: &str, envelope: &Envelope) -> Option<ConversationFact> {
    let of = |conversation: Option<&Conversation>, taken_over_by: Option<Uuid>| {
        let c = conversation.cloned().unwrap_or_default();
        let status = ConversationStatus::try_from(c.status).unwrap_or(ConversationStatus::Unspecified);
        ConversationFact {
            event_id: envelope.event_id.clone(),
            subject: subject.to_owned(),
            conversation_id: parse_id(&c.id, "conversation id").unwrap_or_default(),
            channel: channel_name(c.channel).to_owned(),
            version: c.version,
            open: matches!(status, ConversationStatus::Active | ConversationStatus::Pending),
            needs_human: c.needs_human,
            deleted: false,
            taken_over_by,
        }
    };
    Some(match envelope.payload.as_ref()? {
        Payload::ConversationCreated(e) => of(e.conversation.as_ref(), None),
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => of(e.conversation.as_ref(), None),
        Payload::MessageCreated(e) => of(e.conversation.as_ref(), None),
        Payload::StatusChanged(e) => of(e.conversation.as_ref(), None),
        Payload::AssignmentChanged(e) => of(e.conversation.as_ref(), None),
        Payload::AiHandoff(e) => {
            let agent = (!e.ai_active).then(|| parse_id(&e.agent_id, "agent id").ok()).flatten();
            of(e.conversation.as_ref(), agent)
        }
        Payload::ConversationDeleted(e) => ConversationFact {
            event_id: envelope.event_id.clone(),
            subject: subject.to_owned(),
            conversation_id: parse_id(&e.conversation_id, "conversation id").unwrap_or_default(),
            channel: String::new(),
            version: i64::MAX,
            open: false,
            needs_human: false,
            deleted: true,
            taken_over_by: None,
        },
        // Routing's own events, channel and delivery payloads, and other services' events.
        _ => return None,
    })
}

fn channel_name(channel: i32) -> &'static str {
    use inbox_proto::common::v1::Channel;
    inbox_bus::subjects::channel_token(Channel::try_from(channel).unwrap_or(Channel::Unspecified))
}

/// Whether an event's id was seen for the first time, or why it could not be decided.
type Outcome = Result<bool, HandlerError>;

/// Decides the conversation service's events in batches.
pub struct DecideRoutingEvents {
    batcher: Batcher<RoutingBatches>,
}

impl DecideRoutingEvents {
    /// Starts deciding at most `max_batch` events per transaction, at most `workers`
    /// transactions at once; the batcher stops when the handler is dropped and the queue is
    /// drained.
    pub fn start(store: RoutingStore, book: AvailabilityBook, workers: usize, max_batch: usize) -> Self {
        Self { batcher: Batcher::start(RoutingBatches { store, book }, workers, max_batch) }
    }
}

/// Decides one batch of events: one transaction per tenant in it.
struct RoutingBatches {
    store: RoutingStore,
    book: AvailabilityBook,
}

impl BatchProcessor for RoutingBatches {
    type Item = (Uuid, ConversationFact);
    type Outcome = Outcome;

    async fn process(&self, items: Vec<(Uuid, ConversationFact)>) -> Vec<Outcome> {
        BATCH_SIZE.observe(items.len() as f64);
        let mut outcomes: Vec<Outcome> =
            items.iter().map(|_| Err(HandlerError::Retry("the batch left the event undecided".into()))).collect();
        let mut by_tenant: BTreeMap<Uuid, (Vec<usize>, Vec<ConversationFact>)> = BTreeMap::new();
        for (i, (tenant, fact)) in items.into_iter().enumerate() {
            let (positions, facts) = by_tenant.entry(tenant).or_default();
            positions.push(i);
            facts.push(fact);
        }
        for (tenant, (positions, facts)) in by_tenant {
            match self.store.apply_facts(tenant, &facts, &self.book).await {
                Ok(report) => {
                    if report.routed > 0 {
                        tracing::debug!(tenant_id = %tenant, routed = report.routed, events = facts.len(), "batch routed");
                    }
                    // A copy delivered into the same batch is a repeat: only the first is new.
                    let mut first_seen = report.first_seen;
                    for (i, fact) in positions.into_iter().zip(&facts) {
                        outcomes[i] = Ok(first_seen.remove(&fact.event_id));
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, error = %e, size = facts.len(), "routing batch failed; its events will be redelivered");
                    for i in positions {
                        outcomes[i] = Err(handler_error(&e));
                    }
                }
            }
        }
        outcomes
    }
}

/// What the consumer does with an event whose batch failed: input the store refuses can never
/// be decided; anything else is tried again.
fn handler_error(e: &StoreError) -> HandlerError {
    match e {
        StoreError::Invalid(_) => HandlerError::Permanent(e.to_string()),
        _ => HandlerError::Retry(e.to_string()),
    }
}

impl MessageHandler for DecideRoutingEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let tenant_id =
            parse_id(&envelope.tenant_id, "tenant id").map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let kind = subjects::event_kind(&delivery.subject, &envelope.tenant_id)
            .ok_or_else(|| {
                HandlerError::Permanent(format!(
                    "subject {:?} is not events.{}.<kind>",
                    delivery.subject, envelope.tenant_id
                ))
            })?
            .to_owned();
        if envelope.event_id.is_empty() {
            return Err(HandlerError::Permanent("envelope without an event id".into()));
        }
        let Some(fact) = fact_of(&delivery.subject, envelope) else {
            return Ok(()); // routing's own events and non-domain payloads
        };
        let first_seen =
            self.batcher.submit((tenant_id, fact)).await.map_err(|e| HandlerError::Retry(e.to_string()))??;
        EVENTS.with_label_values(&[kind.as_str(), if first_seen { "true" } else { "false" }]).inc();
        Ok(())
    }
}
