//! Consumer of `ingest.>`: stores each inbound message exactly once.
//!
//! Deliveries are handled concurrently; each hands its message to the shared batcher
//! (`inbox_bus::Batcher`) and waits for the outcome. A batch is whatever has queued up (at most
//! `max_batch`), stored in one transaction, so under load one commit serves many messages, and
//! an idle system still stores a lone message at once. A delivery is acked only after its batch
//! committed.

use inbox_bus::{BatchProcessor, Batcher, Delivery, HandlerError, MessageHandler, Payload};
use inbox_proto::ingest::v1::InboundMessage;
use uuid::Uuid;

use super::tenant_of;
use crate::store::{Appended, ConversationStore, StoreError};

type Outcome = Result<Appended, StoreError>;

/// Stores normalised provider messages from channel-ingest, in batches.
pub struct StoreInboundMessages {
    batcher: Batcher<InboundBatches>,
}

impl StoreInboundMessages {
    /// Starts the batcher: at most `workers` transactions at once, each storing at most
    /// `max_batch` messages; it stops when the handler is dropped and the queue is drained.
    pub fn start(store: ConversationStore, workers: usize, max_batch: usize) -> Self {
        Self { batcher: Batcher::start(InboundBatches { store }, workers, max_batch) }
    }
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
            .batcher
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
