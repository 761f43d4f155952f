//! Availability frames, coalesced per agent: a frame goes out only when the agent's
//! availability really changed since the last one sent, and at most one per interval; changes
//! inside the interval are held and the latest goes out when it ends (or nothing, when the
//! agent is back where they were).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What became of an offered change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Send it now.
    SendNow,
    /// Held until the agent's interval ends ([`Coalescer::due`]).
    Held,
    /// Nothing changed for the clients: dropped.
    Unchanged,
}

struct Slot<V, F> {
    sent: V,
    sent_at: Instant,
    pending: Option<(V, F)>,
}

/// Per key (tenant and agent): the last value sent and a held change with its frame.
pub struct Coalescer<K, V, F> {
    interval: Duration,
    slots: HashMap<K, Slot<V, F>>,
}

/// Slots untouched this long are forgotten (a repeated value then passes once more).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl<K: Hash + Eq + Clone, V: PartialEq + Copy, F> Coalescer<K, V, F> {
    pub fn new(interval: Duration) -> Self {
        Self { interval, slots: HashMap::new() }
    }

    /// Offers a change of `key` to `value` at `now`; `frame` is what would go out.
    pub fn offer(&mut self, key: K, value: V, frame: F, now: Instant) -> (Offer, Option<F>) {
        let Some(slot) = self.slots.get_mut(&key) else {
            self.slots.insert(key, Slot { sent: value, sent_at: now, pending: None });
            return (Offer::SendNow, Some(frame));
        };
        if slot.pending.is_some() {
            slot.pending = (value != slot.sent).then_some((value, frame));
            return (if slot.pending.is_some() { Offer::Held } else { Offer::Unchanged }, None);
        }
        if value == slot.sent {
            return (Offer::Unchanged, None);
        }
        if now >= slot.sent_at + self.interval {
            slot.sent = value;
            slot.sent_at = now;
            return (Offer::SendNow, Some(frame));
        }
        slot.pending = Some((value, frame));
        (Offer::Held, None)
    }

    /// The held frames whose interval has ended at `now`, in no particular order.
    pub fn due(&mut self, now: Instant) -> Vec<F> {
        let interval = self.interval;
        let mut due = Vec::new();
        self.slots.retain(|_, slot| {
            if now >= slot.sent_at + interval
                && let Some((value, frame)) = slot.pending.take()
            {
                slot.sent = value;
                slot.sent_at = now;
                due.push(frame);
            }
            slot.pending.is_some() || now.saturating_duration_since(slot.sent_at) < FORGET_AFTER
        });
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_change_goes_out_at_once_and_a_repeat_of_the_same_availability_never() {
        let start = Instant::now();
        let mut c: Coalescer<&str, u8, &str> = Coalescer::new(Duration::from_secs(1));
        assert_eq!(c.offer("sarah", 1, "online", start).0, Offer::SendNow);
        assert_eq!(c.offer("sarah", 1, "online again", start + Duration::from_secs(5)).0, Offer::Unchanged);
        assert_eq!(c.offer("sarah", 3, "offline", start + Duration::from_secs(6)), (Offer::SendNow, Some("offline")));
        assert_eq!(c.offer("tom", 1, "tom online", start + Duration::from_secs(6)).0, Offer::SendNow, "per agent");
    }

    #[test]
    fn flapping_inside_the_interval_sends_only_the_latest_when_it_ends() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut c: Coalescer<&str, u8, u32> = Coalescer::new(ms(1000));
        assert_eq!(c.offer("sarah", 1, 0, start).0, Offer::SendNow);
        for i in 1..=100u32 {
            let value = if i % 2 == 0 { 1 } else { 3 };
            c.offer("sarah", value, i, start + ms(u64::from(i)));
        }
        assert!(c.due(start + ms(500)).is_empty(), "not before the interval ends");
        // The last offer (100) was "online" again, as already sent: nothing goes out.
        assert!(c.due(start + ms(1000)).is_empty());
        assert_eq!(c.offer("sarah", 3, 101, start + ms(1100)), (Offer::SendNow, Some(101)), "the interval is over");
    }

    #[test]
    fn a_change_held_inside_the_interval_goes_out_once_when_it_ends() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut c: Coalescer<&str, u8, &str> = Coalescer::new(ms(1000));
        c.offer("sarah", 1, "online", start);
        assert_eq!(c.offer("sarah", 2, "away", start + ms(10)).0, Offer::Held);
        assert_eq!(c.offer("sarah", 3, "offline", start + ms(20)).0, Offer::Held);
        assert_eq!(c.due(start + ms(999)), Vec::<&str>::new());
        assert_eq!(c.due(start + ms(1000)), vec!["offline"], "only the latest");
        assert!(c.due(start + ms(5000)).is_empty(), "once");
        assert_eq!(c.offer("sarah", 3, "offline", start + ms(6000)).0, Offer::Unchanged);
    }
}
