//! The routing service's PostgreSQL store: one module per aggregate. Every query is scoped by
//! tenant. Row locks are the arbiter between replicas: a conversation is routed only while its
//! row is locked and still waiting, and an agent's load changes only while its row is locked,
//! always taken in id order. Nothing here waits for Redis while it holds a lock: availability is
//! read before a transaction opens. The times rules compare (`waiting_since`, `last_routed_at`,
//! `changed_at`) come from the store's [`Clock`], never from the database's `now()`.

mod assignments;
mod outbox;
mod profiles;
mod routing;

pub use assignments::{AssignOutcome, FactsReport};
pub use outbox::OUTBOX_CHANNEL;
pub use profiles::{AgentProfile, AgentRow, DEFAULT_CAPACITY, TeamRow};

pub use crate::domain::{AssignTarget, ConversationFact};

use chrono::{DateTime, Utc};
use inbox_service::Clock;
use sqlx::PgPool;
use uuid::Uuid;

use crate::availability::AvailabilityError;
use crate::domain::{Change, Refusal};

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

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoteRequired | Refusal::AgentNotFound => StoreError::Invalid(refusal.to_string()),
            Refusal::AtCapacity { .. } => StoreError::Conflict(refusal.to_string()),
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
    /// The row recording `change`, made at `at`.
    pub fn recorded(change: &Change, at: DateTime<Utc>) -> Self {
        HistoryRow {
            conversation_id: change.conversation_id,
            sequence: change.sequence,
            assignee_id: change.assignee_id,
            team_id: change.team_id,
            previous_assignee_id: change.previous_assignee_id,
            previous_team_id: change.previous_team_id,
            actor: change.actor.clone(),
            note: change.note.clone(),
            reason: change.reason.as_str().to_owned(),
            changed_at: at,
        }
    }

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
    clock: Clock,
}

impl RoutingStore {
    /// A store on the system clock.
    pub fn new(pool: PgPool) -> Self {
        Self::with_clock(pool, Clock::system())
    }

    /// A store that takes "now" from `clock`.
    pub fn with_clock(pool: PgPool, clock: Clock) -> Self {
        Self { pool, clock }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `attempt` again after a deadlock or serialization failure (at most 3 times).
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Err(e) if tries < 3 && e.is_transient() => {
                    tracing::info!(error = %e, tries, "routing transaction conflicted; retrying");
                }
                other => return other,
            }
        }
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
