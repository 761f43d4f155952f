//! The notification service's PostgreSQL store: one module per aggregate, every query scoped by
//! tenant. Row locks arbitrate between replicas (SLA timers fire under `FOR UPDATE SKIP
//! LOCKED`; a webhook delivery is leased by the replica that claimed it). Times rules compare
//! come from the store's [`Clock`].

mod batch;
mod conversations;
mod notifications;
mod preferences;
pub use preferences::PreferencesChange;
mod push;
mod sla;
mod tenant;
mod webhooks;

pub use batch::{BatchReport, EventItem};
pub use notifications::{NotificationRow, Page};
pub use push::{PushJob, SubscriptionRow};
pub use sla::{Fired, FiredAlert, SlaConfig, TimerRow};
pub use webhooks::{
    AttemptOutcome, AttemptRow, ClaimedDelivery, DeliveryRow, EndpointRow, EndpointUpdate, WebhookEvent,
};

use inbox_service::Clock;
use sqlx::PgPool;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The `pg_notify` channel of this service's outbox.
pub const OUTBOX_CHANNEL: &str = "notification_outbox";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

impl StoreError {
    /// A deadlock or serialization failure: the transaction may simply run again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40P01" || code == "40001")
            }
            _ => false,
        }
    }
}

/// Notifications, preferences, subscriptions, SLA timers and webhooks of every tenant.
#[derive(Clone)]
pub struct NotificationStore {
    pool: PgPool,
    clock: Clock,
    webhook_retry: chrono::Duration,
}

impl NotificationStore {
    /// A store taking "now" from `clock`; webhook deliveries are retried for 24 hours.
    pub fn new(pool: PgPool, clock: Clock) -> Self {
        Self { pool, clock, webhook_retry: chrono::Duration::hours(24) }
    }

    /// Webhook deliveries are retried for `window` after their creation or replay.
    pub fn with_webhook_retry(mut self, window: chrono::Duration) -> Self {
        self.webhook_retry = window;
        self
    }

    pub(crate) fn webhook_retry_window(&self) -> chrono::Duration {
        self.webhook_retry
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}
