//! The search service's errors, and what a client sees of each.

use inbox_errors::{ErrorCode, PublicError};

use crate::domain::query::ParseError;
use crate::index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Bad syntax, or a name that resolves to nobody: the column says where.
    #[error("query {0}")]
    Query(#[from] ParseError),
    #[error("{0}")]
    Invalid(String),
    /// Another service failed or refused.
    #[error("{what}: {status}")]
    Upstream { what: &'static str, status: tonic::Status },
    #[error("index task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("publishing failed: {0}")]
    Bus(#[from] inbox_bus::BusError),
}

impl SearchError {
    pub fn upstream(what: &'static str) -> impl FnOnce(tonic::Status) -> SearchError {
        move |status| SearchError::Upstream { what, status }
    }
}

impl From<SearchError> for PublicError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Query(p) => PublicError::invalid_argument(format!("query {p}")),
            SearchError::Invalid(message) => PublicError::invalid_argument(message),
            SearchError::Upstream { what, status } if status.code() == tonic::Code::Unavailable => {
                tracing::warn!(what, error = %status, "dependency unavailable");
                PublicError::unavailable(format!("{what} is unavailable; retry later"))
            }
            SearchError::Upstream { what, status } => {
                tracing::error!(what, error = %status, "dependency failed");
                PublicError::new(ErrorCode::Unavailable, format!("{what} failed; retry later"))
            }
            other => {
                tracing::error!(error = %other, "search failed");
                PublicError::internal()
            }
        }
    }
}

impl From<SearchError> for tonic::Status {
    fn from(e: SearchError) -> Self {
        PublicError::from(e).to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_syntax_is_invalid_argument_with_its_column_and_internals_stay_hidden() {
        let e: PublicError = SearchError::Query(ParseError { column: 7, message: "unknown operator".into() }).into();
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert_eq!(e.message, "query column 7: unknown operator");
        let e: PublicError = SearchError::Index(IndexError::Corrupt("segment 12 unreadable".into())).into();
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("segment"));
        let e: PublicError =
            SearchError::Upstream { what: "routing", status: tonic::Status::unavailable("down") }.into();
        assert_eq!(e.code, ErrorCode::Unavailable);
    }
}
