//! A service's own database: created when missing, migrated at start.

use std::time::Duration;

use inbox_config::PostgresSettings;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgPool};

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("invalid postgres url: {0}")]
    Url(String),
    #[error("cannot connect to postgres: {0}")]
    Connect(String),
    #[error("cannot create database {0}: {1}")]
    Create(String, String),
    #[error("migrations failed: {0}")]
    Migrate(String),
}

/// Connects to the service's database (creating it if it does not exist) and applies
/// `migrator`. Several replicas may do this at once: sqlx serialises migrations with an
/// advisory lock, and a concurrent `CREATE DATABASE` is tolerated.
pub async fn connect_and_migrate(settings: &PostgresSettings, migrator: &Migrator) -> Result<PgPool, PostgresError> {
    let options: PgConnectOptions = settings.url.parse().map_err(|e: sqlx::Error| PostgresError::Url(e.to_string()))?;
    // Short OLTP queries: JIT compilation would add tens of milliseconds to a query the
    // planner merely estimates as expensive, and never pays back here.
    let options = options.log_statements(tracing::log::LevelFilter::Trace).options([("jit", "off")]);
    ensure_database_exists(&options).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| PostgresError::Connect(e.to_string()))?;
    migrator.run(&pool).await.map_err(|e| PostgresError::Migrate(e.to_string()))?;
    Ok(pool)
}

async fn ensure_database_exists(options: &PgConnectOptions) -> Result<(), PostgresError> {
    let Some(database) = options.get_database().map(str::to_owned) else { return Ok(()) };
    match sqlx::PgConnection::connect_with(options).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return Ok(());
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {}
        Err(e) => return Err(PostgresError::Connect(e.to_string())),
    }
    let mut admin = sqlx::PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .map_err(|e| PostgresError::Connect(e.to_string()))?;
    let quoted = database.replace('"', "\"\"");
    match admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{quoted}\""))).await {
        Ok(_) => {
            tracing::info!(database = %database, "created database");
            Ok(())
        }
        // Another replica created it first (duplicate_database, or the catalog's unique index).
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => Ok(()),
        Err(e) => Err(PostgresError::Create(database, e.to_string())),
    }
}
