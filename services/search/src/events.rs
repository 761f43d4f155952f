//! Consumer of `events.>` (durable `search-<replica>`): the conversation service's events,
//! indexed in batches.
//!
//! Deliveries are handled concurrently; each hands what it changes to the shared batcher and
//! waits. A batch is whatever has queued up (at most `max_batch`): the customer profiles it
//! needs are read from the conversation service, then everything is written in one index
//! commit. A delivery is acked only after the commit that holds it; a repeat changes nothing
//! (documents are keyed by id, conversations and customers carry versions).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use inbox_bus::{BatchProcessor, Batcher, Delivery, Envelope, HandlerError, MessageHandler, Payload, subjects};
use inbox_telemetry::prometheus::{Histogram, IntCounterVec, register_histogram, register_int_counter_vec};
use uuid::Uuid;

use crate::documents::{ConversationDoc, MessageDoc, Unindexable};
use crate::error::SearchError;
use crate::index::SearchIndex;
use crate::index::writer::Change;
use crate::peers::Peers;
use crate::rebuild::Rebuilds;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("inbox_search_events_total", "Events consumed by search, by kind.", &["kind"])
        .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static BATCH_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_search_batch_events",
        "Events indexed per index commit.",
        vec![1.0, 4.0, 16.0, 64.0, 256.0, 512.0, 1024.0, 4096.0]
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "inbox_search_commit_seconds",
        "Time to write and commit one batch.",
        vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    )
    .expect("metric registers once")
});

/// Deliveries of a customer update that wait for the customer's profile (the bus retries
/// after 1 s, then 5 s); the last one indexes the conversation without it.
const PROFILE_ATTEMPTS: i64 = 3;

/// What one event asks of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexing {
    pub tenant: Uuid,
    pub changes: Vec<Change>,
    /// The customer's profile changed (`conversation.customer_updated`): read it again, and
    /// check whether the conversation's previous customer was merged away.
    pub refresh_customer: Option<(Uuid, Uuid)>,
    /// A rebuild of the tenant was asked for.
    pub reindex: bool,
    /// Which delivery of the event this is (1 for the first).
    pub attempt: i64,
}

/// What the index does with an event; `None` for events search ignores (availability,
/// deliveries, typing, other services' own events).
pub fn indexing_of(kind: &str, envelope: &Envelope) -> Result<Option<Indexing>, Unindexable> {
    let tenant = Uuid::parse_str(&envelope.tenant_id)
        .map_err(|_| Unindexable(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
    let conversation =
        |c: Option<&inbox_proto::conversation::v1::Conversation>| -> Result<ConversationDoc, Unindexable> {
            let c = c.ok_or_else(|| Unindexable("event without its conversation".into()))?;
            let doc = ConversationDoc::from_proto(c)?;
            if doc.tenant != tenant {
                return Err(Unindexable(format!("conversation {} is not of tenant {tenant}", doc.id)));
            }
            Ok(doc)
        };
    let mut indexing = Indexing { tenant, changes: vec![], refresh_customer: None, reindex: false, attempt: 1 };
    let Some(payload) = envelope.payload.as_ref() else { return Ok(None) };
    match payload {
        Payload::ConversationCreated(e) => {
            indexing.changes.push(Change::Conversation(conversation(e.conversation.as_ref())?))
        }
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => {
            let doc = conversation(e.conversation.as_ref())?;
            if kind == "conversation.customer_updated"
                && let Some(contact) = &doc.contact
            {
                indexing.refresh_customer = Some((doc.id, contact.id));
            }
            indexing.changes.push(Change::Conversation(doc));
        }
        Payload::StatusChanged(e) => {
            indexing.changes.push(Change::Conversation(conversation(e.conversation.as_ref())?))
        }
        Payload::AssignmentChanged(e) => {
            indexing.changes.push(Change::Conversation(conversation(e.conversation.as_ref())?))
        }
        Payload::AiHandoff(e) => indexing.changes.push(Change::Conversation(conversation(e.conversation.as_ref())?)),
        Payload::MessageCreated(e) => {
            let message = MessageDoc::from_proto(
                e.message.as_ref().ok_or_else(|| Unindexable("message.created without its message".into()))?,
            )?;
            if message.tenant != tenant {
                return Err(Unindexable(format!("message {} is not of tenant {tenant}", message.id)));
            }
            let conversation = conversation(e.conversation.as_ref())?;
            indexing.changes.push(Change::Message { message, conversation });
        }
        Payload::ConversationDeleted(e) => {
            let id = Uuid::parse_str(&e.conversation_id)
                .map_err(|_| Unindexable(format!("conversation id {:?} is not a uuid", e.conversation_id)))?;
            indexing.changes.push(Change::ConversationDeleted { tenant, id });
        }
        Payload::SearchReindexRequested(_) => indexing.reindex = true,
        _ => return Ok(None),
    }
    Ok(Some(indexing))
}

/// Indexes events in batches.
pub struct IndexEvents {
    batcher: Batcher<IndexBatches>,
}

impl IndexEvents {
    /// Starts indexing at most `max_batch` events per commit, one commit at a time.
    pub fn start(index: Arc<SearchIndex>, peers: Arc<Peers>, rebuilds: Arc<Rebuilds>, max_batch: usize) -> Self {
        Self { batcher: Batcher::start(IndexBatches { index, peers, rebuilds }, 1, max_batch) }
    }
}

impl MessageHandler for IndexEvents {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = &delivery.envelope;
        let kind = subjects::event_kind(&delivery.subject, &envelope.tenant_id).ok_or_else(|| {
            HandlerError::Permanent(format!(
                "subject {:?} is not events.{}.<kind>",
                delivery.subject, envelope.tenant_id
            ))
        })?;
        EVENTS.with_label_values(&[kind]).inc();
        let Some(mut indexing) = indexing_of(kind, envelope).map_err(|e| HandlerError::Permanent(e.to_string()))?
        else {
            return Ok(());
        };
        indexing.attempt = delivery.delivered;
        self.batcher.submit(indexing).await.map_err(|e| HandlerError::Retry(e.to_string()))?
    }
}

struct IndexBatches {
    index: Arc<SearchIndex>,
    peers: Arc<Peers>,
    rebuilds: Arc<Rebuilds>,
}

impl BatchProcessor for IndexBatches {
    type Item = Indexing;
    type Outcome = Result<(), HandlerError>;

    async fn process(&self, items: Vec<Indexing>) -> Vec<Result<(), HandlerError>> {
        BATCH_SIZE.observe(items.len() as f64);
        let mut outcomes: Vec<Result<(), HandlerError>> = items.iter().map(|_| Ok(())).collect();
        let extra = self.customer_changes(&items, &mut outcomes).await;
        let mut changes = Vec::new();
        let mut events = 0u64;
        for (item, outcome) in items.iter().zip(&outcomes) {
            if outcome.is_ok() {
                changes.extend(item.changes.iter().cloned());
                events += 1;
            }
        }
        changes.extend(extra);
        let index = self.index.clone();
        let started = std::time::Instant::now();
        let applied = tokio::task::spawn_blocking(move || index.apply(&changes, events)).await;
        COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        tracing::debug!(events, elapsed_ms = started.elapsed().as_millis() as u64, "batch applied");
        match applied {
            Ok(Ok(applied)) => {
                for tenant in applied.new_tenants {
                    // An index created empty has not seen these tenants' history.
                    if self.index.bootstrapping() {
                        self.rebuilds.request(tenant);
                    }
                }
                for item in items.iter().zip(&outcomes).filter(|(i, o)| i.reindex && o.is_ok()).map(|(i, _)| i) {
                    self.rebuilds.request(item.tenant);
                }
                outcomes
            }
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => String::new(),
                };
                tracing::warn!(error = %reason, size = items.len(), "index batch failed; its events will be redelivered");
                items.iter().map(|_| Err(HandlerError::Retry(reason.clone()))).collect()
            }
        }
    }
}

impl IndexBatches {
    /// Reads the profiles of customers whose profile changed, and detects customers merged
    /// away; an item whose profile cannot be read is retried later.
    async fn customer_changes(&self, items: &[Indexing], outcomes: &mut [Result<(), HandlerError>]) -> Vec<Change> {
        let mut wanted: HashMap<(Uuid, Uuid), Vec<usize>> = HashMap::new();
        {
            let tables = self.index.tables();
            for (i, item) in items.iter().enumerate() {
                let Some((conversation, contact)) = item.refresh_customer else { continue };
                wanted.entry((item.tenant, contact)).or_default().push(i);
                // The conversation moved to another customer: the former one may be merged away.
                if let Some(previous) = tables.conversation(&conversation).and_then(|c| c.contact)
                    && previous != contact
                {
                    wanted.entry((item.tenant, previous)).or_default().push(i);
                }
            }
        }
        let fetched = futures::future::join_all(wanted.into_iter().map(|((tenant, id), positions)| async move {
            (tenant, id, positions, self.peers.customer(tenant, id).await)
        }))
        .await;
        let mut changes = Vec::new();
        for (tenant, id, positions, outcome) in fetched {
            match outcome {
                Ok(Some(profile)) if profile.tenant == tenant => changes.push(Change::Customer(profile)),
                Ok(Some(_)) => tracing::error!(tenant_id = %tenant, customer_id = %id, "profile of another tenant"),
                Ok(None) => changes.push(Change::CustomerGone { tenant, id }),
                Err(e) => {
                    let reason = format!("customer profile {id}: {e}");
                    for i in positions {
                        // The conversation itself is indexed at the last attempt; the profile
                        // waits for its next change or a reindex.
                        if items[i].attempt >= PROFILE_ATTEMPTS {
                            tracing::error!(tenant_id = %tenant, error = %reason, "profile unreadable; indexed without it");
                        } else {
                            tracing::warn!(tenant_id = %tenant, error = %reason, "profile unreadable; the event will be redelivered");
                            outcomes[i] = Err(HandlerError::Retry(reason.clone()));
                        }
                    }
                }
            }
        }
        changes
    }
}

impl From<SearchError> for HandlerError {
    fn from(e: SearchError) -> Self {
        HandlerError::Retry(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use inbox_proto::conversation::v1 as pb;
    use inbox_proto::events::v1::{ConversationDeleted, ConversationUpdated, MessageCreated};

    use super::*;

    fn conversation(tenant: Uuid) -> pb::Conversation {
        pb::Conversation {
            id: Uuid::now_v7().to_string(),
            tenant_id: tenant.to_string(),
            contact: Some(pb::Contact { id: Uuid::now_v7().to_string(), ..Default::default() }),
            version: 2,
            ..Default::default()
        }
    }

    fn envelope(tenant: Uuid, payload: Payload) -> Envelope {
        inbox_bus::new_envelope(Uuid::now_v7().to_string(), tenant.to_string(), payload)
    }

    #[test]
    fn a_customer_update_asks_for_the_profile_and_other_updates_do_not() {
        let tenant = Uuid::now_v7();
        let c = conversation(tenant);
        let e = envelope(tenant, Payload::ConversationUpdated(ConversationUpdated { conversation: Some(c.clone()) }));
        let indexing = indexing_of("conversation.customer_updated", &e).unwrap().unwrap();
        assert!(indexing.refresh_customer.is_some());
        let indexing = indexing_of("conversation.needs_human", &e).unwrap().unwrap();
        assert_eq!(indexing.refresh_customer, None);
        assert_eq!(indexing.changes.len(), 1);
    }

    #[test]
    fn events_of_another_tenant_and_malformed_ids_are_refused() {
        let (tenant, other) = (Uuid::now_v7(), Uuid::now_v7());
        let e = envelope(
            tenant,
            Payload::ConversationUpdated(ConversationUpdated { conversation: Some(conversation(other)) }),
        );
        assert!(indexing_of("conversation.updated", &e).is_err());
        let e = envelope(tenant, Payload::ConversationDeleted(ConversationDeleted { conversation_id: "nope".into() }));
        assert!(indexing_of("conversation.deleted", &e).is_err());
        let e = envelope(tenant, Payload::MessageCreated(MessageCreated { message: None, conversation: None }));
        assert!(indexing_of("message.created", &e).is_err());
    }

    #[test]
    fn events_search_does_not_index_are_ignored() {
        let tenant = Uuid::now_v7();
        let e = envelope(tenant, Payload::AgentAvailabilityChanged(Default::default()));
        assert_eq!(indexing_of("routing.availability_changed", &e).unwrap(), None);
    }
}
