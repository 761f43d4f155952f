//! The gateway's store: tenants and users ([`mod@self`]), their credentials (passwords,
//! disabling: [`credentials`]), sessions and refresh tokens ([`sessions`]) and API keys
//! ([`api_keys`]).
//!
//! Time is an input: every instant a rule later compares with the clock (expiries,
//! revocations, last use) is bound from the caller's `now`, never PostgreSQL's `now()`.

pub mod api_keys;
pub mod credentials;
pub mod sessions;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// A disabled user can neither sign in nor use any token.
    pub disabled: bool,
}

#[derive(Clone)]
pub struct GatewayStore {
    pool: sqlx::PgPool,
}

impl GatewayStore {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }

    /// Creates the tenant, or returns the existing one with this slug (retries are safe).
    pub async fn upsert_tenant(&self, slug: &str, name: &str, time_zone: &str) -> Result<(Tenant, bool), sqlx::Error> {
        let inserted: Option<Tenant> = sqlx::query_as(
            "INSERT INTO tenants (id, slug, name, time_zone) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (slug) DO NOTHING RETURNING id, slug, name, time_zone, created_at",
        )
        .bind(Uuid::now_v7())
        .bind(slug)
        .bind(name)
        .bind(time_zone)
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(t) => Ok((t, true)),
            None => Ok((
                sqlx::query_as("SELECT id, slug, name, time_zone, created_at FROM tenants WHERE slug = $1")
                    .bind(slug)
                    .fetch_one(&self.pool)
                    .await?,
                false,
            )),
        }
    }

    pub async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>, sqlx::Error> {
        sqlx::query_as("SELECT id, slug, name, time_zone, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Creates the user, or updates name and role of the tenant's user with this email.
    pub async fn upsert_user(&self, tenant_id: Uuid, email: &str, name: &str, role: &str) -> Result<User, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO users (id, tenant_id, email, name, role) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, lower(email)) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, updated_at = now() \
             RETURNING id, tenant_id, email, name, role, created_at, disabled_at IS NOT NULL AS disabled",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(email)
        .bind(name)
        .bind(role)
        .fetch_one(&self.pool)
        .await
    }

    pub async fn user(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, tenant_id, email, name, role, created_at, disabled_at IS NOT NULL AS disabled \
             FROM users WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    /// The names of the tenant's users and API keys by principal (`user:<id>` → "Sarah",
    /// `key:<id>` → "Order bot"), to name the senders of exported messages.
    pub async fn user_names(&self, tenant_id: Uuid) -> Result<HashMap<String, String>, sqlx::Error> {
        let named: Vec<(String, String)> = sqlx::query_as(
            "SELECT 'user:' || id, name FROM users WHERE tenant_id = $1 \
             UNION ALL SELECT 'key:' || id, name FROM api_keys WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(named.into_iter().collect())
    }
}
