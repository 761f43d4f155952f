//! The one translation of store failures into what a client sees: the same error means the
//! same code on every call. Database and internal failures are logged here with their cause
//! and answered without it.

use inbox_errors::{ErrorCode, PublicError};

use crate::store::StoreError;

/// Metadata carrying a JSON object of machine-readable details of a refusal (e.g. the send
/// guard's `{"newer_message_id": "..."}`); the gateway adds it to the error body as `details`.
/// The same key is read by the gateway's error presenter.
pub const ERROR_DETAILS_METADATA_KEY: &str = "x-inbox-error-details";

impl From<StoreError> for PublicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) => PublicError::invalid_argument(reason),
            StoreError::Conflict(reason) => PublicError::new(ErrorCode::Conflict, reason),
            StoreError::StaleView { newer_message_id } => PublicError::new(
                ErrorCode::Conflict,
                format!(
                    "message {newer_message_id} was written after the last one you saw: \
                     read it, or send again with force"
                ),
            ),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "conversation store unavailable");
                PublicError::unavailable("conversation store unavailable; try again")
            }
            e => {
                tracing::error!(error = %e, "conversation store failure");
                PublicError::internal()
            }
        }
    }
}

impl From<StoreError> for tonic::Status {
    fn from(e: StoreError) -> Self {
        let details = match &e {
            StoreError::StaleView { newer_message_id } => {
                Some(serde_json::json!({ "newer_message_id": newer_message_id }).to_string())
            }
            _ => None,
        };
        let mut status = PublicError::from(e).to_status();
        // A uuid in JSON is plain ASCII, always a valid metadata value.
        if let Some(value) = details.and_then(|d| d.parse().ok()) {
            status.metadata_mut().insert(ERROR_DETAILS_METADATA_KEY, value);
        }
        status
    }
}

/// The answer for a conversation the tenant does not have (or that belongs to another tenant).
pub(super) fn conversation_not_found() -> PublicError {
    PublicError::not_found("conversation not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_store_error_has_one_public_meaning() {
        let code = |e: StoreError| PublicError::from(e).code;
        assert_eq!(code(StoreError::Invalid("bad".into())), ErrorCode::InvalidArgument);
        assert_eq!(code(StoreError::Conflict("taken over".into())), ErrorCode::Conflict);
        assert_eq!(code(StoreError::Retryable("raced".into())), ErrorCode::Unavailable);
        assert_eq!(code(StoreError::Database(sqlx::Error::PoolTimedOut)), ErrorCode::Unavailable);
        assert_eq!(code(StoreError::Database(sqlx::Error::RowNotFound)), ErrorCode::Internal);
        assert_eq!(code(StoreError::Internal("vanished".into())), ErrorCode::Internal);
    }

    #[test]
    fn a_stale_view_is_a_conflict_naming_the_newer_message_in_its_details() {
        let newer = uuid::Uuid::now_v7();
        let status = tonic::Status::from(StoreError::StaleView { newer_message_id: newer });
        assert_eq!(PublicError::from_status(&status).code, ErrorCode::Conflict);
        assert!(status.message().contains(&newer.to_string()), "{}", status.message());
        let details = status.metadata().get(ERROR_DETAILS_METADATA_KEY).unwrap().to_str().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(details).unwrap(),
            serde_json::json!({"newer_message_id": newer.to_string()})
        );
        let plain = tonic::Status::from(StoreError::Conflict("taken over".into()));
        assert!(plain.metadata().get(ERROR_DETAILS_METADATA_KEY).is_none());
    }

    #[test]
    fn the_cause_of_an_internal_failure_is_never_shown() {
        let shown = PublicError::from(StoreError::Internal("conversation 42 has no contact".into()));
        assert_eq!(shown.message, "internal error");
        let status = tonic::Status::from(StoreError::Invalid("a message needs text".into()));
        assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, "a message needs text"));
    }
}
