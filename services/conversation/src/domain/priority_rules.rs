//! Automatic prioritisation of inbound customer messages, and how it meets manual overrides.
//!
//! A customer message is scored by, in this order (first match wins, highest priority first):
//! - an urgency keyword of the tenant, as a whole word ("outage", "down"...) → urgent,
//!   reason `auto: keyword 'outage'`;
//! - the customer's segment being one the tenant marks urgent (VIP) → urgent,
//!   reason `auto: VIP customer`;
//! - strongly negative sentiment (angry words, shouting) → high, `auto: negative sentiment`;
//! - an issue type that is time-sensitive (billing, refund, cancellation, security) → high,
//!   `auto: issue type 'billing'`.
//!
//! Automatic prioritisation only raises a conversation's priority, never lowers it, and never
//! touches a priority a person set: a manual override sticks until a person changes it.

use super::Priority;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityRules {
    pub urgent_keywords: Vec<String>,
    pub urgent_segments: Vec<String>,
}

impl Default for PriorityRules {
    fn default() -> Self {
        Self {
            urgent_keywords: ["outage", "down", "emergency", "urgent", "asap", "security breach", "hacked"]
                .map(String::from)
                .to_vec(),
            urgent_segments: vec!["vip".into()],
        }
    }
}

/// Words of strongly negative sentiment.
const NEGATIVE_WORDS: [&str; 12] = [
    "angry",
    "furious",
    "terrible",
    "horrible",
    "worst",
    "unacceptable",
    "ridiculous",
    "disgusting",
    "awful",
    "scam",
    "useless",
    "disappointed",
];

/// Time-sensitive issue types and the words that reveal them.
const ISSUE_TYPES: [(&str, &[&str]); 4] = [
    ("billing", &["charged", "invoice", "billing", "overcharged", "payment"]),
    ("refund", &["refund", "money back", "chargeback"]),
    ("cancellation", &["cancel", "cancellation", "unsubscribe"]),
    ("security", &["password", "fraud", "unauthorized", "unauthorised"]),
];

/// How a conversation's priority was last set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrioritySource {
    Default,
    Auto,
    Manual,
}

impl PrioritySource {
    pub fn as_str(self) -> &'static str {
        match self {
            PrioritySource::Default => "default",
            PrioritySource::Auto => "auto",
            PrioritySource::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PrioritySource::Default, PrioritySource::Auto, PrioritySource::Manual].into_iter().find(|v| v.as_str() == s)
    }
}

impl Priority {
    /// Higher is more important.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Urgent => 3,
            Priority::High => 2,
            Priority::Normal => 1,
            Priority::Low => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

impl PriorityRules {
    /// The priority a customer message calls for, with its reason; `None` when nothing stands out.
    pub fn assess(&self, text: &str, segment: &str) -> Option<(Priority, String)> {
        let lowered = text.to_lowercase();
        if let Some(keyword) = self.urgent_keywords.iter().find(|k| contains_phrase(&lowered, &k.to_lowercase())) {
            return Some((Priority::Urgent, format!("auto: keyword '{keyword}'")));
        }
        if !segment.is_empty() && self.urgent_segments.iter().any(|s| s.eq_ignore_ascii_case(segment)) {
            return Some((Priority::Urgent, format!("auto: {} customer", segment.to_uppercase())));
        }
        if is_negative(text, &lowered) {
            return Some((Priority::High, "auto: negative sentiment".into()));
        }
        ISSUE_TYPES
            .iter()
            .find(|(_, words)| words.iter().any(|w| contains_phrase(&lowered, w)))
            .map(|(issue, _)| (Priority::High, format!("auto: issue type '{issue}'")))
    }

    /// Whether an automatic assessment may replace the current priority.
    pub fn may_raise(current: Priority, source: PrioritySource, proposed: Priority) -> bool {
        source != PrioritySource::Manual && proposed.rank() > current.rank()
    }
}

fn is_negative(original: &str, lowered: &str) -> bool {
    let shouting = {
        let letters: Vec<char> = original.chars().filter(|c| c.is_alphabetic()).collect();
        letters.len() >= 12 && letters.iter().all(|c| c.is_uppercase())
    };
    shouting || original.contains("!!!") || NEGATIVE_WORDS.iter().any(|w| contains_phrase(lowered, w))
}

/// Whether `phrase` occurs in `text` on word boundaries ("down" is in "site is down", not in
/// "download").
fn contains_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let is_word = |c: char| c.is_alphanumeric();
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[at + phrase.len()..].chars().next().is_none_or(|c| !is_word(c));
        before && after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_urgency_keyword_makes_it_urgent_and_says_which() {
        let rules = PriorityRules::default();
        assert_eq!(
            rules.assess("Your whole service is DOWN since 9am", ""),
            Some((Priority::Urgent, "auto: keyword 'down'".into()))
        );
        assert_eq!(rules.assess("We have an outage.", "").map(|(p, _)| p), Some(Priority::Urgent));
    }

    #[test]
    fn keywords_match_whole_words_only() {
        let rules = PriorityRules::default();
        assert_eq!(rules.assess("Where can I download the app?", ""), None);
    }

    #[test]
    fn a_vip_customer_is_urgent() {
        let rules = PriorityRules::default();
        assert_eq!(rules.assess("hello there", "VIP"), Some((Priority::Urgent, "auto: VIP customer".into())));
    }

    #[test]
    fn negative_sentiment_and_shouting_are_high() {
        let rules = PriorityRules::default();
        assert_eq!(rules.assess("This is unacceptable", "").map(|(p, _)| p), Some(Priority::High));
        assert_eq!(
            rules.assess("WHY IS NOBODY ANSWERING ME", "").map(|(_, r)| r),
            Some("auto: negative sentiment".into())
        );
        assert_eq!(rules.assess("hello!!!", "").map(|(p, _)| p), Some(Priority::High));
    }

    #[test]
    fn time_sensitive_issue_types_are_high() {
        let rules = PriorityRules::default();
        assert_eq!(
            rules.assess("I want a refund for order 12", ""),
            Some((Priority::High, "auto: issue type 'refund'".into()))
        );
        assert_eq!(rules.assess("I was charged twice", "").map(|(_, r)| r), Some("auto: issue type 'billing'".into()));
    }

    #[test]
    fn an_ordinary_question_is_left_alone() {
        assert_eq!(PriorityRules::default().assess("What are your opening hours?", ""), None);
    }

    #[test]
    fn automatic_priority_only_rises_and_never_overrides_a_person() {
        assert!(PriorityRules::may_raise(Priority::Normal, PrioritySource::Default, Priority::Urgent));
        assert!(!PriorityRules::may_raise(Priority::Urgent, PrioritySource::Auto, Priority::High));
        assert!(!PriorityRules::may_raise(Priority::Low, PrioritySource::Manual, Priority::Urgent));
    }
}
