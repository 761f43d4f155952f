//! What the conversation service consumes (`ingest.>`, routing's assignment changes) and how its outbox reaches `events.>`.

mod ingest;
mod routing;
mod sweeper;

pub use ingest::StoreInboundMessages;
pub use routing::{FollowRoutingAssignments, ROUTING_ASSIGNMENTS};
pub use sweeper::run_status_sweeper;
