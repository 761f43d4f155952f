//! Routing's rows as protobuf messages, and request fields checked on the way in.

use inbox_errors::PublicError;
use inbox_proto::routing::v1 as pb;
use tonic::Status;
use uuid::Uuid;

use crate::domain::{Availability, Policy};
use crate::store::{AgentRow, TeamRow};

pub fn availability_to_proto(a: Availability) -> pb::Availability {
    match a {
        Availability::Online => pb::Availability::Online,
        Availability::Away => pb::Availability::Away,
        Availability::Offline => pb::Availability::Offline,
    }
}

/// `None` for an unknown or unspecified value.
pub fn availability_from_proto(value: i32) -> Option<Availability> {
    match pb::Availability::try_from(value) {
        Ok(pb::Availability::Online) => Some(Availability::Online),
        Ok(pb::Availability::Away) => Some(Availability::Away),
        Ok(pb::Availability::Offline) => Some(Availability::Offline),
        _ => None,
    }
}

/// Unspecified is round robin; `None` for an unknown value.
pub fn policy_from_proto(value: i32) -> Option<Policy> {
    match pb::RoutingPolicy::try_from(value) {
        Ok(pb::RoutingPolicy::LeastLoaded) => Some(Policy::LeastLoaded),
        Ok(pb::RoutingPolicy::RoundRobin | pb::RoutingPolicy::Unspecified) => Some(Policy::RoundRobin),
        Err(_) => None,
    }
}

pub fn agent_to_proto(a: &AgentRow, availability: Availability) -> pb::Agent {
    pb::Agent {
        id: a.id.to_string(),
        tenant_id: a.tenant_id.to_string(),
        name: a.name.clone(),
        email: a.email.clone(),
        role: a.role.clone(),
        time_zone: a.time_zone.clone(),
        capacity: u32::try_from(a.capacity).unwrap_or(0),
        load: u32::try_from(a.load).unwrap_or(0),
        availability: availability_to_proto(availability) as i32,
        team_ids: a.team_ids.iter().map(Uuid::to_string).collect(),
    }
}

pub fn team_to_proto(t: &TeamRow) -> pb::Team {
    pb::Team {
        id: t.id.to_string(),
        tenant_id: t.tenant_id.to_string(),
        name: t.name.clone(),
        policy: match Policy::parse(&t.policy) {
            Some(Policy::LeastLoaded) => pb::RoutingPolicy::LeastLoaded,
            _ => pb::RoutingPolicy::RoundRobin,
        } as i32,
        handoff_channels: t.handoff_channels.clone(),
        member_ids: t.member_ids.iter().map(Uuid::to_string).collect(),
        waiting: u32::try_from(t.waiting).unwrap_or(u32::MAX),
    }
}

/// `text` trimmed, refused when longer than `max` characters.
pub fn bounded<'a>(text: &'a str, field: &str, max: usize) -> Result<&'a str, Status> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(PublicError::invalid_argument(format!("{field} must be at most {max} characters")).into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_reads_back_what_it_writes_and_refuses_unspecified() {
        for a in [Availability::Online, Availability::Away, Availability::Offline] {
            assert_eq!(availability_from_proto(availability_to_proto(a) as i32), Some(a));
        }
        assert_eq!(availability_from_proto(pb::Availability::Unspecified as i32), None);
        assert_eq!(availability_from_proto(99), None);
    }

    #[test]
    fn an_unspecified_policy_is_round_robin_and_an_unknown_one_refused() {
        assert_eq!(policy_from_proto(pb::RoutingPolicy::Unspecified as i32), Some(Policy::RoundRobin));
        assert_eq!(policy_from_proto(pb::RoutingPolicy::LeastLoaded as i32), Some(Policy::LeastLoaded));
        assert_eq!(policy_from_proto(42), None);
    }

    #[test]
    fn bounded_text_is_trimmed_and_counted_in_characters() {
        assert_eq!(bounded("  Olá  ", "name", 3).unwrap(), "Olá");
        assert_eq!(bounded("four", "name", 3).unwrap_err().message(), "name must be at most 3 characters");
    }
}
