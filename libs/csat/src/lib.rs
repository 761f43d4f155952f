//! The CSAT survey's contract between the metrics service, which sends the survey and records
//! the answers, and the conversation service, which delivers the survey and keeps a Resolved
//! conversation resolved when the customer answers it: how the survey message is marked, how
//! long it waits for an answer, and which customer messages read as a rating (1 to 5). One rule,
//! used by both, so what metrics counts as an answer is what does not reopen the conversation.

use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use inbox_proto::common::v1::MessageContent;
use inbox_proto::common::v1::message_content::Kind;

/// The prefix of the survey's idempotency key (`csat-survey:<conversation>:<resolved at>`),
/// by which its stored message is recognised.
pub const SURVEY_KEY_PREFIX: &str = "csat-survey:";
/// The principal that sends the survey (stored as the system message's sender).
pub const SURVEY_SENDER: &str = "service:metrics";
/// The prefix of the survey buttons' ids (`csat:5`): a tap comes back as that id.
pub const BUTTON_PREFIX: &str = "csat:";
/// How long after the survey a customer's rating counts as its answer.
pub const SURVEY_WINDOW: TimeDelta = TimeDelta::days(3);

/// Ratings are short: longer messages are conversation, not an answer.
const MAX_WORDS: usize = 6;

/// Whether a message at `answered_at` falls in the answer window of a survey sent at `sent_at`.
pub fn within_survey_window(sent_at: DateTime<Utc>, answered_at: DateTime<Utc>) -> bool {
    answered_at >= sent_at && answered_at - sent_at <= SURVEY_WINDOW
}

/// The rating a customer's message gives, if it reads as one.
pub fn rating_of_content(content: &MessageContent) -> Option<u8> {
    match content.kind.as_ref()? {
        Kind::Text(text) => parse_rating(&text.body),
        Kind::InteractiveReply(reply) => reply
            .id
            .strip_prefix(BUTTON_PREFIX)
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=5).contains(n))
            .or_else(|| parse_rating(&reply.title)),
        Kind::Reaction(reaction) => parse_rating(&reaction.emoji),
        _ => None,
    }
}

/// Reads `text` as a rating from 1 to 5: a digit ("4", "5/5", "4 out of 5", "rating: 3",
/// "8/10" → 4), stars ("★★★☆☆", "⭐⭐⭐⭐"), an emoji ("😡" … "😍", "👍"), or a word or short
/// phrase in English, Spanish, Portuguese, French, German or Italian ("excellent", "muy malo",
/// "très bien", "geht so", "ótimo"). Anything longer than a few words, or that says two
/// different things, is not a rating.
pub fn parse_rating(text: &str) -> Option<u8> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 60 {
        return None;
    }
    if let Some(stars) = stars(text) {
        return Some(stars);
    }
    let lowered = text.to_lowercase().replace(" / ", "/").replace("/ ", "/").replace(" /", "/");
    let words: Vec<&str> = lowered
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | '!' | '?' | ':' | ';' | '(' | ')' | '-' | '"'))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > MAX_WORDS {
        return None;
    }
    let emoji = one_score(emoji_scores(text))?;
    match numbers_of(&words)? {
        // A number says it plainly; an emoji pulling the other way makes it no answer.
        Some(number) => match emoji {
            Some(e) if e.abs_diff(number) > 1 => None,
            _ => Some(number),
        },
        None => {
            let words = phrase_score(&words)?;
            match (emoji, words) {
                (Some(e), Some(w)) if e != w => None,
                (e, w) => e.or(w),
            }
        }
    }
}

/// The one score all of `scores` agree on: `Some(None)` for none, `None` when they disagree.
fn one_score(scores: Vec<u8>) -> Option<Option<u8>> {
    match scores.split_first() {
        None => Some(None),
        Some((first, rest)) => rest.iter().all(|s| s == first).then_some(Some(*first)),
    }
}

/// Filled stars (★ or ⭐), when the text is nothing but stars and spaces.
fn stars(text: &str) -> Option<u8> {
    let mut filled = 0u8;
    for c in text.chars() {
        match c {
            '★' | '⭐' | '🌟' => filled = filled.saturating_add(1),
            '☆' | ' ' | '\u{fe0f}' => {}
            _ => return None,
        }
    }
    (1..=5).contains(&filled).then_some(filled)
}

/// The score the numbers of a message give: `Some(None)` when there are none, `None` when they
/// do not read as one score ("2 items, order 12345").
fn numbers_of(words: &[&str]) -> Option<Option<u8>> {
    let mut scores = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        // "4/5", "8/10"
        if let Some((n, d)) = w.split_once('/') {
            let (n, d) = (n.parse::<u32>().ok()?, d.parse::<u32>().ok()?);
            scores.push(match d {
                5 if (1..=5).contains(&n) => n as u8,
                10 if (1..=10).contains(&n) => n.div_ceil(2) as u8,
                _ => return None,
            });
        } else if let Ok(n) = w.parse::<u32>() {
            // "4 out of 5", "4 de 5", "4 sur 5", "4 von 5", "4 su 5"
            if words.get(i + 1).is_some_and(|x| ["out", "de", "sur", "von", "su", "em"].contains(x))
                && let Some(last) = words.get(i + 2..).and_then(|rest| rest.iter().find(|x| x.parse::<u32>().is_ok()))
            {
                let d: u32 = last.parse().ok()?;
                scores.push(match d {
                    5 if (1..=5).contains(&n) => n as u8,
                    10 if (1..=10).contains(&n) => n.div_ceil(2) as u8,
                    _ => return None,
                });
                i += 3 + usize::from(words.get(i + 2) == Some(&"of"));
                continue;
            }
            if !(1..=5).contains(&n) {
                return None;
            }
            scores.push(n as u8);
        } else if let Some(n) = number_word(w) {
            scores.push(n);
        }
        i += 1;
    }
    one_score(scores)
}

fn number_word(w: &str) -> Option<u8> {
    const WORDS: [(&str, u8); 20] = [
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("four", 4),
        ("five", 5),
        ("uno", 1),
        ("dos", 2),
        ("tres", 3),
        ("cuatro", 4),
        ("cinco", 5),
        ("três", 3),
        ("quatro", 4),
        ("deux", 2),
        ("trois", 3),
        ("quatre", 4),
        ("cinq", 5),
        ("eins", 1),
        ("zwei", 2),
        ("drei", 3),
        ("fünf", 5),
    ];
    WORDS.iter().find(|(word, _)| *word == w).map(|(_, n)| *n)
}

/// The scores of the rating emoji in `text`.
fn emoji_scores(text: &str) -> Vec<u8> {
    let mut scores = Vec::new();
    for c in text.chars() {
        let score = match c {
            '😡' | '🤬' | '😠' | '😤' => 1,
            '😞' | '🙁' | '☹' | '😢' | '😭' | '👎' | '😒' => 2,
            '😐' | '😶' | '🤷' | '😑' => 3,
            '🙂' | '😊' | '👍' | '☺' => 4,
            '😀' | '😃' | '😄' | '😁' | '🤩' | '😍' | '🥰' | '❤' | '💯' | '👏' | '🙌' => 5,
            _ => continue,
        };
        scores.push(score);
    }
    scores
}

/// Words and phrases that rate, longest first within each language so "very good" wins over
/// "good" and "not bad" over "bad".
const PHRASES: [(&str, u8); 83] = [
    // English
    ("not good", 2),
    ("not bad", 3),
    ("very bad", 1),
    ("very good", 5),
    ("very poor", 1),
    ("so so", 3),
    ("terrible", 1),
    ("awful", 1),
    ("horrible", 1),
    ("worst", 1),
    ("bad", 2),
    ("poor", 2),
    ("ok", 3),
    ("okay", 3),
    ("average", 3),
    ("fine", 3),
    ("meh", 3),
    ("good", 4),
    ("nice", 4),
    ("great", 5),
    ("excellent", 5),
    ("amazing", 5),
    ("perfect", 5),
    ("awesome", 5),
    ("fantastic", 5),
    ("outstanding", 5),
    ("brilliant", 5),
    // Spanish
    ("muy malo", 1),
    ("muy mal", 1),
    ("muy bueno", 5),
    ("muy bien", 5),
    ("pésimo", 1),
    ("malo", 2),
    ("mal", 2),
    ("regular", 3),
    ("normal", 3),
    ("bueno", 4),
    ("bien", 4),
    ("excelente", 5),
    ("genial", 5),
    ("perfecto", 5),
    // Portuguese
    ("muito ruim", 1),
    ("muito bom", 5),
    ("péssimo", 1),
    ("ruim", 2),
    ("razoável", 3),
    ("bom", 4),
    ("ótimo", 5),
    ("perfeito", 5),
    // French
    ("très mauvais", 1),
    ("très bien", 5),
    ("pas terrible", 2),
    ("pas mal", 3),
    ("nul", 1),
    ("mauvais", 2),
    ("moyen", 3),
    ("bof", 3),
    ("correct", 3),
    ("bon", 4),
    ("parfait", 5),
    ("génial", 5),
    ("super", 5),
    // German
    ("sehr schlecht", 1),
    ("sehr gut", 5),
    ("geht so", 3),
    ("schrecklich", 1),
    ("schlecht", 2),
    ("mittel", 3),
    ("gut", 4),
    ("ausgezeichnet", 5),
    ("perfekt", 5),
    ("toll", 5),
    // Italian
    ("molto male", 1),
    ("molto bene", 5),
    ("così così", 3),
    ("pessimo", 1),
    ("scarso", 2),
    ("male", 2),
    ("discreto", 3),
    ("buono", 4),
    ("bene", 4),
    ("ottimo", 5),
    ("eccellente", 5),
];

/// The score of the rating words in `words` (`Some(None)` for none, `None` when they disagree):
/// phrases are matched on word boundaries, and a longer phrase hides the shorter ones inside it.
fn phrase_score(words: &[&str]) -> Option<Option<u8>> {
    /// The phrases as words, longest first.
    static BY_LENGTH: LazyLock<Vec<(Vec<&'static str>, u8)>> = LazyLock::new(|| {
        let mut phrases: Vec<(Vec<&str>, u8)> = PHRASES.iter().map(|(p, s)| (p.split(' ').collect(), *s)).collect();
        phrases.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        phrases
    });
    let mut covered = vec![false; words.len()];
    let mut found: Option<u8> = None;
    for (phrase, score) in BY_LENGTH.iter() {
        let score = *score;
        let n = phrase.len();
        if n > words.len() {
            continue;
        }
        for start in 0..=words.len() - n {
            if covered[start..start + n].iter().any(|c| *c) || words[start..start + n] != phrase[..] {
                continue;
            }
            covered[start..start + n].iter_mut().for_each(|c| *c = true);
            match found {
                Some(f) if f != score => return None,
                _ => found = Some(score),
            }
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use inbox_proto::common::v1::{InteractiveReplyContent, ReactionContent};

    use super::*;

    #[test]
    fn digits_and_scales_read_as_ratings() {
        for (text, score) in [
            ("5", 5),
            (" 4 ", 4),
            ("3.", 3),
            ("1!", 1),
            ("5/5", 5),
            ("4 / 5", 4),
            ("4 out of 5", 4),
            ("2 de 5", 2),
            ("3 sur 5", 3),
            ("4 von 5", 4),
            ("8/10", 4),
            ("10/10", 5),
            ("rating: 4", 4),
            ("I give you a 5", 5),
            ("5 - great service", 5),
            ("5 stars", 5),
            ("five", 5),
            ("cuatro", 4),
            ("cinq", 5),
        ] {
            assert_eq!(parse_rating(text), Some(score), "{text:?}");
        }
    }

    #[test]
    fn stars_and_emoji_read_as_ratings() {
        for (text, score) in [
            ("★★★☆☆", 3),
            ("⭐⭐⭐⭐", 4),
            ("⭐️⭐️⭐️⭐️⭐️", 5),
            ("★", 1),
            ("😡", 1),
            ("👎", 2),
            ("😐", 3),
            ("👍", 4),
            ("😍😍", 5),
            ("❤️", 5),
            ("great 😀", 5),
        ] {
            assert_eq!(parse_rating(text), Some(score), "{text:?}");
        }
    }

    #[test]
    fn words_in_several_languages_read_as_ratings() {
        for (text, score) in [
            ("Excellent!", 5),
            ("very good", 5),
            ("good", 4),
            ("not good", 2),
            ("not bad", 3),
            ("ok", 3),
            ("Terrible", 1),
            ("muy malo", 1),
            ("Muy bueno, gracias", 5),
            ("regular", 3),
            ("ótimo", 5),
            ("muito ruim", 1),
            ("très bien", 5),
            ("bof", 3),
            ("pas terrible", 2),
            ("sehr gut", 5),
            ("geht so", 3),
            ("schlecht", 2),
            ("ottimo", 5),
            ("così così", 3),
        ] {
            assert_eq!(parse_rating(text), Some(score), "{text:?}");
        }
    }

    #[test]
    fn conversation_and_contradictions_are_not_ratings() {
        for text in [
            "",
            "hello",
            "thanks",
            "I ordered 2 items and only 1 arrived",
            "my order 12345 has not arrived",
            "6",
            "0",
            "7/10 but 2 for delivery",
            "good but bad",
            "5 👎",
            "the first agent was great but the second one was terrible and slow",
            "call me at 555 1234",
            "😀😡",
        ] {
            assert_eq!(parse_rating(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_button_tap_or_a_reaction_reads_as_its_rating() {
        let tap = |id: &str, title: &str| MessageContent {
            kind: Some(Kind::InteractiveReply(InteractiveReplyContent {
                reply_type: "button_reply".into(),
                id: id.into(),
                title: title.into(),
                description: String::new(),
            })),
            reply_to: None,
        };
        assert_eq!(rating_of_content(&tap("csat:3", "😐 OK")), Some(3));
        assert_eq!(rating_of_content(&tap("other", "Excellent")), Some(5));
        assert_eq!(rating_of_content(&tap("csat:9", "")), None);
        let reaction = MessageContent {
            kind: Some(Kind::Reaction(ReactionContent { external_id: "wamid.1".into(), emoji: "👍".into() })),
            reply_to: None,
        };
        assert_eq!(rating_of_content(&reaction), Some(4));
    }

    #[test]
    fn an_answer_counts_from_the_survey_to_three_days_after() {
        let sent = Utc.with_ymd_and_hms(2031, 3, 4, 12, 0, 0).unwrap();
        assert!(within_survey_window(sent, sent));
        assert!(within_survey_window(sent, sent + TimeDelta::days(3)));
        assert!(!within_survey_window(sent, sent + TimeDelta::days(3) + TimeDelta::seconds(1)));
        assert!(!within_survey_window(sent, sent - TimeDelta::seconds(1)), "before the survey");
    }
}
