//! Conversions between `google.protobuf.Timestamp` and chrono, used at every edge.

use chrono::{DateTime, TimeZone, Utc};
use prost_types::Timestamp;

/// A protobuf timestamp for a UTC instant.
pub fn timestamp_from(at: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

/// The UTC instant of a protobuf timestamp; `None` when it is out of range.
pub fn timestamp_to_utc(ts: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    Utc.timestamp_opt(ts.seconds, nanos).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_round_trips_to_the_nanosecond() {
        let at = Utc.timestamp_opt(1_700_000_000, 123_456_789).single().unwrap();
        assert_eq!(timestamp_to_utc(&timestamp_from(at)), Some(at));
    }

    #[test]
    fn negative_nanos_are_refused() {
        assert_eq!(timestamp_to_utc(&Timestamp { seconds: 1, nanos: -1 }), None);
    }
}
