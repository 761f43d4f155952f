//! Auto-routing: the waiting conversations of teams handed to their online members with room,
//! within the transaction of the change that made them routable, or on their own (an agent
//! came online, a member was added, the sweeper). Who gets which is
//! [`crate::domain::plan_routing`]; here its facts are read under locks and its plan written.
//!
//! Availability is read from Redis before a transaction opens, for the members of every team it
//! may route; nothing waits for Redis while rows are locked. It may change before the commit:
//! - an agent who goes away or offline meanwhile may still get a conversation, as if the change
//!   had come a moment later. Availability only says who is eligible; capacity, and that nothing
//!   is assigned twice, are decided under the row locks.
//! - an agent who comes online meanwhile is routed to by the call that set them online, which
//!   reads availability after the change. That call may run, and find nothing it may take,
//!   while this transaction still holds (or has not yet written) what it leaves waiting. So
//!   after the commit, the members of teams left waiting who were not online in this
//!   transaction's reading are read again, and those teams are routed again if one of them is
//!   online now ([`RoutingStore::route_newly_online`]): nothing routable is left waiting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use inbox_bus::{Payload, new_envelope, subjects};
use inbox_telemetry::prometheus::{IntCounterVec, register_int_counter_vec};
use prost::Message as _;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::outbox::OUTBOX_CHANNEL;
use super::{HistoryRow, RoutingStore, StoreError};
use crate::availability::AvailabilityBook;
use crate::domain::{
    Availability, Change, Policy, Required, RoutingInput, RoutingPlan, Seat, TeamQueue, Turn, Waiting, plan_routing,
};

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

/// Most rounds of routing again after a commit for members who came online meanwhile; the
/// sweeper catches anything beyond.
const RECHECK_ROUNDS: usize = 3;

/// Availability as read before a transaction; an agent not in it is offline.
pub(super) type Availabilities = HashMap<Uuid, Availability>;

/// Members of teams a transaction left waiting who were not online when it read availability,
/// by team.
pub(super) type Recheck = BTreeMap<Uuid, Vec<Uuid>>;

fn is_online(availability: &Availabilities, agent: &Uuid) -> bool {
    availability.get(agent).is_some_and(|a| a.takes_conversations())
}

/// (agent, load, capacity, team, last routed at in that team).
type AgentLockRow = (Uuid, i32, i32, Option<Uuid>, Option<DateTime<Utc>>);

/// Agents as locked: (load, capacity) by agent, and each one's turn (µs) in the teams asked for.
type LockedAgents = (BTreeMap<Uuid, (i32, i32)>, BTreeMap<(Uuid, Uuid), i64>);

/// Locks the tenant's agents among `ids`, in id order (the one lock order of agents), and
/// reads, under that lock, when each was last routed to in each of `teams` (round-robin turns).
async fn lock_agents(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    ids: &BTreeSet<Uuid>,
    teams: &[Uuid],
) -> Result<LockedAgents, StoreError> {
    if ids.is_empty() {
        return Ok((BTreeMap::new(), BTreeMap::new()));
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
    let mut turns = BTreeMap::new();
    for (id, load, capacity, team, last_routed) in rows {
        agents.insert(id, (load, capacity));
        if let (Some(team), Some(at)) = (team, last_routed) {
            turns.insert((team, id), at.timestamp_micros());
        }
    }
    Ok((agents, turns))
}

/// A turn to store: µs since the epoch, taken from a stored time or the clock plus a few µs, so
/// always within range.
fn turn_time(at: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Writes a routing plan in one statement: the loads that changed, the routed conversations,
/// the teams' round-robin turns, the history rows (changed at `now`) and their events (with the
/// relay's wake-up).
async fn write_decisions(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    now: DateTime<Utc>,
    plan: &RoutingPlan,
) -> Result<(), StoreError> {
    let RoutingPlan { loads, routed, turns, changes, .. } = plan;
    if loads.is_empty() && routed.is_empty() && changes.is_empty() {
        return Ok(());
    }
    let tenant = tenant_id.to_string();
    let subject = subjects::event(&tenant, "routing.assignment_changed");
    let envelopes: Vec<Vec<u8>> = changes
        .iter()
        .map(|c| {
            let payload = Payload::RoutingAssignmentChanged(HistoryRow::recorded(c, now).to_proto());
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
           UPDATE team_members m SET last_routed_at = u.at \
           FROM UNNEST($7::uuid[], $8::uuid[], $9::timestamptz[]) AS u(team_id, agent_id, at) \
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
    .bind(loads.keys().copied().collect::<Vec<_>>())
    .bind(loads.values().copied().collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.conversation_id).collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.agent_id).collect::<Vec<_>>())
    .bind(routed.iter().map(|r| r.sequence).collect::<Vec<_>>())
    .bind(turns.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(turns.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(turns.values().map(|at| turn_time(*at)).collect::<Vec<_>>())
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

/// The advisory lock key of a team's routing: 64 bits of the team id mixed with the tenant's
/// (a collision only makes two teams take turns).
fn team_lock_key(tenant_id: Uuid, team_id: Uuid) -> i64 {
    let (t, u) = (tenant_id.as_u64_pair().1, team_id.as_u64_pair().1);
    i64::from_ne_bytes((t ^ u.rotate_left(17)).to_ne_bytes())
}

/// What a transaction asks of routing: teams to route, load changes and an agent its own
/// changes need, and those changes.
pub(super) struct Routing<'a> {
    pub teams: &'a BTreeSet<Uuid>,
    pub deltas: BTreeMap<Uuid, i32>,
    pub required: Option<Required>,
    pub pending: Vec<Change>,
}

/// Locks every agent involved in one ordered statement (the only agent lock of a transaction,
/// so two transactions never hold agents in different orders), has the domain plan who gets
/// which of the waiting conversations of `teams` (with `availability` as read before the
/// transaction), and writes the plan with the caller's changes. Returns how many were routed,
/// and whom to look at again after the commit.
pub(super) async fn route_waiting_in(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: Uuid,
    now: DateTime<Utc>,
    routing: Routing<'_>,
    availability: &Availabilities,
) -> Result<(usize, Recheck), StoreError> {
    let Routing { teams, deltas, required, pending } = routing;
    let team_ids: Vec<Uuid> = teams.iter().copied().collect();
    // Before the team lock (outside the part routers take turns on): each team's policy and
    // members.
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
    let mut by_team: BTreeMap<Uuid, Vec<Waiting>> = BTreeMap::new();
    for (conversation_id, team, sequence) in waiting {
        by_team.entry(team).or_default().push(Waiting { conversation_id, sequence });
    }
    let routed_teams: Vec<Uuid> = by_team.keys().copied().collect();

    // Agents worth locking: the online members of teams with something waiting (routing takes
    // no one else), and those the caller's changes name.
    let mut lock: BTreeSet<Uuid> =
        members.iter().filter(|(t, a)| by_team.contains_key(t) && is_online(availability, a)).map(|m| m.1).collect();
    lock.extend(deltas.keys().copied());
    lock.extend(required.map(|r| r.agent));
    let (locked, turns) = lock_agents(tx, tenant_id, &lock, &routed_teams).await?;
    let seats = locked
        .into_iter()
        .map(|(agent, (load, capacity))| {
            let availability = availability.get(&agent).copied().unwrap_or(Availability::Offline);
            (agent, Seat { load, capacity, availability })
        })
        .collect();
    let queues = by_team
        .into_iter()
        .map(|(team, waiting)| TeamQueue {
            team_id: team,
            policy: policies.get(&team).copied().unwrap_or(Policy::RoundRobin),
            waiting,
            // Read under the agents' lock: still a member, and whose turn it is now.
            members: turns
                .iter()
                .filter(|((t, _), _)| *t == team)
                .map(|((_, agent), at)| Turn { agent_id: *agent, last_routed: *at })
                .collect(),
        })
        .collect();
    let plan = plan_routing(RoutingInput { now, seats, deltas, required, queues, pending })?;
    write_decisions(tx, tenant_id, now, &plan).await?;

    let recheck = plan
        .still_waiting
        .iter()
        .map(|team| {
            let offline = members.iter().filter(|(t, a)| t == team && !is_online(availability, a)).map(|m| m.1);
            (*team, offline.collect::<Vec<_>>())
        })
        .filter(|(_, agents)| !agents.is_empty())
        .collect();
    Ok((plan.routed.len(), recheck))
}

/// The teams a transaction may route, named before it opens, so the availability of their
/// members can be read first: the given teams, those taking hand-offs of the given channels, the
/// teams of the given conversations, and the teams of their assignees and of the given agents
/// (whose capacity a change may free). A guess made without locks: a team it misses is covered
/// by the check after the commit.
#[derive(Default)]
pub(super) struct Reach<'a> {
    pub teams: &'a [Uuid],
    pub handoff_channels: Vec<&'a str>,
    pub conversations: &'a [Uuid],
    pub agents: Vec<Uuid>,
}

impl RoutingStore {
    /// Reads, without locks, who of the members of the teams in `reach` is available now.
    pub(super) async fn availability_before(
        &self,
        tenant_id: Uuid,
        reach: Reach<'_>,
        book: &AvailabilityBook,
    ) -> Result<Availabilities, StoreError> {
        let members: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT m.agent_id FROM team_members m WHERE m.tenant_id = $1 AND m.team_id IN ( \
               SELECT unnest($2::uuid[]) \
               UNION SELECT t.id FROM teams t WHERE t.tenant_id = $1 AND t.handoff_channels && $3::text[] \
               UNION SELECT c.team_id FROM conversations c \
                 WHERE c.tenant_id = $1 AND c.id = ANY($4) AND c.team_id IS NOT NULL \
               UNION SELECT o.team_id FROM team_members o WHERE o.tenant_id = $1 AND (o.agent_id = ANY($5) \
                 OR o.agent_id IN (SELECT c.assignee_id FROM conversations c WHERE c.tenant_id = $1 AND c.id = ANY($4))))",
        )
        .bind(tenant_id)
        .bind(reach.teams)
        .bind(&reach.handoff_channels)
        .bind(reach.conversations)
        .bind(&reach.agents)
        .fetch_all(&self.pool)
        .await?;
        Ok(book.of(tenant_id, &members).await?)
    }

    /// Routes what waits in `teams` (an agent came online, a member was added, the sweeper).
    pub async fn route_waiting(
        &self,
        tenant_id: Uuid,
        teams: &[Uuid],
        book: &AvailabilityBook,
    ) -> Result<usize, StoreError> {
        let teams: BTreeSet<Uuid> = teams.iter().copied().collect();
        let (routed, recheck) = self.route_teams(tenant_id, &teams, book).await?;
        Ok(routed + self.route_newly_online(tenant_id, recheck, book).await)
    }

    /// One transaction routing what waits in `teams`, with availability read just before it.
    async fn route_teams(
        &self,
        tenant_id: Uuid,
        teams: &BTreeSet<Uuid>,
        book: &AvailabilityBook,
    ) -> Result<(usize, Recheck), StoreError> {
        let team_ids: Vec<Uuid> = teams.iter().copied().collect();
        self.with_retries(|| async {
            let reach = Reach { teams: &team_ids, ..Reach::default() };
            let availability = self.availability_before(tenant_id, reach, book).await?;
            let now = self.clock.now();
            let mut tx = self.pool.begin().await?;
            let routing = Routing { teams, deltas: BTreeMap::new(), required: None, pending: Vec::new() };
            let outcome = route_waiting_in(&mut tx, tenant_id, now, routing, &availability).await?;
            tx.commit().await?;
            Ok(outcome)
        })
        .await
    }

    /// After a commit that left conversations waiting: routes those teams again if a member
    /// who was not online when the transaction read availability is online now (see the module
    /// documentation). Returns how many were routed. A failure here is only logged: what was
    /// committed stands, and the sweeper routes what still waits.
    pub(super) async fn route_newly_online(
        &self,
        tenant_id: Uuid,
        mut recheck: Recheck,
        book: &AvailabilityBook,
    ) -> usize {
        let mut routed = 0;
        for _ in 0..RECHECK_ROUNDS {
            let agents: BTreeSet<Uuid> = recheck.values().flatten().copied().collect();
            if agents.is_empty() {
                break;
            }
            let online: BTreeSet<Uuid> = match book.online(tenant_id, &agents.into_iter().collect::<Vec<_>>()).await {
                Ok(online) => online.into_iter().collect(),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant_id, error = %e, "availability check after routing failed");
                    break;
                }
            };
            let teams: BTreeSet<Uuid> = recheck
                .iter()
                .filter(|(_, members)| members.iter().any(|m| online.contains(m)))
                .map(|(team, _)| *team)
                .collect();
            if teams.is_empty() {
                break;
            }
            match self.route_teams(tenant_id, &teams, book).await {
                Ok((n, next)) => {
                    routed += n;
                    recheck = next;
                }
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant_id, error = %e, "routing members who came online failed");
                    break;
                }
            }
        }
        routed
    }
}
