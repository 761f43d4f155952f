//! A service's own database: created when missing, migrated at start.

use std::time::Duration;

use inbox_config::PostgresSettings;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
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
    let options = without_tls_on_loopback(options, &settings.url);
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

/// sqlx's default `sslmode=prefer` encrypts even a connection to this machine's own server when
/// it has `ssl = on` (Debian's default), which costs both sides CPU on every query and protects
/// nothing. Without an explicit `sslmode` in the URL, a loopback host or a Unix socket connects
/// in the clear; any other host keeps `prefer`, and an explicit `sslmode` always wins.
fn without_tls_on_loopback(options: PgConnectOptions, url: &str) -> PgConnectOptions {
    if url.contains("sslmode=") || url.contains("ssl-mode=") {
        return options;
    }
    let host = options.get_host();
    let loopback = host.starts_with('/')
        || host == "localhost"
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { options.ssl_mode(PgSslMode::Disable) } else { options }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> String {
        let options: PgConnectOptions = url.parse().unwrap();
        format!("{:?}", without_tls_on_loopback(options, url).get_ssl_mode())
    }

    #[test]
    fn loopback_connects_in_the_clear_unless_the_url_says_otherwise() {
        assert_eq!(mode("postgres://postgres@127.0.0.1:5432/db"), "Disable");
        assert_eq!(mode("postgres://postgres@localhost/db"), "Disable");
        assert_eq!(mode("postgres://postgres@[::1]:5432/db"), "Disable");
        assert_eq!(mode("postgres://postgres@127.0.0.1/db?sslmode=require"), "Require");
        assert_eq!(mode("postgres://postgres@db.internal:5432/db"), "Prefer");
        assert_eq!(mode("postgres://postgres@10.0.0.7/db"), "Prefer");
    }
}
