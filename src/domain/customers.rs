//! The customer registry's vocabulary: identities (how a person reaches a tenant) and what the API accepts.
//!
//! An identity is `(kind, scope, value)`: an e-mail (lower-cased), a phone number (E.164), a Messenger PSID or an
//! Instagram IGSID (digits, scoped by the Facebook page id / Instagram account id that received the message,
//! because Meta's ids are page-scoped). One identity belongs to at most one customer of a tenant.

use super::fields::{Email, InvalidField};
use serde::{Deserialize, Serialize};

/// What kind of identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// An e-mail address.
    Email,
    /// A phone number (E.164).
    Phone,
    /// A Facebook Messenger page-scoped id.
    Psid,
    /// An Instagram-scoped id.
    Igsid,
}

impl IdentityKind {
    /// The wire and D1 form.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Psid => "psid",
            IdentityKind::Igsid => "igsid",
        }
    }
}

/// A validated identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Kind.
    pub kind: IdentityKind,
    /// Page / account id for PSIDs and IGSIDs; empty otherwise.
    #[serde(default)]
    pub scope: String,
    /// The normalised value.
    pub value: String,
}

fn bad(field: &'static str, message: &str) -> InvalidField {
    InvalidField {
        field,
        message: message.into(),
    }
}

fn meta_id(field: &'static str, s: &str) -> Result<String, InvalidField> {
    let s = s.trim();
    if (5..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(bad(field, "must be a Meta id (5 to 32 digits)"))
    }
}

impl Identity {
    /// An e-mail identity.
    pub fn email(s: &str) -> Result<Identity, InvalidField> {
        Ok(Identity {
            kind: IdentityKind::Email,
            scope: String::new(),
            value: Email::parse("emails", s)?.to_string(),
        })
    }

    /// A phone identity (national numbers get `default_country`).
    pub fn phone(s: &str, default_country: &str) -> Result<Identity, InvalidField> {
        let value = super::phone::to_e164(s, default_country)
            .ok_or_else(|| bad("phones", "each must be a phone number"))?;
        Ok(Identity {
            kind: IdentityKind::Phone,
            scope: String::new(),
            value,
        })
    }

    /// A Messenger PSID (`platform` `facebook`) or Instagram IGSID (`instagram`), scoped by the page / account.
    pub fn meta(platform: &str, scope: &str, id: &str) -> Result<Identity, InvalidField> {
        let kind = match platform {
            "facebook" | "messenger" => IdentityKind::Psid,
            "instagram" => IdentityKind::Igsid,
            _ => return Err(bad("meta_ids", "platform must be facebook or instagram")),
        };
        Ok(Identity {
            kind,
            scope: meta_id("meta_ids", scope)?,
            value: meta_id("meta_ids", id)?,
        })
    }
}

/// A Meta identity as the API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaIdInput {
    /// `facebook` or `instagram`.
    pub platform: String,
    /// The PSID / IGSID.
    pub id: String,
    /// The Facebook page id / Instagram account id that the id is scoped to.
    pub page_id: String,
}

/// `POST /api/v1/customers` and `PUT /api/v1/customers/{id}` (PUT: absent fields stay; lists replace).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// Display name.
    pub name: Option<String>,
    /// Given name (Meta profiles).
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// E-mail addresses.
    pub emails: Option<Vec<String>>,
    /// Phone numbers (any common notation; stored E.164).
    pub phones: Option<Vec<String>>,
    /// Messenger / Instagram ids.
    pub meta_ids: Option<Vec<MetaIdInput>>,
    /// Profile picture URL (https).
    pub profile_pic_url: Option<String>,
    /// Staff notes.
    pub notes: Option<String>,
}

/// The validated identities of an input (`None` = the input did not mention identities).
pub fn identities_of(
    input: &CustomerInput,
    default_country: &str,
) -> Result<Option<Vec<Identity>>, InvalidField> {
    if input.emails.is_none() && input.phones.is_none() && input.meta_ids.is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for e in input.emails.iter().flatten() {
        out.push(Identity::email(e)?);
    }
    for p in input.phones.iter().flatten() {
        out.push(Identity::phone(p, default_country)?);
    }
    for m in input.meta_ids.iter().flatten() {
        out.push(Identity::meta(&m.platform, &m.page_id, &m.id)?);
    }
    out.sort_by(|a, b| {
        (a.kind.as_str(), &a.scope, &a.value).cmp(&(b.kind.as_str(), &b.scope, &b.value))
    });
    out.dedup();
    if out.len() > 50 {
        return Err(bad("emails", "at most 50 identities"));
    }
    Ok(Some(out))
}

/// Checks the free-text fields of an input.
pub fn check_fields(input: &CustomerInput) -> Result<(), InvalidField> {
    for (field, v, max) in [
        ("name", &input.name, 200),
        ("first_name", &input.first_name, 100),
        ("last_name", &input.last_name, 100),
        ("notes", &input.notes, 10_000),
    ] {
        if v.as_ref().is_some_and(|s| {
            s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n')
        }) {
            return Err(InvalidField {
                field,
                message: format!("at most {max} characters, no control characters"),
            });
        }
    }
    if let Some(u) = &input.profile_pic_url {
        if !u.is_empty() && !u.starts_with("https://") {
            return Err(bad("profile_pic_url", "must be an https URL"));
        }
    }
    Ok(())
}

/// The name to show: the name, else first + last, else `None` (never a placeholder).
pub fn display_name(name: Option<&str>, first: Option<&str>, last: Option<&str>) -> Option<String> {
    if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
        return Some(n.trim().to_string());
    }
    let joined = [first, last]
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_normalise_and_dedupe() {
        let input: CustomerInput = serde_json::from_str(
            r#"{"emails":["Ana@X.com","ana@x.com"],"phones":["(555) 010-0002"],
                "meta_ids":[{"platform":"facebook","id":"1234567890","page_id":"99887766"}]}"#,
        )
        .unwrap();
        let ids = identities_of(&input, "1").unwrap().unwrap();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&Identity {
            kind: IdentityKind::Phone,
            scope: String::new(),
            value: "+15550100002".into()
        }));
        assert!(ids
            .iter()
            .any(|i| i.kind == IdentityKind::Psid && i.scope == "99887766"));
        assert_eq!(identities_of(&CustomerInput::default(), "1").unwrap(), None);
    }

    #[test]
    fn bad_identities_name_their_field() {
        let bad_mail: CustomerInput = serde_json::from_str(r#"{"emails":["nope"]}"#).unwrap();
        assert_eq!(identities_of(&bad_mail, "1").unwrap_err().field, "emails");
        let bad_meta: CustomerInput = serde_json::from_str(
            r#"{"meta_ids":[{"platform":"tiktok","id":"12345","page_id":"12345"}]}"#,
        )
        .unwrap();
        assert_eq!(identities_of(&bad_meta, "1").unwrap_err().field, "meta_ids");
    }

    #[test]
    fn display_names_are_never_placeholders() {
        assert_eq!(
            display_name(Some(" Ana "), None, None).as_deref(),
            Some("Ana")
        );
        assert_eq!(
            display_name(None, Some("Ana"), Some("Lima")).as_deref(),
            Some("Ana Lima")
        );
        assert_eq!(display_name(Some(""), None, None), None);
    }
}
