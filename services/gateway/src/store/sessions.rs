//! Sessions: one per sign-in (its refresh tokens rotate; the session is their family) or per
//! operator-minted token. Refresh tokens are stored as the SHA-256 of their secret.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::GatewayStore;
use super::credentials::UserRecord;

/// How a session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A person signed in with their password; refreshed with rotating refresh tokens.
    SignIn,
    /// An operator or admin minted a token for automation; it is not refreshed.
    Minted,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::SignIn => "sign_in",
            SessionKind::Minted => "minted",
        }
    }
}

/// A session about to begin.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub kind: SessionKind,
    /// Who minted it (`operator`, `user:<id>`), for a minted token.
    pub minted_by: Option<&'a str>,
    pub client_address: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

/// What a request carrying a session's token is judged by.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// A refresh token presented, with its session and user, read under a lock on the token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshState {
    #[sqlx(flatten)]
    pub session: SessionRecord,
    /// The token was exchanged already: presenting it again is theft.
    pub used: bool,
    pub user_role: String,
    pub user_disabled: bool,
    pub tokens_valid_after: Option<DateTime<Utc>>,
}

impl RefreshState {
    pub fn user(&self) -> UserRecord {
        UserRecord {
            tenant_id: self.session.tenant_id,
            role: self.user_role.clone(),
            disabled: self.user_disabled,
            tokens_valid_after: self.tokens_valid_after,
        }
    }
}

/// What to do with a presented refresh token, decided by the caller's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Mark it used and issue its successor.
    Rotate,
    /// It was used before: revoke the whole session.
    RevokeSession,
    /// Refuse it and change nothing (session over, user disabled).
    Refuse,
}

/// What became of a presented refresh token.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// No such token.
    Unknown,
    Rotated(RefreshState),
    SessionRevoked(RefreshState),
    Refused(RefreshState),
}

impl GatewayStore {
    /// Begins a session at `now`, with its first refresh token when it has one.
    pub async fn create_session(
        &self,
        new: &NewSession<'_>,
        refresh_token_hash: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> Result<SessionRecord, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let session: SessionRecord = sqlx::query_as(
            "INSERT INTO sessions (id, tenant_id, user_id, kind, minted_by, client_address, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id, tenant_id, user_id, created_at, expires_at, revoked_at IS NOT NULL AS revoked",
        )
        .bind(Uuid::now_v7())
        .bind(new.tenant_id)
        .bind(new.user_id)
        .bind(new.kind.as_str())
        .bind(new.minted_by)
        .bind(new.client_address)
        .bind(now)
        .bind(new.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(hash) = refresh_token_hash {
            sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)")
                .bind(hash)
                .bind(session.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(session)
    }

    pub async fn session_record(&self, id: Uuid) -> Result<Option<SessionRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tenant_id, user_id, created_at, expires_at, revoked_at IS NOT NULL AS revoked \
             FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Exchanges the refresh token with hash `presented` for one with hash `successor`, as
    /// `decide` rules on its state. Concurrent exchanges of one token are serialised: the
    /// second sees it used.
    pub async fn exchange_refresh_token(
        &self,
        presented: &[u8],
        successor: &[u8],
        now: DateTime<Utc>,
        decide: impl FnOnce(&RefreshState) -> RefreshDecision,
    ) -> Result<RefreshOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let state: Option<RefreshState> = sqlx::query_as(
            "SELECT s.id, s.tenant_id, s.user_id, s.created_at, s.expires_at, s.revoked_at IS NOT NULL AS revoked, \
                    r.used_at IS NOT NULL AS used, u.role AS user_role, \
                    u.disabled_at IS NOT NULL AS user_disabled, u.tokens_valid_after \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id \
             WHERE r.token_hash = $1 FOR UPDATE OF r",
        )
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = state else {
            return Ok(RefreshOutcome::Unknown);
        };
        let outcome = match decide(&state) {
            RefreshDecision::Rotate => {
                sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1")
                    .bind(presented)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)")
                    .bind(successor)
                    .bind(state.session.id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                RefreshOutcome::Rotated(state)
            }
            RefreshDecision::RevokeSession => {
                revoke(&mut tx, state.session.id, "refresh_token_reused", now).await?;
                RefreshOutcome::SessionRevoked(state)
            }
            RefreshDecision::Refuse => RefreshOutcome::Refused(state),
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The session a refresh token (used or not) belongs to.
    pub async fn session_of_refresh_token(&self, hash: &[u8]) -> Result<Option<SessionRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT s.id, s.tenant_id, s.user_id, s.created_at, s.expires_at, s.revoked_at IS NOT NULL AS revoked \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
    }

    /// Revokes one session; false when it was revoked already (or never existed).
    pub async fn revoke_session(&self, id: Uuid, reason: &str, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        revoke(&mut conn, id, reason, now).await
    }
}

async fn revoke(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let revoked =
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
    Ok(revoked.rows_affected() == 1)
}
