//! Routing's view of one conversation, the changes recorded to it, and the load changes they
//! cause.

use std::collections::BTreeMap;

use uuid::Uuid;

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

/// The actor routing records for its own decisions.
pub const ROUTING_ACTOR: &str = "service:routing";

/// A conversation as routing holds it: the conversation service's facts (newest version
/// applied) and routing's own decision (assignee, team, waiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub id: Uuid,
    pub channel: String,
    /// Highest version of the conversation applied from the conversation service's events.
    pub source_version: i64,
    pub open: bool,
    pub needs_human: bool,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// Waiting in its team for an available member.
    pub waiting: bool,
    /// Sequence of the last assignment change.
    pub sequence: i64,
}

impl ConversationState {
    /// A conversation routing has not heard of: open, nobody assigned, no team.
    pub fn unknown(id: Uuid, channel: &str) -> Self {
        Self {
            id,
            channel: channel.to_owned(),
            source_version: 0,
            open: true,
            needs_human: false,
            assignee_id: None,
            team_id: None,
            waiting: false,
            sequence: 0,
        }
    }

    /// Moves to `assignee`/`team`, returning the change to record.
    pub fn change_to(
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

/// One recorded change of a conversation's assignment: a history row and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub conversation_id: Uuid,
    pub sequence: i64,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub previous_assignee_id: Option<Uuid>,
    pub previous_team_id: Option<Uuid>,
    pub actor: String,
    pub note: String,
    pub reason: Reason,
}

/// How agents' loads change: open conversations taken (+1) and freed (-1).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadChanges {
    /// The net change of each agent's load.
    pub deltas: BTreeMap<Uuid, i32>,
    /// Agents who got room: what waits in their teams may go to them.
    pub freed: Vec<Uuid>,
}

impl LoadChanges {
    pub fn take(&mut self, agent: Uuid) {
        *self.deltas.entry(agent).or_default() += 1;
    }

    pub fn free(&mut self, agent: Uuid) {
        *self.deltas.entry(agent).or_default() -= 1;
        self.freed.push(agent);
    }
}

/// An agent a change names, who must exist (and have room when `needs_room`) when the agents
/// are locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Required {
    pub agent: Uuid,
    pub needs_room: bool,
}

/// Why a requested change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("reassigning from another agent needs a note for context")]
    NoteRequired,
    #[error("agent not found")]
    AgentNotFound,
    #[error("the agent is at capacity ({load} of {capacity} open conversations)")]
    AtCapacity { load: i32, capacity: i32 },
}
