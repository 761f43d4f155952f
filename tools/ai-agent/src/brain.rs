//! What the reference AI says: rules over the customer's latest words, with a confidence. Pure:
//! the conversation so far in, an answer (or silence) out.
//!
//! The conversation service decides the hand-off from what the AI sends: a confidence below the
//! tenant's threshold (0.6 by default), a flagged complex issue, or a customer asking for a
//! person all set "needs human". So "hands off when unsure" is simply an honest, low confidence.

/// Who wrote a message, as the AI needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaker {
    Customer,
    Ai,
    /// A person of the team: once one has written, the AI stays out.
    Agent,
    /// The inbox itself (the hand-off message, for one).
    System,
}

impl Speaker {
    /// `sender_kind` of the REST API and the live frames.
    pub fn of_sender_kind(kind: &str) -> Speaker {
        match kind {
            "customer" => Speaker::Customer,
            "ai" => Speaker::Ai,
            "agent" => Speaker::Agent,
            _ => Speaker::System,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub from: Speaker,
    pub text: String,
}

impl Turn {
    #[cfg(test)]
    pub fn new(from: Speaker, text: &str) -> Turn {
        Turn { from, text: text.to_owned() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    /// 0..1: how sure the AI is that this answers the customer.
    pub confidence: f32,
    /// Set when the AI recognises an issue it must not handle itself (a complex issue).
    pub complex_reason: Option<String>,
}

impl Answer {
    fn sure(text: impl Into<String>, confidence: f32) -> Answer {
        Answer { text: text.into(), confidence, complex_reason: None }
    }

    /// Whether this answer hands the conversation to a person.
    pub fn hands_off(&self, threshold: f32) -> bool {
        self.confidence < threshold || self.complex_reason.is_some()
    }
}

/// The first words of every hand-off the AI writes: a later customer message in a conversation
/// already handed off gets no second one.
pub const HANDOFF_OPENING: &str = "I'm passing you to a colleague";

/// Words by which customers ask for a person (the conversation service flags them too).
const WANTS_PERSON: &[&str] = &[
    "real person",
    "human",
    "representative",
    "talk to someone",
    "speak to someone",
    "speak to a person",
    "talk to a person",
    "an agent",
    "a manager",
    "operator",
];

/// Issues the AI recognises and must not decide on: (words, reason).
const COMPLEX: &[(&[&str], &str)] = &[
    (&["damaged", "broken", "arrived cracked", "smashed"], "damaged item"),
    (&["charged twice", "double charge", "charged two times", "wrong amount"], "billing dispute"),
    (&["fraud", "stolen", "hacked", "unauthorised", "unauthorized"], "security concern"),
    (&["lawyer", "legal action", "complaint"], "formal complaint"),
    (&["wrong item", "wrong size", "not what i ordered"], "wrong item shipped"),
];

/// Questions the AI can answer: (words, answer, confidence).
const INTENTS: &[(&[&str], &str, f32)] = &[
    (
        &["password", "log in", "login", "sign in", "locked out", "can't access"],
        "You can reset your password from the sign-in page with \"Forgot password\": the link in the email is valid for 30 minutes. If the email does not arrive, check your spam folder.",
        0.9,
    ),
    (
        &["opening hours", "open on", "are you open", "business hours", "when do you close"],
        "Our team is here Monday to Friday, 8:00 to 18:00, and Saturday 9:00 to 13:00. I answer around the clock.",
        0.93,
    ),
    (
        &["refund", "return", "send it back", "money back"],
        "You can return any item within 30 days, unused and in its box: start the return from \"My orders\" and we email you a prepaid label. The refund reaches your card 3 to 5 business days after the parcel arrives.",
        0.8,
    ),
    (
        &["cancel", "cancellation", "unsubscribe"],
        "Orders can be cancelled free of charge until they ship, from \"My orders\". A subscription can be cancelled any time in your account settings, and stays active until the end of the paid period.",
        0.74,
    ),
    (
        &["change my address", "change the address", "shipping address", "delivery address", "wrong address"],
        "I can change the delivery address while the order has not shipped yet. Please send me the order number and the new address.",
        0.7,
    ),
    (
        &["price", "pricing", "cost", "discount", "coupon", "plan"],
        "Our plans start at 19 € a month (Starter), 49 € (Team) and 99 € (Business), all with a 14-day free trial. New customers get 10% off the first order with the code WELCOME10.",
        0.8,
    ),
    (
        &[
            "where is my order",
            "my order",
            "tracking",
            "delivery",
            "deliver",
            "arrive",
            "parcel",
            "package",
            "shipped",
            "not arrived",
        ],
        "Orders ship within 1 to 2 business days and arrive 3 to 5 days later; the tracking link is in your shipping confirmation email. If you send me your order number, I can tell you where it is.",
        0.78,
    ),
];

const THANKS: &[&str] = &["thank", "thanks", "that's all", "that is all", "perfect", "great, bye", "cheers"];
const GREETINGS: &[&str] = &["hi", "hello", "hey", "good morning", "good afternoon", "bonjour", "hola"];

/// The AI's answer to the conversation so far, or `None` when it should stay silent: the last
/// word is not the customer's, a person of the team has written, or it already handed off.
pub fn answer(history: &[Turn], first_name: &str) -> Option<Answer> {
    let last = history.last()?;
    if last.from != Speaker::Customer {
        return None;
    }
    if history.iter().any(|t| t.from == Speaker::Agent) {
        return None;
    }
    let ours: Vec<&Turn> = history.iter().filter(|t| t.from == Speaker::Ai).collect();
    if ours.iter().any(|t| t.text.starts_with(HANDOFF_OPENING)) {
        return None;
    }
    let said = normalise(&last.text);
    let name = if first_name.is_empty() { String::new() } else { format!(" {first_name}") };

    if WANTS_PERSON.iter().any(|w| said.contains(w)) {
        return Some(Answer::sure(
            format!("{HANDOFF_OPENING} right away{name}: a member of our team will answer here in a moment."),
            0.2,
        ));
    }
    if let Some((_, reason)) = COMPLEX.iter().find(|(words, _)| words.iter().any(|w| said.contains(w))) {
        return Some(Answer {
            text: format!(
                "{HANDOFF_OPENING}: I'm sorry about this{name}, and a member of our team needs to look into it personally. They will answer here shortly."
            ),
            confidence: 0.45,
            complex_reason: Some((*reason).to_owned()),
        });
    }
    if let Some(order) = order_number(&last.text) {
        return Some(Answer::sure(
            format!(
                "Thanks{name}! Order #{order} left our warehouse and is with the carrier: it should reach you within 2 business days. You'll get an email with the tracking link."
            ),
            0.76,
        ));
    }
    if let Some((_, text, confidence)) = INTENTS.iter().find(|(words, _, _)| words.iter().any(|w| said.contains(w))) {
        return Some(Answer::sure(*text, *confidence));
    }
    if THANKS.iter().any(|w| said.contains(w)) {
        return Some(Answer::sure(format!("You're welcome{name}! Have a lovely day."), 0.95));
    }
    if is_greeting(&said) {
        return Some(Answer::sure(format!("Hello{name}! How can I help you today?"), 0.9));
    }
    // Not understood: ask once, then hand off.
    let asked_before = ours.iter().any(|t| t.text.starts_with(CLARIFY));
    if asked_before {
        return Some(Answer::sure(
            format!("{HANDOFF_OPENING} who can help with this{name}: they will answer here shortly."),
            0.3,
        ));
    }
    Some(Answer::sure(format!("{CLARIFY}{name}: is it about an order, a return, your account or our plans?"), 0.62))
}

const CLARIFY: &str = "Could you tell me a little more";

fn normalise(text: &str) -> String {
    text.to_lowercase().replace(['’', '‘'], "'")
}

fn is_greeting(said: &str) -> bool {
    let words: Vec<&str> = said.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.len() <= 4 && GREETINGS.iter().any(|g| said.starts_with(g))
}

/// An order number the customer gave: `#` followed by digits, or a run of 5 to 10 digits
/// that is not a phone number (no `+` before it).
fn order_number(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit()) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            let marked = start > 0 && chars[start - 1] == '#';
            let phone = start > 0 && chars[start - 1] == '+';
            if !phone && (marked && digits.len() >= 3 || (5..=10).contains(&digits.len())) {
                return Some(digits);
            }
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(text: &str) -> Vec<Turn> {
        vec![Turn::new(Speaker::Customer, text)]
    }

    #[test]
    fn a_known_question_is_answered_with_confidence_above_the_threshold() {
        let a = answer(&customer("Hi, where is my order? It has not arrived"), "Ana").unwrap();
        assert!(a.text.contains("tracking"), "{}", a.text);
        assert!(!a.hands_off(0.6));
        let a = answer(&customer("How do I reset my password?"), "").unwrap();
        assert!(a.confidence >= 0.9);
    }

    #[test]
    fn asking_for_a_person_hands_off_at_once() {
        let a = answer(&customer("Can I talk to a real person please"), "Ana").unwrap();
        assert!(a.text.starts_with(HANDOFF_OPENING));
        assert!(a.hands_off(0.6));
    }

    #[test]
    fn a_complex_issue_is_flagged_with_its_reason() {
        let a = answer(&customer("The vase arrived broken!!"), "").unwrap();
        assert_eq!(a.complex_reason.as_deref(), Some("damaged item"));
        assert!(a.hands_off(0.6));
    }

    #[test]
    fn not_understood_asks_once_then_hands_off() {
        let mut history = customer("blue elephant");
        let first = answer(&history, "").unwrap();
        assert!(first.text.starts_with(CLARIFY));
        assert!(!first.hands_off(0.6));
        history.push(Turn::new(Speaker::Ai, &first.text));
        history.push(Turn::new(Speaker::Customer, "purple giraffe"));
        let second = answer(&history, "").unwrap();
        assert!(second.hands_off(0.6));
    }

    #[test]
    fn silent_when_we_spoke_last_a_person_wrote_or_it_already_handed_off() {
        let mut history = customer("hello");
        history.push(Turn::new(Speaker::Ai, "Hello! How can I help you today?"));
        assert_eq!(answer(&history, ""), None);

        let with_agent = vec![
            Turn::new(Speaker::Customer, "hello"),
            Turn::new(Speaker::Agent, "Hi, Sarah here"),
            Turn::new(Speaker::Customer, "where is my order"),
        ];
        assert_eq!(answer(&with_agent, ""), None);

        let handed_off = vec![
            Turn::new(Speaker::Customer, "human please"),
            Turn::new(Speaker::Ai, &format!("{HANDOFF_OPENING} right away")),
            Turn::new(Speaker::Customer, "hello??"),
        ];
        assert_eq!(answer(&handed_off, ""), None);
        assert_eq!(answer(&[], ""), None);
    }

    #[test]
    fn order_numbers_are_found_and_phone_numbers_are_not() {
        assert_eq!(order_number("it's #4821"), Some("4821".into()));
        assert_eq!(order_number("order 1029384 please"), Some("1029384".into()));
        assert_eq!(order_number("call me on +4915112345678"), None);
        assert_eq!(order_number("I have 2 items"), None);
        let a = answer(&customer("My order is #55123"), "Li").unwrap();
        assert!(a.text.contains("#55123"));
    }

    #[test]
    fn thanks_and_greetings() {
        assert!(answer(&customer("Thanks a lot, that's all"), "Ana").unwrap().text.starts_with("You're welcome Ana"));
        assert!(answer(&customer("Hello!"), "").unwrap().text.starts_with("Hello!"));
    }
}
