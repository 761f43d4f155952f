//! One event, as metrics reads it: the conversation's newest state and the fact it adds to the
//! conversation's timeline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::live::Snapshot;
use super::timeline::{Point, PointKind, Status};

/// What one event says about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub event_id: String,
    pub subject: String,
    pub conversation_id: Uuid,
    /// The conversation as the event left it (absent for a deletion).
    pub snapshot: Option<Snapshot>,
    /// When the conversation was opened, and its team then when the event is its creation.
    pub opened: Option<(DateTime<Utc>, Option<Uuid>)>,
    pub point: Option<Point>,
    pub deleted: bool,
}

impl Fact {
    /// The resolution this fact records, made by a person: (when, who).
    pub fn resolved_by_person(&self) -> Option<(DateTime<Utc>, Uuid)> {
        match self.point?.kind {
            PointKind::Status { to: Status::Resolved, actor: super::timeline::Actor::Person(person), .. } => {
                Some((self.point?.at, person))
            }
            _ => None,
        }
    }
}
