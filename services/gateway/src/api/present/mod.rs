//! The JSON of the REST API and the WebSocket: pure functions from protobuf (and the gateway's
//! own records) to the shapes clients read. Handlers add at most an envelope such as
//! `{"deleted": ...}` around them.

pub mod account;
pub mod bulk;
pub mod call;
pub mod channel;
pub mod conversation;
pub mod customer;
pub mod message;
pub mod metrics;
pub mod notification;
pub mod routing;
pub mod search;
pub mod settings;
pub mod template;

use prost_types::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// A time as most of the API writes it: RFC 3339 in UTC with milliseconds
/// (`2031-03-01T09:00:00.000Z`); `None` when unset.
pub fn time(ts: Option<&Timestamp>) -> Option<String> {
    ts.and_then(inbox_proto::timestamp_to_utc).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// A time as the routing, summary and web chat visitor answers write it: chrono's default
/// RFC 3339 (`2031-03-01T09:00:00+00:00`, fractions only when there are any). Kept apart from
/// [`time`] because clients already read both.
pub fn time_with_offset(ts: Option<&Timestamp>) -> Option<String> {
    ts.and_then(inbox_proto::timestamp_to_utc).map(|t| t.to_rfc3339())
}

/// `None` (JSON `null`) for an empty id.
pub fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `{"items": [...]}`: an unpaged list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// `{"items": [...]}`: an unpaged list.
pub fn items<T: Serialize>(items: impl IntoIterator<Item = T>) -> Items<T> {
    Items { items: items.into_iter().collect() }
}

/// A page of items with the cursor of the next page (`null` on the last).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, next_cursor: String) -> Self {
        Self { items, next_cursor: non_empty(&next_cursor) }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_are_written_in_utc_in_the_two_forms_clients_read() {
        let ts = Timestamp { seconds: 1_930_118_400, nanos: 5_000_000 };
        assert_eq!(time(Some(&ts)).as_deref(), Some("2031-03-01T08:00:00.005Z"));
        assert_eq!(time_with_offset(Some(&ts)).as_deref(), Some("2031-03-01T08:00:00.005+00:00"));
        let whole = Timestamp { seconds: 1_930_118_400, nanos: 0 };
        assert_eq!(time(Some(&whole)).as_deref(), Some("2031-03-01T08:00:00.000Z"));
        assert_eq!(time_with_offset(Some(&whole)).as_deref(), Some("2031-03-01T08:00:00+00:00"));
        assert_eq!(time(None), None);
    }

    #[test]
    fn the_last_page_has_no_next_cursor() {
        let last = serde_json::to_value(Page::new(vec![1, 2], String::new())).unwrap();
        assert_eq!(last, json!({"items": [1, 2], "next_cursor": null}));
        let more = serde_json::to_value(Page::new(vec![1], "c2".into())).unwrap();
        assert_eq!(more["next_cursor"], "c2");
        assert_eq!(serde_json::to_value(items(["a", "b"])).unwrap(), json!({"items": ["a", "b"]}));
    }
}
