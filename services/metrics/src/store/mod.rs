//! The metrics service's PostgreSQL store: conversations' timelines and contributions, the
//! rollup cells, the CSAT survey queue and settings, tenants' time zones, rebuilds.
//!
//! Writers of one tenant take a transaction-scoped advisory lock on the tenant first, so the
//! read-merge-write of a conversation's state and of the rollup cells never races another
//! replica's; different tenants proceed in parallel.

mod codec;
pub mod csat;
pub mod fold;
pub mod rebuilds;
pub mod report;
pub mod zones;

use inbox_service::Clock;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::fold::FoldRules;

pub use fold::FoldReport;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A stored value this version cannot read: a bug or a newer writer, never the caller's fault.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same work may succeed later: a database that is unreachable, overloaded,
    /// or chose this transaction as a deadlock or serialization victim.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
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
            },
            StoreError::Invalid(_) | StoreError::Corrupt(_) => false,
        }
    }
}

/// Rollups and everything they are built from, for every tenant; every method takes the
/// tenant. "Now" (for the age of a resolution worth a survey, survey retries, rebuild times)
/// comes from the store's [`Clock`].
#[derive(Clone)]
pub struct MetricsStore {
    pool: PgPool,
    clock: Clock,
    rules: FoldRules,
}

impl MetricsStore {
    pub fn new(pool: PgPool, clock: Clock) -> Self {
        Self { pool, clock, rules: FoldRules::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn rules(&self) -> &FoldRules {
        &self.rules
    }
}

/// Serialises the writers of one tenant for the rest of the transaction.
async fn lock_tenant(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, tenant_id: Uuid) -> Result<(), StoreError> {
    let (high, low) = tenant_id.as_u64_pair();
    // The namespace keeps this lock apart from other advisory locks on the same database.
    let key = (high ^ low ^ 0x6d65_7472_6963_7321) as i64;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut **tx).await?;
    Ok(())
}
