//! API keys for machines (the AI agent, integrations), kept as the SHA-256 of their secret.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::GatewayStore;

/// A key as admins see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// `ai_agent`, `integration` or `read_only`.
    pub scope: String,
    /// Who created it (`operator`, `user:<id>`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What a request carrying a key is judged by.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub scope: String,
    pub secret_hash: Vec<u8>,
    pub revoked: bool,
}

/// A key about to be created.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub scope: &'a str,
    pub secret_hash: &'a [u8],
    pub created_by: &'a str,
}

impl GatewayStore {
    pub async fn create_api_key(&self, new: &NewApiKey<'_>, now: DateTime<Utc>) -> Result<ApiKey, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO api_keys (id, tenant_id, name, scope, secret_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, tenant_id, name, scope, created_by, created_at, last_used_at, revoked_at",
        )
        .bind(new.id)
        .bind(new.tenant_id)
        .bind(new.name)
        .bind(new.scope)
        .bind(new.secret_hash)
        .bind(new.created_by)
        .bind(now)
        .fetch_one(&self.pool)
        .await
    }

    /// The tenant's keys, the oldest first, revoked ones included.
    pub async fn api_keys(&self, tenant_id: Uuid) -> Result<Vec<ApiKey>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tenant_id, name, scope, created_by, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn api_key(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<ApiKey>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tenant_id, name, scope, created_by, created_at, last_used_at, revoked_at \
             FROM api_keys WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    pub async fn api_key_record(&self, id: Uuid) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tenant_id, name, scope, secret_hash, revoked_at IS NOT NULL AS revoked \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// Revokes the tenant's key (again: no change); `None` when the tenant has no such key.
    pub async fn revoke_api_key(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKey>, sqlx::Error> {
        sqlx::query_as(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 \
             RETURNING id, tenant_id, name, scope, created_by, created_at, last_used_at, revoked_at",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
    }

    /// Records when keys were last used, in one statement; an older time never replaces a
    /// newer one.
    pub async fn record_api_key_use(&self, uses: &[(Uuid, DateTime<Utc>)]) -> Result<(), sqlx::Error> {
        if uses.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = uses.iter().copied().unzip();
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.at) \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE k.id = u.id",
        )
        .bind(ids)
        .bind(times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
