//! The built-in word tokenizer for raw text: Unicode word boundaries (UAX #29), so punctuation is
//! split off while numbers (`3.14`, `1,000`), apostrophes (`don't`) and combining marks
//! (Devanagari, Vietnamese) stay inside their word; hyphenated compounds and URLs stay whole.

use unicode_segmentation::UnicodeSegmentation;

/// Calls `emit` with every word of `text`, in order. Words are slices of `text`.
pub fn for_each_word<'a>(text: &'a str, mut emit: impl FnMut(&'a str)) {
    for chunk in text.split_whitespace() {
        if looks_like_url(chunk) {
            let core = chunk.trim_end_matches(is_trailing_punct);
            emit(core);
            split_punct(&chunk[core.len()..], &mut emit);
        } else {
            split_chunk(chunk, &mut emit);
        }
    }
}

/// Convenience for tests and small inputs.
pub fn tokenize(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for_each_word(text, |w| words.push(w));
    words
}

fn looks_like_url(chunk: &str) -> bool {
    chunk.contains("://")
        || chunk.starts_with("www.")
        || chunk.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.')
        })
}

fn is_trailing_punct(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '"' | '\'' | '»' | '”'
    )
}

fn split_punct<'a>(punct: &'a str, emit: &mut impl FnMut(&'a str)) {
    for (at, c) in punct.char_indices() {
        emit(&punct[at..at + c.len_utf8()]);
    }
}

fn is_wordlike(segment: &str) -> bool {
    segment.chars().next().is_some_and(char::is_alphanumeric)
}

fn is_hyphen(segment: &str) -> bool {
    matches!(segment, "-" | "\u{2010}" | "\u{2011}")
}

/// Splits a whitespace-free chunk at word boundaries, then re-joins `word-word(-word...)`.
fn split_chunk<'a>(chunk: &'a str, emit: &mut impl FnMut(&'a str)) {
    let segments: Vec<(usize, &str)> = chunk.split_word_bound_indices().collect();
    let mut k = 0;
    while k < segments.len() {
        let (start, first) = segments[k];
        let mut end = start + first.len();
        if is_wordlike(first) {
            // Extend over `-word` pairs: a hyphen between two word-like segments joins them.
            while k + 2 < segments.len()
                && is_hyphen(segments[k + 1].1)
                && is_wordlike(segments[k + 2].1)
            {
                end = segments[k + 2].0 + segments[k + 2].1.len();
                k += 2;
            }
        }
        emit(&chunk[start..end]);
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn splits_punctuation_keeps_numbers_and_apostrophes() {
        assert_eq!(
            tokenize("Hello, world! It's 3.14 and 1,000 (really)."),
            ["Hello", ",", "world", "!", "It's", "3.14", "and", "1,000", "(", "really", ")", "."]
        );
    }

    #[test]
    fn keeps_hyphenated_compounds_and_urls() {
        assert_eq!(
            tokenize("A well-known e-mail: see https://example.org/a?b=1, or x@y.com."),
            [
                "A",
                "well-known",
                "e-mail",
                ":",
                "see",
                "https://example.org/a?b=1",
                ",",
                "or",
                "x@y.com",
                "."
            ]
        );
        assert_eq!(tokenize("-- a - b"), ["-", "-", "a", "-", "b"]);
    }

    #[test]
    fn cyrillic_devanagari_vietnamese() {
        assert_eq!(tokenize("Привет, мир!"), ["Привет", ",", "мир", "!"]);
        // Devanagari vowel signs and viramas are combining marks: they stay inside the word.
        assert_eq!(tokenize("नमस्ते दुनिया।"), ["नमस्ते", "दुनिया", "।"]);
        assert_eq!(
            tokenize("Tiếng Việt có dấu."),
            ["Tiếng", "Việt", "có", "dấu", "."]
        );
        // Decomposed diacritics (base letter + combining mark) stay whole too.
        let decomposed = "Vie\u{0302}\u{0323}t";
        assert_eq!(tokenize(decomposed), [decomposed]);
    }

    #[test]
    fn words_are_non_empty_and_cover_all_non_space_text() {
        let text = "  «Quoi?!» — dit-il…  l'homme\t42% ";
        let words = tokenize(text);
        assert!(words
            .iter()
            .all(|w| !w.is_empty() && !w.contains(char::is_whitespace)));
        let joined: String = words.concat();
        let expected: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(joined, expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Any text: words are non-empty, whitespace-free, and together they are exactly the
        /// text's non-space characters, in order (nothing dropped, nothing invented).
        #[test]
        fn tokenizing_loses_nothing(text in "\\PC{0,60}") {
            let words = tokenize(&text);
            proptest::prop_assert!(words.iter().all(|w| !w.is_empty() && !w.contains(char::is_whitespace)));
            let joined: String = words.concat();
            let expected: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            proptest::prop_assert_eq!(joined, expected);
        }
    }
}
