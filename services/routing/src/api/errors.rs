//! The one translation of the crate's errors into what clients see. The same error means the
//! same thing everywhere: refused input is `invalid_argument`, a missing thing `not_found`, a
//! change that does not fit the current state `conflict`; store failures are logged and answered
//! `unavailable` without their details.

use inbox_errors::{ErrorCode, PublicError};
use tonic::Status;

use crate::ids::InvalidId;
use crate::store::StoreError;

impl From<StoreError> for PublicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(reason) => PublicError::invalid_argument(reason),
            StoreError::NotFound(reason) => PublicError::not_found(reason),
            StoreError::Conflict(reason) => PublicError::new(ErrorCode::Conflict, reason),
            StoreError::Database(e) => {
                tracing::error!(error = %e, "routing store failure");
                PublicError::unavailable("routing store unavailable")
            }
            StoreError::Availability(e) => {
                tracing::error!(error = %e, "availability store failure");
                PublicError::unavailable("availability store unavailable")
            }
        }
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Self {
        PublicError::from(e).into()
    }
}

impl From<InvalidId> for PublicError {
    fn from(e: InvalidId) -> Self {
        PublicError::invalid_argument(e.to_string())
    }
}

impl From<InvalidId> for Status {
    fn from(e: InvalidId) -> Self {
        PublicError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use crate::availability::AvailabilityError;

    use super::*;

    #[test]
    fn refusals_keep_their_reason_and_failures_hide_theirs() {
        let public = |e: StoreError| PublicError::from(e);
        assert_eq!(public(StoreError::Invalid("note needed".into())), PublicError::invalid_argument("note needed"));
        assert_eq!(public(StoreError::NotFound("team not found".into())), PublicError::not_found("team not found"));
        assert_eq!(public(StoreError::Conflict("full".into())), PublicError::new(ErrorCode::Conflict, "full"));
        let database = public(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(database, PublicError::unavailable("routing store unavailable"));
        let redis = public(StoreError::Availability(AvailabilityError::Timeout(std::time::Duration::from_secs(2))));
        assert_eq!(redis.code, ErrorCode::Unavailable);
        assert!(!redis.message.contains("2s"), "{redis:?}");
    }

    #[test]
    fn a_malformed_id_is_invalid_input_naming_the_field() {
        let status = Status::from(InvalidId { field: "team_id" });
        assert_eq!((status.code(), status.message()), (tonic::Code::InvalidArgument, "team_id must be a uuid"));
    }
}
