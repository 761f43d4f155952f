//! The search language (docs/search.md), parsed into a typed query. Pure: no index, no I/O.
//!
//! ```text
//! "refund request" phone:+1 555 123 4567 status:open,pending -paypal after:2026-03-01 deliv
//! ```
//!
//! Clauses are separated by spaces and must all hold. A clause is a free word, a `"quoted
//! phrase"` or `operator:value`; a leading `-` excludes it. The same operator given twice (or
//! a comma list) means either value. The last bare word also matches as a prefix when the
//! query does not end with a space (type-ahead). Errors name the column (1-based, in
//! characters) where the problem starts.

use std::fmt;

use chrono::NaiveDate;
use uuid::Uuid;

use super::conversation::{Channel, Priority, Status};
use super::phone::{PhoneDigits, PhoneError};

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 512;
/// Most clauses in one query.
pub const MAX_CLAUSES: usize = 32;

/// A parsed query: every clause must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub clauses: Vec<Clause>,
}

/// One clause, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Written with a leading `-`: what it matches is excluded.
    pub negated: bool,
    pub kind: ClauseKind,
    /// Character offsets `[start, end)` in the query.
    pub span: (usize, usize),
}

/// What a clause asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClauseKind {
    /// A free word; `prefix` when it is the last word being typed.
    Word { text: String, prefix: bool },
    /// `"exact phrase"`: these words, in this order.
    Phrase(String),
    /// `name:ana` or `name:"Ana Maria"`: the customer's name.
    Name(String),
    /// `phone:+1 555 123 4567`: the customer's phone, in any writing.
    Phone(PhoneValue),
    /// `email:ana@example.com`, or a domain: `email:@example.com`, `email:example.com`.
    Email(EmailValue),
    /// `id:<conversation id>` or a provider message id (`wamid...`, a call sid).
    Id(String),
    /// `assigned:me`, `assigned:none`, `assigned:sarah@company.com`, `assigned:<user id>`.
    Assigned(AssigneeRef),
    /// `team:support`, `team:"Tier 2"`, `team:none`, `team:<team id>`.
    Team(TeamRef),
    /// `status:active,pending`; `open` stands for active and pending.
    Status(Vec<Status>),
    /// `channel:whatsapp` (also `web` for webchat, `phone`/`voice` for telephony).
    Channel(Vec<Channel>),
    /// `priority:urgent,high`.
    Priority(Vec<Priority>),
    /// `before:`, `after:`, `on:` a day in the tenant's time zone.
    Date(DateBound),
}

/// A phone number in a query: the E.164 digits, and the national number without its trunk
/// zero when it was written that way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneValue {
    pub digits: PhoneDigits,
    pub national: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailValue {
    /// A whole address, lower-cased.
    Address(String),
    /// Every address at this domain (lower-cased, without `@`).
    Domain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeRef {
    /// The caller.
    Me,
    /// Nobody.
    Nobody,
    /// The agent with this email (lower-cased).
    Email(String),
    Id(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamRef {
    /// The team with this name (case-insensitive).
    Name(String),
    Nobody,
    Id(Uuid),
}

/// A bound on the time of what matches, by calendar day in the tenant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateBound {
    pub relation: DateRelation,
    pub day: DayRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRelation {
    /// Strictly before the day starts.
    Before,
    /// From the day's start on (the day included).
    After,
    /// During the day.
    On,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayRef {
    Date(NaiveDate),
    Today,
    Yesterday,
}

/// Bad syntax: what is wrong and the column (1-based, characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

impl ParseError {
    fn at(offset: usize, message: impl Into<String>) -> Self {
        Self { column: offset + 1, message: message.into() }
    }
}

/// The operators, as written before the colon.
const OPERATORS: [&str; 12] =
    ["name", "phone", "email", "id", "assigned", "team", "status", "channel", "priority", "before", "after", "on"];

/// Parses `text` into a query. An empty (or blank) text is the empty query: everything.
pub fn parse(text: &str) -> Result<SearchQuery, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(ParseError::at(MAX_QUERY_CHARS, format!("a query has at most {MAX_QUERY_CHARS} characters")));
    }
    let mut parser = Parser { chars: &chars, pos: 0 };
    let mut clauses = Vec::new();
    loop {
        parser.skip_spaces();
        if parser.at_end() {
            break;
        }
        let clause = parser.clause()?;
        if clauses.len() == MAX_CLAUSES {
            return Err(ParseError::at(clause.span.0, format!("a query has at most {MAX_CLAUSES} parts")));
        }
        clauses.push(clause);
    }
    // Type-ahead: the last bare word, when the user is still typing it.
    let typing = chars.last().is_some_and(|c| !c.is_whitespace());
    if typing && let Some(Clause { negated: false, kind: ClauseKind::Word { prefix, .. }, .. }) = clauses.last_mut() {
        *prefix = true;
    }
    Ok(SearchQuery { clauses })
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The characters up to the next space.
    fn bare(&mut self) -> (usize, String) {
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace()) {
            self.pos += 1;
        }
        (start, self.chars[start..self.pos].iter().collect())
    }

    /// `"..."`, the opening quote at `self.pos`; returns the text inside.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '"' {
                let inner: String = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                return Ok(inner);
            }
            self.pos += 1;
        }
        Err(ParseError::at(open, "this quote is never closed"))
    }

    fn clause(&mut self) -> Result<Clause, ParseError> {
        let start = self.pos;
        let negated = self.peek() == Some('-');
        if negated {
            self.pos += 1;
            if self.peek().is_none_or(char::is_whitespace) {
                return Err(ParseError::at(start, "nothing to exclude after '-'"));
            }
        }
        let kind = if self.peek() == Some('"') {
            let inner = self.quoted()?;
            if inner.trim().is_empty() {
                return Err(ParseError::at(start, "an empty phrase"));
            }
            ClauseKind::Phrase(inner.trim().to_owned())
        } else if let Some((operator, colon)) = self.operator()? {
            self.pos = colon + 1;
            self.value(operator, colon)?
        } else {
            let (_, word) = self.bare();
            ClauseKind::Word { text: word, prefix: false }
        };
        if negated && matches!(kind, ClauseKind::Date(_)) {
            return Err(ParseError::at(start, "a date cannot be excluded; use before: or after:"));
        }
        Ok(Clause { negated, kind, span: (start, self.pos) })
    }

    /// An `operator:` at the cursor: its (lower-cased) name and the colon's offset. A word with
    /// a colon that is no operator (`10:30`, `https://...`) is left to be a word; an unknown
    /// operator-looking name (`phon:`) is an error.
    fn operator(&self) -> Result<Option<(&'static str, usize)>, ParseError> {
        let mut end = self.pos;
        while self.chars.get(end).is_some_and(|c| c.is_ascii_alphabetic()) {
            end += 1;
        }
        if end == self.pos || self.chars.get(end) != Some(&':') {
            return Ok(None);
        }
        let name: String = self.chars[self.pos..end].iter().collect::<String>().to_ascii_lowercase();
        if let Some(known) = OPERATORS.iter().find(|op| **op == name) {
            return Ok(Some((known, end)));
        }
        // `https://example.com`, `mailto:`-style words are text, not operators.
        if self.chars.get(end + 1) == Some(&'/') {
            return Ok(None);
        }
        let suggestion = closest_operator(&name).map(|op| format!("; did you mean {op}:?")).unwrap_or_default();
        Err(ParseError::at(
            self.pos,
            format!("unknown operator {name}: (known: {}){suggestion}", OPERATORS.map(|o| format!("{o}:")).join(" ")),
        ))
    }

    /// The value after `operator:`; the cursor is just past the colon.
    fn value(&mut self, operator: &'static str, colon: usize) -> Result<ClauseKind, ParseError> {
        if self.peek().is_none_or(char::is_whitespace) {
            return Err(ParseError::at(colon, format!("{operator}: needs a value")));
        }
        let value_start = self.pos;
        let (quoted, raw) = if self.peek() == Some('"') {
            (true, self.quoted()?)
        } else if operator == "phone" {
            (false, self.phone_text())
        } else {
            (false, self.bare().1)
        };
        let value = raw.trim();
        if value.is_empty() {
            return Err(ParseError::at(value_start, format!("{operator}: needs a value")));
        }
        let bad = |message: String| ParseError::at(value_start, message);
        Ok(match operator {
            "name" => ClauseKind::Name(value.to_owned()),
            "phone" => {
                let digits = PhoneDigits::parse(value).map_err(|e| match e {
                    PhoneError::BadCharacter(_) | PhoneError::Length(_) => bad(format!("phone: {e}")),
                })?;
                ClauseKind::Phone(PhoneValue { digits, national: PhoneDigits::national_significant(value) })
            }
            "email" => ClauseKind::Email(email_value(value).ok_or_else(|| {
                bad(format!("email: expects an address or a domain (ana@example.com, @example.com), not {value:?}"))
            })?),
            "id" => {
                if quoted || value.chars().any(char::is_whitespace) {
                    return Err(bad("id: takes one id, without spaces".into()));
                }
                ClauseKind::Id(value.to_owned())
            }
            "assigned" => ClauseKind::Assigned(match value.to_ascii_lowercase().as_str() {
                "me" => AssigneeRef::Me,
                "none" | "nobody" | "unassigned" => AssigneeRef::Nobody,
                lower if lower.contains('@') => AssigneeRef::Email(lower.to_owned()),
                _ => AssigneeRef::Id(Uuid::parse_str(value).map_err(|_| {
                    bad(format!("assigned: expects me, none, an agent's email or user id, not {value:?}"))
                })?),
            }),
            "team" => ClauseKind::Team(match value.to_ascii_lowercase().as_str() {
                "none" => TeamRef::Nobody,
                _ => Uuid::parse_str(value).map(TeamRef::Id).unwrap_or_else(|_| TeamRef::Name(value.to_owned())),
            }),
            "status" => ClauseKind::Status(list(value, value_start, "status", status_values)?),
            "channel" => ClauseKind::Channel(list(value, value_start, "channel", channel_values)?),
            "priority" => ClauseKind::Priority(list(value, value_start, "priority", priority_values)?),
            "before" | "after" | "on" => {
                let relation = match operator {
                    "before" => DateRelation::Before,
                    "after" => DateRelation::After,
                    _ => DateRelation::On,
                };
                ClauseKind::Date(DateBound { relation, day: day_ref(value).map_err(bad)? })
            }
            other => return Err(ParseError::at(colon, format!("unknown operator {other}:"))),
        })
    }

    /// A phone number may be written with spaces: the value runs over the following groups of
    /// digits and `( ) - . /` for as long as the whole stays within 15 digits.
    fn phone_text(&mut self) -> String {
        let (_, mut text) = self.bare();
        let digits_in = |s: &str| s.chars().filter(char::is_ascii_digit).count();
        loop {
            let save = self.pos;
            self.skip_spaces();
            let group_start = self.pos;
            let (_, group) = self.bare();
            let phone_like = !group.is_empty()
                && group.chars().any(|c| c.is_ascii_digit())
                && group.chars().all(|c| c.is_ascii_digit() || "()-./".contains(c));
            if group_start == save || !phone_like || digits_in(&text) + digits_in(&group) > super::phone::MAX_DIGITS {
                self.pos = save;
                return text;
            }
            text.push(' ');
            text.push_str(&group);
        }
    }
}

fn email_value(value: &str) -> Option<EmailValue> {
    let lower = value.to_lowercase();
    let valid_domain = |d: &str| d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@');
    if let Some(domain) = lower.strip_prefix('@') {
        return valid_domain(domain).then(|| EmailValue::Domain(domain.to_owned()));
    }
    match lower.split_once('@') {
        Some((local, domain)) if !local.is_empty() && valid_domain(domain) => Some(EmailValue::Address(lower)),
        Some(_) => None,
        None => valid_domain(&lower).then_some(EmailValue::Domain(lower)),
    }
}

/// `a,b,c` of an enumerated operator; an unknown item is reported at its own column.
fn list<T: PartialEq + Copy>(
    value: &str,
    value_start: usize,
    operator: &str,
    items: fn(&str) -> Option<Vec<T>>,
) -> Result<Vec<T>, ParseError> {
    let mut out: Vec<T> = Vec::new();
    let mut offset = value_start;
    for item in value.split(',') {
        let trimmed = item.trim();
        if trimmed.is_empty() {
            return Err(ParseError::at(offset, format!("{operator}: has an empty item in its list")));
        }
        let found = items(&trimmed.to_ascii_lowercase()).ok_or_else(|| {
            ParseError::at(offset, format!("{operator}: does not know {trimmed:?} ({})", allowed(operator)))
        })?;
        for v in found {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        offset += item.chars().count() + 1;
    }
    Ok(out)
}

fn allowed(operator: &str) -> &'static str {
    match operator {
        "status" => "active, pending, resolved, archived, open",
        "channel" => "whatsapp, telephony, webchat",
        _ => "urgent, high, normal, low",
    }
}

fn status_values(v: &str) -> Option<Vec<Status>> {
    Some(match v {
        "open" => vec![Status::Active, Status::Pending],
        other => vec![Status::ALL.into_iter().find(|s| s.as_str() == other)?],
    })
}

fn channel_values(v: &str) -> Option<Vec<Channel>> {
    Some(vec![match v {
        "whatsapp" | "wa" => Channel::Whatsapp,
        "telephony" | "phone" | "voice" | "call" | "calls" => Channel::Telephony,
        "webchat" | "web" | "chat" => Channel::Webchat,
        _ => return None,
    }])
}

fn priority_values(v: &str) -> Option<Vec<Priority>> {
    Some(vec![Priority::ALL.into_iter().find(|p| p.as_str() == v)?])
}

fn day_ref(value: &str) -> Result<DayRef, String> {
    match value.to_ascii_lowercase().as_str() {
        "today" => Ok(DayRef::Today),
        "yesterday" => Ok(DayRef::Yesterday),
        _ => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(DayRef::Date)
            .map_err(|_| format!("a date is YYYY-MM-DD, today or yesterday, not {value:?}")),
    }
}

/// The operator a mistyped name most likely meant (edit distance 1 or 2).
fn closest_operator(name: &str) -> Option<&'static str> {
    OPERATORS
        .iter()
        .map(|op| (edit_distance(name, op), *op))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, op)| op)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

impl SearchQuery {
    /// Whether the query has words or phrases to match (not only operators).
    pub fn has_text(&self) -> bool {
        self.clauses.iter().any(|c| !c.negated && matches!(c.kind, ClauseKind::Word { .. } | ClauseKind::Phrase(_)))
    }
}

impl fmt::Display for SearchQuery {
    /// The canonical form: operators lower case, phones in E.164, lists comma-joined.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if clause.negated {
                f.write_str("-")?;
            }
            write!(f, "{}", clause.kind)?;
        }
        Ok(())
    }
}

fn quote_if_spaced(value: &str) -> String {
    if value.chars().any(char::is_whitespace) { format!("\"{value}\"") } else { value.to_owned() }
}

impl fmt::Display for ClauseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: Vec<&str>| items.join(",");
        match self {
            ClauseKind::Word { text, prefix } => write!(f, "{text}{}", if *prefix { "*" } else { "" }),
            ClauseKind::Phrase(p) => write!(f, "\"{p}\""),
            ClauseKind::Name(n) => write!(f, "name:{}", quote_if_spaced(n)),
            ClauseKind::Phone(p) => write!(f, "phone:{}", p.digits),
            ClauseKind::Email(EmailValue::Address(a)) => write!(f, "email:{a}"),
            ClauseKind::Email(EmailValue::Domain(d)) => write!(f, "email:@{d}"),
            ClauseKind::Id(id) => write!(f, "id:{id}"),
            ClauseKind::Assigned(a) => match a {
                AssigneeRef::Me => f.write_str("assigned:me"),
                AssigneeRef::Nobody => f.write_str("assigned:none"),
                AssigneeRef::Email(e) => write!(f, "assigned:{e}"),
                AssigneeRef::Id(id) => write!(f, "assigned:{id}"),
            },
            ClauseKind::Team(t) => match t {
                TeamRef::Name(n) => write!(f, "team:{}", quote_if_spaced(n)),
                TeamRef::Nobody => f.write_str("team:none"),
                TeamRef::Id(id) => write!(f, "team:{id}"),
            },
            ClauseKind::Status(s) => write!(f, "status:{}", join(s.iter().map(|s| s.as_str()).collect())),
            ClauseKind::Channel(c) => write!(f, "channel:{}", join(c.iter().map(|c| c.as_str()).collect())),
            ClauseKind::Priority(p) => write!(f, "priority:{}", join(p.iter().map(|p| p.as_str()).collect())),
            ClauseKind::Date(DateBound { relation, day }) => {
                let op = match relation {
                    DateRelation::Before => "before",
                    DateRelation::After => "after",
                    DateRelation::On => "on",
                };
                match day {
                    DayRef::Date(d) => write!(f, "{op}:{}", d.format("%Y-%m-%d")),
                    DayRef::Today => write!(f, "{op}:today"),
                    DayRef::Yesterday => write!(f, "{op}:yesterday"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<ClauseKind> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")).clauses.into_iter().map(|c| c.kind).collect()
    }

    fn word(text: &str) -> ClauseKind {
        ClauseKind::Word { text: text.into(), prefix: false }
    }

    fn error(text: &str) -> ParseError {
        parse(text).expect_err(text)
    }

    fn phone(digits: &str) -> ClauseKind {
        ClauseKind::Phone(PhoneValue { digits: PhoneDigits::parse(digits).unwrap(), national: None })
    }

    #[test]
    fn an_empty_or_blank_query_is_everything() {
        assert_eq!(parse("").unwrap(), SearchQuery::default());
        assert_eq!(parse("   \t ").unwrap(), SearchQuery::default());
    }

    #[test]
    fn words_are_clauses_and_the_last_one_is_a_prefix_while_typing() {
        assert_eq!(
            kinds("refund deliv"),
            vec![word("refund"), ClauseKind::Word { text: "deliv".into(), prefix: true }]
        );
        assert_eq!(kinds("refund deliv "), vec![word("refund"), word("deliv")], "a trailing space ends the word");
    }

    #[test]
    fn phrases_keep_their_words_together() {
        assert_eq!(kinds(r#""refund request""#), vec![ClauseKind::Phrase("refund request".into())]);
        assert_eq!(
            kinds(r#"late "refund request" now"#),
            vec![
                word("late"),
                ClauseKind::Phrase("refund request".into()),
                ClauseKind::Word { text: "now".into(), prefix: true }
            ]
        );
        assert_eq!(kinds(r#""  padded  ""#), vec![ClauseKind::Phrase("padded".into())]);
    }

    #[test]
    fn a_phrase_is_never_a_prefix() {
        let q = parse(r#"refund "late delivery""#).unwrap();
        assert!(q.clauses.iter().all(|c| !matches!(c.kind, ClauseKind::Word { prefix: true, .. })));
    }

    #[test]
    fn an_unclosed_quote_points_at_the_quote() {
        let e = error(r#"refund "late delivery"#);
        assert_eq!(e.column, 8);
        assert!(e.message.contains("never closed"), "{e}");
        assert_eq!(error(r#"name:"Ana"#).column, 6);
    }

    #[test]
    fn any_writing_of_a_phone_number_is_one_e164_number() {
        for text in
            ["phone:+1 555 123 4567", "phone:15551234567", "phone:+1-555-123-4567", "phone:\"+1 (555) 123 4567\""]
        {
            assert_eq!(kinds(text), vec![phone("15551234567")], "{text}");
        }
        assert_eq!(kinds("phone:0015551234567"), vec![phone("15551234567")]);
    }

    #[test]
    fn a_spaced_phone_number_stops_before_the_next_word() {
        assert_eq!(
            kinds("phone:+1 555 123 4567 refund"),
            vec![phone("15551234567"), ClauseKind::Word { text: "refund".into(), prefix: true }]
        );
        assert_eq!(kinds("phone:+1 555 123 4567 status:open").len(), 2);
        // A further group would pass 15 digits: it is a word of its own.
        assert_eq!(
            kinds("phone:+1 555 123 4567 12345"),
            vec![phone("15551234567"), ClauseKind::Word { text: "12345".into(), prefix: true }]
        );
    }

    #[test]
    fn a_national_phone_number_also_carries_its_number_without_the_trunk_zero() {
        let ClauseKind::Phone(p) = &kinds("phone:020 7946 0958")[0] else { panic!() };
        assert_eq!(p.digits.as_str(), "02079460958");
        assert_eq!(p.national.as_deref(), Some("2079460958"));
    }

    #[test]
    fn a_bad_phone_number_points_at_the_value() {
        let e = error("refund phone:12ab");
        assert_eq!(e.column, 14);
        assert!(e.message.contains("phone:"), "{e}");
        let e = error("phone:123");
        assert!(e.message.contains("7 to 15 digits"), "{e}");
    }

    #[test]
    fn operators_are_case_insensitive_and_values_typed() {
        assert_eq!(
            kinds("Status:Active CHANNEL:whatsapp priority:urgent"),
            vec![
                ClauseKind::Status(vec![Status::Active]),
                ClauseKind::Channel(vec![Channel::Whatsapp]),
                ClauseKind::Priority(vec![Priority::Urgent]),
            ]
        );
        assert_eq!(kinds("status:open"), vec![ClauseKind::Status(vec![Status::Active, Status::Pending])]);
        assert_eq!(
            kinds("status:resolved,archived,resolved"),
            vec![ClauseKind::Status(vec![Status::Resolved, Status::Archived])]
        );
        assert_eq!(kinds("channel:web"), vec![ClauseKind::Channel(vec![Channel::Webchat])]);
        assert_eq!(kinds("channel:voice"), vec![ClauseKind::Channel(vec![Channel::Telephony])]);
    }

    #[test]
    fn an_unknown_value_in_a_list_points_at_that_item() {
        let e = error("status:active,done");
        assert_eq!(e.column, 15);
        assert!(e.message.contains("\"done\"") && e.message.contains("resolved"), "{e}");
        let e = error("channel:fax");
        assert_eq!(e.column, 9);
        assert!(error("status:active,").message.contains("empty item"));
    }

    #[test]
    fn an_operator_without_a_value_points_at_its_colon() {
        let e = error("refund phone:");
        assert_eq!(e.column, 13);
        assert!(e.message.contains("needs a value"), "{e}");
        assert_eq!(error("status: active").column, 7);
        assert!(error(r#"name:"""#).message.contains("needs a value"));
    }

    #[test]
    fn an_unknown_operator_is_refused_with_a_suggestion() {
        let e = error("late phon:123");
        assert_eq!(e.column, 6);
        assert!(e.message.contains("did you mean phone:?"), "{e}");
        assert!(error("colour:red").message.contains("unknown operator colour:"));
    }

    #[test]
    fn words_with_colons_that_are_no_operators_stay_words() {
        assert_eq!(kinds("10:30 "), vec![word("10:30")]);
        assert_eq!(kinds("https://shop.example.com/x "), vec![word("https://shop.example.com/x")]);
        assert_eq!(kinds("order-123:x "), vec![word("order-123:x")]);
    }

    #[test]
    fn emails_are_addresses_or_domains() {
        assert_eq!(
            kinds("email:Ana@Example.com"),
            vec![ClauseKind::Email(EmailValue::Address("ana@example.com".into()))]
        );
        assert_eq!(kinds("email:@example.com"), vec![ClauseKind::Email(EmailValue::Domain("example.com".into()))]);
        assert_eq!(kinds("email:example.com"), vec![ClauseKind::Email(EmailValue::Domain("example.com".into()))]);
        assert_eq!(error("email:ana@").column, 7);
        assert!(parse("email:ana").is_err());
    }

    #[test]
    fn assigned_accepts_me_none_an_email_or_an_id() {
        let id = Uuid::now_v7();
        assert_eq!(kinds("assigned:me"), vec![ClauseKind::Assigned(AssigneeRef::Me)]);
        assert_eq!(kinds("assigned:none"), vec![ClauseKind::Assigned(AssigneeRef::Nobody)]);
        assert_eq!(
            kinds("assigned:Sarah@Company.com"),
            vec![ClauseKind::Assigned(AssigneeRef::Email("sarah@company.com".into()))]
        );
        assert_eq!(kinds(&format!("assigned:{id}")), vec![ClauseKind::Assigned(AssigneeRef::Id(id))]);
        let e = error("assigned:sarah");
        assert_eq!(e.column, 10);
    }

    #[test]
    fn teams_are_named_or_none_or_ids() {
        let id = Uuid::now_v7();
        assert_eq!(kinds(r#"team:"Tier 2""#), vec![ClauseKind::Team(TeamRef::Name("Tier 2".into()))]);
        assert_eq!(kinds("team:none"), vec![ClauseKind::Team(TeamRef::Nobody)]);
        assert_eq!(kinds(&format!("team:{id}")), vec![ClauseKind::Team(TeamRef::Id(id))]);
    }

    #[test]
    fn dates_are_days_today_or_yesterday() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(
            kinds("before:2026-03-01 after:today on:yesterday"),
            vec![
                ClauseKind::Date(DateBound { relation: DateRelation::Before, day: DayRef::Date(day) }),
                ClauseKind::Date(DateBound { relation: DateRelation::After, day: DayRef::Today }),
                ClauseKind::Date(DateBound { relation: DateRelation::On, day: DayRef::Yesterday }),
            ]
        );
        let e = error("refund on:2026-02-30");
        assert_eq!(e.column, 11);
        assert!(e.message.contains("YYYY-MM-DD"), "{e}");
        assert!(error("-on:today").message.contains("cannot be excluded"));
    }

    #[test]
    fn a_minus_excludes_words_phrases_and_operators() {
        let q = parse(r#"refund -paypal -"gift card" -status:resolved"#).unwrap();
        let negated: Vec<bool> = q.clauses.iter().map(|c| c.negated).collect();
        assert_eq!(negated, vec![false, true, true, true]);
        assert_eq!(q.clauses[1].kind, word("paypal"), "an excluded word is never a prefix");
        assert_eq!(error("refund - paypal").column, 8);
        assert_eq!(error("refund -").column, 8);
    }

    #[test]
    fn ids_take_one_token() {
        assert_eq!(kinds("id:wamid.HBgL123=="), vec![ClauseKind::Id("wamid.HBgL123==".into())]);
        assert!(error(r#"id:"a b""#).message.contains("without spaces"));
    }

    #[test]
    fn spans_cover_each_clause() {
        let q = parse("ab -cd phone:+1 555 123 4567").unwrap();
        let spans: Vec<(usize, usize)> = q.clauses.iter().map(|c| c.span).collect();
        assert_eq!(spans, vec![(0, 2), (3, 6), (7, 28)]);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = error("éèà ñ status:zz");
        assert_eq!(e.column, 14);
    }

    #[test]
    fn limits_are_enforced() {
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(error(&long).column, MAX_QUERY_CHARS + 1);
        let many = vec!["w"; MAX_CLAUSES + 1].join(" ");
        let e = error(&many);
        assert_eq!(e.column, MAX_CLAUSES * 2 + 1);
        assert!(parse(&vec!["w"; MAX_CLAUSES].join(" ")).is_ok());
    }

    #[test]
    fn the_canonical_form_is_stable() {
        let q = parse(r#"Refund "late delivery" Phone:+1 (555) 123-4567 status:OPEN -paypal name:"Ana Maria" deli"#)
            .unwrap();
        let canonical = q.to_string();
        assert_eq!(
            canonical,
            r#"Refund "late delivery" phone:+15551234567 status:active,pending -paypal name:"Ana Maria" deli*"#
        );
        // Parsing the canonical form (without the prefix mark) gives the same clauses back.
        let again = parse(&canonical.replace('*', "")).unwrap();
        assert_eq!(again.to_string(), canonical);
    }

    #[test]
    fn has_text_sees_words_and_phrases_only() {
        assert!(parse("refund status:open").unwrap().has_text());
        assert!(parse("\"a b\"").unwrap().has_text());
        assert!(!parse("status:open -paypal").unwrap().has_text());
        assert!(!parse("").unwrap().has_text());
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        // A crude fuzz over awkward characters: every outcome is Ok or a positioned error.
        let alphabet = ['a', ' ', '"', '-', ':', ',', '@', '+', '1', 'é', '(', ')', '\t'];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            for prefix in ["", "status:", "phone:", "email:", "on:", "-"] {
                let input = format!("{prefix}{text}");
                if let Err(e) = parse(&input) {
                    assert!(e.column >= 1 && e.column <= input.chars().count() + 1, "{input:?}: {e}");
                }
            }
        }
    }
}
