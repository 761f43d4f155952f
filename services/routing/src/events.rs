//! Consumer of `events.>` (durable `routing`): the conversation service's events, decided in
//! batches.
//!
//! Deliveries are handled concurrently; each hands its fact to a batcher and waits for the
//! outcome. Batch workers take whatever has queued up (at most `max_batch`) and decide it in one
//! transaction per tenant, so under load one commit serves hundreds of events and an idle
//! system still decides a lone event at once. A delivery is acked only after its batch
//! committed; a redelivered one is recognised by its id in the same transaction.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use inbox_bus::{Delivery, Envelope, HandlerError, MessageHandler, Payload, subjects};
use inbox_proto::conversation::v1::{Conversation, ConversationStatus};
use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::availability::AvailabilityBook;
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
            conversation_id: Uuid::parse_str(&c.id).unwrap_or_default(),
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
            let agent = (!e.ai_active).then(|| Uuid::parse_str(&e.agent_id).ok()).flatten();
            of(e.conversation.as_ref(), agent)
        }
        Payload::ConversationDeleted(e) => ConversationFact {
            event_id: envelope.event_id.clone(),
            subject: subject.to_owned(),
            conversation_id: Uuid::parse_str(&e.conversation_id).unwrap_or_default(),
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

type Outcome = Result<bool, String>;
type Job = (Uuid, ConversationFact, oneshot::Sender<Outcome>);

/// Decides the conversation service's events in batches.
pub struct DecideRoutingEvents {
    jobs: mpsc::Sender<Job>,
}

impl DecideRoutingEvents {
    /// Starts `workers` batch workers deciding at most `max_batch` events per transaction; they
    /// stop when the handler is dropped and the queue is drained.
    pub fn start(store: RoutingStore, book: AvailabilityBook, workers: usize, max_batch: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(max_batch * workers.max(1) * 2);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.max(1) {
            tokio::spawn(run_batch_worker(store.clone(), book.clone(), queue.clone(), max_batch.max(1)));
        }
        Self { jobs }
    }
}

async fn run_batch_worker(
    store: RoutingStore,
    book: AvailabilityBook,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    max_batch: usize,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        BATCH_SIZE.observe(batch.len() as f64);
        let mut by_tenant: BTreeMap<Uuid, Vec<(ConversationFact, oneshot::Sender<Outcome>)>> = BTreeMap::new();
        for (tenant, fact, reply) in batch.drain(..) {
            by_tenant.entry(tenant).or_default().push((fact, reply));
        }
        for (tenant, jobs) in by_tenant {
            let (facts, replies): (Vec<ConversationFact>, Vec<oneshot::Sender<Outcome>>) = jobs.into_iter().unzip();
            match store.apply_facts(tenant, &facts, &book).await {
                Ok(report) => {
                    if report.routed > 0 {
                        tracing::debug!(tenant_id = %tenant, routed = report.routed, events = facts.len(), "batch routed");
                    }
                    // A copy delivered into the same batch is a repeat: only the first is new.
                    let mut first_seen = report.first_seen;
                    for (fact, reply) in facts.iter().zip(replies) {
                        let _ = reply.send(Ok(first_seen.remove(&fact.event_id)));
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, error = %e, size = facts.len(), "routing batch failed; its events will be redelivered");
                    let permanent = matches!(e, StoreError::Invalid(_));
                    for reply in replies {
                        let _ = reply.send(Err(if permanent { format!("permanent: {e}") } else { e.to_string() }));
                    }
                }
            }
        }
    }
}

impl MessageHandler for DecideRoutingEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
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
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send((tenant_id, fact, reply))
            .await
            .map_err(|_| HandlerError::Retry("the batcher has stopped".into()))?;
        let first_seen = outcome
            .await
            .map_err(|_| HandlerError::Retry("the batcher dropped the event".into()))?
            .map_err(|e| match e.strip_prefix("permanent: ") {
                Some(reason) => HandlerError::Permanent(reason.to_owned()),
                None => HandlerError::Retry(e),
            })?;
        EVENTS.with_label_values(&[kind.as_str(), if first_seen { "true" } else { "false" }]).inc();
        Ok(())
    }
}
