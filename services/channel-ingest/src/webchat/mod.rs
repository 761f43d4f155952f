//! The web chat widget: an embeddable script (`/webchat/widget.js`, served by `api::webchat`
//! with the visitor API), visitors' messages as the bus carries them, and delivery of agents'
//! replies and typing to the visitor's socket on whichever replica holds it, and the visitor's
//! own typing to the agents.

pub mod client_address;
pub mod customer_typing;
pub mod hub;
pub mod outbound;
pub mod publication;
pub mod rate_limit;
pub mod tickets;
pub mod visitor_input;
