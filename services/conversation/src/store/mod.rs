//! The conversation service's PostgreSQL store: one module per aggregate.

mod cursor;
mod customers;
mod messages;
mod outbox;
mod priority;
mod replies;
mod rows;
mod settings;
mod status;

pub use cursor::Cursor;
pub use customers::{ChannelIdentity, CustomerProfile, IntegrationCardRow, MAX_RELATED, UpdatedCustomer};
pub use messages::Appended;
pub use outbox::{OUTBOX_CHANNEL, relay_outbox_once};
pub use replies::{NewReply, SentReply};
pub use rows::{ConversationRow, MessageRow, StatusChangeRow};
pub use status::SweepReport;

use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid input: {0}")]
    Invalid(String),
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
