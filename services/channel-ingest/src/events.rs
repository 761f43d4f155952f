//! What channel-ingest consumes from the bus: agents' outbound messages on
//! `outbound.<channel>.>`, read here once, ids parsed, for every channel's deliverer.

use inbox_bus::{Delivery, HandlerError, Payload};
use inbox_proto::conversation::v1::Message;
use inbox_proto::events::v1::OutboundMessage;
use uuid::Uuid;

use crate::ids::parse_id;
use crate::store::NewDelivery;

/// An agent's message to deliver to a customer.
#[derive(Debug, Clone)]
pub struct OutboundReply {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    /// The conversation's channel account, if the event names one.
    pub account_id: Option<Uuid>,
    pub message: Message,
    /// The event as published.
    pub event: OutboundMessage,
}

impl OutboundReply {
    /// The reply `delivery` carries; anything else, or ids that are not ids, is refused for
    /// good (dead-lettered: no retry can fix it).
    pub fn of(delivery: &Delivery) -> Result<Self, HandlerError> {
        let Some(Payload::OutboundMessage(event)) = &delivery.envelope.payload else {
            return Err(HandlerError::Permanent("not an outbound message".into()));
        };
        let message = event
            .message
            .clone()
            .ok_or_else(|| HandlerError::Permanent("outbound message without its message".into()))?;
        Ok(Self {
            tenant_id: parse_id("tenant", &delivery.envelope.tenant_id)?,
            message_id: parse_id("message id", &message.id)?,
            conversation_id: parse_id("conversation id", &message.conversation_id)?,
            account_id: parse_id("channel account id", &event.channel_account_id).ok(),
            message,
            event: event.clone(),
        })
    }

    /// The customer's address on the channel (a WhatsApp id, a web chat visitor id).
    pub fn customer_address(&self) -> &str {
        &self.event.customer_address
    }

    /// The delivery log's row for this reply on `channel`, sent through `account_id`.
    pub fn new_delivery<'a>(&'a self, channel: &'a str, account_id: Option<Uuid>) -> NewDelivery<'a> {
        NewDelivery {
            tenant_id: self.tenant_id,
            message_id: self.message_id,
            conversation_id: self.conversation_id,
            account_id,
            channel,
            recipient: self.customer_address(),
        }
    }
}

#[cfg(test)]
mod tests {
    use inbox_bus::new_envelope;

    use super::*;

    fn delivery(tenant: &str, message_id: &str) -> Delivery {
        let event = OutboundMessage {
            message: Some(Message {
                id: message_id.into(),
                conversation_id: Uuid::now_v7().to_string(),
                ..Default::default()
            }),
            channel_account_id: String::new(),
            customer_address: "16505551234".into(),
            last_customer_message_at: None,
        };
        Delivery {
            subject: "outbound.whatsapp.t".into(),
            envelope: new_envelope("e", tenant, Payload::OutboundMessage(event)),
            delivered: 1,
            stream_sequence: 1,
        }
    }

    #[test]
    fn a_reply_is_read_with_its_ids_and_a_malformed_one_is_refused_for_good() {
        let (tenant, message) = (Uuid::now_v7(), Uuid::now_v7());
        let reply = OutboundReply::of(&delivery(&tenant.to_string(), &message.to_string())).unwrap();
        assert_eq!((reply.tenant_id, reply.message_id, reply.account_id), (tenant, message, None));
        assert_eq!(reply.new_delivery("whatsapp", None).recipient, "16505551234");
        let refused = OutboundReply::of(&delivery(&tenant.to_string(), "m-1")).unwrap_err();
        assert!(matches!(refused, HandlerError::Permanent(ref why) if why.contains("message id")), "{refused:?}");
    }
}
