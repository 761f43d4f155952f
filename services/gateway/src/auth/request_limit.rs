//! REST requests, limited per person and per API key, so one client cannot make the fleet
//! spend for everyone. Each authenticated request counts against its principal's budget
//! (`requests_per_minute_per_user`, `requests_per_minute_per_key`) in Redis, so every gateway
//! replica shares it, and is judged by the sliding estimate of [`super::sliding_window`] over
//! one minute. The operator is not limited; the live socket upgrade and signing in have limits
//! of their own and are not counted here.
//!
//! A refused request does not use up budget (its count is taken back), so a client that waits
//! for `Retry-After` gets in then. When Redis cannot be asked in time, requests are allowed
//! (failing open keeps the inbox usable through a Redis outage), counted in
//! `inbox_gateway_rate_limit_unavailable_total` and logged at warn at most once a minute.
//!
//! Time is an input: windows are numbered from the `now` the caller passes.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use inbox_telemetry::prometheus::{IntCounter, IntCounterVec, register_int_counter, register_int_counter_vec};
use uuid::Uuid;

use super::Principal;
use super::sliding_window::{Counts, retry_after, window_at};

/// The window requests are counted in: the limits are per minute.
pub const REQUEST_WINDOW_SECONDS: i64 = 60;

/// How long Redis is given to count a request before the request is let through uncounted.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// At most one warning per this many seconds while Redis cannot count requests.
const WARN_EVERY_SECONDS: i64 = 60;

// Registration fails only on a duplicate name, which would be a bug in this module.
#[allow(clippy::expect_used)]
static UNAVAILABLE: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "inbox_gateway_rate_limit_unavailable_total",
        "REST requests let through uncounted because Redis could not count them in time."
    )
    .expect("metric registers once")
});

#[allow(clippy::expect_used)]
static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_gateway_rate_limited_total",
        "REST requests refused with 429 for their budget, by whose budget (user, key).",
        &["budget"]
    )
    .expect("metric registers once")
});

/// Requests allowed per minute, per person and per API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    pub per_user: u32,
    pub per_key: u32,
}

/// Whose budget a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    User(Uuid),
    Key(Uuid),
}

impl Budget {
    /// The budget of a principal; the operator has none.
    pub fn of(principal: &Principal) -> Option<Budget> {
        match principal {
            Principal::User { user_id, .. } => Some(Budget::User(*user_id)),
            Principal::Key { key_id, .. } => Some(Budget::Key(*key_id)),
            Principal::Operator => None,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Budget::User(_) => "user",
            Budget::Key(_) => "key",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Budget::User(id) | Budget::Key(id) => id,
        }
    }
}

impl RequestLimits {
    pub fn of(&self, budget: Budget) -> u32 {
        match budget {
            Budget::User(_) => self.per_user,
            Budget::Key(_) => self.per_key,
        }
    }
}

/// A request over its budget: the limit it is over, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverLimit {
    pub limit: u32,
    pub retry_after: Duration,
}

/// Whether a request may go ahead, given the counts that include it: it may while the estimate
/// without it is below `limit`.
pub fn judge(counted: Counts, limit: u32, now: DateTime<Utc>) -> Option<OverLimit> {
    let before = Counts { previous: counted.previous, current: counted.current.saturating_sub(1) };
    retry_after(before, limit, now, REQUEST_WINDOW_SECONDS).map(|retry_after| OverLimit { limit, retry_after })
}

/// Counts REST requests in Redis. Cheap to clone.
#[derive(Clone)]
pub struct RequestLimiter {
    redis: redis::aio::ConnectionManager,
    prefix: String,
    limits: RequestLimits,
    /// When the last warning about Redis was logged (Unix seconds), shared by the clones.
    last_warned: std::sync::Arc<AtomicI64>,
}

impl RequestLimiter {
    pub fn new(redis: redis::aio::ConnectionManager, key_prefix: &str, limits: RequestLimits) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}requests:"),
            limits,
            last_warned: std::sync::Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    fn key(&self, budget: Budget, window: i64) -> String {
        format!("{}{}:{}:{window}", self.prefix, budget.kind(), budget.id())
    }

    /// Counts a request of `budget` at `now`; `Err` when it is over the budget (and then not
    /// counted). Allowed when Redis cannot count it in time.
    pub async fn admit(&self, budget: Budget, now: DateTime<Utc>) -> Result<(), OverLimit> {
        let limit = self.limits.of(budget);
        let counted = match tokio::time::timeout(REDIS_TIMEOUT, self.count(budget, now)).await {
            Ok(Ok(counted)) => counted,
            Ok(Err(e)) => {
                self.fail_open(now, &e.to_string());
                return Ok(());
            }
            Err(_) => {
                self.fail_open(now, "redis did not answer in time");
                return Ok(());
            }
        };
        let Some(over) = judge(counted, limit, now) else { return Ok(()) };
        REFUSED.with_label_values(&[budget.kind()]).inc();
        if let Err(e) = tokio::time::timeout(REDIS_TIMEOUT, self.take_back(budget, now)).await {
            tracing::debug!(error = %e, "refused request's count not taken back");
        }
        Err(over)
    }

    /// Adds the request to this window's count; both windows' counts, this one included.
    async fn count(&self, budget: Budget, now: DateTime<Utc>) -> Result<Counts, redis::RedisError> {
        let (window, _) = window_at(now, REQUEST_WINDOW_SECONDS);
        let current = self.key(budget, window);
        let mut redis = self.redis.clone();
        let (previous, current): (Option<u32>, u32) = redis::pipe()
            .cmd("GET")
            .arg(self.key(budget, window - 1))
            .cmd("INCR")
            .arg(&current)
            .cmd("EXPIRE")
            .arg(&current)
            // Kept two windows: the current one is the previous one next.
            .arg(REQUEST_WINDOW_SECONDS * 2)
            .ignore()
            .query_async(&mut redis)
            .await?;
        Ok(Counts { previous: previous.unwrap_or(0), current })
    }

    async fn take_back(&self, budget: Budget, now: DateTime<Utc>) {
        let (window, _) = window_at(now, REQUEST_WINDOW_SECONDS);
        let mut redis = self.redis.clone();
        if let Err(e) = redis::cmd("DECR").arg(self.key(budget, window)).query_async::<()>(&mut redis).await {
            tracing::debug!(error = %e, "refused request's count not taken back");
        }
    }

    fn fail_open(&self, now: DateTime<Utc>, reason: &str) {
        UNAVAILABLE.inc();
        let at = now.timestamp();
        let last = self.last_warned.load(Ordering::Relaxed);
        let due = last == i64::MIN || at.saturating_sub(last) >= WARN_EVERY_SECONDS;
        if due && self.last_warned.compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(reason, "request limits unavailable; requests allowed uncounted");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration as Span, TimeZone};

    use super::*;

    /// The start of a minute.
    fn minute() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap()
    }

    fn counted(previous: u32, current: u32) -> Counts {
        Counts { previous, current }
    }

    #[test]
    fn the_request_that_reaches_the_limit_is_allowed_and_the_next_one_is_not() {
        let now = minute() + Span::seconds(20);
        assert_eq!(judge(counted(0, 600), 600, now), None, "the 600th request of the minute");
        let refused = judge(counted(0, 601), 600, now).unwrap();
        // 40 s left in this minute; then 600 · (1 − f) < 600 as soon as the next one begins.
        assert_eq!(refused, OverLimit { limit: 600, retry_after: Duration::from_secs(41) });
    }

    #[test]
    fn the_last_minute_weighs_by_how_much_of_it_still_overlaps() {
        // 100 requests last minute, a quarter into this one: 100 · 0.75 + 24 = 99 < 100.
        let now = minute() + Span::seconds(15);
        assert_eq!(judge(counted(100, 25), 100, now), None);
        // 100 · 0.75 + 25 = 100: refused until the previous minute slid out by one more request.
        let refused = judge(counted(100, 26), 100, now).unwrap();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(judge(counted(100, 26), 100, minute() + Span::seconds(16)), None);
    }

    #[test]
    fn a_burst_across_the_minute_boundary_is_caught() {
        // 60 requests late last minute and one half a second into this one: 60 · 0.99 + 1 ≥ 60.
        let just_after = minute() + Span::milliseconds(500);
        assert_eq!(judge(counted(60, 1), 60, just_after), None, "the first: 60 · 0.99 < 60");
        let refused = judge(counted(60, 2), 60, just_after).unwrap();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(judge(counted(60, 2), 60, minute() + Span::milliseconds(1001)), None);
        assert!(judge(counted(60, 31), 60, minute() + Span::seconds(30)).is_some(), "30 + 30 before it");
        assert!(judge(counted(60, 31), 60, minute() + Span::seconds(31)).is_none());
    }

    #[test]
    fn people_and_keys_have_their_own_budgets_and_the_operator_none() {
        let limits = RequestLimits { per_user: 1200, per_key: 600 };
        let (tenant_id, id) = (Uuid::new_v4(), Uuid::new_v4());
        let user = Principal::User { tenant_id, user_id: id, role: inbox_service::Role::Agent, session_id: None };
        let key = Principal::Key { tenant_id, key_id: id, scope: super::super::KeyScope::Integration };
        assert_eq!(Budget::of(&user).map(|b| limits.of(b)), Some(1200));
        assert_eq!(Budget::of(&key).map(|b| limits.of(b)), Some(600));
        assert_eq!(Budget::of(&Principal::Operator), None);
    }

    #[test]
    fn a_user_and_a_key_with_the_same_id_are_counted_apart() {
        let id = Uuid::nil();
        let (user, key) = (Budget::User(id), Budget::Key(id));
        assert_ne!((user.kind(), user.id()), (key.kind(), key.id()));
    }
}
