//! Keyword triage of a new ticket and its SLA, following the rules of the e-mail system Edgedesk replaces
//! (`shared/seed-rules.md`, "Triage keywords").
//!
//! Matching is case-insensitive on whole words or phrases over subject + body: `down` matches
//! "site is down" but not "download"; `not working` matches across any run of white space.

use super::ticket::{Category, Priority};
use chrono::{DateTime, Duration, Utc};

/// Priority levels in the order they are tried: the first level with a match wins; no match is `medium`.
const PRIORITY_RULES: &[(Priority, &[&str])] = &[
    (
        Priority::Urgent,
        &[
            "urgent",
            "emergency",
            "asap",
            "immediately",
            "critical",
            "down",
            "broken",
            "not working",
        ],
    ),
    (
        Priority::High,
        &[
            "important",
            "soon",
            "quickly",
            "problem",
            "issue",
            "error",
            "failed",
        ],
    ),
    (
        Priority::Low,
        &["question", "wondering", "curious", "feedback", "suggestion"],
    ),
];

/// Categories with their keywords: the most matching keywords wins, ties go to the earlier row; none is `other`.
const CATEGORY_RULES: &[(Category, &[&str])] = &[
    (
        Category::Order,
        &[
            "order", "purchase", "bought", "delivery", "shipping", "tracking", "received",
        ],
    ),
    (
        Category::Product,
        &[
            "product",
            "item",
            "quality",
            "defect",
            "size",
            "sizes",
            "color",
            "description",
        ],
    ),
    (
        Category::Billing,
        &[
            "invoice", "payment", "charge", "charges", "refund", "price", "cost", "bill",
        ],
    ),
    (
        Category::Technical,
        &[
            "login",
            "log in",
            "password",
            "account",
            "access",
            "error",
            "bug",
            "not working",
        ],
    ),
];

/// The result of triage for a new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triage {
    /// From the first priority level with a keyword match; `medium` when none matches.
    pub priority: Priority,
    /// The category with the most keyword matches (ties go to the earlier row); `other` when none matches.
    pub category: Category,
}

/// Triage of a message from its subject and body text.
pub fn triage(subject: &str, body: &str) -> Triage {
    let words = Words::new(&format!("{subject}\n{body}"));
    let priority = PRIORITY_RULES
        .iter()
        .find(|(_, kws)| kws.iter().any(|k| words.contains_phrase(k)))
        .map_or(Priority::Medium, |(p, _)| *p);
    let mut category = Category::Other;
    let mut best = 0;
    for (c, kws) in CATEGORY_RULES {
        let n = kws.iter().filter(|k| words.contains_phrase(k)).count();
        if n > best {
            best = n;
            category = *c;
        }
    }
    Triage { priority, category }
}

/// First-response SLA in hours by priority: urgent 1 h, high 4 h, medium 24 h, low 72 h.
pub fn sla_hours(p: Priority) -> i64 {
    match p {
        Priority::Urgent => 1,
        Priority::High => 4,
        Priority::Medium => 24,
        Priority::Low => 72,
    }
}

/// When the first response is due for a ticket created at `created` with priority `p`.
pub fn sla_due(created: DateTime<Utc>, p: Priority) -> DateTime<Utc> {
    created + Duration::hours(sla_hours(p))
}

/// Lower-cased words of a text (letters, digits and apostrophes), for whole-word phrase matching.
struct Words(Vec<String>);

impl Words {
    fn new(text: &str) -> Self {
        Words(
            text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect(),
        )
    }

    fn contains_phrase(&self, phrase: &str) -> bool {
        let needle: Vec<&str> = phrase.split_whitespace().collect();
        !needle.is_empty()
            && self
                .0
                .windows(needle.len())
                .any(|w| w.iter().zip(&needle).all(|(a, b)| a == b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_first_level_wins() {
        let t = triage("Question", "Our site is DOWN and I have a question");
        assert_eq!(t.priority, Priority::Urgent);
        assert_eq!(triage("Quick problem", "").priority, Priority::High);
        assert_eq!(triage("Feedback", "love it").priority, Priority::Low);
        assert_eq!(triage("Hello", "just saying hi").priority, Priority::Medium);
    }

    #[test]
    fn whole_words_only() {
        // "download" must not match "down", "issues" must not match "issue".
        assert_eq!(
            triage("download link", "two issues").priority,
            Priority::Medium
        );
        assert_eq!(
            triage("", "the app is not\r\n  working").priority,
            Priority::Urgent
        );
    }

    #[test]
    fn category_most_matches_ties_to_earlier_row() {
        assert_eq!(
            triage("refund", "the invoice shows a double charge").category,
            Category::Billing
        );
        // one order keyword, one billing keyword: order is the earlier row.
        assert_eq!(triage("order", "refund").category, Category::Order);
        assert_eq!(triage("hi", "there").category, Category::Other);
        assert_eq!(
            triage("Can't log in", "password reset").category,
            Category::Technical
        );
    }

    #[test]
    fn sla_from_priority() {
        let t0 = crate::domain::time::from_millis(0);
        assert_eq!(sla_due(t0, Priority::Urgent).timestamp(), 3600);
        assert_eq!(sla_due(t0, Priority::Low).timestamp(), 72 * 3600);
    }
}
