//! Outbound webhooks: the event types an endpoint subscribes to, the signature, and when a
//! failed delivery is tried again.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The event types an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 8] = [
    "contact.created",
    "contact.updated",
    "conversation.created",
    "conversation.assigned",
    "conversation.status_changed",
    "conversation.resolved",
    "message.created",
    "sla.breached",
];

/// Checks a subscription list: known types, at least one, no repeats (kept in the given order).
pub fn parse_event_types(types: &[String]) -> Result<Vec<String>, String> {
    if types.is_empty() {
        return Err(format!("events: subscribe to at least one of {}", EVENT_TYPES.join(", ")));
    }
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim();
        if !EVENT_TYPES.contains(&t) {
            return Err(format!("unknown event type {t:?}; known: {}", EVENT_TYPES.join(", ")));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(out)
}

/// Header names of a delivery.
pub const ID_HEADER: &str = "inbox-webhook-id";
pub const TIMESTAMP_HEADER: &str = "inbox-webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "inbox-webhook-signature";

/// `v1=` and the hex HMAC-SHA256, keyed with the endpoint's secret, of
/// `"{timestamp}.{body}"` (the timestamp in Unix seconds, as sent in
/// `Inbox-Webhook-Timestamp`).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait after the `failures`-th failed attempt: 30 s doubling to a two-hour ceiling.
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    Duration::seconds((30i64 << doublings).min(2 * 3600))
}

/// When to try again after `failures` failed attempts, or `None` once the retry window
/// (ending `retry_until`) is over.
pub fn next_attempt(failures: u32, now: DateTime<Utc>, retry_until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = now + retry_delay(failures);
    (next <= retry_until).then_some(next)
}

/// Whether an endpoint that has failed every attempt since `failing_since`
/// (`consecutive_failures` of them) should be disabled at `now`: it failed at least
/// `min_failures` times and either has failed for `after`, or a delivery just ran out of
/// retries (the endpoint failed through a whole retry window).
pub fn should_disable(
    failing_since: Option<DateTime<Utc>>,
    consecutive_failures: i32,
    gave_up: bool,
    now: DateTime<Utc>,
    after: Duration,
    min_failures: i32,
) -> bool {
    consecutive_failures >= min_failures && failing_since.is_some_and(|since| gave_up || now - since >= after)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer, computed independently:
        // printf '1700000000.{"id":"1"}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(signature("whsec_test", 1_700_000_000, br#"{"id":"1"}"#), KNOWN_ANSWER);
        assert_ne!(signature("whsec_other", 1_700_000_000, br#"{"id":"1"}"#), KNOWN_ANSWER);
        assert_ne!(signature("whsec_test", 1_700_000_001, br#"{"id":"1"}"#), KNOWN_ANSWER);
    }

    const KNOWN_ANSWER: &str = "v1=11bf4466ea17c3df3fd743af0b435368e16b7a05eb8eced85e8c4670767bdec5";

    #[test]
    fn retries_back_off_from_30_seconds_to_two_hours_and_stop_after_the_window() {
        assert_eq!(retry_delay(1), Duration::seconds(30));
        assert_eq!(retry_delay(2), Duration::seconds(60));
        assert_eq!(retry_delay(5), Duration::seconds(480));
        assert_eq!(retry_delay(20), Duration::hours(2));
        let created = Utc.with_ymd_and_hms(2031, 1, 6, 10, 0, 0).unwrap();
        let until = created + Duration::hours(24);
        assert_eq!(next_attempt(1, created, until), Some(created + Duration::seconds(30)));
        assert_eq!(next_attempt(12, until - Duration::minutes(5), until), None);
        // Over 24 hours that is 18 retries after the first attempt: 19 attempts in all.
        let (mut at, mut failures) = (created, 0);
        while let Some(next) = next_attempt(failures + 1, at, until) {
            failures += 1;
            at = next;
        }
        assert_eq!(failures, 18);
    }

    #[test]
    fn an_endpoint_is_disabled_only_after_failing_long_and_often_enough() {
        let t = Utc.with_ymd_and_hms(2031, 1, 6, 10, 0, 0).unwrap();
        let day = Duration::hours(24);
        assert!(!should_disable(None, 50, false, t, day, 10));
        assert!(!should_disable(Some(t - Duration::hours(23)), 50, false, t, day, 10));
        assert!(!should_disable(Some(t - Duration::hours(25)), 3, false, t, day, 10));
        assert!(should_disable(Some(t - Duration::hours(25)), 10, false, t, day, 10));
        // A delivery that ran out of retries: the endpoint failed through its whole window.
        assert!(should_disable(Some(t - Duration::hours(22)), 19, true, t, day, 10));
        assert!(!should_disable(Some(t - Duration::hours(22)), 3, true, t, day, 10));
    }

    #[test]
    fn subscriptions_name_known_types() {
        assert_eq!(
            parse_event_types(&["message.created".into(), "message.created".into()]).unwrap(),
            vec!["message.created"]
        );
        assert!(parse_event_types(&[]).is_err());
        assert!(parse_event_types(&["message.deleted".into()]).is_err());
    }
}
