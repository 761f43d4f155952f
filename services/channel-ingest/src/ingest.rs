//! From a verified, archived payload to messages on `ingest.<channel>.<tenant>`.

use inbox_bus::{Bus, BusError, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use uuid::Uuid;

use crate::store::ChannelAccount;
use crate::whatsapp::normalise::inbound_messages;
use crate::whatsapp::payload::WebhookPayload;

/// Publishes the customer messages of `payload` that belong to `account`, tagged with the
/// archive id, and waits for JetStream's acks. The event id is derived from the provider's
/// message id, so a retried webhook (or a replay) publishes the same ids and JetStream drops
/// copies inside its duplicate window; the conversation service drops later ones.
pub async fn publish_whatsapp_messages(
    bus: &Bus,
    account: &ChannelAccount,
    raw_payload_id: Uuid,
    payload: &WebhookPayload,
) -> Result<usize, BusError> {
    let tenant = account.tenant_id.to_string();
    let batch: Vec<_> = inbound_messages(payload)
        .into_iter()
        .filter(|n| n.phone_number_id == account.external_id)
        .map(|n| {
            let mut message = n.message;
            message.tenant_id = tenant.clone();
            message.channel_account_id = account.id.to_string();
            message.raw_payload_id = raw_payload_id.to_string();
            let event_id = format!("whatsapp:{}:{}", account.tenant_id, message.external_id);
            (
                subjects::ingest(Channel::Whatsapp, &tenant),
                new_envelope(event_id, &tenant, Payload::InboundMessage(message)),
            )
        })
        .collect();
    bus.publish_all(&batch).await?;
    Ok(batch.len())
}
