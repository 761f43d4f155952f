//! People sign in and out; who am I.
//!
//! - `POST /v1/auth/sign-in` `{email, password, tenant?}` → `{access_token, token_type,
//!   expires_in, user}`, the refresh token in the `inbox_refresh` cookie (`HttpOnly`, path
//!   `/v1/auth`) and a CSRF token in `inbox_csrf` (readable by the page). Wrong password and
//!   unknown email get the same 401; repeated failures per account or address get 429 with
//!   `Retry-After`.
//! - `POST /v1/auth/refresh`: with the cookie, `X-CSRF-Token` must equal the `inbox_csrf`
//!   cookie; a client without cookies sends `{refresh_token}` instead (no CSRF) and gets the
//!   successor in the body. Answers like sign-in; the refresh token rotates. A refresh token
//!   used twice revokes its session.
//! - `POST /v1/auth/sign-out`: with the bearer access token, or the cookie (same CSRF rule), or
//!   `{refresh_token}`; ends the session at once (its sockets close) and clears the cookies. 204.
//! - `GET /v1/me`: the signed-in user (`kind: "user"`), or the API key (`kind: "api_key"`).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, SET_COOKIE};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::{ApiError, WhenReady};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::GatewayError;
use super::present::account::PersonJson;
use super::request::{JsonBody, body};
use super::state::AppState;
use crate::auth::cookies::{REFRESH_COOKIE, cleared_cookies, cookie, csrf_confirmed, csrf_cookie, refresh_cookie};
use crate::auth::{AuthError, Authenticated, Principal, SignedIn, bearer_token};

/// Largest body the sign-in routes read.
const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn routes() -> OpenApiRouter<WhenReady<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(sign_out))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .routes(routes!(me))
}

/// A signed-in session's access token, with the user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SignedIn)]
struct SignedInJson {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
    user: PersonJson,
    /// The rotating refresh token, for clients without cookies (answers to `{refresh_token}`);
    /// a browser gets it in the `inbox_refresh` cookie instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// A sign-in or refresh answer: the access token and user; for a browser (`cookies`) the
/// refresh and CSRF cookies, otherwise the refresh token in the body.
fn signed_in_answer(signed_in: &SignedIn, cookies: bool, now: DateTime<Utc>) -> Response {
    let mut answer = SignedInJson {
        access_token: signed_in.access_token.clone(),
        token_type: "Bearer",
        expires_in: signed_in.expires_in,
        user: PersonJson::from(&signed_in.user),
        refresh_token: None,
    };
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if cookies {
        let max_age = (signed_in.session_expires_at - now).num_seconds().max(0);
        let mut csrf = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf);
        for value in [refresh_cookie(&signed_in.refresh_token, max_age), csrf_cookie(&hex::encode(csrf), max_age)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(SET_COOKIE, value);
            }
        }
    } else {
        answer.refresh_token = Some(signed_in.refresh_token.clone());
    }
    (StatusCode::OK, headers, Json(answer)).into_response()
}

/// An error answer that also removes the sign-in cookies.
fn clearing_cookies(error: PublicError) -> Response {
    let mut response = ApiError(error).into_response();
    for value in cleared_cookies() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// A failed sign-in as the client sees it: 429 carries `Retry-After`.
fn refusal(err: AuthError) -> Response {
    let retry_after = match &err {
        AuthError::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
        _ => None,
    };
    let mut response = ApiError(err.into()).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The client's address: the peer's, or the first `X-Forwarded-For` hop when trusted.
fn client_address(headers: &HeaderMap, extensions: &Extensions, trust_forwarded_for: bool) -> String {
    let forwarded = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| trust_forwarded_for && !v.is_empty());
    match forwarded {
        Some(first) => first.to_owned(),
        None => extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip().to_string())
            .unwrap_or_else(|| "unknown".into()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignInRequest {
    email: String,
    password: String,
    /// The tenant's slug; needed only when the email belongs to several tenants.
    #[serde(default)]
    tenant: Option<String>,
}

/// Signs a person in: the access token in the body, the refresh token in the `inbox_refresh`
/// cookie (`HttpOnly`, path `/v1/auth`) with a CSRF token in `inbox_csrf`. A wrong password and
/// an unknown email get the same 401; repeated failures 429 with `Retry-After`.
#[utoipa::path(post, path = "/v1/auth/sign-in", tag = "auth", security(()),
    request_body = SignInRequest,
    responses((status = 200, description = "Signed in (`Set-Cookie`: inbox_refresh, inbox_csrf)", body = SignedInJson,
        headers(("set-cookie" = String, description = "The refresh and CSRF cookies")))))]
async fn sign_in(
    State(state): State<WhenReady<AppState>>,
    headers: HeaderMap,
    extensions: Extensions,
    request: JsonBody<SignInRequest>,
) -> Response {
    let state = match state.get() {
        Ok(state) => state,
        Err(starting) => return starting.into_response(),
    };
    let request = match body(request) {
        Ok(request) => request,
        Err(e) => return ApiError(e).into_response(),
    };
    if request.email.trim().is_empty() || request.password.is_empty() {
        return ApiError(PublicError::invalid_argument("email and password are required")).into_response();
    }
    // Nothing with a NUL reaches PostgreSQL, which cannot store it (the answer says nothing
    // about any account).
    let typed = [Some(&request.email), Some(&request.password), request.tenant.as_ref()];
    if typed.into_iter().flatten().any(|text| text.contains('\0')) {
        return ApiError(PublicError::invalid_argument("email, password and tenant must not contain NUL"))
            .into_response();
    }
    let address = client_address(&headers, &extensions, state.auth.policy().trust_forwarded_for);
    let tenant = request.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    match state.auth.sign_in(&request.email, &request.password, tenant, &address).await {
        Ok(signed_in) => signed_in_answer(&signed_in, true, state.clock.now()),
        Err(e) => refusal(e),
    }
}

/// `{refresh_token}` of a client without cookies; an empty body means "use the cookie".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshTokenBody {
    #[serde(default)]
    refresh_token: Option<String>,
}

fn refresh_token_body(bytes: Result<Bytes, BytesRejection>) -> Result<RefreshTokenBody, PublicError> {
    let bytes = bytes.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => PublicError::new(ErrorCode::PayloadTooLarge, "the request body is too large"),
        _ => PublicError::invalid_argument(e.body_text()),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(RefreshTokenBody::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| PublicError::invalid_argument(format!("invalid body: {e}")))
}

/// The refresh cookie, provided the request proves it comes from our page.
fn refresh_cookie_with_csrf(headers: &HeaderMap) -> Result<Option<&str>, PublicError> {
    match cookie(headers, REFRESH_COOKIE) {
        Some(token) if csrf_confirmed(headers) => Ok(Some(token)),
        Some(_) => Err(PublicError::new(
            ErrorCode::PermissionDenied,
            "X-CSRF-Token must equal the inbox_csrf cookie when the refresh cookie is used",
        )),
        None => Ok(None),
    }
}

/// A new access token for a session: with the refresh cookie (and `X-CSRF-Token` equal to the
/// `inbox_csrf` cookie), or `{refresh_token}` for clients without cookies. The refresh token
/// rotates; one used twice ends its session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    security(("refresh_cookie" = [], "csrf_header" = []), ()),
    request_body = Option<RefreshTokenBody>,
    responses((status = 200, description = "Refreshed: for the cookie, new cookies; for the body, the successor \
        `refresh_token`", body = SignedInJson)))]
async fn refresh(
    State(state): State<WhenReady<AppState>>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let state = match state.get() {
        Ok(state) => state,
        Err(starting) => return starting.into_response(),
    };
    let presented = match refresh_token_body(bytes) {
        Ok(body) => body.refresh_token,
        Err(e) => return ApiError(e).into_response(),
    };
    if let Some(token) = presented {
        return match state.auth.refresh(&token).await {
            Ok(signed_in) => signed_in_answer(&signed_in, false, state.clock.now()),
            Err(e) => refusal(e),
        };
    }
    let token = match refresh_cookie_with_csrf(&headers) {
        Ok(Some(token)) => token,
        Ok(None) => return ApiError(PublicError::new(ErrorCode::Unauthenticated, "no refresh token")).into_response(),
        Err(e) => return ApiError(e).into_response(),
    };
    match state.auth.refresh(token).await {
        Ok(signed_in) => signed_in_answer(&signed_in, true, state.clock.now()),
        Err(e @ AuthError::Public(_)) => clearing_cookies(e.into()),
        Err(e) => refusal(e),
    }
}

/// Ends the session at once (its sockets close) and clears the cookies: with the bearer access
/// token, the refresh cookie (same CSRF rule) or `{refresh_token}`.
#[utoipa::path(post, path = "/v1/auth/sign-out", tag = "auth",
    security(("bearer" = []), ("refresh_cookie" = [], "csrf_header" = []), ()),
    request_body = Option<RefreshTokenBody>,
    responses((status = 204, description = "Signed out (`Set-Cookie` clears the cookies)")))]
async fn sign_out(
    State(state): State<WhenReady<AppState>>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, GatewayError> {
    let state = state.get()?;
    let presented = refresh_token_body(bytes)?.refresh_token;
    let mut ended = false;
    if let Some(bearer) = bearer_token(&headers) {
        match state.auth.authenticate(&bearer).await {
            Ok(principal) => {
                state.auth.sign_out(&principal).await?;
                ended = true;
            }
            // An expired access token does not stop the cookie from signing out.
            Err(e) if cookie(&headers, REFRESH_COOKIE).is_none() && presented.is_none() => return Err(e.into()),
            Err(_) => {}
        }
    }
    if let Some(token) = &presented {
        state.auth.sign_out_refresh_token(token).await?;
        ended = true;
    }
    let from_cookie = match refresh_cookie_with_csrf(&headers) {
        Ok(token) => token,
        // Our own page sent a valid bearer token: the cookie goes with the cleared cookies.
        Err(_) if ended => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(token) = from_cookie {
        state.auth.sign_out_refresh_token(token).await?;
        ended = true;
    }
    if !ended {
        return Err(PublicError::new(ErrorCode::Unauthenticated, "no session to sign out of").into());
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    for value in cleared_cookies() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// Who is calling, told apart by `kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[schema(as = Me)]
enum MeJson {
    Operator {
        /// Always `operator`.
        role: &'static str,
    },
    /// A person (or the AI account) signed in or holding a minted token.
    User {
        id: Uuid,
        tenant_id: Uuid,
        email: String,
        name: String,
        /// The role the credential acts with.
        role: &'static str,
        /// `null` for a credential without a session (the operator's token).
        session_id: Option<Uuid>,
    },
    ApiKey {
        id: Uuid,
        tenant_id: Uuid,
        name: String,
        scope: &'static str,
        role: &'static str,
        created_at: DateTime<Utc>,
        last_used_at: Option<DateTime<Utc>>,
    },
}

/// The caller: the signed-in user (`kind: "user"`), the API key (`kind: "api_key"`) or the
/// operator.
#[utoipa::path(get, path = "/v1/me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeJson)))]
async fn me(
    State(state): State<WhenReady<AppState>>,
    Authenticated(principal): Authenticated,
) -> Result<Json<MeJson>, GatewayError> {
    let state = state.get()?;
    let answer = match &principal {
        Principal::Operator => MeJson::Operator { role: "operator" },
        Principal::User { tenant_id, user_id, role, session_id } => {
            let user = state
                .store
                .user(*tenant_id, *user_id)
                .await?
                .ok_or_else(|| PublicError::not_found("user not found"))?;
            MeJson::User {
                id: user.id,
                tenant_id: user.tenant_id,
                email: user.email,
                name: user.name,
                role: role.as_str(),
                session_id: *session_id,
            }
        }
        Principal::Key { tenant_id, key_id, scope } => {
            let key = state
                .store
                .api_key(*tenant_id, *key_id)
                .await?
                .ok_or_else(|| PublicError::not_found("key not found"))?;
            MeJson::ApiKey {
                id: key.id,
                tenant_id: key.tenant_id,
                name: key.name,
                scope: scope.as_str(),
                role: scope.role().as_str(),
                created_at: key.created_at,
                last_used_at: key.last_used_at,
            }
        }
    };
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use serde_json::Value;

    use super::*;

    #[test]
    fn the_client_address_is_the_peers_unless_a_trusted_proxy_names_it() {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 51000)));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        assert_eq!(client_address(&headers, &extensions, false), "10.0.0.7");
        assert_eq!(client_address(&headers, &extensions, true), "203.0.113.9");
        assert_eq!(client_address(&HeaderMap::new(), &extensions, true), "10.0.0.7");
        assert_eq!(client_address(&HeaderMap::new(), &Extensions::new(), false), "unknown");
    }

    #[test]
    fn an_empty_refresh_body_means_the_cookie_and_a_bad_one_is_refused() {
        assert_eq!(refresh_token_body(Ok(Bytes::new())).unwrap().refresh_token, None);
        assert_eq!(refresh_token_body(Ok(Bytes::from_static(b" \n"))).unwrap().refresh_token, None);
        let body = refresh_token_body(Ok(Bytes::from_static(br#"{"refresh_token":"rt_1"}"#))).unwrap();
        assert_eq!(body.refresh_token.as_deref(), Some("rt_1"));
        let refused = refresh_token_body(Ok(Bytes::from_static(br#"{"token":"rt_1"}"#))).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn the_refresh_cookie_counts_only_with_the_csrf_header() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "inbox_refresh=rt_1; inbox_csrf=c".parse().unwrap());
        assert_eq!(refresh_cookie_with_csrf(&headers).unwrap_err().code, ErrorCode::PermissionDenied);
        headers.insert("x-csrf-token", "c".parse().unwrap());
        assert_eq!(refresh_cookie_with_csrf(&headers).unwrap(), Some("rt_1"));
        assert_eq!(refresh_cookie_with_csrf(&HeaderMap::new()).unwrap(), None);
    }

    #[tokio::test]
    async fn a_rate_limited_sign_in_says_when_to_retry() {
        let response = refusal(AuthError::RateLimited { retry_after: std::time::Duration::from_secs(801) });
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "801");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
    }

    #[tokio::test]
    async fn a_refused_refresh_clears_the_cookies() {
        let response = clearing_cookies(PublicError::new(ErrorCode::Unauthenticated, "the session has ended"));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let cookies: Vec<&str> = response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(cookies.len(), 2);
        assert!(cookies.iter().all(|c| c.ends_with("Max-Age=0")));
    }
}
