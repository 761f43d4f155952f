//! AI handling: when a conversation needs a person, the hand-off message, and the summary
//! shown when the AI has not written one.

use super::priority_rules::contains_phrase;

/// Who answers the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Ai,
    Human,
}

impl Handler {
    pub fn as_str(self) -> &'static str {
        match self {
            Handler::Ai => "ai",
            Handler::Human => "human",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Handler::Ai, Handler::Human].into_iter().find(|h| h.as_str() == s)
    }
}

/// Why an AI message calls for a person, if it does: the AI flagged a complex issue, or its
/// confidence is below the tenant's threshold.
pub fn needs_human_after_ai_message(
    confidence: f32,
    threshold: f32,
    complex_issue: bool,
    complex_reason: &str,
) -> Option<String> {
    if complex_issue {
        let reason = complex_reason.trim();
        return Some(if reason.is_empty() {
            "the AI flagged a complex issue".into()
        } else {
            format!("the AI flagged a complex issue: {reason}")
        });
    }
    (confidence < threshold).then(|| format!("AI confidence {confidence:.2} below {threshold:.2}"))
}

/// Phrases with which customers ask for a person (matched as whole words, any case).
const ASKS_FOR_PERSON: [&str; 16] = [
    "human",
    "real person",
    "a person",
    "someone real",
    "speak to someone",
    "talk to someone",
    "speak to an agent",
    "talk to an agent",
    "live agent",
    "human agent",
    "representative",
    "operator",
    "speak to a manager",
    "talk to a manager",
    "customer service",
    "not a bot",
];

pub const CUSTOMER_ASKED_REASON: &str = "the customer asked for a person";

/// Whether a customer message asks for a person.
pub fn asks_for_person(text: &str) -> bool {
    let lowered = text.to_lowercase();
    ASKS_FOR_PERSON.iter().any(|phrase| contains_phrase(&lowered, phrase))
}

/// The hand-off message with `{{agent_name}}` (spaces inside the braces allowed) filled in.
pub fn render_handoff(template: &str, agent_name: &str) -> String {
    let name = if agent_name.trim().is_empty() { "a member of our team" } else { agent_name.trim() };
    let mut out = String::with_capacity(template.len() + name.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else { break };
        let inner = rest[start + 2..start + len].trim();
        out.push_str(&rest[..start]);
        if inner == "agent_name" {
            out.push_str(name);
        } else {
            out.push_str(&rest[start..start + len + 2]);
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// What a conversation is about when the AI wrote no summary: who, where, how long, what the
/// customer first asked and the latest word.
pub fn fallback_summary(
    customer: &str,
    channel: &str,
    message_count: i64,
    first_customer_text: Option<&str>,
    latest_text: Option<&str>,
) -> String {
    let channel = match channel {
        "whatsapp" => "WhatsApp",
        "telephony" => "phone",
        "webchat" => "web chat",
        other => other,
    };
    let mut summary =
        format!("{customer} on {channel}, {message_count} message{}.", if message_count == 1 { "" } else { "s" });
    if let Some(first) = first_customer_text.filter(|t| !t.trim().is_empty()) {
        summary.push_str(&format!(" Asked: \"{}\".", super::preview(first)));
    }
    if let Some(latest) = latest_text.filter(|t| !t.trim().is_empty())
        && Some(latest) != first_customer_text
    {
        summary.push_str(&format!(" Latest: \"{}\".", super::preview(latest)));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_confidence_needs_a_human_and_says_how_low() {
        assert_eq!(needs_human_after_ai_message(0.42, 0.6, false, ""), Some("AI confidence 0.42 below 0.60".into()));
        assert_eq!(needs_human_after_ai_message(0.9, 0.6, false, ""), None);
        assert_eq!(needs_human_after_ai_message(0.6, 0.6, false, ""), None);
    }

    #[test]
    fn a_complex_issue_needs_a_human_whatever_the_confidence() {
        assert_eq!(
            needs_human_after_ai_message(0.99, 0.6, true, "legal threat"),
            Some("the AI flagged a complex issue: legal threat".into())
        );
    }

    #[test]
    fn customers_asking_for_a_person_are_recognised() {
        assert!(asks_for_person("Can I talk to a real person please?"));
        assert!(asks_for_person("HUMAN"));
        assert!(asks_for_person("I want a representative"));
        assert!(!asks_for_person("My order number is 123"));
        assert!(!asks_for_person("humanity is great"));
    }

    #[test]
    fn the_handoff_message_names_the_agent() {
        let t = "Let me connect you with {{ agent_name }} from our team. {{other}}";
        assert_eq!(render_handoff(t, "Sarah"), "Let me connect you with Sarah from our team. {{other}}");
        assert_eq!(render_handoff("Hi {{agent_name}}", " "), "Hi a member of our team");
    }

    #[test]
    fn the_fallback_summary_says_who_where_and_what() {
        assert_eq!(
            fallback_summary("Ana", "whatsapp", 3, Some("My order has not arrived"), Some("Any news?")),
            "Ana on WhatsApp, 3 messages. Asked: \"My order has not arrived\". Latest: \"Any news?\"."
        );
        assert_eq!(fallback_summary("+1555", "telephony", 1, None, None), "+1555 on phone, 1 message.");
    }
}
