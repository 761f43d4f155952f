//! channel-ingest's edges: provider webhooks over HTTP, channel accounts over gRPC.

pub mod accounts;
pub mod webhooks;
