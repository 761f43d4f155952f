//! Replay of archived raw payloads, one path for every channel: a payload is read back as its
//! channel archived it and published again exactly as when it arrived, under the same event
//! ids, so a replay stores nothing twice however often it runs. What the payload does not date
//! itself is dated when it was received, not when it is replayed.

use inbox_bus::Bus;

use crate::ingest::{ProcessError, Processed, process_whatsapp_payload, publish_twilio_callback, twilio_from_archive};
use crate::store::{ArchivedPayload, ChannelAccount, IngestStore};
use crate::webchat::publication::publication;
use crate::webchat::visitor_input::MessageInput;
use crate::whatsapp::payload::WebhookPayload;

/// Publishes again what `payload`, archived for `account`, carried; returns once JetStream
/// acked it all. `None` when the payload no longer reads as its channel's (logged, skipped).
pub async fn replay_archived(
    store: &IngestStore,
    bus: &Bus,
    account: &ChannelAccount,
    payload: &ArchivedPayload,
) -> Result<Option<Processed>, ProcessError> {
    let unreadable = |reason: &dyn std::fmt::Display| {
        tracing::warn!(raw_payload_id = %payload.id, channel = %account.channel, %reason, "archived payload no longer reads; skipped");
        Ok(None)
    };
    match account.channel.as_str() {
        "whatsapp" => match WebhookPayload::parse(&payload.body) {
            Ok(parsed) => {
                Ok(Some(process_whatsapp_payload(store, bus, account, payload.id, &parsed, payload.received_at).await?))
            }
            Err(e) => unreadable(&e),
        },
        "telephony" => match twilio_from_archive(&payload.body) {
            Some(callback) => {
                let messages =
                    publish_twilio_callback(bus, account, payload.id, &callback, payload.received_at).await?;
                Ok(Some(Processed { messages, statuses: 0 }))
            }
            None => unreadable(&"not a twilio callback"),
        },
        "webchat" => match serde_json::from_slice::<MessageInput>(&payload.body) {
            Ok(input) => Ok(Some(republish_visitor_message(store, bus, account, payload, &input).await?)),
            Err(e) => unreadable(&e),
        },
        other => unreadable(&format_args!("no replay for channel {other}")),
    }
}

/// Publishes again the visitor message a web chat payload carried: found by the widget's
/// idempotency key (the payload names no visitor; the bearer token did). A payload whose
/// message was never stored (the process stopped between archiving and storing; the widget
/// resends it) publishes nothing.
async fn republish_visitor_message(
    store: &IngestStore,
    bus: &Bus,
    account: &ChannelAccount,
    payload: &ArchivedPayload,
    input: &MessageInput,
) -> Result<Processed, ProcessError> {
    let found = store.visitor_messages_by_client_id(account.tenant_id, account.id, &input.client_message_id).await?;
    let batch: Vec<_> = found
        .iter()
        .map(|(visitor, message)| publication(account.id, visitor, message, input.page.as_ref(), payload.id))
        .collect();
    bus.publish_all(&batch).await?;
    Ok(Processed { messages: batch.len(), statuses: 0 })
}
