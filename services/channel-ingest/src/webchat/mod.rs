//! The web chat widget: an embeddable script (`/webchat/widget.js`), the visitor API under
//! `/webchat/v1/widgets/{key}/...` (sessions, messages, history, page views, a WebSocket), and
//! delivery of agents' replies and typing to the visitor's socket on whichever replica holds it.

pub mod api;
pub mod hub;
pub mod outbound;
pub mod rate_limit;
pub mod tickets;
pub mod visitor_input;
