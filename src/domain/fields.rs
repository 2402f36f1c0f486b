//! Validated request fields: parse at the boundary, then pass the typed value on. Each `parse` fails with an
//! [`InvalidField`] naming the field, which the API answers with 422.

use std::fmt;

/// A field value that is not acceptable; `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    /// The field name as the API spells it.
    pub field: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        message: message.into(),
    }
}

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A login e-mail address: trimmed, lower-cased, `local@domain.tld` shape, at most 254 bytes.
    Email
);
text_type!(
    /// A display name or team name: trimmed, 1–100 characters, no control characters.
    Name
);
text_type!(
    /// A tenant id: 3–40 of `a-z 0-9 -`, starting with a letter (it appears in URLs and logs).
    TenantId
);
text_type!(
    /// A ticket tag: trimmed, lower-cased, 1–40 of `a-z 0-9 _ - . :`.
    Tag
);
text_type!(
    /// A canned-response shortcut: 1–32 of `a-z 0-9 _ -` (typed after `/` in the composer).
    Shortcut
);
text_type!(
    /// A new password: 10–200 characters, not all the same character.
    NewPassword
);

impl Email {
    /// Parses an e-mail address for `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Email, InvalidField> {
        let s = s.trim().to_lowercase();
        let ok = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
                    && domain.matches('@').count() == 0
            });
        ok.then_some(Email(s))
            .ok_or_else(|| invalid(field, "must be an e-mail address like ana@example.com"))
    }
}

impl Name {
    /// Parses a name for `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Name, InvalidField> {
        let s = s.trim();
        let n = s.chars().count();
        if n == 0 || n > 100 || s.chars().any(char::is_control) {
            return Err(invalid(
                field,
                "must be 1 to 100 characters without control characters",
            ));
        }
        Ok(Name(s.to_string()))
    }
}

fn charset(s: &str, extra: &[char]) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

impl TenantId {
    /// Parses a tenant id.
    pub fn parse(s: &str) -> Result<TenantId, InvalidField> {
        let s = s.trim();
        let ok = (3..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && charset(s, &['-']);
        ok.then(|| TenantId(s.to_string())).ok_or_else(|| {
            invalid(
                "id",
                "must be 3 to 40 of a-z, 0-9 and '-', starting with a letter",
            )
        })
    }
}

impl Tag {
    /// Parses a tag (lower-casing it).
    pub fn parse(s: &str) -> Result<Tag, InvalidField> {
        let s = s.trim().to_lowercase();
        let ok = (1..=40).contains(&s.len()) && charset(&s, &['_', '-', '.', ':']);
        ok.then_some(Tag(s)).ok_or_else(|| {
            invalid(
                "tags",
                "each tag must be 1 to 40 of a-z, 0-9, '_', '-', '.', ':'",
            )
        })
    }

    /// Parses a list of tags, dropping duplicates; at most 20.
    pub fn parse_all(list: &[String]) -> Result<Vec<Tag>, InvalidField> {
        let mut tags: Vec<Tag> = list
            .iter()
            .map(|t| Tag::parse(t))
            .collect::<Result<_, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > 20 {
            return Err(invalid("tags", "at most 20 tags"));
        }
        Ok(tags)
    }
}

impl Shortcut {
    /// Parses a shortcut (lower-casing it; a leading `/` is dropped).
    pub fn parse(s: &str) -> Result<Shortcut, InvalidField> {
        let s = s.trim().trim_start_matches('/').to_lowercase();
        let ok = (1..=32).contains(&s.len()) && charset(&s, &['_', '-']);
        ok.then_some(Shortcut(s))
            .ok_or_else(|| invalid("shortcut", "must be 1 to 32 of a-z, 0-9, '_' and '-'"))
    }
}

impl NewPassword {
    /// Parses a new password for `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<NewPassword, InvalidField> {
        let n = s.chars().count();
        if !(10..=200).contains(&n) {
            return Err(invalid(field, "must be 10 to 200 characters"));
        }
        let mut chars = s.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err(invalid(field, "must not repeat a single character"));
        }
        Ok(NewPassword(s.to_string()))
    }
}

/// A temporary password from 12 random bytes: 16 characters of an alphabet without look-alikes
/// (no 0/O, 1/l/I), grouped `xxxx-xxxx-xxxx-xxxx` for reading aloud.
pub fn temporary_password(random: &[u8; 12]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    // 12 bytes = 96 bits; take 16 symbols of the 56-letter alphabet (~93 bits) from the number's base-56 digits.
    let mut n = u128::from_be_bytes({
        let mut b = [0u8; 16];
        b[4..].copy_from_slice(random);
        b
    });
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(n % ALPHABET.len() as u128) as usize] as char);
        n /= ALPHABET.len() as u128;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("email", " Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "a b@x.com",
            "a@b@x.com",
            "a@.com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("owner_email", "x").unwrap_err().field,
            "owner_email"
        );
    }

    #[test]
    fn names_tenants_tags_shortcuts() {
        assert!(Name::parse("name", "  ").is_err());
        assert_eq!(Name::parse("name", " Ana ").unwrap().as_str(), "Ana");
        assert!(TenantId::parse("acme-eu").is_ok());
        for bad in ["ab", "1acme", "Acme", "acme_eu", "a".repeat(41).as_str()] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert!(Tag::parse("two words").is_err());
        let tags = Tag::parse_all(&["b".into(), "a".into(), "B".into()]).unwrap();
        assert_eq!(tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(Shortcut::parse("/Thanks").unwrap().as_str(), "thanks");
        assert!(Shortcut::parse("/").is_err());
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse("new_password", "short").is_err());
        assert!(NewPassword::parse("new_password", "aaaaaaaaaaaa").is_err());
        assert!(NewPassword::parse("new_password", "correct horse").is_ok());
        let p = temporary_password(&[7; 12]);
        assert_eq!(p.len(), 19);
        assert_eq!(p.matches('-').count(), 3);
        assert_ne!(p, temporary_password(&[8; 12]));
        assert!(NewPassword::parse("x", &p).is_ok());
    }
}
