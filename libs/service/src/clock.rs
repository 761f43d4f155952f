//! The one source of "now" for a service. Domain rules take the time as an argument; stores and
//! handlers ask their [`Clock`] for it, so tests decide what time it is. Timestamps that rules
//! compare are written from this clock too, never from the database's `now()`: one clock, or
//! the rules disagree with the rows they read.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// The system clock in production; a clock the test sets and moves in tests.
#[derive(Clone, Debug, Default)]
pub struct Clock(Source);

#[derive(Clone, Debug, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that stands at `at` until [`Clock::set`] or [`Clock::advance`] moves it. Its
    /// clones share the time.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self(Source::Manual(Arc::new(Mutex::new(at))))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            Source::System => Utc::now(),
            Source::Manual(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Moves a manual clock to `at`; the system clock cannot be moved and ignores it.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Source::Manual(now) = &self.0 {
            *now.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
        }
    }

    /// Moves a manual clock forward by `by`; the system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(now) = &self.0 {
            let mut now = now.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *now += by;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_its_clones_move_with_it() {
        let start = Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap();
        let clock = Clock::manual(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(25));
        assert_eq!(shared.now(), start + Duration::hours(25));
        shared.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn the_system_clock_follows_the_machine_and_ignores_moves() {
        let clock = Clock::system();
        let before = Utc::now();
        clock.advance(Duration::days(400));
        let now = clock.now();
        assert!(now >= before && now - before < Duration::minutes(1));
    }
}
