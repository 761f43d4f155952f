//! The sliding-window estimate every limit of the gateway judges by. Events are counted in
//! fixed windows (one counter per window, in Redis); the estimate at `now` is the previous
//! window's count, weighted by how much of it still overlaps the last `window` seconds, plus
//! the current window's count. A burst across a window boundary is still caught, and only two
//! counters are kept per limited thing.
//!
//! Pure: time is an input (`now`), windows are numbered from it.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Events counted in the window `now` falls in and in the one before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub previous: u32,
    pub current: u32,
}

/// The number of the fixed window `now` falls in, and how many milliseconds into it `now` is.
pub fn window_at(now: DateTime<Utc>, window_seconds: i64) -> (i64, i64) {
    let millis = window_seconds * 1000;
    let at = now.timestamp_millis();
    (at.div_euclid(millis), at.rem_euclid(millis))
}

/// How long until another attempt is allowed, if `counts` have reached `limit` at `now`;
/// `None` while attempts are allowed. Assumes no further event counts meanwhile, and rounds up to
/// whole seconds (at least one). Integer arithmetic in milliseconds: the sliding estimate
/// `previous · (w − e)/w + current` is compared with `limit` multiplied through by `w`.
pub fn retry_after(counts: Counts, limit: u32, now: DateTime<Utc>, window_seconds: i64) -> Option<Duration> {
    let (_, elapsed) = window_at(now, window_seconds);
    let (w, e) = (i128::from(window_seconds) * 1000, i128::from(elapsed));
    let (previous, current, limit) = (i128::from(counts.previous), i128::from(counts.current), i128::from(limit));
    if previous * (w - e) + current * w < limit * w {
        return None;
    }
    let wait_ms = if current >= limit {
        // Only once this window has become the previous one and slid far enough out:
        // current · (w − e') < limit · w.
        (w - e) + w * (current - limit) / current + 1
    } else {
        // The previous window slides out: previous · (w − e') + current · w < limit · w.
        w * (previous - limit + current) / previous + 1 - e
    };
    let seconds = (wait_ms.max(1) + 999) / 1000;
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration as Span, TimeZone};

    use super::*;

    const WINDOW: i64 = 900;

    /// The start of a 15-minute window.
    fn window_start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn windows_are_numbered_from_the_given_time() {
        let (n, into) = window_at(window_start(), WINDOW);
        assert_eq!((n * WINDOW, into), (window_start().timestamp(), 0));
        let (m, into) = window_at(window_start() + Span::seconds(450), WINDOW);
        assert_eq!((m, into), (n, 450_000));
        assert_eq!(window_at(window_start() + Span::seconds(900), WINDOW).0, n + 1);
    }

    #[test]
    fn attempts_are_allowed_below_the_limit() {
        let now = window_start() + Span::seconds(10);
        assert_eq!(retry_after(Counts { previous: 0, current: 4 }, 5, now, WINDOW), None);
        assert_eq!(retry_after(Counts::default(), 5, now, WINDOW), None);
    }

    #[test]
    fn the_fifth_failure_in_a_window_blocks_until_it_has_slid_out() {
        let now = window_start() + Span::seconds(100);
        let wait = retry_after(Counts { previous: 0, current: 5 }, 5, now, WINDOW).unwrap();
        // 800 s left in this window; then 5 · (1 − f) < 5 as soon as the next one begins.
        assert_eq!(wait, Duration::from_secs(801));
    }

    #[test]
    fn failures_of_the_previous_window_weigh_by_how_much_of_it_still_overlaps() {
        // 10 failures late in the previous window, 1 now, a third into this one:
        // 10 · 2/3 + 1 ≈ 7.7 ≥ 5; allowed once 10 · (1 − f) + 1 < 5, i.e. f > 0.6.
        let now = window_start() + Span::seconds(300);
        let wait = retry_after(Counts { previous: 10, current: 1 }, 5, now, WINDOW).unwrap();
        assert_eq!(wait, Duration::from_secs(241), "until 540 s into the window");
        let later = window_start() + Span::seconds(541);
        assert_eq!(retry_after(Counts { previous: 10, current: 1 }, 5, later, WINDOW), None);
    }

    #[test]
    fn a_burst_across_a_window_boundary_is_still_caught() {
        // 4 failures just before the boundary and 1 just after: 4 · 0.99 + 1 ≥ 4.96.
        let just_after = window_start() + Span::seconds(9);
        assert!(retry_after(Counts { previous: 4, current: 1 }, 5, just_after, WINDOW).is_none(), "4.96 < 5");
        assert!(retry_after(Counts { previous: 4, current: 2 }, 5, just_after, WINDOW).is_some());
    }

    #[test]
    fn the_wait_is_at_least_a_second() {
        let end = window_start() + Span::milliseconds(899_999);
        assert_eq!(retry_after(Counts { previous: 0, current: 5 }, 5, end, WINDOW), Some(Duration::from_secs(1)));
    }
}
