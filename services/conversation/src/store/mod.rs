//! The conversation service's PostgreSQL store: one module per aggregate.

mod ai;
mod assignment;
mod batch;
mod bulk;
mod calls;
mod cursor;
mod customers;
mod export;
mod listing;
mod messages;
mod outbox;
mod priority;
mod reads;
mod replies;
mod rows;
mod settings;
mod status;
mod templates;
mod visibility;

pub use ai::{AiMessage, SummaryView};
pub use assignment::RoutedAssignment;
pub use bulk::{BulkChange, BulkOutcome};
pub use calls::AgentDisposition;
pub use cursor::{Cursor, ListCursor};
pub use customers::{ChannelIdentity, CustomerProfile, IntegrationCardRow, MAX_RELATED, UpdatedCustomer};
pub use export::{HistoryReader, MessagePosition};
pub use listing::ViewCounts;
pub use messages::{Appended, HistoryPage};
pub use outbox::OUTBOX_CHANNEL;
pub use reads::ReadState;
pub use replies::{NewReply, NewSystemMessage, SentReply};
pub use rows::{ConversationRow, MessageRow, StatusChangeRow};
pub use status::SweepReport;
pub use templates::{CreatedTemplate, MAX_TEMPLATES_LISTED, TemplateRow, UpdatedTemplate};
pub use visibility::Viewer;

use chrono::{DateTime, SubsecRound, Utc};
use inbox_service::Clock;
use sqlx::PgPool;
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The change does not fit the conversation's current state (e.g. the AI answering after a
    /// person took over).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The send guard: someone else wrote in the conversation after the last message the
    /// sender had seen (`newer_message_id` is the newest such message).
    #[error("stale view: message {newer_message_id} is newer than the one the sender saw")]
    StaleView { newer_message_id: Uuid },
    /// Nothing is wrong with the request, but it could not be done now (a race lost, a row not
    /// yet visible); the same request later may succeed.
    #[error("retry later: {0}")]
    Retryable(String),
    /// A broken invariant (a row locked by this transaction vanished): a bug, never the
    /// caller's fault.
    #[error("internal: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the same request may succeed later: a retryable failure, or a database that is
    /// unreachable, overloaded, or chose this transaction as a deadlock or serialization victim.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Retryable(_) => true,
            StoreError::Database(e) => is_transient(e),
            StoreError::Invalid(_)
            | StoreError::Conflict(_)
            | StoreError::StaleView { .. }
            | StoreError::Internal(_) => false,
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // 40001 serialization failure, 40P01 deadlock, 08* connection exceptions, 53*
        // insufficient resources, 57P0* the server shutting down or restarting.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code == "40001"
                || code == "40P01"
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
        }),
        _ => false,
    }
}

/// Customers, conversations and messages of every tenant; every method takes the tenant.
///
/// Every rule that depends on the time ("now" for the 24-hour window, the status timers,
/// response targets, "today") and every timestamp the store writes take the time from the
/// store's [`Clock`], never from PostgreSQL's `now()`: one clock, or the rules disagree with
/// the rows they read.
#[derive(Clone)]
pub struct ConversationStore {
    pool: PgPool,
    clock: Clock,
}

impl ConversationStore {
    /// A store on the system clock.
    pub fn new(pool: PgPool) -> Self {
        Self::with_clock(pool, Clock::system())
    }

    /// A store whose "now" is `clock`'s (a manual clock in tests).
    pub fn with_clock(pool: PgPool, clock: Clock) -> Self {
        Self { pool, clock }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The store's "now", to the microsecond as PostgreSQL keeps it, so what is written and
    /// what is announced are the same instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(6)
    }
}
