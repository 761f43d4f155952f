//! What the conversation service consumes (`ingest.>`) and how its outbox reaches `events.>`.

mod ingest;
mod relay;
mod sweeper;

pub use ingest::StoreInboundMessages;
pub use relay::run_outbox_relay;
pub use sweeper::run_status_sweeper;
