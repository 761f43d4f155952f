//! The gateway's own records as clients see them: tenants, users, API keys (never a secret but
//! once, at creation) and who is calling.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::routing::AgentJson;
use crate::auth::KeyScope;
use crate::store::api_keys::ApiKey;
use crate::store::{Tenant, User};

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Tenant)]
pub struct TenantJson {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Tenant> for TenantJson {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id,
            slug: t.slug.clone(),
            name: t.name.clone(),
            time_zone: t.time_zone.clone(),
            created_at: t.created_at,
        }
    }
}

/// A user of a tenant: a person (admin, supervisor, agent) or the AI account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    /// admin, supervisor, agent or ai.
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// A disabled user can neither sign in nor use any token.
    pub disabled: bool,
    /// A person's routing profile, when the answer wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<AgentJson>,
}

impl From<&User> for UserJson {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role.clone(),
            created_at: u.created_at,
            disabled: u.disabled,
            profile: None,
        }
    }
}

/// The signed-in person, as sign-in shows them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SignedInUser)]
pub struct PersonJson {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub name: String,
    /// admin, supervisor, agent or ai.
    pub role: String,
}

impl From<&User> for PersonJson {
    fn from(u: &User) -> Self {
        Self { id: u.id, tenant_id: u.tenant_id, email: u.email.clone(), name: u.name.clone(), role: u.role.clone() }
    }
}

/// An API key as admins see it: never its secret, except `key` in the answer that created it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct ApiKeyJson {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// ai_agent, integration or read_only.
    pub scope: String,
    /// The role the scope acts with; `null` for a scope no longer known.
    pub role: Option<&'static str>,
    /// Who created it (`operator`, `user:<id>`).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// To the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The key itself (`ik_<id>_<secret>`): shown once, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<&ApiKey> for ApiKeyJson {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id,
            tenant_id: key.tenant_id,
            name: key.name.clone(),
            scope: key.scope.clone(),
            role: KeyScope::from_name(&key.scope).map(|scope| scope.role().as_str()),
            created_by: key.created_by.clone(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            key: None,
        }
    }
}
