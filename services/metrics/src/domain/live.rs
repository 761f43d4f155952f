//! Where a conversation stands now, for the live figures (active, pending, backlog).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::timeline::Status;

/// The newest state of a conversation the events told about (the one with the highest
/// version wins, whatever the order they arrive in).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub version: i64,
    pub channel: String,
    pub status: Status,
    pub assignee: Option<Uuid>,
    pub team: Option<Uuid>,
    /// A person took over from the AI.
    pub person_handles: bool,
    /// The AI (or the customer) asked for a person.
    pub needs_human: bool,
    /// The customer wrote the newest message.
    pub customer_wrote_last: bool,
    pub created_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Keeps the newer of two snapshots.
    pub fn newer(self, other: Snapshot) -> Snapshot {
        if other.version > self.version { other } else { self }
    }
}

/// Backlog: Active, the customer wrote last, and it is a person's turn: a person took over,
/// a person was asked for, or the AI never answered this conversation.
pub fn waiting_for_person(s: &Snapshot, ai_answered: bool) -> bool {
    s.status == Status::Active && s.customer_wrote_last && (s.person_handles || s.needs_human || !ai_answered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(status: Status, customer_last: bool) -> Snapshot {
        Snapshot {
            version: 1,
            channel: "whatsapp".into(),
            status,
            assignee: None,
            team: None,
            person_handles: false,
            needs_human: false,
            customer_wrote_last: customer_last,
            created_at: None,
        }
    }

    #[test]
    fn the_backlog_is_active_conversations_whose_customer_waits_for_a_person() {
        assert!(waiting_for_person(&snapshot(Status::Active, true), false), "no AI: a person's turn");
        assert!(!waiting_for_person(&snapshot(Status::Active, true), true), "the AI is answering it");
        let flagged = Snapshot { needs_human: true, ..snapshot(Status::Active, true) };
        assert!(waiting_for_person(&flagged, true));
        let taken = Snapshot { person_handles: true, ..snapshot(Status::Active, true) };
        assert!(waiting_for_person(&taken, true));
        assert!(!waiting_for_person(&snapshot(Status::Active, false), false), "we wrote last");
        assert!(!waiting_for_person(&snapshot(Status::Pending, true), false), "pending waits for the customer");
        assert!(!waiting_for_person(&snapshot(Status::Resolved, true), false));
    }

    #[test]
    fn the_higher_version_wins_whatever_the_order() {
        let old = snapshot(Status::Active, true);
        let new = Snapshot { version: 2, status: Status::Resolved, ..old.clone() };
        assert_eq!(old.clone().newer(new.clone()).status, Status::Resolved);
        assert_eq!(new.newer(old).status, Status::Resolved);
    }
}
