//! What a request carries, read and checked before a handler acts on it: JSON bodies and query
//! strings (refused with our error shape), the idempotency key, pages, ids in paths, the
//! conversation list's filter and the content of a new message.

pub mod content;
pub mod filter;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use inbox_errors::PublicError;
use inbox_proto::common::v1::PageRequest;
use inbox_service::http_edge::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// A JSON body as axum parsed it; [`body`] refuses a bad one with our error shape.
pub type JsonBody<T> = Result<Json<T>, JsonRejection>;

/// The body, or `invalid_argument` saying what is wrong with it (`payload_too_large` past the
/// route's body limit).
pub fn body<T>(body: JsonBody<T>) -> Result<T, PublicError> {
    body.map(|Json(b)| b).map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            PublicError::new(inbox_errors::ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        _ => PublicError::invalid_argument(e.body_text()),
    })
}

/// An optional JSON body (none without a `Content-Type`); [`optional_body`] refuses a bad one.
pub type OptionalJsonBody<T> = Result<Option<Json<T>>, JsonRejection>;

/// The body if there is one, or the refusal [`body`] gives.
pub fn optional_body<T>(optional: OptionalJsonBody<T>) -> Result<Option<T>, PublicError> {
    match optional {
        Ok(present) => Ok(present.map(|Json(b)| b)),
        Err(rejection) => body::<T>(Err(rejection)).map(Some),
    }
}

/// A query string as axum parsed it; [`query`] refuses a bad one with our error shape.
pub type QueryParams<T> = Result<Query<T>, QueryRejection>;

/// The query parameters, or `invalid_argument` saying what is wrong with them.
pub fn query<T>(query: QueryParams<T>) -> Result<T, PublicError> {
    query.map(|Query(q)| q).map_err(|e| PublicError::invalid_argument(e.body_text()))
}

/// The client's idempotency key: the body's, or the `Idempotency-Key` header.
pub fn idempotency_key(from_body: Option<String>, headers: &HeaderMap) -> Result<String, PublicError> {
    from_body.or_else(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned)).ok_or_else(
        || {
            PublicError::invalid_argument(
                "an idempotency key is required (body idempotency_key or Idempotency-Key header)",
            )
        },
    )
}

/// Largest body any route reads (axum's default limit for JSON bodies).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Refuses a request whose JSON body or query string carries a NUL character: PostgreSQL, where
/// every service keeps its text, cannot store one, so it would fail deep in a service instead of
/// being a clear 400 here.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let refusal = |message: &str| ApiError(PublicError::invalid_argument(message.to_owned())).into_response();
    if request.uri().query().is_some_and(|q| q.to_ascii_lowercase().contains("%00")) {
        return refusal("the query string must not contain NUL characters");
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let too_large = PublicError::new(inbox_errors::ErrorCode::PayloadTooLarge, "the request body is too large");
            return ApiError(too_large).into_response();
        }
    };
    if carries_nul(&bytes) {
        return refusal("the body must not contain NUL characters");
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether JSON text holds a NUL: a raw zero byte, or the escape `\u0000` (not itself escaped).
fn carries_nul(json: &[u8]) -> bool {
    json.contains(&0)
        || json.windows(6).enumerate().any(|(at, window)| {
            window == b"\\u0000" && json[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
        })
}

/// A one-line text field a person typed (a name, an email): refused with control characters,
/// which have no place there and which PostgreSQL cannot store (NUL).
pub fn single_line(value: &str, field: &str) -> Result<(), PublicError> {
    if value.chars().any(char::is_control) {
        return Err(PublicError::invalid_argument(format!("{field} must not contain control characters")));
    }
    Ok(())
}

/// The id of a gateway record (`tenant`, `user`) named in a path.
pub fn uuid_in_path(text: &str, what: &str) -> Result<Uuid, PublicError> {
    Uuid::parse_str(text).map_err(|_| PublicError::invalid_argument(format!("{what} id must be a uuid")))
}

/// `?limit=&cursor=` of a paged list; the service applies its default and maximum limit.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default: the service's).
    #[serde(default)]
    #[param(maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

impl PageQuery {
    pub fn to_proto(&self) -> PageRequest {
        PageRequest { limit: self.limit.unwrap_or(0), cursor: self.cursor.clone().unwrap_or_default() }
    }
}

#[cfg(test)]
mod tests {
    use inbox_errors::ErrorCode;

    use super::*;

    #[test]
    fn the_idempotency_key_comes_from_the_body_before_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", "from-header".parse().unwrap());
        assert_eq!(idempotency_key(Some("from-body".into()), &headers).unwrap(), "from-body");
        assert_eq!(idempotency_key(None, &headers).unwrap(), "from-header");
        assert_eq!(idempotency_key(None, &HeaderMap::new()).unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn a_nul_is_found_in_json_text_unless_its_backslash_is_escaped() {
        assert!(carries_nul(br#"{"name": "a\u0000b"}"#));
        assert!(carries_nul(b"{\"name\": \"a\0b\"}"));
        assert!(!carries_nul(br#"{"name": "a\\u0000b"}"#), "an escaped backslash, then the text u0000");
        assert!(carries_nul(br#"{"name": "a\\\u0000b"}"#));
        assert!(!carries_nul(br#"{"name": "plain"}"#));
    }

    #[test]
    fn a_one_line_field_refuses_control_characters_such_as_nul() {
        assert!(single_line("Ana Lima", "name").is_ok());
        assert_eq!(single_line("Ana\u{0}", "name").unwrap_err().message, "name must not contain control characters");
        assert!(single_line("a\nb", "email").is_err());
    }

    #[test]
    fn an_id_that_is_not_a_uuid_is_refused_naming_what_it_should_identify() {
        let id = Uuid::new_v4();
        assert_eq!(uuid_in_path(&id.to_string(), "tenant").unwrap(), id);
        assert_eq!(uuid_in_path("acme", "tenant").unwrap_err().message, "tenant id must be a uuid");
        assert_eq!(uuid_in_path("", "user").unwrap_err().message, "user id must be a uuid");
    }

    #[test]
    fn a_page_without_parameters_leaves_the_limit_to_the_service() {
        assert_eq!(PageQuery::default().to_proto(), PageRequest { limit: 0, cursor: String::new() });
        let page = PageQuery { limit: Some(20), cursor: Some("c2".into()) };
        assert_eq!(page.to_proto(), PageRequest { limit: 20, cursor: "c2".into() });
    }
}
