//! Search terms: how a text becomes the terms the search index holds, how a
//! query becomes the terms it asks for, and where a text matches (snippets).
//!
//! Both engines index the *same* terms because they are made here, not by
//! the database: SQLite's FTS5 and PostgreSQL's `tsvector` only see words
//! of ASCII letters and digits, already folded and stemmed. A word stands
//! for several terms, since a ticket's language is not known and Finnish
//! inflects heavily:
//! - its folded form (lower case, diacritics removed: "Äijälä" → "aijala"),
//! - its Finnish and English Snowball stems, folded ("printers" → "printer"),
//! - Finnish normal forms Snowball misses: the `-in`/`-ime-` nouns
//!   ("tulostin", "tulostimen", "tulostimessa" → "tulost") and the
//!   `-nen`/`-se-` words ("kirjautuminen", "kirjautumisessa").
//!
//! A query word matches a document holding any of its terms; every query
//! word must match. The last word also matches as a prefix while it is
//! being typed ("tulos" finds "tulostin").

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashSet;
use std::sync::OnceLock;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::ValidationError;

/// The longest query, in characters.
pub const QUERY_MAX: usize = 200;
/// Query words beyond this are ignored.
pub const QUERY_WORDS_MAX: usize = 12;
/// Longer "words" (hashes, base64) are not indexed.
const WORD_MAX: usize = 40;
/// A prefix shorter than this would match too much to be useful.
const PREFIX_MIN: usize = 3;

/// Words so common in support requests that they only slow matching down.
const STOP_WORDS: &[&str] = &[
    // English
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i", "in",
    "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that", "the", "this", "to",
    "was", "we", "with", "you", "your", // Finnish
    "ei", "ja", "jo", "kun", "mutta", "niin", "nyt", "on", "ole", "oli", "se", "sen", "tai",
    "taas", "tama", "ja", "etta", "han", "he", "me", "mina", "sina", "te", "olen", "ovat", "siis",
];

/// The strong grades of consonants in the cases of `-in` nouns and the
/// weak grades of their base forms.
const GRADATION: &[(&str, &str)] = &[
    ("tt", "t"),
    ("kk", "k"),
    ("pp", "p"),
    ("nt", "nn"),
    ("lt", "ll"),
    ("rt", "rr"),
    ("mp", "mm"),
    ("nk", "ng"),
];

fn stemmers() -> &'static (Stemmer, Stemmer) {
    static STEMMERS: OnceLock<(Stemmer, Stemmer)> = OnceLock::new();
    STEMMERS.get_or_init(|| {
        (
            Stemmer::create(Algorithm::Finnish),
            Stemmer::create(Algorithm::English),
        )
    })
}

/// Lower case without diacritics: "Äijälä" → "aijala", "café" → "cafe".
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of a text with their byte ranges: runs of letters and digits.
fn word_spans(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = None;
    let mut chars = text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (i, c) in chars.by_ref() {
            match (start, c.is_alphanumeric()) {
                (None, true) => start = Some(i),
                (Some(s), false) => {
                    start = None;
                    return Some((s, &text[s..i]));
                }
                _ => {}
            }
        }
        None
    })
}

/// Whether a term is one the index keeps: ASCII letters and digits (what
/// both engines' tokenizers leave whole), not a stop word, not too long.
fn indexable(term: &str) -> bool {
    !term.is_empty()
        && term.len() <= WORD_MAX
        && term.bytes().all(|b| b.is_ascii_alphanumeric())
        && !STOP_WORDS.contains(&term)
}

/// The terms one word stands for (see the module's documentation), folded.
pub fn word_terms(word: &str) -> Vec<String> {
    let lower = word.to_lowercase();
    let folded = fold(&lower);
    if !indexable(&folded) {
        return Vec::new();
    }
    let mut terms = vec![folded.clone()];
    if folded.bytes().all(|b| b.is_ascii_digit()) || folded.chars().count() < 3 {
        return terms;
    }
    let (fi, en) = stemmers();
    let fi_stem = fi.stem(&lower).into_owned();
    let mut push = |t: String| {
        let t = fold(&t);
        if indexable(&t) && !terms.contains(&t) {
            terms.push(t);
        }
    };
    push(en.stem(&lower).into_owned());
    // -in nouns: "tulostin" stems to "tulost", its cases ("tulostimen",
    // "tulostimessa") to "tulostim"; both mean "tulost".
    if let Some(base) = fi_stem
        .strip_suffix("im")
        .filter(|b| b.chars().count() >= 3)
    {
        // With the consonant gradation of the cases undone: "reitittimen"
        // is "reititin", "kaiuttimen" "kaiutin", "muuntimen" "muunnin".
        if let Some(weak) = GRADATION
            .iter()
            .find_map(|(strong, weak)| base.strip_suffix(strong).map(|b| format!("{b}{weak}")))
        {
            push(weak);
        }
        push(base.to_string());
    }
    // Snowball takes "-kin" for the clitic ("kytkin" → "kyt"); the noun's
    // own stem is the word less "-in".
    if let Some(base) = lower.strip_suffix("in").filter(|b| b.chars().count() >= 3) {
        push(base.to_string());
    }
    // -nen words inflect on "-se-"/"-s-": "kirjautuminen" is found by
    // "kirjautumisessa" and the other way round.
    if let Some(base) = lower.strip_suffix("nen").filter(|b| b.chars().count() >= 3) {
        push(fi.stem(&format!("{base}sen")).into_owned());
    }
    // The essive "-na/-nä" is often no case at all ("salasana"): the
    // genitive's stem stands for the word too.
    if lower.ends_with("na") || lower.ends_with("nä") {
        push(fi.stem(&format!("{lower}n")).into_owned());
    }
    push(fi_stem);
    terms
}

/// The terms of some texts for the index: each term once, in the order
/// first seen, separated by spaces.
pub fn index_terms<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen = HashSet::new();
    let mut out = String::new();
    for text in texts {
        for (_, word) in word_spans(text) {
            for term in word_terms(word) {
                if seen.insert(term.clone()) {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&term);
                }
            }
        }
    }
    out
}

/// Letters a word needs before a relaxed query matches it by its start.
const RELAXED_MIN: usize = 5;

/// One word of a query: the terms any of which matches it, and the prefix
/// it also matches by while it is being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub terms: Vec<String>,
    pub prefix: Option<String>,
    /// The word as typed, folded.
    pub folded: String,
}

/// A parsed query: every word must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub words: Vec<QueryWord>,
}

impl SearchQuery {
    /// Reads a query typed in a search box. A query of stop words alone
    /// has no words to match; the caller finds nothing with it.
    pub fn parse(field: &str, raw: &str) -> Result<SearchQuery, ValidationError> {
        crate::values::clean_text(field, raw, QUERY_MAX)?;
        let trimmed = raw.trim_start();
        let spans: Vec<(usize, &str)> = word_spans(trimmed).collect();
        if spans.is_empty() {
            return Err(ValidationError::new(
                field,
                "must contain at least one letter or digit",
            ));
        }
        // The last word is still being typed unless the query ends in a space.
        let typing = trimmed.chars().last().is_some_and(char::is_alphanumeric);
        let mut words: Vec<QueryWord> = Vec::new();
        let last = spans.len() - 1;
        for (i, (_, word)) in spans.into_iter().enumerate() {
            let terms = word_terms(word);
            let folded = fold(word);
            let prefix = (i == last && typing && folded.chars().count() >= PREFIX_MIN)
                .then(|| folded.clone())
                // Only ASCII letters and digits reach an engine's syntax.
                .filter(|p| p.bytes().all(|b| b.is_ascii_alphanumeric()));
            if terms.is_empty() && prefix.is_none() {
                continue;
            }
            let w = QueryWord {
                terms,
                prefix,
                folded,
            };
            if !words.contains(&w) {
                words.push(w);
            }
            if words.len() == QUERY_WORDS_MAX {
                break;
            }
        }
        Ok(SearchQuery { words })
    }

    /// The words of a whole text, for "more like this" (any word matches):
    /// the distinct words in order, up to `max`.
    pub fn from_text(text: &str, max: usize) -> SearchQuery {
        let mut words: Vec<QueryWord> = Vec::new();
        for (_, word) in word_spans(text) {
            let terms = word_terms(word);
            if terms.is_empty() || terms[0].chars().count() < 3 {
                continue;
            }
            let w = QueryWord {
                terms,
                prefix: None,
                folded: fold(word),
            };
            if !words.contains(&w) {
                words.push(w);
                if words.len() == max {
                    break;
                }
            }
        }
        SearchQuery { words }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The query loosened for a second pass when too little matched every
    /// word: any word may match (ranked by how many and how rare), and a
    /// word of five letters or more also matches words that begin like it
    /// (all but its last two letters, at least four): cheap tolerance of
    /// typos at a word's end and of forms the stemmers miss ("printr" finds
    /// "printer", "vesi" does not find "vettä", "pesukonetta" finds
    /// "pesukoneen").
    pub fn relaxed(&self) -> SearchQuery {
        let words = self
            .words
            .iter()
            .map(|w| {
                let letters: Vec<char> = w.folded.chars().collect();
                // The shorter start wins over a prefix being typed.
                let prefix = (letters.len() >= RELAXED_MIN)
                    .then(|| {
                        letters[..(letters.len() - 2).max(4)]
                            .iter()
                            .collect::<String>()
                    })
                    .filter(|p: &String| p.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .or_else(|| w.prefix.clone());
                QueryWord {
                    terms: w.terms.clone(),
                    prefix,
                    folded: w.folded.clone(),
                }
            })
            .collect();
        SearchQuery { words }
    }

    /// Whether one word of a text matches one of the query's words.
    fn matches_word(&self, word: &str) -> bool {
        let (terms, folded) = (word_terms(word), fold(word));
        self.words.iter().any(|q| q.matches(&terms, &folded))
    }

    /// How many of the query's words a text matches.
    pub fn matched(&self, text: &str) -> usize {
        let mut found = vec![false; self.words.len()];
        for (_, word) in word_spans(text) {
            let (terms, folded) = (word_terms(word), fold(word));
            for (i, q) in self.words.iter().enumerate() {
                found[i] |= q.matches(&terms, &folded);
            }
        }
        found.iter().filter(|f| **f).count()
    }
}

impl QueryWord {
    /// Whether a word of a text (its terms and folded form) matches this
    /// query word.
    fn matches(&self, terms: &[String], folded: &str) -> bool {
        self.terms.iter().any(|t| terms.contains(t))
            || self.prefix.as_ref().is_some_and(|p| folded.starts_with(p))
    }
}

/// A piece of a snippet: text, and whether it is a match to highlight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Piece {
    pub text: String,
    pub hit: bool,
}

/// About `max_chars` of `text` around its first match, the matches marked;
/// `None` when nothing in it matches. Line breaks become spaces; an
/// ellipsis marks a cut.
pub fn snippet(text: &str, query: &SearchQuery, max_chars: usize) -> Option<Vec<Piece>> {
    let hits: Vec<(usize, usize)> = word_spans(text)
        .filter(|(_, w)| query.matches_word(w))
        .map(|(s, w)| (s, s + w.len()))
        .collect();
    let first = hits.first()?.0;
    // Start a third of the way back, at a word's start.
    let back = max_chars / 3;
    let mut start = text[..first]
        .char_indices()
        .rev()
        .take(back)
        .last()
        .map_or(first, |(i, _)| i);
    if start > 0 {
        if let Some((s, _)) = word_spans(&text[start..first + 1]).next() {
            start += s;
        }
    }
    let mut end = text.len();
    if let Some((i, _)) = text[start..].char_indices().nth(max_chars) {
        end = start + i;
        // End at a word's end.
        if let Some(space) = text[start..end].rfind(char::is_whitespace) {
            if space > first - start {
                end = start + space;
            }
        }
    }
    let mut pieces = Vec::new();
    let mut push = |s: &str, hit: bool| {
        let s = s.replace(['\r', '\n', '\t'], " ");
        if !s.is_empty() {
            pieces.push(Piece { text: s, hit });
        }
    };
    if start > 0 {
        push("… ", false);
    }
    let mut at = start;
    for (s, e) in hits.into_iter().filter(|(s, e)| *s >= start && *e <= end) {
        push(&text[at..s], false);
        push(&text[s..e], true);
        at = e;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push(" …", false);
    }
    Some(pieces)
}

/// The first `max_chars` of a text as one plain piece (a result whose
/// match is elsewhere, in its subject or its requester's name).
pub fn opening(text: &str, max_chars: usize) -> Vec<Piece> {
    let cut: String = text.chars().take(max_chars).collect();
    let more = cut.len() < text.len();
    let mut t = cut.replace(['\r', '\n', '\t'], " ");
    if more {
        t.push_str(" …");
    }
    vec![Piece {
        text: t,
        hit: false,
    }]
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_relaxed_query_forgives_a_word_end() {
        let q = SearchQuery::parse("q", "printr pesukonetta ei ")
            .unwrap()
            .relaxed();
        let prefixes: Vec<Option<&str>> = q.words.iter().map(|w| w.prefix.as_deref()).collect();
        assert_eq!(prefixes, [Some("prin"), Some("pesukonet")]);
        assert_eq!(q.matched("The printer of the office"), 1);
        assert_eq!(q.matched("Pesukoneen luukku ja printteri"), 2);
        assert_eq!(q.matched("Paperi ja muste"), 0);
    }

    use super::*;

    fn q(s: &str) -> SearchQuery {
        SearchQuery::parse("q", s).unwrap()
    }

    /// Whether a document of `text` is found by `query` the way the index
    /// finds it: every query word has a term (or a prefix) in the
    /// document's terms.
    fn finds(query: &str, text: &str) -> bool {
        let doc: Vec<String> = index_terms([text]).split(' ').map(str::to_string).collect();
        let query = q(query);
        !query.is_empty()
            && query.words.iter().all(|w| {
                w.terms.iter().any(|t| doc.contains(t))
                    || w.prefix
                        .as_ref()
                        .is_some_and(|p| doc.iter().any(|d| d.starts_with(p)))
            })
    }

    #[test]
    fn finnish_inflection() {
        for text in [
            "Tulostin ei tulosta",
            "Tulostimen paperi on jumissa",
            "Tulostimessa palaa punainen valo",
            "Uudet tulostimet",
        ] {
            assert!(finds("tulostin ", text), "{text}");
            assert!(finds("tulostimen ", text), "{text}");
        }
        assert!(finds("puhelin ", "Puhelimeen ei tule ääntä"));
        assert!(finds("reititin ", "Reitittimen valo vilkkuu"));
        assert!(finds("reitittimen ", "Reititin ei käynnisty"));
        assert!(finds("kaiutin ", "Kaiuttimesta kuuluu ritinää"));
        assert!(finds("muunnin ", "Muuntimen johto"));
        assert!(finds("kytkin ", "Verkon kytkimen valot vilkkuvat"));
        assert!(finds("kirjautuminen ", "Virhe kirjautumisessa"));
        assert!(finds("salasana ", "Unohdin salasanan"));
        assert!(finds("pesukone ", "Pesukoneessa vuotaa vettä"));
        assert!(finds("jääkaappi ", "Jääkaapin ovi ei sulkeudu"));
        assert!(finds("näyttö ", "Näytössä on raita"));
        assert!(!finds("tulostin ", "Näyttö pimenee"));
    }

    #[test]
    fn english_inflection() {
        assert!(finds("printers ", "The printer is jammed"));
        assert!(finds("printer ", "All printers are offline"));
        assert!(finds("washing machine ", "Washing machines leaking"));
        assert!(finds("crashes ", "The app crashed at start-up"));
        assert!(!finds("printer ", "The scanner is jammed"));
    }

    #[test]
    fn diacritics_folded() {
        assert!(finds("aijala ", "Matti Äijälä soitti"));
        assert!(finds("Äijälä ", "matti aijala"));
        assert!(finds("cafe ", "Café Ström"));
        assert!(finds("strom ", "Café Ström"));
    }

    #[test]
    fn every_word_must_match_and_the_last_may_be_a_prefix() {
        assert!(finds("paperi tulo", "Tulostimen paperi on jumissa"));
        assert!(!finds("paperi tulo ", "Tulostimen paperi on jumissa"));
        assert!(!finds("paperi scanner", "Tulostimen paperi on jumissa"));
        assert!(finds("E-21", "Error code E-21 on the display"));
        assert!(finds("12345", "Serial 12345"));
    }

    #[test]
    fn queries() {
        assert_eq!(SearchQuery::parse("q", "  ").unwrap_err().field, "q");
        assert_eq!(SearchQuery::parse("q", "!?").unwrap_err().field, "q");
        assert_eq!(SearchQuery::parse("q", "a\0b").unwrap_err().field, "q");
        assert_eq!(
            SearchQuery::parse("q", &"x".repeat(201)).unwrap_err().field,
            "q"
        );
        assert!(q("the and ").is_empty());
        assert_eq!(q("printer printer printer").words.len(), 2);
        let many = (0..30).map(|i| format!("w{i}x ")).collect::<String>();
        assert_eq!(q(&many).words.len(), QUERY_WORDS_MAX);
        // Only ASCII letters and digits reach the engines' query syntax.
        for w in q("a\"b' OR c* NEAR(d) -e:f & g|h").words {
            for t in w.terms.iter().chain(w.prefix.iter()) {
                assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()), "{t}");
            }
        }
    }

    #[test]
    fn snippets_mark_matches() {
        let text = "Hei,\nmeillä on ongelma: tulostimen paperi on jumissa ja valo vilkkuu.";
        let s = snippet(text, &q("tulostin "), 40).unwrap();
        let hits: Vec<&str> = s
            .iter()
            .filter(|p| p.hit)
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(hits, ["tulostimen"]);
        let all: String = s.iter().map(|p| p.text.as_str()).collect();
        assert!(all.starts_with("… "), "{all}");
        assert!(all.ends_with(" …"), "{all}");
        assert!(!all.contains('\n'));
        assert!(snippet(text, &q("skanneri "), 40).is_none());
        let short = snippet("Printer jammed", &q("printer "), 100).unwrap();
        assert_eq!(
            short,
            [
                Piece {
                    text: "Printer".into(),
                    hit: true
                },
                Piece {
                    text: " jammed".into(),
                    hit: false
                }
            ]
        );
    }

    #[test]
    fn whole_texts_as_queries() {
        let q = SearchQuery::from_text("The printer is jammed, the printer shows E-21", 10);
        assert_eq!(q.words.len(), 3, "{q:?}");
        assert!(q.words.iter().all(|w| w.prefix.is_none()));
    }
}
