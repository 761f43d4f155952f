//! The edge between the conversation service's protobuf and metrics' domain: which events
//! matter, and the fact each states. Times are kept to the microsecond, as PostgreSQL stores
//! them, so a fact read from the events and the same fact read from history are one fact.

use chrono::{DateTime, Utc};
use inbox_bus::{Envelope, Payload};
use inbox_csat::{SURVEY_KEY_PREFIX, rating_of_content};
use inbox_proto::common::v1::Channel;
use inbox_proto::conversation::v1::{Conversation, ConversationStatus, Message, SenderKind, StatusChange};
use inbox_proto::events::v1::SlaAlert;
use prost_types::Timestamp;
use uuid::Uuid;

use crate::domain::fact::Fact;
use crate::domain::live::Snapshot;
use crate::domain::timeline::{Actor, HandoffReason, Point, PointKind, SlaOutcome, Status};

/// The sender id of the conversation service's hand-off message (sent when a person takes over).
const HANDOFF_SENDER: &str = "handoff";

/// The fact an event of kind `kind` (`message.created`...) states; `None` for events metrics
/// does not count (other services' events, payloads without a conversation).
pub fn fact_of(subject: &str, kind: &str, envelope: &Envelope) -> Option<Fact> {
    let payload = envelope.payload.as_ref()?;
    match payload {
        Payload::SlaWarning(alert) => return sla_fact(subject, envelope, alert, SlaOutcome::Warning),
        Payload::SlaBreached(alert) => return sla_fact(subject, envelope, alert, SlaOutcome::Breached),
        _ => {}
    }
    if let Payload::ConversationDeleted(deleted) = payload {
        return Some(Fact {
            event_id: envelope.event_id.clone(),
            subject: subject.to_owned(),
            conversation_id: Uuid::parse_str(&deleted.conversation_id).ok()?,
            snapshot: None,
            opened: None,
            point: None,
            deleted: true,
        });
    }
    let conversation = conversation_of(payload)?;
    let snapshot = snapshot_of(conversation)?;
    let conversation_id = Uuid::parse_str(&conversation.id).ok()?;
    let point = match (kind, payload) {
        ("message.created", Payload::MessageCreated(created)) => point_of_message(created.message.as_ref()?, &snapshot),
        ("conversation.status_changed", Payload::StatusChanged(changed)) => {
            point_of_status_change(changed.change.as_ref()?, &snapshot)
        }
        ("conversation.needs_human", Payload::ConversationUpdated(_)) if conversation.needs_human => Some(Point {
            at: time_of(conversation.updated_at.as_ref())?,
            id: Uuid::nil(),
            kind: PointKind::NeedsHuman { reason: HandoffReason::of_needs_human(&conversation.needs_human_reason) },
            team: snapshot.team,
            assignee: snapshot.assignee,
        }),
        ("conversation.released_to_ai", Payload::AiHandoff(handoff)) if handoff.ai_active => Some(Point {
            at: time_of(conversation.updated_at.as_ref())?,
            id: Uuid::nil(),
            kind: PointKind::ReleasedToAi,
            team: snapshot.team,
            assignee: snapshot.assignee,
        }),
        ("conversation.assigned", Payload::AssignmentChanged(_)) => Some(Point {
            at: time_of(conversation.assigned_at.as_ref().or(conversation.updated_at.as_ref()))?,
            id: Uuid::nil(),
            kind: PointKind::Assigned { agent: snapshot.assignee },
            team: snapshot.team,
            assignee: snapshot.assignee,
        }),
        // The take-over's point is its hand-off message; other changes move only the snapshot.
        _ => None,
    };
    let opened = snapshot.created_at.map(|at| (at, if kind == "conversation.created" { snapshot.team } else { None }));
    Some(Fact {
        event_id: envelope.event_id.clone(),
        subject: subject.to_owned(),
        conversation_id,
        snapshot: Some(snapshot),
        opened,
        point,
        deleted: false,
    })
}

/// An SLA alert of the notification service: a warning counts when it fired, a breach at the
/// target's due time; for the assignee and team the alert names. It carries no conversation
/// snapshot: a provisional one (version -1, which any real snapshot replaces) lets an alert that
/// arrives before the conversation's own events be kept.
fn sla_fact(subject: &str, envelope: &Envelope, alert: &SlaAlert, outcome: SlaOutcome) -> Option<Fact> {
    let at = match outcome {
        SlaOutcome::Breached => time_of(alert.due_at.as_ref()).or_else(|| time_of(envelope.occurred_at.as_ref())),
        SlaOutcome::Warning | SlaOutcome::Met => time_of(envelope.occurred_at.as_ref()),
    }?;
    let (team, assignee) = (optional_id(&alert.team_id), optional_id(&alert.assignee_id));
    // Targets of one conversation alert independently: the target tells their facts apart.
    let target = match alert.target.as_str() {
        "first_response" => 1,
        "next_response" => 2,
        "resolution" => 3,
        _ => 4,
    };
    Some(Fact {
        event_id: envelope.event_id.clone(),
        subject: subject.to_owned(),
        conversation_id: Uuid::parse_str(&alert.conversation_id).ok()?,
        snapshot: Some(Snapshot {
            version: -1,
            channel: inbox_bus::subjects::channel_token(
                Channel::try_from(alert.channel).unwrap_or(Channel::Unspecified),
            )
            .to_owned(),
            status: Status::Active,
            assignee,
            team,
            person_handles: false,
            needs_human: false,
            customer_wrote_last: true,
            created_at: None,
        }),
        opened: None,
        point: Some(Point { at, id: Uuid::from_u128(target), kind: PointKind::Sla { outcome }, team, assignee }),
        deleted: false,
    })
}

/// The conversation an event carries, if any.
fn conversation_of(payload: &Payload) -> Option<&Conversation> {
    match payload {
        Payload::ConversationCreated(e) => e.conversation.as_ref(),
        Payload::ConversationUpdated(e) | Payload::PriorityChanged(e) => e.conversation.as_ref(),
        Payload::MessageCreated(e) => e.conversation.as_ref(),
        Payload::StatusChanged(e) => e.conversation.as_ref(),
        Payload::AssignmentChanged(e) => e.conversation.as_ref(),
        Payload::AiHandoff(e) => e.conversation.as_ref(),
        _ => None,
    }
}

/// An instant to the microsecond.
pub fn time_of(ts: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let at = inbox_proto::timestamp_to_utc(ts?)?;
    DateTime::from_timestamp_micros(at.timestamp_micros())
}

fn optional_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}

pub fn status_of(status: i32) -> Option<Status> {
    match ConversationStatus::try_from(status).ok()? {
        ConversationStatus::Active => Some(Status::Active),
        ConversationStatus::Pending => Some(Status::Pending),
        ConversationStatus::Resolved => Some(Status::Resolved),
        ConversationStatus::Archived => Some(Status::Archived),
        ConversationStatus::Unspecified => None,
    }
}

/// The conversation as it is in `c`; `None` for a conversation without an id or status.
pub fn snapshot_of(c: &Conversation) -> Option<Snapshot> {
    Uuid::parse_str(&c.id).ok()?;
    Some(Snapshot {
        version: c.version,
        channel: inbox_bus::subjects::channel_token(Channel::try_from(c.channel).unwrap_or(Channel::Unspecified))
            .to_owned(),
        status: status_of(c.status)?,
        assignee: optional_id(&c.assignee_id),
        team: optional_id(&c.team_id),
        person_handles: c.handled_by == "human",
        needs_human: c.needs_human,
        customer_wrote_last: c.last_message_sender_kind == SenderKind::Customer as i32,
        created_at: time_of(c.created_at.as_ref()),
    })
}

/// The fact a stored message states, the conversation being as `snapshot` says: internal
/// notes and other system messages state none.
pub fn point_of_message(m: &Message, snapshot: &Snapshot) -> Option<Point> {
    if m.internal_note {
        return None;
    }
    let kind = if m.idempotency_key.starts_with(SURVEY_KEY_PREFIX) {
        PointKind::SurveySent
    } else {
        match SenderKind::try_from(m.sender_kind).ok()? {
            SenderKind::Customer => {
                PointKind::CustomerMessage { rating: m.content.as_ref().and_then(rating_of_content) }
            }
            SenderKind::Agent => match Actor::parse(&m.sender_id) {
                Actor::Person(agent) => PointKind::PersonReply { agent },
                _ => return None,
            },
            SenderKind::Ai => PointKind::AiReply { confidence: m.ai_confidence },
            SenderKind::System if m.sender_id == HANDOFF_SENDER => PointKind::TakenOver { agent: snapshot.assignee },
            SenderKind::System | SenderKind::Unspecified => return None,
        }
    };
    Some(Point {
        at: time_of(m.sent_at.as_ref())?,
        id: Uuid::parse_str(&m.id).ok()?,
        kind,
        team: snapshot.team,
        assignee: snapshot.assignee,
    })
}

/// The fact of a status change.
pub fn point_of_status_change(change: &StatusChange, snapshot: &Snapshot) -> Option<Point> {
    Some(Point {
        at: time_of(change.changed_at.as_ref())?,
        id: Uuid::nil(),
        kind: PointKind::Status {
            from: status_of(change.from).unwrap_or(Status::Active),
            to: status_of(change.to)?,
            actor: Actor::parse(&change.actor),
        },
        team: snapshot.team,
        assignee: snapshot.assignee,
    })
}

#[cfg(test)]
mod tests {
    use inbox_bus::new_envelope;
    use inbox_proto::common::v1::{MessageContent, TextContent, message_content::Kind};
    use inbox_proto::events::v1::{AiHandoff, ConversationDeleted, ConversationUpdated, MessageCreated, StatusChanged};

    use super::*;

    fn conversation(id: Uuid) -> Conversation {
        Conversation {
            id: id.to_string(),
            channel: Channel::Whatsapp as i32,
            status: ConversationStatus::Active as i32,
            version: 3,
            assignee_id: Uuid::nil().to_string(),
            created_at: Some(Timestamp { seconds: 1_900_000_000, nanos: 123_456_789 }),
            updated_at: Some(Timestamp { seconds: 1_900_000_100, nanos: 0 }),
            last_message_sender_kind: SenderKind::Customer as i32,
            handled_by: "ai".into(),
            ..Default::default()
        }
    }

    fn text(body: &str) -> Option<MessageContent> {
        Some(MessageContent { kind: Some(Kind::Text(TextContent { body: body.into() })), reply_to: None })
    }

    #[test]
    fn a_customer_message_states_its_rating_and_the_conversation_snapshot() {
        let id = Uuid::now_v7();
        let message = Message {
            id: Uuid::now_v7().to_string(),
            sender_kind: SenderKind::Customer as i32,
            content: text("5"),
            sent_at: Some(Timestamp { seconds: 1_900_000_050, nanos: 999 }),
            ..Default::default()
        };
        let e = new_envelope(
            "e1",
            Uuid::nil().to_string(),
            Payload::MessageCreated(MessageCreated { message: Some(message), conversation: Some(conversation(id)) }),
        );
        let fact = fact_of("events.t.message.created", "message.created", &e).unwrap();
        assert_eq!(fact.conversation_id, id);
        let point = fact.point.unwrap();
        assert_eq!(point.kind, PointKind::CustomerMessage { rating: Some(5) });
        assert_eq!(point.at.timestamp_subsec_nanos(), 0, "kept to the microsecond");
        let snapshot = fact.snapshot.unwrap();
        assert!(snapshot.customer_wrote_last && !snapshot.person_handles);
        assert_eq!(snapshot.channel, "whatsapp");
        assert_eq!(fact.opened.unwrap().0.timestamp_subsec_micros(), 123_456);
    }

    #[test]
    fn replies_notes_surveys_and_the_handoff_message_state_what_they_are() {
        let snapshot = snapshot_of(&conversation(Uuid::now_v7())).unwrap();
        let agent = Uuid::now_v7();
        let message = |kind: SenderKind, sender: &str| Message {
            id: Uuid::now_v7().to_string(),
            sender_kind: kind as i32,
            sender_id: sender.into(),
            content: text("hello"),
            sent_at: Some(Timestamp { seconds: 1_900_000_050, nanos: 0 }),
            ..Default::default()
        };
        let reply = point_of_message(&message(SenderKind::Agent, &format!("user:{agent}")), &snapshot).unwrap();
        assert_eq!(reply.kind, PointKind::PersonReply { agent });
        let note = Message { internal_note: true, ..message(SenderKind::Agent, &format!("user:{agent}")) };
        assert_eq!(point_of_message(&note, &snapshot), None);
        let survey = Message {
            idempotency_key: format!("{SURVEY_KEY_PREFIX}x:1"),
            ..message(SenderKind::System, "service:metrics")
        };
        assert_eq!(point_of_message(&survey, &snapshot).unwrap().kind, PointKind::SurveySent);
        let handoff = point_of_message(&message(SenderKind::System, "handoff"), &snapshot).unwrap();
        assert_eq!(handoff.kind, PointKind::TakenOver { agent: Some(Uuid::nil()) });
        let ai = Message { ai_confidence: Some(0.3), ..message(SenderKind::Ai, "user:ai") };
        assert_eq!(point_of_message(&ai, &snapshot).unwrap().kind, PointKind::AiReply { confidence: Some(0.3) });
    }

    #[test]
    fn status_changes_flags_releases_and_deletions_are_facts_and_other_payloads_are_not() {
        let id = Uuid::now_v7();
        let agent = Uuid::now_v7();
        let change = StatusChange {
            conversation_id: id.to_string(),
            from: ConversationStatus::Active as i32,
            to: ConversationStatus::Resolved as i32,
            actor: format!("user:{agent}"),
            reason: String::new(),
            changed_at: Some(Timestamp { seconds: 1_900_000_500, nanos: 0 }),
        };
        let e = new_envelope(
            "e2",
            "t",
            Payload::StatusChanged(StatusChanged { conversation: Some(conversation(id)), change: Some(change) }),
        );
        let fact = fact_of("s", "conversation.status_changed", &e).unwrap();
        assert_eq!(fact.resolved_by_person().map(|(_, who)| who), Some(agent));

        let flagged = Conversation {
            needs_human: true,
            needs_human_reason: "the customer asked for a person".into(),
            ..conversation(id)
        };
        let e = new_envelope(
            "e3",
            "t",
            Payload::ConversationUpdated(ConversationUpdated { conversation: Some(flagged.clone()) }),
        );
        let point = fact_of("s", "conversation.needs_human", &e).unwrap().point.unwrap();
        assert_eq!(point.kind, PointKind::NeedsHuman { reason: HandoffReason::CustomerAsked });
        assert_eq!(fact_of("s", "conversation.priority_changed", &e).unwrap().point, None, "snapshot only");

        let released = new_envelope(
            "e4",
            "t",
            Payload::AiHandoff(AiHandoff {
                conversation: Some(conversation(id)),
                agent_id: String::new(),
                ai_active: true,
            }),
        );
        assert_eq!(
            fact_of("s", "conversation.released_to_ai", &released).unwrap().point.unwrap().kind,
            PointKind::ReleasedToAi
        );

        let deleted = new_envelope(
            "e5",
            "t",
            Payload::ConversationDeleted(ConversationDeleted { conversation_id: id.to_string() }),
        );
        assert!(fact_of("s", "conversation.deleted", &deleted).unwrap().deleted);
        let alert = SlaAlert {
            conversation_id: id.to_string(),
            target: "first_response".into(),
            due_at: Some(Timestamp { seconds: 1_900_000_900, nanos: 0 }),
            assignee_id: agent.to_string(),
            channel: Channel::Webchat as i32,
            ..Default::default()
        };
        let breached = new_envelope("e7", "t", Payload::SlaBreached(alert));
        let fact = fact_of("s", "sla.breached", &breached).unwrap();
        let point = fact.point.unwrap();
        assert_eq!((point.kind, point.assignee), (PointKind::Sla { outcome: SlaOutcome::Breached }, Some(agent)));
        assert_eq!(point.at.timestamp(), 1_900_000_900, "a breach counts when the target was due");
        assert_eq!(fact.snapshot.unwrap().version, -1, "any real snapshot replaces the provisional one");
        let empty = new_envelope("e6", "t", Payload::MessageCreated(MessageCreated::default()));
        assert_eq!(fact_of("s", "message.created", &empty), None, "no conversation: nothing to count");
    }
}
