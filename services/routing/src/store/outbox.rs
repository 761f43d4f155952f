//! Routing's transactional outbox: its events commit with the assignment they describe
//! (`routing::write_decisions` writes them with the decisions and notifies this channel);
//! `inbox_service::outbox` relays them. A crash between publish and delete publishes again;
//! JetStream's duplicate window and the consumers' sequence checks absorb it.

/// The NOTIFY channel that wakes the relay when a transaction wrote outbox rows.
pub const OUTBOX_CHANNEL: &str = "inbox_routing_outbox";
