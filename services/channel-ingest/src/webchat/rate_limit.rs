//! Fixed one-minute windows in Redis, shared by every replica: a counter per scope, key and
//! minute, expiring after two minutes.

use redis::aio::ConnectionManager;

#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
}

/// How a request stands against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit; retry after this many seconds (the rest of the window).
    Limited {
        retry_after_secs: u64,
    },
}

impl RateLimiter {
    pub fn new(redis: ConnectionManager, prefix: String) -> Self {
        Self { redis, prefix }
    }

    /// Counts one request of `key` in `scope`, made at `now`, and says whether it is within
    /// `per_minute`.
    pub async fn check(
        &self,
        scope: &str,
        key: &str,
        per_minute: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Verdict, redis::RedisError> {
        let now = now.timestamp();
        let window = now / 60;
        let counter = format!("{}webchat:rate:{scope}:{key}:{window}", self.prefix);
        let mut redis = self.redis.clone();
        let (count,): (u64,) =
            redis::pipe().atomic().incr(&counter, 1u64).expire(&counter, 120).ignore().query_async(&mut redis).await?;
        if count <= u64::from(per_minute) {
            Ok(Verdict::Allowed)
        } else {
            Ok(Verdict::Limited { retry_after_secs: u64::try_from(60 - now.rem_euclid(60)).unwrap_or(60) })
        }
    }
}
