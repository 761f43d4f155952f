//! Assignments: the conversation service's facts applied in batches and assignment by hand,
//! each in one transaction that then routes what its changes made routable
//! ([`super::routing`]). The rules live in [`crate::domain`]; here the facts are read, the rules
//! called and their result written.
//!
//! Lock order, the same in every transaction so replicas never deadlock on each other:
//! conversation rows first (those a change is about, in id order; waiting ones with SKIP LOCKED,
//! so a replica never waits for another's), then agent rows, in id order, in one statement.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::routing::{Availabilities, Reach, Recheck, Routing, route_waiting_in};
use super::{RoutingStore, StoreError};
use crate::availability::AvailabilityBook;
use crate::domain::{
    AssignTarget, ConversationFact, ConversationState, FactEffects, HandoffTeam, ManualChange, Reason, apply_facts,
    decide_assignment, facts_by_conversation,
};

/// What a batch of facts did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FactsReport {
    /// Ids of the events seen for the first time (the others were redeliveries).
    pub first_seen: BTreeSet<String>,
    /// Conversations handed to an agent by routing.
    pub routed: usize,
}

/// The result of an assignment by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignOutcome {
    /// `changed`, `unchanged` or `waiting`.
    pub outcome: &'static str,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub sequence: i64,
}

/// A conversation row as routing keeps it.
#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: Uuid,
    channel: String,
    source_version: i64,
    open: bool,
    needs_human: bool,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    waiting: bool,
    sequence: i64,
}

impl From<ConversationRow> for ConversationState {
    fn from(r: ConversationRow) -> Self {
        ConversationState {
            id: r.id,
            channel: r.channel,
            source_version: r.source_version,
            open: r.open,
            needs_human: r.needs_human,
            assignee_id: r.assignee_id,
            team_id: r.team_id,
            waiting: r.waiting,
            sequence: r.sequence,
        }
    }
}

/// Locks the tenant's conversations among `ids`, in id order.
async fn lock_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ConversationState>, StoreError> {
    let rows: Vec<ConversationRow> = sqlx::query_as(
        "SELECT id, channel, source_version, open, needs_human, assignee_id, team_id, waiting, sequence \
         FROM conversations WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r.into())).collect())
}

/// Writes conversations' state (insert or update) in one statement; each id at most once. A
/// conversation that starts waiting waits since `now`.
async fn save_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    now: DateTime<Utc>,
    rows: &[ConversationState],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO conversations (tenant_id, id, channel, source_version, open, needs_human, assignee_id, team_id, \
           waiting, waiting_since, sequence) \
         SELECT $1, u.id, u.channel, u.source_version, u.open, u.needs_human, u.assignee_id, u.team_id, u.waiting, \
           CASE WHEN u.waiting THEN $11::timestamptz END, u.sequence \
         FROM UNNEST($2::uuid[], $3::text[], $4::int8[], $5::bool[], $6::bool[], $7::uuid[], $8::uuid[], $9::bool[], $10::int8[]) \
           AS u(id, channel, source_version, open, needs_human, assignee_id, team_id, waiting, sequence) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET channel = EXCLUDED.channel, source_version = EXCLUDED.source_version, \
           open = EXCLUDED.open, needs_human = EXCLUDED.needs_human, assignee_id = EXCLUDED.assignee_id, \
           team_id = EXCLUDED.team_id, waiting = EXCLUDED.waiting, \
           waiting_since = CASE WHEN EXCLUDED.waiting THEN COALESCE(conversations.waiting_since, $11) END, \
           sequence = EXCLUDED.sequence, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.source_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.open).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.needs_human).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.assignee_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.team_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.waiting).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sequence).collect::<Vec<_>>())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The teams `agents` belong to.
async fn teams_of_agents(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    agents: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    if agents.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar("SELECT DISTINCT team_id FROM team_members WHERE tenant_id = $1 AND agent_id = ANY($2)")
        .bind(tenant_id)
        .bind(agents)
        .fetch_all(&mut **tx)
        .await?)
}

impl RoutingStore {
    /// Applies a batch of the conversation service's events of one tenant in one transaction:
    /// each event id once (ledger), each conversation's newest version only; closing frees the
    /// assignee's capacity, reopening takes it again, "needs human" makes an unassigned
    /// conversation wait for its team (or the team taking hand-offs of its channel), a take-over
    /// assigns the agent; then the touched teams route what waits.
    pub async fn apply_facts(
        &self,
        tenant_id: Uuid,
        facts: &[ConversationFact],
        book: &AvailabilityBook,
    ) -> Result<FactsReport, StoreError> {
        let (mut report, recheck) = self.with_retries(|| self.apply_facts_once(tenant_id, facts, book)).await?;
        report.routed += self.route_newly_online(tenant_id, recheck, book).await;
        Ok(report)
    }

    async fn apply_facts_once(
        &self,
        tenant_id: Uuid,
        facts: &[ConversationFact],
        book: &AvailabilityBook,
    ) -> Result<(FactsReport, Recheck), StoreError> {
        let mut named: BTreeMap<Uuid, &str> = BTreeMap::new();
        for f in facts.iter().filter(|f| !f.conversation_id.is_nil()) {
            named.entry(f.conversation_id).or_insert(f.channel.as_str());
        }
        let conversations: Vec<Uuid> = named.keys().copied().collect();
        let availability = if facts.iter().any(ConversationFact::may_route) {
            let reach = Reach {
                handoff_channels: facts.iter().filter(|f| f.needs_human).map(|f| f.channel.as_str()).collect(),
                conversations: &conversations,
                agents: facts.iter().filter_map(|f| f.taken_over_by).collect(),
                ..Reach::default()
            };
            self.availability_before(tenant_id, reach, book).await?
        } else {
            Availabilities::new()
        };

        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let ids: Vec<&str> = facts.iter().map(|f| f.event_id.as_str()).collect();
        let subjects: Vec<&str> = facts.iter().map(|f| f.subject.as_str()).collect();
        // Each event id once (the ledger); and every conversation named has a row before it is
        // locked, so a replica deciding the same new conversation waits here for the other's
        // commit and then sees its decision, instead of overwriting it. One statement.
        let fresh: Vec<String> = sqlx::query_scalar(
            "WITH rows AS ( \
               INSERT INTO conversations (tenant_id, id, channel, open) \
               SELECT $1, u.id, u.channel, true FROM UNNEST($4::uuid[], $5::text[]) AS u(id, channel) \
               ON CONFLICT DO NOTHING) \
             INSERT INTO processed_events (event_id, tenant_id, subject) \
             SELECT e, $1, s FROM UNNEST($2::text[], $3::text[]) AS u(e, s) ON CONFLICT (event_id) DO NOTHING \
             RETURNING event_id",
        )
        .bind(tenant_id)
        .bind(&ids)
        .bind(&subjects)
        .bind(&conversations)
        .bind(named.values().copied().collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let fresh: BTreeSet<String> = fresh.into_iter().collect();
        let by_conversation = facts_by_conversation(facts, &fresh);
        let mut report = FactsReport { first_seen: fresh, routed: 0 };
        if by_conversation.is_empty() {
            tx.commit().await?;
            return Ok((report, Recheck::new()));
        }
        let conversation_ids: Vec<Uuid> = by_conversation.keys().copied().collect();
        let mut states = lock_conversations(&mut tx, tenant_id, &conversation_ids).await?;
        let handoff: Vec<HandoffTeam> = if facts.iter().any(|f| f.needs_human) {
            // Locked like a manual assignment's team: a team being deleted is either waited for
            // and then absent, or deleted after this batch and refused for what it now holds.
            let rows: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
                "SELECT id, handoff_channels FROM teams WHERE tenant_id = $1 ORDER BY created_at, id FOR SHARE",
            )
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?;
            rows.into_iter().map(|(team_id, channels)| HandoffTeam { team_id, channels }).collect()
        } else {
            Vec::new()
        };

        let mut effects = FactEffects::default();
        let mut touched: Vec<ConversationState> = Vec::new();
        for (id, list) in by_conversation {
            let before = states.remove(&id).unwrap_or_else(|| ConversationState::unknown(id, &list[0].channel));
            let mut state = before.clone();
            apply_facts(&mut state, &list, &handoff, &mut effects);
            if state != before {
                touched.push(state);
            }
        }
        for (conversation_id, channel) in &effects.no_team {
            tracing::warn!(%conversation_id, %channel, "needs a person but no team takes hand-offs of its channel");
        }
        save_conversations(&mut tx, tenant_id, now, &touched).await?;
        let FactEffects { loads, mut to_route, changes, .. } = effects;
        to_route.extend(teams_of_agents(&mut tx, tenant_id, &loads.freed).await?);
        let routing = Routing { teams: &to_route, deltas: loads.deltas, required: None, pending: changes };
        let (routed, recheck) = route_waiting_in(&mut tx, tenant_id, now, routing, &availability).await?;
        report.routed = routed;
        tx.commit().await?;
        Ok((report, recheck))
    }

    /// Makes a conversation routing has not heard of known, from the conversation service's
    /// current state (nobody assigned as far as routing is concerned). No-op when known.
    pub async fn learn_conversation(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        channel: &str,
        version: i64,
        open: bool,
        needs_human: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversations (tenant_id, id, channel, source_version, open, needs_human) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(channel)
        .bind(version)
        .bind(open)
        .bind(needs_human)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether routing knows the conversation.
    pub async fn knows(&self, tenant_id: Uuid, conversation_id: Uuid) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2)")
            .bind(tenant_id)
            .bind(conversation_id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Assigns a conversation by hand. An agent (team unchanged unless given), a team alone
    /// (the conversation waits for and is routed to an available member), or neither
    /// (unassigned). An agent must have room; taking a conversation from another agent needs
    /// a note. The same assignment again is `unchanged`, so a retried request changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn assign(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        target: AssignTarget,
        actor: &str,
        note: &str,
        reason: Reason,
        book: &AvailabilityBook,
    ) -> Result<AssignOutcome, StoreError> {
        let (outcome, recheck) = self
            .with_retries(|| self.assign_once(tenant_id, conversation_id, target, actor, note, reason, book))
            .await?;
        self.route_newly_online(tenant_id, recheck, book).await;
        Ok(outcome)
    }

    #[allow(clippy::too_many_arguments)]
    async fn assign_once(
        &self,
        tenant_id: Uuid,
        conversation_id: Uuid,
        target: AssignTarget,
        actor: &str,
        note: &str,
        reason: Reason,
        book: &AvailabilityBook,
    ) -> Result<(AssignOutcome, Recheck), StoreError> {
        let target_team: Vec<Uuid> = target.team_id.into_iter().collect();
        let reach = Reach { teams: &target_team, conversations: &[conversation_id], ..Reach::default() };
        let availability = self.availability_before(tenant_id, reach, book).await?;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let mut states = lock_conversations(&mut tx, tenant_id, &[conversation_id]).await?;
        let mut state =
            states.remove(&conversation_id).ok_or_else(|| StoreError::NotFound("conversation not found".into()))?;
        if let Some(team) = target.team_id {
            // Locked so that a concurrent delete of the team waits for this assignment (and then
            // refuses: the team has an open conversation), or this one finds no team.
            let exists: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM teams WHERE tenant_id = $1 AND id = $2 FOR SHARE")
                    .bind(tenant_id)
                    .bind(team)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::Invalid("team not found".into()));
            }
        }
        let Some(ManualChange { change, loads, required, waits_in }) =
            decide_assignment(&mut state, target, actor, note, reason)?
        else {
            let outcome = AssignOutcome {
                outcome: if state.waiting { "waiting" } else { "unchanged" },
                assignee_id: state.assignee_id,
                team_id: state.team_id,
                sequence: state.sequence,
            };
            return Ok((outcome, Recheck::new()));
        };
        save_conversations(&mut tx, tenant_id, now, std::slice::from_ref(&state)).await?;
        // Loads change in route_waiting_in, under its one ordered lock of every agent involved.
        let mut to_route: BTreeSet<Uuid> =
            teams_of_agents(&mut tx, tenant_id, &loads.freed).await?.into_iter().collect();
        to_route.extend(waits_in);
        let routing = Routing { teams: &to_route, deltas: loads.deltas, required, pending: vec![change] };
        let (_, recheck) = route_waiting_in(&mut tx, tenant_id, now, routing, &availability).await?;
        let after: (Option<Uuid>, Option<Uuid>, bool, i64) = sqlx::query_as(
            "SELECT assignee_id, team_id, waiting, sequence FROM conversations WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let outcome = AssignOutcome {
            outcome: if after.2 { "waiting" } else { "changed" },
            assignee_id: after.0,
            team_id: after.1,
            sequence: after.3,
        };
        Ok((outcome, recheck))
    }
}
