//! The routing service's PostgreSQL store: one module per aggregate. Every query is scoped by
//! tenant. Row locks are the arbiter between replicas: a conversation is routed only while its
//! row is locked and still waiting, and an agent's load changes only while its row is locked,
//! always taken in id order.

mod assignments;
mod outbox;
mod profiles;

pub use assignments::{AssignOutcome, AssignTarget, ConversationFact, FactsReport};
pub use outbox::OUTBOX_CHANNEL;
pub use profiles::{AgentProfile, AgentRow, DEFAULT_CAPACITY, TeamRow};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::availability::AvailabilityError;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("availability: {0}")]
    Availability(#[from] AvailabilityError),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The change does not fit the current state (an agent at capacity).
    #[error("conflict: {0}")]
    Conflict(String),
}

impl StoreError {
    /// A deadlock or serialization failure: the transaction may simply be run again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40P01" || code == "40001")
            }
            _ => false,
        }
    }
}

/// One row of the assignment history.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HistoryRow {
    pub conversation_id: Uuid,
    pub sequence: i64,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub previous_assignee_id: Option<Uuid>,
    pub previous_team_id: Option<Uuid>,
    pub actor: String,
    pub note: String,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
}

impl HistoryRow {
    pub fn to_proto(&self) -> inbox_proto::routing::v1::AssignmentChange {
        let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
        inbox_proto::routing::v1::AssignmentChange {
            conversation_id: self.conversation_id.to_string(),
            sequence: self.sequence,
            assignee_id: id(self.assignee_id),
            team_id: id(self.team_id),
            previous_assignee_id: id(self.previous_assignee_id),
            previous_team_id: id(self.previous_team_id),
            actor: self.actor.clone(),
            note: self.note.clone(),
            reason: self.reason.clone(),
            changed_at: Some(inbox_proto::timestamp_from(self.changed_at)),
        }
    }
}

/// Agents, teams, memberships and assignments of every tenant; every method takes the tenant.
#[derive(Clone)]
pub struct RoutingStore {
    pool: PgPool,
}

impl RoutingStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every assignment change of a conversation, oldest first.
    pub async fn history(&self, tenant_id: Uuid, conversation_id: Uuid) -> Result<Vec<HistoryRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT conversation_id, sequence, assignee_id, team_id, previous_assignee_id, previous_team_id, \
               actor, note, reason, changed_at \
             FROM assignment_history WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY sequence",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
