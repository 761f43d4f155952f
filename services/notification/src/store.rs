//! The notification service's PostgreSQL store.

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
