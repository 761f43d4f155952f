//! What the conversation service consumes (`ingest.>`, routing's assignment changes) and how its outbox reaches `events.>`.

mod ingest;
mod routing;
mod sweeper;

pub use ingest::StoreInboundMessages;
pub use routing::{FollowRoutingAssignments, ROUTING_ASSIGNMENTS};
pub use sweeper::run_status_sweeper;

use inbox_bus::{Envelope, HandlerError};
use uuid::Uuid;

use crate::store::StoreError;

/// A message the store refuses can never be handled (dead-lettered at once); any other failure
/// may pass (the message is delivered again later).
impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) | StoreError::Conflict(reason) => HandlerError::Permanent(reason),
            stale @ StoreError::StaleView { .. } => HandlerError::Permanent(stale.to_string()),
            other => HandlerError::Retry(other.to_string()),
        }
    }
}

/// The id in `text` (`what` names it in the refusal); empty is none.
fn optional_uuid(text: &str, what: &str) -> Result<Option<Uuid>, HandlerError> {
    if text.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(text).map(Some).map_err(|_| HandlerError::Permanent(format!("{what} {text:?} is not a uuid")))
}

/// The tenant an envelope belongs to.
fn tenant_of(envelope: &Envelope) -> Result<Uuid, HandlerError> {
    optional_uuid(&envelope.tenant_id, "tenant id")?
        .ok_or_else(|| HandlerError::Permanent("envelope without a tenant id".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_message_is_dead_lettered_and_a_failed_store_retried() {
        assert!(matches!(HandlerError::from(StoreError::Invalid("no sender".into())), HandlerError::Permanent(_)));
        assert!(matches!(HandlerError::from(StoreError::Conflict("taken over".into())), HandlerError::Permanent(_)));
        assert!(matches!(HandlerError::from(StoreError::Retryable("raced".into())), HandlerError::Retry(_)));
        assert!(matches!(HandlerError::from(StoreError::Database(sqlx::Error::PoolTimedOut)), HandlerError::Retry(_)));
    }

    #[test]
    fn an_envelope_names_its_tenant_by_uuid() {
        let tenant = Uuid::now_v7();
        let envelope = Envelope { tenant_id: tenant.to_string(), ..Default::default() };
        assert_eq!(tenant_of(&envelope).ok(), Some(tenant));
        let bad = Envelope { tenant_id: "acme".into(), ..Default::default() };
        assert!(matches!(tenant_of(&bad), Err(HandlerError::Permanent(_))));
        assert!(matches!(tenant_of(&Envelope::default()), Err(HandlerError::Permanent(_))));
    }
}
