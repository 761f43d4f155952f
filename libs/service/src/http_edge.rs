//! HTTP edge helpers: request metrics and the JSON error response.

use std::sync::LazyLock;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use prometheus::{HistogramVec, register_histogram_vec};
use tracing::Instrument as _;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
static REQUEST_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "inbox_http_request_seconds",
        "HTTP requests by route and status.",
        &["method", "route", "status"],
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    )
    .expect("metric registers once")
});

/// Middleware recording every request's latency by matched route (never the raw path, which
/// would explode cardinality).
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let span = crate::trace_context::incoming_span("http", &method, &route, request.headers());
    async move {
        let response = next.run(request).await;
        let elapsed = started.elapsed();
        REQUEST_SECONDS
            .with_label_values(&[method.as_str(), route.as_str(), response.status().as_str()])
            .observe(elapsed.as_secs_f64());
        // The access log, in the request's span (its trace id): `INBOX__LOG__LEVEL=info,inbox_http=debug`.
        tracing::debug!(target: "inbox_http", status = response.status().as_u16(), micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), "request");
        response
    }
    .instrument(span)
    .await
}

/// A public error as an HTTP response: its status and `{"error": {"code", "message"}}`.
pub struct ApiError(pub PublicError);

impl From<PublicError> for ApiError {
    fn from(err: PublicError) -> Self {
        Self(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0.code.http_status(), Json(self.0.to_json_body())).into_response()
    }
}

/// State an HTTP edge needs that exists only once the service's dependencies are connected.
/// Routes are mounted at start (so `/healthz` answers at once); until the state is set, they
/// answer 503 `unavailable`, which providers and clients retry.
pub struct WhenReady<T> {
    cell: std::sync::Arc<std::sync::OnceLock<T>>,
}

impl<T> Clone for WhenReady<T> {
    fn clone(&self) -> Self {
        Self { cell: self.cell.clone() }
    }
}

impl<T> Default for WhenReady<T> {
    fn default() -> Self {
        Self { cell: std::sync::Arc::new(std::sync::OnceLock::new()) }
    }
}

impl<T> WhenReady<T> {
    /// Sets the state; later calls are ignored.
    pub fn set(&self, value: T) {
        let _ = self.cell.set(value);
    }

    /// The state, or the 503 a request gets while the service is starting.
    pub fn get(&self) -> Result<&T, ApiError> {
        self.cell.get().ok_or_else(|| ApiError(PublicError::unavailable("service is starting; retry")))
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        Self(PublicError::from_status(&status))
    }
}
