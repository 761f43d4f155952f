//! Agents' working profiles, teams and memberships. Every write is an upsert or a
//! set-membership, so a retried request changes nothing more.

use uuid::Uuid;

use super::{RoutingStore, StoreError};
use crate::domain::{CHANNELS, Policy};

/// New agents take this many open conversations at once unless told otherwise.
pub const DEFAULT_CAPACITY: i32 = 5;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AgentRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    pub time_zone: String,
    pub capacity: i32,
    pub load: i32,
    pub team_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TeamRow {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub policy: String,
    pub handoff_channels: Vec<String>,
    pub member_ids: Vec<Uuid>,
    pub waiting: i64,
}

const AGENT_SELECT: &str = "SELECT a.tenant_id, a.id, a.name, a.email, a.role, a.time_zone, a.capacity, a.load, \
       COALESCE((SELECT array_agg(m.team_id ORDER BY m.team_id) FROM team_members m \
                 WHERE m.tenant_id = a.tenant_id AND m.agent_id = a.id), '{}') AS team_ids \
     FROM agents a";

const TEAM_SELECT: &str = "SELECT t.tenant_id, t.id, t.name, t.policy, t.handoff_channels, \
       COALESCE((SELECT array_agg(m.agent_id ORDER BY m.agent_id) FROM team_members m \
                 WHERE m.tenant_id = t.tenant_id AND m.team_id = t.id), '{}') AS member_ids, \
       (SELECT count(*) FROM conversations c WHERE c.tenant_id = t.tenant_id AND c.team_id = t.id AND c.waiting) AS waiting \
     FROM teams t";

/// An agent's profile as given by the gateway.
pub struct AgentProfile<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    /// `None` keeps the current one (UTC for a new agent).
    pub time_zone: Option<&'a str>,
    /// `None` keeps the current one (5 for a new agent).
    pub capacity: Option<i32>,
}

impl RoutingStore {
    /// Creates or updates an agent's working profile.
    pub async fn upsert_agent(&self, tenant_id: Uuid, p: &AgentProfile<'_>) -> Result<AgentRow, StoreError> {
        if !matches!(p.role, "admin" | "supervisor" | "agent") {
            return Err(StoreError::Invalid("role must be admin, supervisor or agent".into()));
        }
        if p.name.trim().is_empty() || p.email.trim().is_empty() {
            return Err(StoreError::Invalid("name and email are required".into()));
        }
        if let Some(tz) = p.time_zone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(StoreError::Invalid(format!("unknown time zone {tz:?}")));
        }
        if let Some(c) = p.capacity
            && !(0..=1000).contains(&c)
        {
            return Err(StoreError::Invalid("capacity must be between 0 and 1000".into()));
        }
        sqlx::query(
            "INSERT INTO agents (tenant_id, id, name, email, role, time_zone, capacity) \
             VALUES ($1, $2, $3, $4, $5, COALESCE($6, 'UTC'), COALESCE($7, $8)) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, \
               role = EXCLUDED.role, time_zone = COALESCE($6, agents.time_zone), \
               capacity = COALESCE($7, agents.capacity), updated_at = now()",
        )
        .bind(tenant_id)
        .bind(p.id)
        .bind(p.name.trim())
        .bind(p.email.trim())
        .bind(p.role)
        .bind(p.time_zone)
        .bind(p.capacity)
        .bind(DEFAULT_CAPACITY)
        .execute(&self.pool)
        .await?;
        self.agent(tenant_id, p.id).await?.ok_or_else(|| StoreError::NotFound("agent".into()))
    }

    pub async fn agent(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<AgentRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{AGENT_SELECT} WHERE a.tenant_id = $1 AND a.id = $2")))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_agents(&self, tenant_id: Uuid) -> Result<Vec<AgentRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{AGENT_SELECT} WHERE a.tenant_id = $1 ORDER BY a.name, a.id")))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Creates a team, or updates the one with this id or (without an id) this name.
    pub async fn upsert_team(
        &self,
        tenant_id: Uuid,
        id: Option<Uuid>,
        name: &str,
        policy: Policy,
        handoff_channels: &[String],
    ) -> Result<TeamRow, StoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::Invalid("a team name of 1 to 100 characters is required".into()));
        }
        let mut channels: Vec<String> = handoff_channels.iter().map(|c| c.trim().to_lowercase()).collect();
        if let Some(bad) = channels.iter().find(|c| !CHANNELS.contains(&c.as_str())) {
            return Err(StoreError::Invalid(format!("unknown channel {bad:?} (whatsapp, telephony, webchat)")));
        }
        channels.sort();
        channels.dedup();
        let saved: Result<Option<Uuid>, sqlx::Error> = match id {
            Some(id) => {
                sqlx::query_scalar(
                    "UPDATE teams SET name = $3, policy = $4, handoff_channels = $5 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING id",
                )
                .bind(tenant_id)
                .bind(id)
                .bind(name)
                .bind(policy.as_str())
                .bind(&channels)
                .fetch_optional(&self.pool)
                .await
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO teams (tenant_id, id, name, policy, handoff_channels) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (tenant_id, lower(name)) DO UPDATE SET policy = EXCLUDED.policy, \
                       handoff_channels = EXCLUDED.handoff_channels RETURNING id",
                )
                .bind(tenant_id)
                .bind(Uuid::now_v7())
                .bind(name)
                .bind(policy.as_str())
                .bind(&channels)
                .fetch_optional(&self.pool)
                .await
            }
        };
        let id = match saved {
            Ok(Some(id)) => id,
            Ok(None) => return Err(StoreError::NotFound("team not found".into())),
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                return Err(StoreError::Conflict(format!("another team is named {name:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        self.team(tenant_id, id).await?.ok_or_else(|| StoreError::NotFound("team not found".into()))
    }

    pub async fn team(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<TeamRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEAM_SELECT} WHERE t.tenant_id = $1 AND t.id = $2")))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_teams(&self, tenant_id: Uuid) -> Result<Vec<TeamRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{TEAM_SELECT} WHERE t.tenant_id = $1 ORDER BY t.name, t.id")))
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes a team and its memberships. `Conflict` while open conversations are assigned to
    /// it. The team row is locked first: an assignment to the team either committed before
    /// (and is counted) or waits and then finds no team (assignments lock the team `FOR SHARE`).
    pub async fn delete_team(&self, tenant_id: Uuid, team_id: Uuid) -> Result<TeamRow, StoreError> {
        let mut tx = self.pool.begin().await?;
        let locked: Option<String> =
            sqlx::query_scalar("SELECT name FROM teams WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(tenant_id)
                .bind(team_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(name) = locked else { return Err(StoreError::NotFound("team not found".into())) };
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM conversations WHERE tenant_id = $1 AND team_id = $2 AND open")
                .bind(tenant_id)
                .bind(team_id)
                .fetch_one(&mut *tx)
                .await?;
        if open > 0 {
            return Err(StoreError::Conflict(format!(
                "team {name:?} has {open} open conversation(s): reassign or close them before deleting the team"
            )));
        }
        let team = self.team(tenant_id, team_id).await?.ok_or_else(|| StoreError::NotFound("team not found".into()))?;
        sqlx::query("DELETE FROM teams WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Adds (or removes) an agent to (from) a team. `NotFound` when either is not the tenant's.
    pub async fn set_membership(
        &self,
        tenant_id: Uuid,
        team_id: Uuid,
        agent_id: Uuid,
        member: bool,
    ) -> Result<TeamRow, StoreError> {
        if self.agent(tenant_id, agent_id).await?.is_none() {
            return Err(StoreError::NotFound("agent not found".into()));
        }
        if self.team(tenant_id, team_id).await?.is_none() {
            return Err(StoreError::NotFound("team not found".into()));
        }
        if member {
            sqlx::query(
                "INSERT INTO team_members (tenant_id, team_id, agent_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(team_id)
            .bind(agent_id)
            .execute(&self.pool)
            .await?;
        } else {
            sqlx::query("DELETE FROM team_members WHERE tenant_id = $1 AND team_id = $2 AND agent_id = $3")
                .bind(tenant_id)
                .bind(team_id)
                .bind(agent_id)
                .execute(&self.pool)
                .await?;
        }
        self.team(tenant_id, team_id).await?.ok_or_else(|| StoreError::NotFound("team not found".into()))
    }

    /// The teams `agent_id` belongs to.
    pub async fn teams_of(&self, tenant_id: Uuid, agent_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        Ok(sqlx::query_scalar("SELECT team_id FROM team_members WHERE tenant_id = $1 AND agent_id = $2")
            .bind(tenant_id)
            .bind(agent_id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Tenants and teams with conversations waiting (for the sweeper).
    pub async fn teams_with_waiting(&self, limit: i64) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT tenant_id, team_id FROM conversations WHERE waiting AND team_id IS NOT NULL LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
