//! Assignment by hand: an agent (team unchanged unless given), a team alone (the conversation
//! waits for an available member), or neither (unassigned).

use uuid::Uuid;

use super::state::{Change, ConversationState, LoadChanges, Reason, Refusal, Required};

/// Who a conversation should go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignTarget {
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
}

/// A change by hand, to be recorded once the agents are locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualChange {
    pub change: Change,
    pub loads: LoadChanges,
    /// The new assignee, who must exist (and have room, for an open conversation).
    pub required: Option<Required>,
    /// The team the conversation now waits in, to be routed at once.
    pub waits_in: Option<Uuid>,
}

/// Decides an assignment of the conversation in `state` to `target` by `actor`, moving `state`
/// to it. `None` when nothing changes: the same assignment again, or a team-only request for
/// the team the conversation is already with (waiting, or with one of its members). Taking a
/// conversation from another agent needs a note, unless agents take it themselves.
pub fn decide_assignment(
    state: &mut ConversationState,
    target: AssignTarget,
    actor: &str,
    note: &str,
    reason: Reason,
) -> Result<Option<ManualChange>, Refusal> {
    let (assignee, team) = match (target.assignee_id, target.team_id) {
        (Some(agent), team) => (Some(agent), team.or(state.team_id)),
        (None, Some(team)) => (None, Some(team)),
        (None, None) => (None, None),
    };
    let waits = assignee.is_none() && team.is_some() && state.open;
    // A team-only request repeated, even after routing chose someone, changes nothing.
    let already_with_team = target.assignee_id.is_none()
        && target.team_id.is_some()
        && state.team_id == target.team_id
        && (state.waiting || state.assignee_id.is_some() || !state.open);
    let same = state.assignee_id == assignee && state.team_id == team && (assignee.is_some() || state.waiting == waits);
    if same || already_with_team {
        return Ok(None);
    }
    if let (Some(previous), Some(next)) = (state.assignee_id, assignee)
        && previous != next
        && note.trim().is_empty()
        && actor != format!("user:{next}")
    {
        return Err(Refusal::NoteRequired);
    }
    let mut loads = LoadChanges::default();
    let mut required = None;
    if let Some(agent) = assignee
        && state.assignee_id != Some(agent)
    {
        required = Some(Required { agent, needs_room: state.open });
        if state.open {
            loads.take(agent);
        }
    }
    if let Some(previous) = state.assignee_id
        && assignee != Some(previous)
        && state.open
    {
        loads.free(previous);
    }
    let change = state.change_to(assignee, team, actor, note.trim(), reason);
    state.waiting = waits;
    Ok(Some(ManualChange { change, loads, required, waits_in: if waits { team } else { None } }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::examples::{SALES, SARAH, SUPPORT, TOM};

    const LEAD: &str = "user:00000000-0000-0000-0000-0000000000ff";

    fn conversation() -> ConversationState {
        ConversationState::unknown(Uuid::from_u128(7), "whatsapp")
    }

    fn to_agent(agent: Uuid) -> AssignTarget {
        AssignTarget { assignee_id: Some(agent), team_id: None }
    }

    fn to_team(team: Uuid) -> AssignTarget {
        AssignTarget { assignee_id: None, team_id: Some(team) }
    }

    fn changed(decision: Result<Option<ManualChange>, Refusal>) -> ManualChange {
        match decision {
            Ok(Some(change)) => change,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn assigning_an_agent_needs_room_and_takes_it() {
        let mut state = ConversationState { team_id: Some(SUPPORT), ..conversation() };
        let c = changed(decide_assignment(&mut state, to_agent(SARAH), LEAD, "", Reason::Manual));
        assert_eq!(c.required, Some(Required { agent: SARAH, needs_room: true }));
        assert_eq!(c.loads.deltas, BTreeMap::from([(SARAH, 1)]));
        assert_eq!((c.change.assignee_id, c.change.team_id, c.change.sequence), (Some(SARAH), Some(SUPPORT), 1));
        assert_eq!((state.assignee_id, state.waiting, c.waits_in), (Some(SARAH), false, None));
    }

    #[test]
    fn the_same_assignment_again_changes_nothing() {
        let mut state = ConversationState { assignee_id: Some(SARAH), sequence: 1, ..conversation() };
        let before = state.clone();
        assert_eq!(decide_assignment(&mut state, to_agent(SARAH), LEAD, "", Reason::Manual), Ok(None));
        assert_eq!(state, before);
    }

    #[test]
    fn taking_a_conversation_from_another_agent_needs_a_note_unless_agents_take_it_themselves() {
        let mut state = ConversationState { assignee_id: Some(SARAH), ..conversation() };
        let refused = decide_assignment(&mut state, to_agent(TOM), LEAD, "  ", Reason::Manual);
        assert_eq!(refused, Err(Refusal::NoteRequired));
        assert_eq!(state.assignee_id, Some(SARAH));
        let tom = format!("user:{TOM}");
        let c = changed(decide_assignment(&mut state, to_agent(TOM), &tom, "", Reason::Manual));
        assert_eq!(c.loads.deltas, BTreeMap::from([(SARAH, -1), (TOM, 1)]));
        assert_eq!(c.loads.freed, [SARAH]);
        assert_eq!(c.change.previous_assignee_id, Some(SARAH));
    }

    #[test]
    fn a_closed_conversation_moves_without_taking_or_freeing_room() {
        let mut state = ConversationState { assignee_id: Some(SARAH), open: false, ..conversation() };
        let c = changed(decide_assignment(&mut state, to_agent(TOM), LEAD, "follow-up", Reason::Manual));
        assert_eq!(c.required, Some(Required { agent: TOM, needs_room: false }));
        assert_eq!(c.loads, LoadChanges::default());
    }

    #[test]
    fn a_team_alone_makes_the_conversation_wait_there_and_frees_its_agent() {
        let mut state = ConversationState { assignee_id: Some(SARAH), team_id: Some(SUPPORT), ..conversation() };
        let c = changed(decide_assignment(&mut state, to_team(SALES), LEAD, " for sales ", Reason::Bulk));
        assert_eq!((state.assignee_id, state.team_id, state.waiting), (None, Some(SALES), true));
        assert_eq!(c.waits_in, Some(SALES));
        assert_eq!(c.loads.freed, [SARAH]);
        assert_eq!((c.change.note.as_str(), c.change.reason), ("for sales", Reason::Bulk));
        // Asked again, even once routing chose a member: unchanged.
        assert_eq!(decide_assignment(&mut state, to_team(SALES), LEAD, "", Reason::Bulk), Ok(None));
        state.waiting = false;
        state.assignee_id = Some(TOM);
        assert_eq!(decide_assignment(&mut state, to_team(SALES), LEAD, "", Reason::Bulk), Ok(None));
    }

    #[test]
    fn neither_agent_nor_team_unassigns() {
        let mut state = ConversationState { assignee_id: Some(SARAH), team_id: Some(SUPPORT), ..conversation() };
        let none = AssignTarget { assignee_id: None, team_id: None };
        let c = changed(decide_assignment(&mut state, none, LEAD, "", Reason::Manual));
        assert_eq!((state.assignee_id, state.team_id, state.waiting), (None, None, false));
        assert_eq!((c.required, c.waits_in), (None, None));
        assert_eq!(c.loads.deltas, BTreeMap::from([(SARAH, -1)]));
    }
}
