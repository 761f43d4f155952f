//! A visitor typing in the widget: the widget sends `{"type":"typing","typing":bool}` over its
//! socket (debounced); channel-ingest tells the agents on core NATS
//! `typing.<tenant>.visitor.<visitor>` (ephemeral, never on a stream), as the gateway tells
//! visitors about agents typing the other way. The gateway places it in the visitor's
//! conversation by the channel account and the customer's address.

use std::time::{Duration, Instant};

use inbox_bus::{Envelope, Payload, new_envelope};
use inbox_proto::events::v1::CustomerTyping;
use serde_json::Value;

use crate::store::Visitor;

/// Least time between two "typing" signals of one socket ("stopped" always passes after one).
const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// `typing.<tenant>.visitor.<visitor>`: a subject under the gateway's `typing.>`.
pub fn subject(visitor: &Visitor) -> String {
    format!("typing.{}.visitor.{}", visitor.tenant_id, visitor.id)
}

/// What a visitor's frame says about typing; `None` for any other frame.
pub fn typing_of(text: &str) -> Option<bool> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame["type"] != "typing" {
        return None;
    }
    frame["typing"].as_bool()
}

/// The signal for the agents.
pub fn signal(visitor: &Visitor, typing: bool) -> Envelope {
    let tenant = visitor.tenant_id.to_string();
    new_envelope(
        format!("customer-typing:{}:{}", visitor.id, uuid::Uuid::now_v7()),
        &tenant,
        Payload::CustomerTyping(CustomerTyping {
            channel_account_id: visitor.account_id.to_string(),
            customer_address: visitor.id.to_string(),
            typing,
        }),
    )
}

/// Tells the agents, on core NATS, that the visitor is typing (or stopped). A failure is only
/// logged: the signal is ephemeral.
pub async fn tell_agents(nats: &async_nats::Client, visitor: &Visitor, typing: bool) {
    let payload = prost::Message::encode_to_vec(&signal(visitor, typing));
    if let Err(e) = nats.publish(subject(visitor), payload.into()).await {
        tracing::warn!(error = %e, visitor_id = %visitor.id, "visitor typing not told to the agents");
    }
}

/// Per socket: which typing signals go out. A widget that sends too often is slowed down, and
/// "stopped" goes out only after a "typing".
#[derive(Debug, Default)]
pub struct TypingGate {
    last_typing: Option<Instant>,
}

impl TypingGate {
    pub fn passes(&mut self, typing: bool, now: Instant) -> bool {
        match (typing, self.last_typing) {
            (true, Some(at)) if now < at + TYPING_INTERVAL => false,
            (true, _) => {
                self.last_typing = Some(now);
                true
            }
            (false, Some(_)) => {
                self.last_typing = None;
                true
            }
            (false, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_typing_frame_is_read_and_anything_else_is_not() {
        assert_eq!(typing_of(r#"{"type":"typing","typing":true}"#), Some(true));
        assert_eq!(typing_of(r#"{"type":"typing","typing":false}"#), Some(false));
        assert_eq!(typing_of(r#"{"type":"typing"}"#), None);
        assert_eq!(typing_of(r#"{"type":"message","text":"hi"}"#), None);
        assert_eq!(typing_of("garbage"), None);
    }

    #[test]
    fn typing_goes_out_at_most_every_two_seconds_and_stopped_once_after_it() {
        let start = Instant::now();
        let mut gate = TypingGate::default();
        assert!(!gate.passes(false, start), "nothing to stop");
        assert!(gate.passes(true, start));
        assert!(!gate.passes(true, start + Duration::from_millis(500)));
        assert!(gate.passes(true, start + Duration::from_secs(2)));
        assert!(gate.passes(false, start + Duration::from_secs(3)));
        assert!(!gate.passes(false, start + Duration::from_secs(3)), "once");
        assert!(gate.passes(true, start + Duration::from_secs(3)), "typing again at once after a stop");
    }

    #[test]
    fn the_signal_names_the_visitors_account_and_address_under_the_gateways_typing_subject() {
        let visitor = Visitor {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            account_id: Uuid::new_v4(),
            name: String::new(),
            email: String::new(),
            user_agent: String::new(),
            locale: String::new(),
            created_at: Utc::now(),
            last_seen_at: Utc::now(),
        };
        assert_eq!(subject(&visitor), format!("typing.{}.visitor.{}", visitor.tenant_id, visitor.id));
        let Some(Payload::CustomerTyping(t)) = signal(&visitor, true).payload else { panic!("customer typing") };
        assert_eq!(t.channel_account_id, visitor.account_id.to_string());
        assert_eq!(t.customer_address, visitor.id.to_string());
        assert!(t.typing);
    }
}
