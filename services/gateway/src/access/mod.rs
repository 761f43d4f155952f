//! Which conversations a caller may see ([`Visibility`]), decided for every authenticated
//! request and live socket from the tenant's visibility setting (kept here: tenants are the
//! gateway's), the caller's role and, for agents of a team-scoped tenant, their teams (from
//! routing). Both are cached for a few seconds.
//!
//! - Operator, admins, supervisors, services, keys with a supervisor's reach, and everyone of
//!   an `all` tenant: everything.
//! - The AI (role `ai`, an `ai_agent` key): everything, but never internal notes (the live
//!   stream drops them; the conversation service reads the role).
//! - Agents of a `team` tenant: their teams' conversations, those assigned to them, and
//!   unassigned ones.

pub mod setting;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use inbox_config::Secret;
use inbox_proto::routing::v1 as routing;
use inbox_proto::routing::v1::routing_client::RoutingClient;
use inbox_service::{CallContext, Role, Visibility};
use tonic::transport::Channel;
use uuid::Uuid;

pub use setting::{AccessStore, TenantVisibility};

use crate::api::error::GatewayError;

/// The visibility of a caller with `role` (`user_id` for a person) in a tenant whose setting
/// is `setting`, given the teams of an agent (asked only when needed).
pub fn decide(role: Role, setting: TenantVisibility, user_id: Option<Uuid>, teams: Option<Vec<Uuid>>) -> Visibility {
    match (role, setting, user_id) {
        (Role::Agent, TenantVisibility::Team, Some(user_id)) => {
            Visibility::Teams { team_ids: teams.unwrap_or_default(), assignee: Some(user_id) }
        }
        // An agent that is not a person (no such key scope today) sees only the unassigned.
        (Role::Agent, TenantVisibility::Team, None) => Visibility::Teams { team_ids: Vec::new(), assignee: None },
        _ => Visibility::All,
    }
}

/// Whether deciding needs the caller's teams.
fn needs_teams(role: Role, setting: TenantVisibility) -> bool {
    role == Role::Agent && setting == TenantVisibility::Team
}

/// The person behind a call context (`user:<id>`).
pub fn user_of(ctx: &CallContext) -> Option<Uuid> {
    ctx.principal.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok())
}

/// A small cache whose entries live for `ttl`.
struct Cache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

/// Entries beyond which expired ones are dropped.
const CACHE_PRUNE_AT: usize = 10_000;

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_PRUNE_AT {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        entries.insert(key, (value, Instant::now()));
    }

    fn forget(&self, key: &K) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Decides callers' visibility.
pub struct Access {
    store: AccessStore,
    routing: RoutingClient<Channel>,
    service_token: Secret,
    settings: Cache<Uuid, TenantVisibility>,
    teams: Cache<(Uuid, Uuid), Vec<Uuid>>,
}

impl Access {
    pub fn new(store: AccessStore, routing: RoutingClient<Channel>, service_token: Secret, ttl: Duration) -> Self {
        Self { store, routing, service_token, settings: Cache::new(ttl), teams: Cache::new(ttl) }
    }

    pub fn store(&self) -> &AccessStore {
        &self.store
    }

    /// What the caller of `ctx` may see now.
    pub async fn visibility_of(&self, ctx: &CallContext) -> Result<Visibility, GatewayError> {
        if !matches!(ctx.role, Role::Agent) {
            return Ok(Visibility::All);
        }
        let setting = self.setting_of(ctx.tenant_id).await?;
        let user_id = user_of(ctx);
        let teams = match (needs_teams(ctx.role, setting), user_id) {
            (true, Some(user_id)) => Some(self.teams_of(ctx.tenant_id, user_id).await?),
            _ => None,
        };
        Ok(decide(ctx.role, setting, user_id, teams))
    }

    /// The tenant's setting (cached).
    pub async fn setting_of(&self, tenant_id: Uuid) -> Result<TenantVisibility, GatewayError> {
        if let Some(setting) = self.settings.get(&tenant_id) {
            return Ok(setting);
        }
        let setting = self.store.visibility(tenant_id).await?.unwrap_or_default();
        self.settings.put(tenant_id, setting);
        Ok(setting)
    }

    /// Changes the tenant's setting; `false` when there is no such tenant.
    pub async fn set_setting(&self, tenant_id: Uuid, setting: TenantVisibility) -> Result<bool, GatewayError> {
        let found = self.store.set_visibility(tenant_id, setting).await?;
        self.settings.forget(&tenant_id);
        Ok(found)
    }

    /// The agent's teams, as routing has them (cached); none for an agent routing does not know.
    async fn teams_of(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Vec<Uuid>, GatewayError> {
        if let Some(teams) = self.teams.get(&(tenant_id, user_id)) {
            return Ok(teams);
        }
        let ctx = CallContext { tenant_id, principal: "service:gateway".into(), role: Role::Service };
        let request = ctx.request(routing::GetAgentRequest { agent_id: user_id.to_string() }, &self.service_token)?;
        let teams = match self.routing.clone().get_agent(request).await {
            Ok(agent) => agent.into_inner().team_ids.iter().filter_map(|t| Uuid::parse_str(t).ok()).collect(),
            Err(status) if status.code() == tonic::Code::NotFound => Vec::new(),
            Err(status) => return Err(status.into()),
        };
        self.teams.put((tenant_id, user_id), teams.clone());
        Ok(teams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_agents_of_a_team_tenant_are_scoped_to_their_teams_their_own_and_the_unassigned() {
        let (me, team) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            decide(Role::Agent, TenantVisibility::Team, Some(me), Some(vec![team])),
            Visibility::Teams { team_ids: vec![team], assignee: Some(me) }
        );
        assert_eq!(
            decide(Role::Agent, TenantVisibility::Team, Some(me), None),
            Visibility::Teams { team_ids: vec![], assignee: Some(me) },
            "an agent in no team"
        );
        for role in [Role::Supervisor, Role::Admin, Role::Ai, Role::Operator, Role::Service] {
            assert_eq!(decide(role, TenantVisibility::Team, Some(me), None), Visibility::All, "{role:?}");
        }
        assert_eq!(decide(Role::Agent, TenantVisibility::All, Some(me), None), Visibility::All, "an all tenant");
        assert!(needs_teams(Role::Agent, TenantVisibility::Team));
        assert!(!needs_teams(Role::Agent, TenantVisibility::All));
        assert!(!needs_teams(Role::Supervisor, TenantVisibility::Team));
    }

    #[test]
    fn the_person_behind_a_call_is_named_by_a_user_principal_only() {
        let id = Uuid::new_v4();
        let ctx = |principal: String| CallContext { tenant_id: Uuid::nil(), principal, role: Role::Agent };
        assert_eq!(user_of(&ctx(format!("user:{id}"))), Some(id));
        assert_eq!(user_of(&ctx(format!("key:{id}"))), None);
        assert_eq!(user_of(&ctx("operator".into())), None);
    }

    #[test]
    fn a_cached_entry_lives_for_its_ttl_and_can_be_forgotten() {
        let cache: Cache<u8, &str> = Cache::new(Duration::from_secs(60));
        cache.put(1, "team");
        assert_eq!(cache.get(&1), Some("team"));
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
        let expired: Cache<u8, &str> = Cache::new(Duration::ZERO);
        expired.put(1, "team");
        assert_eq!(expired.get(&1), None);
    }
}
