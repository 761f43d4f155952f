//! The tenant's settings (time zone, company name, AI threshold, hand-off message).

use uuid::Uuid;

use super::{ConversationStore, StoreError};
use crate::domain::TenantSettings;

impl ConversationStore {
    /// The tenant's settings; defaults when never set.
    pub async fn tenant_settings(&self, tenant_id: Uuid) -> Result<TenantSettings, StoreError> {
        tenant_settings_in(&self.pool, tenant_id).await
    }

    pub async fn set_tenant_settings(&self, tenant_id: Uuid, settings: &TenantSettings) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, time_zone, company_name, ai_confidence_threshold, handoff_message) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, \
             company_name = EXCLUDED.company_name, ai_confidence_threshold = EXCLUDED.ai_confidence_threshold, \
             handoff_message = EXCLUDED.handoff_message",
        )
        .bind(tenant_id)
        .bind(settings.time_zone.name())
        .bind(&settings.company_name)
        .bind(settings.ai_confidence_threshold)
        .bind(&settings.handoff_message)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

pub(crate) async fn tenant_settings_in<'e, E>(executor: E, tenant_id: Uuid) -> Result<TenantSettings, StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let row: Option<(String, String, f32, String)> = sqlx::query_as(
        "SELECT time_zone, company_name, ai_confidence_threshold, handoff_message FROM tenant_settings WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(executor)
    .await?;
    match row {
        // Written only through `TenantSettings::parse`, so it parses back.
        Some((zone, company, threshold, handoff)) => {
            TenantSettings::parse(&zone, &company, threshold, &handoff).map_err(StoreError::Invalid)
        }
        None => Ok(TenantSettings::default()),
    }
}
