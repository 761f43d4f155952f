//! The one table of stable error codes. Every error a client can see carries one of these
//! codes; each maps to exactly one gRPC code and one HTTP status, so the REST layer can
//! translate a gRPC failure generically and clients can match on the code string.

use serde::Serialize;

/// A stable, documented error code. The string form (`as_str`) is part of the public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or fails validation.
    InvalidArgument,
    /// No valid credentials were presented.
    Unauthenticated,
    /// A provider webhook's signature does not match its body.
    InvalidSignature,
    /// The credentials are valid but the role does not allow the action.
    PermissionDenied,
    /// The thing does not exist (or belongs to another tenant).
    NotFound,
    /// The thing already exists.
    AlreadyExists,
    /// The request conflicts with the current state (for example a stale version).
    Conflict,
    /// The request body is larger than the edge accepts.
    PayloadTooLarge,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency (store, bus, provider) is unavailable; retry later.
    Unavailable,
    /// A bug or unexpected failure; details are logged, never returned.
    Internal,
}

impl ErrorCode {
    /// The code as clients see it, e.g. `invalid_signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidSignature => "invalid_signature",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Parses the string form back; unknown strings are `None`.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// Every code, in table order.
    pub const ALL: [ErrorCode; 11] = [
        Self::InvalidArgument,
        Self::Unauthenticated,
        Self::InvalidSignature,
        Self::PermissionDenied,
        Self::NotFound,
        Self::AlreadyExists,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The HTTP status for this code.
    pub fn http_status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::InvalidArgument => S::BAD_REQUEST,
            Self::Unauthenticated | Self::InvalidSignature => S::UNAUTHORIZED,
            Self::PermissionDenied => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict => S::CONFLICT,
            Self::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Self::RateLimited => S::TOO_MANY_REQUESTS,
            Self::Unavailable => S::SERVICE_UNAVAILABLE,
            Self::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code for this code.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Self::InvalidArgument => C::InvalidArgument,
            Self::Unauthenticated | Self::InvalidSignature => C::Unauthenticated,
            Self::PermissionDenied => C::PermissionDenied,
            Self::NotFound => C::NotFound,
            Self::AlreadyExists => C::AlreadyExists,
            Self::Conflict => C::Aborted,
            Self::PayloadTooLarge => C::OutOfRange,
            Self::RateLimited => C::ResourceExhausted,
            Self::Unavailable => C::Unavailable,
            Self::Internal => C::Internal,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata key that carries the precise [`ErrorCode`] across gRPC, where several codes share
/// one gRPC status.
pub const ERROR_CODE_METADATA_KEY: &str = "x-inbox-error-code";

/// An error a client is allowed to see: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PublicError {
    pub code: ErrorCode,
    pub message: String,
}

impl PublicError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// The generic answer to an internal failure; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    /// The JSON body every HTTP edge answers errors with:
    /// `{"error": {"code": "...", "message": "..."}}`.
    pub fn to_json_body(&self) -> ErrorBody<'_> {
        ErrorBody { error: ErrorDetail { code: self.code, message: &self.message } }
    }

    /// A gRPC status carrying this error, with the precise code in metadata.
    pub fn to_status(&self) -> tonic::Status {
        let mut status = tonic::Status::new(self.code.grpc_code(), self.message.clone());
        if let Ok(value) = self.code.as_str().parse() {
            status.metadata_mut().insert(ERROR_CODE_METADATA_KEY, value);
        }
        status
    }

    /// Recovers the public error from a gRPC status returned by another service. Statuses
    /// without our metadata map by gRPC code; transport failures become `unavailable`.
    pub fn from_status(status: &tonic::Status) -> Self {
        let precise =
            status.metadata().get(ERROR_CODE_METADATA_KEY).and_then(|v| v.to_str().ok()).and_then(ErrorCode::parse);
        let code = precise.unwrap_or(match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition => ErrorCode::InvalidArgument,
            tonic::Code::Unauthenticated => ErrorCode::Unauthenticated,
            tonic::Code::PermissionDenied => ErrorCode::PermissionDenied,
            tonic::Code::NotFound => ErrorCode::NotFound,
            tonic::Code::AlreadyExists => ErrorCode::AlreadyExists,
            tonic::Code::Aborted => ErrorCode::Conflict,
            tonic::Code::ResourceExhausted => ErrorCode::RateLimited,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        });
        let message =
            if code == ErrorCode::Internal { "internal error".to_owned() } else { status.message().to_owned() };
        Self { code, message }
    }
}

impl From<PublicError> for tonic::Status {
    fn from(err: PublicError) -> Self {
        err.to_status()
    }
}

/// Serialized shape of an HTTP error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub code: ErrorCode,
    pub message: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn a_precise_code_survives_a_grpc_hop() {
        let err = PublicError::new(ErrorCode::InvalidSignature, "bad signature");
        let back = PublicError::from_status(&err.to_status());
        assert_eq!(back, err);
    }

    #[test]
    fn internal_details_never_cross_a_grpc_hop() {
        let status = tonic::Status::internal("connection to 10.0.0.7 refused: password=...");
        let back = PublicError::from_status(&status);
        assert_eq!(back.code, ErrorCode::Internal);
        assert_eq!(back.message, "internal error");
    }

    #[test]
    fn the_http_body_names_the_code_and_message() {
        let err = PublicError::invalid_argument("entry[0].changes is missing");
        let json = serde_json::to_value(err.to_json_body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "invalid_argument", "message": "entry[0].changes is missing"}})
        );
    }
}
