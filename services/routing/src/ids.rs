//! Ids as they arrive in requests and events: text that must be a UUID.

use uuid::Uuid;

/// An id field that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be a uuid")]
pub struct InvalidId {
    pub field: &'static str,
}

/// The UUID in `text`, the value of `field`.
pub fn parse_id(text: &str, field: &'static str) -> Result<Uuid, InvalidId> {
    Uuid::parse_str(text).map_err(|_| InvalidId { field })
}

/// The UUID in `text`, or `None` when `text` is empty (the field was left out).
pub fn optional_id(text: &str, field: &'static str) -> Result<Option<Uuid>, InvalidId> {
    if text.is_empty() { Ok(None) } else { parse_id(text, field).map(Some) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_uuid_and_a_refusal_names_the_field() {
        let id = Uuid::now_v7();
        assert_eq!(parse_id(&id.to_string(), "agent_id"), Ok(id));
        let refused = parse_id("sarah", "agent_id").unwrap_err();
        assert_eq!(refused.to_string(), "agent_id must be a uuid");
    }

    #[test]
    fn an_optional_id_left_out_is_none_but_a_wrong_one_is_refused() {
        assert_eq!(optional_id("", "team_id"), Ok(None));
        assert_eq!(optional_id("x", "team_id"), Err(InvalidId { field: "team_id" }));
    }
}
