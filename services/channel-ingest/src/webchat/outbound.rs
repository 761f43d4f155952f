//! Agents' replies to web chat visitors: consumes `outbound.webchat.>` (one durable consumer
//! shared by the replicas), stores the reply in the visitor's history once per message id,
//! marks the delivery accepted, then publishes it on the visitor's core NATS subject so the
//! replica holding their socket pushes it (and marks it delivered).

use std::sync::Arc;
use std::time::Duration;

use inbox_bus::{Delivery, HandlerError, MessageHandler, Payload, new_envelope};
use prost::Message;
use uuid::Uuid;

use super::hub::visitor_text;
use crate::events::OutboundReply;
use crate::ids::parse_id;
use crate::ingest::announce_deliveries;
use crate::store::{Claim, DeliveryFailure, DeliveryRow, DeliveryState, IngestStore};

/// The durable consumer replicas share.
pub const CONSUMER: &str = "channel-ingest-webchat";
/// How long a replica may hold a delivery: a few database writes and one publish.
const LEASE: Duration = Duration::from_secs(30);

pub struct WebchatDeliverer {
    pub store: IngestStore,
    pub bus: inbox_bus::Bus,
    pub replica: Uuid,
}

impl WebchatDeliverer {
    async fn announce(&self, row: Option<DeliveryRow>) -> Result<(), HandlerError> {
        let Some(row) = row else { return Ok(()) };
        announce_deliveries(&self.bus, &[row]).await.map_err(|e| HandlerError::Retry(e.to_string()))
    }

    async fn fail(&self, tenant_id: Uuid, message_id: Uuid, title: &str, details: &str) -> Result<(), HandlerError> {
        tracing::warn!(%message_id, title, "web chat delivery failed");
        let failure = DeliveryFailure { code: 0, title: title.to_owned(), details: details.to_owned() };
        let row = self.store.record_failed(tenant_id, message_id, &failure).await?;
        self.announce(row).await
    }
}

impl MessageHandler for WebchatDeliverer {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let reply = OutboundReply::of(&delivery)?;
        let (tenant_id, message_id) = (reply.tenant_id, reply.message_id);
        if reply.message.internal_note {
            return Ok(());
        }
        let new = reply.new_delivery("webchat", reply.account_id);
        match self.store.claim_delivery(&new, self.replica, LEASE).await? {
            Claim::Finished(row) | Claim::Interrupted(row) => return self.announce(Some(row)).await,
            Claim::HeldElsewhere => return Err(HandlerError::Retry("another replica is delivering it".into())),
            Claim::Granted(_) => {}
        }
        let visitor = match (reply.account_id, parse_id("customer address", reply.customer_address()).ok()) {
            (Some(account), Some(visitor)) => self.store.visitor_of_tenant(tenant_id, account, visitor).await?,
            _ => None,
        };
        let Some(visitor) = visitor else {
            return self.fail(tenant_id, message_id, "visitor_missing", "the web chat visitor is unknown").await;
        };
        let Some(text) = reply.message.content.as_ref().and_then(|c| c.kind.as_ref()).and_then(visitor_text) else {
            return self
                .fail(tenant_id, message_id, "unsupported_content", "web chat shows text (and media by URL) only")
                .await;
        };
        let sent_at = reply.message.sent_at.as_ref().and_then(inbox_proto::timestamp_to_utc);
        self.store.store_agent_message(tenant_id, visitor.id, message_id, &text, sent_at).await?;
        let row = self.store.advance_webchat_delivery(tenant_id, message_id, DeliveryState::Accepted).await?;
        self.announce(row).await?;

        let tenant = tenant_id.to_string();
        let envelope =
            new_envelope(format!("webchat-reply:{message_id}"), &tenant, Payload::OutboundMessage(reply.event));
        let subject = inbox_bus::subjects::webchat_visitor(&tenant, &visitor.id.to_string());
        // Core NATS: a visitor with no open socket simply gets it from history next time.
        if let Err(e) = self.bus.client().publish(subject, envelope.encode_to_vec().into()).await {
            tracing::warn!(error = %e, %message_id, "reply stored but not pushed live");
        }
        tracing::info!(%message_id, conversation_id = %reply.conversation_id, "web chat reply delivered to the visitor's history");
        Ok(())
    }
}

/// Starts the consumer of `outbound.webchat.>` until `shutdown`.
pub fn spawn_webchat_deliverer(
    deliverer: WebchatDeliverer,
    bus: inbox_bus::Bus,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut spec = inbox_bus::ConsumerSpec::new(inbox_bus::Stream::Outbound, CONSUMER, "outbound.webchat.>");
    spec.concurrency = 16;
    spec.ack_wait = LEASE + Duration::from_secs(5);
    tokio::spawn(inbox_bus::run_consumer(bus, spec, Arc::new(deliverer), shutdown))
}
