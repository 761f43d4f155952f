//! What presence and viewers share to keep Redis tidy: a round every period, and the entries of
//! an index (sorted by expiry) that are due.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `work` every `period` (a late round delays the next) until `shutdown`.
pub async fn every<F, Fut>(period: Duration, shutdown: CancellationToken, mut work: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => work().await,
        }
    }
}

/// Entries handled per round at most.
const DUE_PER_ROUND: usize = 500;

/// The entries of the sorted set `index` whose score (an expiry, ms) is at most `now_ms`.
pub async fn due_entries(
    redis: &redis::aio::ConnectionManager,
    index: &str,
    now_ms: i64,
) -> Result<Vec<String>, redis::RedisError> {
    redis::cmd("ZRANGEBYSCORE")
        .arg(index)
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(DUE_PER_ROUND)
        .query_async(&mut redis.clone())
        .await
}
