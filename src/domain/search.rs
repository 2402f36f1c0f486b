//! Search input → an FTS5 `MATCH` expression (SQLite FTS5 query syntax,
//! <https://www.sqlite.org/fts5.html#full_text_query_syntax>).
//!
//! Every word the user typed becomes a quoted prefix phrase (`"word"*`), each its own `MATCH` expression: a
//! ticket matches when every word is found somewhere in it (subject, customer, or any message), not
//! necessarily in the same message. Quoting means FTS5 operators and punctuation in the input (`AND`, `NEAR`,
//! `-`, `:`, `(`) are never interpreted, so no input can make a query fail to parse. Inner `"` are doubled, as
//! the syntax requires.

/// Most words used from one search; the rest are ignored.
pub const MAX_TERMS: usize = 8;

/// The FTS5 expressions (one per word) for a search box input; empty when it has no word characters.
pub fn fts_terms(input: &str) -> Vec<String> {
    input
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_prefix_phrases() {
        assert_eq!(
            fts_terms("refund  invoice"),
            ["\"refund\"*", "\"invoice\"*"]
        );
        assert_eq!(fts_terms("Zürich"), ["\"Zürich\"*"]);
    }

    #[test]
    fn operators_and_punctuation_are_inert() {
        assert_eq!(
            fts_terms("NEAR(a b) OR -x: \"y"),
            [
                "\"NEAR\"*",
                "\"a\"*",
                "\"b\"*",
                "\"OR\"*",
                "\"x\"*",
                "\"y\"*"
            ]
        );
        assert!(fts_terms("  --- !! ").is_empty());
        assert_eq!(fts_terms("don't"), ["\"don't\"*"]);
    }

    #[test]
    fn at_most_eight_terms() {
        assert_eq!(fts_terms("a b c d e f g h i j").len(), MAX_TERMS);
    }
}
