//! One broadcast channel per tenant, fed by a core-NATS subscription to `events.>`.
//!
//! Each gateway replica subscribes to every event (the EVENTS stream stores them too; a
//! client that reconnects refetches over REST), so any replica can serve any WebSocket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use inbox_bus::{Envelope, Payload};
use prost::Message as _;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::names::availability_name;
use crate::api::present::call::call;
use crate::api::present::conversation::{ConversationJson, StatusChangeJson};
use crate::api::present::message::{MessageJson, delivery};

/// Frames buffered per tenant before a slow socket is told to resync.
const TENANT_BUFFER: usize = 1024;

#[derive(Default)]
pub struct LiveHub {
    tenants: Mutex<HashMap<Uuid, broadcast::Sender<Arc<str>>>>,
}

impl LiveHub {
    /// Frames for `tenant_id` from now on.
    pub fn subscribe(&self, tenant_id: Uuid) -> broadcast::Receiver<Arc<str>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.entry(tenant_id).or_insert_with(|| broadcast::channel(TENANT_BUFFER).0).subscribe()
    }

    /// Sends a frame to the tenant's sockets; forgets tenants nobody listens to any more.
    pub fn publish(&self, tenant_id: Uuid, frame: Arc<str>) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = tenants.get(&tenant_id)
            && sender.send(frame).is_err()
        {
            tenants.remove(&tenant_id);
        }
    }
}

/// The WebSocket frame of an event; `None` for events clients do not see.
pub fn frame_of(subject: &str, envelope: &Envelope) -> Option<String> {
    let kind = subject.splitn(3, '.').nth(2)?;
    let body = match envelope.payload.as_ref()? {
        Payload::MessageCreated(e) => json!({
            "message": e.message.as_ref().map(MessageJson::from),
            "conversation": e.conversation.as_ref().map(ConversationJson::from),
        }),
        Payload::ConversationCreated(e) => json!({"conversation": e.conversation.as_ref().map(ConversationJson::from)}),
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => {
            json!({"conversation": e.conversation.as_ref().map(ConversationJson::from)})
        }
        Payload::StatusChanged(e) => json!({
            "conversation": e.conversation.as_ref().map(ConversationJson::from),
            "change": e.change.as_ref().map(StatusChangeJson::from),
        }),
        Payload::AssignmentChanged(e) => json!({
            "conversation": e.conversation.as_ref().map(ConversationJson::from),
            "previous_assignee_id": e.previous_assignee_id,
            "previous_team_id": e.previous_team_id,
            "actor": e.actor,
            "note": e.note,
        }),
        Payload::AiHandoff(e) => json!({
            "conversation": e.conversation.as_ref().map(ConversationJson::from),
            "agent_id": e.agent_id,
            "ai_active": e.ai_active,
        }),
        Payload::ConversationDeleted(e) => json!({"conversation_id": e.conversation_id}),
        Payload::AgentAvailabilityChanged(e) => json!({
            "agent_id": e.agent_id,
            "availability": availability_name(e.availability),
        }),
        Payload::DeliveryUpdated(d) => json!({"delivery": delivery(d)}),
        Payload::CallDispositionChanged(c) => json!({"call": call(c)}),
        // The conversation service turns routing's assignments into `conversation.assigned`;
        // ingest, outbound and typing payloads never ride on `events.>`; payloads of other
        // services reach sockets only where a frame is written for them above.
        _ => return None,
    };
    let mut frame = json!({"type": kind, "event_id": envelope.event_id});
    if let (Some(frame), Some(body)) = (frame.as_object_mut(), body.as_object()) {
        frame.extend(body.clone());
    }
    Some(frame.to_string())
}

/// The `conversation.typing` frame of an agent typing signal.
fn typing_frame(envelope: &Envelope) -> Option<String> {
    let Payload::AgentTyping(t) = envelope.payload.as_ref()? else { return None };
    Some(
        json!({"type": "conversation.typing", "conversation_id": t.conversation_id, "agent_id": t.agent_id,
            "typing": t.typing})
        .to_string(),
    )
}

/// Feeds the hub with agents' typing (`typing.>`) until `shutdown`.
pub async fn relay_typing_to_hub(client: async_nats::Client, hub: Arc<LiveHub>, shutdown: CancellationToken) {
    let frame = |_: &str, envelope: &Envelope| typing_frame(envelope);
    relay_to_hub(&client, &hub, &shutdown, inbox_bus::subjects::TYPING, "agents will not see each other type", frame)
        .await;
}

/// Feeds the hub from `events.>` until `shutdown`.
pub async fn relay_events_to_hub(client: async_nats::Client, hub: Arc<LiveHub>, shutdown: CancellationToken) {
    relay_to_hub(&client, &hub, &shutdown, "events.>", "live push is off", frame_of).await;
}

/// Sends each tenant's sockets the frame `frame` makes of every envelope on `subject` (core
/// NATS), until `shutdown`. `lost` says what goes missing if the subscription fails.
async fn relay_to_hub(
    client: &async_nats::Client,
    hub: &LiveHub,
    shutdown: &CancellationToken,
    subject: &'static str,
    lost: &'static str,
    frame: impl Fn(&str, &Envelope) -> Option<String>,
) {
    let mut subscription = match client.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, subject, lost, "cannot subscribe to live signals");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = subscription.next() => match next {
                Some(m) => m,
                None => break,
            },
        };
        let Ok(envelope) = Envelope::decode(message.payload.clone()) else {
            tracing::warn!(subject = %message.subject, "undecodable envelope skipped by live push");
            continue;
        };
        let Ok(tenant_id) = Uuid::parse_str(&envelope.tenant_id) else { continue };
        if let Some(frame) = frame(message.subject.as_str(), &envelope) {
            hub.publish(tenant_id, frame.into());
        }
    }
    let _ = subscription.unsubscribe().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use inbox_proto::conversation::v1::{Conversation, Message};
    use inbox_proto::events::v1::MessageCreated;

    #[test]
    fn a_message_created_event_becomes_a_typed_frame_with_both_objects() {
        let envelope = inbox_bus::new_envelope(
            "e1",
            "t",
            Payload::MessageCreated(MessageCreated {
                message: Some(Message { id: "m1".into(), ..Default::default() }),
                conversation: Some(Conversation { id: "c1".into(), ..Default::default() }),
            }),
        );
        let frame: serde_json::Value =
            serde_json::from_str(&frame_of("events.t.message.created", &envelope).unwrap()).unwrap();
        assert_eq!(frame["type"], "message.created");
        assert_eq!(frame["message"]["id"], "m1");
        assert_eq!(frame["conversation"]["id"], "c1");
    }

    #[test]
    fn a_delivery_change_becomes_a_frame_with_the_state_and_the_providers_error() {
        use inbox_proto::ingest::v1::{Delivery, DeliveryError, DeliveryState};
        let envelope = inbox_bus::new_envelope(
            "delivery:t:m1:failed",
            "t",
            Payload::DeliveryUpdated(Delivery {
                message_id: "m1".into(),
                conversation_id: "c1".into(),
                state: DeliveryState::Failed as i32,
                error: Some(DeliveryError {
                    code: 131047,
                    title: "Re-engagement message".into(),
                    details: "24h".into(),
                }),
                ..Default::default()
            }),
        );
        let frame: serde_json::Value =
            serde_json::from_str(&frame_of("events.t.message.delivery_updated", &envelope).unwrap()).unwrap();
        assert_eq!(frame["type"], "message.delivery_updated");
        assert_eq!(frame["delivery"]["state"], "failed");
        assert_eq!(frame["delivery"]["error"]["code"], 131047);
        assert_eq!(frame["delivery"]["conversation_id"], "c1");
    }

    #[test]
    fn agent_typing_becomes_a_conversation_typing_frame_and_nothing_else_does() {
        use inbox_proto::events::v1::AgentTyping;
        let typing = inbox_bus::new_envelope(
            "typing:c1:1",
            "t",
            Payload::AgentTyping(AgentTyping {
                conversation_id: "c1".into(),
                agent_id: "a1".into(),
                typing: true,
                ..Default::default()
            }),
        );
        let frame: serde_json::Value = serde_json::from_str(&typing_frame(&typing).unwrap()).unwrap();
        assert_eq!(
            frame,
            json!({"type": "conversation.typing", "conversation_id": "c1", "agent_id": "a1", "typing": true})
        );
        let other = inbox_bus::new_envelope("e", "t", Payload::ConversationDeleted(Default::default()));
        assert!(typing_frame(&other).is_none());
        assert!(frame_of("events.t.typing", &typing).is_none(), "typing never rides on events");
    }

    #[test]
    fn only_subscribers_of_a_tenant_get_its_frames() {
        let hub = LiveHub::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut rx_a = hub.subscribe(a);
        let mut rx_b = hub.subscribe(b);
        hub.publish(a, "hello".into());
        assert_eq!(&*rx_a.try_recv().unwrap(), "hello");
        assert!(rx_b.try_recv().is_err());
    }
}
