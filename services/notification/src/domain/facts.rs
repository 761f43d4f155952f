//! What the conversation service's events say, as far as notifications go: the state of a
//! conversation they maintain (version-checked), and who is told what about each event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Kind;
use super::recipients::{Directory, Seen};
use super::sla::Standing;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Pending,
    Resolved,
    Archived,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Archived => "archived",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        [Status::Active, Status::Pending, Status::Resolved, Status::Archived].into_iter().find(|s| s.as_str() == name)
    }

    pub fn is_open(self) -> bool {
        matches!(self, Status::Active | Status::Pending)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Urgent, Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(name: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Customer,
    Agent,
    Ai,
    System,
}

/// A conversation as an event carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationView {
    pub id: Uuid,
    pub version: i64,
    pub status: Status,
    pub priority: Priority,
    pub channel: String,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// The customer's name, else their address.
    pub customer_name: String,
    pub preview: String,
    pub created_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
}

/// What an event states.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// `conversation.created`.
    Opened,
    /// Any other change carrying the whole conversation (priority, needs human, customer...).
    Changed,
    Message {
        sender: Sender,
        internal_note: bool,
        created_at: DateTime<Utc>,
        text: String,
    },
    StatusChanged {
        from: Option<Status>,
        to: Status,
        actor: Option<Uuid>,
    },
    Assigned {
        previous_assignee_id: Option<Uuid>,
        actor: Option<Uuid>,
    },
    Deleted,
}

/// One event about one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub event_id: String,
    /// When it happened (the event's time).
    pub at: DateTime<Utc>,
    pub conversation_id: Uuid,
    /// The conversation after the event (absent for a deletion).
    pub conversation: Option<ConversationView>,
    pub what: What,
}

/// What the service keeps of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationState {
    pub version: i64,
    pub status: Status,
    pub priority: Priority,
    pub channel: String,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub customer_name: String,
    pub preview: String,
    pub created_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub last_response_at: Option<DateTime<Utc>>,
    pub awaiting_since: Option<DateTime<Utc>>,
}

impl ConversationState {
    fn from_view(view: &ConversationView) -> ConversationState {
        ConversationState {
            version: view.version,
            status: view.status,
            priority: view.priority,
            channel: view.channel.clone(),
            assignee_id: view.assignee_id,
            team_id: view.team_id,
            customer_name: view.customer_name.clone(),
            preview: view.preview.clone(),
            created_at: view.created_at,
            opened_at: view.created_at,
            status_changed_at: view.status_changed_at,
            first_response_at: None,
            last_response_at: None,
            awaiting_since: None,
        }
    }

    pub fn seen(&self) -> Seen {
        Seen { team_id: self.team_id, assignee_id: self.assignee_id }
    }

    pub fn standing(&self) -> Standing {
        Standing {
            open: self.status.is_open(),
            waiting_for_customer: self.status == Status::Pending,
            paused_since: self.status_changed_at,
            opened_at: self.opened_at,
            created_at: self.created_at,
            first_response_at: self.first_response_at,
            awaiting_since: self.awaiting_since,
        }
    }

    /// The state after `fact`: a newer version of the conversation replaces the older (an older
    /// one is ignored); messages move the response marks whatever their order of arrival.
    /// `None` for a conversation the service has never seen and the fact does not describe.
    pub fn after(before: Option<&ConversationState>, fact: &Fact) -> Option<ConversationState> {
        let mut state = match (before, &fact.conversation) {
            (Some(b), Some(view)) if view.version > b.version => {
                let mut next = b.clone();
                if !b.status.is_open() && view.status.is_open() {
                    next.opened_at = view.status_changed_at;
                }
                next.version = view.version;
                next.status = view.status;
                next.status_changed_at = view.status_changed_at;
                next.priority = view.priority;
                next.channel = view.channel.clone();
                next.assignee_id = view.assignee_id;
                next.team_id = view.team_id;
                next.customer_name = view.customer_name.clone();
                next.preview = view.preview.clone();
                next
            }
            (Some(b), _) => b.clone(),
            (None, Some(view)) => ConversationState::from_view(view),
            (None, None) => return None,
        };
        if let What::Message { sender, internal_note: false, created_at, .. } = &fact.what {
            match sender {
                Sender::Customer => {
                    if state.last_response_at.is_none_or(|r| *created_at > r) && state.awaiting_since.is_none() {
                        state.awaiting_since = Some(*created_at);
                    }
                }
                Sender::Agent | Sender::Ai => {
                    state.first_response_at = Some(state.first_response_at.map_or(*created_at, |f| f.min(*created_at)));
                    state.last_response_at = Some(state.last_response_at.map_or(*created_at, |l| l.max(*created_at)));
                    if state.awaiting_since.is_some_and(|since| since <= *created_at) {
                        state.awaiting_since = None;
                    }
                }
                Sender::System => {}
            }
        }
        Some(state)
    }
}

/// A notification to store for one person.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub user_id: Uuid,
    pub kind: Kind,
    pub conversation_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    /// The fact it reports: a redelivered event makes no second notification.
    pub dedupe_key: String,
    pub sla_target: String,
    pub due_at: Option<DateTime<Utc>>,
}

fn line(state: &ConversationState, text: &str) -> String {
    let text = if text.is_empty() { state.preview.as_str() } else { text };
    let who = if state.customer_name.is_empty() { "A customer" } else { state.customer_name.as_str() };
    let mut body = if text.is_empty() { who.to_owned() } else { format!("{who}: {text}") };
    if body.chars().count() > 140 {
        body = body.chars().take(139).collect::<String>() + "…";
    }
    body
}

/// Who is told what about `fact`, given the conversation before and after it.
pub fn drafts(
    fact: &Fact,
    before: Option<&ConversationState>,
    after: &ConversationState,
    directory: &Directory,
) -> Vec<Draft> {
    let mut out = Vec::new();
    let mut tell = |kind: Kind, users: Vec<Uuid>, text: &str| {
        for user_id in users {
            out.push(Draft {
                user_id,
                kind,
                conversation_id: Some(fact.conversation_id),
                title: kind.title().to_owned(),
                body: line(after, text),
                dedupe_key: format!("{}:{}", fact.event_id, kind.as_str()),
                sla_target: String::new(),
                due_at: None,
            });
        }
    };
    let fresh = before.is_none_or(|b| fact.conversation.as_ref().is_some_and(|v| v.version > b.version));
    // Events may be handled out of order: a change is told to the person the event names,
    // as long as the conversation is still theirs.
    let still_theirs = |view: &ConversationView| view.assignee_id.is_some() && view.assignee_id == after.assignee_id;
    // Who may see it is read where the event left it, whatever was handled since.
    let then =
        fact.conversation.as_ref().map_or(after.seen(), |v| Seen { team_id: v.team_id, assignee_id: v.assignee_id });
    match (&fact.what, &fact.conversation) {
        (What::Opened, _) => tell(Kind::NewConversation, directory.recipients(Kind::NewConversation, then, None), ""),
        (What::Message { sender: Sender::Customer, internal_note: false, created_at, text }, _)
            if *created_at > after.created_at =>
        {
            tell(Kind::CustomerReplied, directory.recipients(Kind::CustomerReplied, then, None), text)
        }
        (What::StatusChanged { to, actor, .. }, Some(view)) if still_theirs(view) && view.assignee_id != *actor => {
            tell(
                Kind::StatusChanged,
                directory.recipients(Kind::StatusChanged, after.seen(), *actor),
                &format!("now {}", to.as_str()),
            )
        }
        (What::Assigned { previous_assignee_id, actor }, Some(view))
            if still_theirs(view) && view.assignee_id != *previous_assignee_id =>
        {
            tell(Kind::Assigned, directory.recipients(Kind::Assigned, after.seen(), *actor), "")
        }
        _ => {}
    }
    let was_urgent = before.is_some_and(|b| b.priority == Priority::Urgent);
    if after.priority == Priority::Urgent && !was_urgent && after.status.is_open() && fresh {
        tell(Kind::Urgent, directory.recipients(Kind::Urgent, after.seen(), None), "");
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use chrono_tz::Tz;

    use super::*;
    use crate::domain::recipients::{Person, PersonRole};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 1, 6, 10, 0, 0).unwrap()
    }

    struct World {
        dir: Directory,
        team: Uuid,
        ana: Uuid,
        ben: Uuid,
        sue: Uuid,
    }

    fn world() -> World {
        let team = Uuid::new_v4();
        let (ana, ben, sue) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let p = |id, role, teams: Vec<Uuid>| Person { id, role, team_ids: teams, time_zone: Tz::UTC };
        World {
            dir: Directory {
                people: vec![
                    p(ana, PersonRole::Agent, vec![team]),
                    p(ben, PersonRole::Agent, vec![]),
                    p(sue, PersonRole::Supervisor, vec![team]),
                ],
            },
            team,
            ana,
            ben,
            sue,
        }
    }

    fn view(version: i64) -> ConversationView {
        ConversationView {
            id: Uuid::nil(),
            version,
            status: Status::Active,
            priority: Priority::Normal,
            channel: "whatsapp".into(),
            assignee_id: None,
            team_id: None,
            customer_name: "Ana Customer".into(),
            preview: "Hello".into(),
            created_at: t0(),
            status_changed_at: t0(),
        }
    }

    fn fact(id: &str, conversation: ConversationView, what: What, at: DateTime<Utc>) -> Fact {
        Fact { event_id: id.into(), at, conversation_id: Uuid::nil(), conversation: Some(conversation), what }
    }

    fn users(drafts: &[Draft], kind: Kind) -> Vec<Uuid> {
        let mut u: Vec<Uuid> = drafts.iter().filter(|d| d.kind == kind).map(|d| d.user_id).collect();
        u.sort();
        u
    }

    fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
        ids.sort();
        ids
    }

    #[test]
    fn a_new_conversation_then_a_customer_reply() {
        let w = world();
        let opened = fact("e1", view(1), What::Opened, t0());
        let first = ConversationState::after(None, &opened).unwrap();
        assert_eq!(
            users(&drafts(&opened, None, &first, &w.dir), Kind::NewConversation),
            sorted(vec![w.ana, w.ben, w.sue])
        );
        // The opening message itself is no reply.
        let opening =
            What::Message { sender: Sender::Customer, internal_note: false, created_at: t0(), text: "Hello".into() };
        let opening = fact("e2", view(1), opening, t0());
        let state = ConversationState::after(Some(&first), &opening).unwrap();
        assert!(drafts(&opening, Some(&first), &state, &w.dir).is_empty());
        assert_eq!(state.awaiting_since, Some(t0()));
        // Assigned to Ana in the team: her reply notification alone.
        let mut assigned = view(2);
        assigned.assignee_id = Some(w.ana);
        assigned.team_id = Some(w.team);
        let later = t0() + Duration::minutes(5);
        let reply = What::Message {
            sender: Sender::Customer,
            internal_note: false,
            created_at: later,
            text: "Still there?".into(),
        };
        let reply = fact("e3", assigned, reply, later);
        let after = ConversationState::after(Some(&state), &reply).unwrap();
        let d = drafts(&reply, Some(&state), &after, &w.dir);
        assert_eq!(users(&d, Kind::CustomerReplied), vec![w.ana]);
        assert_eq!(d[0].body, "Ana Customer: Still there?");
        assert_eq!(after.awaiting_since, Some(t0()), "still waiting since the first message");
    }

    #[test]
    fn assigned_to_you_unless_you_did_it() {
        let w = world();
        let base = ConversationState::after(None, &fact("e0", view(1), What::Opened, t0())).unwrap();
        let mut v = view(2);
        v.assignee_id = Some(w.ana);
        let by_sue = fact("e1", v.clone(), What::Assigned { previous_assignee_id: None, actor: Some(w.sue) }, t0());
        let after = ConversationState::after(Some(&base), &by_sue).unwrap();
        assert_eq!(users(&drafts(&by_sue, Some(&base), &after, &w.dir), Kind::Assigned), vec![w.ana]);
        let by_herself = fact("e2", v, What::Assigned { previous_assignee_id: None, actor: Some(w.ana) }, t0());
        assert!(drafts(&by_herself, Some(&base), &after, &w.dir).is_empty());
        // An assignment arriving after a later one moved the conversation on tells nobody.
        let mut to_ben = view(2);
        to_ben.assignee_id = Some(w.ben);
        let stale = fact("e3", to_ben, What::Assigned { previous_assignee_id: None, actor: Some(w.sue) }, t0());
        assert!(drafts(&stale, Some(&after), &after, &w.dir).is_empty());
    }

    #[test]
    fn a_new_conversation_is_announced_even_when_a_later_event_was_handled_first() {
        let w = world();
        let later = fact("e2", view(2), What::Changed, t0());
        let state = ConversationState::after(None, &later).unwrap();
        let opened = fact("e1", view(1), What::Opened, t0());
        let after = ConversationState::after(Some(&state), &opened).unwrap();
        assert_eq!(after.version, 2, "the older version does not replace the newer");
        assert_eq!(users(&drafts(&opened, Some(&state), &after, &w.dir), Kind::NewConversation).len(), 3);
    }

    #[test]
    fn entering_urgent_tells_the_assignee_else_the_team_once() {
        let w = world();
        let mut v = view(1);
        v.team_id = Some(w.team);
        let base = ConversationState::after(None, &fact("e0", v.clone(), What::Opened, t0())).unwrap();
        v.version = 2;
        v.priority = Priority::Urgent;
        let urgent = fact("e1", v.clone(), What::Changed, t0());
        let after = ConversationState::after(Some(&base), &urgent).unwrap();
        assert_eq!(users(&drafts(&urgent, Some(&base), &after, &w.dir), Kind::Urgent), sorted(vec![w.ana, w.sue]));
        v.version = 3;
        let still = fact("e2", v, What::Changed, t0());
        let later = ConversationState::after(Some(&after), &still).unwrap();
        assert!(drafts(&still, Some(&after), &later, &w.dir).is_empty(), "already urgent");
    }

    #[test]
    fn a_status_change_tells_the_assignee_when_someone_else_made_it() {
        let w = world();
        let mut v = view(1);
        v.assignee_id = Some(w.ben);
        let base = ConversationState::after(None, &fact("e0", v.clone(), What::Opened, t0())).unwrap();
        v.version = 2;
        v.status = Status::Resolved;
        let by_sue = What::StatusChanged { from: Some(Status::Active), to: Status::Resolved, actor: Some(w.sue) };
        let by_sue = fact("e1", v.clone(), by_sue, t0());
        let after = ConversationState::after(Some(&base), &by_sue).unwrap();
        assert_eq!(users(&drafts(&by_sue, Some(&base), &after, &w.dir), Kind::StatusChanged), vec![w.ben]);
        let by_ben = What::StatusChanged { from: Some(Status::Active), to: Status::Resolved, actor: Some(w.ben) };
        assert!(drafts(&fact("e2", v, by_ben, t0()), Some(&base), &after, &w.dir).is_empty());
    }

    #[test]
    fn replies_move_the_response_marks_and_reopening_starts_a_new_cycle() {
        let base = ConversationState::after(None, &fact("e0", view(1), What::Opened, t0())).unwrap();
        let msg = |sender, minutes| What::Message {
            sender,
            internal_note: false,
            created_at: t0() + Duration::minutes(minutes),
            text: String::new(),
        };
        let s1 = ConversationState::after(Some(&base), &fact("m1", view(1), msg(Sender::Customer, 0), t0())).unwrap();
        let s2 = ConversationState::after(Some(&s1), &fact("m2", view(1), msg(Sender::Ai, 2), t0())).unwrap();
        assert_eq!((s2.first_response_at, s2.awaiting_since), (Some(t0() + Duration::minutes(2)), None));
        let s3 = ConversationState::after(Some(&s2), &fact("m3", view(1), msg(Sender::Customer, 9), t0())).unwrap();
        assert_eq!(s3.awaiting_since, Some(t0() + Duration::minutes(9)));
        let mut closed = view(2);
        closed.status = Status::Resolved;
        let s4 = ConversationState::after(Some(&s3), &fact("s1", closed, What::Changed, t0())).unwrap();
        let mut reopened = view(3);
        reopened.status_changed_at = t0() + Duration::hours(3);
        let s5 = ConversationState::after(Some(&s4), &fact("s2", reopened, What::Changed, t0())).unwrap();
        assert_eq!(s5.opened_at, t0() + Duration::hours(3));
    }
}
