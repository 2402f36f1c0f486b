//! Phone and SMS customer service: tenant configuration, what an inbound text means, the conversation's next
//! step, lead capture, and the Zapier callback signature. Pure; the I/O is in `jobs::cs` and `routes::twilio`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How a conversation is routed (`routing_rules` of the config; defaults from the old system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingRules {
    /// Answer text messages.
    pub enable_sms: bool,
    /// Answer calls.
    pub enable_voice: bool,
    /// Unknown numbers are asked for name and e-mail and become a lead ticket.
    pub fallback_to_lead_capture: bool,
    /// While the CRM lookup runs, the first answer says so.
    pub auto_respond_pending_lookup: bool,
}

impl Default for RoutingRules {
    fn default() -> Self {
        RoutingRules {
            enable_sms: true,
            enable_voice: true,
            fallback_to_lead_capture: true,
            auto_respond_pending_lookup: true,
        }
    }
}

/// A tenant's customer-service configuration as stored and shown (secrets are not part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsConfig {
    /// Master switch; `false` answers every webhook with a polite refusal.
    pub is_enabled: bool,
    /// The Zap's catch-hook URL (https).
    pub zapier_webhook_url: Option<String>,
    /// Seconds a customer lookup may take before the conversation goes on without it (5–300).
    pub customer_lookup_timeout_seconds: i64,
    /// Seconds a CRM question may take before the LLM answers instead (5–300).
    pub query_timeout_seconds: i64,
    /// Whether the LLM answers generic questions and questions the CRM could not answer.
    pub llm_fallback_enabled: bool,
    /// Routing switches.
    pub routing_rules: RoutingRules,
    /// Seconds a looked-up customer stays cached (60–86 400; default 3 600).
    pub cache_ttl_seconds: i64,
    /// The tenant's Twilio account SID (`AC` + 32 hex).
    pub twilio_account_sid: Option<String>,
    /// The tenant's Twilio numbers, E.164; inbound webhooks find the tenant by `To`.
    pub phone_numbers: Vec<String>,
    /// Country calling code for national numbers (digits, default `1`).
    pub default_country_code: String,
}

impl Default for CsConfig {
    fn default() -> Self {
        CsConfig {
            is_enabled: false,
            zapier_webhook_url: None,
            customer_lookup_timeout_seconds: 30,
            query_timeout_seconds: 45,
            llm_fallback_enabled: true,
            routing_rules: RoutingRules::default(),
            cache_ttl_seconds: 3600,
            twilio_account_sid: None,
            phone_numbers: Vec::new(),
            default_country_code: "1".into(),
        }
    }
}

/// `PUT /api/v1/admin/customer-service/config`: every field optional (absent = unchanged); secrets are
/// write-only (`null` clears them).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsConfigInput {
    /// See [`CsConfig::is_enabled`].
    pub is_enabled: Option<bool>,
    /// See [`CsConfig::zapier_webhook_url`].
    #[serde(default, deserialize_with = "some_or_null")]
    pub zapier_webhook_url: Option<Option<String>>,
    /// Shared secret for `X-Edgedesk-Signature` on Zapier callbacks; write-only.
    #[serde(default, deserialize_with = "some_or_null")]
    pub zapier_callback_secret: Option<Option<String>>,
    /// See [`CsConfig::customer_lookup_timeout_seconds`].
    pub customer_lookup_timeout_seconds: Option<i64>,
    /// See [`CsConfig::query_timeout_seconds`].
    pub query_timeout_seconds: Option<i64>,
    /// See [`CsConfig::llm_fallback_enabled`].
    pub llm_fallback_enabled: Option<bool>,
    /// See [`CsConfig::routing_rules`] (a whole object; missing switches take their defaults).
    pub routing_rules: Option<RoutingRules>,
    /// See [`CsConfig::cache_ttl_seconds`].
    pub cache_ttl_seconds: Option<i64>,
    /// See [`CsConfig::twilio_account_sid`].
    #[serde(default, deserialize_with = "some_or_null")]
    pub account_sid: Option<Option<String>>,
    /// The Twilio auth token; write-only.
    #[serde(default, deserialize_with = "some_or_null")]
    pub auth_token: Option<Option<String>>,
    /// See [`CsConfig::phone_numbers`] (any common notation; stored as E.164).
    pub phone_numbers: Option<Vec<String>>,
    /// See [`CsConfig::default_country_code`].
    pub default_country_code: Option<String>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// A config field that is not acceptable (422 naming `field`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigInvalid {
    /// The field.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> ConfigInvalid {
    ConfigInvalid {
        field,
        message: message.into(),
    }
}

/// The secrets a config update changes: `Some(None)` clears, `Some(Some(v))` sets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecretChanges {
    /// The Twilio auth token.
    pub auth_token: Option<Option<String>>,
    /// The Zapier callback secret.
    pub zapier_callback_secret: Option<Option<String>>,
}

impl CsConfigInput {
    /// Applies the update to `current`, validating every field; returns the new config and the secret changes.
    pub fn apply(self, current: &CsConfig) -> Result<(CsConfig, SecretChanges), ConfigInvalid> {
        let mut c = current.clone();
        if let Some(v) = self.is_enabled {
            c.is_enabled = v;
        }
        if let Some(url) = self.zapier_webhook_url {
            c.zapier_webhook_url = match url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
            {
                None => None,
                Some(u) => {
                    let ok = u.starts_with("https://") || u.starts_with("http://");
                    if !ok || u.len() > 2000 || u.contains(char::is_whitespace) {
                        return Err(bad("zapier_webhook_url", "must be an http(s) URL"));
                    }
                    Some(u)
                }
            };
        }
        let seconds = |field, v: i64, min: i64, max: i64| {
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(bad(field, format!("must be from {min} to {max} seconds")))
            }
        };
        if let Some(v) = self.customer_lookup_timeout_seconds {
            c.customer_lookup_timeout_seconds =
                seconds("customer_lookup_timeout_seconds", v, 5, 300)?;
        }
        if let Some(v) = self.query_timeout_seconds {
            c.query_timeout_seconds = seconds("query_timeout_seconds", v, 5, 300)?;
        }
        if let Some(v) = self.cache_ttl_seconds {
            c.cache_ttl_seconds = seconds("cache_ttl_seconds", v, 60, 86_400)?;
        }
        if let Some(v) = self.llm_fallback_enabled {
            c.llm_fallback_enabled = v;
        }
        if let Some(r) = self.routing_rules {
            c.routing_rules = r;
        }
        if let Some(cc) = self.default_country_code {
            let cc = cc.trim().trim_start_matches('+').to_string();
            if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    "default_country_code",
                    "must be 1 to 3 digits, e.g. 1 or 44",
                ));
            }
            c.default_country_code = cc;
        }
        if let Some(sid) = self.account_sid {
            c.twilio_account_sid = match sid.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
            {
                None => None,
                Some(s) => {
                    let ok = s.len() == 34
                        && s.starts_with("AC")
                        && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
                    if !ok {
                        return Err(bad("account_sid", "must be AC followed by 32 hex digits"));
                    }
                    Some(s)
                }
            };
        }
        if let Some(list) = self.phone_numbers {
            let mut numbers = Vec::new();
            for n in &list {
                let e164 = crate::domain::phone::to_e164(n, &c.default_country_code)
                    .ok_or_else(|| bad("phone_numbers", format!("{n:?} is not a phone number")))?;
                if !numbers.contains(&e164) {
                    numbers.push(e164);
                }
            }
            if numbers.len() > 20 {
                return Err(bad("phone_numbers", "at most 20 numbers"));
            }
            c.phone_numbers = numbers;
        }
        let secret = |field, v: Option<Option<String>>| -> Result<_, ConfigInvalid> {
            match v {
                Some(Some(s)) if s.trim().len() < 8 || s.len() > 200 => {
                    Err(bad(field, "must be 8 to 200 characters"))
                }
                Some(Some(s)) => Ok(Some(Some(s.trim().to_string()))),
                other => Ok(other),
            }
        };
        let secrets = SecretChanges {
            auth_token: secret("auth_token", self.auth_token)?,
            zapier_callback_secret: secret("zapier_callback_secret", self.zapier_callback_secret)?,
        };
        if c.is_enabled && c.zapier_webhook_url.is_none() {
            return Err(bad(
                "zapier_webhook_url",
                "is required when is_enabled is true",
            ));
        }
        Ok((c, secrets))
    }
}

/// What an inbound text asks for, before any CRM or LLM work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `STOP`, `STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`, `OPTOUT`, `REVOKE` (Twilio's opt-out keywords).
    OptOut,
    /// `START`, `YES`, `UNSTOP` (opt back in).
    OptIn,
    /// `HELP`, `INFO`.
    Help,
}

/// The keyword a whole message is, if any (case and surrounding spaces/punctuation ignored), following
/// Twilio's default opt-out handling (<https://help.twilio.com/articles/223134027>).
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation())
        .to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE" => {
            Some(Keyword::OptOut)
        }
        "START" | "YES" | "UNSTOP" => Some(Keyword::OptIn),
        "HELP" | "INFO" => Some(Keyword::Help),
        _ => None,
    }
}

/// Words that make a question one for the CRM (the customer's own account, classes, bookings, payments).
const CRM_WORDS: &[&str] = &[
    "balance",
    "owe",
    "payment",
    "paid",
    "bill",
    "invoice",
    "class",
    "classes",
    "schedule",
    "lesson",
    "lessons",
    "membership",
    "member",
    "enrolled",
    "enrollment",
    "booking",
    "booked",
    "appointment",
    "account",
    "tuition",
    "my kid",
    "my child",
    "when is",
    "next class",
];

/// Whether a question is about the customer's CRM data (a `customer_query` to Zapier) rather than generic.
pub fn is_crm_question(text: &str) -> bool {
    let t = format!(" {} ", text.to_lowercase());
    CRM_WORDS.iter().any(|w| {
        t.match_indices(w).any(|(i, _)| {
            let before = t[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            let after = t[i + w.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            before && after
        })
    })
}

/// Lead capture: what to ask or do next for an unknown number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadStep {
    /// Ask for the name (first message of the conversation).
    AskName,
    /// Got a name; ask for the e-mail.
    AskEmail {
        /// The name given.
        name: String,
    },
    /// The e-mail did not look like one; ask again.
    AskEmailAgain,
    /// Done: create the lead ticket.
    Complete {
        /// Name given earlier.
        name: String,
        /// E-mail given now (lower-cased).
        email: String,
    },
}

/// The next lead-capture step given what was collected so far and the newest message.
pub fn lead_step(name_so_far: Option<&str>, asked: bool, message: &str) -> LeadStep {
    match (name_so_far, asked) {
        (None, false) => LeadStep::AskName,
        (None, true) => {
            let name: String = message.trim().chars().take(100).collect();
            if name.is_empty() {
                LeadStep::AskName
            } else {
                LeadStep::AskEmail { name }
            }
        }
        (Some(name), _) => {
            let found = message
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '<' || c == '>')
                .map(|w| w.trim_matches(|c: char| c == '.' || c == ':'))
                .find_map(|w| crate::domain::fields::Email::parse("email", w).ok());
            match found {
                Some(email) => LeadStep::Complete {
                    name: name.to_string(),
                    email: email.to_string(),
                },
                None => LeadStep::AskEmailAgain,
            }
        }
    }
}

/// Why a Zapier callback signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Edgedesk-Signature` header, or not `t=…,v1=…`.
    #[error("missing or malformed X-Edgedesk-Signature (expected t=<unix seconds>,v1=<hex>)")]
    Malformed,
    /// The timestamp is more than [`SIGNATURE_TOLERANCE_SECONDS`] from now.
    #[error("the signature's timestamp is too far from now")]
    Stale,
    /// The HMAC does not match.
    #[error("the signature does not match")]
    Mismatch,
}

/// How far a callback's timestamp may be from the worker's clock, in seconds.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// The `v1` of `X-Edgedesk-Signature`: hex HMAC-SHA256(secret, "<t>.<raw body>").
pub fn callback_signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Verifies `X-Edgedesk-Signature: t=<unix seconds>,v1=<hex>` over the raw body, at `now` (Unix seconds), in
/// constant time.
pub fn verify_callback(
    header: Option<&str>,
    secret: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    use subtle::ConstantTimeEq;
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = callback_signature(secret, t, body);
    let ok = v1
        .iter()
        .any(|v| v.len() == expected.len() && bool::from(v.as_bytes().ct_eq(expected.as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c = CsConfig::default();
        assert!(!c.is_enabled);
        assert_eq!(c.customer_lookup_timeout_seconds, 30);
        assert_eq!(c.query_timeout_seconds, 45);
        assert!(c.routing_rules.fallback_to_lead_capture);
        // A made-up SID, assembled so no SID-shaped literal sits in the source.
        let sid = format!("AC{}", "0123456789abcdef".repeat(2));
        let input: CsConfigInput = serde_json::from_str(&format!(
            r#"{{"is_enabled":true,"zapier_webhook_url":"https://hooks.zapier.com/hooks/catch/1/abc/",
                "phone_numbers":["(555) 010-0001","+15550100001"],"auth_token":"tok-0123456789",
                "account_sid":"{sid}"}}"#
        ))
        .unwrap();
        let (c2, secrets) = input.apply(&c).unwrap();
        assert_eq!(c2.phone_numbers, ["+15550100001"]);
        assert_eq!(secrets.auth_token, Some(Some("tok-0123456789".into())));
        assert_eq!(secrets.zapier_callback_secret, None);
        let err = serde_json::from_str::<CsConfigInput>(r#"{"query_timeout_seconds":1}"#)
            .unwrap()
            .apply(&c)
            .unwrap_err();
        assert_eq!(err.field, "query_timeout_seconds");
        let err = serde_json::from_str::<CsConfigInput>(r#"{"is_enabled":true}"#)
            .unwrap()
            .apply(&c)
            .unwrap_err();
        assert_eq!(err.field, "zapier_webhook_url");
        let err = serde_json::from_str::<CsConfigInput>(r#"{"account_sid":"AB12"}"#)
            .unwrap()
            .apply(&c)
            .unwrap_err();
        assert_eq!(err.field, "account_sid");
    }

    #[test]
    fn keywords() {
        assert_eq!(keyword(" stop "), Some(Keyword::OptOut));
        assert_eq!(keyword("Unsubscribe."), Some(Keyword::OptOut));
        assert_eq!(keyword("START"), Some(Keyword::OptIn));
        assert_eq!(keyword("please stop calling"), None);
        assert_eq!(keyword("help"), Some(Keyword::Help));
    }

    #[test]
    fn crm_questions() {
        assert!(is_crm_question("What is my balance?"));
        assert!(is_crm_question("When is my next class"));
        assert!(!is_crm_question("What are your opening hours?"));
        assert!(!is_crm_question("classical music?"));
    }

    #[test]
    fn lead_capture_steps() {
        assert_eq!(lead_step(None, false, "hi"), LeadStep::AskName);
        assert_eq!(
            lead_step(None, true, " Ana Lima "),
            LeadStep::AskEmail {
                name: "Ana Lima".into()
            }
        );
        assert_eq!(lead_step(Some("Ana"), true, "no"), LeadStep::AskEmailAgain);
        assert_eq!(
            lead_step(Some("Ana"), true, "it's Ana@Example.com."),
            LeadStep::Complete {
                name: "Ana".into(),
                email: "ana@example.com".into()
            }
        );
    }

    #[test]
    fn callback_signatures() {
        let body = br#"{"correlation_id":"x"}"#;
        let sig = callback_signature("s3cret", 1_700_000_000, body);
        let header = format!("t=1700000000,v1={sig}");
        assert_eq!(
            verify_callback(Some(&header), "s3cret", body, 1_700_000_100),
            Ok(())
        );
        assert_eq!(
            verify_callback(Some(&header), "other", body, 1_700_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_callback(Some(&header), "s3cret", body, 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_callback(Some(&header), "s3cret", b"{}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_callback(None, "s3cret", body, 0),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_callback(Some("v1=abc"), "s3cret", body, 0),
            Err(SignatureError::Malformed)
        );
    }
}
