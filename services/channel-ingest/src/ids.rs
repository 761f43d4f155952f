//! Ids as requests and events carry them: text, parsed once here into a [`Uuid`] or refused
//! with the field that carried it.

use inbox_bus::HandlerError;
use inbox_errors::PublicError;
use uuid::Uuid;

/// A field that should hold a UUID and does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {text:?} is not a uuid")]
pub struct InvalidId {
    pub field: &'static str,
    pub text: String,
}

/// The UUID in `text`, the value of `field`.
pub fn parse_id(field: &'static str, text: &str) -> Result<Uuid, InvalidId> {
    Uuid::parse_str(text).map_err(|_| InvalidId { field, text: text.to_owned() })
}

/// A request's id that is not a UUID is the caller's mistake (the text is not echoed back).
impl From<InvalidId> for PublicError {
    fn from(e: InvalidId) -> Self {
        PublicError::invalid_argument(format!("{} must be a uuid", e.field))
    }
}

impl From<InvalidId> for tonic::Status {
    fn from(e: InvalidId) -> Self {
        PublicError::from(e).into()
    }
}

/// An event whose id is not a UUID will never be handled: dead-lettered at once.
impl From<InvalidId> for HandlerError {
    fn from(e: InvalidId) -> Self {
        HandlerError::Permanent(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_parsed_or_refused_naming_its_field() {
        let id = Uuid::now_v7();
        assert_eq!(parse_id("widget_id", &id.to_string()), Ok(id));
        let refused = parse_id("widget_id", "w-1").unwrap_err();
        assert_eq!(PublicError::from(refused.clone()), PublicError::invalid_argument("widget_id must be a uuid"));
        assert_eq!(HandlerError::from(refused).to_string(), "permanent: widget_id \"w-1\" is not a uuid");
    }
}
