//! channel-ingest's PostgreSQL store: channel accounts and the raw payload archive.

mod accounts;
mod archive;
mod archive_batch;
mod deliveries;
mod webchat;

pub use accounts::{ChannelAccount, NewTwilioAccount, NewWhatsAppAccount};
pub use archive::ArchivedPayload;
pub use archive_batch::ArchiveBatcher;
pub use deliveries::{Claim, DeliveryFailure, DeliveryRow, DeliveryState, NewDelivery, StatusRecord};
pub use webchat::{NewWidget, PageRecord, Visitor, VisitorUpdate, WebchatMessage, Widget};

use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What a store call can fail with; `crate::error` says what each means to a caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The account exists already, connected to another tenant.
    #[error("{0}")]
    AlreadyExists(String),
    /// The thing asked for does not exist (or is another tenant's).
    #[error("{0}")]
    NotFound(String),
    /// The store cannot take the work now (the archive writer stopped or failed); retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct IngestStore {
    pool: PgPool,
    /// WhatsApp accounts by phone_number_id, kept briefly so a webhook costs no lookup.
    accounts: std::sync::Arc<accounts::AccountCache>,
    /// Web chat widgets by key, likewise.
    widgets: std::sync::Arc<webchat::WidgetCache>,
}

impl IngestStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool, accounts: std::sync::Arc::default(), widgets: std::sync::Arc::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
