//! channel-ingest's PostgreSQL store: channel accounts and the raw payload archive.

mod accounts;
mod archive;
mod deliveries;

pub use accounts::{ChannelAccount, NewWhatsAppAccount};
pub use archive::ArchivedPayload;
pub use deliveries::{Claim, DeliveryFailure, DeliveryRow, DeliveryState, NewDelivery, StatusRecord};

use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Conflict(String),
}

#[derive(Clone)]
pub struct IngestStore {
    pool: PgPool,
}

impl IngestStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
