//! The web chat widget: an embeddable script (`/webchat/widget.js`), the visitor API under
//! `/webchat/v1/widgets/{key}/...` (sessions, messages, history, page views, a WebSocket), and
//! delivery of agents' replies and typing to the visitor's socket on whichever replica holds it.

pub mod api;
pub mod hub;
pub mod outbound;
pub mod rate_limit;
pub mod visitor_input;

/// Core NATS subject of one visitor's live frames (agent replies and typing); every replica
/// subscribes to `webchat.visitor.>` and pushes to the sockets it holds. Not on any stream.
pub fn visitor_subject(tenant_id: &str, visitor_id: &str) -> String {
    format!("webchat.visitor.{tenant_id}.{visitor_id}")
}

/// What every replica subscribes to.
pub const VISITOR_SUBJECTS: &str = "webchat.visitor.>";
