//! Running a [`Plan`] against the index.
//!
//! Every query carries the caller's tenant as a mandatory term, and every candidate document
//! is tested, inside the scan, against the current state of its conversation: same tenant, not
//! deleted, visible to the caller (team scoping), passing the filters. Identity operators
//! (`name:`, `phone:`, `email:`, `id:`) and excluded words are looked up first, as sets of
//! conversations and customers. Words match within one document: a message (stemmed text,
//! folded phrases and prefixes) or the conversation itself (customer name and phone).
//! Results are grouped by conversation, each keeping its best document; the top-k of groups is
//! exact (a group's value is its best document's).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use inbox_service::Visibility;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, EnableScoring, Occur, PhraseQuery, Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, TERMINATED, TantivyDocument, Term};
use uuid::Uuid;

use super::schema::{DocKind, Fields, TextSource};
use super::state::{ConversationState, KeyMap, Tables};
use super::{IndexError, NO_ORDINAL, SearchIndex};
use crate::documents::CustomerProfile;
use crate::domain::dates::TimeRange;
use crate::domain::highlight::{Fragment, Matcher, highlight};
use crate::domain::plan::{Identity, Plan, StateFilter, TextMatch};
use crate::domain::query::EmailValue;
use crate::domain::questions::FirstMessage;

/// Terms a typed prefix expands to at most (the most frequent ones).
const PREFIX_EXPANSIONS: usize = 50;
/// Deepest result reachable by paging.
pub const MAX_RESULTS: usize = 1_000;
/// First customer messages read for frequent questions at most (the newest of the period).
pub const MAX_QUESTIONS_CONSIDERED: usize = 5_000;

/// Who searches.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Uuid,
    pub visibility: Visibility,
    /// Internal notes are searched (people yes, the AI account no).
    pub notes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Relevance,
    Recent,
}

/// One page of a conversation search.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
    pub order: Order,
    pub facets: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BestMessage {
    pub id: String,
    pub sender: u64,
    pub sent_at: i64,
    pub note: bool,
    pub source: TextSource,
    pub fragment: Fragment,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationHit {
    /// The conversation's protobuf as last indexed.
    pub conversation: Vec<u8>,
    pub best_message: Option<BestMessage>,
    /// The customer's name, when the conversation itself matched.
    pub name_highlight: Option<Fragment>,
    pub score: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    pub total: u64,
    pub by_status: BTreeMap<u8, u64>,
    pub by_channel: BTreeMap<u8, u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationResults {
    pub hits: Vec<ConversationHit>,
    /// More results follow this page.
    pub more: bool,
    pub facets: Option<Facets>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerHit {
    pub profile: CustomerProfile,
    pub name_highlight: Fragment,
    pub score: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerResults {
    pub hits: Vec<CustomerHit>,
    pub more: bool,
}

/// Conversations (by key) and customers a lookup found.
#[derive(Debug, Default)]
struct Found {
    conversations: HashSet<u64>,
    customers: HashSet<Uuid>,
}

impl Found {
    fn holds(&self, key: u64, state: &ConversationState) -> bool {
        self.conversations.contains(&key) || state.contact.is_some_and(|c| self.customers.contains(&c))
    }
}

/// The best groups seen so far, by value (higher is better). Of two equal values the one
/// offered first ranks higher: the scan's order (segment by segment, document by document) is
/// fixed for one searcher, so pages stay exact, and a document that only ties the lowest kept
/// value can never enter, which lets tantivy skip every block that cannot beat it.
struct TopGroups {
    capacity: usize,
    /// Each kept group's best value, the sequence number of its offer, and its document.
    best: KeyMap<(f64, u64, DocAddress)>,
    /// Min-heap of ranks; entries that are no longer their group's best are stale.
    heap: BinaryHeap<Reverse<(Rank, u64)>>,
    /// Offers so far: the next offer's sequence number.
    offers: u64,
    /// [`Self::threshold`], kept current by [`Self::offer`] (read for every candidate).
    floor: Option<f64>,
}

/// A group's rank: higher value first, then the earlier offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank(OrderedValue, Reverse<u64>);

#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedValue(f64);

impl Eq for OrderedValue {}

impl PartialOrd for OrderedValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedValue {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl TopGroups {
    fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), best: KeyMap::default(), heap: BinaryHeap::new(), offers: 0, floor: None }
    }

    /// The lowest rank kept, when full: a document must rank above it to change the top.
    fn lowest(&mut self) -> Option<Rank> {
        if self.best.len() < self.capacity {
            return None;
        }
        self.clean();
        self.heap.peek().map(|Reverse((rank, _))| *rank)
    }

    /// When full, the value a document must exceed to change the top (a tie comes later than
    /// what it ties, so it cannot).
    fn threshold(&self) -> Option<f64> {
        self.floor
    }

    /// Drops stale entries from the heap's top.
    fn clean(&mut self) {
        while let Some(Reverse((Rank(v, Reverse(seq)), key))) = self.heap.peek() {
            if self.best.get(key).is_some_and(|(best, at, _)| *best == v.0 && at == seq) {
                break;
            }
            self.heap.pop();
        }
    }

    fn offer(&mut self, key: u64, value: f64, address: DocAddress) {
        let seq = self.offers;
        self.offers += 1;
        let rank = Rank(OrderedValue(value), Reverse(seq));
        match self.best.get_mut(&key) {
            Some(kept) => {
                if value > kept.0 {
                    *kept = (value, seq, address);
                    self.heap.push(Reverse((rank, key)));
                }
            }
            None => {
                if let Some(lowest) = self.lowest() {
                    if rank <= lowest {
                        return;
                    }
                    if let Some(Reverse((_, evicted))) = self.heap.pop() {
                        self.best.remove(&evicted);
                    }
                }
                self.best.insert(key, (value, seq, address));
                self.heap.push(Reverse((rank, key)));
            }
        }
        self.floor = self.lowest().map(|Rank(v, _)| v.0);
    }

    /// Best first; ties in the order they were offered.
    fn into_sorted(self) -> Vec<(u64, f64, DocAddress)> {
        let mut all: Vec<(u64, f64, u64, DocAddress)> =
            self.best.into_iter().map(|(k, (v, seq, a))| (k, v, seq, a)).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
        all.into_iter().map(|(k, v, _, a)| (k, v, a)).collect()
    }
}

fn tenant_term(f: &Fields, tenant: Uuid) -> Term {
    Term::from_field_text(f.tenant, &tenant.to_string())
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

fn text_term(field: Field, text: &str) -> Term {
    Term::from_field_text(field, text)
}

/// Terms a set query names one by one at most; beyond, tantivy's set query (an automaton over
/// the term dictionary, and a bitset of the segment) is cheaper.
const FEW_TERMS: usize = 64;

/// Documents holding any of `terms`, each scoring 1 (as tantivy's set query does). A few terms
/// are read as a union of their postings, without building an automaton and a bitset of the
/// whole segment per query.
fn any_term(terms: Vec<Term>) -> Box<dyn Query> {
    if terms.is_empty() {
        return Box::new(tantivy::query::EmptyQuery);
    }
    if terms.len() > FEW_TERMS {
        return Box::new(TermSetQuery::new(terms));
    }
    let union = any_of(
        terms.into_iter().map(|t| Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>).collect(),
    );
    Box::new(ConstScoreQuery::new(union, 1.0))
}

fn any_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        return queries.into_iter().next().unwrap_or_else(|| Box::new(tantivy::query::EmptyQuery));
    }
    Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect()))
}

fn phrase(field: Field, words: &[String]) -> Box<dyn Query> {
    if words.len() == 1 {
        return term_query(text_term(field, &words[0]));
    }
    Box::new(PhraseQuery::new(words.iter().map(|w| text_term(field, w)).collect()))
}

fn time_query(f: &Fields, time: &TimeRange) -> Option<Box<dyn Query>> {
    if time.is_unbounded() {
        return None;
    }
    let bound = |at: Option<DateTime<Utc>>, inclusive: bool| match at {
        None => Bound::Unbounded,
        Some(at) => {
            let term = Term::from_field_i64(f.at, at.timestamp_micros());
            if inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
        }
    };
    Some(Box::new(RangeQuery::new(bound(time.from, true), bound(time.to, false))))
}

/// The most frequent terms of `field` starting with `prefix`.
fn expand_prefix(searcher: &Searcher, field: Field, prefix: &str) -> Result<Vec<Term>, IndexError> {
    let mut frequency: HashMap<Vec<u8>, u64> = HashMap::new();
    let upper = format!("{prefix}\u{10FFFF}");
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted.terms().range().ge(prefix.as_bytes()).lt(upper.as_bytes()).into_stream()?;
        while stream.advance() {
            *frequency.entry(stream.key().to_vec()).or_default() += u64::from(stream.value().doc_freq);
            if frequency.len() > 20 * PREFIX_EXPANSIONS {
                break;
            }
        }
    }
    let mut terms: Vec<(Vec<u8>, u64)> = frequency.into_iter().collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(terms
        .into_iter()
        .take(PREFIX_EXPANSIONS)
        .filter_map(|(bytes, _)| String::from_utf8(bytes).ok())
        .map(|t| text_term(field, &t))
        .collect())
}

/// Which documents the query runs over.
enum Target {
    Messages,
    /// The conversations themselves (their state; they hold no text).
    Conversations,
    /// The customer, name and phone each conversation is found by.
    Contacts,
    Customers,
}

fn text_query(searcher: &Searcher, f: &Fields, m: &TextMatch, target: &Target) -> Result<Box<dyn Query>, IndexError> {
    Ok(match (m, target) {
        (TextMatch::Word { stem, folded, prefix, .. }, Target::Messages) => {
            let mut options = vec![term_query(text_term(f.body, stem))];
            if *prefix {
                options.extend(expand_prefix(searcher, f.body_exact, folded)?.into_iter().map(term_query));
            }
            any_of(options)
        }
        (TextMatch::Word { folded, prefix, digits, stem }, Target::Contacts | Target::Customers) => {
            let mut options = vec![term_query(text_term(f.name, folded))];
            if *prefix {
                options.extend(expand_prefix(searcher, f.name, folded)?.into_iter().map(term_query));
            }
            if let Some(digits) = digits {
                options.push(term_query(text_term(f.phone, digits)));
                options.push(term_query(text_term(f.phone_suffix, digits)));
            }
            if matches!(target, Target::Customers) {
                options.push(term_query(text_term(f.attributes, stem)));
            }
            any_of(options)
        }
        (TextMatch::Phrase(words), Target::Messages) => phrase(f.body_exact, words),
        (TextMatch::Phrase(words), Target::Contacts | Target::Customers) => phrase(f.name, words),
        (_, Target::Conversations) => Box::new(tantivy::query::EmptyQuery),
    })
}

/// Whether a conversation's state passes the caller's visibility and the plan's filters.
fn passes(state: &ConversationState, tenant: Uuid, visibility: &Visibility, filter: &StateFilter) -> bool {
    state.tenant == tenant
        && !state.deleted
        && visibility.allows(state.team, state.assignee)
        && filter.status.allows(&state.status)
        && filter.channel.allows(&state.channel)
        && filter.priority.allows(&state.priority)
        && filter.assignee.allows(&state.assignee)
        && filter.team.allows(&state.team)
}

/// What a query decided about each conversation, by ordinal, and the facets of those it
/// accepted: each conversation is tested once, however many of its documents match, and
/// counted once.
struct Verdicts<'a> {
    tables: &'a Tables,
    test: &'a dyn Fn(u64, &ConversationState) -> bool,
    /// 0: not tested yet; 1: refused; 2: accepted.
    marks: Vec<u8>,
    facets: Option<Facets>,
}

const UNTESTED: u8 = 0;
const REFUSED: u8 = 1;
const ACCEPTED: u8 = 2;

impl<'a> Verdicts<'a> {
    fn new(tables: &'a Tables, test: &'a dyn Fn(u64, &ConversationState) -> bool, facets: bool) -> Self {
        Self { tables, test, marks: vec![UNTESTED; tables.conversations.len()], facets: facets.then(Facets::default) }
    }

    /// Whether the conversation of `ordinal` (or, without one, of `key`) is accepted.
    fn accepts(&mut self, ordinal: u32, key: impl FnOnce() -> Option<u64>) -> bool {
        let Some(ordinal) = resolve_ordinal(self.tables, ordinal, key) else { return false };
        let Some(mark) = self.marks.get(ordinal as usize).copied() else { return false };
        match mark {
            ACCEPTED => true,
            REFUSED => false,
            _ => {
                let state = self.tables.conversations.by_ordinal(ordinal);
                let accepted = (self.test)(super::state::conv_key(&state.id), state);
                self.marks[ordinal as usize] = if accepted { ACCEPTED } else { REFUSED };
                if accepted && let Some(facets) = &mut self.facets {
                    facets.total += 1;
                    *facets.by_status.entry(state.status).or_default() += 1;
                    *facets.by_channel.entry(state.channel).or_default() += 1;
                }
                accepted
            }
        }
    }
}

/// A document's conversation ordinal: the one its segment gave it, or (without one) its
/// conversation key's.
fn resolve_ordinal(tables: &Tables, ordinal: u32, key: impl FnOnce() -> Option<u64>) -> Option<u32> {
    match ordinal {
        NO_ORDINAL => tables.conversations.ordinal(&key()?),
        ordinal => Some(ordinal),
    }
}

/// How a query's matches are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// By time, newest first: one pass over every match.
    Recent,
    /// By score, one pass: tantivy skips only the documents that cannot beat the top.
    Scored,
    /// By score, where tantivy skips whole blocks that cannot beat the top: with facets, the
    /// count is a pass of its own without scores, and the top a pruned pass that finds every
    /// conversation already tested (one scored pass over every match costs several times both).
    ScoredByBlocks,
}

impl Scan {
    /// Tantivy skips blocks for a pure intersection of terms read with their frequencies: the
    /// tenant and whole words, without a typed prefix (a union of terms), a phrase (positions),
    /// a date range or the exclusion of notes.
    fn of(plan: &Plan, caller: &Caller, order: Order) -> Self {
        if order == Order::Recent || plan.texts.is_empty() {
            return Scan::Recent;
        }
        let words_only = plan.texts.iter().all(|m| matches!(m, TextMatch::Word { prefix: false, .. }));
        if words_only && plan.time.is_unbounded() && caller.notes { Scan::ScoredByBlocks } else { Scan::Scored }
    }
}

/// A query whose matches are candidates. Its documents without a time of their own (contacts)
/// are dated by their conversation's last activity: `activity` is the range it must be in.
struct Candidates {
    query: Box<dyn Query>,
    activity: Option<TimeRange>,
}

/// Feeds every accepted match of `candidates` into `top` (by score, or by time); with facets,
/// every match is also tested (and counted), else only those that could enter the top.
fn collect(
    searcher: &Searcher,
    ordinals: &[std::sync::Arc<[u32]>],
    candidates: &Candidates,
    scan: Scan,
    verdicts: &mut Verdicts<'_>,
    top: &mut TopGroups,
) -> Result<(), IndexError> {
    let query = candidates.query.as_ref();
    let tables = verdicts.tables;
    let unscored = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let scoring = match scan {
        Scan::Recent => None,
        Scan::Scored | Scan::ScoredByBlocks => Some(query.weight(EnableScoring::enabled_from_searcher(searcher))?),
    };
    let count = verdicts.facets.is_some();
    for ((ord, segment), ordinals) in searcher.segment_readers().iter().enumerate().zip(ordinals) {
        let ord = ord as u32;
        let conv_key = segment.fast_fields().u64("conv_key")?;
        let alive = segment.alive_bitset();
        let ordinal_of = |doc: DocId| ordinals.get(doc as usize).copied().unwrap_or(NO_ORDINAL);
        let last_activity = |doc: DocId| {
            let ordinal = resolve_ordinal(tables, ordinal_of(doc), || conv_key.first(doc))?;
            Some(tables.conversations.by_ordinal(ordinal).last_message_at)
        };
        let in_time = |doc: DocId| match &candidates.activity {
            None => true,
            Some(range) => {
                last_activity(doc).and_then(DateTime::from_timestamp_micros).is_some_and(|at| range.contains(at))
            }
        };
        let counts = |doc: DocId| count && in_time(doc) && !alive.is_some_and(|a| a.is_deleted(doc));
        let initial = top.threshold();
        // Offers an accepted document that could enter the top; returns the top's threshold.
        let mut consider = |verdicts: &mut Verdicts<'_>, doc: DocId, value: f64| -> Option<f64> {
            let below = top.threshold().is_some_and(|t| value <= t);
            if below || alive.is_some_and(|a| a.is_deleted(doc)) || !in_time(doc) {
                return top.threshold();
            }
            if verdicts.accepts(ordinal_of(doc), || conv_key.first(doc))
                && let Some(key) = conv_key.first(doc)
            {
                top.offer(key, value, DocAddress::new(ord, doc));
            }
            top.threshold()
        };
        let Some(scoring) = &scoring else {
            // By time (a contact's is its conversation's last activity): one pass that counts
            // and offers.
            let at = segment.fast_fields().i64("at")?;
            unscored.for_each_no_score(segment, &mut |docs: &[DocId]| {
                for &doc in docs {
                    if counts(doc) {
                        verdicts.accepts(ordinal_of(doc), || conv_key.first(doc));
                    }
                    if let Some(when) = at.first(doc).or_else(|| last_activity(doc)) {
                        consider(verdicts, doc, when as f64);
                    }
                }
            })?;
            continue;
        };
        if count && scan == Scan::Scored {
            // One pass that counts and offers.
            scoring.for_each(segment, &mut |doc: DocId, score: Score| {
                if counts(doc) {
                    verdicts.accepts(ordinal_of(doc), || conv_key.first(doc));
                }
                consider(verdicts, doc, f64::from(score));
            })?;
            continue;
        }
        if count {
            unscored.for_each_no_score(segment, &mut |docs: &[DocId]| {
                for &doc in docs {
                    if counts(doc) {
                        verdicts.accepts(ordinal_of(doc), || conv_key.first(doc));
                    }
                }
            })?;
        }
        // Tantivy passes only documents scoring above the threshold, and skips every block
        // whose best score does not exceed it: a tie never enters (see `TopGroups`). The
        // threshold is a score tantivy gave, so it converts back to `Score` exactly.
        let pruning = |threshold: Option<f64>| threshold.map_or(Score::MIN, |t| t as Score);
        scoring.for_each_pruning(pruning(initial), segment, &mut |doc: DocId, score: Score| {
            pruning(consider(verdicts, doc, f64::from(score)))
        })?;
    }
    Ok(())
}

impl SearchIndex {
    /// One page of the conversations matching `plan`, for `caller`.
    pub fn search_conversations(
        &self,
        caller: &Caller,
        plan: &Plan,
        page: Page,
    ) -> Result<ConversationResults, IndexError> {
        if plan.is_contradiction() {
            return Ok(ConversationResults { facets: page.facets.then(Facets::default), ..Default::default() });
        }
        let searcher = self.searcher();
        let f = self.fields();
        let tables = self.tables();
        let tenant = caller.tenant;

        // Identity operators and excluded words, looked up first.
        let required: Vec<Found> = plan
            .identities
            .iter()
            .map(|group| self.lookup_identities(&searcher, tenant, group))
            .collect::<Result<_, _>>()?;
        let mut excluded = self.lookup_identities(&searcher, tenant, &plan.excluded_identities)?;
        for m in &plan.excluded_texts {
            for target in [Target::Messages, Target::Contacts] {
                let query = self.scoped(
                    &searcher,
                    caller,
                    vec![text_query(&searcher, f, m, &target)?],
                    &target,
                    &TimeRange::default(),
                );
                self.collect_keys(&searcher, query.as_ref(), &mut excluded.conversations)?;
            }
        }
        let accept = |key: u64, state: &ConversationState| -> bool {
            passes(state, tenant, &caller.visibility, &plan.filter)
                && required.iter().all(|found| found.holds(key, state))
                && !excluded.holds(key, state)
        };

        let queries = self.candidate_queries(&searcher, caller, plan, &required)?;
        let scan = Scan::of(plan, caller, page.order);
        let scored = scan != Scan::Recent;
        let capacity = (page.offset + page.limit + 1).min(MAX_RESULTS + 1);
        let mut top = TopGroups::new(capacity);
        let mut verdicts = Verdicts::new(&tables, &accept, page.facets);
        let ordinals = self.segment_ordinals(&searcher, &tables)?;
        for candidates in &queries {
            collect(&searcher, &ordinals, candidates, scan, &mut verdicts, &mut top)?;
        }
        let facets = verdicts.facets;

        let groups = top.into_sorted();
        let more = groups.len() > page.offset + page.limit;
        let matcher = matcher_of(plan);
        let mut hits = Vec::new();
        for (key, value, address) in groups.into_iter().skip(page.offset).take(page.limit) {
            let Some(state) = tables.conversations.get(&key) else { continue };
            let Some(conversation) = self.stored_proto(&searcher, &state.id)? else { continue };
            let best: TantivyDocument = searcher.doc(address)?;
            let is_message = best.get_first(f.msg_id).is_some();
            let (best_message, name_highlight) = match is_message {
                true => (Some(best_message_of(f, &best, &matcher)), None),
                _ if !plan.texts.is_empty() => {
                    let name = self.stored_name(&conversation);
                    (None, Some(highlight(&name, &matcher)).filter(|h| !h.ranges.is_empty()))
                }
                _ => (None, None),
            };
            hits.push(ConversationHit {
                conversation,
                best_message,
                name_highlight,
                score: if scored { value as f32 } else { 0.0 },
            });
        }
        Ok(ConversationResults { hits, more, facets })
    }

    /// The queries whose matches are candidates (before the state test).
    fn candidate_queries(
        &self,
        searcher: &Searcher,
        caller: &Caller,
        plan: &Plan,
        required: &[Found],
    ) -> Result<Vec<Candidates>, IndexError> {
        let f = self.fields();
        let bounded = (!plan.time.is_unbounded()).then_some(plan.time);
        if !plan.texts.is_empty() {
            let mut queries = Vec::new();
            for (target, activity) in [(Target::Messages, None), (Target::Contacts, bounded)] {
                let clauses =
                    plan.texts.iter().map(|m| text_query(searcher, f, m, &target)).collect::<Result<Vec<_>, _>>()?;
                queries
                    .push(Candidates { query: self.scoped(searcher, caller, clauses, &target, &plan.time), activity });
            }
            return Ok(queries);
        }
        if bounded.is_some() {
            // No words, a date: conversations with a message in the range.
            let query = self.scoped(searcher, caller, vec![], &Target::Messages, &plan.time);
            return Ok(vec![Candidates { query, activity: None }]);
        }
        // No words: the conversations themselves, narrowed by what the index holds of them.
        let mut clauses: Vec<Box<dyn Query>> = Vec::new();
        let codes = |field: Field, any: &Option<Vec<u8>>| {
            any.as_ref()
                .map(|values| any_term(values.iter().map(|v| Term::from_field_u64(field, u64::from(*v))).collect()))
        };
        clauses.extend(codes(f.status, &plan.filter.status.any_of));
        clauses.extend(codes(f.channel, &plan.filter.channel.any_of));
        clauses.extend(codes(f.priority, &plan.filter.priority.any_of));
        // A small identity set names its conversations outright (a customer's, by their
        // contact documents).
        if let Some(found) = required.iter().min_by_key(|f| f.conversations.len() + f.customers.len())
            && found.conversations.len() + found.customers.len() <= 10_000
        {
            let mut keys = found.conversations.clone();
            if !found.customers.is_empty() {
                let customers =
                    any_term(found.customers.iter().map(|c| text_term(f.contact, &c.to_string())).collect());
                let query = self.scoped(searcher, caller, vec![customers], &Target::Contacts, &TimeRange::default());
                self.collect_keys(searcher, query.as_ref(), &mut keys)?;
            }
            clauses.push(any_term(keys.into_iter().map(|k| Term::from_field_u64(f.conv_key, k)).collect()));
        }
        let query = self.scoped(searcher, caller, clauses, &Target::Conversations, &plan.time);
        Ok(vec![Candidates { query, activity: None }])
    }

    /// `clauses` within the tenant, on one kind of document, within `time`.
    fn scoped(
        &self,
        _searcher: &Searcher,
        caller: &Caller,
        clauses: Vec<Box<dyn Query>>,
        target: &Target,
        time: &TimeRange,
    ) -> Box<dyn Query> {
        let f = self.fields();
        // With frequencies: a tenant and a word make a pure intersection of terms, which
        // tantivy prunes by block maxima (the tenant adds the same score to every document).
        let mut all: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(TermQuery::new(tenant_term(f, caller.tenant), IndexRecordOption::WithFreqs)))];
        let kind = match target {
            Target::Messages => DocKind::Message,
            Target::Conversations => DocKind::Conversation,
            Target::Contacts => DocKind::ConversationContact,
            Target::Customers => DocKind::Customer,
        };
        // Text fields exist on one kind only; without text the kind must be named.
        if clauses.is_empty() || !matches!(target, Target::Messages) {
            all.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_field_u64(f.kind, kind.code()), IndexRecordOption::Basic)),
            ));
        }
        all.extend(clauses.into_iter().map(|c| (Occur::Must, c)));
        if matches!(target, Target::Messages) && !caller.notes {
            all.push((
                Occur::MustNot,
                Box::new(TermQuery::new(Term::from_field_u64(f.note, 1), IndexRecordOption::Basic)),
            ));
        }
        // A contact has no time of its own (see `Candidates`).
        if !matches!(target, Target::Contacts)
            && let Some(time) = time_query(f, time)
        {
            all.push((Occur::Must, time));
        }
        Box::new(BooleanQuery::new(all))
    }

    /// The conversation keys of every match of `query`.
    fn collect_keys(&self, searcher: &Searcher, query: &dyn Query, keys: &mut HashSet<u64>) -> Result<(), IndexError> {
        let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
        for segment in searcher.segment_readers() {
            let conv_key = segment.fast_fields().u64("conv_key")?;
            let alive = segment.alive_bitset();
            weight.for_each_no_score(segment, &mut |docs: &[DocId]| {
                for &doc in docs {
                    if alive.is_some_and(|a| a.is_deleted(doc)) {
                        continue;
                    }
                    if let Some(key) = conv_key.first(doc) {
                        keys.insert(key);
                    }
                }
            })?;
        }
        Ok(())
    }

    /// Conversations and customers matching any of `identities` within the tenant.
    fn lookup_identities(
        &self,
        searcher: &Searcher,
        tenant: Uuid,
        identities: &[Identity],
    ) -> Result<Found, IndexError> {
        let f = self.fields();
        let mut found = Found::default();
        if identities.is_empty() {
            return Ok(found);
        }
        let options: Vec<Box<dyn Query>> = identities.iter().map(|i| identity_query(f, i)).collect();
        let query = BooleanQuery::new(vec![
            (Occur::Must, Box::new(TermQuery::new(tenant_term(f, tenant), IndexRecordOption::Basic)) as Box<dyn Query>),
            (Occur::Must, any_of(options)),
        ]);
        let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
        for segment in searcher.segment_readers() {
            // An identity is in a few documents: most segments hold none, and their columns
            // are not opened.
            let mut matches = weight.scorer(segment, 1.0)?;
            if matches.doc() == TERMINATED {
                continue;
            }
            let ff = segment.fast_fields();
            let kind = ff.u64("kind")?;
            let conv_key = ff.u64("conv_key")?;
            let contact = ff.str("contact")?;
            let alive = segment.alive_bitset();
            let mut text = String::new();
            let mut doc = matches.doc();
            while doc != TERMINATED {
                let kind = kind.first(doc).filter(|_| !alive.is_some_and(|a| a.is_deleted(doc)));
                match kind.and_then(DocKind::from_code) {
                    Some(DocKind::Conversation | DocKind::ConversationContact | DocKind::Message) => {
                        if let Some(key) = conv_key.first(doc) {
                            found.conversations.insert(key);
                        }
                    }
                    Some(DocKind::Customer) => {
                        if let Some(column) = &contact
                            && let Some(ord) = column.term_ords(doc).next()
                        {
                            text.clear();
                            if column.ord_to_str(ord, &mut text).unwrap_or(false)
                                && let Ok(id) = Uuid::parse_str(&text)
                            {
                                found.customers.insert(id);
                            }
                        }
                    }
                    _ => {}
                }
                doc = matches.advance();
            }
        }
        Ok(found)
    }

    /// The stored protobuf of the document with `key` (one alive at most: documents are
    /// upserted by key), read from the postings of its key without a collector.
    fn stored_proto(&self, searcher: &Searcher, id: &Uuid) -> Result<Option<Vec<u8>>, IndexError> {
        let f = self.fields();
        let term = Term::from_field_u64(f.key, super::state::conv_key(id));
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let Some(mut postings) = segment.inverted_index(f.key)?.read_postings(&term, IndexRecordOption::Basic)?
            else {
                continue;
            };
            let alive = segment.alive_bitset();
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if !alive.is_some_and(|a| a.is_deleted(doc)) {
                    let stored: TantivyDocument = searcher.doc(DocAddress::new(ord as u32, doc))?;
                    return Ok(stored.get_first(f.proto).and_then(|v| v.as_bytes()).map(<[u8]>::to_vec));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
    }

    fn stored_name(&self, conversation: &[u8]) -> String {
        use prost::Message as _;
        inbox_proto::conversation::v1::Conversation::decode(conversation)
            .ok()
            .and_then(|c| c.contact)
            .map(|c| c.display_name)
            .unwrap_or_default()
    }

    /// One page of the tenant's customers matching `plan` (words, phrases, identities).
    pub fn search_customers(
        &self,
        tenant: Uuid,
        plan: &Plan,
        offset: usize,
        limit: usize,
    ) -> Result<CustomerResults, IndexError> {
        let searcher = self.searcher();
        let f = self.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, Box::new(TermQuery::new(tenant_term(f, tenant), IndexRecordOption::Basic))),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.kind, DocKind::Customer.code()),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        for m in &plan.texts {
            clauses.push((Occur::Must, text_query(&searcher, f, m, &Target::Customers)?));
        }
        for group in &plan.identities {
            clauses.push((Occur::Must, any_of(group.iter().map(|i| identity_query(f, i)).collect())));
        }
        for m in &plan.excluded_texts {
            clauses.push((Occur::MustNot, text_query(&searcher, f, m, &Target::Customers)?));
        }
        for i in &plan.excluded_identities {
            clauses.push((Occur::MustNot, identity_query(f, i)));
        }
        let query = BooleanQuery::new(clauses);
        let wanted = (offset + limit + 1).min(MAX_RESULTS + 1);
        let scored = !plan.texts.is_empty();
        let addresses: Vec<(f32, DocAddress)> = if scored {
            searcher.search(&query, &TopDocs::with_limit(wanted).order_by_score())?
        } else {
            searcher
                .search(&query, &TopDocs::with_limit(wanted).order_by_fast_field::<i64>("at", tantivy::Order::Desc))?
                .into_iter()
                .map(|(_, address)| (0.0, address))
                .collect()
        };
        let more = addresses.len() > offset + limit;
        let matcher = matcher_of(plan);
        let mut hits = Vec::new();
        for (score, address) in addresses.into_iter().skip(offset).take(limit) {
            let doc: TantivyDocument = searcher.doc(address)?;
            let Some(bytes) = doc.get_first(f.proto).and_then(|v| v.as_bytes()) else { continue };
            let Ok(profile) = CustomerProfile::decode(bytes) else { continue };
            let name_highlight = highlight(&profile.name, &matcher);
            hits.push(CustomerHit { profile, name_highlight, score });
        }
        Ok(CustomerResults { hits, more })
    }

    /// The first customer message of each conversation of the tenant whose customer first
    /// wrote in `[from, to)`, newest first, at most [`MAX_QUESTIONS_CONSIDERED`].
    pub fn first_customer_messages(
        &self,
        caller: &Caller,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<FirstMessage>, IndexError> {
        let searcher = self.searcher();
        let f = self.fields();
        let tables = self.tables();
        let (from_micros, to_micros) = (from.timestamp_micros(), to.timestamp_micros());
        let time = TimeRange { from: Some(from), to: Some(to) };
        let query = self.scoped(&searcher, caller, vec![], &Target::Messages, &time);
        let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let customer = u64::from(crate::domain::conversation::Sender::Customer.code());
        let mut candidates: KeyMap<(i64, DocAddress)> = KeyMap::default();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ff = segment.fast_fields();
            let (conv_key, at, sender) = (ff.u64("conv_key")?, ff.i64("at")?, ff.u64("sender")?);
            let alive = segment.alive_bitset();
            weight.for_each_no_score(segment, &mut |docs: &[DocId]| {
                for &doc in docs {
                    if alive.is_some_and(|a| a.is_deleted(doc)) || sender.first(doc) != Some(customer) {
                        continue;
                    }
                    let (Some(key), Some(sent)) = (conv_key.first(doc), at.first(doc)) else { continue };
                    let Some(state) = tables.conversations.get(&key) else { continue };
                    let first = state.first_customer_at;
                    if sent == first
                        && (from_micros..to_micros).contains(&first)
                        && passes(state, caller.tenant, &caller.visibility, &StateFilter::default())
                    {
                        candidates.insert(key, (sent, DocAddress::new(ord as u32, doc)));
                    }
                }
            })?;
        }
        let mut newest: Vec<(i64, u64, DocAddress)> =
            candidates.into_iter().map(|(key, (sent, address))| (sent, key, address)).collect();
        newest.sort_by_key(|(sent, _, _)| std::cmp::Reverse(*sent));
        newest.truncate(MAX_QUESTIONS_CONSIDERED);
        let mut out = Vec::with_capacity(newest.len());
        for (sent, key, address) in newest {
            let Some(state) = tables.conversations.get(&key) else { continue };
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = doc.get_first(f.text).and_then(|v| v.as_str()).unwrap_or_default();
            if text.trim().is_empty() {
                continue;
            }
            out.push(FirstMessage {
                conversation_id: state.id.to_string(),
                message_id: doc.get_first(f.msg_id).and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                text: text.to_owned(),
                sent_at: DateTime::from_timestamp_micros(sent).unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

fn identity_query(f: &Fields, identity: &Identity) -> Box<dyn Query> {
    match identity {
        Identity::Name(words) => {
            // Every word of the name, in any order, on a conversation or a customer.
            Box::new(BooleanQuery::new(words.iter().map(|w| (Occur::Must, term_query(text_term(f.name, w)))).collect()))
        }
        Identity::Phone { digits, national } => {
            let mut terms = vec![text_term(f.phone, digits), text_term(f.phone_suffix, digits)];
            if let Some(national) = national {
                terms.push(text_term(f.phone_suffix, national));
                terms.push(text_term(f.phone, national));
            }
            any_term(terms)
        }
        Identity::Email(EmailValue::Address(a)) => term_query(text_term(f.email, a)),
        Identity::Email(EmailValue::Domain(d)) => term_query(text_term(f.email, &format!("@{d}"))),
        Identity::Id(id) => {
            let mut terms = vec![text_term(f.external_id, id)];
            if let Ok(uuid) = Uuid::parse_str(id) {
                // A conversation, a message (by its key), or a customer.
                let key = super::state::conv_key(&uuid);
                terms.push(Term::from_field_u64(f.conv_key, key));
                terms.push(Term::from_field_u64(f.key, key));
                terms.push(text_term(f.contact, &uuid.to_string()));
            }
            any_term(terms)
        }
    }
}

/// What to highlight for a plan's words.
pub fn matcher_of(plan: &Plan) -> Matcher {
    let mut m = Matcher::default();
    for t in &plan.texts {
        match t {
            TextMatch::Word { stem, folded, prefix, .. } => {
                m.stems.insert(stem.clone());
                m.exact.insert(folded.clone());
                if *prefix {
                    m.prefixes.push(folded.clone());
                }
            }
            TextMatch::Phrase(words) if words.len() == 1 => {
                m.exact.insert(words[0].clone());
            }
            TextMatch::Phrase(words) => m.phrases.push(words.clone()),
        }
    }
    m
}

fn best_message_of(f: &Fields, doc: &TantivyDocument, matcher: &Matcher) -> BestMessage {
    let text = doc.get_first(f.text).and_then(|v| v.as_str()).unwrap_or_default();
    BestMessage {
        id: doc.get_first(f.msg_id).and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
        sender: doc.get_first(f.sender).and_then(|v| v.as_u64()).unwrap_or(0),
        sent_at: doc.get_first(f.at).and_then(|v| v.as_i64()).unwrap_or(0),
        note: doc.get_first(f.note).and_then(|v| v.as_u64()) == Some(1),
        source: TextSource::from_code(doc.get_first(f.text_source).and_then(|v| v.as_u64()).unwrap_or(0)),
        fragment: highlight(text, matcher),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_words_read_with_notes_and_without_dates_are_scanned_by_blocks() {
        let scan = |query: &str, notes: bool, order: Order| {
            let parsed = crate::domain::query::parse(query).unwrap();
            let directory = crate::domain::plan::Directory {
                me: None,
                agents: HashMap::new(),
                teams: HashMap::new(),
                zone: chrono_tz::Tz::UTC,
                now: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
            };
            let plan = crate::domain::plan::plan(&parsed, &directory).unwrap();
            let caller = Caller { tenant: Uuid::nil(), visibility: Visibility::All, notes };
            Scan::of(&plan, &caller, order)
        };
        assert_eq!(scan("refund status:pending ", true, Order::Relevance), Scan::ScoredByBlocks);
        assert_eq!(scan("refund parcel ", true, Order::Relevance), Scan::ScoredByBlocks);
        assert_eq!(scan("refund ", true, Order::Recent), Scan::Recent);
        assert_eq!(scan("status:pending", true, Order::Relevance), Scan::Recent);
        assert_eq!(scan("refu", true, Order::Relevance), Scan::Scored);
        assert_eq!(scan("\"late delivery\"", true, Order::Relevance), Scan::Scored);
        assert_eq!(scan("refund after:2026-01-01", true, Order::Relevance), Scan::Scored);
        assert_eq!(scan("refund ", false, Order::Relevance), Scan::Scored);
    }

    #[test]
    fn top_groups_keep_each_groups_best_and_the_k_best_groups() {
        let mut top = TopGroups::new(2);
        let at = |d: u32| DocAddress::new(0, d);
        top.offer(1, 1.0, at(1));
        top.offer(2, 2.0, at(2));
        top.offer(1, 5.0, at(3)); // group 1 improves
        top.offer(3, 1.5, at(4)); // below the threshold (2.0): ignored
        assert_eq!(top.threshold(), Some(2.0));
        top.offer(3, 3.0, at(5)); // evicts group 2
        top.offer(2, 2.5, at(6)); // group 2 comes back too low
        let sorted = top.into_sorted();
        assert_eq!(sorted, vec![(1, 5.0, at(3)), (3, 3.0, at(5))]);
    }

    #[test]
    fn of_equal_values_the_first_offered_ranks_higher_and_a_later_tie_cannot_enter() {
        let mut top = TopGroups::new(2);
        let at = |d: u32| DocAddress::new(0, d);
        top.offer(7, 1.0, at(1));
        top.offer(3, 1.0, at(2));
        assert_eq!(top.threshold(), Some(1.0));
        top.offer(1, 1.0, at(3)); // ties the lowest kept: stays out, whatever its key
        top.offer(7, 1.0, at(4)); // ties its own group's best: changes nothing
        assert_eq!(top.into_sorted(), vec![(7, 1.0, at(1)), (3, 1.0, at(2))]);
    }

    #[test]
    fn top_groups_match_a_brute_force_ranking() {
        let mut seed: u64 = 42;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let k = (next() % 5 + 1) as usize;
            // Half the rounds draw from a few values, so that most offers tie.
            let values = if round % 2 == 0 { 1000 } else { 4 };
            let mut top = TopGroups::new(k);
            // Each group's best value and the offer that first reached it.
            let mut best: HashMap<u64, (f64, u32)> = HashMap::new();
            for doc in 0..60u32 {
                let key = next() % 12;
                let value = (next() % values) as f64;
                top.offer(key, value, DocAddress::new(0, doc));
                let entry = best.entry(key).or_insert((value, doc));
                if value > entry.0 {
                    *entry = (value, doc);
                }
            }
            let mut expected: Vec<(u64, (f64, u32))> = best.into_iter().collect();
            expected.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)));
            let got: Vec<(u64, f64, DocAddress)> = top.into_sorted();
            let want: Vec<(u64, f64, DocAddress)> =
                expected.into_iter().take(k).map(|(key, (v, doc))| (key, v, DocAddress::new(0, doc))).collect();
            assert_eq!(got, want);
        }
    }
}
