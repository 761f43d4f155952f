//! Who gets which: the waiting conversations of teams, oldest first, handed to the members who
//! are online and have room, by each team's policy.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::availability::Availability;
use super::state::{Change, ROUTING_ACTOR, Reason, Refusal, Required};
use super::team::Policy;

/// An available member of a team, as locked in the deciding transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: Uuid,
    pub load: i32,
    pub capacity: i32,
    /// When the member was last routed to in this team (µs since the epoch): smaller was
    /// routed to longer ago.
    pub last_routed: i64,
}

/// Hands up to `waiting` conversations, in order, to `candidates` by `policy`: the agent for
/// each conversation that gets one. Never takes an agent over capacity; shorter than `waiting`
/// when the team's capacity runs out. Updates the candidates' loads, and the `last_routed` of
/// those chosen to turns later than `now` (µs) and than every candidate's earlier turn, so the
/// order holds whatever clock wrote the earlier turns.
pub fn distribute(policy: Policy, candidates: &mut [Candidate], waiting: usize, now: i64) -> Vec<Uuid> {
    let mut chosen = Vec::with_capacity(waiting);
    let mut clock = candidates.iter().map(|c| c.last_routed).max().unwrap_or(now).max(now);
    match policy {
        Policy::RoundRobin => {
            let mut order: Vec<usize> = (0..candidates.len()).collect();
            order.sort_by_key(|&i| (candidates[i].last_routed, candidates[i].agent_id));
            let mut queue: VecDeque<usize> = order.into_iter().collect();
            while chosen.len() < waiting {
                let Some(i) = queue.pop_front() else { break };
                let c = &mut candidates[i];
                if c.load >= c.capacity {
                    continue;
                }
                c.load += 1;
                clock += 1;
                c.last_routed = clock;
                chosen.push(c.agent_id);
                queue.push_back(i);
            }
        }
        Policy::LeastLoaded => {
            while chosen.len() < waiting {
                let Some(c) = candidates
                    .iter_mut()
                    .filter(|c| c.load < c.capacity)
                    .min_by_key(|c| (c.load, c.last_routed, c.agent_id))
                else {
                    break;
                };
                c.load += 1;
                clock += 1;
                c.last_routed = clock;
                chosen.push(c.agent_id);
            }
        }
    }
    chosen
}

/// An agent as locked for routing: load and capacity read under the lock, availability as
/// read before the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub load: i32,
    pub capacity: i32,
    pub availability: Availability,
}

/// A conversation waiting in its team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub conversation_id: Uuid,
    /// Sequence of its last assignment change.
    pub sequence: i64,
}

/// A member's turn in a team: when it was last routed to there (µs since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub agent_id: Uuid,
    pub last_routed: i64,
}

/// A team's waiting conversations (oldest first) and its members' turns, read under the team's
/// routing lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamQueue {
    pub team_id: Uuid,
    pub policy: Policy,
    pub waiting: Vec<Waiting>,
    pub members: Vec<Turn>,
}

/// Everything one routing decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingInput {
    pub now: DateTime<Utc>,
    /// Every agent the transaction locked.
    pub seats: BTreeMap<Uuid, Seat>,
    /// Load changes made by the caller's changes in the same transaction, applied first.
    pub deltas: BTreeMap<Uuid, i32>,
    /// An agent the caller's change names.
    pub required: Option<Required>,
    /// Teams with something waiting, in the order they are routed.
    pub queues: Vec<TeamQueue>,
    /// The caller's changes in the same transaction.
    pub pending: Vec<Change>,
}

/// A conversation routing hands to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    pub conversation_id: Uuid,
    pub agent_id: Uuid,
    /// Sequence of the change that records it.
    pub sequence: i64,
}

/// What one routing decision writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingPlan {
    /// The new load of each agent whose load changed.
    pub loads: BTreeMap<Uuid, i32>,
    pub routed: Vec<Routed>,
    /// The new turn of each (team, member) routed to (µs since the epoch).
    pub turns: BTreeMap<(Uuid, Uuid), i64>,
    /// Every change to record: the caller's, then routing's.
    pub changes: Vec<Change>,
    /// Teams that still have conversations waiting.
    pub still_waiting: BTreeSet<Uuid>,
}

/// Checks the required agent, applies the caller's load changes, then routes each team's
/// waiting conversations to its online members with room by the team's policy (an agent's
/// load carries over from one team to the next). Routing's own move of a conversation to its
/// team, routed in the same decision, becomes one change (team and agent together): one
/// history row and one event instead of two.
pub fn plan_routing(input: RoutingInput) -> Result<RoutingPlan, Refusal> {
    let RoutingInput { now, mut seats, deltas, required, queues, mut pending } = input;
    if let Some(Required { agent, needs_room }) = required {
        let seat = seats.get(&agent).ok_or(Refusal::AgentNotFound)?;
        if needs_room && seat.load >= seat.capacity {
            return Err(Refusal::AtCapacity { load: seat.load, capacity: seat.capacity });
        }
    }
    let original: BTreeMap<Uuid, i32> = seats.iter().map(|(id, seat)| (*id, seat.load)).collect();
    for (agent, delta) in &deltas {
        if let Some(seat) = seats.get_mut(agent) {
            seat.load = (seat.load + delta).max(0);
        }
    }
    let mergeable: HashMap<Uuid, usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, c)| c.reason == Reason::Auto && c.assignee_id.is_none())
        .map(|(i, c)| (c.conversation_id, i))
        .collect();

    let mut routed = Vec::new();
    let mut turns = BTreeMap::new();
    let mut still_waiting = BTreeSet::new();
    for queue in &queues {
        let team = queue.team_id;
        let mut candidates: Vec<Candidate> = queue
            .members
            .iter()
            .filter_map(|turn| {
                let seat = seats.get(&turn.agent_id)?;
                seat.availability.takes_conversations().then_some(Candidate {
                    agent_id: turn.agent_id,
                    load: seat.load,
                    capacity: seat.capacity,
                    last_routed: turn.last_routed,
                })
            })
            .collect();
        let chosen = distribute(queue.policy, &mut candidates, queue.waiting.len(), now.timestamp_micros());
        for c in &candidates {
            if let Some(seat) = seats.get_mut(&c.agent_id) {
                seat.load = c.load;
            }
            if chosen.contains(&c.agent_id) {
                turns.insert((team, c.agent_id), c.last_routed);
            }
        }
        for (waiting, &agent) in queue.waiting.iter().zip(&chosen) {
            let conversation_id = waiting.conversation_id;
            match mergeable.get(&conversation_id) {
                Some(&i) => {
                    let merged = &mut pending[i];
                    merged.assignee_id = Some(agent);
                    merged.team_id = Some(team);
                    routed.push(Routed { conversation_id, agent_id: agent, sequence: merged.sequence });
                }
                None => {
                    let sequence = waiting.sequence + 1;
                    routed.push(Routed { conversation_id, agent_id: agent, sequence });
                    pending.push(Change {
                        conversation_id,
                        sequence,
                        assignee_id: Some(agent),
                        team_id: Some(team),
                        previous_assignee_id: None,
                        previous_team_id: Some(team),
                        actor: ROUTING_ACTOR.into(),
                        note: String::new(),
                        reason: Reason::Auto,
                    });
                }
            }
        }
        if chosen.len() < queue.waiting.len() {
            still_waiting.insert(team);
        }
    }
    let loads = seats
        .iter()
        .filter(|(id, seat)| original.get(*id) != Some(&seat.load))
        .map(|(id, seat)| (*id, seat.load.max(0)))
        .collect();
    Ok(RoutingPlan { loads, routed, turns, changes: pending, still_waiting })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::examples::{SALES, SUPPORT};

    fn agent(n: u128, load: i32, capacity: i32, last_routed: i64) -> Candidate {
        Candidate { agent_id: Uuid::from_u128(n), load, capacity, last_routed }
    }

    fn ids(chosen: &[Uuid]) -> Vec<u128> {
        chosen.iter().map(|u| u.as_u128()).collect()
    }

    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 3, 9, 0, 0).unwrap()
    }

    fn online(load: i32, capacity: i32) -> Seat {
        Seat { load, capacity, availability: Availability::Online }
    }

    fn waiting(n: u128) -> Waiting {
        Waiting { conversation_id: Uuid::from_u128(0xc000 + n), sequence: 1 }
    }

    fn queue(team: Uuid, policy: Policy, conversations: u128, members: &[(u128, i64)]) -> TeamQueue {
        TeamQueue {
            team_id: team,
            policy,
            waiting: (0..conversations).map(waiting).collect(),
            members: members.iter().map(|(n, at)| Turn { agent_id: Uuid::from_u128(*n), last_routed: *at }).collect(),
        }
    }

    fn input(seats: &[(u128, Seat)], queues: Vec<TeamQueue>) -> RoutingInput {
        RoutingInput {
            now: monday(),
            seats: seats.iter().map(|(n, seat)| (Uuid::from_u128(*n), *seat)).collect(),
            deltas: BTreeMap::new(),
            required: None,
            queues,
            pending: Vec::new(),
        }
    }

    fn assignees(plan: &RoutingPlan) -> Vec<u128> {
        plan.routed.iter().map(|r| r.agent_id.as_u128()).collect()
    }

    #[test]
    fn round_robin_takes_turns_starting_with_who_waited_longest() {
        let mut team = [agent(1, 0, 5, 20), agent(2, 0, 5, 10), agent(3, 0, 5, 30)];
        let chosen = distribute(Policy::RoundRobin, &mut team, 5, 0);
        assert_eq!(ids(&chosen), [2, 1, 3, 2, 1]);
    }

    #[test]
    fn round_robin_skips_agents_at_capacity_and_stops_when_everyone_is_full() {
        let mut team = [agent(1, 2, 2, 0), agent(2, 0, 2, 1)];
        let chosen = distribute(Policy::RoundRobin, &mut team, 5, 0);
        assert_eq!(chosen, [Uuid::from_u128(2), Uuid::from_u128(2)]);
        assert_eq!(team[1].load, 2);
    }

    #[test]
    fn round_robin_ties_go_to_the_smaller_id() {
        let mut team = [agent(9, 0, 5, 10), agent(4, 0, 5, 10)];
        assert_eq!(ids(&distribute(Policy::RoundRobin, &mut team, 3, 0)), [4, 9, 4]);
    }

    #[test]
    fn least_loaded_fills_the_emptiest_agent_first() {
        let mut team = [agent(1, 3, 10, 0), agent(2, 1, 10, 5), agent(3, 1, 10, 2)];
        let chosen = distribute(Policy::LeastLoaded, &mut team, 4, 0);
        // 3 (load 1, routed longer ago), 2 (load 1), then both at 2: 3 again (routed before 2's turn)...
        assert_eq!(ids(&chosen), [3, 2, 3, 2]);
        assert_eq!(team.iter().map(|c| c.load).collect::<Vec<_>>(), [3, 3, 3]);
    }

    #[test]
    fn least_loaded_ties_go_to_who_was_routed_longer_ago_then_to_the_smaller_id() {
        let mut team = [agent(5, 1, 10, 7), agent(6, 1, 10, 3), agent(2, 1, 10, 7)];
        assert_eq!(ids(&distribute(Policy::LeastLoaded, &mut team, 3, 0)), [6, 2, 5]);
    }

    #[test]
    fn nobody_available_means_nobody_chosen() {
        assert!(distribute(Policy::LeastLoaded, &mut [], 3, 0).is_empty());
        assert!(distribute(Policy::RoundRobin, &mut [agent(1, 0, 0, 0)], 3, 0).is_empty());
    }

    #[test]
    fn new_turns_come_after_now_and_after_every_earlier_turn() {
        let mut team = [agent(1, 0, 5, 100), agent(2, 0, 5, 900)];
        distribute(Policy::RoundRobin, &mut team, 1, 500);
        assert_eq!(team[0].last_routed, 901, "after a turn written by a clock ahead of this one");
        let mut team = [agent(1, 0, 5, 100)];
        distribute(Policy::RoundRobin, &mut team, 1, 500);
        assert_eq!(team[0].last_routed, 501);
    }

    #[test]
    fn round_robin_keeps_taking_turns_while_the_clock_stands_still() {
        // Three decisions at the same instant, each routing one conversation.
        let mut turns = vec![(1u128, 0i64), (2, 0)];
        let mut got = Vec::new();
        for _ in 0..3 {
            let plan = plan_routing(input(
                &[(1, online(0, 5)), (2, online(0, 5))],
                vec![queue(SUPPORT, Policy::RoundRobin, 1, &turns)],
            ))
            .unwrap();
            got.extend(assignees(&plan));
            for ((_, agent), at) in &plan.turns {
                turns.iter_mut().filter(|t| t.0 == agent.as_u128()).for_each(|t| t.1 = *at);
            }
        }
        assert_eq!(got, [1, 2, 1]);
    }

    #[test]
    fn only_online_members_get_conversations() {
        let away = Seat { availability: Availability::Away, ..online(0, 5) };
        let offline = Seat { availability: Availability::Offline, ..online(0, 5) };
        let plan = plan_routing(input(
            &[(1, away), (2, offline), (3, online(0, 5))],
            vec![queue(SUPPORT, Policy::LeastLoaded, 2, &[(1, 0), (2, 0), (3, 0)])],
        ))
        .unwrap();
        assert_eq!(assignees(&plan), [3, 3]);
        assert_eq!(plan.loads, BTreeMap::from([(Uuid::from_u128(3), 2)]));
    }

    #[test]
    fn a_member_not_locked_gets_nothing() {
        // Removed from the team, or not online when availability was read: not among the seats.
        let plan =
            plan_routing(input(&[(1, online(0, 5))], vec![queue(SUPPORT, Policy::RoundRobin, 2, &[(1, 0), (2, 0)])]))
                .unwrap();
        assert_eq!(assignees(&plan), [1, 1]);
    }

    #[test]
    fn capacity_is_never_exceeded_and_what_does_not_fit_keeps_waiting() {
        let plan = plan_routing(input(
            &[(1, online(1, 2)), (2, online(2, 2))],
            vec![
                queue(SUPPORT, Policy::RoundRobin, 3, &[(1, 0), (2, 0)]),
                queue(SALES, Policy::LeastLoaded, 1, &[(2, 0)]),
            ],
        ))
        .unwrap();
        assert_eq!(assignees(&plan), [1]);
        assert_eq!(plan.still_waiting, BTreeSet::from([SUPPORT, SALES]));
        assert_eq!(plan.loads, BTreeMap::from([(Uuid::from_u128(1), 2)]));
    }

    #[test]
    fn an_agent_in_two_teams_is_filled_once_across_both() {
        let plan = plan_routing(input(
            &[(1, online(0, 3))],
            vec![queue(SUPPORT, Policy::RoundRobin, 2, &[(1, 0)]), queue(SALES, Policy::RoundRobin, 2, &[(1, 0)])],
        ))
        .unwrap();
        assert_eq!(assignees(&plan), [1, 1, 1]);
        assert_eq!(plan.still_waiting, BTreeSet::from([SALES]));
        assert_eq!(plan.turns.len(), 2, "a turn in each team");
    }

    #[test]
    fn room_freed_by_the_callers_changes_is_used_at_once() {
        let mut routing = input(&[(1, online(2, 2))], vec![queue(SUPPORT, Policy::RoundRobin, 2, &[(1, 0)])]);
        routing.deltas = BTreeMap::from([(Uuid::from_u128(1), -1)]);
        let plan = plan_routing(routing).unwrap();
        assert_eq!(assignees(&plan), [1]);
        assert!(plan.loads.is_empty(), "freed and taken again: unchanged");
    }

    #[test]
    fn a_required_agent_must_exist_and_have_room_unless_the_conversation_is_closed() {
        let mut routing = input(&[(1, online(2, 2))], Vec::new());
        routing.required = Some(Required { agent: Uuid::from_u128(9), needs_room: true });
        assert_eq!(plan_routing(routing.clone()), Err(Refusal::AgentNotFound));
        routing.required = Some(Required { agent: Uuid::from_u128(1), needs_room: true });
        assert_eq!(plan_routing(routing.clone()), Err(Refusal::AtCapacity { load: 2, capacity: 2 }));
        routing.required = Some(Required { agent: Uuid::from_u128(1), needs_room: false });
        assert!(plan_routing(routing).is_ok());
    }

    #[test]
    fn a_move_to_the_team_routed_at_once_is_recorded_as_one_change() {
        let conversation = waiting(0).conversation_id;
        let mut routing = input(&[(1, online(0, 5))], vec![queue(SUPPORT, Policy::RoundRobin, 2, &[(1, 0)])]);
        routing.queues[0].waiting[0].sequence = 1;
        routing.pending = vec![Change {
            conversation_id: conversation,
            sequence: 1,
            assignee_id: None,
            team_id: Some(SUPPORT),
            previous_assignee_id: None,
            previous_team_id: None,
            actor: ROUTING_ACTOR.into(),
            note: "needs a person".into(),
            reason: Reason::Auto,
        }];
        let plan = plan_routing(routing).unwrap();
        assert_eq!(plan.changes.len(), 2, "the merged move and the other conversation's routing");
        let merged = &plan.changes[0];
        assert_eq!(
            (merged.assignee_id, merged.team_id, merged.previous_team_id),
            (Some(Uuid::from_u128(1)), Some(SUPPORT), None)
        );
        assert_eq!(plan.routed[0], Routed { conversation_id: conversation, agent_id: Uuid::from_u128(1), sequence: 1 });
        let other = &plan.changes[1];
        assert_eq!((other.sequence, other.previous_team_id, other.reason), (2, Some(SUPPORT), Reason::Auto));
    }
}
