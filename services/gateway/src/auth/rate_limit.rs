//! Failed sign-ins, limited per account (the email given, whether or not it exists) and per
//! client address. Failures are counted in Redis in fixed windows and judged by the sliding
//! estimate of [`super::sliding_window`], so a burst across a window boundary is still caught.
//!
//! Time is an input: windows are numbered from the `now` the caller passes; Redis expiry only
//! collects old counters.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::sliding_window::{Counts, retry_after, window_at};

/// How many failures are allowed, per what, in how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    pub per_account: u32,
    pub per_address: u32,
    pub window_seconds: i64,
}

/// The counter key of an account: a digest, so emails never appear in Redis.
pub fn account_key(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    hex::encode(&digest[..16])
}

/// Counts failed sign-ins in Redis.
#[derive(Clone)]
pub struct SignInLimiter {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    limits: SignInLimits,
}

impl SignInLimiter {
    pub fn new(redis: redis::aio::ConnectionManager, key_prefix: &str, limits: SignInLimits) -> Self {
        Self { redis, prefix: format!("{key_prefix}signin:"), limits }
    }

    fn keys(&self, kind: &str, id: &str, window: i64) -> [String; 2] {
        [format!("{}{kind}:{id}:{}", self.prefix, window - 1), format!("{}{kind}:{id}:{window}", self.prefix)]
    }

    /// How long the caller must wait before trying again, if the account or the address has
    /// failed too often; `None` when they may try.
    pub async fn wait_needed(
        &self,
        account: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Duration>, redis::RedisError> {
        let (window, _) = window_at(now, self.limits.window_seconds);
        let [account_previous, account_current] = self.keys("account", account, window);
        let [address_previous, address_current] = self.keys("address", address, window);
        let mut redis = self.redis.clone();
        let counts: Vec<Option<u32>> = redis::cmd("MGET")
            .arg(&account_previous)
            .arg(&account_current)
            .arg(&address_previous)
            .arg(&address_current)
            .query_async(&mut redis)
            .await?;
        let count = |i: usize| counts.get(i).copied().flatten().unwrap_or(0);
        let account = Counts { previous: count(0), current: count(1) };
        let address = Counts { previous: count(2), current: count(3) };
        let window_seconds = self.limits.window_seconds;
        let waits = [
            retry_after(account, self.limits.per_account, now, window_seconds),
            retry_after(address, self.limits.per_address, now, window_seconds),
        ];
        Ok(waits.into_iter().flatten().max())
    }

    /// Counts one failed sign-in against the account and the address.
    pub async fn record_failure(
        &self,
        account: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), redis::RedisError> {
        let (window, _) = window_at(now, self.limits.window_seconds);
        let [_, account_current] = self.keys("account", account, window);
        let [_, address_current] = self.keys("address", address, window);
        // Kept two windows: the current one is the previous one next.
        let keep = self.limits.window_seconds * 2;
        let mut redis = self.redis.clone();
        redis::pipe()
            .cmd("INCR")
            .arg(&account_current)
            .ignore()
            .cmd("EXPIRE")
            .arg(&account_current)
            .arg(keep)
            .ignore()
            .cmd("INCR")
            .arg(&address_current)
            .ignore()
            .cmd("EXPIRE")
            .arg(&address_current)
            .arg(keep)
            .ignore()
            .query_async::<()>(&mut redis)
            .await
    }

    /// Forgets the account's failures after it signed in.
    pub async fn forget_account(&self, account: &str, now: DateTime<Utc>) -> Result<(), redis::RedisError> {
        let (window, _) = window_at(now, self.limits.window_seconds);
        let [previous, current] = self.keys("account", account, window);
        let mut redis = self.redis.clone();
        redis::cmd("DEL").arg(&previous).arg(&current).query_async::<()>(&mut redis).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_counted_by_its_email_in_any_case_and_never_by_the_email_itself() {
        assert_eq!(account_key("Sarah@Acme.test "), account_key("sarah@acme.test"));
        assert_ne!(account_key("sarah@acme.test"), account_key("sara@acme.test"));
        assert!(!account_key("sarah@acme.test").contains("sarah"));
        assert_eq!(account_key("x@y.z").len(), 32);
    }
}
