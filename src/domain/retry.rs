//! Retry policy for queued work (mail to ingest, drafts to deliver).
//!
//! Transient failures (network, HTTP 429 and 5xx, a killed invocation) are retried with exponential backoff
//! capped at an hour, for up to [`MAX_TRANSIENT_ATTEMPTS`] attempts (about a day), so an outage never loses
//! mail. Permanent failures (other 4xx, unparseable data) give up after [`MAX_ATTEMPTS`].

/// Attempts before work that fails permanently is marked `failed`.
pub const MAX_ATTEMPTS: i64 = 5;
/// Attempts before work that keeps failing transiently is marked `failed` (1+2+4+…+60 min ≈ a day).
pub const MAX_TRANSIENT_ATTEMPTS: i64 = 30;
/// Longest wait between attempts, in ms.
pub const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;

/// Wait before the next attempt after `failures` failed attempts (1 → 1 min, 2 → 2 min, 3 → 4 min … ≤ 1 h), in ms.
pub fn backoff_ms(failures: i64) -> i64 {
    (60_000_i64 << (failures - 1).clamp(0, 10)).min(MAX_BACKOFF_MS)
}

/// Whether to stop retrying after `attempts` attempts (this one included) whose last failure was `retryable`.
pub fn give_up(attempts: i64, retryable: bool) -> bool {
    attempts
        >= if retryable {
            MAX_TRANSIENT_ATTEMPTS
        } else {
            MAX_ATTEMPTS
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(2), 120_000);
        assert_eq!(backoff_ms(4), 480_000);
        assert_eq!(backoff_ms(7), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn transient_failures_are_retried_much_longer() {
        assert!(!give_up(5, true));
        assert!(give_up(5, false));
        assert!(give_up(MAX_TRANSIENT_ATTEMPTS, true));
    }
}
