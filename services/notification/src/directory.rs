//! The people of each tenant and their teams, from routing's `ListAgents`, kept for a short
//! while. Routing publishes no event when an agent, a team or a membership changes, so this
//! cache (not a read model fed by events) is how the service learns them; a change reaches
//! notifications within the time to live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inbox_config::Secret;
use inbox_proto::routing::v1::ListAgentsRequest;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::{CallContext, Role};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::{Directory, Person, PersonRole};

#[derive(Debug, thiserror::Error)]
#[error("routing could not list the people of tenant {tenant}: {reason}")]
pub struct DirectoryError {
    pub tenant: Uuid,
    pub reason: String,
}

type Cache = HashMap<Uuid, (Instant, Arc<Directory>)>;

/// Tenants' people, cached for `ttl`.
#[derive(Clone)]
pub struct People {
    routing: RoutingClient<Channel>,
    token: Secret,
    ttl: Duration,
    cache: Arc<Mutex<Cache>>,
}

impl People {
    pub fn new(routing: Channel, token: Secret, ttl: Duration) -> Self {
        Self { routing: RoutingClient::new(routing), token, ttl, cache: Arc::default() }
    }

    fn cached(&self, tenant: Uuid) -> Option<Arc<Directory>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&tenant).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, d)| d.clone())
    }

    /// The people of `tenant`.
    pub async fn of(&self, tenant: Uuid) -> Result<Arc<Directory>, DirectoryError> {
        if let Some(directory) = self.cached(tenant) {
            return Ok(directory);
        }
        let fail = |reason: String| DirectoryError { tenant, reason };
        let ctx = CallContext { tenant_id: tenant, principal: "service:notification".into(), role: Role::Service };
        let request = ctx.request(ListAgentsRequest {}, &self.token).map_err(|s| fail(s.message().to_owned()))?;
        let agents = self.routing.clone().list_agents(request).await.map_err(|s| fail(s.message().to_owned()))?;
        let people = agents
            .into_inner()
            .agents
            .into_iter()
            .filter_map(|a| {
                Some(Person {
                    id: Uuid::parse_str(&a.id).ok()?,
                    role: PersonRole::parse(&a.role)?,
                    team_ids: a.team_ids.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect(),
                    time_zone: a.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC),
                })
            })
            .collect();
        let directory = Arc::new(Directory { people });
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant, (Instant::now(), directory.clone()));
        Ok(directory)
    }

    /// The people of each of `tenants`.
    pub async fn of_all(
        &self,
        tenants: impl IntoIterator<Item = Uuid>,
    ) -> Result<HashMap<Uuid, Arc<Directory>>, DirectoryError> {
        let mut out = HashMap::new();
        for tenant in tenants {
            if let std::collections::hash_map::Entry::Vacant(slot) = out.entry(tenant) {
                slot.insert(self.of(tenant).await?);
            }
        }
        Ok(out)
    }
}
