//! Who is calling: agents and admins with a signed token (HS256 JWT issued here), or the
//! deployment's operator with the operator token. Tokens come in `Authorization: Bearer`, or
//! in the `access_token` query parameter where browsers cannot set headers (WebSocket).
//!
//! Time is an input: a token is issued and checked at the `now` its caller passes (the app's
//! clock), never at the machine's time read here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use inbox_config::Secret;
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::http_edge::ApiError;
use inbox_service::{CallContext, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::store::User;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The deployment operator (inboxctl): administers every tenant, reads none of their inboxes.
    Operator,
    /// A user of one tenant.
    User { tenant_id: Uuid, user_id: Uuid, role: Role },
}

impl Principal {
    /// The call context for internal calls made on this principal's behalf within `tenant_id`.
    /// Users may act only within their own tenant.
    pub fn acting_in(&self, tenant_id: Uuid) -> Result<CallContext, PublicError> {
        match self {
            Principal::Operator => Ok(CallContext { tenant_id, principal: "operator".into(), role: Role::Operator }),
            Principal::User { tenant_id: own, user_id, role } if *own == tenant_id => {
                Ok(CallContext { tenant_id, principal: format!("user:{user_id}"), role: *role })
            }
            Principal::User { .. } => Err(PublicError::not_found("tenant not found")),
        }
    }

    /// The call context for a user acting within their own tenant; the operator has none.
    pub fn in_own_tenant(&self) -> Result<CallContext, PublicError> {
        match self {
            Principal::User { tenant_id, .. } => self.acting_in(*tenant_id),
            Principal::Operator => Err(PublicError::new(
                ErrorCode::PermissionDenied,
                "the operator token administers tenants; use an agent token",
            )),
        }
    }

    /// Whether this principal may administer `tenant_id`.
    pub fn require_admin_of(&self, tenant_id: Uuid) -> Result<CallContext, PublicError> {
        let ctx = self.acting_in(tenant_id)?;
        if matches!(ctx.role, Role::Operator | Role::Admin) {
            Ok(ctx)
        } else {
            Err(PublicError::new(ErrorCode::PermissionDenied, "this needs the admin role"))
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    role: String,
    iat: i64,
    exp: i64,
}

/// Longest lifetime a token can be issued with (a year).
pub const MAX_TOKEN_TTL_HOURS: i64 = 24 * 365;

/// How long past its expiry a token is still accepted, for clocks a little apart.
const EXPIRY_LEEWAY_SECONDS: i64 = 30;

/// Whether a token that expires at `exp` (Unix seconds) is expired at `now`.
fn expired(exp: i64, now: DateTime<Utc>) -> bool {
    exp < now.timestamp() - EXPIRY_LEEWAY_SECONDS
}

/// Issues and checks tokens.
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    operator_token: Secret,
}

impl Authenticator {
    pub fn new(jwt_secret: &Secret, operator_token: Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // The library would compare `exp` with the machine's clock; `authenticate` compares it
        // with the `now` it is given.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(jwt_secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(jwt_secret.expose().as_bytes()),
            validation,
            operator_token,
        }
    }

    /// A token for `user` issued at `now`, valid for `ttl`, and when it expires.
    pub fn issue(
        &self,
        user: &User,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), PublicError> {
        let expires_at = now + ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            tid: user.tenant_id.to_string(),
            role: user.role.clone(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            PublicError::internal()
        })?;
        Ok((token, expires_at))
    }

    /// The principal a bearer token stands for at `now`.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, PublicError> {
        let unauthenticated = || PublicError::new(ErrorCode::Unauthenticated, "invalid or expired token");
        let operator = self.operator_token.expose().as_bytes();
        if !operator.is_empty() && bool::from(token.as_bytes().ct_eq(operator)) {
            return Ok(Principal::Operator);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| unauthenticated())?;
        let claims = data.claims;
        if expired(claims.exp, now) {
            return Err(unauthenticated());
        }
        let tenant_id = Uuid::parse_str(&claims.tid).map_err(|_| unauthenticated())?;
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| unauthenticated())?;
        let role: Role = claims.role.parse().map_err(|_| unauthenticated())?;
        if !matches!(role, Role::Admin | Role::Supervisor | Role::Agent | Role::Ai) {
            return Err(unauthenticated());
        }
        Ok(Principal::User { tenant_id, user_id, role })
    }
}

/// Extractor: the authenticated caller of a request.
pub struct Authenticated(pub Principal);

/// Implemented by the router state to give the extractor the authenticator and the time by
/// the service's clock. Fails (503) while the service is still starting.
pub trait HasAuthenticator {
    fn authenticator(&self) -> Result<(&Authenticator, DateTime<Utc>), ApiError>;
}

impl<S: HasAuthenticator + Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let from_header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let from_query = || {
            parts
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("access_token=").map(str::to_owned)))
        };
        let token = from_header
            .or_else(from_query)
            .ok_or_else(|| ApiError(PublicError::new(ErrorCode::Unauthenticated, "missing bearer token")))?;
        let (authenticator, now) = state.authenticator()?;
        Ok(Authenticated(authenticator.authenticate(&token, now)?))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Any fixed time: tokens are issued and checked at the time the caller gives.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap()
    }

    fn auth() -> Authenticator {
        Authenticator::new(&Secret::new("a-jwt-secret-of-at-least-32-characters"), Secret::new("operator-token-123"))
    }

    fn user(role: &str) -> User {
        User {
            id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            email: "sarah@company.com".into(),
            name: "Sarah".into(),
            role: role.into(),
            created_at: now(),
        }
    }

    #[test]
    fn an_issued_token_authenticates_its_user_in_their_tenant() {
        let a = auth();
        let u = user("agent");
        let (token, _) = a.issue(&u, Duration::hours(1), now()).unwrap();
        assert_eq!(
            a.authenticate(&token, now()).unwrap(),
            Principal::User { tenant_id: u.tenant_id, user_id: u.id, role: Role::Agent }
        );
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let a = auth();
        let u = user("admin");
        let (expired, _) = a.issue(&u, Duration::hours(-2), now()).unwrap();
        assert_eq!(a.authenticate(&expired, now()).unwrap_err().code, ErrorCode::Unauthenticated);
        let other = Authenticator::new(&Secret::new("another-secret-of-at-least-32-chars!!"), Secret::new("x"));
        let (forged, _) = other.issue(&u, Duration::hours(1), now()).unwrap();
        assert_eq!(a.authenticate(&forged, now()).unwrap_err().code, ErrorCode::Unauthenticated);
        assert_eq!(a.authenticate("garbage", now()).unwrap_err().code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn a_user_cannot_act_in_another_tenant_and_agents_cannot_administer() {
        let a = auth();
        let u = user("agent");
        let (token, _) = a.issue(&u, Duration::hours(1), now()).unwrap();
        let principal = a.authenticate(&token, now()).unwrap();
        assert_eq!(principal.acting_in(Uuid::new_v4()).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(principal.require_admin_of(u.tenant_id).unwrap_err().code, ErrorCode::PermissionDenied);
        assert_eq!(a.authenticate("operator-token-123", now()).unwrap(), Principal::Operator);
        assert!(Principal::Operator.require_admin_of(Uuid::new_v4()).is_ok());
        assert!(Principal::Operator.in_own_tenant().is_err());
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_by_the_clock_it_is_checked_at() {
        let a = auth();
        let u = user("agent");
        let (token, expires_at) = a.issue(&u, Duration::hours(1), now()).unwrap();
        assert_eq!(expires_at, now() + Duration::hours(1));
        assert!(a.authenticate(&token, now() + Duration::hours(1)).is_ok());
        assert!(a.authenticate(&token, expires_at + Duration::seconds(30)).is_ok(), "within the leeway");
        let late = a.authenticate(&token, expires_at + Duration::seconds(31)).unwrap_err();
        assert_eq!(late.code, ErrorCode::Unauthenticated);
        let a_year_on = now() + Duration::days(365);
        let (fresh, _) = a.issue(&u, Duration::hours(1), a_year_on).unwrap();
        assert!(a.authenticate(&fresh, a_year_on).is_ok(), "the machine's date plays no part");
        assert!(a.authenticate(&token, a_year_on).is_err());
    }
}
