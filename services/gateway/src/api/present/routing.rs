//! Who works on what, as routing tells it: agents, teams, assignment decisions and history.

use inbox_proto::routing::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use super::{non_empty, time_with_offset};
use crate::api::names::{availability_name, policy_name};

/// An agent with their capacity, current load, availability and teams.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Agent)]
pub struct AgentJson {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub time_zone: String,
    /// Most open conversations at once.
    pub capacity: u32,
    /// Open conversations now.
    pub load: u32,
    /// online, away or offline.
    pub availability: &'static str,
    pub team_ids: Vec<String>,
}

/// An agent with their capacity, current load, availability and teams.
pub fn agent(a: &pb::Agent) -> AgentJson {
    AgentJson {
        id: a.id.clone(),
        name: a.name.clone(),
        email: a.email.clone(),
        role: a.role.clone(),
        time_zone: a.time_zone.clone(),
        capacity: a.capacity,
        load: a.load,
        availability: availability_name(a.availability),
        team_ids: a.team_ids.clone(),
    }
}

/// A team with its policy, members and how many conversations wait for one of them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Team)]
pub struct TeamJson {
    pub id: String,
    pub name: String,
    /// round_robin or least_loaded.
    pub policy: &'static str,
    pub handoff_channels: Vec<String>,
    pub member_ids: Vec<String>,
    pub waiting: u32,
}

/// A team with its policy, members and how many conversations wait for one of them.
pub fn team(t: &pb::Team) -> TeamJson {
    TeamJson {
        id: t.id.clone(),
        name: t.name.clone(),
        policy: policy_name(t.policy),
        handoff_channels: t.handoff_channels.clone(),
        member_ids: t.member_ids.clone(),
        waiting: t.waiting,
    }
}

/// One step of a conversation's assignment history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AssignmentChange)]
pub struct AssignmentChangeJson {
    pub sequence: i64,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub previous_assignee_id: Option<String>,
    pub previous_team_id: Option<String>,
    pub actor: String,
    pub note: String,
    pub reason: String,
    pub changed_at: Option<String>,
}

/// One step of a conversation's assignment history.
pub fn assignment_change(c: &pb::AssignmentChange) -> AssignmentChangeJson {
    AssignmentChangeJson {
        sequence: c.sequence,
        assignee_id: non_empty(&c.assignee_id),
        team_id: non_empty(&c.team_id),
        previous_assignee_id: non_empty(&c.previous_assignee_id),
        previous_team_id: non_empty(&c.previous_team_id),
        actor: c.actor.clone(),
        note: c.note.clone(),
        reason: c.reason.clone(),
        changed_at: time_with_offset(c.changed_at.as_ref()),
    }
}

/// Routing's decision on an assignment request.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AssignmentDecision)]
pub struct AssignmentDecisionJson {
    pub conversation_id: String,
    /// `assigned`, `unchanged`, `waiting` (for a team with nobody available), ...
    pub outcome: String,
    pub assignee_id: Option<String>,
    pub team_id: Option<String>,
    pub sequence: i64,
}

/// Routing's decision on an assignment request.
pub fn assignment_decision(conversation_id: &str, d: &pb::AssignResponse) -> AssignmentDecisionJson {
    AssignmentDecisionJson {
        conversation_id: conversation_id.to_owned(),
        outcome: d.outcome.clone(),
        assignee_id: non_empty(&d.assignee_id),
        team_id: non_empty(&d.team_id),
        sequence: d.sequence,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn to_json(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

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
        let json = to_json(agent(&a));
        assert_eq!((&json["availability"], &json["load"]), (&json!("away"), &json!(2)));
        let t = pb::Team {
            id: "t1".into(),
            policy: pb::RoutingPolicy::LeastLoaded as i32,
            waiting: 4,
            ..Default::default()
        };
        assert_eq!((&to_json(team(&t))["policy"], &to_json(team(&t))["waiting"]), (&json!("least_loaded"), &json!(4)));
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
        let json = to_json(assignment_change(&change));
        assert_eq!((&json["assignee_id"], &json["previous_assignee_id"]), (&json!("u2"), &json!("u1")));
        assert_eq!((&json["team_id"], &json["changed_at"]), (&Value::Null, &Value::Null));
        let decided = pb::AssignResponse { outcome: "waiting".into(), team_id: "t1".into(), ..Default::default() };
        assert_eq!(
            to_json(assignment_decision("c1", &decided)),
            json!({"conversation_id": "c1", "outcome": "waiting", "assignee_id": null, "team_id": "t1", "sequence": 0})
        );
    }
}
