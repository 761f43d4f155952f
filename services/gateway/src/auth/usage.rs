//! When each API key was last used, kept off the request path: a request only notes the time
//! in memory; a background task writes what was noted, in one statement, every second. A key
//! is noted at most once a minute, so a busy key costs one row update a minute per replica.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The longest a key's recorded last use lags behind the truth.
pub const USE_RESOLUTION: Duration = Duration::minutes(1);

#[derive(Default)]
struct Noted {
    /// When each key's use was last noted for writing.
    noted_at: HashMap<Uuid, DateTime<Utc>>,
    /// Uses waiting to be written.
    pending: HashMap<Uuid, DateTime<Utc>>,
}

/// Uses of keys waiting to be written.
#[derive(Default)]
pub struct KeyUses {
    noted: Mutex<Noted>,
}

impl KeyUses {
    fn noted(&self) -> std::sync::MutexGuard<'_, Noted> {
        self.noted.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes that `key` was used at `now`, unless it was noted less than a minute before.
    pub fn note(&self, key: Uuid, now: DateTime<Utc>) {
        let mut noted = self.noted();
        if noted.noted_at.get(&key).is_some_and(|at| now - *at < USE_RESOLUTION) {
            return;
        }
        noted.noted_at.insert(key, now);
        noted.pending.insert(key, now);
    }

    /// The uses noted since the last call.
    pub fn take(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.noted().pending.drain().collect()
    }

    /// Forgets a revoked key.
    pub fn forget(&self, key: Uuid) {
        let mut noted = self.noted();
        noted.noted_at.remove(&key);
        noted.pending.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_key_is_written_at_most_once_a_minute_however_often_it_is_used() {
        let uses = KeyUses::default();
        let key = Uuid::new_v4();
        for second in 0..59 {
            uses.note(key, now() + Duration::seconds(second));
        }
        assert_eq!(uses.take(), vec![(key, now())]);
        uses.note(key, now() + Duration::seconds(59));
        assert_eq!(uses.take(), vec![]);
        uses.note(key, now() + Duration::seconds(60));
        assert_eq!(uses.take(), vec![(key, now() + Duration::seconds(60))]);
    }

    #[test]
    fn keys_are_noted_apart_and_taken_once() {
        let uses = KeyUses::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        uses.note(a, now());
        uses.note(b, now() + Duration::seconds(1));
        let mut taken = uses.take();
        taken.sort();
        let mut expected = vec![(a, now()), (b, now() + Duration::seconds(1))];
        expected.sort();
        assert_eq!(taken, expected);
        assert!(uses.take().is_empty());
        uses.forget(a);
        uses.note(a, now() + Duration::seconds(2));
        assert_eq!(uses.take(), vec![(a, now() + Duration::seconds(2))], "a forgotten key is noted afresh");
    }
}
