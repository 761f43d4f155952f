//! The visitor sockets this replica holds, and the relay from core NATS to them: a reply or a
//! typing signal is published once on `webchat.visitor.<tenant>.<visitor>`; every replica
//! hears it and pushes it to the sockets it holds for that visitor.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use inbox_bus::{Bus, Envelope, Payload};
use inbox_proto::common::v1::message_content::Kind;
use prost::Message;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::ids::parse_id;
use crate::ingest::announce_deliveries;
use crate::store::{DeliveryState, IngestStore};

/// Frames waiting for one slow socket. A socket that falls this far behind is let go: its
/// frames end, the socket closes, and the widget reconnects and reloads the history, so a frame
/// it could not take is never a lost message.
const SOCKET_BUFFER: usize = 64;

/// Open sockets one visitor may hold on one replica (tabs); more are refused.
pub const MAX_SOCKETS_PER_VISITOR: usize = 16;

type VisitorKey = (Uuid, Uuid);
/// A socket's id and the sender of its frames.
type SocketSender = (u64, mpsc::Sender<String>);

#[derive(Default)]
pub struct VisitorHub {
    sockets: Mutex<HashMap<VisitorKey, Vec<SocketSender>>>,
    next_id: AtomicU64,
}

impl VisitorHub {
    /// Registers a socket of a visitor; frames for them arrive on the receiver. `None` when the
    /// visitor already holds [`MAX_SOCKETS_PER_VISITOR`] sockets here.
    pub fn register(&self, tenant_id: Uuid, visitor_id: Uuid) -> Option<(u64, mpsc::Receiver<String>)> {
        let (tx, rx) = mpsc::channel(SOCKET_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let list = sockets.entry((tenant_id, visitor_id)).or_default();
        if list.len() >= MAX_SOCKETS_PER_VISITOR {
            return None;
        }
        list.push((id, tx));
        Some((id, rx))
    }

    pub fn unregister(&self, tenant_id: Uuid, visitor_id: Uuid, id: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = sockets.get_mut(&(tenant_id, visitor_id)) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                sockets.remove(&(tenant_id, visitor_id));
            }
        }
    }

    /// Pushes `frame` to every socket of the visitor here; returns how many took it. A socket
    /// whose buffer is full is let go (see [`SOCKET_BUFFER`]).
    pub fn push(&self, tenant_id: Uuid, visitor_id: Uuid, frame: &str) -> usize {
        let mut sockets = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant_id, visitor_id);
        let Some(list) = sockets.get_mut(&key) else { return 0 };
        let mut taken = 0;
        list.retain(|(_, tx)| {
            let ok = tx.try_send(frame.to_owned()).is_ok();
            taken += usize::from(ok);
            ok
        });
        if list.is_empty() {
            sockets.remove(&key);
        }
        taken
    }
}

/// The text a visitor sees for a message's content; `None` for content web chat cannot show.
pub fn visitor_text(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Text(t) => Some(t.body.clone()),
        Kind::InteractiveButtons(b) => Some(b.body.clone()),
        Kind::Media(m) if !m.url.is_empty() => {
            Some(if m.caption.is_empty() { m.url.clone() } else { format!("{}\n{}", m.caption, m.url) })
        }
        _ => None,
    }
}

/// The frame a visitor's socket receives for one envelope, relayed at `now` (the time of a
/// reply that carries none); `None` for anything else.
fn frame_of(envelope: &Envelope, now: DateTime<Utc>) -> Option<(String, Option<Uuid>)> {
    match envelope.payload.as_ref()? {
        Payload::OutboundMessage(outbound) => {
            let message = outbound.message.as_ref()?;
            let text = visitor_text(message.content.as_ref()?.kind.as_ref()?)?;
            let sent_at = message.sent_at.as_ref().and_then(inbox_proto::timestamp_to_utc).unwrap_or(now).to_rfc3339();
            let frame = json!({"type": "message", "message": {
                "id": message.id, "sender": "agent", "text": text, "sent_at": sent_at}});
            Some((frame.to_string(), parse_id("message id", &message.id).ok()))
        }
        Payload::AgentTyping(typing) => Some((json!({"type": "typing", "typing": typing.typing}).to_string(), None)),
        _ => None,
    }
}

/// Relays `webchat.visitor.>` to this replica's sockets until `shutdown`. A reply pushed to
/// at least one socket is marked delivered (forward only, so several replicas pushing it to
/// several tabs announce it once).
pub async fn relay_visitor_frames(
    bus: Bus,
    store: IngestStore,
    hub: std::sync::Arc<VisitorHub>,
    shutdown: CancellationToken,
) {
    let mut subscription = match bus.client().subscribe(inbox_bus::subjects::WEBCHAT_VISITORS).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot subscribe to visitor frames; web chat sockets get no live frames");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            m = subscription.next() => match m { Some(m) => m, None => break },
        };
        let mut parts = message.subject.as_str().splitn(4, '.').skip(2);
        let (Some(tenant), Some(visitor)) = (parts.next(), parts.next()) else { continue };
        let (Ok(tenant_id), Ok(visitor_id)) = (parse_id("tenant", tenant), parse_id("visitor", visitor)) else {
            continue;
        };
        let Ok(envelope) = Envelope::decode(message.payload.as_ref()) else {
            tracing::warn!(subject = %message.subject, "undecodable visitor frame dropped");
            continue;
        };
        let Some((frame, reply_id)) = frame_of(&envelope, store.clock().now()) else { continue };
        let pushed = hub.push(tenant_id, visitor_id, &frame);
        if let (Some(message_id), true) = (reply_id, pushed > 0) {
            match store.advance_webchat_delivery(tenant_id, message_id, DeliveryState::Delivered).await {
                Ok(Some(row)) => {
                    if let Err(e) = announce_deliveries(&bus, &[row]).await {
                        tracing::warn!(error = %e, %message_id, "delivered state not announced");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, %message_id, "delivered state not recorded"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_reach_only_the_sockets_of_their_visitor_and_sockets_are_capped() {
        let hub = VisitorHub::default();
        let (tenant, ana, bob) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (ana_id, mut ana_rx) = hub.register(tenant, ana).unwrap();
        let (_, mut bob_rx) = hub.register(tenant, bob).unwrap();
        assert_eq!(hub.push(tenant, ana, "for ana"), 1);
        assert_eq!(ana_rx.try_recv().unwrap(), "for ana");
        assert!(bob_rx.try_recv().is_err());
        assert_eq!(hub.push(Uuid::new_v4(), ana, "other tenant"), 0);
        hub.unregister(tenant, ana, ana_id);
        assert_eq!(hub.push(tenant, ana, "gone"), 0);
        let held: Vec<_> = (1..MAX_SOCKETS_PER_VISITOR).map(|_| hub.register(tenant, bob).unwrap()).collect();
        assert!(hub.register(tenant, bob).is_none(), "{} sockets already", held.len() + 1);
    }

    #[test]
    fn a_socket_that_falls_behind_is_let_go_and_its_frames_end() {
        let hub = VisitorHub::default();
        let (tenant, ana) = (Uuid::new_v4(), Uuid::new_v4());
        let (_, mut slow) = hub.register(tenant, ana).unwrap();
        let (_, mut fast) = hub.register(tenant, ana).unwrap();
        for i in 0..SOCKET_BUFFER {
            assert_eq!(hub.push(tenant, ana, &format!("f{i}")), 2);
            assert_eq!(fast.try_recv().unwrap(), format!("f{i}"));
        }
        // The slow socket's buffer is full: it is dropped, the fast one still gets frames.
        assert_eq!(hub.push(tenant, ana, "one too many"), 1);
        assert_eq!(fast.try_recv().unwrap(), "one too many");
        let drained: Vec<String> = std::iter::from_fn(|| slow.try_recv().ok()).collect();
        assert_eq!(drained.len(), SOCKET_BUFFER);
        assert!(matches!(slow.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)), "its frames end");
        // Its place is free again.
        let held: Vec<_> = (1..MAX_SOCKETS_PER_VISITOR).map(|_| hub.register(tenant, ana).unwrap()).collect();
        assert_eq!(held.len(), MAX_SOCKETS_PER_VISITOR - 1);
    }

    #[test]
    fn replies_and_typing_become_visitor_frames_and_nothing_else_does() {
        use inbox_proto::common::v1::{MessageContent, TextContent};
        use inbox_proto::conversation::v1::Message as ConversationMessage;
        use inbox_proto::events::v1::{AgentTyping, OutboundMessage};
        let id = Uuid::now_v7();
        let reply = inbox_bus::new_envelope(
            "r",
            "t",
            Payload::OutboundMessage(OutboundMessage {
                message: Some(ConversationMessage {
                    id: id.to_string(),
                    content: Some(MessageContent {
                        kind: Some(Kind::Text(TextContent { body: "Yes".into() })),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        );
        let relayed_at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2031, 3, 1, 9, 0, 0).unwrap();
        let (frame, reply_id) = frame_of(&reply, relayed_at).unwrap();
        let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            (&frame["type"], &frame["message"]["sender"], &frame["message"]["text"]),
            (&json!("message"), &json!("agent"), &json!("Yes"))
        );
        assert_eq!(frame["message"]["sent_at"], json!(relayed_at.to_rfc3339()), "a reply without a time");
        assert_eq!(reply_id, Some(id));
        let typing = inbox_bus::new_envelope(
            "ty",
            "t",
            Payload::AgentTyping(AgentTyping { typing: true, ..Default::default() }),
        );
        assert_eq!(
            frame_of(&typing, relayed_at).unwrap(),
            (json!({"type": "typing", "typing": true}).to_string(), None)
        );
        let other = inbox_bus::new_envelope("o", "t", Payload::ConversationDeleted(Default::default()));
        assert!(frame_of(&other, relayed_at).is_none());
    }
}
