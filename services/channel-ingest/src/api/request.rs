//! What every HTTP edge (WhatsApp and Twilio webhooks, the web chat visitor API) does with a
//! request before its own work: take the body (413 when too large, 400 when unreadable), count
//! each refusal by channel and outcome, and count a request that could not be taken, answered
//! as `crate::error` says (503 for what a retry can fix), so the provider or the widget retries. The edges build on this module; it knows none of them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use inbox_bus::Bus;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;

use crate::metrics::WEBHOOKS;
use crate::store::{ArchiveBatcher, IngestStore};

/// What the provider webhooks (WhatsApp, Twilio) share.
pub struct WebhookContext {
    pub store: IngestStore,
    pub bus: Bus,
    /// Group-commits the raw archive across concurrent webhooks.
    pub archive: ArchiveBatcher,
    /// Our public base URL as Twilio calls it (no trailing slash): signatures cover it.
    pub twilio_public_base_url: String,
}

/// A refused request of `channel`, counted under `outcome` (`malformed`, `bad_signature`,
/// `unknown_account`, ...).
pub fn rejected(channel: &'static str, outcome: &'static str, error: PublicError) -> ApiError {
    WEBHOOKS.with_label_values(&[channel, outcome]).inc();
    error.into()
}

/// A request of `channel` that could not be taken (the store or the bus failed), counted as
/// `unavailable` and answered as `error` says (503 for what a retry can fix), so the provider
/// or the widget retries it.
pub fn not_taken(channel: &'static str, error: impl Into<PublicError>) -> ApiError {
    WEBHOOKS.with_label_values(&[channel, "unavailable"]).inc();
    ApiError(error.into())
}

/// The request body of `channel`, or its refusal: 413 past the route's limit, else 400.
pub fn body_of(channel: &'static str, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            rejected(channel, "too_large", PublicError::new(ErrorCode::PayloadTooLarge, "request body is too large"))
        }
        _ => rejected(channel, "malformed", PublicError::invalid_argument(rejection.body_text())),
    })
}
