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
//! - a response-time target: a customer who has waited longer than the tenant's target for an
//!   answer raises the conversation to high, `auto: response target 15m missed` (checked by the
//!   sweeper, since it fires on the clock, not on a message).
//!
//! Automatic prioritisation only raises a conversation's priority, never lowers it, and never
//! touches a priority a person set: a manual override sticks until a person changes it.

use std::time::Duration;

use super::Priority;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityRules {
    pub urgent_keywords: Vec<String>,
    pub urgent_segments: Vec<String>,
    /// How long a customer may wait for an answer before the conversation becomes high.
    pub first_response_target: Option<Duration>,
}

/// Most keywords and segments a tenant may set, and their longest length in characters.
pub const MAX_RULE_TERMS: usize = 200;
pub const MAX_TERM_CHARS: usize = 100;

impl Default for PriorityRules {
    fn default() -> Self {
        Self {
            urgent_keywords: ["outage", "down", "emergency", "urgent", "asap", "security breach", "hacked"]
                .map(String::from)
                .to_vec(),
            urgent_segments: vec!["vip".into()],
            first_response_target: None,
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

    /// Rules as a client gave them: terms trimmed, lowercased, deduplicated; the error names
    /// the bad field.
    pub fn parse(keywords: &[String], segments: &[String], first_response_target_seconds: u32) -> Result<Self, String> {
        let clean = |terms: &[String], field: &str| -> Result<Vec<String>, String> {
            if terms.len() > MAX_RULE_TERMS {
                return Err(format!("{field} may hold at most {MAX_RULE_TERMS} entries"));
            }
            let mut out: Vec<String> = Vec::with_capacity(terms.len());
            for term in terms {
                let term = term.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
                if term.is_empty() || term.chars().count() > MAX_TERM_CHARS {
                    return Err(format!("{field} entries must have 1 to {MAX_TERM_CHARS} characters"));
                }
                if !out.contains(&term) {
                    out.push(term);
                }
            }
            Ok(out)
        };
        if first_response_target_seconds > super::MAX_RULE_SECONDS {
            return Err("first_response_target_seconds is too long".into());
        }
        Ok(Self {
            urgent_keywords: clean(keywords, "urgent_keywords")?,
            urgent_segments: clean(segments, "urgent_segments")?,
            first_response_target: (first_response_target_seconds > 0)
                .then(|| Duration::from_secs(u64::from(first_response_target_seconds))),
        })
    }

    /// High priority when the customer has waited past the response target.
    pub fn response_target_missed(&self, waited: Duration) -> Option<(Priority, String)> {
        let target = self.first_response_target?;
        (waited > target).then(|| (Priority::High, format!("auto: response target {} missed", short_duration(target))))
    }

    /// Whether an automatic assessment may replace the current priority.
    pub fn may_raise(current: Priority, source: PrioritySource, proposed: Priority) -> bool {
        source != PrioritySource::Manual && proposed.rank() > current.rank()
    }
}

/// `90s`, `15m`, `1h`, `1h30m`, `2d`.
fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 3_600 && s % 60 == 0 => format!("{}h{}m", s / 3_600, (s % 3_600) / 60),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
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
pub(crate) fn contains_phrase(text: &str, phrase: &str) -> bool {
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
    fn a_missed_response_target_makes_it_high_and_says_which() {
        let rules = PriorityRules::parse(&[], &[], 900).unwrap();
        assert_eq!(rules.response_target_missed(Duration::from_secs(600)), None);
        assert_eq!(
            rules.response_target_missed(Duration::from_secs(901)),
            Some((Priority::High, "auto: response target 15m missed".into()))
        );
        assert_eq!(PriorityRules::default().response_target_missed(Duration::from_secs(1 << 20)), None);
        assert_eq!(short_duration(Duration::from_secs(5400)), "1h30m");
    }

    #[test]
    fn rules_are_cleaned_and_bad_ones_refused() {
        let rules = PriorityRules::parse(&["  Outage ".into(), "outage".into()], &["VIP".into()], 0).unwrap();
        assert_eq!(rules.urgent_keywords, vec!["outage"]);
        assert_eq!(rules.urgent_segments, vec!["vip"]);
        assert!(PriorityRules::parse(&[" ".into()], &[], 0).unwrap_err().contains("urgent_keywords"));
    }

    #[test]
    fn automatic_priority_only_rises_and_never_overrides_a_person() {
        assert!(PriorityRules::may_raise(Priority::Normal, PrioritySource::Default, Priority::Urgent));
        assert!(!PriorityRules::may_raise(Priority::Urgent, PrioritySource::Auto, Priority::High));
        assert!(!PriorityRules::may_raise(Priority::Low, PrioritySource::Manual, Priority::Urgent));
    }
}
