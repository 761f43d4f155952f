//! The conversation service's facts applied to routing's view of a conversation: closing frees
//! the assignee's capacity, reopening takes it again, "needs human" makes an unassigned
//! conversation wait for its team (or the team taking hand-offs of its channel), a take-over
//! assigns the agent.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::state::{Change, ConversationState, LoadChanges, ROUTING_ACTOR, Reason};
use super::team::{HandoffTeam, handoff_team};

/// What one event of the conversation service says about a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFact {
    pub event_id: String,
    pub subject: String,
    /// Nil for an event about no conversation (only remembered).
    pub conversation_id: Uuid,
    /// `whatsapp`, `telephony`, `webchat`.
    pub channel: String,
    /// The conversation's version after the event; `i64::MAX` for a deletion.
    pub version: i64,
    /// Active or Pending.
    pub open: bool,
    pub needs_human: bool,
    pub deleted: bool,
    /// The agent who took it over from the AI, for `conversation.taken_over`.
    pub taken_over_by: Option<Uuid>,
}

impl ConversationFact {
    /// Whether applying this fact can make routing run: it can make a conversation wait, or
    /// free an agent's capacity (closing, deleting, a take-over from another agent).
    pub fn may_route(&self) -> bool {
        self.needs_human || !self.open || self.deleted || self.taken_over_by.is_some()
    }
}

/// The facts of a batch to apply, by conversation, oldest version first: each event id once,
/// at its first copy, and only if it is in `fresh` (not seen by an earlier batch). Events about
/// no conversation are only remembered.
pub fn facts_by_conversation<'a>(
    facts: &'a [ConversationFact],
    fresh: &BTreeSet<String>,
) -> BTreeMap<Uuid, Vec<&'a ConversationFact>> {
    let mut unclaimed = fresh.clone();
    let mut by_conversation: BTreeMap<Uuid, Vec<&ConversationFact>> = BTreeMap::new();
    for fact in facts {
        if unclaimed.remove(&fact.event_id) && !fact.conversation_id.is_nil() {
            by_conversation.entry(fact.conversation_id).or_default().push(fact);
        }
    }
    for list in by_conversation.values_mut() {
        list.sort_by_key(|f| f.version);
    }
    by_conversation
}

/// What applying facts leads to beyond the conversations' own state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FactEffects {
    pub loads: LoadChanges,
    /// Teams whose waiting conversations are to be routed.
    pub to_route: BTreeSet<Uuid>,
    /// Changes to record, in order.
    pub changes: Vec<Change>,
    /// Conversations needing a person that no team takes, with their channel.
    pub no_team: Vec<(Uuid, String)>,
}

/// Applies one conversation's `facts` (in version order) to `state`. A fact older than what
/// routing knows is stale and skipped; a deletion always applies. `handoff` lists the teams
/// taking hand-offs, oldest first.
pub fn apply_facts(
    state: &mut ConversationState,
    facts: &[&ConversationFact],
    handoff: &[HandoffTeam],
    effects: &mut FactEffects,
) {
    for fact in facts {
        if fact.version <= state.source_version && !fact.deleted {
            continue;
        }
        state.source_version = fact.version;
        if !fact.channel.is_empty() {
            state.channel = fact.channel.clone();
        }
        let was_open = state.open;
        state.open = fact.open && !fact.deleted;
        if let Some(agent) = state.assignee_id {
            if was_open && !state.open {
                effects.loads.free(agent);
            } else if !was_open && state.open {
                effects.loads.take(agent);
            }
        }
        if !state.open {
            state.waiting = false;
        }
        if fact.needs_human && !state.needs_human && state.open && state.assignee_id.is_none() && !state.waiting {
            match state.team_id.or_else(|| handoff_team(handoff, &state.channel)) {
                Some(team) => {
                    if state.team_id != Some(team) {
                        let change = state.change_to(None, Some(team), ROUTING_ACTOR, "needs a person", Reason::Auto);
                        effects.changes.push(change);
                    }
                    state.waiting = true;
                    effects.to_route.insert(team);
                }
                None => effects.no_team.push((state.id, state.channel.clone())),
            }
        }
        state.needs_human = fact.needs_human;
        if let Some(agent) = fact.taken_over_by
            && state.assignee_id != Some(agent)
        {
            // Even over capacity: a person chose it.
            if state.open {
                if let Some(previous) = state.assignee_id {
                    effects.loads.free(previous);
                }
                effects.loads.take(agent);
            }
            let actor = format!("user:{agent}");
            let team = state.team_id;
            effects.changes.push(state.change_to(Some(agent), team, &actor, "took over from the AI", Reason::TakeOver));
            state.waiting = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::examples::{SALES, SARAH, SUPPORT, TOM};

    fn fact(version: i64) -> ConversationFact {
        ConversationFact {
            event_id: format!("e{version}"),
            subject: "events.t.conversation.updated".into(),
            conversation_id: Uuid::from_u128(7),
            channel: "whatsapp".into(),
            version,
            open: true,
            needs_human: false,
            deleted: false,
            taken_over_by: None,
        }
    }

    fn needs_human(version: i64) -> ConversationFact {
        ConversationFact { needs_human: true, ..fact(version) }
    }

    fn closed(version: i64) -> ConversationFact {
        ConversationFact { open: false, ..fact(version) }
    }

    fn handoff() -> Vec<HandoffTeam> {
        vec![HandoffTeam { team_id: SUPPORT, channels: vec!["whatsapp".into()] }]
    }

    fn apply(state: &mut ConversationState, facts: &[ConversationFact]) -> FactEffects {
        let mut effects = FactEffects::default();
        apply_facts(state, &facts.iter().collect::<Vec<_>>(), &handoff(), &mut effects);
        effects
    }

    fn new_conversation() -> ConversationState {
        ConversationState::unknown(Uuid::from_u128(7), "whatsapp")
    }

    #[test]
    fn needing_a_person_without_a_team_waits_in_the_team_taking_its_channel() {
        let mut state = new_conversation();
        let effects = apply(&mut state, &[needs_human(2)]);
        assert!(state.waiting);
        assert_eq!((state.team_id, state.sequence), (Some(SUPPORT), 1));
        assert_eq!(effects.to_route, BTreeSet::from([SUPPORT]));
        let change = &effects.changes[0];
        assert_eq!((change.team_id, change.previous_team_id, change.reason), (Some(SUPPORT), None, Reason::Auto));
        assert_eq!((change.actor.as_str(), change.note.as_str()), ("service:routing", "needs a person"));
    }

    #[test]
    fn needing_a_person_with_a_team_waits_in_that_team_without_a_change() {
        let mut state = ConversationState { team_id: Some(SALES), ..new_conversation() };
        let effects = apply(&mut state, &[needs_human(2)]);
        assert!(state.waiting);
        assert_eq!(effects.to_route, BTreeSet::from([SALES]));
        assert!(effects.changes.is_empty());
    }

    #[test]
    fn needing_a_person_on_a_channel_no_team_takes_is_reported_and_does_not_wait() {
        let mut state = ConversationState::unknown(Uuid::from_u128(7), "telephony");
        let effects = apply(&mut state, &[ConversationFact { channel: "telephony".into(), ..needs_human(2) }]);
        assert!(!state.waiting);
        assert!(effects.to_route.is_empty());
        assert_eq!(effects.no_team, [(Uuid::from_u128(7), "telephony".to_owned())]);
    }

    #[test]
    fn an_assigned_conversation_needing_a_person_stays_with_its_agent() {
        let mut state = ConversationState { assignee_id: Some(SARAH), team_id: Some(SUPPORT), ..new_conversation() };
        let effects = apply(&mut state, &[needs_human(2)]);
        assert!(!state.waiting);
        assert!(effects.to_route.is_empty() && effects.changes.is_empty());
    }

    #[test]
    fn closing_frees_the_assignee_and_reopening_takes_the_room_again() {
        let mut state = ConversationState { assignee_id: Some(SARAH), ..new_conversation() };
        let effects = apply(&mut state, &[closed(3)]);
        assert_eq!(effects.loads.deltas, BTreeMap::from([(SARAH, -1)]));
        assert_eq!(effects.loads.freed, [SARAH]);
        let effects = apply(&mut state, &[fact(4)]);
        assert_eq!(effects.loads.deltas, BTreeMap::from([(SARAH, 1)]));
        assert!(effects.loads.freed.is_empty());
        assert_eq!(state.assignee_id, Some(SARAH), "the assignee stays recorded");
    }

    #[test]
    fn a_stale_fact_changes_nothing_but_a_deletion_always_applies() {
        let mut state = ConversationState { assignee_id: Some(SARAH), source_version: 5, ..new_conversation() };
        let effects = apply(&mut state, &[closed(4)]);
        assert!(state.open);
        assert_eq!(effects, FactEffects::default());
        let deleted = ConversationFact { deleted: true, open: false, version: i64::MAX, ..fact(0) };
        let effects = apply(&mut state, std::slice::from_ref(&deleted));
        assert!(!state.open);
        assert_eq!(effects.loads.deltas, BTreeMap::from([(SARAH, -1)]));
        // Anything arriving after the deletion is older: the load stays freed.
        let effects = apply(&mut state, &[needs_human(9), deleted]);
        assert!(!state.open && !state.waiting);
        assert_eq!(effects.loads, LoadChanges::default());
    }

    #[test]
    fn a_take_over_assigns_the_agent_and_frees_the_previous_one() {
        let mut state =
            ConversationState { assignee_id: Some(SARAH), team_id: Some(SUPPORT), sequence: 3, ..new_conversation() };
        let effects = apply(&mut state, &[ConversationFact { taken_over_by: Some(TOM), ..fact(2) }]);
        assert_eq!((state.assignee_id, state.team_id, state.sequence), (Some(TOM), Some(SUPPORT), 4));
        assert_eq!(effects.loads.deltas, BTreeMap::from([(SARAH, -1), (TOM, 1)]));
        let change = &effects.changes[0];
        assert_eq!((change.reason, change.actor.clone()), (Reason::TakeOver, format!("user:{TOM}")));
        assert_eq!(change.previous_assignee_id, Some(SARAH));
    }

    #[test]
    fn each_event_is_applied_once_at_its_first_copy_and_only_when_fresh() {
        let first = needs_human(2);
        let later = closed(3);
        let remembered = ConversationFact { conversation_id: Uuid::nil(), ..fact(1) };
        let seen_before = ConversationFact { event_id: "old".into(), ..fact(4) };
        let facts = [later.clone(), first.clone(), first.clone(), remembered, seen_before];
        let fresh = BTreeSet::from(["e2".to_owned(), "e3".to_owned(), "e1".to_owned()]);
        let by_conversation = facts_by_conversation(&facts, &fresh);
        assert_eq!(by_conversation.len(), 1);
        assert_eq!(by_conversation[&Uuid::from_u128(7)], [&first, &later], "once each, oldest version first");
    }

    #[test]
    fn only_facts_that_can_make_a_conversation_wait_or_free_room_may_route() {
        assert!(!fact(2).may_route());
        assert!(needs_human(2).may_route());
        assert!(closed(2).may_route());
        assert!(ConversationFact { taken_over_by: Some(TOM), ..fact(2) }.may_route());
    }
}
