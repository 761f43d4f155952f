//! channel-ingest's PostgreSQL store: channel accounts and the raw payload archive.
//!
//! Time: the store writes every timestamp that anything compares with the service's clock from
//! its own [`Clock`], never from PostgreSQL's `now()` (the two differ when the service's clock
//! is moved, as in tests): delivery leases and updates, visitors' first and last visits, chat
//! messages, page views, and when a payload was received and published. What stays `now()` in
//! SQL is bookkeeping nothing compares: accounts' `created_at`/`updated_at` and when a
//! WhatsApp status was received.

mod accounts;
mod archive;
mod archive_batch;
mod deliveries;
mod webchat;

pub use accounts::{ChannelAccount, NewTwilioAccount, NewWhatsAppAccount, SealReport, WebhookAccounts};
pub use archive::{ArchivedPayload, REPLAY_PAGE, ReplayFilter};
pub use archive_batch::ArchiveBatcher;
pub use deliveries::{Claim, DeliveryFailure, DeliveryRow, DeliveryState, NewDelivery, StatusRecord};
pub use webchat::{NewWidget, PageRecord, Visitor, VisitorUpdate, WebchatMessage, Widget};

use inbox_service::Clock;

use crate::secrets::SecretKeys;
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
    /// A channel secret could not be sealed or opened (no keys, a key missing from the
    /// configuration, a damaged value): the cause is logged, never shown.
    #[error("secrets: {0}")]
    Secret(#[from] crate::secrets::SecretError),
}

#[derive(Clone)]
pub struct IngestStore {
    pool: PgPool,
    /// The service's clock: "now" for leases and for every timestamp the store writes.
    clock: Clock,
    /// WhatsApp accounts by phone_number_id, kept briefly so a webhook costs no lookup.
    accounts: std::sync::Arc<accounts::AccountCache>,
    /// Web chat widgets by key, likewise.
    widgets: std::sync::Arc<webchat::WidgetCache>,
    /// The keys channel secrets are sealed with; none unless given with [`Self::with_secrets`]
    /// (such a store reads and writes everything but channel secrets).
    secrets: std::sync::Arc<SecretKeys>,
}

impl IngestStore {
    /// A store on the system clock.
    pub fn new(pool: PgPool) -> Self {
        Self::with_clock(pool, Clock::system())
    }

    /// A store whose "now" is `clock`'s (a manual clock in tests).
    pub fn with_clock(pool: PgPool, clock: Clock) -> Self {
        Self {
            pool,
            clock,
            accounts: std::sync::Arc::default(),
            widgets: std::sync::Arc::default(),
            secrets: std::sync::Arc::default(),
        }
    }

    /// This store, sealing and opening channel secrets with `keys`.
    pub fn with_secrets(mut self, keys: SecretKeys) -> Self {
        self.secrets = std::sync::Arc::new(keys);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The service's clock, which the edges and consumers holding this store read "now" from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}
