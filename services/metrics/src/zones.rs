//! Tenants' time zones, which put buckets and "today" at local midnight. The conversation
//! service owns them (`GetTenantSettings`); they are cached here for a few minutes, and
//! remembered in the store for when that service cannot be asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use inbox_config::Secret;
use inbox_proto::conversation::v1::GetTenantSettingsRequest;
use inbox_proto::conversation::v1::conversations_client::ConversationsClient;
use inbox_service::{CallContext, Role};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::store::MetricsStore;

/// The principal metrics acts as towards other services.
pub const PRINCIPAL: &str = "service:metrics";

/// The call context of metrics acting for `tenant_id`.
pub fn service_context(tenant_id: Uuid) -> CallContext {
    CallContext { tenant_id, principal: PRINCIPAL.into(), role: Role::Service }
}

#[derive(Debug, thiserror::Error)]
#[error("the time zone of tenant {tenant_id} is unknown: {reason}")]
pub struct ZoneUnknown {
    pub tenant_id: Uuid,
    pub reason: String,
}

/// Tenants' zones, asked of the conversation service at most once per `ttl` per tenant.
#[derive(Clone)]
pub struct TenantZones {
    conversations: ConversationsClient<Channel>,
    token: Secret,
    store: MetricsStore,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<Uuid, (Tz, Instant)>>>,
}

impl TenantZones {
    pub fn new(conversations: ConversationsClient<Channel>, token: Secret, store: MetricsStore, ttl: Duration) -> Self {
        Self { conversations, token, store, ttl, cache: Arc::default() }
    }

    fn cached(&self, tenant_id: Uuid) -> Option<(Tz, Instant)> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&tenant_id).copied()
    }

    /// The tenant's zone: cached, else asked; when asking fails, the last known one.
    pub async fn zone_of(&self, tenant_id: Uuid) -> Result<Tz, ZoneUnknown> {
        let cached = self.cached(tenant_id);
        if let Some((zone, at)) = cached
            && at.elapsed() < self.ttl
        {
            return Ok(zone);
        }
        match self.ask(tenant_id).await {
            Ok(zone) => {
                if cached.map(|(z, _)| z) != Some(zone) {
                    let remembered = self.store.remember_zone(tenant_id, zone.name(), self.store.clock().now()).await;
                    if let Err(e) = remembered {
                        tracing::warn!(tenant_id = %tenant_id, error = %e, "could not remember the tenant's time zone");
                    }
                }
                self.cache
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(tenant_id, (zone, Instant::now()));
                Ok(zone)
            }
            Err(reason) => {
                if let Some((zone, _)) = cached {
                    tracing::warn!(tenant_id = %tenant_id, reason, "using the cached time zone");
                    return Ok(zone);
                }
                let remembered =
                    self.store.remembered_zone(tenant_id).await.ok().flatten().and_then(|z| z.parse().ok());
                match remembered {
                    Some(zone) => {
                        tracing::warn!(tenant_id = %tenant_id, reason, "using the remembered time zone");
                        Ok(zone)
                    }
                    None => Err(ZoneUnknown { tenant_id, reason }),
                }
            }
        }
    }

    async fn ask(&self, tenant_id: Uuid) -> Result<Tz, String> {
        let request = service_context(tenant_id)
            .request(GetTenantSettingsRequest {}, &self.token)
            .map_err(|e| e.message().to_owned())?;
        let settings = self.conversations.clone().get_tenant_settings(request).await.map_err(|e| e.to_string())?;
        let name = settings.into_inner().time_zone;
        name.parse::<Tz>().map_err(|_| format!("the conversation service named an unknown zone {name:?}"))
    }
}
