//! The one translation of store failures into what a client sees. Database and internal
//! failures are logged here with their cause and answered without it.

use inbox_errors::PublicError;

use crate::store::StoreError;

impl From<StoreError> for PublicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) => PublicError::invalid_argument(reason),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "metrics store unavailable");
                PublicError::unavailable("metrics store unavailable; try again")
            }
            e => {
                tracing::error!(error = %e, "metrics store failure");
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

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;

    use super::*;

    #[test]
    fn each_store_error_has_one_public_meaning_and_causes_stay_inside() {
        let code = |e: StoreError| PublicError::from(e).code;
        assert_eq!(code(StoreError::Invalid("bad".into())), ErrorCode::InvalidArgument);
        assert_eq!(code(StoreError::Database(sqlx::Error::PoolTimedOut)), ErrorCode::Unavailable);
        assert_eq!(code(StoreError::Database(sqlx::Error::RowNotFound)), ErrorCode::Internal);
        let shown = PublicError::from(StoreError::Corrupt("cell 42 unreadable".into()));
        assert_eq!((shown.code, shown.message.as_str()), (ErrorCode::Internal, "internal error"));
    }
}
