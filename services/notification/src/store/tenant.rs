//! Settings of a tenant that only the operator changes.

use uuid::Uuid;

use super::{NotificationStore, StoreError};

impl NotificationStore {
    pub async fn allow_private_addresses(&self, tenant_id: Uuid) -> Result<bool, StoreError> {
        let allowed: Option<bool> =
            sqlx::query_scalar("SELECT allow_private_webhook_addresses FROM tenant_settings WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(allowed.unwrap_or(false))
    }

    pub async fn set_allow_private_addresses(&self, tenant_id: Uuid, allowed: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, allow_private_webhook_addresses) VALUES ($1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET allow_private_webhook_addresses = $2",
        )
        .bind(tenant_id)
        .bind(allowed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
