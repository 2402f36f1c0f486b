//! Messenger and Instagram webhooks: the payload, its signature, and the 24-hour messaging window.
//!
//! Payloads (<https://developers.facebook.com/docs/messenger-platform/webhooks>,
//! <https://developers.facebook.com/docs/instagram-platform/webhooks>): `{"object":"page"|"instagram","entry":[{"id",
//! "time","messaging":[{"sender":{"id"},"recipient":{"id"},"timestamp","message":{"mid","text","is_echo"?,
//! "attachments"?}}]}]}`. Signature (<https://developers.facebook.com/docs/messenger-platform/webhooks#security>):
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// How long after the customer's last message a business may answer with `messaging_type: RESPONSE`, in ms.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Whether `X-Hub-Signature-256` is the app secret's HMAC of the raw body (constant time).
pub fn verify_signature(header: Option<&str>, app_secret: &str, body: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let Some(given) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let given = given.to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The webhook body.
#[derive(Debug, Clone, Deserialize)]
pub struct Webhook {
    /// `page` (Messenger) or `instagram`.
    pub object: String,
    /// Entries, one per page / account.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One page's or account's events.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// The page id or Instagram account id.
    pub id: String,
    /// Messaging events.
    #[serde(default)]
    pub messaging: Vec<Messaging>,
}

/// An id holder.
#[derive(Debug, Clone, Deserialize)]
pub struct Party {
    /// PSID / IGSID / page id.
    pub id: String,
}

/// A messaging event.
#[derive(Debug, Clone, Deserialize)]
pub struct Messaging {
    /// Who sent it.
    pub sender: Party,
    /// Who received it.
    pub recipient: Party,
    /// Unix ms.
    #[serde(default)]
    pub timestamp: i64,
    /// The message (other event kinds — reads, deliveries, reactions — have none and are ignored).
    pub message: Option<Message>,
}

/// A message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Meta's message id.
    pub mid: String,
    /// Text, when it has any.
    pub text: Option<String>,
    /// `true` for our own messages echoed back.
    #[serde(default)]
    pub is_echo: bool,
    /// Attachments (images, audio…), counted.
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
}

/// An inbound DM worth recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// `facebook` or `instagram` (the ticket channel).
    pub channel: &'static str,
    /// The page / account that received it.
    pub account_id: String,
    /// The customer's PSID / IGSID.
    pub sender: String,
    /// Meta's message id.
    pub mid: String,
    /// Text (attachments described in brackets).
    pub text: String,
    /// Unix ms.
    pub timestamp: i64,
}

impl Webhook {
    /// The channel of the payload; `None` for objects other than `page` and `instagram`.
    pub fn channel(&self) -> Option<&'static str> {
        match self.object.as_str() {
            "page" => Some("facebook"),
            "instagram" => Some("instagram"),
            _ => None,
        }
    }

    /// The inbound messages, echoes of our own messages and non-message events left out.
    pub fn inbound(&self) -> Vec<Inbound> {
        let Some(channel) = self.channel() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in &self.entry {
            for m in &e.messaging {
                let Some(msg) = &m.message else { continue };
                if msg.is_echo || m.sender.id == e.id {
                    continue;
                }
                let mut text = msg.text.clone().unwrap_or_default();
                if !msg.attachments.is_empty() {
                    let note = format!("[{} attachment(s)]", msg.attachments.len());
                    text = if text.is_empty() {
                        note
                    } else {
                        format!("{text}\n{note}")
                    };
                }
                out.push(Inbound {
                    channel,
                    account_id: e.id.clone(),
                    sender: m.sender.id.clone(),
                    mid: msg.mid.clone(),
                    text,
                    timestamp: m.timestamp,
                });
            }
        }
        out
    }
}

/// Whether a reply sent at `now_ms` is inside the 24-hour window opened by the customer's last message.
pub fn inside_window(last_customer_message_ms: Option<i64>, now_ms: i64) -> bool {
    last_customer_message_ms.is_some_and(|t| now_ms - t <= WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature() {
        // HMAC-SHA256("secret", "{}") computed independently.
        let body = b"{}";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(verify_signature(
            Some(&format!("sha256={hex}")),
            "secret",
            body
        ));
        assert!(!verify_signature(
            Some(&format!("sha256={hex}")),
            "other",
            body
        ));
        assert!(!verify_signature(Some(&hex), "secret", body));
        assert!(!verify_signature(None, "secret", body));
    }

    #[test]
    fn inbound_skips_echoes_and_other_events() {
        let w: Webhook = serde_json::from_str(
            r#"{"object":"page","entry":[{"id":"111","time":1,"messaging":[
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":1700000000000,"message":{"mid":"m_1","text":"hi"}},
                {"sender":{"id":"111"},"recipient":{"id":"222"},"timestamp":1700000000001,"message":{"mid":"m_2","text":"echo","is_echo":true}},
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":1700000000002,"read":{"watermark":1}},
                {"sender":{"id":"222"},"recipient":{"id":"111"},"timestamp":1700000000003,"message":{"mid":"m_3","attachments":[{"type":"image"}]}}
            ]}]}"#,
        )
        .unwrap();
        let got = w.inbound();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].channel, "facebook");
        assert_eq!(got[0].sender, "222");
        assert_eq!(got[1].text, "[1 attachment(s)]");
        let other: Webhook = serde_json::from_str(r#"{"object":"user","entry":[]}"#).unwrap();
        assert!(other.inbound().is_empty());
    }

    #[test]
    fn window() {
        assert!(inside_window(Some(0), WINDOW_MS));
        assert!(!inside_window(Some(0), WINDOW_MS + 1));
        assert!(!inside_window(None, 0));
    }
}
