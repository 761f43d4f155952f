//! Highlighted fragments: the part of a text around the words a query matched, with the
//! matched ranges. Words match as the index matched them: by stem for free words, exactly
//! (folded) for phrases, by beginning for the word being typed.

use std::collections::HashSet;

use super::text::{Word, folded_analyzer, stemmed_analyzer, words};

/// Longest fragment, in bytes (about 150 characters of Latin text).
pub const FRAGMENT_BYTES: usize = 160;
/// Context kept before the first match of a fragment.
const LEAD_BYTES: usize = 30;

/// What to highlight.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    /// Stemmed terms of free words.
    pub stems: HashSet<String>,
    /// Folded terms matched exactly (free words also match their folded form).
    pub exact: HashSet<String>,
    /// Folded beginnings (the word being typed).
    pub prefixes: Vec<String>,
    /// Folded phrases, word by word.
    pub phrases: Vec<Vec<String>>,
}

impl Matcher {
    pub fn is_empty(&self) -> bool {
        self.stems.is_empty() && self.exact.is_empty() && self.prefixes.is_empty() && self.phrases.is_empty()
    }
}

/// A fragment of a text with the byte ranges (within the fragment) that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub text: String,
    pub ranges: Vec<(usize, usize)>,
}

/// The best fragment of `text` for `matcher`: the window holding the most matched words, or
/// the text's beginning with no ranges when nothing matched.
pub fn highlight(text: &str, matcher: &Matcher) -> Fragment {
    let folded = words(&mut folded_analyzer(), text);
    let stems = words(&mut stemmed_analyzer(), text);
    let stems: Vec<Option<&Word>> =
        if stems.len() == folded.len() { stems.iter().map(Some).collect() } else { vec![None; folded.len()] };
    let mut matched = vec![false; folded.len()];
    for (i, word) in folded.iter().enumerate() {
        matched[i] = matcher.exact.contains(&word.term)
            || stems[i].is_some_and(|s| matcher.stems.contains(&s.term))
            || matcher.prefixes.iter().any(|p| word.term.starts_with(p.as_str()));
    }
    for phrase in matcher.phrases.iter().filter(|p| !p.is_empty()) {
        for start in 0..folded.len().saturating_sub(phrase.len() - 1) {
            if phrase.iter().enumerate().all(|(k, term)| folded[start + k].term == *term) {
                matched[start..start + phrase.len()].iter_mut().for_each(|m| *m = true);
            }
        }
    }
    let hits: Vec<&Word> = folded.iter().zip(&matched).filter(|(_, m)| **m).map(|(w, _)| w).collect();
    let Some(window_start) = best_window(&hits) else {
        let end = floor_boundary(text, FRAGMENT_BYTES.min(text.len()));
        return Fragment { text: text[..end].trim_end().to_owned(), ranges: vec![] };
    };
    let start = word_start(text, floor_boundary(text, window_start));
    let end = floor_boundary(text, (start + FRAGMENT_BYTES).min(text.len()));
    let fragment = &text[start..end];
    let ranges = hits.iter().filter(|w| w.from >= start && w.to <= end).map(|w| (w.from - start, w.to - start)).fold(
        Vec::<(usize, usize)>::new(),
        |mut acc, (from, to)| {
            // Adjacent words of one phrase read better as one range.
            match acc.last_mut() {
                Some(last) if fragment[last.1..from].chars().all(char::is_whitespace) && from - last.1 <= 1 => {
                    last.1 = to
                }
                _ => acc.push((from, to)),
            }
            acc
        },
    );
    Fragment { text: fragment.to_owned(), ranges }
}

/// Where the window with the most hits begins (a little before its first hit).
fn best_window(hits: &[&Word]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, first) in hits.iter().enumerate() {
        let start = first.from.saturating_sub(LEAD_BYTES);
        let count = hits[i..].iter().take_while(|w| w.to <= start + FRAGMENT_BYTES).count();
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, start));
        }
    }
    best.map(|(_, start)| start)
}

/// The largest char boundary at or before `at`.
fn floor_boundary(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Moves `at` forward to the start of a word, unless that runs past the lead.
fn word_start(text: &str, at: usize) -> usize {
    if at == 0 {
        return 0;
    }
    match text[at..].char_indices().find(|(_, c)| c.is_whitespace()) {
        Some((i, c)) if i < LEAD_BYTES => at + i + c.len_utf8(),
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(f: &Fragment) -> Vec<&str> {
        f.ranges.iter().map(|(a, b)| &f.text[*a..*b]).collect()
    }

    fn matcher() -> Matcher {
        Matcher::default()
    }

    #[test]
    fn free_words_match_every_form_of_the_word() {
        let mut m = matcher();
        m.stems.insert("refund".into());
        let f = highlight("I was Refunded twice but the refunds never arrived", &m);
        assert_eq!(marked(&f), vec!["Refunded", "refunds"]);
    }

    #[test]
    fn accents_do_not_hide_a_match_and_the_range_covers_the_original_letters() {
        let mut m = matcher();
        m.exact.insert("creme".into());
        let f = highlight("La crème brûlée était froide", &m);
        assert_eq!(marked(&f), vec!["crème"]);
    }

    #[test]
    fn phrases_match_in_order_only_and_read_as_one_range() {
        let mut m = matcher();
        m.phrases.push(vec!["refund".into(), "request".into()]);
        let f = highlight("request a refund? my refund request is open", &m);
        assert_eq!(marked(&f), vec!["refund request"]);
    }

    #[test]
    fn the_word_being_typed_matches_by_its_beginning() {
        let mut m = matcher();
        m.prefixes.push("deliv".into());
        let f = highlight("Where is my delivery? It was delivered to the wrong door", &m);
        assert_eq!(marked(&f), vec!["delivery", "delivered"]);
    }

    #[test]
    fn a_long_text_is_cut_around_its_densest_matches() {
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let text = format!("refund at the start. {filler} the refund was late and the refund was partial. {filler}");
        let mut m = matcher();
        m.stems.insert("refund".into());
        let f = highlight(&text, &m);
        assert!(f.text.len() <= FRAGMENT_BYTES, "{}", f.text.len());
        assert_eq!(marked(&f), vec!["refund", "refund"], "the window with two matches wins: {:?}", f.text);
        assert!(!f.text.starts_with(' '));
    }

    #[test]
    fn without_a_match_the_fragment_is_the_beginning() {
        let text = "é".repeat(200);
        let f = highlight(&text, &matcher());
        assert!(f.ranges.is_empty());
        assert!(f.text.len() <= FRAGMENT_BYTES && text.starts_with(&f.text));
    }

    #[test]
    fn multibyte_text_is_never_cut_inside_a_character() {
        let text = format!("{} refund {}", "ü".repeat(100), "ß".repeat(100));
        let mut m = matcher();
        m.stems.insert("refund".into());
        let f = highlight(&text, &m);
        assert_eq!(marked(&f), vec!["refund"]);
    }
}
