//! What new customer messages do to their conversation: the rule the store applies to every
//! stored inbound message, one by one or a batch at a time.
//!
//! - The newest message, if it is the conversation's latest (or the conversation is new), sets
//!   the preview, and the customer becomes who spoke last.
//! - The customer's last message time moves to the newest message; the wait for an answer
//!   starts at the first unanswered message and keeps running.
//! - The status follows the tenant's rules (Pending becomes Active again; Resolved and Archived
//!   reopen unless the tenant turned reopening off).
//! - Each message may raise the priority (never lower it, never over a person's choice).
//! - A customer asking for a person while the AI handles the conversation flags it "needs
//!   human", once.
//! - The answer to the CSAT survey is not a new request: when a Resolved conversation's last
//!   message to the customer is the survey and every new message reads as a rating within the
//!   survey's window (`inbox_csat`, the rule the metrics service records answers by), the
//!   conversation stays Resolved and no wait starts.

use chrono::{DateTime, Utc};
use inbox_csat::within_survey_window;

use super::ai::{Handler, asks_for_person};
use super::{Priority, PriorityRules, PrioritySource, Status, StatusRules, preview};

/// The parts of a conversation that customer messages change, as they stand before them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationState<'a> {
    /// Opened for these messages: it has no message of its own yet.
    pub is_new: bool,
    pub status: Status,
    pub priority: Priority,
    pub priority_source: PrioritySource,
    /// The customer's segment (`vip`, ...), which may make a message urgent.
    pub segment: &'a str,
    pub handled_by: Handler,
    pub needs_human: bool,
    pub last_message_at: DateTime<Utc>,
    pub last_customer_message_at: Option<DateTime<Utc>>,
    pub waiting_since: Option<DateTime<Utc>>,
    /// When the CSAT survey was sent, if it is the last message we sent the customer.
    pub survey_sent_at: Option<DateTime<Utc>>,
}

/// A new message from the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerMessage<'a> {
    pub sent_at: DateTime<Utc>,
    /// Its plain text.
    pub body: &'a str,
    /// The rating it reads as (`inbox_csat::rating_of_content`); only asked for when a survey
    /// awaits its answer.
    pub rating: Option<u8>,
}

/// What the conversation becomes after the customer's new messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterCustomerMessages {
    /// The new preview, the customer now having spoken last; `None` when every new message is
    /// older than the conversation's latest (preview and last speaker stay).
    pub preview: Option<String>,
    pub last_message_at: DateTime<Utc>,
    pub last_customer_message_at: DateTime<Utc>,
    /// Since when the customer waits for us; as it was for an answer to the survey.
    pub waiting_since: Option<DateTime<Utc>>,
    pub status: Status,
    /// A raised priority and why; `None` when it stays.
    pub priority: Option<(Priority, String)>,
    /// Whether the conversation becomes "needs human" (it was not before).
    pub needs_human: bool,
}

/// The conversation `before` after the customer's new `messages` (in the order they were sent;
/// at least one), under the tenant's rules.
pub fn after_customer_messages(
    before: &ConversationState<'_>,
    messages: &[CustomerMessage<'_>],
    status_rules: &StatusRules,
    priority_rules: &PriorityRules,
) -> AfterCustomerMessages {
    let newest = messages.iter().max_by_key(|m| m.sent_at);
    let newest_at = newest.map_or(before.last_message_at, |m| m.sent_at);
    let earliest_at = messages.iter().map(|m| m.sent_at).min().unwrap_or(newest_at);
    let answers_survey = answers_survey(before, messages);
    let preview = newest.filter(|m| before.is_new || m.sent_at >= before.last_message_at).map(|m| preview(m.body));

    let mut level = before.priority;
    let mut priority = None;
    for message in messages {
        if let Some((proposed, reason)) = priority_rules.assess(message.body, before.segment)
            && PriorityRules::may_raise(level, before.priority_source, proposed)
        {
            level = proposed;
            priority = Some((proposed, reason));
        }
    }

    AfterCustomerMessages {
        preview,
        last_message_at: before.last_message_at.max(newest_at),
        last_customer_message_at: before.last_customer_message_at.map_or(newest_at, |t| t.max(newest_at)),
        waiting_since: if answers_survey {
            before.waiting_since
        } else {
            Some(before.waiting_since.unwrap_or(earliest_at))
        },
        status: if answers_survey { before.status } else { status_rules.after_customer_message(before.status) },
        priority,
        needs_human: !before.needs_human
            && before.handled_by == Handler::Ai
            && messages.iter().any(|m| asks_for_person(m.body)),
    }
}

/// Whether `messages` are the customer's answer to the CSAT survey of a Resolved conversation:
/// each reads as a rating and arrives within the survey's window.
fn answers_survey(before: &ConversationState<'_>, messages: &[CustomerMessage<'_>]) -> bool {
    before.status == Status::Resolved
        && before.survey_sent_at.is_some_and(|sent| {
            !messages.is_empty() && messages.iter().all(|m| m.rating.is_some() && within_survey_window(sent, m.sent_at))
        })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2031, 3, 4, 9, 0, 0).unwrap() + Duration::minutes(minute)
    }

    /// A conversation answered by an agent at minute 10, the customer having last written at 5.
    fn answered() -> ConversationState<'static> {
        ConversationState {
            is_new: false,
            status: Status::Active,
            priority: Priority::Normal,
            priority_source: PrioritySource::Default,
            segment: "",
            handled_by: Handler::Ai,
            needs_human: false,
            last_message_at: at(10),
            last_customer_message_at: Some(at(5)),
            waiting_since: None,
            survey_sent_at: None,
        }
    }

    fn says(minute: i64, body: &str) -> CustomerMessage<'_> {
        CustomerMessage { sent_at: at(minute), body, rating: inbox_csat::parse_rating(body) }
    }

    fn apply(before: &ConversationState<'_>, messages: &[CustomerMessage<'_>]) -> AfterCustomerMessages {
        after_customer_messages(before, messages, &StatusRules::default(), &PriorityRules::default())
    }

    #[test]
    fn a_new_message_takes_the_preview_and_starts_the_wait() {
        let after = apply(&answered(), &[says(20, "where is my parcel?")]);
        assert_eq!(after.preview.as_deref(), Some("where is my parcel?"));
        assert_eq!(
            (after.last_message_at, after.last_customer_message_at, after.waiting_since),
            (at(20), at(20), Some(at(20)))
        );
        assert_eq!(after.status, Status::Active);
        assert_eq!((after.priority, after.needs_human), (None, false));
    }

    #[test]
    fn a_message_that_arrives_late_leaves_the_newer_preview_but_counts_as_the_customers() {
        let after = apply(&answered(), &[says(7, "and another thing")]);
        assert_eq!(after.preview, None);
        assert_eq!(after.last_message_at, at(10));
        assert_eq!(after.last_customer_message_at, at(7));
        // A new conversation's first messages always set the preview.
        let new = ConversationState { is_new: true, last_message_at: at(7), ..answered() };
        assert_eq!(apply(&new, &[says(7, "hi")]).preview.as_deref(), Some("hi"));
    }

    #[test]
    fn the_wait_starts_at_the_first_unanswered_message_and_keeps_running() {
        let after = apply(&answered(), &[says(30, "hello?"), says(20, "hi"), says(40, "anyone?")]);
        assert_eq!(after.preview.as_deref(), Some("anyone?"));
        assert_eq!((after.waiting_since, after.last_customer_message_at), (Some(at(20)), at(40)));
        let waiting = ConversationState { waiting_since: Some(at(12)), ..answered() };
        assert_eq!(apply(&waiting, &[says(50, "still there?")]).waiting_since, Some(at(12)));
        // The customer's last message time never goes back.
        let later = ConversationState { last_customer_message_at: Some(at(60)), ..answered() };
        assert_eq!(apply(&later, &[says(50, "late")]).last_customer_message_at, at(60));
    }

    #[test]
    fn a_resolved_conversation_reopens_unless_the_tenant_turned_reopening_off() {
        let resolved = ConversationState { status: Status::Resolved, ..answered() };
        assert_eq!(apply(&resolved, &[says(20, "one more thing")]).status, Status::Active);
        let keep = StatusRules { reopen_on_customer_message: false, ..StatusRules::default() };
        let after = after_customer_messages(&resolved, &[says(20, "thanks")], &keep, &PriorityRules::default());
        assert_eq!(after.status, Status::Resolved);
        let pending = ConversationState { status: Status::Pending, ..answered() };
        assert_eq!(apply(&pending, &[says(20, "it's 1234")]).status, Status::Active);
    }

    #[test]
    fn messages_raise_the_priority_but_never_over_a_persons_choice() {
        let after = apply(&answered(), &[says(20, "I want a refund"), says(21, "your site is down")]);
        assert_eq!(after.priority, Some((Priority::Urgent, "auto: keyword 'down'".into())));
        let vip = ConversationState { segment: "vip", ..answered() };
        assert_eq!(apply(&vip, &[says(20, "hello")]).priority, Some((Priority::Urgent, "auto: VIP customer".into())));
        let urgent = ConversationState { priority: Priority::Urgent, ..answered() };
        assert_eq!(apply(&urgent, &[says(20, "I want a refund")]).priority, None, "never lowered");
        let set_by_a_person =
            ConversationState { priority: Priority::Low, priority_source: PrioritySource::Manual, ..answered() };
        assert_eq!(apply(&set_by_a_person, &[says(20, "the app is down")]).priority, None);
    }

    #[test]
    fn asking_for_a_person_flags_an_ai_conversation_once() {
        let asks = [says(20, "can I talk to a real person?")];
        assert!(apply(&answered(), &asks).needs_human);
        let flagged = ConversationState { needs_human: true, ..answered() };
        assert!(!apply(&flagged, &asks).needs_human, "already flagged");
        let human = ConversationState { handled_by: Handler::Human, ..answered() };
        assert!(!apply(&human, &asks).needs_human, "a person handles it already");
        assert!(!apply(&answered(), &[says(20, "thanks!")]).needs_human);
    }

    #[test]
    fn a_rating_answering_the_survey_keeps_a_resolved_conversation_resolved() {
        // Resolved at minute 15, the survey sent at 16.
        let surveyed = ConversationState { status: Status::Resolved, survey_sent_at: Some(at(16)), ..answered() };
        let after = apply(&surveyed, &[says(20, "5")]);
        assert_eq!((after.status, after.waiting_since), (Status::Resolved, None), "no one waits for an answer");
        assert_eq!(after.preview.as_deref(), Some("5"));
        assert_eq!(after.last_customer_message_at, at(20));
        let tapped = CustomerMessage { sent_at: at(21), body: "😀 Great", rating: Some(5) };
        assert_eq!(apply(&surveyed, &[says(20, "excellent"), tapped]).status, Status::Resolved);
    }

    #[test]
    fn anything_but_a_rating_in_the_window_after_the_survey_reopens_as_before() {
        let surveyed = ConversationState { status: Status::Resolved, survey_sent_at: Some(at(16)), ..answered() };
        assert_eq!(apply(&surveyed, &[says(20, "my parcel still has not arrived")]).status, Status::Active);
        assert_eq!(apply(&surveyed, &[says(20, "5"), says(21, "but where is my refund?")]).status, Status::Active);
        let late = says(16 + 3 * 24 * 60 + 1, "5");
        assert_eq!(apply(&surveyed, &[late]).status, Status::Active, "after the survey's window");
        let unsurveyed = ConversationState { status: Status::Resolved, ..answered() };
        assert_eq!(apply(&unsurveyed, &[says(20, "5")]).status, Status::Active, "no survey asked for it");
        let reopened = ConversationState { status: Status::Active, ..surveyed.clone() };
        assert_eq!(apply(&reopened, &[says(20, "5")]).waiting_since, Some(at(20)), "an open one waits as ever");
    }
}
