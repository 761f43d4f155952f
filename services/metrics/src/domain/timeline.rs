//! A conversation as metrics sees it: the facts that start and stop its clocks, in the order
//! they happened, whatever the order they arrived in.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Conversation statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Active,
    Pending,
    Resolved,
    Archived,
}

impl Status {
    pub fn is_open(self) -> bool {
        matches!(self, Status::Active | Status::Pending)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Archived => "archived",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [Status::Active, Status::Pending, Status::Resolved, Status::Archived].into_iter().find(|s| s.as_str() == text)
    }
}

/// Why a conversation went from the AI to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HandoffReason {
    LowConfidence,
    CustomerAsked,
    ComplexIssue,
    TakenOver,
    Other,
}

impl HandoffReason {
    /// The reason of a "needs human" flag, from the conversation service's wording
    /// (`AI confidence 0.42 below 0.60`, `the customer asked for a person`, `the AI flagged a
    /// complex issue: ...`).
    pub fn of_needs_human(reason: &str) -> HandoffReason {
        let reason = reason.to_lowercase();
        if reason.starts_with("ai confidence") {
            HandoffReason::LowConfidence
        } else if reason.contains("customer asked") {
            HandoffReason::CustomerAsked
        } else if reason.contains("complex issue") {
            HandoffReason::ComplexIssue
        } else {
            HandoffReason::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::LowConfidence => "low_confidence",
            HandoffReason::CustomerAsked => "customer_asked",
            HandoffReason::ComplexIssue => "complex_issue",
            HandoffReason::TakenOver => "taken_over",
            HandoffReason::Other => "other",
        }
    }
}

/// Who changed a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Actor {
    /// A person of the tenant (`user:<id>`).
    Person(Uuid),
    Customer,
    /// An automatic rule, the AI, the operator, another service.
    Other,
}

impl Actor {
    pub fn parse(actor: &str) -> Actor {
        if actor == "customer" {
            return Actor::Customer;
        }
        match actor.strip_prefix("user:").and_then(|id| Uuid::parse_str(id).ok()) {
            Some(id) => Actor::Person(id),
            None => Actor::Other,
        }
    }
}

/// SLA events of the notification service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SlaOutcome {
    Warning,
    Breached,
    Met,
}

/// What happened. Facts of the same instant are applied in the order of [`PointKind::order`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum PointKind {
    Status {
        from: Status,
        to: Status,
        actor: Actor,
    },
    Assigned {
        agent: Option<Uuid>,
    },
    /// `rating`: what the message says as a 1–5 rating, if it reads as one.
    CustomerMessage {
        rating: Option<u8>,
    },
    AiReply {
        confidence: Option<f32>,
    },
    /// A person's reply to the customer (internal notes are not points).
    PersonReply {
        agent: Uuid,
    },
    NeedsHuman {
        reason: HandoffReason,
    },
    /// A person took over from the AI (the conversation service's hand-off message).
    TakenOver {
        agent: Option<Uuid>,
    },
    ReleasedToAi,
    /// The CSAT survey went out.
    SurveySent,
    Sla {
        outcome: SlaOutcome,
    },
}

impl PointKind {
    /// A status change made by a message (a reopen) comes before the message it belongs to; a
    /// "needs human" flag after the message that raised it (the AI's answer, the customer's
    /// request), which the conversation service writes at the same instant.
    fn order(&self) -> u8 {
        match self {
            PointKind::Status { .. } => 0,
            PointKind::Assigned { .. } => 1,
            PointKind::CustomerMessage { .. } => 2,
            PointKind::AiReply { .. } => 3,
            PointKind::PersonReply { .. } => 4,
            PointKind::NeedsHuman { .. } => 5,
            PointKind::TakenOver { .. } => 6,
            PointKind::ReleasedToAi => 7,
            PointKind::SurveySent => 8,
            PointKind::Sla { outcome: SlaOutcome::Warning } => 9,
            PointKind::Sla { outcome: SlaOutcome::Breached } => 10,
            PointKind::Sla { outcome: SlaOutcome::Met } => 11,
        }
    }

    /// Tells apart facts of one kind at one instant that are not messages.
    fn tag(&self) -> u8 {
        match self {
            PointKind::Status { to, .. } => *to as u8,
            _ => 0,
        }
    }
}

/// One fact of a conversation's timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    /// The message's id for messages; nil for other facts (which are identified by kind and time).
    pub id: Uuid,
    pub kind: PointKind,
    /// The conversation's team and assignee as the fact left them.
    pub team: Option<Uuid>,
    pub assignee: Option<Uuid>,
}

impl Point {
    /// What makes two deliveries the same fact.
    fn identity(&self) -> (DateTime<Utc>, u8, u8, Uuid) {
        (self.at, self.kind.order(), self.kind.tag(), self.id)
    }
}

/// The facts of one conversation, in the order they happened; each fact once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    /// When the conversation was opened (created), once known.
    pub opened_at: Option<DateTime<Utc>>,
    /// Its team when it was opened.
    pub opened_team: Option<Uuid>,
    points: Vec<Point>,
}

impl Timeline {
    pub fn new(opened_at: Option<DateTime<Utc>>, opened_team: Option<Uuid>, points: Vec<Point>) -> Self {
        let mut timeline = Timeline { opened_at, opened_team, points: Vec::with_capacity(points.len()) };
        for p in points {
            timeline.insert(p);
        }
        timeline
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Adds `point` in its place; false when the timeline already had it (a redelivery).
    pub fn insert(&mut self, point: Point) -> bool {
        let key = point.identity();
        match self.points.binary_search_by(|p| p.identity().cmp(&key)) {
            Ok(_) => false,
            Err(at) => {
                self.points.insert(at, point);
                true
            }
        }
    }

    /// Learns when the conversation was opened (the earliest claim wins) and its team then
    /// (only its creation event names it).
    pub fn set_opened(&mut self, at: DateTime<Utc>, team: Option<Uuid>) {
        if self.opened_at.is_none_or(|known| at < known) {
            self.opened_at = Some(at);
            self.opened_team = team;
        } else if self.opened_at == Some(at) && self.opened_team.is_none() {
            self.opened_team = team;
        }
    }

    /// Every fact of `other` this timeline lacks.
    pub fn absorb(&mut self, other: &Timeline) {
        if let Some(at) = other.opened_at {
            self.set_opened(at, other.opened_team);
        }
        for p in &other.points {
            self.insert(*p);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 4, 1, 9, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn customer(minute: i64, id: Uuid) -> Point {
        Point { at: at(minute), id, kind: PointKind::CustomerMessage { rating: None }, team: None, assignee: None }
    }

    #[test]
    fn facts_take_their_place_in_time_whatever_the_order_they_arrive_in_and_count_once() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut t = Timeline::default();
        assert!(t.insert(customer(10, c)));
        assert!(t.insert(customer(0, a)));
        assert!(t.insert(customer(5, b)));
        assert!(!t.insert(customer(5, b)), "a redelivered message is the same fact");
        assert_eq!(t.points().iter().map(|p| p.id).collect::<Vec<_>>(), vec![a, b, c]);
    }

    #[test]
    fn a_reopen_comes_before_the_reply_of_the_same_instant() {
        let agent = Uuid::now_v7();
        let reply =
            Point { at: at(0), id: Uuid::now_v7(), kind: PointKind::PersonReply { agent }, team: None, assignee: None };
        let reopen = Point {
            at: at(0),
            id: Uuid::nil(),
            kind: PointKind::Status { from: Status::Resolved, to: Status::Active, actor: Actor::Person(agent) },
            team: None,
            assignee: None,
        };
        let t = Timeline::new(None, None, vec![reply, reopen]);
        assert!(matches!(t.points()[0].kind, PointKind::Status { .. }));
    }

    #[test]
    fn the_earliest_opening_wins_and_absorbing_a_timeline_adds_only_what_was_missing() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut t = Timeline::new(Some(at(3)), None, vec![customer(3, a)]);
        let history = Timeline::new(Some(at(0)), None, vec![customer(0, b), customer(3, a)]);
        t.absorb(&history);
        assert_eq!(t.opened_at, Some(at(0)));
        assert_eq!(t.points().len(), 2);
    }

    #[test]
    fn actors_and_handoff_reasons_read_the_conversation_service_wording() {
        let id = Uuid::now_v7();
        assert_eq!(Actor::parse(&format!("user:{id}")), Actor::Person(id));
        assert_eq!(Actor::parse("customer"), Actor::Customer);
        assert_eq!(Actor::parse("system:pending_timeout"), Actor::Other);
        assert_eq!(HandoffReason::of_needs_human("AI confidence 0.42 below 0.60"), HandoffReason::LowConfidence);
        assert_eq!(HandoffReason::of_needs_human("the customer asked for a person"), HandoffReason::CustomerAsked);
        assert_eq!(
            HandoffReason::of_needs_human("the AI flagged a complex issue: refund"),
            HandoffReason::ComplexIssue
        );
        assert_eq!(HandoffReason::of_needs_human("something else"), HandoffReason::Other);
    }
}
