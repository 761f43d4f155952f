//! Opaque keyset cursors: `<microseconds>_<uuid>` of the last row of a page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}_{}", self.at.timestamp_micros(), self.id.simple())
    }

    /// Parses a cursor a client sent back; `None` when it is not one of ours.
    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        Some(Self { at, id: Uuid::parse_str(id).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = Cursor { at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(), id: Uuid::new_v4() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode("12_not-a-uuid"), None);
    }
}

/// Keyset cursor of the conversation list: the sort it belongs to, and the last row's sort key
/// (`rank` for the rank-based orders, then last activity and id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub sort: crate::domain::views::SortOrder,
    pub rank: i16,
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl ListCursor {
    pub fn encode(&self) -> String {
        format!("{}.{}.{}.{}", self.sort.as_str(), self.rank, self.at.timestamp_micros(), self.id.simple())
    }

    /// Parses a cursor a client sent back; `None` when it is not one of ours.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let sort = crate::domain::views::SortOrder::parse(parts.next()?)?;
        let rank = parts.next()?.parse().ok()?;
        let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = Uuid::parse_str(parts.next()?).ok()?;
        parts.next().is_none().then_some(Self { sort, rank, at, id })
    }
}

#[cfg(test)]
mod list_cursor_tests {
    use super::*;
    use crate::domain::views::SortOrder;

    #[test]
    fn a_list_cursor_round_trips_and_names_its_sort() {
        let c = ListCursor {
            sort: SortOrder::Priority,
            rank: 2,
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(ListCursor::decode(&c.encode()), Some(c));
        assert_eq!(ListCursor::decode("priority.2.x.y"), None);
        assert_eq!(ListCursor::decode(&format!("{}.extra", c.encode())), None);
    }
}
