//! Live availability in Redis: one key per agent, `<prefix>availability:<tenant>:<agent>`,
//! holding `online` or `away` and until when it holds (from the book's clock), with a Redis
//! expiry at the same moment. A missing or passed one is offline, so a client that crashes goes
//! offline by itself once its last refresh expires.

use std::collections::HashMap;
use std::time::Duration;

use inbox_service::Clock;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::domain::{Availability, Presence};

/// Default hold of an availability that is not refreshed.
pub const DEFAULT_TTL: Duration = Duration::from_secs(120);
/// Every Redis call gives up after this long.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Reads and writes agents' availability.
#[derive(Clone)]
pub struct AvailabilityBook {
    redis: ConnectionManager,
    prefix: String,
    clock: Clock,
}

impl AvailabilityBook {
    /// A book on the system clock.
    pub fn new(redis: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self::with_clock(redis, prefix, Clock::system())
    }

    /// A book that takes "now" from `clock` (expiries are set and judged by it).
    pub fn with_clock(redis: ConnectionManager, prefix: impl Into<String>, clock: Clock) -> Self {
        Self { redis, prefix: prefix.into(), clock }
    }

    fn key(&self, tenant_id: Uuid, agent_id: Uuid) -> String {
        format!("{}availability:{tenant_id}:{agent_id}", self.prefix)
    }

    /// Sets an agent's availability for `ttl`; offline deletes the key.
    pub async fn set(
        &self,
        tenant_id: Uuid,
        agent_id: Uuid,
        availability: Availability,
        ttl: Duration,
    ) -> Result<(), AvailabilityError> {
        let mut redis = self.redis.clone();
        let key = self.key(tenant_id, agent_id);
        let call = async {
            match availability {
                Availability::Offline => redis::cmd("DEL").arg(&key).query_async::<()>(&mut redis).await,
                availability => {
                    let seconds = ttl.as_secs().max(1);
                    let until = i64::try_from(seconds)
                        .ok()
                        .and_then(chrono::Duration::try_seconds)
                        .and_then(|hold| self.clock.now().checked_add_signed(hold))
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(Presence { availability, until }.encode())
                        .arg("EX")
                        .arg(seconds)
                        .query_async::<()>(&mut redis)
                        .await
                }
            }
        };
        tokio::time::timeout(REDIS_TIMEOUT, call).await.map_err(|_| AvailabilityError::Timeout(REDIS_TIMEOUT))??;
        Ok(())
    }

    /// The availability of each of `agents` now (offline when unknown or expired).
    pub async fn of(&self, tenant_id: Uuid, agents: &[Uuid]) -> Result<HashMap<Uuid, Availability>, AvailabilityError> {
        if agents.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<String> = agents.iter().map(|a| self.key(tenant_id, *a)).collect();
        let mut redis = self.redis.clone();
        let values: Vec<Option<String>> =
            tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("MGET").arg(&keys).query_async(&mut redis))
                .await
                .map_err(|_| AvailabilityError::Timeout(REDIS_TIMEOUT))??;
        let now = self.clock.now();
        Ok(agents
            .iter()
            .zip(values)
            .map(|(agent, value)| (*agent, Presence::stored_at(value.as_deref(), now)))
            .collect())
    }

    /// Those of `agents` who are online now.
    pub async fn online(&self, tenant_id: Uuid, agents: &[Uuid]) -> Result<Vec<Uuid>, AvailabilityError> {
        let all = self.of(tenant_id, agents).await?;
        Ok(agents.iter().copied().filter(|a| all.get(a) == Some(&Availability::Online)).collect())
    }
}
