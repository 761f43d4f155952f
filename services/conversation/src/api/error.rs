//! The one translation of store failures into what a client sees: the same error means the
//! same code on every call. Database and internal failures are logged here with their cause
//! and answered without it.

use inbox_errors::{ErrorCode, PublicError};

use crate::store::StoreError;

impl From<StoreError> for PublicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) => PublicError::invalid_argument(reason),
            StoreError::Conflict(reason) => PublicError::new(ErrorCode::Conflict, reason),
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
        PublicError::from(e).into()
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
    fn the_cause_of_an_internal_failure_is_never_shown() {
        let shown = PublicError::from(StoreError::Internal("conversation 42 has no contact".into()));
        assert_eq!(shown.message, "internal error");
        let status = tonic::Status::from(StoreError::Invalid("a message needs text".into()));
        assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, "a message needs text"));
    }
}
