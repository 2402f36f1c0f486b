//! Twilio request validation and TwiML.
//!
//! Signature: <https://www.twilio.com/docs/usage/security#validating-requests>: take the full URL Twilio
//! requested (with query string), append each POST parameter's name and value, sorted by name (and, for a name
//! that repeats, by value, as Twilio's servers and libraries do), sign with HMAC-SHA1 keyed by the account's auth
//! token, base64. The header `X-Twilio-Signature` must match, compared in constant time.
//!
//! TwiML: <https://www.twilio.com/docs/voice/twiml> and <https://www.twilio.com/docs/messaging/twiml>.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The expected `X-Twilio-Signature` of a webhook (base64 HMAC-SHA1).
pub fn signature(url: &str, params: &[(String, String)], auth_token: &str) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort(); // by name, then value
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of this request, compared in constant time.
pub fn verify(url: &str, params: &[(String, String)], auth_token: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    let expected = signature(url, params, auth_token);
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Escapes text for XML character data and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// A TwiML verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `<Message>`: an SMS reply.
    Message(String),
    /// `<Say>`: speech on a call.
    Say(String),
    /// `<Gather input="speech" action=… method="POST" speechTimeout="auto">` with a prompt spoken inside.
    GatherSpeech {
        /// Where Twilio posts the speech result.
        action: String,
        /// Spoken while listening.
        prompt: String,
    },
    /// `<Pause length=…>` in seconds.
    Pause(u32),
    /// `<Redirect method="POST">` to a URL.
    Redirect(String),
    /// `<Hangup/>`.
    Hangup,
}

/// A whole TwiML document (`<?xml …?><Response>…</Response>`); an empty list answers "do nothing".
pub fn twiml(verbs: &[Verb]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    for v in verbs {
        match v {
            Verb::Message(t) => out.push_str(&format!("<Message>{}</Message>", xml_escape(t))),
            Verb::Say(t) => out.push_str(&format!("<Say>{}</Say>", xml_escape(t))),
            Verb::GatherSpeech { action, prompt } => out.push_str(&format!(
                "<Gather input=\"speech\" action=\"{}\" method=\"POST\" speechTimeout=\"auto\"><Say>{}</Say></Gather>",
                xml_escape(action),
                xml_escape(prompt)
            )),
            Verb::Pause(s) => out.push_str(&format!("<Pause length=\"{s}\"/>")),
            Verb::Redirect(u) => {
                out.push_str(&format!("<Redirect method=\"POST\">{}</Redirect>", xml_escape(u)))
            }
            Verb::Hangup => out.push_str("<Hangup/>"),
        }
    }
    out.push_str("</Response>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn twilio_documented_example() {
        // The example of https://www.twilio.com/docs/usage/security (and twilio-python's validator tests).
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = signature(url, &params, "12345");
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify(url, &params, "12345", &sig));
        assert!(!verify(url, &params, "12346", &sig));
        assert!(!verify(
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            "12345",
            &sig
        ));
    }

    #[test]
    fn twiml_is_escaped() {
        let x = twiml(&[Verb::Message("a < b & \"c\"".into()), Verb::Hangup]);
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>a &lt; b &amp; &quot;c&quot;</Message><Hangup/></Response>"
        );
        assert!(twiml(&[]).ends_with("<Response></Response>"));
    }
}
