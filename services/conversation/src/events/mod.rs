//! What the conversation service consumes (`ingest.>`, routing's assignment changes) and how its outbox reaches `events.>`.

mod ingest;
mod relay;
mod routing;
mod sweeper;

pub use ingest::StoreInboundMessages;
pub use relay::run_outbox_relay;
pub use routing::{FollowRoutingAssignments, ROUTING_ASSIGNMENTS};
pub use sweeper::run_status_sweeper;
