//! Who works on what, as routing tells it: agents, teams, assignment decisions and history.

use inbox_proto::routing::v1 as pb;
use serde_json::{Value, json};

use super::{non_empty, time_with_offset};
use crate::api::names::{availability_name, policy_name};

/// An agent with their capacity, current load, availability and teams.
pub fn agent(a: &pb::Agent) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "email": a.email,
        "role": a.role,
        "time_zone": a.time_zone,
        "capacity": a.capacity,
        "load": a.load,
        "availability": availability_name(a.availability),
        "team_ids": a.team_ids,
    })
}

/// A team with its policy, members and how many conversations wait for one of them.
pub fn team(t: &pb::Team) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "policy": policy_name(t.policy),
        "handoff_channels": t.handoff_channels,
        "member_ids": t.member_ids,
        "waiting": t.waiting,
    })
}

/// One step of a conversation's assignment history.
pub fn assignment_change(c: &pb::AssignmentChange) -> Value {
    json!({
        "sequence": c.sequence,
        "assignee_id": non_empty(&c.assignee_id),
        "team_id": non_empty(&c.team_id),
        "previous_assignee_id": non_empty(&c.previous_assignee_id),
        "previous_team_id": non_empty(&c.previous_team_id),
        "actor": c.actor,
        "note": c.note,
        "reason": c.reason,
        "changed_at": time_with_offset(c.changed_at.as_ref()),
    })
}

/// Routing's decision on an assignment request.
pub fn assignment_decision(conversation_id: &str, d: &pb::AssignResponse) -> Value {
    json!({
        "conversation_id": conversation_id,
        "outcome": d.outcome,
        "assignee_id": non_empty(&d.assignee_id),
        "team_id": non_empty(&d.team_id),
        "sequence": d.sequence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_and_a_team_name_availability_and_policy() {
        let a = pb::Agent {
            id: "u1".into(),
            capacity: 5,
            load: 2,
            availability: pb::Availability::Away as i32,
            team_ids: vec!["t1".into()],
            ..Default::default()
        };
        let json = agent(&a);
        assert_eq!((&json["availability"], &json["load"]), (&json!("away"), &json!(2)));
        let t = pb::Team {
            id: "t1".into(),
            policy: pb::RoutingPolicy::LeastLoaded as i32,
            waiting: 4,
            ..Default::default()
        };
        assert_eq!((&team(&t)["policy"], &team(&t)["waiting"]), (&json!("least_loaded"), &json!(4)));
    }

    #[test]
    fn an_assignment_change_shows_unset_ids_as_null() {
        let change = pb::AssignmentChange {
            sequence: 2,
            assignee_id: "u2".into(),
            previous_assignee_id: "u1".into(),
            actor: "user:u9".into(),
            ..Default::default()
        };
        let json = assignment_change(&change);
        assert_eq!((&json["assignee_id"], &json["previous_assignee_id"]), (&json!("u2"), &json!("u1")));
        assert_eq!((&json["team_id"], &json["changed_at"]), (&Value::Null, &Value::Null));
        let decided = pb::AssignResponse { outcome: "waiting".into(), team_id: "t1".into(), ..Default::default() };
        assert_eq!(
            assignment_decision("c1", &decided),
            json!({"conversation_id": "c1", "outcome": "waiting", "assignee_id": null, "team_id": "t1", "sequence": 0})
        );
    }
}
