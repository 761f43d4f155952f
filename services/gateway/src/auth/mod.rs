//! Who is calling, and whether they still may. Three kinds of caller:
//! - people, with a short-lived access token (a JWT naming their session) from signing in, or
//!   a token an operator or admin minted for automation (also a session, of kind `minted`);
//! - machines, with an API key `ik_<id>_<secret>` whose scope sets its role and methods;
//! - the deployment's operator (inboxctl), with the operator token.
//!
//! Credentials come in `Authorization: Bearer`, or in the `access_token` query parameter
//! where browsers cannot set headers (WebSocket). Every request's credential is judged
//! against its records (session not revoked or expired, user not disabled, key not revoked)
//! through a short-lived cache that every revocation clears at once on every replica, so
//! signing out, revoking and disabling take effect at once, live sockets included
//! ([`Auth::until_revoked`]).
//!
//! Time is an input: tokens are issued and checked at the time of the app's clock.

mod admission;
pub mod api_key;
pub mod cookies;
mod gate;
pub mod password;
pub mod rate_limit;
mod records;
pub mod request_limit;
pub mod revocation;
pub mod sliding_window;
pub mod token;
mod usage;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;
use inbox_service::{CallContext, Role};
use uuid::Uuid;

pub use api_key::KeyScope;
pub use gate::{Auth, AuthError, AuthParts, AuthPolicy, SignedIn, revocation_listener, write_key_uses};
pub use request_limit::{OverLimit, RequestLimits};
pub use token::MAX_TOKEN_TTL_HOURS;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The deployment operator (inboxctl): administers every tenant, reads none of their inboxes.
    Operator,
    /// A person of one tenant, acting with their current role.
    User {
        tenant_id: Uuid,
        user_id: Uuid,
        role: Role,
        /// The session the token belongs to; `None` for a token minted before sessions existed.
        session_id: Option<Uuid>,
    },
    /// A machine of one tenant, with an API key.
    Key { tenant_id: Uuid, key_id: Uuid, scope: KeyScope },
}

impl Principal {
    /// The call context for internal calls made on this principal's behalf within `tenant_id`.
    /// Users and keys may act only within their own tenant; another tenant does not exist for
    /// them.
    pub fn acting_in(&self, tenant_id: Uuid) -> Result<CallContext, PublicError> {
        match self {
            Principal::Operator => Ok(CallContext { tenant_id, principal: "operator".into(), role: Role::Operator }),
            Principal::User { tenant_id: own, user_id, role, .. } if *own == tenant_id => {
                Ok(CallContext { tenant_id, principal: format!("user:{user_id}"), role: *role })
            }
            Principal::Key { tenant_id: own, key_id, scope } if *own == tenant_id => {
                Ok(CallContext { tenant_id, principal: format!("key:{key_id}"), role: scope.role() })
            }
            Principal::User { .. } | Principal::Key { .. } => Err(PublicError::not_found("tenant not found")),
        }
    }

    /// The call context for a user or key acting within their own tenant; the operator has none.
    pub fn in_own_tenant(&self) -> Result<CallContext, PublicError> {
        match self {
            Principal::User { tenant_id, .. } | Principal::Key { tenant_id, .. } => self.acting_in(*tenant_id),
            Principal::Operator => Err(PublicError::new(
                ErrorCode::PermissionDenied,
                "the operator token administers tenants; use an agent token",
            )),
        }
    }

    /// Whether this principal may administer `tenant_id`.
    pub fn require_admin_of(&self, tenant_id: Uuid) -> Result<CallContext, PublicError> {
        let ctx = self.acting_in(tenant_id)?;
        if matches!(ctx.role, Role::Operator | Role::Admin) && !matches!(self, Principal::Key { .. }) {
            Ok(ctx)
        } else {
            Err(PublicError::new(ErrorCode::PermissionDenied, "this needs the admin role"))
        }
    }

    /// The person's id; `None` for a key or the operator.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Principal::User { user_id, .. } => Some(*user_id),
            Principal::Key { .. } | Principal::Operator => None,
        }
    }

    /// How records name who did something: `operator`, `user:<id>`, `key:<id>`.
    pub fn name(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::User { user_id, .. } => format!("user:{user_id}"),
            Principal::Key { key_id, .. } => format!("key:{key_id}"),
        }
    }
}

/// The bearer credential of a request: the `Authorization` header's, else the
/// `access_token` query parameter's.
pub fn bearer_token(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    from_header.or_else(|| {
        uri.query().and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("access_token=").map(str::to_owned)))
    })
}

/// Routes not counted against request budgets: the live socket upgrade has limits of its own
/// (sockets per user, frames, presence).
const UNCOUNTED_ROUTES: &[&str] = &["/v1/stream"];

/// Extractor: the authenticated caller of a request, refused with 401 (no credential, or one
/// that does not count), 403 (a key used beyond its scope) or 429 (over the caller's request
/// budget, [`request_limit`]). A request is judged once, however many times it is extracted
/// (the visibility middleware and the handler both do): the verdict is kept in its extensions.
pub struct Authenticated(pub Principal);

/// Why a request's caller was not let in.
#[derive(Debug, Clone)]
pub enum Refused {
    /// 401, 403, or 503 while the service is starting.
    Error(PublicError),
    /// 429 `rate_limited`, with `Retry-After` and `RateLimit-*` headers.
    OverLimit(OverLimit),
}

impl From<PublicError> for Refused {
    fn from(error: PublicError) -> Self {
        Self::Error(error)
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Self::Error(error.0)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Error(error) => ApiError(error).into_response(),
            Refused::OverLimit(OverLimit { limit, retry_after }) => {
                let seconds = retry_after.as_secs().max(1);
                let message = format!("too many requests; try again in {seconds} seconds");
                let mut response = ApiError(PublicError::new(ErrorCode::RateLimited, message)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                headers.insert("ratelimit-limit", HeaderValue::from(limit));
                headers.insert("ratelimit-remaining", HeaderValue::from(0));
                headers.insert("ratelimit-reset", HeaderValue::from(seconds));
                response
            }
        }
    }
}

/// A request's verdict, kept so that it is judged (and counted) once.
#[derive(Clone)]
struct Judged(Result<Principal, Refused>);

/// Implemented by the router state to give the extractor the [`Auth`]. Fails (503) while the
/// service is still starting.
pub trait HasAuth {
    fn auth(&self) -> Result<&Auth, ApiError>;
}

impl<S: HasAuth + Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(Judged(verdict)) = parts.extensions.get::<Judged>() {
            return verdict.clone().map(Authenticated);
        }
        let verdict = judge(parts, state).await;
        parts.extensions.insert(Judged(verdict.clone()));
        verdict.map(Authenticated)
    }
}

async fn judge<S: HasAuth>(parts: &Parts, state: &S) -> Result<Principal, Refused> {
    let auth = state.auth()?;
    let token = bearer_token(&parts.headers, &parts.uri)
        .ok_or_else(|| PublicError::new(ErrorCode::Unauthenticated, "missing bearer token"))?;
    let principal = auth.authenticate(&token).await.map_err(PublicError::from)?;
    if let Principal::Key { scope, .. } = &principal
        && !scope.permits(&parts.method)
    {
        let refusal = format!("a {} API key may only read (GET)", scope.as_str());
        return Err(PublicError::new(ErrorCode::PermissionDenied, refusal).into());
    }
    let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    if !route.is_some_and(|route| UNCOUNTED_ROUTES.contains(&route)) {
        auth.admit_request(&principal).await.map_err(Refused::OverLimit)?;
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role) -> (Principal, Uuid) {
        let tenant_id = Uuid::new_v4();
        (Principal::User { tenant_id, user_id: Uuid::new_v4(), role, session_id: Some(Uuid::new_v4()) }, tenant_id)
    }

    #[test]
    fn a_user_cannot_act_in_another_tenant_and_agents_cannot_administer() {
        let (agent, tenant_id) = person(Role::Agent);
        assert_eq!(agent.acting_in(Uuid::new_v4()).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(agent.require_admin_of(tenant_id).unwrap_err().code, ErrorCode::PermissionDenied);
        let (admin, tenant_id) = person(Role::Admin);
        assert_eq!(admin.require_admin_of(tenant_id).unwrap().role, Role::Admin);
        assert!(Principal::Operator.require_admin_of(Uuid::new_v4()).is_ok());
        assert!(Principal::Operator.in_own_tenant().is_err());
    }

    #[test]
    fn a_key_acts_in_its_own_tenant_with_its_scopes_role_and_never_administers() {
        let tenant_id = Uuid::new_v4();
        let key_id = Uuid::new_v4();
        let ai = Principal::Key { tenant_id, key_id, scope: KeyScope::AiAgent };
        let ctx = ai.in_own_tenant().unwrap();
        assert_eq!(
            (ctx.tenant_id, ctx.principal.as_str(), ctx.role),
            (tenant_id, format!("key:{key_id}").as_str(), Role::Ai)
        );
        assert_eq!(ai.acting_in(Uuid::new_v4()).unwrap_err().code, ErrorCode::NotFound, "another tenant is not there");
        let integration = Principal::Key { tenant_id, key_id, scope: KeyScope::Integration };
        assert_eq!(integration.in_own_tenant().unwrap().role, Role::Supervisor);
        assert_eq!(integration.require_admin_of(tenant_id).unwrap_err().code, ErrorCode::PermissionDenied);
        assert_eq!(integration.user_id(), None);
        assert_eq!(integration.name(), format!("key:{key_id}"));
    }

    fn parts(uri: &str, authorization: Option<&str>) -> (HeaderMap, Uri) {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert("authorization", value.parse().unwrap());
        }
        (headers, uri.parse().unwrap())
    }

    fn bearer((headers, uri): (HeaderMap, Uri)) -> Option<String> {
        bearer_token(&headers, &uri)
    }

    #[test]
    fn the_bearer_credential_comes_from_the_header_before_the_query() {
        assert_eq!(bearer(parts("/v1/me", Some("Bearer abc"))).as_deref(), Some("abc"));
        assert_eq!(bearer(parts("/v1/stream?x=1&access_token=ik_1_2", None)).as_deref(), Some("ik_1_2"));
        assert_eq!(bearer(parts("/v1/stream?access_token=q", Some("Bearer h"))).as_deref(), Some("h"));
        assert_eq!(bearer(parts("/v1/me", Some("Basic abc"))), None);
        assert_eq!(bearer(parts("/v1/me", None)), None);
    }
}
