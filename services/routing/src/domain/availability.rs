//! Agents' live availability and when it ends.

use chrono::{DateTime, Utc};

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

    /// Whether routing hands conversations to an agent in this state.
    pub fn takes_conversations(self) -> bool {
        self == Availability::Online
    }
}

/// An availability as stored: what the agent set, and until when it holds unless refreshed
/// (the setter's clock plus the hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub availability: Availability,
    pub until: DateTime<Utc>,
}

impl Presence {
    /// The stored form: `online@<until, µs since the epoch>`.
    pub fn encode(&self) -> String {
        format!("{}@{}", self.availability.as_str(), self.until.timestamp_micros())
    }

    /// The availability a stored value means at `now`: offline once its hold has passed, even
    /// if the store has not dropped it yet; offline when nothing is stored. A value without a
    /// hold (written before holds were stored) lasts as long as the store keeps it.
    pub fn stored_at(stored: Option<&str>, now: DateTime<Utc>) -> Availability {
        let Some(text) = stored else { return Availability::Offline };
        let Some((availability, until)) = text.split_once('@') else { return Availability::parse(text) };
        match until.parse().ok().and_then(DateTime::<Utc>::from_timestamp_micros) {
            Some(until) if now < until => Availability::parse(availability),
            _ => Availability::Offline,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 3, 9, 0, 0).unwrap()
    }

    #[test]
    fn unknown_availability_is_offline() {
        assert_eq!(Availability::parse("online"), Availability::Online);
        assert_eq!(Availability::parse(""), Availability::Offline);
        assert_eq!(Presence::stored_at(None, monday()), Availability::Offline);
        assert_eq!(Presence::stored_at(Some("busy@nonsense"), monday()), Availability::Offline);
    }

    #[test]
    fn only_online_agents_take_conversations() {
        assert!(Availability::Online.takes_conversations());
        assert!(!Availability::Away.takes_conversations());
        assert!(!Availability::Offline.takes_conversations());
    }

    #[test]
    fn a_presence_holds_until_its_expiry_and_is_offline_from_then_on() {
        let stored = Presence { availability: Availability::Away, until: monday() + Duration::seconds(90) }.encode();
        assert_eq!(Presence::stored_at(Some(&stored), monday()), Availability::Away);
        assert_eq!(Presence::stored_at(Some(&stored), monday() + Duration::seconds(89)), Availability::Away);
        assert_eq!(Presence::stored_at(Some(&stored), monday() + Duration::seconds(90)), Availability::Offline);
    }

    #[test]
    fn a_value_stored_without_an_expiry_lasts_as_long_as_the_store_keeps_it() {
        assert_eq!(Presence::stored_at(Some("online"), monday()), Availability::Online);
        assert_eq!(Presence::stored_at(Some("away"), monday() + Duration::days(400)), Availability::Away);
    }
}
