//! Routing rules without I/O: policies, availability, and who gets the next conversation.

use std::collections::VecDeque;

use uuid::Uuid;

/// How a team hands waiting conversations to its available members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The available member routed to least recently goes next.
    RoundRobin,
    /// The available member with the fewest open conversations goes next (ties: least recently
    /// routed, then id).
    LeastLoaded,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round_robin",
            Policy::LeastLoaded => "least_loaded",
        }
    }

    pub fn parse(text: &str) -> Option<Policy> {
        match text {
            "round_robin" => Some(Policy::RoundRobin),
            "least_loaded" => Some(Policy::LeastLoaded),
            _ => None,
        }
    }
}

/// An agent's live availability; only `Online` agents are routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Online,
    Away,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Away => "away",
            Availability::Offline => "offline",
        }
    }

    /// Anything unknown (an expired key included) is offline.
    pub fn parse(text: &str) -> Availability {
        match text {
            "online" => Availability::Online,
            "away" => Availability::Away,
            _ => Availability::Offline,
        }
    }
}

/// Channels a team may take hand-offs from.
pub const CHANNELS: [&str; 3] = ["whatsapp", "telephony", "webchat"];

/// An available member of a team, as locked in the deciding transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: Uuid,
    pub load: i32,
    pub capacity: i32,
    /// Position in the team's round-robin order: smaller was routed to longer ago.
    pub last_routed: i64,
}

/// Hands up to `waiting` conversations, in order, to `candidates` by `policy`: the agent for
/// each conversation that gets one. Never takes an agent over capacity; shorter than
/// `waiting` when the team's capacity runs out. Updates the candidates' loads.
pub fn distribute(policy: Policy, candidates: &mut [Candidate], waiting: usize) -> Vec<Uuid> {
    let mut chosen = Vec::with_capacity(waiting);
    match policy {
        Policy::RoundRobin => {
            let mut order: Vec<usize> = (0..candidates.len()).collect();
            order.sort_by_key(|&i| (candidates[i].last_routed, candidates[i].agent_id));
            let mut queue: VecDeque<usize> = order.into_iter().collect();
            let mut clock = candidates.iter().map(|c| c.last_routed).max().unwrap_or(0);
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
            let mut clock = candidates.iter().map(|c| c.last_routed).max().unwrap_or(0);
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

/// Why an assignment changed (recorded in the history and the event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A person assigned it.
    Manual,
    /// Routing chose an available member.
    Auto,
    /// Part of a bulk assignment.
    Bulk,
    /// An agent took it over from the AI.
    TakeOver,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Manual => "manual",
            Reason::Auto => "auto",
            Reason::Bulk => "bulk",
            Reason::TakeOver => "take_over",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: u128, load: i32, capacity: i32, last_routed: i64) -> Candidate {
        Candidate { agent_id: Uuid::from_u128(n), load, capacity, last_routed }
    }

    #[test]
    fn round_robin_takes_turns_starting_with_who_waited_longest() {
        let mut team = [agent(1, 0, 5, 20), agent(2, 0, 5, 10), agent(3, 0, 5, 30)];
        let chosen = distribute(Policy::RoundRobin, &mut team, 5);
        let ids: Vec<u128> = chosen.iter().map(|u| u.as_u128()).collect();
        assert_eq!(ids, [2, 1, 3, 2, 1]);
    }

    #[test]
    fn round_robin_skips_agents_at_capacity_and_stops_when_everyone_is_full() {
        let mut team = [agent(1, 2, 2, 0), agent(2, 0, 2, 1)];
        let chosen = distribute(Policy::RoundRobin, &mut team, 5);
        assert_eq!(chosen, [Uuid::from_u128(2), Uuid::from_u128(2)]);
        assert_eq!(team[1].load, 2);
    }

    #[test]
    fn least_loaded_fills_the_emptiest_agent_first() {
        let mut team = [agent(1, 3, 10, 0), agent(2, 1, 10, 5), agent(3, 1, 10, 2)];
        let chosen = distribute(Policy::LeastLoaded, &mut team, 4);
        let ids: Vec<u128> = chosen.iter().map(|u| u.as_u128()).collect();
        // 3 (load 1, routed longer ago), 2 (load 1), then both at 2: 3 again (routed before 2's turn)...
        assert_eq!(ids, [3, 2, 3, 2]);
        assert_eq!(team.iter().map(|c| c.load).collect::<Vec<_>>(), [3, 3, 3]);
    }

    #[test]
    fn nobody_available_means_nobody_chosen() {
        assert!(distribute(Policy::LeastLoaded, &mut [], 3).is_empty());
        assert!(distribute(Policy::RoundRobin, &mut [agent(1, 0, 0, 0)], 3).is_empty());
    }

    #[test]
    fn unknown_availability_is_offline() {
        assert_eq!(Availability::parse("online"), Availability::Online);
        assert_eq!(Availability::parse(""), Availability::Offline);
        assert_eq!(Policy::parse("least_loaded"), Some(Policy::LeastLoaded));
        assert_eq!(Policy::parse("random"), None);
    }
}
