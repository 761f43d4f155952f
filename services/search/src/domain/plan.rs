//! From a parsed query to what the index runs: words analysed into terms, people and teams
//! resolved to ids, days to instants, and operators sorted into conversation filters (tested
//! against each conversation's current state), identity filters (customer name, phone, email,
//! id: looked up first) and text to match in messages and conversations.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::dates::{TimeRange, resolve};
use super::query::{AssigneeRef, ClauseKind, EmailValue, ParseError, SearchQuery, TeamRef};
use super::text::{folded_analyzer, stemmed_analyzer, terms};

/// Words match within one document (a message, or the conversation's customer name and phone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    /// One word: its stem for messages, its folded form for names; the word being typed also
    /// matches as a prefix (folded); a number of 7+ digits also matches phones.
    Word { stem: String, folded: String, prefix: bool, digits: Option<String> },
    /// Folded words in this order (a quoted phrase, or a word that splits in several:
    /// `e-mail`, `order#123`).
    Phrase(Vec<String>),
}

/// Who the conversation is with, or which it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Folded words of the customer's name, all present.
    Name(Vec<String>),
    /// E.164 digits, and the national number without its trunk zero.
    Phone {
        digits: String,
        national: Option<String>,
    },
    Email(EmailValue),
    /// A conversation id, message id or provider message id.
    Id(String),
}

/// Which values of one conversation attribute pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed<T> {
    /// `Some`: only these; `None`: any.
    pub any_of: Option<Vec<T>>,
    pub none_of: Vec<T>,
}

impl<T> Default for Allowed<T> {
    fn default() -> Self {
        Self { any_of: None, none_of: Vec::new() }
    }
}

impl<T: PartialEq + Clone> Allowed<T> {
    pub fn allows(&self, value: &T) -> bool {
        self.any_of.as_ref().is_none_or(|any| any.contains(value)) && !self.none_of.contains(value)
    }

    pub fn is_any(&self) -> bool {
        self.any_of.is_none() && self.none_of.is_empty()
    }

    fn add(&mut self, negated: bool, values: Vec<T>) {
        if negated {
            self.none_of.extend(values);
        } else {
            self.any_of.get_or_insert_with(Vec::new).extend(values);
        }
    }
}

/// Filters on a conversation's current state (codes as in the index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFilter {
    pub status: Allowed<u8>,
    pub channel: Allowed<u8>,
    pub priority: Allowed<u8>,
    /// `None` stands for "nobody".
    pub assignee: Allowed<Option<Uuid>>,
    pub team: Allowed<Option<Uuid>>,
}

impl StateFilter {
    pub fn is_any(&self) -> bool {
        self.status.is_any()
            && self.channel.is_any()
            && self.priority.is_any()
            && self.assignee.is_any()
            && self.team.is_any()
    }
}

/// What the index runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Each must match in one document of the conversation (the same one for all).
    pub texts: Vec<TextMatch>,
    /// A conversation with a document matching any of these is left out.
    pub excluded_texts: Vec<TextMatch>,
    /// Groups that must all hold; within a group, any identity.
    pub identities: Vec<Vec<Identity>>,
    /// A conversation matching any of these is left out.
    pub excluded_identities: Vec<Identity>,
    pub filter: StateFilter,
    /// When the matching message was sent, or the conversation last active.
    pub time: TimeRange,
}

impl Plan {
    /// Whether nothing can match (a time range that ends before it starts).
    pub fn is_contradiction(&self) -> bool {
        self.time.is_empty()
    }
}

/// What resolving names needs from outside: the caller, the tenant's agents and teams, its
/// time zone and the time.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The calling person; `None` for services and operators.
    pub me: Option<Uuid>,
    /// Agents by lower-cased email.
    pub agents: HashMap<String, Uuid>,
    /// Teams by lower-cased name.
    pub teams: HashMap<String, Uuid>,
    pub zone: Tz,
    pub now: DateTime<Utc>,
}

/// Which names a query needs resolved (so that the directory is asked only when needed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub agents: bool,
    pub teams: bool,
    pub zone: bool,
}

pub fn needs(query: &SearchQuery) -> Needs {
    let mut needs = Needs::default();
    for clause in &query.clauses {
        match &clause.kind {
            ClauseKind::Assigned(AssigneeRef::Email(_)) => needs.agents = true,
            ClauseKind::Team(TeamRef::Name(_)) => needs.teams = true,
            ClauseKind::Date(_) => needs.zone = true,
            _ => {}
        }
    }
    needs
}

/// The smallest number of digits read as a phone number inside free text.
const PHONE_WORD_DIGITS: usize = 7;

/// Plans a conversation search.
pub fn plan(query: &SearchQuery, directory: &Directory) -> Result<Plan, ParseError> {
    let mut stemmer = stemmed_analyzer();
    let mut folder = folded_analyzer();
    let mut plan = Plan::default();
    let mut dates = Vec::new();
    let mut identity_groups: Vec<(&'static str, Vec<Identity>)> = Vec::new();
    let err = |span: (usize, usize), message: String| ParseError { column: span.0 + 1, message };
    for clause in &query.clauses {
        let negated = clause.negated;
        let mut identity = |kind: &'static str, id: Identity, plan: &mut Plan| {
            if negated {
                plan.excluded_identities.push(id);
            } else if let Some((_, group)) = identity_groups.iter_mut().find(|(k, _)| *k == kind) {
                group.push(id);
            } else {
                identity_groups.push((kind, vec![id]));
            }
        };
        match &clause.kind {
            ClauseKind::Word { text, prefix } => {
                // A bare email address or id is read as email: or id:.
                if let Some(email) = bare_email(text) {
                    identity("email", Identity::Email(email), &mut plan);
                    continue;
                }
                if Uuid::parse_str(text).is_ok() {
                    identity("id", Identity::Id(text.to_lowercase()), &mut plan);
                    continue;
                }
                let Some(m) = text_match(text, *prefix && !negated, &mut stemmer, &mut folder) else { continue };
                if negated { plan.excluded_texts.push(m) } else { plan.texts.push(m) }
            }
            ClauseKind::Phrase(p) => {
                let words = terms(&mut folder, p);
                if words.is_empty() {
                    continue;
                }
                let m = TextMatch::Phrase(words);
                if negated { plan.excluded_texts.push(m) } else { plan.texts.push(m) }
            }
            ClauseKind::Name(n) => {
                let words = terms(&mut folder, n);
                if words.is_empty() {
                    return Err(err(clause.span, format!("name: {n:?} has no letters or digits")));
                }
                identity("name", Identity::Name(words), &mut plan);
            }
            ClauseKind::Phone(p) => identity(
                "phone",
                Identity::Phone { digits: p.digits.as_str().to_owned(), national: p.national.clone() },
                &mut plan,
            ),
            ClauseKind::Email(e) => identity("email", Identity::Email(e.clone()), &mut plan),
            ClauseKind::Id(id) => identity("id", Identity::Id(id.clone()), &mut plan),
            ClauseKind::Assigned(a) => {
                let who = match a {
                    AssigneeRef::Me => Some(directory.me.ok_or_else(|| {
                        err(clause.span, "assigned:me needs a person; this caller is not one".into())
                    })?),
                    AssigneeRef::Nobody => None,
                    AssigneeRef::Id(id) => Some(*id),
                    AssigneeRef::Email(email) => Some(
                        *directory
                            .agents
                            .get(email)
                            .ok_or_else(|| err(clause.span, format!("assigned: no agent has the email {email}")))?,
                    ),
                };
                plan.filter.assignee.add(negated, vec![who]);
            }
            ClauseKind::Team(t) => {
                let team = match t {
                    TeamRef::Nobody => None,
                    TeamRef::Id(id) => Some(*id),
                    TeamRef::Name(name) => Some(
                        *directory
                            .teams
                            .get(&name.to_lowercase())
                            .ok_or_else(|| err(clause.span, format!("team: no team is named {name:?}")))?,
                    ),
                };
                plan.filter.team.add(negated, vec![team]);
            }
            ClauseKind::Status(s) => plan.filter.status.add(negated, s.iter().map(|s| s.code()).collect()),
            ClauseKind::Channel(c) => plan.filter.channel.add(negated, c.iter().map(|c| c.code()).collect()),
            ClauseKind::Priority(p) => plan.filter.priority.add(negated, p.iter().map(|p| p.code()).collect()),
            ClauseKind::Date(bound) => dates.push(*bound),
        }
    }
    plan.identities = identity_groups.into_iter().map(|(_, group)| group).collect();
    plan.time = resolve(&dates, directory.zone, directory.now);
    Ok(plan)
}

/// Plans a customer search: words, phrases, and the identity operators; conversation
/// operators are refused at their column.
pub fn plan_customers(query: &SearchQuery) -> Result<Plan, ParseError> {
    for clause in &query.clauses {
        let refused = match clause.kind {
            ClauseKind::Assigned(_) => Some("assigned:"),
            ClauseKind::Team(_) => Some("team:"),
            ClauseKind::Status(_) => Some("status:"),
            ClauseKind::Channel(_) => Some("channel:"),
            ClauseKind::Priority(_) => Some("priority:"),
            ClauseKind::Date(_) => Some("dates"),
            _ => None,
        };
        if let Some(op) = refused {
            return Err(ParseError {
                column: clause.span.0 + 1,
                message: format!("{op} applies to conversations, not to customers"),
            });
        }
    }
    let directory =
        Directory { me: None, agents: HashMap::new(), teams: HashMap::new(), zone: Tz::UTC, now: DateTime::UNIX_EPOCH };
    plan(query, &directory)
}

fn bare_email(text: &str) -> Option<EmailValue> {
    let (local, domain) = text.split_once('@')?;
    let ok = !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
    ok.then(|| EmailValue::Address(text.to_lowercase()))
}

fn text_match(
    text: &str,
    prefix: bool,
    stemmer: &mut tantivy::tokenizer::TextAnalyzer,
    folder: &mut tantivy::tokenizer::TextAnalyzer,
) -> Option<TextMatch> {
    let folded = terms(folder, text);
    match folded.len() {
        0 => None,
        1 => {
            let stem = terms(stemmer, text).into_iter().next().unwrap_or_else(|| folded[0].clone());
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let phone_like = digits.len() >= PHONE_WORD_DIGITS
                && text.chars().all(|c| c.is_ascii_digit() || c == '+')
                && digits.len() <= super::phone::MAX_DIGITS;
            let folded = folded.into_iter().next().unwrap_or_default();
            // One letter is too short a prefix to mean anything.
            let prefix = prefix && folded.chars().count() >= 2;
            Some(TextMatch::Word { stem, folded, prefix, digits: phone_like.then_some(digits) })
        }
        _ => Some(TextMatch::Phrase(folded)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::{Channel, Status};
    use crate::domain::query::parse;

    fn directory() -> Directory {
        Directory {
            me: Some(Uuid::from_u128(7)),
            agents: HashMap::from([("sarah@company.com".to_owned(), Uuid::from_u128(1))]),
            teams: HashMap::from([("tier 2".to_owned(), Uuid::from_u128(2))]),
            zone: "Europe/Paris".parse().unwrap(),
            now: "2026-03-10T12:00:00Z".parse().unwrap(),
        }
    }

    fn planned(text: &str) -> Plan {
        plan(&parse(text).unwrap(), &directory()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn words_become_stems_for_messages_and_folded_forms_for_names() {
        let p = planned("Refunds Crème ");
        assert_eq!(
            p.texts,
            vec![
                TextMatch::Word { stem: "refund".into(), folded: "refunds".into(), prefix: false, digits: None },
                TextMatch::Word { stem: "creme".into(), folded: "creme".into(), prefix: false, digits: None },
            ]
        );
    }

    #[test]
    fn the_word_being_typed_is_a_prefix_unless_it_is_one_letter() {
        assert!(matches!(&planned("refund deliv").texts[1], TextMatch::Word { prefix: true, .. }));
        assert!(matches!(&planned("refund d").texts[1], TextMatch::Word { prefix: false, .. }));
    }

    #[test]
    fn a_word_that_splits_is_a_phrase() {
        assert_eq!(planned("order#123 ").texts, vec![TextMatch::Phrase(vec!["order".into(), "123".into()])]);
        assert_eq!(
            planned(r#""Late  Delivery""#).texts,
            vec![TextMatch::Phrase(vec!["late".into(), "delivery".into()])]
        );
    }

    #[test]
    fn long_numbers_also_match_phones() {
        let p = planned("+15551234567 ");
        assert!(matches!(&p.texts[0], TextMatch::Word { digits: Some(d), .. } if d == "15551234567"));
        assert!(matches!(&planned("12345 ").texts[0], TextMatch::Word { digits: None, .. }));
    }

    #[test]
    fn a_bare_email_or_id_is_read_as_the_operator() {
        let p = planned("Ana@Example.com ");
        assert_eq!(p.identities, vec![vec![Identity::Email(EmailValue::Address("ana@example.com".into()))]]);
        assert!(p.texts.is_empty());
        let id = Uuid::now_v7();
        assert_eq!(planned(&id.to_string()).identities, vec![vec![Identity::Id(id.to_string())]]);
    }

    #[test]
    fn the_same_operator_twice_means_either_and_different_ones_both() {
        let p = planned("phone:15551234567 phone:15557654321 name:ana");
        assert_eq!(p.identities.len(), 2);
        assert_eq!(p.identities[0].len(), 2);
        let p = planned("status:active status:pending -channel:webchat");
        assert_eq!(p.filter.status.any_of, Some(vec![Status::Active.code(), Status::Pending.code()]));
        assert_eq!(p.filter.channel.none_of, vec![Channel::Webchat.code()]);
        assert!(p.filter.status.allows(&Status::Pending.code()));
        assert!(!p.filter.status.allows(&Status::Resolved.code()));
        assert!(!p.filter.channel.allows(&Channel::Webchat.code()));
    }

    #[test]
    fn people_and_teams_resolve_to_ids() {
        let p = planned(r#"assigned:me assigned:sarah@company.com -team:"Tier 2" team:none"#);
        assert_eq!(p.filter.assignee.any_of, Some(vec![Some(Uuid::from_u128(7)), Some(Uuid::from_u128(1))]));
        assert_eq!(p.filter.team.none_of, vec![Some(Uuid::from_u128(2))]);
        assert_eq!(p.filter.team.any_of, Some(vec![None]));
        assert_eq!(planned("assigned:none").filter.assignee.any_of, Some(vec![None]));
    }

    #[test]
    fn unknown_people_and_teams_point_at_their_clause() {
        let e = plan(&parse("refund assigned:bob@x.io").unwrap(), &directory()).unwrap_err();
        assert_eq!(e.column, 8);
        assert!(e.message.contains("bob@x.io"));
        let e = plan(&parse("team:Sales").unwrap(), &directory()).unwrap_err();
        assert_eq!(e.column, 1);
        let mut d = directory();
        d.me = None;
        assert!(plan(&parse("assigned:me").unwrap(), &d).unwrap_err().message.contains("needs a person"));
    }

    #[test]
    fn dates_become_a_range_in_the_tenant_zone() {
        let p = planned("after:2026-03-01 before:2026-03-08");
        assert_eq!(p.time.from, Some("2026-02-28T23:00:00Z".parse().unwrap()));
        assert_eq!(p.time.to, Some("2026-03-07T23:00:00Z".parse().unwrap()));
        assert!(planned("after:2026-03-08 before:2026-03-01").is_contradiction());
    }

    #[test]
    fn excluded_words_and_identities_are_kept_apart() {
        let p = planned("refund -paypal -\"gift card\" -phone:15551234567");
        assert_eq!(p.texts.len(), 1);
        assert_eq!(p.excluded_texts.len(), 2);
        assert_eq!(p.excluded_identities.len(), 1);
        assert!(matches!(&p.excluded_texts[0], TextMatch::Word { prefix: false, .. }));
    }

    #[test]
    fn punctuation_only_words_are_ignored() {
        assert_eq!(planned("??? !!").texts, vec![]);
    }

    #[test]
    fn customer_searches_refuse_conversation_operators_at_their_column() {
        let e = plan_customers(&parse("ana status:open").unwrap()).unwrap_err();
        assert_eq!(e.column, 5);
        assert!(e.message.contains("not to customers"));
        assert!(plan_customers(&parse("ana phone:+15551234567 email:@x.io").unwrap()).is_ok());
    }

    #[test]
    fn needs_name_only_what_the_query_uses() {
        assert_eq!(needs(&parse("refund").unwrap()), Needs::default());
        let n = needs(&parse("assigned:a@b.io team:x on:today").unwrap());
        assert!(n.agents && n.teams && n.zone);
        assert!(!needs(&parse("assigned:me team:none").unwrap()).agents);
    }
}
