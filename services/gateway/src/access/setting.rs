//! The tenant's visibility setting, a column of the gateway's `tenants` table.

use uuid::Uuid;

/// Which conversations a tenant's agents see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TenantVisibility {
    /// Every conversation of the tenant (the default).
    #[default]
    All,
    /// Their teams' conversations, those assigned to them, and unassigned ones.
    Team,
}

impl TenantVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantVisibility::All => "all",
            TenantVisibility::Team => "team",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "all" => Some(TenantVisibility::All),
            "team" => Some(TenantVisibility::Team),
            _ => None,
        }
    }
}

/// Reads and writes the setting.
#[derive(Clone)]
pub struct AccessStore {
    pool: sqlx::PgPool,
}

impl AccessStore {
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }

    /// The tenant's setting; `None` when there is no such tenant.
    pub async fn visibility(&self, tenant_id: Uuid) -> Result<Option<TenantVisibility>, sqlx::Error> {
        let name: Option<String> = sqlx::query_scalar("SELECT visibility FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
        // The column's check allows only the names `from_name` reads.
        Ok(name.map(|n| TenantVisibility::from_name(&n).unwrap_or_default()))
    }

    /// Changes the tenant's setting; `false` when there is no such tenant.
    pub async fn set_visibility(&self, tenant_id: Uuid, setting: TenantVisibility) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE tenants SET visibility = $2 WHERE id = $1")
            .bind(tenant_id)
            .bind(setting.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_all_or_team_and_all_by_default() {
        for setting in [TenantVisibility::All, TenantVisibility::Team] {
            assert_eq!(TenantVisibility::from_name(setting.as_str()), Some(setting));
        }
        assert_eq!(TenantVisibility::from_name("teams"), None);
        assert_eq!(TenantVisibility::default(), TenantVisibility::All);
    }
}
