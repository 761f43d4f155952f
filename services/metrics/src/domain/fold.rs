//! The definitions of docs/metrics.md as one walk over a conversation's timeline: what each
//! fact starts, stops and counts. Pure: the same timeline always contributes the same figures,
//! so a conversation's contributions are recomputed whenever a fact arrives (late or out of
//! order) and the rollups take the difference.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::figures::{Contribution, Counter, Measure, Metric};
use super::timeline::{Actor, HandoffReason, Point, PointKind, SlaOutcome, Status, Timeline};

/// Tenant-independent parameters of the definitions.
#[derive(Debug, Clone, Copy)]
pub struct FoldRules {
    /// How long after the survey a customer's rating counts as its answer.
    pub survey_window: Duration,
}

impl Default for FoldRules {
    fn default() -> Self {
        Self { survey_window: inbox_csat::SURVEY_WINDOW }
    }
}

/// Everything `timeline` contributes to the rollups, in time order.
pub fn contributions(timeline: &Timeline, rules: &FoldRules) -> Vec<Contribution> {
    let mut walk = Walk::new(timeline);
    for point in timeline.points() {
        walk.tick(point.at);
        walk.apply(point, rules);
    }
    walk.out.sort();
    walk.out
}

/// Whether the AI ever wrote in the conversation.
pub fn ai_answered(timeline: &Timeline) -> bool {
    timeline.points().iter().any(|p| matches!(p.kind, PointKind::AiReply { .. }))
}

/// The state of the walk: where each clock stands.
struct Walk {
    out: Vec<Contribution>,
    status: Status,
    last_tick: Option<DateTime<Utc>>,

    // The current episode: opened (or reopened) until resolved.
    episode_start: Option<DateTime<Utc>>,
    episode_messages: i64,
    episode_active: Duration,
    episode_person: bool,
    episode_ai: bool,
    /// A person works the conversation (replied or took over, not released since).
    engaged: bool,

    // First response.
    first_person_reply_done: bool,
    /// The AI wrote before the first person reply: the person's clock starts at the hand-off.
    ai_before_person: bool,
    first_customer_message: Option<DateTime<Utc>>,
    handoff_at: Option<DateTime<Utc>>,
    /// The first customer message since the last reply (AI or person).
    unanswered_since: Option<DateTime<Utc>>,

    // Next responses.
    waiting_since: Option<DateTime<Utc>>,

    // AI.
    ai_conversation: bool,
    handed_off: bool,

    // People.
    handled: BTreeSet<Uuid>,
    resolved_by: BTreeSet<Uuid>,
    last_resolver: Option<Uuid>,

    // CSAT: when the survey went out and to whose credit; whether it was answered.
    survey: Option<(DateTime<Utc>, Option<Uuid>)>,
    survey_answered: bool,
}

impl Walk {
    fn new(timeline: &Timeline) -> Self {
        let first = timeline.points().first().map(|p| p.at);
        let start = match (timeline.opened_at, first) {
            (Some(opened), Some(first)) => Some(opened.min(first)),
            (opened, first) => opened.or(first),
        };
        let mut walk = Walk {
            out: Vec::new(),
            status: Status::Active,
            last_tick: start,
            episode_start: start,
            episode_messages: 0,
            episode_active: Duration::zero(),
            episode_person: false,
            episode_ai: false,
            engaged: false,
            first_person_reply_done: false,
            ai_before_person: false,
            first_customer_message: None,
            handoff_at: None,
            unanswered_since: None,
            waiting_since: None,
            ai_conversation: false,
            handed_off: false,
            handled: BTreeSet::new(),
            resolved_by: BTreeSet::new(),
            last_resolver: None,
            survey: None,
            survey_answered: false,
        };
        if let Some(opened) = timeline.opened_at {
            walk.count(opened, Counter::NewConversations, None, timeline.opened_team);
        }
        walk
    }

    fn count(&mut self, at: DateTime<Utc>, counter: Counter, agent: Option<Uuid>, team: Option<Uuid>) {
        self.out.push(Contribution { at, metric: Metric::Count(counter), agent, team });
    }

    fn sample(&mut self, at: DateTime<Utc>, measure: Measure, value: f64, agent: Option<Uuid>, team: Option<Uuid>) {
        self.out.push(Contribution { at, metric: Metric::sample(measure, value), agent, team });
    }

    /// Time passes until `at`: a person engaged with an Active conversation is active time.
    fn tick(&mut self, at: DateTime<Utc>) {
        if let Some(last) = self.last_tick
            && at > last
            && self.engaged
            && self.status == Status::Active
        {
            self.episode_active += at - last;
        }
        if self.last_tick.is_none_or(|last| at > last) {
            self.last_tick = Some(at);
        }
    }

    /// A person begins handling the conversation (once per person).
    fn handles(&mut self, at: DateTime<Utc>, agent: Uuid, team: Option<Uuid>) {
        if self.handled.insert(agent) {
            self.count(at, Counter::Handled, Some(agent), team);
        }
    }

    fn handoff(&mut self, at: DateTime<Utc>, reason: HandoffReason, team: Option<Uuid>) {
        self.handoff_at.get_or_insert(at);
        if self.ai_conversation && !self.handed_off {
            self.handed_off = true;
            self.count(at, Counter::Handoffs, None, team);
            let by_reason = match reason {
                HandoffReason::LowConfidence => Counter::HandoffLowConfidence,
                HandoffReason::CustomerAsked => Counter::HandoffCustomerAsked,
                HandoffReason::ComplexIssue => Counter::HandoffComplexIssue,
                HandoffReason::TakenOver => Counter::HandoffTakenOver,
                HandoffReason::Other => Counter::HandoffOther,
            };
            self.count(at, by_reason, None, team);
        }
    }

    fn apply(&mut self, p: &Point, rules: &FoldRules) {
        let (at, team) = (p.at, p.team);
        match p.kind {
            PointKind::CustomerMessage { rating } => {
                self.count(at, Counter::CustomerMessages, None, team);
                if let (Some(score), Some((sent, agent))) = (rating, self.survey)
                    && !self.survey_answered
                    && at >= sent
                    && at - sent <= rules.survey_window
                    && let Some(counter) = Counter::csat(score)
                {
                    // The answer to the survey: no one is kept waiting by it.
                    self.survey_answered = true;
                    self.count(at, counter, agent, team);
                    return;
                }
                self.episode_messages += 1;
                self.first_customer_message.get_or_insert(at);
                self.unanswered_since.get_or_insert(at);
                if self.first_person_reply_done && self.waiting_since.is_none() {
                    self.waiting_since = Some(at);
                }
            }
            PointKind::AiReply { confidence } => {
                self.count(at, Counter::AiMessages, None, team);
                self.count(at, Counter::ai_confidence(confidence), None, team);
                if !self.ai_conversation {
                    self.ai_conversation = true;
                    self.count(at, Counter::AiConversations, None, team);
                }
                if !self.first_person_reply_done {
                    self.ai_before_person = true;
                }
                self.episode_ai = true;
                self.episode_messages += 1;
                // Answered, by the AI: not a person's response time.
                self.unanswered_since = None;
                self.waiting_since = None;
            }
            PointKind::PersonReply { agent } => {
                self.count(at, Counter::AgentMessages, Some(agent), team);
                self.episode_messages += 1;
                self.episode_person = true;
                self.engaged = true;
                self.handles(at, agent, team);
                if !self.first_person_reply_done {
                    self.first_person_reply_done = true;
                    let start = if self.ai_before_person {
                        Some(self.handoff_at.or(self.unanswered_since).unwrap_or(at))
                    } else {
                        self.first_customer_message
                    };
                    if let Some(start) = start.filter(|s| *s <= at) {
                        self.sample(at, Measure::FirstResponse, seconds(at - start), Some(agent), team);
                    }
                } else if let Some(since) = self.waiting_since {
                    self.sample(at, Measure::NextResponse, seconds(at - since), Some(agent), team);
                }
                self.waiting_since = None;
                self.unanswered_since = None;
            }
            PointKind::NeedsHuman { reason } => self.handoff(at, reason, team),
            PointKind::TakenOver { agent } => {
                self.handoff(at, HandoffReason::TakenOver, team);
                self.engaged = true;
                self.episode_person = true;
                if let Some(agent) = agent {
                    self.handles(at, agent, team);
                }
            }
            PointKind::ReleasedToAi => self.engaged = false,
            PointKind::Assigned { agent } => {
                if let Some(agent) = agent {
                    self.handles(at, agent, team);
                }
            }
            PointKind::Status { to, actor, .. } => self.change_status(p, to, actor),
            PointKind::SurveySent => {
                self.count(at, Counter::SurveysSent, self.last_resolver, team);
                self.survey = Some((at, self.last_resolver));
                self.survey_answered = false;
            }
            PointKind::Sla { outcome } => {
                let counter = match outcome {
                    SlaOutcome::Warning => Counter::SlaWarnings,
                    SlaOutcome::Breached => Counter::SlaBreaches,
                    SlaOutcome::Met => Counter::SlaMet,
                };
                self.count(at, counter, p.assignee, team);
            }
        }
    }

    fn change_status(&mut self, p: &Point, to: Status, actor: Actor) {
        let (at, team) = (p.at, p.team);
        let from = self.status;
        if to == Status::Resolved && from.is_open() {
            let resolver = match actor {
                Actor::Person(id) => Some(id),
                _ => p.assignee,
            };
            let started = self.episode_start.unwrap_or(at);
            self.count(at, Counter::Resolutions, resolver, team);
            self.sample(at, Measure::Resolution, seconds(at - started), resolver, team);
            self.sample(at, Measure::ActiveTime, seconds(self.episode_active), resolver, team);
            self.sample(at, Measure::MessagesPerResolution, self.episode_messages as f64, resolver, team);
            if self.episode_ai && !self.episode_person {
                self.count(at, Counter::AiResolvedWithoutPerson, resolver, team);
            }
            if let Some(person) = resolver {
                self.handles(at, person, team);
                if self.resolved_by.insert(person) {
                    self.count(at, Counter::ResolvedConversations, Some(person), team);
                }
            }
            self.last_resolver = resolver;
            self.engaged = false;
            self.waiting_since = None;
            self.unanswered_since = None;
        }
        if !from.is_open() && to.is_open() {
            self.count(at, Counter::Reopened, None, team);
            self.episode_start = Some(at);
            self.episode_messages = 0;
            self.episode_active = Duration::zero();
            self.episode_person = false;
            self.episode_ai = false;
        }
        self.status = to;
    }
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::figures::Figures;

    /// Builds hand-made timelines minute by minute from 09:00.
    struct Story {
        points: Vec<Point>,
        team: Option<Uuid>,
        assignee: Option<Uuid>,
    }

    fn t(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 4, 1, 9, 0, 0).unwrap() + Duration::minutes(minute)
    }

    impl Story {
        fn new() -> Self {
            Story { points: Vec::new(), team: None, assignee: None }
        }
        fn at(&mut self, minute: i64, kind: PointKind) -> &mut Self {
            let id = match kind {
                PointKind::CustomerMessage { .. } | PointKind::AiReply { .. } | PointKind::PersonReply { .. } => {
                    Uuid::now_v7()
                }
                _ => Uuid::nil(),
            };
            if let PointKind::Assigned { agent } | PointKind::TakenOver { agent } = kind {
                self.assignee = agent;
            }
            self.points.push(Point { at: t(minute), id, kind, team: self.team, assignee: self.assignee });
            self
        }
        fn customer(&mut self, minute: i64) -> &mut Self {
            self.at(minute, PointKind::CustomerMessage { rating: None })
        }
        fn rating(&mut self, minute: i64, score: u8) -> &mut Self {
            self.at(minute, PointKind::CustomerMessage { rating: Some(score) })
        }
        fn person(&mut self, minute: i64, agent: Uuid) -> &mut Self {
            self.at(minute, PointKind::PersonReply { agent })
        }
        fn ai(&mut self, minute: i64, confidence: f32) -> &mut Self {
            self.at(minute, PointKind::AiReply { confidence: Some(confidence) })
        }
        fn status(&mut self, minute: i64, from: Status, to: Status, actor: Actor) -> &mut Self {
            self.at(minute, PointKind::Status { from, to, actor })
        }
        fn timeline(&self) -> Timeline {
            Timeline::new(self.points.first().map(|p| p.at), None, self.points.clone())
        }
    }

    /// The figures a timeline adds to the tenant, and to one agent.
    fn totals(timeline: &Timeline, agent: Option<Uuid>) -> Figures {
        let mut f = Figures::default();
        for c in contributions(timeline, &FoldRules::default()) {
            if agent.is_none() || c.agent == agent {
                f.apply(c.metric, 1);
            }
        }
        f
    }

    fn only_sample(f: &Figures, m: Measure) -> f64 {
        let s = f.sketch(m);
        assert_eq!(s.count, 1, "{m:?}: {s:?}");
        s.sum_milli as f64 / 1000.0
    }

    #[test]
    fn first_response_runs_from_the_customer_first_message_to_the_first_person_reply() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0).customer(2).person(7, sarah).customer(10).person(14, sarah);
        let f = totals(&s.timeline(), None);
        assert_eq!(only_sample(&f, Measure::FirstResponse), 420.0);
        assert_eq!(only_sample(&f, Measure::NextResponse), 240.0);
        assert_eq!(f.count(Counter::CustomerMessages), 3);
        assert_eq!(f.count(Counter::AgentMessages), 2);
        assert_eq!(f.count(Counter::NewConversations), 1);
        let hers = totals(&s.timeline(), Some(sarah));
        assert_eq!(hers.sketch(Measure::FirstResponse).count, 1, "attributed to the replying person");
        assert_eq!(hers.count(Counter::Handled), 1);
        assert_eq!(hers.count(Counter::CustomerMessages), 0, "customer messages belong to no agent");
    }

    #[test]
    fn after_a_handoff_from_the_ai_the_person_clock_starts_at_the_handoff() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0)
            .ai(1, 0.9)
            .customer(3)
            .ai(4, 0.3)
            .at(4, PointKind::NeedsHuman { reason: HandoffReason::LowConfidence })
            .customer(6)
            .at(9, PointKind::TakenOver { agent: Some(sarah) })
            .person(12, sarah)
            .status(20, Status::Active, Status::Resolved, Actor::Person(sarah));
        let f = totals(&s.timeline(), None);
        assert_eq!(only_sample(&f, Measure::FirstResponse), 8.0 * 60.0, "from the flag at :04 to the reply at :12");
        assert_eq!(f.count(Counter::AiConversations), 1);
        assert_eq!(f.count(Counter::Handoffs), 1, "the take-over after the flag is the same hand-off");
        assert_eq!(f.count(Counter::HandoffLowConfidence), 1);
        assert_eq!(f.count(Counter::HandoffTakenOver), 0);
        assert_eq!(f.count(Counter::AiMessages), 2);
        assert_eq!(f.count(Counter::AiConfidence9), 1);
        assert_eq!(f.count(Counter::AiConfidence3), 1);
        assert_eq!(f.count(Counter::AiResolvedWithoutPerson), 0);
        // Engaged from the take-over at :09 to the resolve at :20.
        assert_eq!(only_sample(&f, Measure::ActiveTime), 11.0 * 60.0);
        assert_eq!(only_sample(&f, Measure::MessagesPerResolution), 6.0);
        let hers = totals(&s.timeline(), Some(sarah));
        assert_eq!(hers.count(Counter::Handled), 1, "take-over, reply and resolve: one conversation handled");
        assert_eq!(hers.count(Counter::ResolvedConversations), 1);
    }

    #[test]
    fn a_flag_raised_by_an_ai_message_of_the_same_instant_is_the_ai_conversation_s_handoff() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0)
            .at(1, PointKind::NeedsHuman { reason: HandoffReason::LowConfidence })
            .ai(1, 0.3)
            .at(4, PointKind::TakenOver { agent: Some(sarah) })
            .person(5, sarah);
        let f = totals(&s.timeline(), None);
        assert_eq!((f.count(Counter::Handoffs), f.count(Counter::HandoffLowConfidence)), (1, 1));
        assert_eq!(only_sample(&f, Measure::FirstResponse), 240.0, "from the flag at :01");
    }

    #[test]
    fn a_person_stepping_in_without_a_handoff_answers_the_customer_unanswered_wait() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0).ai(1, 0.8).customer(5).customer(6).person(15, sarah);
        let f = totals(&s.timeline(), None);
        assert_eq!(only_sample(&f, Measure::FirstResponse), 600.0, "from :05, the first message the AI left");
        assert_eq!(f.count(Counter::Handoffs), 0);
    }

    #[test]
    fn a_take_over_without_a_flag_is_a_handoff_of_its_own_reason() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0).ai(1, 0.8).at(3, PointKind::TakenOver { agent: Some(sarah) }).person(4, sarah);
        let f = totals(&s.timeline(), None);
        assert_eq!(only_sample(&f, Measure::FirstResponse), 60.0);
        assert_eq!((f.count(Counter::Handoffs), f.count(Counter::HandoffTakenOver)), (1, 1));
    }

    #[test]
    fn a_reopen_starts_a_new_resolution_clock_and_the_resolver_is_credited_each_time_once() {
        let (sarah, tom) = (Uuid::now_v7(), Uuid::now_v7());
        let mut s = Story::new();
        s.customer(0)
            .person(5, sarah)
            .status(30, Status::Active, Status::Resolved, Actor::Person(sarah))
            .customer(100)
            .status(100, Status::Resolved, Status::Active, Actor::Customer)
            .person(110, tom)
            .status(130, Status::Active, Status::Resolved, Actor::Person(sarah));
        let f = totals(&s.timeline(), None);
        let resolution = f.sketch(Measure::Resolution);
        assert_eq!(resolution.count, 2);
        assert_eq!(resolution.sum_milli, (30 + 30) * 60 * 1000, "0→30 and the reopen at 100 → 130");
        assert_eq!(f.count(Counter::Reopened), 1);
        assert_eq!(f.count(Counter::Resolutions), 2);
        assert_eq!(only_sample(&f, Measure::NextResponse), 600.0, "the customer's wait after the reopen");
        let hers = totals(&s.timeline(), Some(sarah));
        assert_eq!(hers.count(Counter::Resolutions), 2);
        assert_eq!(hers.count(Counter::ResolvedConversations), 1, "one conversation, resolved twice");
        let his = totals(&s.timeline(), Some(tom));
        assert_eq!((his.count(Counter::Handled), his.count(Counter::ResolvedConversations)), (1, 0));
        // Messages per resolution: 2 in the first episode, 2 in the second.
        assert_eq!(f.sketch(Measure::MessagesPerResolution).sum_milli, 4000);
    }

    #[test]
    fn a_pending_pause_counts_in_resolution_time_but_not_in_active_time() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0)
            .person(10, sarah)
            .status(70, Status::Active, Status::Pending, Actor::Other)
            .customer(130)
            .status(130, Status::Pending, Status::Active, Actor::Customer)
            .person(140, sarah)
            .status(150, Status::Active, Status::Resolved, Actor::Person(sarah));
        let f = totals(&s.timeline(), None);
        assert_eq!(only_sample(&f, Measure::Resolution), 150.0 * 60.0);
        // Engaged from :10; Active :10–:70 and :130–:150.
        assert_eq!(only_sample(&f, Measure::ActiveTime), 80.0 * 60.0);
        assert_eq!(f.count(Counter::Reopened), 0, "Pending is still open: no reopen");
        assert_eq!(only_sample(&f, Measure::NextResponse), 600.0);
    }

    #[test]
    fn facts_delivered_twice_and_out_of_order_give_the_same_figures() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0)
            .ai(1, 0.5)
            .at(2, PointKind::NeedsHuman { reason: HandoffReason::CustomerAsked })
            .person(6, sarah)
            .customer(8)
            .person(9, sarah)
            .status(20, Status::Active, Status::Resolved, Actor::Person(sarah));
        let in_order = s.timeline();
        let mut shuffled = Timeline::default();
        let mut points = s.points.clone();
        points.reverse();
        points.rotate_left(3);
        for p in points.iter().chain(s.points.iter()) {
            shuffled.insert(*p);
        }
        shuffled.set_opened(t(0), None);
        assert_eq!(shuffled, in_order);
        assert_eq!(contributions(&shuffled, &FoldRules::default()), contributions(&in_order, &FoldRules::default()));
    }

    #[test]
    fn a_rating_after_the_survey_counts_once_for_the_resolver_and_keeps_nobody_waiting() {
        let (sarah, tom) = (Uuid::now_v7(), Uuid::now_v7());
        let mut s = Story::new();
        s.customer(0)
            .person(3, tom)
            .person(4, sarah)
            .status(10, Status::Active, Status::Resolved, Actor::Person(sarah))
            .at(11, PointKind::SurveySent)
            .rating(15, 4)
            .rating(16, 1);
        let f = totals(&s.timeline(), None);
        assert_eq!((f.count(Counter::SurveysSent), f.count(Counter::Csat4), f.count(Counter::Csat1)), (1, 1, 0));
        assert_eq!(f.sketch(Measure::NextResponse).count, 0);
        let hers = totals(&s.timeline(), Some(sarah));
        assert_eq!(hers.count(Counter::Csat4), 1, "credited to the person who resolved");
        assert_eq!(totals(&s.timeline(), Some(tom)).count(Counter::Csat4), 0);
    }

    #[test]
    fn a_number_before_any_survey_or_after_its_window_is_just_a_message() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.rating(0, 5)
            .person(3, sarah)
            .status(10, Status::Active, Status::Resolved, Actor::Person(sarah))
            .at(11, PointKind::SurveySent)
            .rating(11 + 4 * 24 * 60, 5);
        let f = totals(&s.timeline(), None);
        assert_eq!(f.count(Counter::Csat5), 0);
        assert_eq!(f.count(Counter::CustomerMessages), 2);
        assert_eq!(only_sample(&f, Measure::FirstResponse), 180.0);
    }

    #[test]
    fn an_ai_only_episode_resolved_by_a_click_counts_as_resolved_without_a_person() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0).ai(1, 0.95).status(5, Status::Active, Status::Resolved, Actor::Person(sarah));
        let f = totals(&s.timeline(), None);
        assert_eq!(f.count(Counter::AiResolvedWithoutPerson), 1);
        assert_eq!(f.sketch(Measure::FirstResponse).count, 0, "no person replied");
        assert_eq!(only_sample(&f, Measure::ActiveTime), 0.0);
    }

    #[test]
    fn a_resolve_by_a_rule_or_bulk_action_credits_the_assignee() {
        let sarah = Uuid::now_v7();
        let mut s = Story::new();
        s.customer(0).at(1, PointKind::Assigned { agent: Some(sarah) }).person(2, sarah).status(
            9,
            Status::Active,
            Status::Resolved,
            Actor::Other,
        );
        let hers = totals(&s.timeline(), Some(sarah));
        assert_eq!((hers.count(Counter::Resolutions), hers.count(Counter::Handled)), (1, 1));
    }

    #[test]
    fn sla_events_count_for_the_assignee_and_team() {
        let (sarah, team) = (Uuid::now_v7(), Uuid::now_v7());
        let mut s = Story::new();
        s.team = Some(team);
        s.customer(0).at(1, PointKind::Assigned { agent: Some(sarah) });
        s.at(5, PointKind::Sla { outcome: SlaOutcome::Warning })
            .at(9, PointKind::Sla { outcome: SlaOutcome::Breached });
        let c = contributions(&s.timeline(), &FoldRules::default());
        let breach = c.iter().find(|c| c.metric == Metric::Count(Counter::SlaBreaches)).unwrap();
        assert_eq!((breach.agent, breach.team), (Some(sarah), Some(team)));
    }
}
