//! Consumer of routing's assignment changes (`events.*.routing.assignment_changed`, durable
//! `conversation-routing`): the assignment read model follows routing. Each change carries a
//! per-conversation sequence; an older or repeated one is ignored, so redeliveries and
//! out-of-order arrivals across replicas leave the newest decision. An applied change is
//! announced as `conversation.assigned`, which the gateway pushes to WebSockets.

use inbox_bus::{Delivery, HandlerError, MessageHandler, Payload};

use super::{optional_uuid, tenant_of};
use crate::store::{ConversationStore, RoutedAssignment};

/// The subject filter of routing's assignment changes, for every tenant.
pub const ROUTING_ASSIGNMENTS: &str = "events.*.routing.assignment_changed";

pub struct FollowRoutingAssignments {
    store: ConversationStore,
}

impl FollowRoutingAssignments {
    pub fn new(store: ConversationStore) -> Self {
        Self { store }
    }
}

impl MessageHandler for FollowRoutingAssignments {
    async fn handle(&self, delivery: Delivery) -> Result<(), HandlerError> {
        let envelope = delivery.envelope;
        let tenant_id = tenant_of(&envelope)?;
        let Some(Payload::RoutingAssignmentChanged(change)) = envelope.payload else {
            return Err(HandlerError::Permanent("routing event without an AssignmentChange".into()));
        };
        let conversation_id = optional_uuid(&change.conversation_id, "conversation id")?
            .ok_or_else(|| HandlerError::Permanent("assignment change without a conversation".into()))?;
        let assignee = optional_uuid(&change.assignee_id, "assignee id")?;
        let team = optional_uuid(&change.team_id, "team id")?;
        let outcome = self
            .store
            .apply_routing_assignment(
                tenant_id,
                conversation_id,
                change.sequence,
                assignee,
                team,
                &change.actor,
                &change.note,
            )
            .await?;
        match outcome {
            RoutedAssignment::Applied => {
                tracing::debug!(%conversation_id, sequence = change.sequence, "routing assignment applied")
            }
            RoutedAssignment::Stale => {
                tracing::info!(%conversation_id, sequence = change.sequence, "stale routing assignment ignored")
            }
            RoutedAssignment::Missing => {
                tracing::info!(%conversation_id, "routing assignment for an unknown conversation ignored")
            }
        }
        Ok(())
    }
}
