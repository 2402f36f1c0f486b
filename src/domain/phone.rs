//! Phone numbers in E.164 (`+` and 8–15 digits, ITU-T E.164), the one form used for lookups, caching,
//! opt-outs and tenant routing.

/// Normalises a phone number to E.164. Accepts what people and CRMs write: spaces, dashes, dots, parentheses,
/// a leading `00` international prefix, or a national number, which gets `default_country` (digits of the
/// country calling code, e.g. `"1"`) — for `"1"`, a 10-digit number or an 11-digit one starting with 1.
/// `None` when the result is not 8–15 digits or the input has letters.
pub fn to_e164(input: &str, default_country: &str) -> Option<String> {
    let s = input.trim();
    if s.chars()
        .any(|c| !(c.is_ascii_digit() || " -.()+/".contains(c)))
    {
        return None;
    }
    let international = s.starts_with('+');
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let full = if international {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if default_country == "1" && digits.len() == 11 && digits.starts_with('1') {
        digits
    } else {
        let national = digits.trim_start_matches('0');
        format!("{default_country}{national}")
    };
    let ok = (8..=15).contains(&full.len()) && !full.starts_with('0');
    ok.then(|| format!("+{full}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_common_forms() {
        assert_eq!(
            to_e164("+1 (555) 123-4567", "1").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            to_e164("555.123.4567", "1").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            to_e164("1-555-123-4567", "1").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            to_e164("0044 20 7946 0312", "1").as_deref(),
            Some("+442079460312")
        );
        assert_eq!(
            to_e164("020 7946 0312", "44").as_deref(),
            Some("+442079460312")
        );
        assert_eq!(
            to_e164("+15551234567", "44").as_deref(),
            Some("+15551234567")
        );
    }

    #[test]
    fn refuses_non_numbers() {
        assert_eq!(to_e164("call me", "1"), None);
        assert_eq!(to_e164("+12", "1"), None);
        assert_eq!(to_e164("+1234567890123456", "1"), None);
        assert_eq!(to_e164("", "1"), None);
    }
}
