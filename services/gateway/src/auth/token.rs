//! Access tokens: HS256 JWTs naming the user, their tenant and role, and the session they
//! belong to. The signature and expiry say a token is genuine and current; the session and
//! user records (see [`super::admission`]) say it still counts.
//!
//! Time is an input: a token is issued and checked at the `now` its caller passes.

use chrono::{DateTime, Duration, Utc};
use inbox_config::Secret;
use inbox_errors::PublicError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest lifetime a token can be issued with (a year).
pub const MAX_TOKEN_TTL_HOURS: i64 = 24 * 365;

/// How long past its expiry a token is still accepted, for clocks a little apart.
const EXPIRY_LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tid: String,
    role: String,
    iat: i64,
    exp: i64,
    /// The session; absent from tokens minted before sessions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// What a genuine, unexpired token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    /// The role when the token was issued; requests act with the user record's current role.
    pub role: String,
    /// Unix seconds.
    pub issued_at: i64,
    pub session_id: Option<Uuid>,
}

/// Who a token is issued to.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub role: &'a str,
    pub session_id: Uuid,
}

/// Whether a token that expires at `exp` (Unix seconds) is expired at `now`.
fn expired(exp: i64, now: DateTime<Utc>) -> bool {
    exp < now.timestamp() - EXPIRY_LEEWAY_SECONDS
}

/// Signs and checks access tokens.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenSigner {
    pub fn new(jwt_secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // The library would compare `exp` with the machine's clock; `decode` compares it with
        // the `now` it is given.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(jwt_secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(jwt_secret.expose().as_bytes()),
            validation,
        }
    }

    /// A token for `holder` issued at `now`, valid for `ttl`, and when it expires.
    pub fn issue(
        &self,
        holder: Holder<'_>,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), PublicError> {
        let expires_at = now + ttl;
        let claims = Claims {
            sub: holder.user_id.to_string(),
            tid: holder.tenant_id.to_string(),
            role: holder.role.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            sid: Some(holder.session_id.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "token signing failed");
            PublicError::internal()
        })?;
        Ok((token, expires_at))
    }

    /// What a token says, if it is signed with our key and not expired at `now`.
    pub fn decode(&self, token: &str, now: DateTime<Utc>) -> Option<AccessClaims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        if expired(claims.exp, now) {
            return None;
        }
        let session_id = match &claims.sid {
            Some(sid) => Some(Uuid::parse_str(sid).ok()?),
            None => None,
        };
        Some(AccessClaims {
            user_id: Uuid::parse_str(&claims.sub).ok()?,
            tenant_id: Uuid::parse_str(&claims.tid).ok()?,
            role: claims.role,
            issued_at: claims.iat,
            session_id,
        })
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

    fn signer() -> TokenSigner {
        TokenSigner::new(&Secret::new("a-jwt-secret-of-at-least-32-characters"))
    }

    fn holder() -> Holder<'static> {
        Holder { user_id: Uuid::new_v4(), tenant_id: Uuid::new_v4(), role: "agent", session_id: Uuid::new_v4() }
    }

    #[test]
    fn an_issued_token_names_its_user_tenant_role_and_session() {
        let h = holder();
        let (token, _) = signer().issue(h, Duration::minutes(15), now()).unwrap();
        let claims = signer().decode(&token, now()).unwrap();
        assert_eq!(
            claims,
            AccessClaims {
                user_id: h.user_id,
                tenant_id: h.tenant_id,
                role: "agent".into(),
                issued_at: now().timestamp(),
                session_id: Some(h.session_id),
            }
        );
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_by_the_clock_it_is_checked_at() {
        let (token, expires_at) = signer().issue(holder(), Duration::minutes(15), now()).unwrap();
        assert_eq!(expires_at, now() + Duration::minutes(15));
        assert!(signer().decode(&token, expires_at).is_some());
        assert!(signer().decode(&token, expires_at + Duration::seconds(30)).is_some(), "within the leeway");
        assert!(signer().decode(&token, expires_at + Duration::seconds(31)).is_none());
        let a_year_on = now() + Duration::days(365);
        let (fresh, _) = signer().issue(holder(), Duration::minutes(15), a_year_on).unwrap();
        assert!(signer().decode(&fresh, a_year_on).is_some(), "the machine's date plays no part");
        assert!(signer().decode(&token, a_year_on).is_none());
    }

    #[test]
    fn forged_and_malformed_tokens_say_nothing() {
        let other = TokenSigner::new(&Secret::new("another-secret-of-at-least-32-chars!!"));
        let (forged, _) = other.issue(holder(), Duration::hours(1), now()).unwrap();
        assert!(signer().decode(&forged, now()).is_none());
        assert!(signer().decode("garbage", now()).is_none());
        assert!(signer().decode("", now()).is_none());
    }

    #[test]
    fn a_token_minted_before_sessions_existed_has_no_session() {
        let claims = Claims {
            sub: Uuid::new_v4().to_string(),
            tid: Uuid::new_v4().to_string(),
            role: "admin".into(),
            iat: now().timestamp(),
            exp: (now() + Duration::hours(1)).timestamp(),
            sid: None,
        };
        let secret = Secret::new("a-jwt-secret-of-at-least-32-characters");
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.expose().as_bytes()),
        )
        .unwrap();
        let decoded = signer().decode(&token, now()).unwrap();
        assert_eq!(decoded.session_id, None);
        assert_eq!(decoded.role, "admin");
    }
}
