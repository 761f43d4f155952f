//! The one error path of the HTTP API: every failure a handler meets becomes the client's
//! answer here, so the same failure means the same answer on every route.

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;
use serde::Serialize;
use utoipa::ToSchema;

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

/// The body of every error answer: `{"error": {"code", "message", "details"?}}`. The edge
/// (`inbox_service::http_edge::ApiError`) writes the same shape without `details`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(schema_with = error_code_schema)]
    pub code: ErrorCode,
    pub message: String,
    /// Machine-readable facts of some refusals, such as the send guard's
    /// `{"newer_message_id": "..."}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ErrorBody {
    pub fn new(error: &PublicError) -> Self {
        Self { error: ErrorDetail { code: error.code, message: error.message.clone(), details: None } }
    }

    pub fn with_details(error: &PublicError, details: serde_json::Map<String, serde_json::Value>) -> Self {
        Self { error: ErrorDetail { details: Some(details), ..Self::new(error).error } }
    }
}

/// Every error code there is (`inbox_errors::ErrorCode::ALL`), as the document lists them.
fn error_code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
        .description(Some("Stable and documented: programs may rely on it."))
        .build()
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        ApiError(self.into()).into_response()
    }
}

/// Gives an error answer that is not JSON yet (one axum writes before a handler runs: a path
/// segment that is not UTF-8, a method the route lacks) the one error shape, with its status
/// and headers, its text as the message.
pub async fn uniform_error_answer(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    let message = match text {
        Ok(text) if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut answer = (status, Json(ErrorBody::new(&PublicError::new(code_of_status(status), message)))).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            answer.headers_mut().append(name, value.clone());
        }
    }
    answer
}

/// The error code an HTTP error status stands for.
fn code_of_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::PermissionDenied,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => ErrorCode::Unavailable,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::InvalidArgument,
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

    #[test]
    fn the_documented_error_body_is_the_one_the_edge_writes() {
        let refusal = PublicError::invalid_argument("limit must be at most 200");
        let edge = serde_json::to_value(refusal.to_json_body()).unwrap();
        assert_eq!(serde_json::to_value(ErrorBody::new(&refusal)).unwrap(), edge);
        let codes: Vec<Value> = ErrorCode::ALL.iter().map(|c| json!(c)).collect();
        let schema = serde_json::to_value(error_code_schema()).unwrap();
        assert_eq!(schema["enum"], json!(codes));
    }

    #[tokio::test]
    async fn an_answer_axum_writes_before_any_handler_gets_the_error_shape() {
        let router = axum::Router::new()
            .route(
                "/v1/things/{id}",
                axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>| async { id }),
            )
            .layer(axum::middleware::from_fn(uniform_error_answer));
        let call = |method: &str, uri: &str| {
            let request = axum::http::Request::builder().method(method).uri(uri).body(axum::body::Body::empty());
            tower::ServiceExt::oneshot(router.clone(), request.unwrap())
        };
        let bad_segment = call("GET", "/v1/things/%FF").await.unwrap();
        assert_eq!(bad_segment.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(bad_segment.into_body(), 1 << 16).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "invalid_argument");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));

        let wrong_method = call("DELETE", "/v1/things/1").await.unwrap();
        assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(wrong_method.headers().contains_key("allow"), "headers are kept");
        let bytes = axum::body::to_bytes(wrong_method.into_body(), 1 << 16).await.unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["error"]["message"], "method not allowed");

        let fine = call("GET", "/v1/things/1").await.unwrap();
        assert_eq!(fine.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_starting_service_answers_as_the_edge_does() {
        let (status, body) = answer(ApiError(PublicError::unavailable("service is starting; retry"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["message"], "service is starting; retry");
    }
}
