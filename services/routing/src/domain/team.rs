//! Teams: how a team hands out its waiting conversations, and which team takes a channel's
//! hand-offs.

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

/// Channels a team may take hand-offs from.
pub const CHANNELS: [&str; 3] = ["whatsapp", "telephony", "webchat"];

/// A team and the channels whose "needs human" conversations without a team come to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffTeam {
    pub team_id: Uuid,
    pub channels: Vec<String>,
}

/// The team taking hand-offs of `channel`: the first of `teams` (oldest first) that lists it.
pub fn handoff_team(teams: &[HandoffTeam], channel: &str) -> Option<Uuid> {
    teams.iter().find(|t| t.channels.iter().any(|c| c == channel)).map(|t| t.team_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(n: u128, channels: &[&str]) -> HandoffTeam {
        HandoffTeam { team_id: Uuid::from_u128(n), channels: channels.iter().map(|c| (*c).to_owned()).collect() }
    }

    #[test]
    fn the_oldest_team_listing_a_channel_takes_its_hand_offs() {
        let teams = [team(1, &["webchat"]), team(2, &["whatsapp", "telephony"]), team(3, &["whatsapp"])];
        assert_eq!(handoff_team(&teams, "whatsapp"), Some(Uuid::from_u128(2)));
        assert_eq!(handoff_team(&teams, "webchat"), Some(Uuid::from_u128(1)));
    }

    #[test]
    fn a_channel_no_team_lists_has_no_hand_off_team() {
        assert_eq!(handoff_team(&[team(1, &["webchat"])], "telephony"), None);
        assert_eq!(handoff_team(&[], "whatsapp"), None);
    }

    #[test]
    fn policies_read_back_what_they_write_and_refuse_the_unknown() {
        for policy in [Policy::RoundRobin, Policy::LeastLoaded] {
            assert_eq!(Policy::parse(policy.as_str()), Some(policy));
        }
        assert_eq!(Policy::parse("random"), None);
    }
}
