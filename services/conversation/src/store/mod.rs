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
mod replies;
mod rows;
mod settings;
mod status;
mod templates;

pub use ai::{AiMessage, SummaryView};
pub use assignment::RoutedAssignment;
pub use bulk::{BulkChange, BulkOutcome};
pub use calls::AgentDisposition;
pub use cursor::{Cursor, ListCursor};
pub use customers::{ChannelIdentity, CustomerProfile, IntegrationCardRow, MAX_RELATED, UpdatedCustomer};
pub use export::ConversationHistory;
pub use listing::{ViewCounts, Viewer};
pub use messages::Appended;
pub use outbox::OUTBOX_CHANNEL;
pub use replies::{NewReply, SentReply};
pub use rows::{ConversationRow, MessageRow, StatusChangeRow};
pub use status::SweepReport;
pub use templates::{CreatedTemplate, MAX_TEMPLATES_LISTED, TemplateRow, UpdatedTemplate};

use sqlx::PgPool;

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
}

/// Customers, conversations and messages of every tenant; every method takes the tenant.
#[derive(Clone)]
pub struct ConversationStore {
    pool: PgPool,
}

impl ConversationStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
