//! From a verified, archived payload to the bus: customer messages on
//! `ingest.<channel>.<tenant>`, status updates applied to the delivery log and announced on
//! `events.<tenant>.message.delivery_updated`. Used by the webhook and by replay alike.

use chrono::{DateTime, Utc};
use inbox_bus::{Bus, BusError, Payload, new_envelope, subjects};
use inbox_proto::common::v1::Channel;
use uuid::Uuid;

use crate::store::{
    ChannelAccount, DeliveryFailure, DeliveryRow, DeliveryState, IngestStore, StatusRecord, StoreError,
};
use crate::twilio::callback::{Callback, CallbackKind};
use crate::whatsapp::normalise::{inbound_messages, status_updates};
use crate::whatsapp::payload::WebhookPayload;

/// The event kind of a delivery change.
pub const DELIVERY_UPDATED: &str = "message.delivery_updated";

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What processing one payload for one account did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Processed {
    pub messages: usize,
    pub statuses: usize,
}

/// Publishes the payload's customer messages for `account` and applies its status updates
/// (a status Meta did not date is dated `received_at`, when the payload arrived); returns once
/// JetStream acked everything. Safe to repeat at any delay: event ids derive from provider ids,
/// the conversation service stores a provider message once, a status is remembered once and
/// only moves a delivery forward.
pub async fn process_whatsapp_payload(
    store: &IngestStore,
    bus: &Bus,
    account: &ChannelAccount,
    raw_payload_id: Uuid,
    payload: &WebhookPayload,
    received_at: DateTime<Utc>,
) -> Result<Processed, ProcessError> {
    let messages = publish_whatsapp_messages(bus, account, raw_payload_id, payload).await?;
    let statuses: Vec<StatusRecord> = status_updates(payload)
        .into_iter()
        .filter(|(number, _)| *number == account.external_id)
        .filter_map(|(_, update)| {
            let state = match update.status.as_str() {
                "sent" => DeliveryState::Sent,
                "delivered" => DeliveryState::Delivered,
                "read" => DeliveryState::Read,
                "failed" => DeliveryState::Failed,
                // `deleted`, `warning` and future kinds do not move a delivery.
                _ => return None,
            };
            let failure = update.errors.first().map(|e| DeliveryFailure {
                code: e.code,
                title: e.title.clone(),
                details: e.details(),
            });
            Some(StatusRecord {
                external_id: update.id,
                state,
                occurred_at: update
                    .timestamp
                    .parse::<i64>()
                    .ok()
                    .and_then(|s| DateTime::from_timestamp(s, 0))
                    .unwrap_or(received_at),
                failure: if state == DeliveryState::Failed { Some(failure.unwrap_or_default()) } else { None },
            })
        })
        .collect();
    let status_count = statuses.len();
    if !statuses.is_empty() {
        let deliveries = store.apply_statuses(account.tenant_id, account.id, &statuses).await?;
        announce_deliveries(bus, &deliveries).await?;
    }
    Ok(Processed { messages, statuses: status_count })
}

/// Publishes the current state of each delivery as `message.delivery_updated`. The event id
/// names the state, so announcing the same state again (a retried webhook, a redelivered
/// send) collapses in JetStream's window and is harmless beyond it.
pub async fn announce_deliveries(bus: &Bus, deliveries: &[DeliveryRow]) -> Result<(), BusError> {
    let batch: Vec<_> = deliveries
        .iter()
        .map(|d| {
            let tenant = d.tenant_id.to_string();
            (
                subjects::event(&tenant, DELIVERY_UPDATED),
                new_envelope(
                    format!("delivery:{}:{}:{}", d.tenant_id, d.message_id, d.state),
                    &tenant,
                    Payload::DeliveryUpdated(d.to_proto()),
                ),
            )
        })
        .collect();
    if batch.is_empty() {
        return Ok(());
    }
    bus.publish_all(&batch).await.map(|_| ())
}

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
    if batch.is_empty() {
        return Ok(0);
    }
    bus.publish_all(&batch).await?;
    Ok(batch.len())
}

/// The archived form of a Twilio callback: the path and query Twilio called (they say which
/// callback it is and, for recordings, whose call) and the form body, as received.
pub fn twilio_archive_body(path_and_query: &str, form: &[u8]) -> Vec<u8> {
    serde_json::json!({"uri": path_and_query, "form": String::from_utf8_lossy(form)}).to_string().into_bytes()
}

/// A Twilio callback back from the archive; `None` when it no longer parses.
pub fn twilio_from_archive(body: &[u8]) -> Option<Callback> {
    #[derive(serde::Deserialize)]
    struct Archived {
        uri: String,
        form: String,
    }
    let archived: Archived = serde_json::from_slice(body).ok()?;
    let uri: axum::http::Uri = archived.uri.parse().ok()?;
    let kind = CallbackKind::of_path(uri.path())?;
    Callback::parse(kind, uri.query(), archived.form.as_bytes()).ok()
}

/// Publishes the call item of a verified Twilio callback for `account`, received at
/// `received_at`, and waits for JetStream's ack; returns how many items (0 or 1). The event id derives from the item's
/// deterministic external id (`call:<CallSid>:<event>`, `recording:<RecordingSid>`,
/// `transcription:<TranscriptionSid>`), so a retried callback, a second replica or a replay
/// publishes the same id; the conversation service stores it once per tenant.
pub async fn publish_twilio_callback(
    bus: &Bus,
    account: &ChannelAccount,
    raw_payload_id: Uuid,
    callback: &Callback,
    received_at: DateTime<Utc>,
) -> Result<usize, BusError> {
    let Some(mut message) = callback.inbound_message(received_at) else { return Ok(0) };
    let tenant = account.tenant_id.to_string();
    message.tenant_id = tenant.clone();
    message.channel_account_id = account.id.to_string();
    message.raw_payload_id = raw_payload_id.to_string();
    let event_id = format!("telephony:{}:{}", account.tenant_id, message.external_id);
    bus.publish_all(&[(
        subjects::ingest(Channel::Telephony, &tenant),
        new_envelope(event_id, &tenant, Payload::InboundMessage(message)),
    )])
    .await?;
    Ok(1)
}
