//! Who is calling, and whether they still may. Three kinds of caller:
//! - people, with a short-lived access token (a JWT naming their session) from signing in, or
//!   a token an operator or admin minted for automation (also a session, of kind `minted`);
//! - machines, with an API key `ik_<id>_<secret>` whose scope sets its role and methods;
//! - the deployment's operator (inboxctl), with the operator token.
//!
//! Credentials come in `Authorization: Bearer`. A credential in the URL (where proxies, logs
//! and browser history keep it) is taken only where a browser cannot send the header — the
//! live stream's WebSocket upgrade and media links — and there only as a single-use,
//! seconds-long [`ticket`] in `access_token`; anywhere else, or anything else there, is refused
//! with 401 saying so. Every request's credential is judged
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
pub mod ticket;
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

/// The bearer credential of the `Authorization` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The query parameter a ticket comes in (the name bearer tokens once came in, so a client
/// still sending one there is told why it is refused).
pub const URL_CREDENTIAL: &str = "access_token";

/// Routes a browser opens by URL, unable to send a header: the live stream's WebSocket and
/// media links (`<img>`, `<audio>`, a download). Only they take a ticket in the URL.
const TICKET_ROUTES: &[&str] = &["/v1/stream", "/v1/conversations/{id}/media/{media_id}"];

/// Where a request's credential is.
#[derive(Debug, PartialEq, Eq)]
enum Credential {
    /// `Authorization: Bearer`: an access token, an API key or the operator token.
    Header(String),
    /// A ticket in the URL of a route that takes one.
    Ticket(String),
}

/// The credential of a request to `route` (its matched path): the header's, or on a
/// [`TICKET_ROUTES`] route without it, a ticket in the URL. A credential in the URL of any
/// other route, or a URL credential that is not a ticket, is refused, saying what to do.
fn credential_of(headers: &HeaderMap, uri: &Uri, route: Option<&str>) -> Result<Credential, PublicError> {
    let in_url = uri.query().and_then(|query| {
        query.split('&').find_map(|pair| pair.strip_prefix(URL_CREDENTIAL).and_then(|rest| rest.strip_prefix('=')))
    });
    let takes_ticket = route.is_some_and(|route| TICKET_ROUTES.contains(&route));
    let refuse = |message: &str| PublicError::new(ErrorCode::Unauthenticated, message);
    match (bearer_token(headers), in_url) {
        (_, Some(_)) if !takes_ticket => Err(refuse(
            "a credential in the URL (access_token) is not accepted here: send it in the Authorization header \
             (only the live stream and media links take a ticket from POST /v1/auth/ticket in the URL)",
        )),
        (Some(token), _) => Ok(Credential::Header(token)),
        (None, Some(text)) if ticket::looks_like_ticket(text) => Ok(Credential::Ticket(text.to_owned())),
        (None, Some(_)) => Err(refuse(
            "access_token in the URL takes only a ticket: get one with POST /v1/auth/ticket \
             (with the Authorization header), or send the credential in the Authorization header",
        )),
        (None, None) => Err(refuse("missing bearer token")),
    }
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
    let route = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str);
    let principal = match credential_of(&parts.headers, &parts.uri, route)? {
        Credential::Header(token) => auth.authenticate(&token).await,
        Credential::Ticket(ticket) => auth.redeem_ticket(&ticket).await,
    }
    .map_err(PublicError::from)?;
    if let Principal::Key { scope, .. } = &principal
        && !scope.permits(&parts.method)
    {
        let refusal = format!("a {} API key may only read (GET)", scope.as_str());
        return Err(PublicError::new(ErrorCode::PermissionDenied, refusal).into());
    }
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

    const MEDIA: Option<&str> = Some("/v1/conversations/{id}/media/{media_id}");
    const STREAM: Option<&str> = Some("/v1/stream");
    const ME: Option<&str> = Some("/v1/me");

    fn credential(uri: &str, authorization: Option<&str>, route: Option<&str>) -> Result<Credential, PublicError> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert("authorization", value.parse().unwrap());
        }
        credential_of(&headers, &uri.parse().unwrap(), route)
    }

    #[test]
    fn the_credential_comes_from_the_authorization_header() {
        assert_eq!(credential("/v1/me", Some("Bearer abc"), ME).unwrap(), Credential::Header("abc".into()));
        assert_eq!(
            credential("/v1/stream", Some("Bearer ik_1_2"), STREAM).unwrap(),
            Credential::Header("ik_1_2".into())
        );
        let missing = credential("/v1/me", Some("Basic abc"), ME).unwrap_err();
        assert_eq!((missing.code, missing.message.as_str()), (ErrorCode::Unauthenticated, "missing bearer token"));
        assert!(credential("/v1/me", None, ME).is_err());
    }

    #[test]
    fn a_credential_in_the_url_is_refused_outside_the_stream_and_media_links() {
        let ticket = ticket::new_ticket();
        for uri in [format!("/v1/me?access_token={ticket}"), "/v1/conversations?x=1&access_token=eyJ.a.b".to_owned()] {
            let refused = credential(&uri, None, ME).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Unauthenticated, "{uri}");
            assert!(refused.message.contains("Authorization header"), "{}", refused.message);
        }
        let with_header = credential("/v1/me?access_token=eyJ.a.b", Some("Bearer eyJ.a.b"), ME).unwrap_err();
        assert_eq!(with_header.code, ErrorCode::Unauthenticated, "refused even beside the header: it leaked");
        assert_eq!(credential("/v1/me?access_tokens=1", Some("Bearer h"), ME).unwrap(), Credential::Header("h".into()));
    }

    #[test]
    fn the_stream_and_media_links_take_a_ticket_in_the_url_and_nothing_else() {
        let ticket = ticket::new_ticket();
        let uri = format!("/v1/stream?after=4&access_token={ticket}");
        assert_eq!(credential(&uri, None, STREAM).unwrap(), Credential::Ticket(ticket.clone()));
        let media = format!("/v1/conversations/c1/media/m1?access_token={ticket}");
        assert_eq!(credential(&media, None, MEDIA).unwrap(), Credential::Ticket(ticket.clone()));
        for old in ["eyJhbGciOiJIUzI1NiJ9.e30.sig", "ik_0190d7b0-0000-7000-8000-000000000000_secret"] {
            let refused = credential(&format!("/v1/stream?access_token={old}"), None, STREAM).unwrap_err();
            assert_eq!(refused.code, ErrorCode::Unauthenticated);
            assert!(refused.message.contains("POST /v1/auth/ticket"), "{}", refused.message);
        }
        assert_eq!(credential(&uri, Some("Bearer h"), STREAM).unwrap(), Credential::Header("h".into()));
        assert!(credential(&uri, None, None).is_err(), "a request no route matched takes nothing from its URL");
    }
}
