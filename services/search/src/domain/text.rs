//! How text becomes terms, the same way when indexing and when searching: split on anything
//! that is not a letter or digit, lower-case, fold accents (`é` → `e`, `ß` → `ss`), and for the
//! stemmed form reduce English words to their stem (`refunds`, `refunded` → `refund`).
//! Phrases and type-ahead prefixes use the folded, unstemmed form so that they stay exact.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};

/// Tokenizer name of the stemmed analyzer in the index.
pub const STEMMED: &str = "inbox_stemmed";
/// Tokenizer name of the folded (unstemmed) analyzer in the index.
pub const FOLDED: &str = "inbox_folded";
/// Longer tokens (base64 blobs, URLs without separators) are not indexed.
const MAX_TOKEN_BYTES: usize = 40;

/// Lower-cased, accent-folded and stemmed words.
pub fn stemmed_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Lower-cased and accent-folded words, not stemmed.
pub fn folded_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Words that carry no topic: English function words and their contractions without the
/// apostrophe (the tokenizer splits `where's` into `where` and `s`).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "s",
    "t",
    "d",
    "ll",
    "m",
    "re",
    "ve",
    "don",
    "isn",
    "can",
    "cannot",
    "could",
    "may",
    "might",
    "must",
    "shall",
    "also",
    "just",
    "got",
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "un",
    "une",
    "et",
    "est",
    "je",
    "mon",
    "ma",
    "mes",
    "pour",
    "pas",
    "que",
    "qui",
    "en",
    "el",
    "los",
    "las",
    "y",
    "mi",
    "por",
    "para",
    "es",
];

/// Folded and stemmed words without stop words ("the", "is", "my"...): the significant ones.
pub fn significant_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| (*w).to_owned())))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// One word of a text: its term and where it stands, as byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub term: String,
    pub from: usize,
    pub to: usize,
}

/// The words of `text` as `analyzer` makes them.
pub fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let token = stream.token();
        out.push(Word { term: token.text.clone(), from: token.offset_from, to: token.offset_to });
    }
    out
}

/// Just the terms of `text`.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    words(analyzer, text).into_iter().map(|w| w.term).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_fold_away() {
        assert_eq!(terms(&mut folded_analyzer(), "Crème BRÛLÉE Straße"), vec!["creme", "brulee", "strasse"]);
    }

    #[test]
    fn stemming_joins_the_forms_of_a_word() {
        let mut a = stemmed_analyzer();
        assert_eq!(terms(&mut a, "refund refunds refunded refunding"), vec!["refund"; 4]);
        assert_eq!(terms(&mut a, "Deliveries delivery"), terms(&mut a, "delivery delivery"));
        assert_eq!(terms(&mut a, "Résumé"), terms(&mut a, "resume"));
    }

    #[test]
    fn punctuation_splits_and_offsets_point_into_the_text() {
        let text = "ana@example.com, order#123";
        let words = words(&mut folded_analyzer(), text);
        let terms: Vec<&str> = words.iter().map(|w| w.term.as_str()).collect();
        assert_eq!(terms, vec!["ana", "example", "com", "order", "123"]);
        assert_eq!(&text[words[3].from..words[3].to], "order");
    }

    #[test]
    fn very_long_tokens_are_dropped() {
        let blob = "x".repeat(80);
        assert_eq!(terms(&mut folded_analyzer(), &format!("see {blob} here")), vec!["see", "here"]);
    }

    #[test]
    fn stop_words_are_not_significant() {
        assert_eq!(terms(&mut significant_analyzer(), "Where is my refund?"), vec!["refund"]);
    }
}
