//! Response templates (saved replies): their names, bodies with `{{variable}}` placeholders,
//! and rendering a body for one conversation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Longest template name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest template body and longest rendered text, in characters (WhatsApp's text limit).
pub const MAX_BODY_CHARS: usize = 4096;
/// Longest value a client may give a variable, in characters.
pub const MAX_VALUE_CHARS: usize = 1000;

/// A template's handle as agents type it after `/`: 1 to 64 of `a-z`, `0-9`, `_` and `-`.
/// Stored lower-case, so `Greeting` and `greeting` are the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateName(String);

impl TemplateName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let name = text.trim().to_lowercase();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(format!("name must have 1 to {MAX_NAME_CHARS} characters"));
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            return Err(format!("name {text:?} may only use a-z, 0-9, _ and -"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a search for templates matches: the typed text, lower-case, since names are.
pub fn search_query(text: &str) -> String {
    text.trim().to_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Variable(String),
}

/// A template body, parsed into literal text and `{{variable}}` placeholders (spaces inside
/// the braces allowed). Only bodies whose placeholders all parse can exist, so a typo such as
/// `{{Customer Name}}` is refused when the template is saved, not when an agent sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateBody {
    text: String,
    segments: Vec<Segment>,
}

impl TemplateBody {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_BODY_CHARS {
            return Err(format!("body must have 1 to {MAX_BODY_CHARS} characters"));
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or("body has a {{ without a closing }}")?;
            let inner = &after[..close];
            let name = inner.trim();
            if !is_variable_name(name) {
                return Err(format!(
                    "body has an invalid placeholder {{{{{inner}}}}}: variable names use a-z, 0-9 and _"
                ));
            }
            segments.push(Segment::Variable(name.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_owned()));
        }
        Ok(Self { text: text.to_owned(), segments })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Every variable the body uses, once each, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for segment in &self.segments {
            if let Segment::Variable(name) = segment
                && !seen.contains(name)
            {
                seen.push(name.clone());
            }
        }
        seen
    }
}

pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks the values a client gave: known-good names and bounded lengths. Values for
/// variables a template does not use are allowed (a client may send every built-in).
pub fn check_given_values(given: &HashMap<String, String>) -> Result<(), String> {
    let mut names: Vec<&String> = given.keys().collect();
    names.sort();
    for name in names {
        if !is_variable_name(name) {
            return Err(format!("variables.{name}: variable names use a-z, 0-9 and _"));
        }
        if given[name].chars().count() > MAX_VALUE_CHARS {
            return Err(format!("variables.{name} must be at most {MAX_VALUE_CHARS} characters"));
        }
    }
    Ok(())
}

/// The values of the built-in variables for one rendering.
#[derive(Debug, Clone)]
pub struct BuiltIns<'a> {
    /// The contact's display name, or the customer's address when there is none.
    pub customer_name: &'a str,
    /// The acting agent's name.
    pub agent_name: &'a str,
    /// From the tenant's settings; empty when not set.
    pub company_name: &'a str,
    pub now: DateTime<Utc>,
    /// The tenant's zone: `{{date}}` and `{{time}}` are local to it.
    pub time_zone: Tz,
}

impl BuiltIns<'_> {
    /// A built-in's value; `None` for custom variables.
    fn value(&self, name: &str) -> Option<String> {
        let local = || self.now.with_timezone(&self.time_zone);
        match name {
            "customer_name" => Some(self.customer_name.trim().to_owned()),
            "agent_name" => Some(self.agent_name.trim().to_owned()),
            "company_name" => Some(self.company_name.trim().to_owned()),
            "date" => Some(local().format("%-d %B %Y").to_string()),
            "time" => Some(local().format("%H:%M").to_string()),
            _ => None,
        }
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// Variables without a value, in order of first use.
    #[error("template '{template}' needs a value for {}", placeholders(.variables))]
    Missing { template: String, variables: Vec<String> },
    #[error("template '{template}' renders to more than {MAX_BODY_CHARS} characters")]
    TooLong { template: String },
}

fn placeholders(variables: &[String]) -> String {
    variables.iter().map(|v| format!("{{{{{v}}}}}")).collect::<Vec<_>>().join(", ")
}

/// Fills every placeholder: a value the client gave wins over a built-in (an agent can set the
/// appointment's `date`); blank values count as none. Any variable left without a value fails
/// the whole rendering, naming each such variable, so a half-filled reply is never sent.
pub fn render(
    name: &TemplateName,
    body: &TemplateBody,
    built_ins: &BuiltIns<'_>,
    given: &HashMap<String, String>,
) -> Result<String, RenderError> {
    let value_of = |variable: &str| -> Option<String> {
        given
            .get(variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .or_else(|| built_ins.value(variable).filter(|v| !v.is_empty()))
    };
    let missing: Vec<String> = body.variables().into_iter().filter(|v| value_of(v).is_none()).collect();
    if !missing.is_empty() {
        return Err(RenderError::Missing { template: name.as_str().to_owned(), variables: missing });
    }
    let mut text = String::with_capacity(body.as_str().len());
    for segment in &body.segments {
        match segment {
            Segment::Text(literal) => text.push_str(literal),
            Segment::Variable(variable) => text.push_str(&value_of(variable).unwrap_or_default()),
        }
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(RenderError::TooLong { template: name.as_str().to_owned() });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> TemplateName {
        TemplateName::parse(text).unwrap()
    }

    fn body(text: &str) -> TemplateBody {
        TemplateBody::parse(text).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn built_ins() -> BuiltIns<'static> {
        BuiltIns {
            customer_name: "Ana",
            agent_name: "Sarah",
            company_name: "Acme Support",
            now: at("2026-11-24T13:05:00Z"),
            time_zone: "Europe/Paris".parse().unwrap(),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_greeting_of_the_guide_is_filled_with_the_customer_and_the_company() {
        let greeting =
            body("Hi {{customer_name}}! Thanks for reaching out to\n{{company_name}}. How can I help you today?");
        let text = render(&name("greeting"), &greeting, &built_ins(), &HashMap::new()).unwrap();
        assert_eq!(text, "Hi Ana! Thanks for reaching out to\nAcme Support. How can I help you today?");
    }

    #[test]
    fn spaces_inside_the_braces_are_allowed() {
        let text = render(
            &name("t"),
            &body("Hello {{ customer_name }}, I am {{agent_name  }}."),
            &built_ins(),
            &HashMap::new(),
        );
        assert_eq!(text.unwrap(), "Hello Ana, I am Sarah.");
    }

    #[test]
    fn date_and_time_are_now_in_the_tenant_zone() {
        let confirmation = body("Your appointment is confirmed for {{date}} at {{time}}.");
        // 23:30 UTC on the 24th is 00:30 on the 25th in Paris.
        let late = BuiltIns { now: at("2026-11-24T23:30:00Z"), ..built_ins() };
        let text = render(&name("appointment_confirmation"), &confirmation, &late, &HashMap::new()).unwrap();
        assert_eq!(text, "Your appointment is confirmed for 25 November 2026 at 00:30.");
        let utc = BuiltIns { time_zone: Tz::UTC, ..built_ins() };
        let text = render(&name("appointment_confirmation"), &confirmation, &utc, &HashMap::new()).unwrap();
        assert_eq!(text, "Your appointment is confirmed for 24 November 2026 at 13:05.");
    }

    #[test]
    fn values_the_agent_gives_override_built_ins() {
        let confirmation = body("Your appointment is confirmed for {{date}} at {{time}} in {{room}}.");
        let given = values(&[("date", "2 December 2026"), ("time", "09:30"), ("room", "B2")]);
        let text = render(&name("appointment_confirmation"), &confirmation, &built_ins(), &given).unwrap();
        assert_eq!(text, "Your appointment is confirmed for 2 December 2026 at 09:30 in B2.");
    }

    #[test]
    fn a_template_with_unfilled_variables_is_refused_naming_every_one() {
        let confirmation = body("{{customer_name}}: {{room}} on {{date}} with {{doctor}}; see you in {{room}}");
        let no_customer = BuiltIns { customer_name: "  ", ..built_ins() };
        let err = render(&name("appointment_confirmation"), &confirmation, &no_customer, &values(&[("doctor", " ")]))
            .unwrap_err();
        assert_eq!(
            err,
            RenderError::Missing {
                template: "appointment_confirmation".into(),
                variables: vec!["customer_name".into(), "room".into(), "doctor".into()],
            }
        );
        assert_eq!(
            err.to_string(),
            "template 'appointment_confirmation' needs a value for {{customer_name}}, {{room}}, {{doctor}}"
        );
    }

    #[test]
    fn a_built_in_that_is_empty_is_a_missing_value() {
        let no_company = BuiltIns { company_name: "", ..built_ins() };
        let err =
            render(&name("greeting"), &body("Thanks for contacting {{company_name}}"), &no_company, &HashMap::new());
        assert_eq!(err.unwrap_err().to_string(), "template 'greeting' needs a value for {{company_name}}");
        // The agent can fill it in.
        let text = render(
            &name("greeting"),
            &body("Thanks for contacting {{company_name}}"),
            &no_company,
            &values(&[("company_name", "Acme")]),
        );
        assert_eq!(text.unwrap(), "Thanks for contacting Acme");
    }

    #[test]
    fn variables_are_reported_once_in_order_of_first_use() {
        let b = body("{{ customer_name }} {{room}} {{customer_name}} {{date}}");
        assert_eq!(b.variables(), ["customer_name", "room", "date"]);
        assert!(body("Thanks for contacting us!").variables().is_empty());
    }

    #[test]
    fn a_body_with_a_malformed_placeholder_is_refused_naming_it() {
        assert!(TemplateBody::parse("Hi {{Customer Name}}").unwrap_err().contains("{{Customer Name}}"));
        assert!(TemplateBody::parse("Hi {{}}").unwrap_err().contains("invalid placeholder"));
        assert!(TemplateBody::parse("Hi {{customer_name").unwrap_err().contains("without a closing"));
        assert!(TemplateBody::parse("   ").unwrap_err().contains("body"));
        assert!(TemplateBody::parse(&"x".repeat(MAX_BODY_CHARS + 1)).unwrap_err().contains("4096"));
        assert!(TemplateBody::parse(&"é".repeat(MAX_BODY_CHARS)).is_ok(), "the limit counts characters");
    }

    #[test]
    fn text_outside_placeholders_is_kept_as_written() {
        let b = body("Prices in {curly} braces and a lone } stay; {{agent_name}}!");
        let text = render(&name("t"), &b, &built_ins(), &HashMap::new()).unwrap();
        assert_eq!(text, "Prices in {curly} braces and a lone } stay; Sarah!");
    }

    #[test]
    fn names_are_short_lower_case_handles() {
        assert_eq!(name(" Appointment_Confirmation ").as_str(), "appointment_confirmation");
        assert_eq!(name("follow-up-2").as_str(), "follow-up-2");
        assert!(TemplateName::parse("").unwrap_err().contains("name"));
        assert!(TemplateName::parse("two words").unwrap_err().contains("a-z"));
        assert!(TemplateName::parse("café").is_err());
        assert!(TemplateName::parse(&"a".repeat(65)).unwrap_err().contains("64"));
        assert!(TemplateName::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn given_values_are_checked_by_name_and_length() {
        assert!(check_given_values(&values(&[("room", "B2")])).is_ok());
        assert!(check_given_values(&values(&[("Room Number", "B2")])).unwrap_err().contains("variables.Room Number"));
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        assert!(check_given_values(&values(&[("room", &long)])).unwrap_err().contains("variables.room"));
    }

    #[test]
    fn a_rendering_longer_than_a_message_may_be_is_refused() {
        let b = body("{{a}}{{b}}{{c}}{{d}}{{e}}");
        let v = "x".repeat(MAX_VALUE_CHARS);
        let given = values(&[("a", &v), ("b", &v), ("c", &v), ("d", &v), ("e", &v)]);
        assert_eq!(
            render(&name("long"), &b, &built_ins(), &given).unwrap_err(),
            RenderError::TooLong { template: "long".into() }
        );
    }
}
