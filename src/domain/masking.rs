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
        // A run of digit groups separated by one or two spaces, tabs or dashes; cards are searched inside it.
        #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
        Regex::new(r"\b\d+(?:[ \t-]{1,2}\d+)*\b").unwrap()
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

/// Replaces every Luhn-valid card number in `text` with [`MASK`]; other text is unchanged. Inside a run of digit
/// groups (a card next to an order number, an expiry, a CVV, or a second card), every span of whole groups with
/// 13–19 digits that passes Luhn is masked, longest first, so no card survives next to other digits.
pub fn mask_card_numbers(text: &str) -> String {
    card_pattern()
        .replace_all(text, |caps: &regex_lite::Captures<'_>| mask_run(&caps[0]))
        .into_owned()
}

/// Masks the card-like spans of whole digit groups in a run like `12345 4111 1111 1111 1111 123`.
fn mask_run(run: &str) -> String {
    let b = run.as_bytes();
    // Groups as byte ranges.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((start, i));
        } else {
            i += 1;
        }
    }
    let mut masked: Vec<(usize, usize)> = Vec::new();
    mask_groups(run, &groups, &mut masked);
    if masked.is_empty() {
        return run.to_string();
    }
    masked.sort_unstable();
    let mut out = String::with_capacity(run.len());
    let mut at = 0;
    for (s, e) in masked {
        out.push_str(&run[at..s]);
        out.push_str(MASK);
        at = e;
    }
    out.push_str(&run[at..]);
    out
}

/// Finds the longest Luhn-valid span of whole groups with 13–19 digits among `groups`, records it, and does the
/// same on the groups left and right of it.
fn mask_groups(run: &str, groups: &[(usize, usize)], masked: &mut Vec<(usize, usize)>) {
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
    let mut best: Option<(usize, usize)> = None; // group indices, inclusive
    for a in 0..groups.len() {
        for z in a..groups.len() {
            let span = &run[groups[a].0..groups[z].1];
            let n = digits(span);
            if n > 19 {
                break;
            }
            let longer =
                best.is_none_or(|(ba, bz)| groups[z].1 - groups[a].0 > groups[bz].1 - groups[ba].0);
            if n >= 13 && longer && luhn_valid(span) {
                best = Some((a, z));
            }
        }
    }
    if let Some((a, z)) = best {
        masked.push((groups[a].0, groups[z].1));
        mask_groups(run, &groups[..a], masked);
        mask_groups(run, &groups[z + 1..], masked);
    }
}

fn ssn_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
    RE.get_or_init(|| {
        Regex::new(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b|(?i)\b(?:ssn|social security(?: number| no\.?)?)\D{0,6}\d{9}\b")
            .unwrap()
    })
}

fn pin_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // "PIN 1234", "pin: 0000", "passcode is 123456", "security code 987", "CVV 123".
    #[allow(clippy::unwrap_used)] // a literal pattern, covered by tests
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(pin|pin code|passcode|security code|cvv|cvc)(\s*(?:number|no\.?|#)?\s*(?:is)?\s*[=:]?\s*)\d{3,8}\b",
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
        assert_eq!(mask_chat("PIN is: 1234"), "PIN is: ****");
        assert_eq!(mask_chat("my ssn 123456789"), "my ****");
    }

    #[test]
    fn cards_next_to_other_digits_and_odd_spacing() {
        assert_eq!(
            mask_card_numbers("order 12345 4111 1111 1111 1111"),
            "order 12345 ****"
        );
        assert_eq!(
            mask_card_numbers("call 555 1234 4111-1111-1111-1111"),
            "call 555 1234 ****"
        );
        assert_eq!(mask_card_numbers("4111\t1111\t1111\t1111"), "****");
        assert_eq!(mask_card_numbers("4111  1111  1111  1111"), "****");
        assert_eq!(
            mask_card_numbers("4111 1111 1111 1111 5500 0055 5555 5559"),
            "**** ****"
        );
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
