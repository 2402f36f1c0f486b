//! Masking of payment data before text leaves Edgedesk (LLM prompts) or reaches staff in live channels.
//!
//! Card numbers follow the old support module's pattern (`shared/seed-rules.md`): 13–19 digits, optionally
//! grouped by spaces or dashes, **and** a valid Luhn checksum, so order numbers and dates are not eaten.

use regex_lite::Regex;
use std::sync::OnceLock;

/// The replacement for masked data.
pub const MASK: &str = "****";

fn card_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // 13 to 19 digits, each group separated by at most one space or dash.
        #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
        Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap()
    })
}

/// True when the digits pass the Luhn check (ISO/IEC 7812-1).
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    let mut n = 0;
    for (i, c) in digits
        .chars()
        .rev()
        .filter(char::is_ascii_digit)
        .enumerate()
    {
        let mut d = c as u32 - '0' as u32;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        n += 1;
    }
    n >= 13 && sum % 10 == 0
}

/// Replaces every Luhn-valid card number in `text` with [`MASK`]; other text is unchanged. A run of digit
/// groups longer than a card (a card followed by an expiry or CVV, or preceded by a reference) is searched for
/// its longest Luhn-valid span of whole groups with 13–19 digits.
pub fn mask_card_numbers(text: &str) -> String {
    card_pattern()
        .replace_all(text, |caps: &regex_lite::Captures<'_>| mask_run(&caps[0]))
        .into_owned()
}

/// Masks the longest card-like span of whole digit groups in a run like `4111 1111 1111 1111 123`.
fn mask_run(run: &str) -> String {
    let b = run.as_bytes();
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .collect();
    let ends: Vec<usize> = (1..=b.len())
        .filter(|&i| b[i - 1].is_ascii_digit() && (i == b.len() || !b[i].is_ascii_digit()))
        .collect();
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
    let mut best: Option<(usize, usize)> = None;
    for &s in &starts {
        for &e in ends.iter().filter(|&&e| e > s) {
            let span = &run[s..e];
            let longer = best.is_none_or(|(bs, be)| e - s > be - bs);
            if (13..=19).contains(&digits(span)) && longer && luhn_valid(span) {
                best = Some((s, e));
            }
        }
    }
    match best {
        Some((s, e)) => format!("{}{MASK}{}", &run[..s], &run[e..]),
        None => run.to_string(),
    }
}

fn ssn_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
    RE.get_or_init(|| Regex::new(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b").unwrap())
}

fn pin_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // "PIN 1234", "pin: 0000", "passcode is 123456", "security code 987", "CVV 123".
    #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(pin|pin code|passcode|security code|cvv|cvc)(\s*(?:number|no\.?|#)?\s*(?:is|=|:)?\s*)\d{3,8}\b",
        )
        .unwrap()
    })
}

fn account_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
    RE.get_or_init(|| Regex::new(r"\b\d{10,20}\b").unwrap())
}

/// Masks what a live chat must never store or show staff (the old support module's list, `seed-rules.md`):
/// Luhn-valid card numbers ([`mask_card_numbers`]), US social security numbers (`123-45-6789`), PINs and
/// security codes after their keyword (`PIN 1234`, `passcode: 123456`, `CVV 123`), and account numbers (any
/// other run of 10–20 digits, which also catches unformatted phone numbers: the old module's trade-off).
pub fn mask_chat(text: &str) -> String {
    let t = mask_card_numbers(text);
    let t = ssn_pattern().replace_all(&t, MASK);
    let t = pin_pattern().replace_all(&t, |c: &regex_lite::Captures<'_>| {
        format!("{}{}{MASK}", &c[1], &c[2])
    });
    account_pattern().replace_all(&t, MASK).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_masking() {
        assert_eq!(
            mask_chat("my card is 4111 1111 1111 1111, ssn 123-45-6789"),
            "my card is ****, ssn ****"
        );
        assert_eq!(mask_chat("PIN: 4821 please"), "PIN: **** please");
        assert_eq!(mask_chat("my pin is 0000"), "my pin is ****");
        assert_eq!(mask_chat("CVV 123"), "CVV ****");
        assert_eq!(mask_chat("account 004512345678"), "account ****");
        assert_eq!(
            mask_chat("order 1234 arrives 2026-11-22"),
            "order 1234 arrives 2026-11-22"
        );
        assert_eq!(mask_chat("spinning 1234"), "spinning 1234");
    }

    #[test]
    fn masks_valid_cards_in_any_grouping() {
        assert_eq!(
            mask_card_numbers("card 4111 1111 1111 1111 thanks"),
            "card **** thanks"
        );
        assert_eq!(mask_card_numbers("4111-1111-1111-1111"), "****");
        assert_eq!(mask_card_numbers("5500005555555559."), "****.");
    }

    #[test]
    fn finds_cards_inside_longer_digit_runs() {
        assert_eq!(
            mask_card_numbers("4111 1111 1111 1111 123 exp"),
            "**** 123 exp"
        );
        assert_eq!(
            mask_card_numbers("ref 12 4111-1111-1111-1111"),
            "ref 12 ****"
        );
    }

    #[test]
    fn leaves_non_luhn_numbers() {
        assert_eq!(
            mask_card_numbers("order 1234 5678 9012 3456"),
            "order 1234 5678 9012 3456"
        );
        assert_eq!(mask_card_numbers("call 555-1234"), "call 555-1234");
    }
}
