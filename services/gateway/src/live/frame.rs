//! What a socket is sent, and who may receive it: every frame is written once (its JSON text
//! shared by every socket of the tenant) with the [`Audience`] a socket's [`Watcher`] must be
//! in. Events of the EVENTS stream carry their stream sequence as `seq`; ephemeral frames
//! (typing, viewers, availability) carry none.

use axum::extract::ws::Utf8Bytes;
use inbox_bus::{Envelope, Payload};
use inbox_service::{Role, Visibility};
use serde_json::{Value, json};
use uuid::Uuid;

use super::directory::{Directory, Whereabouts};
use crate::api::names::availability_name;
use crate::api::present::call::call;
use crate::api::present::conversation::{ConversationJson, StatusChangeJson};
use crate::api::present::message::{MessageJson, delivery};

/// A frame ready to send, and who may receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFrame {
    /// The EVENTS stream sequence of the event; `None` for ephemeral frames.
    pub seq: Option<u64>,
    pub audience: Audience,
    pub text: Utf8Bytes,
}

/// Who of a tenant may receive a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone of the tenant.
    Tenant,
    /// Those who may see a conversation where it is (or, for a change of assignment, where it
    /// was); an internal note never reaches the AI.
    Conversation { place: Whereabouts, previous: Option<Whereabouts>, internal_note: bool },
    /// About a conversation whose team and assignee this gateway does not know: only those
    /// who see every conversation.
    UnknownConversation,
    /// An agent's availability: supervisors, admins and the agent themself.
    Availability { agent_id: Option<Uuid> },
    /// One person's own (their notifications): nobody else.
    Person { user_id: Uuid },
}

/// The receiving end of a socket: who holds it and what they may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// The person; `None` for an API key.
    pub user_id: Option<Uuid>,
    pub role: Role,
    pub visibility: Visibility,
}

impl Audience {
    pub fn of_conversation(whereabouts: Option<Whereabouts>) -> Audience {
        match whereabouts {
            Some(place) => Audience::Conversation { place, previous: None, internal_note: false },
            None => Audience::UnknownConversation,
        }
    }

    /// Whether `watcher` may receive a frame for this audience.
    pub fn admits(&self, watcher: &Watcher) -> bool {
        match *self {
            Audience::Tenant => true,
            Audience::Conversation { place, previous, internal_note } => {
                let sees = |w: Whereabouts| watcher.visibility.allows(w.team_id, w.assignee_id);
                (sees(place) || previous.is_some_and(sees)) && !(internal_note && watcher.role == Role::Ai)
            }
            Audience::UnknownConversation => watcher.visibility.is_all(),
            Audience::Availability { agent_id } => {
                matches!(watcher.role, Role::Supervisor | Role::Admin | Role::Operator)
                    || (agent_id.is_some() && agent_id == watcher.user_id)
            }
            Audience::Person { user_id } => watcher.user_id == Some(user_id),
        }
    }
}

/// A conversation's id, team and assignee from its proto.
fn whereabouts_of(conversation: Option<&inbox_proto::conversation::v1::Conversation>) -> Option<(Uuid, Whereabouts)> {
    let c = conversation?;
    let id = Uuid::parse_str(&c.id).ok()?;
    Some((id, Whereabouts::of(&c.team_id, &c.assignee_id)))
}

/// What an event of the EVENTS stream becomes for sockets: the frame's JSON body (without
/// `type`, `seq`, `event_id`) and its audience; `None` for events clients do not see. The
/// directory learns where each conversation is and answers for events that do not say.
pub fn event_body(envelope: &Envelope, directory: &mut Directory) -> Option<(Value, Audience)> {
    let mut learn = |conversation: Option<&inbox_proto::conversation::v1::Conversation>| {
        let found = whereabouts_of(conversation);
        if let (Some((id, whereabouts)), Some(c)) = (found, conversation) {
            directory.learn(id, whereabouts, &c.channel_account_id, &c.customer_address);
        }
        Audience::of_conversation(found.map(|(_, w)| w))
    };
    let conversation = |c: &Option<inbox_proto::conversation::v1::Conversation>| c.as_ref().map(ConversationJson::from);
    Some(match envelope.payload.as_ref()? {
        Payload::MessageCreated(e) => {
            let mut audience = learn(e.conversation.as_ref());
            let note = e.message.as_ref().is_some_and(|m| m.internal_note);
            if let Audience::Conversation { internal_note, .. } = &mut audience {
                *internal_note = note;
            } else if note {
                // A note of a conversation we cannot place: not for the AI either.
                audience = Audience::UnknownConversation;
            }
            (
                json!({"message": e.message.as_ref().map(MessageJson::from), "conversation": conversation(&e.conversation)}),
                audience,
            )
        }
        Payload::ConversationCreated(e) => {
            (json!({"conversation": conversation(&e.conversation)}), learn(e.conversation.as_ref()))
        }
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => {
            (json!({"conversation": conversation(&e.conversation)}), learn(e.conversation.as_ref()))
        }
        Payload::StatusChanged(e) => (
            json!({"conversation": conversation(&e.conversation), "change": e.change.as_ref().map(StatusChangeJson::from)}),
            learn(e.conversation.as_ref()),
        ),
        Payload::AssignmentChanged(e) => {
            // Those who could see it before the change learn that it left them.
            let before = Whereabouts::of(&e.previous_team_id, &e.previous_assignee_id);
            let mut audience = learn(e.conversation.as_ref());
            if let Audience::Conversation { place, previous, .. } = &mut audience
                && *place != before
            {
                *previous = Some(before);
            }
            (
                json!({
                    "conversation": conversation(&e.conversation),
                    "previous_assignee_id": e.previous_assignee_id,
                    "previous_team_id": e.previous_team_id,
                    "actor": e.actor,
                    "note": e.note,
                }),
                audience,
            )
        }
        Payload::AiHandoff(e) => (
            json!({"conversation": conversation(&e.conversation), "agent_id": e.agent_id, "ai_active": e.ai_active}),
            learn(e.conversation.as_ref()),
        ),
        Payload::ConversationDeleted(e) => {
            // The id of a conversation that is gone reveals nothing; those who may have had it
            // open drop it.
            let audience = Uuid::parse_str(&e.conversation_id)
                .ok()
                .and_then(|id| directory.forget(id))
                .map_or(Audience::Tenant, |w| Audience::of_conversation(Some(w)));
            (json!({"conversation_id": e.conversation_id}), audience)
        }
        Payload::AgentAvailabilityChanged(e) => (
            json!({"agent_id": e.agent_id, "availability": availability_name(e.availability)}),
            Audience::Availability { agent_id: Uuid::parse_str(&e.agent_id).ok() },
        ),
        Payload::DeliveryUpdated(d) => {
            (json!({"delivery": delivery(d)}), Audience::of_conversation(directory.place_of(&d.conversation_id)))
        }
        Payload::CallDispositionChanged(c) => {
            (json!({"call": call(c)}), Audience::of_conversation(directory.place_of(&c.conversation_id)))
        }
        // The conversation service turns routing's assignments into `conversation.assigned`;
        // ingest, outbound and typing payloads never ride on `events.>`; payloads of other
        // services reach sockets only where a frame is written for them above.
        _ => return None,
    })
}

/// The JSON text of a frame: `{"type": kind, "seq": seq, "event_id": id, ...body}`.
pub fn frame_text(kind: &str, seq: Option<u64>, event_id: Option<&str>, body: Value) -> Utf8Bytes {
    let mut frame = serde_json::Map::new();
    frame.insert("type".into(), kind.into());
    if let Some(seq) = seq {
        frame.insert("seq".into(), seq.into());
    }
    if let Some(event_id) = event_id {
        frame.insert("event_id".into(), event_id.into());
    }
    if let Value::Object(body) = body {
        frame.extend(body);
    }
    Value::Object(frame).to_string().into()
}

/// The frame of an event on `events.<tenant>.<kind>` at stream sequence `seq`.
pub fn frame_of(subject: &str, seq: u64, envelope: &Envelope, directory: &mut Directory) -> Option<LiveFrame> {
    let kind = subject.splitn(3, '.').nth(2)?;
    let (body, audience) = event_body(envelope, directory)?;
    let seq = (!matches!(audience, Audience::Availability { .. })).then_some(seq);
    Some(LiveFrame { seq, audience, text: frame_text(kind, seq, Some(&envelope.event_id), body) })
}

/// The `conversation.typing` frame of a typing signal (an agent's, or a web chat customer's).
pub fn typing_frame(envelope: &Envelope, directory: &Directory) -> Option<LiveFrame> {
    match envelope.payload.as_ref()? {
        Payload::AgentTyping(t) => Some(LiveFrame {
            seq: None,
            audience: Audience::of_conversation(directory.place_of(&t.conversation_id)),
            text: frame_text(
                "conversation.typing",
                None,
                None,
                json!({"conversation_id": t.conversation_id, "agent_id": t.agent_id, "typing": t.typing}),
            ),
        }),
        Payload::CustomerTyping(t) => {
            let (conversation_id, whereabouts) =
                directory.conversation_at(&t.channel_account_id, &t.customer_address)?;
            Some(LiveFrame {
                seq: None,
                audience: Audience::of_conversation(Some(whereabouts)),
                text: frame_text(
                    "conversation.typing",
                    None,
                    None,
                    json!({"conversation_id": conversation_id, "customer": true, "typing": t.typing}),
                ),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use inbox_proto::conversation::v1::{Conversation, Message};
    use inbox_proto::events::v1::{AgentAvailabilityChanged, AssignmentChanged, MessageCreated};

    use super::*;

    fn parsed(frame: &LiveFrame) -> Value {
        serde_json::from_str(frame.text.as_str()).unwrap()
    }

    fn conversation(id: Uuid, team: Option<Uuid>, assignee: Option<Uuid>) -> Conversation {
        Conversation {
            id: id.to_string(),
            team_id: team.map(|t| t.to_string()).unwrap_or_default(),
            assignee_id: assignee.map(|a| a.to_string()).unwrap_or_default(),
            channel_account_id: "acct".into(),
            customer_address: "+15550001".into(),
            ..Default::default()
        }
    }

    fn message_created(c: Conversation, note: bool) -> Envelope {
        inbox_bus::new_envelope(
            "e1",
            "t",
            Payload::MessageCreated(MessageCreated {
                message: Some(Message { id: "m1".into(), internal_note: note, ..Default::default() }),
                conversation: Some(c),
            }),
        )
    }

    fn watcher(role: Role, visibility: Visibility) -> Watcher {
        Watcher { user_id: Some(Uuid::new_v4()), role, visibility }
    }

    #[test]
    fn a_message_created_event_becomes_a_typed_frame_with_both_objects() {
        let envelope = message_created(Conversation { id: "c1".into(), ..Default::default() }, false);
        let frame = frame_of("events.t.message.created", 7, &envelope, &mut Directory::default()).unwrap();
        let frame = parsed(&frame);
        assert_eq!(frame["type"], "message.created");
        assert_eq!(frame["message"]["id"], "m1");
        assert_eq!(frame["conversation"]["id"], "c1");
        assert_eq!(frame["seq"], 7);
        assert_eq!(frame["event_id"], "e1");
    }

    #[test]
    fn a_delivery_change_becomes_a_frame_with_the_state_and_the_providers_error() {
        use inbox_proto::ingest::v1::{Delivery, DeliveryError, DeliveryState};
        let envelope = inbox_bus::new_envelope(
            "delivery:t:m1:failed",
            "t",
            Payload::DeliveryUpdated(Delivery {
                message_id: "m1".into(),
                conversation_id: "c1".into(),
                state: DeliveryState::Failed as i32,
                error: Some(DeliveryError {
                    code: 131047,
                    title: "Re-engagement message".into(),
                    details: "24h".into(),
                }),
                ..Default::default()
            }),
        );
        let frame = frame_of("events.t.message.delivery_updated", 8, &envelope, &mut Directory::default()).unwrap();
        let frame = parsed(&frame);
        assert_eq!(frame["type"], "message.delivery_updated");
        assert_eq!(frame["delivery"]["state"], "failed");
        assert_eq!(frame["delivery"]["error"]["code"], 131047);
        assert_eq!(frame["delivery"]["conversation_id"], "c1");
    }

    #[test]
    fn agent_typing_becomes_a_conversation_typing_frame_and_nothing_else_does() {
        use inbox_proto::events::v1::AgentTyping;
        let typing = inbox_bus::new_envelope(
            "typing:c1:1",
            "t",
            Payload::AgentTyping(AgentTyping {
                conversation_id: "c1".into(),
                agent_id: "a1".into(),
                typing: true,
                ..Default::default()
            }),
        );
        let frame = typing_frame(&typing, &Directory::default()).unwrap();
        assert_eq!(frame.seq, None, "typing is ephemeral");
        assert_eq!(
            parsed(&frame),
            json!({"type": "conversation.typing", "conversation_id": "c1", "agent_id": "a1", "typing": true})
        );
        let other = inbox_bus::new_envelope("e", "t", Payload::ConversationDeleted(Default::default()));
        assert!(typing_frame(&other, &Directory::default()).is_none());
        assert!(
            frame_of("events.t.typing", 1, &typing, &mut Directory::default()).is_none(),
            "typing never rides on events"
        );
    }

    #[test]
    fn a_team_scoped_agent_receives_only_the_conversations_it_may_see() {
        let (team_a, team_b, me) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let agent = Watcher {
            user_id: Some(me),
            role: Role::Agent,
            visibility: Visibility::Teams { team_ids: vec![team_a], assignee: Some(me) },
        };
        let supervisor = watcher(Role::Supervisor, Visibility::All);
        let mut directory = Directory::default();
        let of_team = |team| {
            let envelope = message_created(conversation(Uuid::new_v4(), Some(team), None), false);
            frame_of("events.t.message.created", 1, &envelope, &mut Directory::default()).unwrap().audience
        };
        assert!(of_team(team_a).admits(&agent));
        assert!(!of_team(team_b).admits(&agent), "another team's conversation");
        assert!(of_team(team_b).admits(&supervisor));
        let unknown = frame_of(
            "events.t.message.delivery_updated",
            2,
            &inbox_bus::new_envelope("d", "t", Payload::DeliveryUpdated(Default::default())),
            &mut directory,
        )
        .unwrap();
        assert!(!unknown.audience.admits(&agent), "a conversation the gateway cannot place");
        assert!(unknown.audience.admits(&supervisor));
    }

    #[test]
    fn a_delivery_update_follows_the_conversation_the_directory_learned_from_earlier_events() {
        use inbox_proto::ingest::v1::Delivery;
        let (team_b, id) = (Uuid::new_v4(), Uuid::new_v4());
        let mut directory = Directory::default();
        frame_of(
            "events.t.message.created",
            1,
            &message_created(conversation(id, Some(team_b), None), false),
            &mut directory,
        );
        let delivery = inbox_bus::new_envelope(
            "d",
            "t",
            Payload::DeliveryUpdated(Delivery { conversation_id: id.to_string(), ..Default::default() }),
        );
        let frame = frame_of("events.t.message.delivery_updated", 2, &delivery, &mut directory).unwrap();
        assert_eq!(
            frame.audience,
            Audience::of_conversation(Some(Whereabouts { team_id: Some(team_b), assignee_id: None }))
        );
    }

    #[test]
    fn an_internal_note_never_reaches_the_ai_but_reaches_the_team() {
        let id = Uuid::new_v4();
        let note = message_created(conversation(id, None, None), true);
        let frame = frame_of("events.t.message.created", 3, &note, &mut Directory::default()).unwrap();
        assert!(!frame.audience.admits(&watcher(Role::Ai, Visibility::All)));
        assert!(frame.audience.admits(&watcher(Role::Agent, Visibility::All)));
        let reply = message_created(conversation(id, None, None), false);
        let frame = frame_of("events.t.message.created", 4, &reply, &mut Directory::default()).unwrap();
        assert!(frame.audience.admits(&watcher(Role::Ai, Visibility::All)), "a reply is for the AI too");
    }

    #[test]
    fn availability_goes_to_supervisors_admins_and_the_agent_themself_without_a_sequence() {
        let agent = Uuid::new_v4();
        let envelope = inbox_bus::new_envelope(
            "a",
            "t",
            Payload::AgentAvailabilityChanged(AgentAvailabilityChanged {
                agent_id: agent.to_string(),
                availability: 1,
            }),
        );
        let frame = frame_of("events.t.routing.availability_changed", 9, &envelope, &mut Directory::default()).unwrap();
        assert_eq!(frame.seq, None, "coalesced frames carry no sequence");
        assert!(parsed(&frame).get("seq").is_none());
        let themself = Watcher { user_id: Some(agent), role: Role::Agent, visibility: Visibility::All };
        assert!(frame.audience.admits(&themself));
        assert!(frame.audience.admits(&watcher(Role::Supervisor, Visibility::All)));
        assert!(frame.audience.admits(&watcher(Role::Admin, Visibility::All)));
        assert!(!frame.audience.admits(&watcher(Role::Agent, Visibility::All)), "another agent");
        assert!(!frame.audience.admits(&watcher(Role::Ai, Visibility::All)));
    }

    #[test]
    fn an_assignment_away_from_a_team_reaches_the_team_it_left_and_the_one_it_joined() {
        let (team_a, team_b, me) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let of = |team| Watcher {
            user_id: Some(me),
            role: Role::Agent,
            visibility: Visibility::Teams { team_ids: vec![team], assignee: Some(me) },
        };
        let envelope = inbox_bus::new_envelope(
            "as",
            "t",
            Payload::AssignmentChanged(AssignmentChanged {
                conversation: Some(conversation(Uuid::new_v4(), Some(team_b), None)),
                previous_team_id: team_a.to_string(),
                ..Default::default()
            }),
        );
        let frame = frame_of("events.t.conversation.assigned", 5, &envelope, &mut Directory::default()).unwrap();
        assert!(frame.audience.admits(&of(team_a)), "the team it left");
        assert!(frame.audience.admits(&of(team_b)), "the team it joined");
        assert!(!frame.audience.admits(&of(Uuid::new_v4())));
    }

    #[test]
    fn customer_typing_is_placed_by_the_channel_account_and_address_of_a_known_conversation() {
        use inbox_proto::events::v1::CustomerTyping;
        let (id, team) = (Uuid::new_v4(), Uuid::new_v4());
        let mut directory = Directory::default();
        let typing = inbox_bus::new_envelope(
            "ct",
            "t",
            Payload::CustomerTyping(CustomerTyping {
                channel_account_id: "acct".into(),
                customer_address: "+15550001".into(),
                typing: true,
            }),
        );
        assert!(typing_frame(&typing, &directory).is_none(), "no conversation yet: nothing to show");
        frame_of(
            "events.t.message.created",
            1,
            &message_created(conversation(id, Some(team), None), false),
            &mut directory,
        );
        let frame = typing_frame(&typing, &directory).unwrap();
        assert_eq!(
            parsed(&frame),
            json!({"type": "conversation.typing", "conversation_id": id.to_string(), "customer": true, "typing": true})
        );
        assert_eq!(
            frame.audience,
            Audience::of_conversation(Some(Whereabouts { team_id: Some(team), assignee_id: None }))
        );
    }
}
