//! Consumer of `ingest.>`: stores each inbound message exactly once.
//!
//! Deliveries are handled concurrently; each hands its message to a batcher and waits for
//! the outcome. Batch workers take whatever has queued up (at most `max_batch`) and store it
//! in one transaction, so under load one commit serves many messages, and an idle system
//! still stores a lone message at once. A delivery is acked only after its batch committed.

use std::sync::Arc;

use inbox_bus::{Delivery, HandlerError, MessageHandler, Payload};
use inbox_proto::ingest::v1::InboundMessage;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::store::{Appended, ConversationStore, StoreError};

type Outcome = Result<Appended, StoreError>;
type Job = (Uuid, InboundMessage, oneshot::Sender<Outcome>);

/// Stores normalised provider messages from channel-ingest, in batches.
pub struct StoreInboundMessages {
    jobs: mpsc::Sender<Job>,
}

impl StoreInboundMessages {
    /// Starts `workers` batch workers storing at most `max_batch` messages per transaction;
    /// they stop when the handler is dropped and the queue is drained.
    pub fn start(store: ConversationStore, workers: usize, max_batch: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(max_batch * workers.max(1) * 2);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..workers.max(1) {
            tokio::spawn(run_batch_worker(store.clone(), queue.clone(), max_batch.max(1)));
        }
        Self { jobs }
    }
}

async fn run_batch_worker(store: ConversationStore, queue: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    loop {
        {
            let mut queue = queue.lock().await;
            if queue.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        let jobs = std::mem::take(&mut batch);
        let (inputs, replies): (Vec<(Uuid, InboundMessage)>, Vec<oneshot::Sender<Outcome>>) =
            jobs.into_iter().map(|(tenant, message, reply)| ((tenant, message), reply)).unzip();
        let outcomes = store_batch(&store, &inputs).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // The delivery may have timed out and gone; it will be redelivered.
            let _ = reply.send(outcome);
        }
    }
}

/// One transaction for the batch; a deadlock or serialization failure is retried once.
async fn store_batch(store: &ConversationStore, inputs: &[(Uuid, InboundMessage)]) -> Vec<Outcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.append_inbound_batch(inputs).await {
            Ok(outcomes) => return outcomes,
            Err(StoreError::Database(e)) if attempt < 2 && is_transient(&e) => {
                tracing::info!(error = %e, size = inputs.len(), "batch conflicted; retrying");
            }
            Err(e) => {
                tracing::warn!(error = %e, size = inputs.len(), "batch failed; its messages will be redelivered");
                let reason = e.to_string();
                return inputs
                    .iter()
                    .map(|_| Err(StoreError::Database(sqlx::Error::Protocol(reason.clone()))))
                    .collect();
            }
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40P01" || code == "40001")
}

impl MessageHandler for StoreInboundMessages {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = delivery.envelope;
        let Some(Payload::InboundMessage(inbound)) = envelope.payload else {
            return Err(HandlerError::Permanent("ingest envelope without an InboundMessage".into()));
        };
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| HandlerError::Permanent(format!("tenant id {:?} is not a uuid", envelope.tenant_id)))?;
        if inbound.tenant_id != envelope.tenant_id {
            return Err(HandlerError::Permanent("message tenant differs from envelope tenant".into()));
        }
        let external_id = inbound.external_id.clone();
        let (reply, outcome) = oneshot::channel();
        self.jobs
            .send((tenant_id, inbound, reply))
            .await
            .map_err(|_| HandlerError::Retry("the batcher has stopped".into()))?;
        match outcome.await.map_err(|_| HandlerError::Retry("the batcher dropped the message".into()))? {
            Ok(Appended::Stored { conversation, message, .. }) => {
                tracing::debug!(conversation_id = %conversation.id, message_id = %message.id, "inbound message stored");
                Ok(())
            }
            Ok(Appended::Duplicate) => {
                tracing::info!(%external_id, "duplicate inbound message ignored");
                Ok(())
            }
            Err(StoreError::Invalid(reason) | StoreError::Conflict(reason)) => Err(HandlerError::Permanent(reason)),
            Err(StoreError::Database(e)) => Err(HandlerError::Retry(e.to_string())),
        }
    }
}
