//! Live push: domain events from `events.>` and agents' typing from `typing.>`, fanned out to
//! each tenant's WebSockets.

mod hub;
mod socket;

pub use hub::{LiveHub, relay_events_to_hub, relay_typing_to_hub};
pub use socket::routes;
