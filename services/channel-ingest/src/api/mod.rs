//! channel-ingest's edges: provider webhooks over HTTP; channel accounts, deliveries, media and
//! replay over gRPC.

pub mod accounts;
pub mod deliveries;
pub mod twilio;
pub mod webhooks;
