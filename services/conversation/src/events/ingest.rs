//! Consumer of `ingest.>`: stores each inbound message exactly once.
//!
//! Deliveries are handled concurrently; each hands its message to a batcher
//! (`inbox_bus::Batcher`) and waits for the outcome. A batch is whatever has queued up (at most
//! `max_batch`), stored in one transaction, so under load one commit serves many messages, and
//! an idle system still stores a lone message at once. A delivery is acked only after its batch
//! committed.
//!
//! The batchers are lanes, one transaction at a time each, and a conversation's messages always
//! take the same lane (chosen by the thread's key): two batches of this process never wait on
//! each other's row locks, and one conversation's messages are stored, and their events
//! published, in the order they were pulled.

use std::hash::{Hash, Hasher};

use inbox_bus::{BatchProcessor, Batcher, Delivery, HandlerError, MessageHandler, Payload};
use inbox_proto::ingest::v1::InboundMessage;
use uuid::Uuid;

use super::tenant_of;
use crate::store::{Appended, ConversationStore, StoreError};

type Outcome = Result<Appended, StoreError>;

/// Stores normalised provider messages from channel-ingest, in batches.
pub struct StoreInboundMessages {
    lanes: Vec<Batcher<InboundBatches>>,
}

impl StoreInboundMessages {
    /// Starts `workers` lanes (at least one), so at most `workers` transactions at once, each
    /// storing at most `max_batch` messages; they stop when the handler is dropped and their
    /// queues are drained.
    pub fn start(store: ConversationStore, workers: usize, max_batch: usize) -> Self {
        let lanes = (0..workers.max(1))
            .map(|_| Batcher::start(InboundBatches { store: store.clone() }, 1, max_batch))
            .collect();
        Self { lanes }
    }

    /// The lane of the conversation `inbound` belongs to.
    fn lane(&self, tenant_id: Uuid, inbound: &InboundMessage) -> &Batcher<InboundBatches> {
        let address = inbound.sender.as_ref().map_or("", |s| s.address.as_str());
        let lane =
            lane_of(&(tenant_id, inbound.channel, inbound.channel_account_id.as_str(), address), self.lanes.len());
        &self.lanes[lane]
    }
}

/// Which of `lanes` a thread key takes: the same one every time (a fixed hash, not a random
/// seed per process).
fn lane_of(key: &impl Hash, lanes: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    usize::try_from(hasher.finish() % lanes.max(1) as u64).unwrap_or(0)
}

/// One transaction per batch of inbound messages.
struct InboundBatches {
    store: ConversationStore,
}

impl BatchProcessor for InboundBatches {
    type Item = (Uuid, InboundMessage);
    type Outcome = Outcome;

    async fn process(&self, items: Vec<(Uuid, InboundMessage)>) -> Vec<Outcome> {
        store_batch(&self.store, &items).await
    }
}

/// One transaction for the batch; a transient failure (deadlock, serialization, a lost race,
/// a dropped connection) is retried once. A batch that still fails leaves each of its messages
/// retryable: they are delivered again.
async fn store_batch(store: &ConversationStore, inputs: &[(Uuid, InboundMessage)]) -> Vec<Outcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.append_inbound_batch(inputs).await {
            Ok(outcomes) => return outcomes,
            Err(e) if attempt < 2 && e.is_transient() => {
                tracing::info!(error = %e, size = inputs.len(), "batch conflicted; retrying");
            }
            Err(e) => {
                tracing::warn!(error = %e, size = inputs.len(), "batch failed; its messages will be redelivered");
                let reason = e.to_string();
                return inputs.iter().map(|_| Err(StoreError::Retryable(reason.clone()))).collect();
            }
        }
    }
}

impl MessageHandler for StoreInboundMessages {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = delivery.envelope;
        let tenant_id = tenant_of(&envelope)?;
        let Some(Payload::InboundMessage(inbound)) = envelope.payload else {
            return Err(HandlerError::Permanent("ingest envelope without an InboundMessage".into()));
        };
        if inbound.tenant_id != envelope.tenant_id {
            return Err(HandlerError::Permanent("message tenant differs from envelope tenant".into()));
        }
        let external_id = inbound.external_id.clone();
        let outcome = self
            .lane(tenant_id, &inbound)
            .submit((tenant_id, inbound))
            .await
            .map_err(|stopped| HandlerError::Retry(stopped.to_string()))?;
        match outcome? {
            Appended::Stored { conversation, message, .. } => {
                tracing::debug!(conversation_id = %conversation.id, message_id = %message.id, "inbound message stored");
            }
            Appended::Duplicate => tracing::info!(%external_id, "duplicate inbound message ignored"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_always_takes_the_same_lane_and_threads_spread_over_all_lanes() {
        let tenant = Uuid::from_u128(7);
        let key = |address: &str| (tenant, 1, "acct", address.to_owned());
        assert_eq!(lane_of(&key("+15550001"), 3), lane_of(&key("+15550001"), 3));
        let used: std::collections::HashSet<usize> =
            (0..100).map(|i| lane_of(&key(&format!("+1555{i:04}")), 3)).collect();
        assert_eq!(used.len(), 3, "a hundred customers use every lane");
        assert_eq!(lane_of(&key("+15550001"), 1), 0);
    }
}
