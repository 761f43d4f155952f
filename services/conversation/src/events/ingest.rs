//! Consumer of `ingest.>`: stores each inbound message exactly once.

use inbox_bus::{Delivery, HandlerError, MessageHandler, Payload};
use uuid::Uuid;

use crate::store::{Appended, ConversationStore, StoreError};

/// Stores normalised provider messages from channel-ingest.
pub struct StoreInboundMessages {
    pub store: ConversationStore,
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
        match self.store.append_inbound_message(tenant_id, &inbound).await {
            Ok(Appended::Stored { conversation, message, .. }) => {
                tracing::info!(conversation_id = %conversation.id, message_id = %message.id, "inbound message stored");
                Ok(())
            }
            Ok(Appended::Duplicate) => {
                tracing::info!(external_id = %inbound.external_id, "duplicate inbound message ignored");
                Ok(())
            }
            Err(StoreError::Invalid(reason) | StoreError::Conflict(reason)) => Err(HandlerError::Permanent(reason)),
            Err(StoreError::Database(e)) => Err(HandlerError::Retry(e.to_string())),
        }
    }
}
