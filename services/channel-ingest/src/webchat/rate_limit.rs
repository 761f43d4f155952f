//! Fixed windows in Redis, shared by every replica: a counter per scope, key and window,
//! expiring after two windows. Several limits of one request are counted in one round trip.

use redis::aio::ConnectionManager;

#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
}

/// How a request stands against its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over a limit; retry after this many seconds (the rest of the longest window exceeded).
    Limited {
        retry_after_secs: u64,
    },
}

/// One limit a request counts against: at most `limit` requests of `key` in `scope` per
/// window of `window_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub limit: u32,
    pub window_secs: i64,
}

impl<'a> Limit<'a> {
    pub fn per_minute(scope: &'a str, key: &'a str, limit: u32) -> Self {
        Self { scope, key, limit, window_secs: 60 }
    }

    pub fn per_hour(scope: &'a str, key: &'a str, limit: u32) -> Self {
        Self { scope, key, limit, window_secs: 3600 }
    }
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
        self.check_all(&[Limit::per_minute(scope, key, per_minute)], now).await
    }

    /// Counts one request, made at `now`, against every limit of `limits` (all of them, in one
    /// round trip), and says whether it is within all of them.
    pub async fn check_all(
        &self,
        limits: &[Limit<'_>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Verdict, redis::RedisError> {
        if limits.is_empty() {
            return Ok(Verdict::Allowed);
        }
        let now = now.timestamp();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for limit in limits {
            let window = limit.window_secs.max(1);
            let counter =
                format!("{}webchat:rate:{}:{}:{}:{}", self.prefix, limit.scope, window, limit.key, now / window);
            pipe.incr(&counter, 1u64).expire(&counter, window * 2).ignore();
        }
        let mut redis = self.redis.clone();
        let counts: Vec<u64> = pipe.query_async(&mut redis).await?;
        let retry_after = limits
            .iter()
            .zip(counts)
            .filter(|(limit, count)| *count > u64::from(limit.limit))
            .map(|(limit, _)| {
                let window = limit.window_secs.max(1);
                u64::try_from(window - now.rem_euclid(window)).unwrap_or(1)
            })
            .max();
        Ok(retry_after.map_or(Verdict::Allowed, |retry_after_secs| Verdict::Limited { retry_after_secs }))
    }
}
