//! Rate limits on what a client asks for over its socket: at most one change per interval;
//! asks inside the interval are held and the latest is applied when it ends.

use std::time::Duration;

use tokio::time::Instant;

pub struct LatestWins<T> {
    interval: Duration,
    last: Option<Instant>,
    held: Option<T>,
}

impl<T> LatestWins<T> {
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: None, held: None }
    }

    /// The ask to apply now, or `None` when it is held (replacing any ask held before).
    pub fn offer(&mut self, ask: T, now: Instant) -> Option<T> {
        match self.last {
            Some(last) if now < last + self.interval => {
                self.held = Some(ask);
                None
            }
            _ => {
                self.last = Some(now);
                self.held = None;
                Some(ask)
            }
        }
    }

    /// When the held ask is due, if one is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.as_ref().and(self.last.map(|last| last + self.interval))
    }

    /// The held ask, once its interval has ended.
    pub fn due(&mut self, now: Instant) -> Option<T> {
        if self.next_due().is_some_and(|due| now >= due) {
            self.last = Some(now);
            return self.held.take();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ask_applies_at_once_and_a_burst_applies_only_its_latest_when_the_interval_ends() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut limit = LatestWins::new(ms(2000));
        assert_eq!(limit.offer("away", start), Some("away"));
        assert_eq!(limit.next_due(), None);
        for (i, ask) in ["online", "offline", "away", "online"].into_iter().enumerate() {
            assert_eq!(limit.offer(ask, start + ms(10 * i as u64 + 10)), None);
        }
        assert_eq!(limit.next_due(), Some(start + ms(2000)));
        assert_eq!(limit.due(start + ms(1999)), None);
        assert_eq!(limit.due(start + ms(2000)), Some("online"), "the latest");
        assert_eq!(limit.due(start + ms(9000)), None, "once");
        assert_eq!(limit.offer("away", start + ms(4000)), Some("away"), "after the interval: at once");
    }
}
