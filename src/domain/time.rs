//! Timestamps. Storage and the API use RFC 3339 UTC with millisecond precision (`2026-11-22T13:00:00.000Z`), which
//! sorts lexicographically in the same order as time, so SQL `ORDER BY created_at` is chronological.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// A UTC instant from milliseconds since the Unix epoch (as JavaScript's `Date.now()` gives).
/// Out-of-range input clamps to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// RFC 3339 UTC, always three fractional digits, `Z` suffix: `2026-11-22T13:00:00.123Z`. The fixed width keeps
/// string order equal to time order.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset) into UTC; `None` when malformed.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let t = from_millis(1_795_352_400_123);
        let s = rfc3339(t);
        assert_eq!(s, "2026-11-22T13:00:00.123Z");
        assert_eq!(
            parse_rfc3339(&s).map(|p| p.timestamp()),
            Some(t.timestamp())
        );
        assert!(parse_rfc3339("yesterday").is_none());
    }

    #[test]
    fn strings_sort_like_time() {
        let a = rfc3339(from_millis(9_000_000_000));
        let b = rfc3339(from_millis(9_000_000_001));
        let c = rfc3339(from_millis(10_000_000_000));
        assert!(a < b && b < c);
    }
}
