//! Search input → an FTS5 `MATCH` expression (SQLite FTS5 query syntax,
//! <https://www.sqlite.org/fts5.html#full_text_query_syntax>).
//!
//! Every word the user typed becomes a quoted prefix phrase (`"word"*`), all of which must match (implicit
//! AND). Quoting means FTS5 operators and punctuation in the input (`AND`, `NEAR`, `-`, `:`, `(`) are never
//! interpreted, so no input can make the query fail to parse. Inner `"` are doubled, as the syntax requires.

/// Most words used from one search; the rest are ignored.
pub const MAX_TERMS: usize = 8;

/// The FTS5 expression for a search box input, or `None` when it has no word characters.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_prefix_phrases() {
        assert_eq!(
            fts_query("refund  invoice"),
            Some("\"refund\"* \"invoice\"*".into())
        );
        assert_eq!(fts_query("Zürich"), Some("\"Zürich\"*".into()));
    }

    #[test]
    fn operators_and_punctuation_are_inert() {
        assert_eq!(
            fts_query("NEAR(a b) OR -x: \"y"),
            Some("\"NEAR\"* \"a\"* \"b\"* \"OR\"* \"x\"* \"y\"*".into())
        );
        assert_eq!(fts_query("  --- !! "), None);
        assert_eq!(fts_query("don't"), Some("\"don't\"*".into()));
    }

    #[test]
    fn at_most_eight_terms() {
        let q = fts_query("a b c d e f g h i j").unwrap();
        assert_eq!(q.matches('*').count(), MAX_TERMS);
    }
}
