//! What lets a person in or keeps them out: their password hash, whether they are disabled,
//! and the instant before which every credential of theirs is void.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{GatewayStore, User};

/// A user whose email was given at sign-in, with what the password is checked against.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInCandidate {
    #[sqlx(flatten)]
    pub user: User,
    pub tenant_slug: String,
    /// PHC string (`$argon2id$...`); `None` while no password was ever set.
    pub password_hash: Option<String>,
}

/// What every request of a user is judged by: their current role, whether they are disabled,
/// and the instant credentials issued before are void.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRecord {
    pub tenant_id: Uuid,
    pub role: String,
    pub disabled: bool,
    pub tokens_valid_after: Option<DateTime<Utc>>,
}

impl GatewayStore {
    /// The users with this email (any case), in the tenant with slug `tenant` when given, the
    /// oldest first, at most `limit`.
    pub async fn sign_in_candidates(
        &self,
        email: &str,
        tenant: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SignInCandidate>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.id, u.tenant_id, u.email, u.name, u.role, u.created_at, u.disabled_at IS NOT NULL AS disabled, \
                    t.slug AS tenant_slug, u.password_hash \
             FROM users u JOIN tenants t ON t.id = u.tenant_id \
             WHERE lower(u.email) = lower($1) AND ($2::text IS NULL OR t.slug = $2) \
             ORDER BY u.created_at, u.id LIMIT $3",
        )
        .bind(email)
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Sets the user's password hash; false when the tenant has no such user.
    pub async fn set_password_hash(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $3, password_changed_at = $4, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Disables the user (every session revoked, every earlier credential void) or enables
    /// them again (earlier credentials stay void); `None` when the tenant has no such user.
    pub async fn set_disabled(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let user: Option<User> = if disabled {
            sqlx::query_as(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, $3), tokens_valid_after = $3, updated_at = $3 \
                 WHERE tenant_id = $1 AND id = $2 \
                 RETURNING id, tenant_id, email, name, role, created_at, disabled_at IS NOT NULL AS disabled",
            )
        } else {
            sqlx::query_as(
                "UPDATE users SET disabled_at = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2 \
                 RETURNING id, tenant_id, email, name, role, created_at, disabled_at IS NOT NULL AS disabled",
            )
        }
        .bind(tenant_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if user.is_some() && disabled {
            revoke_sessions_of(&mut tx, user_id, "user_disabled", now).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    /// Revokes every session of the user and voids every credential issued before `now`
    /// (operator-minted tokens too); the number of sessions ended, or `None` when the tenant
    /// has no such user.
    pub async fn revoke_all_sessions(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query("UPDATE users SET tokens_valid_after = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if found.rows_affected() == 0 {
            return Ok(None);
        }
        let ended = revoke_sessions_of(&mut tx, user_id, reason, now).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// The record a user's requests are judged by.
    pub async fn user_record(&self, user_id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT tenant_id, role, disabled_at IS NOT NULL AS disabled, tokens_valid_after FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
    }
}

/// Revokes the user's live sessions with `reason`; how many.
async fn revoke_sessions_of(
    tx: &mut sqlx::PgConnection,
    user_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let revoked = sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(revoked.rows_affected())
}
