//! Calendar days of the query language as instants: a day starts at midnight in the tenant's
//! time zone.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::query::{DateBound, DateRelation, DayRef};

/// A half-open time range `[from, to)`; an unset side is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether nothing can fall in it.
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.to), (Some(from), Some(to)) if from >= to)
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// Every bound at once (their intersection), days taken in `zone`, `today` relative to `now`.
pub fn resolve(bounds: &[DateBound], zone: Tz, now: DateTime<Utc>) -> TimeRange {
    let mut range = TimeRange::default();
    for bound in bounds {
        let day = match bound.day {
            DayRef::Date(d) => d,
            DayRef::Today => now.with_timezone(&zone).date_naive(),
            DayRef::Yesterday => now.with_timezone(&zone).date_naive() - Duration::days(1),
        };
        let start = day_start(day, zone);
        let next = day_start(day + Duration::days(1), zone);
        let (from, to) = match bound.relation {
            DateRelation::Before => (None, Some(start)),
            DateRelation::After => (Some(start), None),
            DateRelation::On => (Some(start), Some(next)),
        };
        if let Some(from) = from {
            range.from = Some(range.from.map_or(from, |f| f.max(from)));
        }
        if let Some(to) = to {
            range.to = Some(range.to.map_or(to, |t| t.min(to)));
        }
    }
    range
}

/// The first instant of `day` in `zone` (a day whose midnight a DST change skips starts at
/// the first local time that exists).
pub fn day_start(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut local = day.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&local).earliest() {
            return at.with_timezone(&Utc);
        }
        local += Duration::minutes(30);
    }
    // No zone skips more than two hours; this is unreachable in practice.
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// A period ending now, as the top-questions API names it: `24h`, `7d`, `30d`, `90d`.
pub fn period(text: &str) -> Option<Duration> {
    match text.trim() {
        "" | "7d" => Some(Duration::days(7)),
        "24h" | "1d" => Some(Duration::hours(24)),
        "30d" => Some(Duration::days(30)),
        "90d" => Some(Duration::days(90)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(relation: DateRelation, day: DayRef) -> DateBound {
        DateBound { relation, day }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn on_a_day_is_that_day_in_the_tenant_zone() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let r = resolve(&[bound(DateRelation::On, DayRef::Date(date(2026, 3, 1)))], paris, Utc::now());
        assert_eq!(r.from, Some(utc("2026-02-28T23:00:00Z")));
        assert_eq!(r.to, Some(utc("2026-03-01T23:00:00Z")));
        assert!(r.contains(utc("2026-03-01T22:59:59Z")) && !r.contains(utc("2026-03-01T23:00:00Z")));
    }

    #[test]
    fn after_includes_the_day_and_before_excludes_it() {
        let r = resolve(
            &[
                bound(DateRelation::After, DayRef::Date(date(2026, 3, 1))),
                bound(DateRelation::Before, DayRef::Date(date(2026, 3, 8))),
            ],
            Tz::UTC,
            Utc::now(),
        );
        assert_eq!(r, TimeRange { from: Some(utc("2026-03-01T00:00:00Z")), to: Some(utc("2026-03-08T00:00:00Z")) });
        let crossed = resolve(
            &[
                bound(DateRelation::After, DayRef::Date(date(2026, 3, 8))),
                bound(DateRelation::Before, DayRef::Date(date(2026, 3, 1))),
            ],
            Tz::UTC,
            Utc::now(),
        );
        assert!(crossed.is_empty());
    }

    #[test]
    fn today_and_yesterday_follow_the_zone_not_utc() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        // 20:00 UTC on 1 March is already 2 March in Tokyo.
        let now = utc("2026-03-01T20:00:00Z");
        let today = resolve(&[bound(DateRelation::On, DayRef::Today)], tokyo, now);
        assert_eq!(today.from, Some(utc("2026-03-01T15:00:00Z")));
        let yesterday = resolve(&[bound(DateRelation::On, DayRef::Yesterday)], tokyo, now);
        assert_eq!(yesterday.to, today.from);
    }

    #[test]
    fn a_day_lasts_23_hours_when_the_clocks_go_forward() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let r = resolve(&[bound(DateRelation::On, DayRef::Date(date(2026, 3, 29)))], paris, Utc::now());
        assert_eq!(r.to.unwrap() - r.from.unwrap(), Duration::hours(23));
    }

    #[test]
    fn a_midnight_that_does_not_exist_starts_the_day_at_the_first_local_time() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2024-09-08.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let start = day_start(date(2024, 9, 8), santiago);
        assert_eq!(start, utc("2024-09-08T04:00:00Z"));
    }

    #[test]
    fn periods_are_named() {
        assert_eq!(period(""), Some(Duration::days(7)));
        assert_eq!(period("24h"), Some(Duration::hours(24)));
        assert_eq!(period("90d"), Some(Duration::days(90)));
        assert_eq!(period("1y"), None);
    }
}
