//! Whether a genuine credential still counts, judged against its records at `now`: the rules
//! that make sign-out, revoke-all, disabling a user and revoking a key take effect at once.
//! Pure: the records come from the store (through the cache), the time from the caller.

use chrono::{DateTime, Utc};
use inbox_errors::{ErrorCode, PublicError};
use inbox_service::Role;
use subtle::ConstantTimeEq;

use super::api_key::{KeyScope, PresentedKey};
use super::token::AccessClaims;
use crate::store::api_keys::ApiKeyRecord;
use crate::store::credentials::UserRecord;
use crate::store::sessions::{RefreshDecision, RefreshState, SessionRecord};

/// Why a credential is refused; each is answered 401 with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not ours, malformed, expired, or naming nothing we know.
    Invalid,
    /// Its session was signed out or revoked, or outlived its lifetime.
    SessionEnded,
    /// Its user is disabled.
    UserDisabled,
    /// The API key was revoked.
    KeyRevoked,
}

impl From<Refusal> for PublicError {
    fn from(refusal: Refusal) -> Self {
        let message = match refusal {
            Refusal::Invalid => "invalid or expired token",
            Refusal::SessionEnded => "the session has ended; sign in again",
            Refusal::UserDisabled => "this account is disabled",
            Refusal::KeyRevoked => "this API key was revoked",
        };
        PublicError::new(ErrorCode::Unauthenticated, message)
    }
}

/// The user's current role, if their record lets them act: present, in the token's tenant,
/// not disabled, and with nothing issued at `issued_at` voided since.
fn admit_user(claims: &AccessClaims, user: Option<&UserRecord>, issued_at: DateTime<Utc>) -> Result<Role, Refusal> {
    let user = user.filter(|u| u.tenant_id == claims.tenant_id).ok_or(Refusal::Invalid)?;
    if user.disabled {
        return Err(Refusal::UserDisabled);
    }
    if user.tokens_valid_after.is_some_and(|after| issued_at < after) {
        return Err(Refusal::SessionEnded);
    }
    let role: Role = user.role.parse().map_err(|_| Refusal::Invalid)?;
    if matches!(role, Role::Admin | Role::Supervisor | Role::Agent | Role::Ai) {
        Ok(role)
    } else {
        Err(Refusal::Invalid)
    }
}

/// A token of a session: the session is live at `now` and belongs to the token's user, who
/// may act. Returns the user's current role.
pub fn admit_session_token(
    claims: &AccessClaims,
    session: Option<&SessionRecord>,
    user: Option<&UserRecord>,
    now: DateTime<Utc>,
) -> Result<Role, Refusal> {
    let session = session.filter(|s| s.user_id == claims.user_id && s.tenant_id == claims.tenant_id);
    let session = session.ok_or(Refusal::Invalid)?;
    let role = admit_user(claims, user, session.created_at)?;
    if session.revoked || session.expires_at <= now {
        return Err(Refusal::SessionEnded);
    }
    Ok(role)
}

/// A token minted before sessions existed: judged by its user alone. Its issue time has
/// whole seconds, so a revoke-all in the same second voids it too.
pub fn admit_sessionless_token(claims: &AccessClaims, user: Option<&UserRecord>) -> Result<Role, Refusal> {
    let issued_at = DateTime::from_timestamp(claims.issued_at, 0).ok_or(Refusal::Invalid)?;
    let voided_in_same_second =
        user.and_then(|u| u.tokens_valid_after).is_some_and(|after| after.timestamp() == claims.issued_at);
    if voided_in_same_second {
        return Err(Refusal::SessionEnded);
    }
    admit_user(claims, user, issued_at)
}

/// A presented API key: its record exists, the secret's hash matches (in constant time) and
/// it is not revoked. Returns its scope.
pub fn admit_key(presented: &PresentedKey, record: Option<&ApiKeyRecord>) -> Result<KeyScope, Refusal> {
    let record = record.filter(|r| r.id == presented.id).ok_or(Refusal::Invalid)?;
    if !bool::from(presented.secret_hash().as_slice().ct_eq(&record.secret_hash)) {
        return Err(Refusal::Invalid);
    }
    if record.revoked {
        return Err(Refusal::KeyRevoked);
    }
    KeyScope::from_name(&record.scope).ok_or(Refusal::Invalid)
}

/// What to do with a presented refresh token: one used before means it was stolen (or the
/// thief used it first), so its whole session goes; a token of an ended session or a
/// disabled user is refused; otherwise it is exchanged.
pub fn refresh_decision(state: &RefreshState, now: DateTime<Utc>) -> RefreshDecision {
    if state.used {
        return RefreshDecision::RevokeSession;
    }
    let session = &state.session;
    let voided = state.tokens_valid_after.is_some_and(|after| session.created_at < after);
    if session.revoked || session.expires_at <= now || state.user_disabled || voided {
        RefreshDecision::Refuse
    } else {
        RefreshDecision::Rotate
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::auth::api_key::NewKey;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 1, 9, 0, 0).unwrap()
    }

    struct Fixture {
        claims: AccessClaims,
        session: SessionRecord,
        user: UserRecord,
    }

    fn fixture() -> Fixture {
        let (user_id, tenant_id, session_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        Fixture {
            claims: AccessClaims {
                user_id,
                tenant_id,
                role: "agent".into(),
                issued_at: now().timestamp(),
                session_id: Some(session_id),
            },
            session: SessionRecord {
                id: session_id,
                tenant_id,
                user_id,
                created_at: now() - Duration::hours(1),
                expires_at: now() + Duration::days(29),
                revoked: false,
            },
            user: UserRecord { tenant_id, role: "supervisor".into(), disabled: false, tokens_valid_after: None },
        }
    }

    #[test]
    fn a_live_session_admits_its_user_with_their_current_role() {
        let f = fixture();
        assert_eq!(admit_session_token(&f.claims, Some(&f.session), Some(&f.user), now()), Ok(Role::Supervisor));
    }

    #[test]
    fn a_revoked_or_expired_session_is_refused() {
        let f = fixture();
        let revoked = SessionRecord { revoked: true, ..f.session.clone() };
        assert_eq!(admit_session_token(&f.claims, Some(&revoked), Some(&f.user), now()), Err(Refusal::SessionEnded));
        let expiry = f.session.expires_at;
        assert_eq!(admit_session_token(&f.claims, Some(&f.session), Some(&f.user), expiry), Err(Refusal::SessionEnded));
        assert!(admit_session_token(&f.claims, Some(&f.session), Some(&f.user), expiry - Duration::seconds(1)).is_ok());
        assert_eq!(admit_session_token(&f.claims, None, Some(&f.user), now()), Err(Refusal::Invalid));
    }

    #[test]
    fn a_disabled_user_or_a_revoke_all_after_the_session_began_refuses_it() {
        let f = fixture();
        let disabled = UserRecord { disabled: true, ..f.user.clone() };
        assert_eq!(
            admit_session_token(&f.claims, Some(&f.session), Some(&disabled), now()),
            Err(Refusal::UserDisabled)
        );
        let revoked_all = UserRecord { tokens_valid_after: Some(now() - Duration::minutes(5)), ..f.user.clone() };
        assert_eq!(
            admit_session_token(&f.claims, Some(&f.session), Some(&revoked_all), now()),
            Err(Refusal::SessionEnded),
            "even while the session's own record is stale in a cache"
        );
        let before =
            UserRecord { tokens_valid_after: Some(f.session.created_at - Duration::days(1)), ..f.user.clone() };
        assert!(admit_session_token(&f.claims, Some(&f.session), Some(&before), now()).is_ok());
    }

    #[test]
    fn a_session_of_another_user_or_tenant_is_refused() {
        let f = fixture();
        let other_user = SessionRecord { user_id: Uuid::new_v4(), ..f.session.clone() };
        assert_eq!(admit_session_token(&f.claims, Some(&other_user), Some(&f.user), now()), Err(Refusal::Invalid));
        let other_tenant = UserRecord { tenant_id: Uuid::new_v4(), ..f.user.clone() };
        assert_eq!(admit_session_token(&f.claims, Some(&f.session), Some(&other_tenant), now()), Err(Refusal::Invalid));
    }

    #[test]
    fn a_token_from_before_sessions_is_judged_by_its_user_and_any_revoke_all() {
        let f = fixture();
        let claims = AccessClaims { session_id: None, ..f.claims.clone() };
        assert_eq!(admit_sessionless_token(&claims, Some(&f.user)), Ok(Role::Supervisor));
        let later = UserRecord { tokens_valid_after: Some(now() + Duration::seconds(1)), ..f.user.clone() };
        assert_eq!(admit_sessionless_token(&claims, Some(&later)), Err(Refusal::SessionEnded));
        let same_second =
            UserRecord { tokens_valid_after: Some(now() + Duration::milliseconds(400)), ..f.user.clone() };
        assert_eq!(admit_sessionless_token(&claims, Some(&same_second)), Err(Refusal::SessionEnded));
        let earlier = UserRecord { tokens_valid_after: Some(now() - Duration::seconds(1)), ..f.user.clone() };
        assert!(admit_sessionless_token(&claims, Some(&earlier)).is_ok());
        assert_eq!(admit_sessionless_token(&claims, None), Err(Refusal::Invalid));
    }

    fn key_record(key: &NewKey, scope: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: key.id,
            tenant_id: Uuid::new_v4(),
            name: "Order bot".into(),
            scope: scope.into(),
            secret_hash: key.secret_hash.to_vec(),
            revoked: false,
        }
    }

    #[test]
    fn a_key_is_admitted_by_its_secret_until_revoked() {
        let key = NewKey::generate();
        let presented = PresentedKey::parse(&key.text).unwrap();
        let record = key_record(&key, "read_only");
        assert_eq!(admit_key(&presented, Some(&record)), Ok(KeyScope::ReadOnly));
        let revoked = ApiKeyRecord { revoked: true, ..record.clone() };
        assert_eq!(admit_key(&presented, Some(&revoked)), Err(Refusal::KeyRevoked));
        let other = NewKey::generate();
        let wrong_secret = ApiKeyRecord { secret_hash: other.secret_hash.to_vec(), ..record.clone() };
        assert_eq!(admit_key(&presented, Some(&wrong_secret)), Err(Refusal::Invalid));
        assert_eq!(admit_key(&presented, None), Err(Refusal::Invalid));
    }

    fn refresh_state(f: &Fixture) -> RefreshState {
        RefreshState {
            session: f.session.clone(),
            used: false,
            user_role: f.user.role.clone(),
            user_disabled: false,
            tokens_valid_after: None,
        }
    }

    #[test]
    fn a_fresh_refresh_token_of_a_live_session_is_exchanged() {
        let f = fixture();
        assert_eq!(refresh_decision(&refresh_state(&f), now()), RefreshDecision::Rotate);
    }

    #[test]
    fn a_refresh_token_used_twice_revokes_its_session_whatever_else_holds() {
        let f = fixture();
        let reused = RefreshState { used: true, ..refresh_state(&f) };
        assert_eq!(refresh_decision(&reused, now()), RefreshDecision::RevokeSession);
        let reused_late = RefreshState { used: true, user_disabled: true, ..refresh_state(&f) };
        assert_eq!(refresh_decision(&reused_late, now() + Duration::days(90)), RefreshDecision::RevokeSession);
    }

    #[test]
    fn a_refresh_token_of_an_ended_session_or_a_disabled_user_is_refused() {
        let f = fixture();
        let state = refresh_state(&f);
        assert_eq!(refresh_decision(&state, f.session.expires_at), RefreshDecision::Refuse);
        let revoked = RefreshState { session: SessionRecord { revoked: true, ..f.session.clone() }, ..state.clone() };
        assert_eq!(refresh_decision(&revoked, now()), RefreshDecision::Refuse);
        let disabled = RefreshState { user_disabled: true, ..state.clone() };
        assert_eq!(refresh_decision(&disabled, now()), RefreshDecision::Refuse);
        let voided = RefreshState { tokens_valid_after: Some(now()), ..state };
        assert_eq!(refresh_decision(&voided, now()), RefreshDecision::Refuse);
    }

    #[test]
    fn refusals_are_unauthenticated_with_a_reason() {
        for refusal in [Refusal::Invalid, Refusal::SessionEnded, Refusal::UserDisabled, Refusal::KeyRevoked] {
            assert_eq!(PublicError::from(refusal).code, ErrorCode::Unauthenticated);
        }
        assert_eq!(PublicError::from(Refusal::KeyRevoked).message, "this API key was revoked");
    }
}
