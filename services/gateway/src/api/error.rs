//! The one error path of the HTTP API: every failure a handler meets becomes the client's
//! answer here, so the same failure means the same answer on every route.

use axum::response::{IntoResponse, Response};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;

/// What can go wrong while answering a request. Handlers return it and use `?` on each
/// source; [`From<GatewayError> for PublicError`](PublicError) decides what the client sees.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An answer meant for the client as it is: validation, permissions, not found.
    #[error(transparent)]
    Public(#[from] PublicError),
    /// A failed call to another service of the fleet; its precise code travels in metadata.
    #[error("internal call failed: {0}")]
    Upstream(#[from] tonic::Status),
    /// The gateway's own database.
    #[error("gateway store failure: {0}")]
    Store(#[from] sqlx::Error),
    /// Core NATS, which carries the ephemeral signals (agent typing).
    #[error("signal not published: {0}")]
    Bus(#[from] async_nats::PublishError),
}

impl From<crate::auth::AuthError> for GatewayError {
    fn from(err: crate::auth::AuthError) -> Self {
        Self::Public(err.into())
    }
}

impl From<ApiError> for GatewayError {
    fn from(err: ApiError) -> Self {
        Self::Public(err.0)
    }
}

/// The client's view of a failure. Store and bus failures are logged with their cause and
/// answered with a generic, retryable `unavailable`; an internal call's failure keeps the code
/// the other service gave it (its message only when it is not `internal`).
impl From<GatewayError> for PublicError {
    fn from(err: GatewayError) -> Self {
        match err {
            GatewayError::Public(public) => public,
            GatewayError::Upstream(status) => {
                let public = PublicError::from_status(&status);
                if matches!(public.code, ErrorCode::Internal | ErrorCode::Unavailable) {
                    tracing::warn!(code = ?status.code(), message = status.message(), "internal call failed");
                }
                public
            }
            GatewayError::Store(e) => {
                tracing::error!(error = %e, "gateway store failure");
                PublicError::unavailable("temporarily unavailable; retry")
            }
            GatewayError::Bus(e) => {
                tracing::warn!(error = %e, "signal not published");
                PublicError::unavailable("temporarily unavailable; retry")
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        ApiError(self.into()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::{Value, json};

    use super::*;

    async fn answer(err: impl Into<GatewayError>) -> (StatusCode, Value) {
        let response = err.into().into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_public_error_is_answered_with_its_status_code_and_message() {
        let (status, body) = answer(PublicError::invalid_argument("sort: \"x\" is not one of recent")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, json!({"error": {"code": "invalid_argument", "message": "sort: \"x\" is not one of recent"}}));
    }

    #[tokio::test]
    async fn an_internal_calls_failure_keeps_the_precise_code_the_other_service_sent() {
        let conflict = PublicError::new(ErrorCode::Conflict, "the conversation changed").to_status();
        let (status, body) = answer(conflict).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["code"], "conflict");
        assert_eq!(body["error"]["message"], "the conversation changed");

        let (status, body) = answer(tonic::Status::not_found("conversation not found")).await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    }

    #[tokio::test]
    async fn internal_details_of_another_service_never_reach_the_client() {
        let (status, body) = answer(tonic::Status::internal("relation \"messages\" does not exist")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, json!({"error": {"code": "internal", "message": "internal error"}}));
    }

    #[tokio::test]
    async fn a_store_failure_is_a_generic_retryable_unavailable() {
        let (status, body) = answer(sqlx::Error::PoolTimedOut).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, json!({"error": {"code": "unavailable", "message": "temporarily unavailable; retry"}}));
    }

    #[tokio::test]
    async fn a_starting_service_answers_as_the_edge_does() {
        let (status, body) = answer(ApiError(PublicError::unavailable("service is starting; retry"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["message"], "service is starting; retry");
    }
}
