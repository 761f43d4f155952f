//! One error path: what a caller sees of each failure, decided here once. A store error means
//! the same wherever it surfaces (a gRPC call, an HTTP request, a bus consumer); database
//! details are logged and never shown.

use inbox_bus::HandlerError;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;

use crate::ingest::ProcessError;
use crate::store::StoreError;

impl From<StoreError> for PublicError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => PublicError::not_found(what),
            StoreError::AlreadyExists(what) => PublicError::new(ErrorCode::AlreadyExists, what),
            StoreError::Unavailable(cause) => unavailable("ingest store", &cause),
            StoreError::Secret(e) => unavailable("channel secrets", &e),
            StoreError::Database(e) if is_connection_problem(&e) => unavailable("ingest store", &e),
            StoreError::Database(e) => {
                tracing::error!(error = %e, "ingest store failed");
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(e.into())
    }
}

/// A bus consumer retries a message whose store work failed; the bus's delivery limit ends it.
impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        HandlerError::Retry(e.to_string())
    }
}

impl From<ProcessError> for PublicError {
    fn from(e: ProcessError) -> Self {
        match e {
            ProcessError::Store(e) => e.into(),
            ProcessError::Bus(e) => unavailable("bus", &e),
        }
    }
}

/// A dependency (`what`: the store, the bus, Redis) failed in a way a retry can fix: the cause
/// is logged, the caller is told to retry.
pub fn unavailable(what: &str, cause: &dyn std::fmt::Display) -> PublicError {
    tracing::error!(error = %cause, "{what} unavailable");
    PublicError::unavailable("temporarily unavailable; retry")
}

/// Whether a database error says the database could not be reached or could not serve the
/// statement now (connection, resources, shutdown, a serialization conflict), rather than that
/// the statement itself went wrong.
fn is_connection_problem(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P
        // (operator intervention: shutdown, crash), and 40001/40P01 (serialization failure,
        // deadlock: retrying succeeds).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(e: StoreError) -> ErrorCode {
        PublicError::from(e).code
    }

    #[test]
    fn each_store_error_has_one_public_meaning() {
        assert_eq!(code_of(StoreError::NotFound("no such widget".into())), ErrorCode::NotFound);
        assert_eq!(code_of(StoreError::AlreadyExists("taken".into())), ErrorCode::AlreadyExists);
        assert_eq!(code_of(StoreError::Unavailable("archive writer stopped".into())), ErrorCode::Unavailable);
        assert_eq!(code_of(StoreError::Database(sqlx::Error::PoolTimedOut)), ErrorCode::Unavailable);
        assert_eq!(code_of(StoreError::Database(sqlx::Error::RowNotFound)), ErrorCode::Internal);
        assert_eq!(code_of(StoreError::Database(sqlx::Error::Protocol("bad".into()))), ErrorCode::Internal);
    }

    #[test]
    fn what_a_client_reads_names_no_database_detail() {
        let e = PublicError::from(StoreError::Database(sqlx::Error::ColumnNotFound("secret_column".into())));
        assert_eq!(e, PublicError::internal());
        let e = PublicError::from(StoreError::Database(sqlx::Error::PoolClosed));
        assert!(!e.message.contains("pool"), "{e}");
        assert_eq!(PublicError::from(StoreError::NotFound("no such widget".into())).message, "no such widget");
    }

    #[test]
    fn a_consumer_retries_what_the_store_could_not_do() {
        let e = HandlerError::from(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(matches!(e, HandlerError::Retry(_)), "{e:?}");
    }
}
