//! Routing rules without I/O: teams and their policies, availability, how the conversation
//! service's facts change routing's view of a conversation, assignment by hand, and who gets
//! which waiting conversation. Rules that depend on the time take it as an argument.

pub mod availability;
pub mod facts;
pub mod manual;
pub mod plan;
pub mod state;
pub mod team;

pub use availability::{Availability, Presence};
pub use facts::{ConversationFact, FactEffects, apply_facts, facts_by_conversation};
pub use manual::{AssignTarget, ManualChange, decide_assignment};
pub use plan::{
    Candidate, Routed, RoutingInput, RoutingPlan, Seat, TeamQueue, Turn, Waiting, distribute, plan_routing,
};
pub use state::{Change, ConversationState, LoadChanges, ROUTING_ACTOR, Reason, Refusal, Required};
pub use team::{CHANNELS, HandoffTeam, Policy, handoff_team};

/// Teams and agents the rules' tests share.
#[cfg(test)]
mod examples {
    use uuid::Uuid;

    pub const SUPPORT: Uuid = Uuid::from_u128(0x51);
    pub const SALES: Uuid = Uuid::from_u128(0x5a);
    pub const SARAH: Uuid = Uuid::from_u128(0xa1);
    pub const TOM: Uuid = Uuid::from_u128(0xa2);
}
