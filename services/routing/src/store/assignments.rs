//! Assignments: the conversation service's facts applied in batches, auto-routing of waiting
//! conversations to available members, assignment by hand, and the history with its events.
//!
//! Lock order, the same in every transaction so replicas never deadlock on each other:
//! conversation rows first (those a change is about, in id order; waiting ones with SKIP LOCKED,
//! so a replica never waits for another's), then agent rows, in id order, in one statement.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_proto::routing::v1::AssignmentChange;
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::outbox::OUTBOX_CHANNEL;
use super::{RoutingStore, StoreError};
use crate::availability::AvailabilityBook;
use crate::domain::{Candidate, Policy, Reason, distribute};
use prost::Message as _;

#[allow(clippy::expect_used)] // registration fails only on a duplicate name: a bug here
pub static DECISIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "inbox_routing_assignments_total",
        "Assignment changes recorded by routing, by reason (manual, auto, bulk, take_over).",
        &["reason"]
    )
    .expect("metric registers once")
});

/// Most waiting conversations one transaction routes per call.
const ROUTE_LIMIT: i64 = 2_000;

/// What one event of the conversation service says about a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFact {
    pub event_id: String,
    pub subject: String,
    pub conversation_id: Uuid,
    /// `whatsapp`, `telephony`, `webchat`.
    pub channel: String,
    /// The conversation's version after the event; `i64::MAX` for a deletion.
    pub version: i64,
    /// Active or Pending.
    pub open: bool,
    pub needs_human: bool,
    pub deleted: bool,
    /// The agent who took it over from the AI, for `conversation.taken_over`.
    pub taken_over_by: Option<Uuid>,
}

/// What a batch of facts did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FactsReport {
    /// Ids of the events seen for the first time (the others were redeliveries).
    pub first_seen: BTreeSet<String>,
    /// Conversations handed to an agent by routing.
    pub routed: usize,
}

/// Who a conversation should go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignTarget {
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
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

/// A conversation as routing holds it, locked by the current transaction.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
struct ConversationState {
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

/// One recorded change, written to the history and the outbox.
#[derive(Debug, Clone)]
struct Change {
    conversation_id: Uuid,
    sequence: i64,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    previous_assignee_id: Option<Uuid>,
    previous_team_id: Option<Uuid>,
    actor: String,
    note: String,
    reason: Reason,
}

impl ConversationState {
    /// Moves to `assignee`/`team`, returning the change to record.
    fn change_to(
        &mut self,
        assignee: Option<Uuid>,
        team: Option<Uuid>,
        actor: &str,
        note: &str,
        reason: Reason,
    ) -> Change {
        let change = Change {
            conversation_id: self.id,
            sequence: self.sequence + 1,
            assignee_id: assignee,
            team_id: team,
            previous_assignee_id: self.assignee_id,
            previous_team_id: self.team_id,
            actor: actor.to_owned(),
            note: note.to_owned(),
            reason,
        };
        self.sequence += 1;
        self.assignee_id = assignee;
        self.team_id = team;
        change
    }
}

const STATE_COLUMNS: &str = "id, channel, source_version, open, needs_human, assignee_id, team_id, waiting, sequence";

/// Locks the tenant's conversations among `ids`, in id order.
async fn lock_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ConversationState>, StoreError> {
    let rows: Vec<ConversationState> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {STATE_COLUMNS} FROM conversations WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
    )))
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// Writes conversations' state (insert or update) in one statement; each id at most once.
async fn save_conversations(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    rows: &[&ConversationState],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO conversations (tenant_id, id, channel, source_version, open, needs_human, assignee_id, team_id, \
           waiting, waiting_since, sequence) \
         SELECT $1, u.id, u.channel, u.source_version, u.open, u.needs_human, u.assignee_id, u.team_id, u.waiting, \
           CASE WHEN u.waiting THEN now() END, u.sequence \
         FROM UNNEST($2::uuid[], $3::text[], $4::int8[], $5::bool[], $6::bool[], $7::uuid[], $8::uuid[], $9::bool[], $10::int8[]) \
           AS u(id, channel, source_version, open, needs_human, assignee_id, team_id, waiting, sequence) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET channel = EXCLUDED.channel, source_version = EXCLUDED.source_version, \
           open = EXCLUDED.open, needs_human = EXCLUDED.needs_human, assignee_id = EXCLUDED.assignee_id, \
           team_id = EXCLUDED.team_id, waiting = EXCLUDED.waiting, \
           waiting_since = CASE WHEN EXCLUDED.waiting THEN COALESCE(conversations.waiting_since, now()) END, \
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An agent row as locked for a load change.
#[derive(Debug, Clone, Copy)]
struct AgentLoad {
    load: i32,
    capacity: i32,
    original: i32,
}

/// (agent, load, capacity, team, last routed at in that team).
type AgentLockRow = (Uuid, i32, i32, Option<Uuid>, Option<DateTime<Utc>>);

/// Locks the tenant's agents among `ids`, in id order (the one lock order of agents), and
/// reads, under that lock, when each was last routed to in each of `teams` (round-robin turns).
async fn lock_agents(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    ids: &BTreeSet<Uuid>,
    teams: &[Uuid],
) -> Result<(BTreeMap<Uuid, AgentLoad>, HashMap<(Uuid, Uuid), DateTime<Utc>>), StoreError> {
    if ids.is_empty() {
        return Ok((BTreeMap::new(), HashMap::new()));
    }
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let rows: Vec<AgentLockRow> = sqlx::query_as(
        "SELECT a.id, a.load, a.capacity, m.team_id, m.last_routed_at FROM agents a \
         LEFT JOIN team_members m ON m.tenant_id = a.tenant_id AND m.agent_id = a.id AND m.team_id = ANY($3) \
         WHERE a.tenant_id = $1 AND a.id = ANY($2) ORDER BY a.id FOR UPDATE OF a",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(teams)
    .fetch_all(&mut **tx)
    .await?;
    let mut agents = BTreeMap::new();
    let mut turns = HashMap::new();
    for (id, load, capacity, team, last_routed) in rows {
        agents.insert(id, AgentLoad { load, capacity, original: load });
        if let (Some(team), Some(at)) = (team, last_routed) {
            turns.insert((team, id), at);
        }
    }
    Ok((agents, turns))
}

/// Writes a transaction's decisions in one statement: the loads that changed, the routed
/// conversations, the teams' round-robin turns, the history rows and their events (with the
/// relay's wake-up).
async fn write_decisions(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    agents: &BTreeMap<Uuid, AgentLoad>,
    routed: &[(Uuid, Uuid, i64)],
    turns: &BTreeMap<(Uuid, Uuid), i64>,
    changes: &[Change],
) -> Result<(), StoreError> {
    let loads: Vec<(Uuid, i32)> =
        agents.iter().filter(|(_, a)| a.load != a.original).map(|(id, a)| (*id, a.load.max(0))).collect();
    if loads.is_empty() && routed.is_empty() && changes.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let tenant = tenant_id.to_string();
    let subject = subjects::event(&tenant, "routing.assignment_changed");
    let envelopes: Vec<Vec<u8>> = changes
        .iter()
        .map(|c| {
            let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
            let payload = Payload::RoutingAssignmentChanged(AssignmentChange {
                conversation_id: c.conversation_id.to_string(),
                sequence: c.sequence,
                assignee_id: id(c.assignee_id),
                team_id: id(c.team_id),
                previous_assignee_id: id(c.previous_assignee_id),
                previous_team_id: id(c.previous_team_id),
                actor: c.actor.clone(),
                note: c.note.clone(),
                reason: c.reason.as_str().to_owned(),
                changed_at: Some(inbox_proto::timestamp_from(now)),
            });
            // Deterministic: a change is published under one id whatever the retries.
            new_envelope(format!("routing:{}:{}", c.conversation_id, c.sequence), &tenant, payload).encode_to_vec()
        })
        .collect();
    let subjects: Vec<&str> = changes.iter().map(|_| subject.as_str()).collect();
    sqlx::query(
        "WITH loads AS ( \
           UPDATE agents a SET load = u.load, updated_at = now() \
           FROM UNNEST($2::uuid[], $3::int4[]) AS u(id, load) \
           WHERE a.tenant_id = $1 AND a.id = ANY($2) AND a.id = u.id), \
         routed AS ( \
           UPDATE conversations c SET assignee_id = u.assignee_id, waiting = false, waiting_since = NULL, \
             sequence = u.sequence, updated_at = now() \
           FROM UNNEST($4::uuid[], $5::uuid[], $6::int8[]) AS u(id, assignee_id, sequence) \
           WHERE c.tenant_id = $1 AND c.id = ANY($4) AND c.id = u.id), \
         turns AS ( \
           UPDATE team_members m SET last_routed_at = now() + u.step * interval '1 microsecond' \
           FROM UNNEST($7::uuid[], $8::uuid[], $9::int8[]) AS u(team_id, agent_id, step) \
           WHERE m.tenant_id = $1 AND m.team_id = u.team_id AND m.agent_id = u.agent_id), \
         history AS ( \
           INSERT INTO assignment_history (tenant_id, conversation_id, sequence, assignee_id, team_id, \
             previous_assignee_id, previous_team_id, actor, note, reason, changed_at) \
           SELECT $1, u.*, $19 FROM UNNEST($10::uuid[], $11::int8[], $12::uuid[], $13::uuid[], $14::uuid[], \
             $15::uuid[], $16::text[], $17::text[], $18::text[]) AS u ON CONFLICT DO NOTHING), \
         events AS ( \
           INSERT INTO outbox (subject, envelope) SELECT * FROM UNNEST($20::text[], $21::bytea[])) \
         SELECT pg_notify($22, '') WHERE cardinality($20::text[]) > 0",
    )
    .bind(tenant_id)
    .bind(loads.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(loads.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(turns.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(turns.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(turns.values().copied().collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.conversation_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.sequence).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.assignee_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.team_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.previous_assignee_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.previous_team_id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.actor.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.note.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.reason.as_str()).collect::<Vec<_>>())
    .bind(now)
    .bind(&subjects)
    .bind(&envelopes)
    .bind(OUTBOX_CHANNEL)
    .execute(&mut **tx)
    .await?;
    for c in changes {
        DECISIONS.with_label_values(&[c.reason.as_str()]).inc();
    }
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

/// The advisory lock key of a team's routing: 64 bits of the team id mixed with the tenant's
/// (a collision only makes two teams take turns).
fn team_lock_key(tenant_id: Uuid, team_id: Uuid) -> i64 {
    let (t, u) = (tenant_id.as_u64_pair().1, team_id.as_u64_pair().1);
    i64::from_ne_bytes((t ^ u.rotate_left(17)).to_ne_bytes())
}

/// An agent a change names, who must exist (and have room when `needs_room`), checked under
/// the agents' lock.
#[derive(Debug, Clone, Copy)]
struct Required {
    agent: Uuid,
    needs_room: bool,
}

/// What a transaction asks of routing: teams to route, load changes, an agent it needs.
struct Plan<'a> {
    teams: &'a BTreeSet<Uuid>,
    deltas: &'a BTreeMap<Uuid, i32>,
    required: Option<Required>,
}

/// Locks every agent involved in one ordered statement (the only agent lock of a transaction,
/// so two transactions never hold agents in different orders), checks `required`, then routes
/// the waiting conversations of `teams` to their online members with room, by each
/// team's policy, after applying `deltas` to agents' loads (capacity freed or taken by the
/// caller), then records `pending` (the caller's changes in this transaction) with the routed
/// ones. Routing's own move of a conversation to its team, routed in the same transaction,
/// becomes one change (team and agent together): one history row and one event instead of two.
/// Returns how many were routed.
async fn route_waiting_in(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    plan: Plan<'_>,
    mut pending: Vec<Change>,
    book: &AvailabilityBook,
) -> Result<usize, StoreError> {
    let Plan { teams, deltas, required } = plan;
    let mergeable: HashMap<Uuid, usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, c)| c.reason == Reason::Auto && c.assignee_id.is_none())
        .map(|(i, c)| (c.conversation_id, i))
        .collect();
    let team_ids: Vec<Uuid> = teams.iter().copied().collect();
    // Before the team lock (outside the part routers take turns on): each team's policy and
    // members, and who of them is online.
    let (policies, members): (HashMap<Uuid, Policy>, Vec<(Uuid, Uuid)>) = if team_ids.is_empty() {
        (HashMap::new(), Vec::new())
    } else {
        let rows: Vec<(Uuid, String, Option<Uuid>)> = sqlx::query_as(
            "SELECT t.id, t.policy, m.agent_id FROM teams t \
             LEFT JOIN team_members m ON m.tenant_id = t.tenant_id AND m.team_id = t.id \
             WHERE t.tenant_id = $1 AND t.id = ANY($2)",
        )
        .bind(tenant_id)
        .bind(&team_ids)
        .fetch_all(&mut **tx)
        .await?;
        let members = rows.iter().filter_map(|r| Some((r.0, r.2?))).collect();
        (rows.into_iter().map(|(id, p, _)| (id, Policy::parse(&p).unwrap_or(Policy::RoundRobin))).collect(), members)
    };
    let member_ids: Vec<Uuid> = members.iter().map(|m| m.1).collect::<BTreeSet<_>>().into_iter().collect();
    let online: BTreeSet<Uuid> = book.online(tenant_id, &member_ids).await?.into_iter().collect();

    // One router per team at a time (a transaction-scoped advisory lock per team, taken in
    // order): capacity freed by one transaction cannot go unnoticed by another that is routing
    // the same team's waiting conversations with the loads it read before the freeing commit.
    for team in &team_ids {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(team_lock_key(tenant_id, *team))
            .execute(&mut **tx)
            .await?;
    }
    // Waiting conversations locked by another transaction (one deciding them right now) are
    // skipped, not waited for: that transaction routes its team after this one.
    let waiting: Vec<(Uuid, Uuid, i64)> = if team_ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT id, team_id, sequence FROM conversations \
             WHERE tenant_id = $1 AND waiting AND team_id = ANY($2) \
             ORDER BY waiting_since, id LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(tenant_id)
        .bind(&team_ids)
        .bind(ROUTE_LIMIT)
        .fetch_all(&mut **tx)
        .await?
    };
    let mut by_team: BTreeMap<Uuid, Vec<(Uuid, i64)>> = BTreeMap::new();
    for (id, team, sequence) in &waiting {
        by_team.entry(*team).or_default().push((*id, *sequence));
    }
    let routed_teams: Vec<Uuid> = by_team.keys().copied().collect();
    // Agents worth locking: online members of teams with something waiting.
    let online: BTreeSet<Uuid> =
        members.iter().filter(|(t, a)| by_team.contains_key(t) && online.contains(a)).map(|m| m.1).collect();

    let mut lock: BTreeSet<Uuid> = online.clone();
    lock.extend(deltas.keys().copied());
    lock.extend(required.map(|r| r.agent));
    let (mut agents, turns) = lock_agents(tx, tenant_id, &lock, &routed_teams).await?;
    if let Some(Required { agent, needs_room }) = required {
        let a = agents.get(&agent).ok_or_else(|| StoreError::Invalid("agent not found".into()))?;
        if needs_room && a.load >= a.capacity {
            return Err(StoreError::Conflict(format!(
                "the agent is at capacity ({} of {} open conversations)",
                a.load, a.capacity
            )));
        }
    }
    for (agent, delta) in deltas {
        if let Some(a) = agents.get_mut(agent) {
            a.load = (a.load + delta).max(0);
        }
    }

    let mut routed: Vec<(Uuid, Uuid, i64)> = Vec::new();
    let mut rotations: Vec<(Uuid, Uuid, i64)> = Vec::new();
    for (team, conversations) in &by_team {
        let mut candidates: Vec<Candidate> = members
            .iter()
            .filter(|(t, agent)| t == team && online.contains(agent))
            .filter_map(|(_, agent)| {
                let a = agents.get(agent)?;
                // Read under the lock: still a member, and whose turn it is now.
                let last_routed = turns.get(&(*team, *agent))?;
                Some(Candidate {
                    agent_id: *agent,
                    load: a.load,
                    capacity: a.capacity,
                    last_routed: last_routed.timestamp_micros(),
                })
            })
            .collect();
        let policy = policies.get(team).copied().unwrap_or(Policy::RoundRobin);
        let chosen = distribute(policy, &mut candidates, conversations.len());
        for c in &candidates {
            if let Some(a) = agents.get_mut(&c.agent_id) {
                a.load = c.load;
            }
        }
        for (order, ((conversation, sequence), agent)) in conversations.iter().zip(&chosen).enumerate() {
            match mergeable.get(conversation) {
                Some(&i) => {
                    let merged = &mut pending[i];
                    merged.assignee_id = Some(*agent);
                    merged.team_id = Some(*team);
                    routed.push((*conversation, *agent, merged.sequence));
                }
                None => {
                    routed.push((*conversation, *agent, sequence + 1));
                    pending.push(Change {
                        conversation_id: *conversation,
                        sequence: sequence + 1,
                        assignee_id: Some(*agent),
                        team_id: Some(*team),
                        previous_assignee_id: None,
                        previous_team_id: Some(*team),
                        actor: "service:routing".into(),
                        note: String::new(),
                        reason: Reason::Auto,
                    });
                }
            }
            rotations.push((*team, *agent, order as i64));
        }
    }
    // The round-robin order: the later an agent got one in this batch, the later it goes next.
    let mut last: BTreeMap<(Uuid, Uuid), i64> = BTreeMap::new();
    for (team, agent, order) in rotations {
        last.insert((team, agent), order);
    }
    write_decisions(tx, tenant_id, &agents, &routed, &last, &pending).await?;
    Ok(routed.len())
}

impl RoutingStore {
    /// Runs `attempt` again after a deadlock or serialization failure (at most 3 times).
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Err(e) if tries < 3 && e.is_transient() => {
                    tracing::info!(error = %e, tries, "routing transaction conflicted; retrying");
                }
                other => return other,
            }
        }
    }

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
        self.with_retries(|| self.apply_facts_once(tenant_id, facts, book)).await
    }

    async fn apply_facts_once(
        &self,
        tenant_id: Uuid,
        facts: &[ConversationFact],
        book: &AvailabilityBook,
    ) -> Result<FactsReport, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<&str> = facts.iter().map(|f| f.event_id.as_str()).collect();
        let subjects: Vec<&str> = facts.iter().map(|f| f.subject.as_str()).collect();
        // Each event id once (the ledger); and every conversation named has a row before it is
        // locked, so a replica deciding the same new conversation waits here for the other's
        // commit and then sees its decision, instead of overwriting it. One statement.
        let mut named: BTreeMap<Uuid, &str> = BTreeMap::new();
        for f in facts.iter().filter(|f| !f.conversation_id.is_nil()) {
            named.entry(f.conversation_id).or_insert(f.channel.as_str());
        }
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
        .bind(named.keys().copied().collect::<Vec<_>>())
        .bind(named.values().copied().collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let fresh: BTreeSet<String> = fresh.into_iter().collect();
        let mut by_conversation: BTreeMap<Uuid, Vec<&ConversationFact>> = BTreeMap::new();
        // A nil conversation id: an event about no conversation, only remembered. An event
        // delivered twice into the same batch is applied once, at its first copy.
        let mut unclaimed = fresh.clone();
        for fact in facts {
            if unclaimed.remove(&fact.event_id) && !fact.conversation_id.is_nil() {
                by_conversation.entry(fact.conversation_id).or_default().push(fact);
            }
        }
        let mut report = FactsReport { first_seen: fresh, routed: 0 };
        if by_conversation.is_empty() {
            tx.commit().await?;
            return Ok(report);
        }
        let conversation_ids: Vec<Uuid> = by_conversation.keys().copied().collect();
        let mut states = lock_conversations(&mut tx, tenant_id, &conversation_ids).await?;
        let needs_handoff_teams = facts.iter().any(|f| f.needs_human);
        let handoff_teams: Vec<(Uuid, Vec<String>)> = if needs_handoff_teams {
            // Locked like a manual assignment's team: a team being deleted is either waited for
            // and then absent, or deleted after this batch and refused for what it now holds.
            sqlx::query_as(
                "SELECT id, handoff_channels FROM teams WHERE tenant_id = $1 ORDER BY created_at, id FOR SHARE",
            )
            .bind(tenant_id)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        let handoff_team = |channel: &str| {
            handoff_teams.iter().find(|(_, channels)| channels.iter().any(|c| c == channel)).map(|(id, _)| *id)
        };

        let mut deltas: BTreeMap<Uuid, i32> = BTreeMap::new();
        let mut freed: Vec<Uuid> = Vec::new();
        let mut to_route: BTreeSet<Uuid> = BTreeSet::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut touched: Vec<Uuid> = Vec::new();
        for (id, mut list) in by_conversation {
            list.sort_by_key(|f| f.version);
            let mut state = states.remove(&id).unwrap_or_else(|| ConversationState {
                id,
                channel: list[0].channel.clone(),
                source_version: 0,
                open: true,
                needs_human: false,
                assignee_id: None,
                team_id: None,
                waiting: false,
                sequence: 0,
            });
            let before = state.clone();
            for fact in list {
                if fact.version <= state.source_version && !fact.deleted {
                    continue; // older than what routing knows: stale
                }
                state.source_version = fact.version;
                if !fact.channel.is_empty() {
                    state.channel = fact.channel.clone();
                }
                let was_open = state.open;
                state.open = fact.open && !fact.deleted;
                if let Some(agent) = state.assignee_id {
                    if was_open && !state.open {
                        *deltas.entry(agent).or_default() -= 1;
                        freed.push(agent);
                    } else if !was_open && state.open {
                        *deltas.entry(agent).or_default() += 1;
                    }
                }
                if !state.open {
                    state.waiting = false;
                }
                if fact.needs_human && !state.needs_human && state.open && state.assignee_id.is_none() && !state.waiting
                {
                    match state.team_id.or_else(|| handoff_team(&state.channel)) {
                        Some(team) => {
                            if state.team_id != Some(team) {
                                changes.push(state.change_to(
                                    None,
                                    Some(team),
                                    "service:routing",
                                    "needs a person",
                                    Reason::Auto,
                                ));
                            }
                            state.waiting = true;
                            to_route.insert(team);
                        }
                        None => tracing::warn!(conversation_id = %id, channel = %state.channel,
                            "needs a person but no team takes hand-offs of its channel"),
                    }
                }
                state.needs_human = fact.needs_human;
                if let Some(agent) = fact.taken_over_by
                    && state.assignee_id != Some(agent)
                {
                    if state.open {
                        if let Some(previous) = state.assignee_id {
                            *deltas.entry(previous).or_default() -= 1;
                            freed.push(previous);
                        }
                        *deltas.entry(agent).or_default() += 1;
                    }
                    let actor = format!("user:{agent}");
                    let team = state.team_id;
                    changes.push(state.change_to(Some(agent), team, &actor, "took over from the AI", Reason::TakeOver));
                    state.waiting = false;
                }
            }
            if state != before {
                touched.push(id);
            }
            states.insert(id, state);
        }
        let rows: Vec<&ConversationState> = touched.iter().filter_map(|id| states.get(id)).collect();
        save_conversations(&mut tx, tenant_id, &rows).await?;
        to_route.extend(teams_of_agents(&mut tx, tenant_id, &freed).await?);
        let plan = Plan { teams: &to_route, deltas: &deltas, required: None };
        report.routed = route_waiting_in(&mut tx, tenant_id, plan, changes, book).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Routes what waits in `teams` (an agent came online, the sweeper).
    pub async fn route_waiting(
        &self,
        tenant_id: Uuid,
        teams: &[Uuid],
        book: &AvailabilityBook,
    ) -> Result<usize, StoreError> {
        let teams: BTreeSet<Uuid> = teams.iter().copied().collect();
        self.with_retries(|| async {
            let mut tx = self.pool.begin().await?;
            let plan = Plan { teams: &teams, deltas: &BTreeMap::new(), required: None };
            let routed = route_waiting_in(&mut tx, tenant_id, plan, Vec::new(), book).await?;
            tx.commit().await?;
            Ok(routed)
        })
        .await
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
        self.with_retries(|| self.assign_once(tenant_id, conversation_id, target, actor, note, reason, book)).await
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
    ) -> Result<AssignOutcome, StoreError> {
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
        let (assignee, team) = match (target.assignee_id, target.team_id) {
            (Some(agent), team) => (Some(agent), team.or(state.team_id)),
            (None, Some(team)) => (None, Some(team)),
            (None, None) => (None, None),
        };
        let waits = assignee.is_none() && team.is_some() && state.open;
        // Already with that team (waiting, or with one of its members): a team-only request
        // repeated, even after routing chose someone, changes nothing.
        let already_with_team = target.assignee_id.is_none()
            && target.team_id.is_some()
            && state.team_id == target.team_id
            && (state.waiting || state.assignee_id.is_some() || !state.open);
        let same =
            state.assignee_id == assignee && state.team_id == team && (assignee.is_some() || state.waiting == waits);
        if same || already_with_team {
            let outcome = if state.waiting { "waiting" } else { "unchanged" };
            return Ok(AssignOutcome {
                outcome,
                assignee_id: state.assignee_id,
                team_id: state.team_id,
                sequence: state.sequence,
            });
        }
        if let (Some(previous), Some(next)) = (state.assignee_id, assignee)
            && previous != next
            && note.trim().is_empty()
            && actor != format!("user:{next}")
        {
            return Err(StoreError::Invalid("reassigning from another agent needs a note for context".into()));
        }
        // Loads change in route_waiting_in, under its one ordered lock of every agent involved.
        let mut deltas: BTreeMap<Uuid, i32> = BTreeMap::new();
        let mut required = None;
        let mut freed = Vec::new();
        if let Some(agent) = assignee
            && state.assignee_id != Some(agent)
        {
            required = Some(Required { agent, needs_room: state.open });
            if state.open {
                *deltas.entry(agent).or_default() += 1;
            }
        }
        if let Some(previous) = state.assignee_id
            && assignee != Some(previous)
            && state.open
        {
            *deltas.entry(previous).or_default() -= 1;
            freed.push(previous);
        }
        let change = state.change_to(assignee, team, actor, note.trim(), reason);
        state.waiting = waits;
        save_conversations(&mut tx, tenant_id, &[&state]).await?;
        let mut to_route: BTreeSet<Uuid> = teams_of_agents(&mut tx, tenant_id, &freed).await?.into_iter().collect();
        if waits {
            to_route.extend(team);
        }
        let plan = Plan { teams: &to_route, deltas: &deltas, required };
        route_waiting_in(&mut tx, tenant_id, plan, vec![change], book).await?;
        let after: (Option<Uuid>, Option<Uuid>, bool, i64) = sqlx::query_as(
            "SELECT assignee_id, team_id, waiting, sequence FROM conversations WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AssignOutcome {
            outcome: if after.2 { "waiting" } else { "changed" },
            assignee_id: after.0,
            team_id: after.1,
            sequence: after.3,
        })
    }
}
