//! Connecting a service to its dependencies at start: each retried until it answers (or the
//! service is told to stop), then registered with readiness.

use inbox_bus::Bus;
use inbox_config::{NatsSettings, PostgresSettings, RedisSettings};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;

use crate::ops::{Readiness, nats_check, postgres_check, redis_check};
use crate::retry_until_ready;

/// What a service needs connected before it takes work.
pub struct Needs<'a> {
    pub service: &'static str,
    pub postgres: Option<(&'a PostgresSettings, &'static Migrator)>,
    pub nats: &'a NatsSettings,
    pub redis: Option<&'a RedisSettings>,
}

impl Needs<'_> {
    /// The readiness names these needs register, for [`Readiness::expecting`].
    pub fn readiness(&self) -> Readiness {
        self.readiness_with(&[])
    }

    /// Readiness that also waits for the service's own `extra` parts (marked with
    /// [`Readiness::mark_ready`]), e.g. the state its HTTP routes answer with.
    pub fn readiness_with(&self, extra: &[&'static str]) -> Readiness {
        let mut names = vec!["nats"];
        if self.postgres.is_some() {
            names.push("postgres");
        }
        if self.redis.is_some() {
            names.push("redis");
        }
        names.extend_from_slice(extra);
        Readiness::expecting(&names)
    }
}

/// Connected dependencies.
pub struct Connected {
    pub pool: Option<PgPool>,
    pub bus: Bus,
    pub redis: Option<redis::aio::ConnectionManager>,
}

/// Connects (and migrates) everything `needs` names, retrying each until it answers. `None`
/// when `shutdown` fired first.
pub async fn connect(needs: Needs<'_>, readiness: &Readiness, shutdown: &CancellationToken) -> Option<Connected> {
    let pool = match needs.postgres {
        Some((settings, migrator)) => {
            let pool =
                retry_until_ready("postgres", shutdown, || crate::postgres::connect_and_migrate(settings, migrator))
                    .await?;
            readiness.register("postgres", postgres_check(pool.clone())).await;
            Some(pool)
        }
        None => None,
    };
    let name = format!("inbox-{}", needs.service);
    let bus = retry_until_ready("nats", shutdown, || async {
        let bus = Bus::connect_with(needs.nats, &name).await?;
        bus.ensure_streams().await?;
        Ok::<_, inbox_bus::BusError>(bus)
    })
    .await?;
    readiness.register("nats", nats_check(bus.clone())).await;
    let redis = match needs.redis {
        Some(settings) => {
            let manager = retry_until_ready("redis", shutdown, || async {
                let client = redis_client(settings)?;
                let config =
                    redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(settings.response_timeout()));
                redis::aio::ConnectionManager::new_with_config(client, config).await
            })
            .await?;
            readiness.register("redis", redis_check(manager.clone())).await;
            Some(manager)
        }
        None => None,
    };
    tracing::info!("dependencies connected");
    Some(Connected { pool, bus, redis })
}

/// A Redis client as the settings say: the URL, the service's own ACL user when one is set
/// (`redis.username`, `redis.password`) in place of any in the URL, and for `rediss://` the
/// authorities of `redis.ca_file` when set (else the system's).
pub fn redis_client(settings: &RedisSettings) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo as _;
    let mut info = settings.url.as_str().into_connection_info()?;
    if !settings.username.is_empty() {
        let login =
            info.redis_settings().clone().set_username(&settings.username).set_password(settings.password.expose());
        info = info.set_redis_settings(login);
    }
    if settings.ca_file.is_empty() {
        return redis::Client::open(info);
    }
    let root_cert = Some(std::fs::read(&settings.ca_file)?);
    redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls: None, root_cert })
}

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("http server: {0}")]
    Http(#[from] std::io::Error),
    #[error("grpc server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("bus: {0}")]
    Bus(#[from] inbox_bus::BusError),
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Other(String),
}
