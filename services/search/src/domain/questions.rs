//! The questions customers ask most, from the first customer message of each conversation.
//!
//! Each message is reduced to its significant words (stemmed and accent-folded, without stop
//! words, greetings and politeness, numbers or words under three letters). Then, greedily:
//! among the messages not grouped yet, the pair of significant words most of them share forms
//! a group, unless a single word is shared by more than twice as many; a group needs at least
//! [`MIN_SUPPORT`] messages. The next group is sought among the rest, until `limit` groups or
//! nothing is shared. Examples are the messages that use the group's words most typically.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::text::{folded_analyzer, significant_analyzer, words};

/// Fewest messages that make a group.
pub const MIN_SUPPORT: usize = 2;
/// Significant words kept per message (the most shared ones).
const TERMS_PER_MESSAGE: usize = 8;
/// Examples per group.
const EXAMPLES: usize = 3;

/// Words that open or close a message whatever it asks; never a topic.
const FILLER: &[&str] = &[
    "hello",
    "hi",
    "hey",
    "hallo",
    "bonjour",
    "hola",
    "thanks",
    "thank",
    "please",
    "pls",
    "plz",
    "good",
    "morning",
    "afternoon",
    "evening",
    "ok",
    "okay",
    "yes",
    "want",
    "need",
    "help",
    "would",
    "like",
    "can",
    "could",
    "get",
    "just",
    "know",
    "also",
    "still",
    "now",
    "one",
    "someone",
    "anyone",
    "question",
    "regards",
    "dear",
    "team",
    "sir",
    "madam",
    "im",
    "ive",
    "dont",
    "cant",
];

/// A first customer message.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstMessage {
    pub conversation_id: String,
    pub message_id: String,
    pub text: String,
    pub sent_at: DateTime<Utc>,
}

/// One group of similar questions.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionGroup {
    /// The shared words as customers wrote them (folded), most shared first.
    pub terms: Vec<String>,
    pub count: usize,
    /// Indexes into the input, most typical first.
    pub examples: Vec<usize>,
}

/// Groups `messages` into at most `limit` groups of similar questions, largest first.
pub fn top_questions(messages: &[FirstMessage], limit: usize) -> Vec<QuestionGroup> {
    let filler: HashSet<String> = {
        let mut analyzer = significant_analyzer();
        FILLER.iter().flat_map(|w| words(&mut analyzer, w)).map(|w| w.term).collect()
    };
    let mut significant = significant_analyzer();
    let mut folded = folded_analyzer();
    // Per message: its significant stems; and per stem the surface words customers used.
    let mut surface: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    let per_message: Vec<Vec<String>> = messages
        .iter()
        .map(|m| {
            let stems = words(&mut significant, &m.text);
            let plain = words(&mut folded, &m.text);
            let mut terms = Vec::new();
            for stem in stems {
                let keep = stem.term.chars().count() >= 3
                    && !stem.term.chars().all(|c| c.is_ascii_digit())
                    && !filler.contains(&stem.term);
                if keep && !terms.contains(&stem.term) {
                    if let Some(word) = plain.iter().find(|w| w.from == stem.from) {
                        *surface.entry(stem.term.clone()).or_default().entry(word.term.clone()).or_default() += 1;
                    }
                    terms.push(stem.term);
                }
            }
            terms
        })
        .collect();
    let mut document_frequency: HashMap<&str, usize> = HashMap::new();
    for terms in &per_message {
        for t in terms {
            *document_frequency.entry(t.as_str()).or_default() += 1;
        }
    }
    // Each message keeps its most shared words only.
    let per_message: Vec<Vec<&str>> = per_message
        .iter()
        .map(|terms| {
            let mut ts: Vec<&str> = terms
                .iter()
                .map(String::as_str)
                .filter(|t| document_frequency.get(t).copied().unwrap_or(0) >= MIN_SUPPORT)
                .collect();
            ts.sort_by(|a, b| document_frequency[b].cmp(&document_frequency[a]).then(a.cmp(b)));
            ts.truncate(TERMS_PER_MESSAGE);
            ts.sort_unstable();
            ts
        })
        .collect();

    let mut grouped = vec![false; messages.len()];
    let mut groups = Vec::new();
    while groups.len() < limit {
        let Some(itemset) = most_shared(&per_message, &grouped) else { break };
        let members: Vec<usize> = (0..messages.len())
            .filter(|&i| !grouped[i] && itemset.iter().all(|t| per_message[i].contains(t)))
            .collect();
        for &i in &members {
            grouped[i] = true;
        }
        groups.push(group_of(&itemset, &members, &per_message, messages, &surface));
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.terms.cmp(&b.terms)));
    groups
}

/// The pair (or single word) shared by the most ungrouped messages, if at least
/// [`MIN_SUPPORT`] share it.
fn most_shared<'a>(per_message: &[Vec<&'a str>], grouped: &[bool]) -> Option<Vec<&'a str>> {
    let mut singles: HashMap<&str, usize> = HashMap::new();
    let mut pairs: HashMap<(&str, &str), usize> = HashMap::new();
    for (terms, _) in per_message.iter().zip(grouped).filter(|(_, g)| !**g) {
        for (i, a) in terms.iter().enumerate() {
            *singles.entry(a).or_default() += 1;
            for b in &terms[i + 1..] {
                *pairs.entry((a, b)).or_default() += 1;
            }
        }
    }
    // Ties go to the alphabetically first, so the outcome never depends on hashing.
    let best_single = singles.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)));
    let best_pair = pairs.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    match (best_pair, best_single) {
        (Some(((a, b), n)), Some((_, single))) if n >= MIN_SUPPORT && 2 * n >= single => Some(vec![a, b]),
        (_, Some((term, n))) if n >= MIN_SUPPORT => Some(vec![term]),
        _ => None,
    }
}

fn group_of(
    itemset: &[&str],
    members: &[usize],
    per_message: &[Vec<&str>],
    messages: &[FirstMessage],
    surface: &HashMap<String, BTreeMap<String, usize>>,
) -> QuestionGroup {
    // How often each word occurs in the group; a typical message uses the group's words.
    let mut in_group: HashMap<&str, usize> = HashMap::new();
    for &i in members {
        for t in &per_message[i] {
            *in_group.entry(t).or_default() += 1;
        }
    }
    let typicality = |i: usize| -> f64 {
        let terms = &per_message[i];
        if terms.is_empty() {
            return 0.0;
        }
        terms.iter().map(|t| in_group.get(t).copied().unwrap_or(0) as f64).sum::<f64>() / terms.len() as f64
    };
    let mut ranked: Vec<usize> = members.to_vec();
    ranked.sort_by(|&a, &b| {
        typicality(b)
            .total_cmp(&typicality(a))
            .then_with(|| messages[a].text.len().cmp(&messages[b].text.len()))
            .then(a.cmp(&b))
    });
    let mut seen_texts = HashSet::new();
    let examples: Vec<usize> = ranked
        .into_iter()
        .filter(|&i| seen_texts.insert(messages[i].text.trim().to_lowercase()))
        .take(EXAMPLES)
        .collect();
    let terms = itemset
        .iter()
        .map(|stem| {
            surface
                .get(*stem)
                .and_then(|forms| forms.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(w, _)| w.clone()))
                .unwrap_or_else(|| (*stem).to_owned())
        })
        .collect();
    QuestionGroup { terms, count: members.len(), examples }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(texts: &[&str]) -> Vec<FirstMessage> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| FirstMessage {
                conversation_id: format!("c{i}"),
                message_id: format!("m{i}"),
                text: (*t).to_owned(),
                sent_at: Utc::now(),
            })
            .collect()
    }

    #[test]
    fn similar_questions_group_by_their_shared_words() {
        let input = messages(&[
            "Hi, where is my order?",
            "Hello! Where is my order #1234",
            "where's my order please",
            "I want a refund for my broken phone",
            "Refund please, the phone arrived broken",
            "Can I get a refund? Broken screen",
            "What are your opening hours?",
        ]);
        let groups = top_questions(&input, 10);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0].count, 3);
        assert_eq!(groups[1].count, 3);
        let all_terms: Vec<&Vec<String>> = groups.iter().map(|g| &g.terms).collect();
        assert!(all_terms.contains(&&vec!["order".to_owned()]), "{all_terms:?}");
        assert!(all_terms.iter().any(|t| t.contains(&"refund".to_owned()) && t.contains(&"broken".to_owned())));
        for g in &groups {
            assert!(g.examples.len() <= 3 && !g.examples.is_empty());
        }
    }

    #[test]
    fn greetings_and_stop_words_never_make_a_group() {
        let input = messages(&["Hello, thanks!", "hello thank you", "Hi please", "hi, good morning", "ok thanks"]);
        assert!(top_questions(&input, 10).is_empty());
    }

    #[test]
    fn a_question_asked_once_is_no_group() {
        let input = messages(&["Do you ship to Iceland?", "Is the blue jacket waterproof?"]);
        assert!(top_questions(&input, 10).is_empty());
    }

    #[test]
    fn accents_and_word_forms_are_the_same_question() {
        let input = messages(&["Remboursement commande", "remboursement de la commande", "Refunds?", "refund"]);
        let groups = top_questions(&input, 10);
        assert_eq!(groups.iter().map(|g| g.count).sum::<usize>(), 4, "{groups:?}");
    }

    #[test]
    fn the_limit_caps_the_groups_and_the_largest_come_first() {
        let mut texts = Vec::new();
        for topic in ["invoice", "password", "delivery", "warranty"] {
            for n in 0..(topic.len()) {
                texts.push(format!("help with {topic} case{n}"));
            }
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let groups = top_questions(&messages(&refs), 2);
        assert_eq!(groups.len(), 2);
        assert!(groups[0].count >= groups[1].count);
    }

    #[test]
    fn examples_are_distinct_texts() {
        let input = messages(&["Refund please", "refund please", "Refund PLEASE", "refund for my order"]);
        let groups = top_questions(&input, 10);
        let texts: Vec<String> = groups[0].examples.iter().map(|&i| input[i].text.to_lowercase()).collect();
        let unique: HashSet<&String> = texts.iter().collect();
        assert_eq!(unique.len(), texts.len());
    }
}
