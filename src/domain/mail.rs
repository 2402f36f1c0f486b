//! RFC 5322 / MIME parsing of an incoming e-mail into what ingestion needs, through the `mail-parser` crate
//! (with `full_encoding`, so ISO-2022-JP, ISO-8859-x, Windows-125x, UTF-7 … decode in subjects, names and bodies).
//!
//! Never fails on malformed input: a message with no From, no Subject, no Message-ID or no text body still
//! parses; only bytes that are not a message at all (empty input) give [`MailError::Empty`].

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

/// Largest body text or HTML kept per message, in bytes (UTF-8). D1 allows 2 MB per row; two bodies of
/// this size plus metadata stay well inside it.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// Longest subject kept, in characters (RFC 5322 allows 998 per line; longer ones are cut with `…`).
pub const MAX_SUBJECT_CHARS: usize = 998;
/// Longest sender display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a message must not get an AI draft or an automatic answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoKind {
    /// An automatic answer (out-of-office, vacation, delivery notice). The string says which header told.
    AutoReply(String),
    /// Bulk or list mail (newsletters, mailing lists). The string says which header told.
    Bulk(String),
}

impl AutoKind {
    /// A short human-readable reason, as stored with skipped mail.
    pub fn reason(&self) -> String {
        match self {
            AutoKind::AutoReply(why) => format!("auto-reply ({why})"),
            AutoKind::Bulk(why) => format!("bulk mail ({why})"),
        }
    }
}

/// An attachment's metadata (the content itself is not stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    /// The decoded file name, when the part names one.
    pub filename: Option<String>,
    /// Lower-cased `type/subtype`; `application/octet-stream` when the part has no `Content-Type`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// An incoming e-mail, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEmail {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To` ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids without angle brackets, oldest first.
    pub references: Vec<String>,
    /// Sender address, lower-cased.
    pub from_email: Option<String>,
    /// Sender display name, decoded.
    pub from_name: Option<String>,
    /// `Reply-To` address, lower-cased, when present: replies go there.
    pub reply_to: Option<String>,
    /// `To` addresses, lower-cased.
    pub to: Vec<String>,
    /// Decoded subject; `None` when the header is missing or blank.
    pub subject: Option<String>,
    /// `Date` header as Unix seconds.
    pub date: Option<i64>,
    /// Plain text of the message: all text parts, HTML converted to text where a message has no text part.
    /// At most [`MAX_BODY_BYTES`].
    pub body_text: String,
    /// The first HTML part as sent, at most [`MAX_BODY_BYTES`]; never rendered unsanitised.
    pub body_html: Option<String>,
    /// True when a body was cut to [`MAX_BODY_BYTES`].
    pub truncated: bool,
    /// Metadata of every attachment part, in message order.
    pub attachments: Vec<Attachment>,
    /// Set for auto-replies and bulk mail.
    pub auto: Option<AutoKind>,
}

impl ParsedEmail {
    /// The address a reply goes to: `Reply-To`, else `From`.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to.as_deref().or(self.from_email.as_deref())
    }

    /// Every message id this message points at (In-Reply-To first, then References newest first),
    /// without duplicates: the order in which threading tries them.
    pub fn referenced_ids(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if !out.contains(&id.as_str()) {
                out.push(id);
            }
        }
        out
    }
}

/// Parse failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The input is empty, only white space, or not parseable as a message.
    #[error("the message is empty or has no header")]
    Empty,
}

/// Parses raw RFC 5322 bytes.
pub fn parse(raw: &[u8]) -> Result<ParsedEmail, MailError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(MailError::Empty);
    }
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::Empty)?;

    let from = msg.from().and_then(|a| a.first());
    let from_email = from
        .and_then(|a| a.address())
        .map(|s| s.trim().to_lowercase())
        .filter(|s| s.contains('@'));
    let from_name = from
        .and_then(|a| a.name())
        .map(|s| cap_chars(s.trim(), MAX_NAME_CHARS))
        .filter(|s| !s.is_empty());
    let reply_to = msg
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|s| s.trim().to_lowercase())
        .filter(|s| s.contains('@'));
    let to = msg
        .to()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.address())
                .map(|s| s.trim().to_lowercase())
                .collect()
        })
        .unwrap_or_default();

    let mut truncated = false;
    let mut texts = Vec::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i) {
            let t = t.trim();
            if !t.is_empty() {
                texts.push(t.to_string());
            }
        }
    }
    let (body_text, cut) = truncate(texts.join("\n\n"));
    truncated |= cut;
    let body_html = match msg.html_part(0) {
        Some(p) if p.is_text_html() => msg.body_html(0).map(|h| {
            let (h, cut) = truncate(h.into_owned());
            truncated |= cut;
            h
        }),
        _ => None,
    };

    let attachments = msg
        .attachments()
        .map(|p| Attachment {
            filename: p.attachment_name().map(str::to_string),
            content_type: p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{}", c.ctype(), sub),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_lowercase(),
            size: p.contents().len(),
        })
        .collect();

    let subject = msg
        .subject()
        .map(|s| {
            cap_chars(
                &s.split_whitespace().collect::<Vec<_>>().join(" "),
                MAX_SUBJECT_CHARS,
            )
        })
        .filter(|s| !s.is_empty());

    Ok(ParsedEmail {
        message_id: msg.message_id().and_then(clean_id),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        from_email,
        from_name,
        reply_to,
        to,
        auto: detect_auto(|name| msg.header_raw(name), subject.as_deref()),
        subject,
        date: msg.date().map(|d| d.to_timestamp()),
        body_text,
        body_html,
        truncated,
        attachments,
    })
}

/// Auto-reply and bulk detection from headers (RFC 3834 `Auto-Submitted`, the de-facto `X-Autoreply`,
/// `X-Autorespond`, `Precedence`, RFC 2369/2919 list headers) and common out-of-office subjects.
fn detect_auto<'a>(
    header: impl Fn(&'static str) -> Option<&'a str>,
    subject: Option<&str>,
) -> Option<AutoKind> {
    let value = |name: &'static str| header(name).map(|v| v.trim().to_ascii_lowercase());
    if let Some(v) = value("Auto-Submitted") {
        if !v.is_empty() && !v.starts_with("no") {
            return Some(AutoKind::AutoReply(format!("Auto-Submitted: {v}")));
        }
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Autoresponse"] {
        if header(h).is_some() {
            return Some(AutoKind::AutoReply(h.to_string()));
        }
    }
    if let Some(v) = value("Precedence") {
        match v.as_str() {
            "bulk" | "list" | "junk" => return Some(AutoKind::Bulk(format!("Precedence: {v}"))),
            "auto_reply" => return Some(AutoKind::AutoReply(format!("Precedence: {v}"))),
            _ => {}
        }
    }
    for h in ["List-Id", "List-Unsubscribe"] {
        if header(h).is_some() {
            return Some(AutoKind::Bulk(h.to_string()));
        }
    }
    let s = subject.unwrap_or("").to_ascii_lowercase();
    const OOO: &[&str] = &[
        "out of office",
        "automatic reply",
        "auto-reply",
        "autoreply",
        "auto:",
    ];
    OOO.iter()
        .find(|p| s.starts_with(*p))
        .map(|p| AutoKind::AutoReply(format!("subject starts with {p:?}")))
}

/// `s` cut to `max` characters, with `…` when cut.
fn cap_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn clean_id(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => t.split_whitespace().filter_map(clean_id).collect(),
        HeaderValue::TextList(l) => l
            .iter()
            .flat_map(|t| t.split_whitespace())
            .filter_map(clean_id)
            .collect(),
        _ => Vec::new(),
    }
}

/// Cuts `s` to at most [`MAX_BODY_BYTES`] at a character boundary and appends a visible marker.
fn truncate(mut s: String) -> (String, bool) {
    if s.len() <= MAX_BODY_BYTES {
        return (s, false);
    }
    let original = s.len();
    let mut cut = MAX_BODY_BYTES - 100;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push_str(&format!(
        "\n\n[… truncated by Edgedesk: the original was {original} bytes]"
    ));
    (s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "From: =?ISO-8859-1?Q?Andr=E9_Pirard?= <PIRARD@vm1.ulg.ac.be>\r\n\
To: support@shop.test\r\n\
Subject: =?ISO-8859-1?Q?Re=3A_Commande_re=E7ue?=\r\n\
Message-ID: <b@x>\r\n\
In-Reply-To: <a@x>\r\n\
References: <root@x> <a@x>\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
Merci, c'est re=E7u.\r\n";

    #[test]
    fn decodes_names_subjects_and_ids() {
        let m = parse(REPLY.as_bytes()).unwrap();
        assert_eq!(m.from_name.as_deref(), Some("André Pirard"));
        assert_eq!(m.from_email.as_deref(), Some("pirard@vm1.ulg.ac.be"));
        assert_eq!(m.subject.as_deref(), Some("Re: Commande reçue"));
        assert_eq!(m.body_text, "Merci, c'est reçu.");
        assert_eq!(m.message_id.as_deref(), Some("b@x"));
        assert_eq!(m.referenced_ids(), vec!["a@x", "root@x"]);
        assert!(m.auto.is_none());
    }

    #[test]
    fn iso_2022_jp_subject() {
        let raw =
            "From: a@b.jp\r\nSubject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n\r\nhi\r\n";
        assert_eq!(
            parse(raw.as_bytes()).unwrap().subject.as_deref(),
            Some("こんにちは")
        );
    }

    #[test]
    fn html_only_becomes_text() {
        let raw = "From: a@b.c\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p><script>x()</script>\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert!(m.body_text.contains("Hello there"), "{:?}", m.body_text);
        assert!(m.body_html.unwrap().contains("<b>there</b>"));
    }

    #[test]
    fn utf7_subjects_and_iso_2022_jp_names_decode() {
        let raw = "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <t@example.jp>\r\nSubject: =?UTF-7?Q?Hi_+AOk-t+AOk-?=\r\n\r\nx\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert_eq!(m.subject.as_deref(), Some("Hi été"));
        assert_eq!(m.from_name.as_deref(), Some("山田"));
    }

    #[test]
    fn overlong_subjects_are_capped() {
        let raw = format!(
            "From: a@b.c\r\nSubject: {}\r\n\r\nx\r\n",
            "long ".repeat(1000)
        );
        let s = parse(raw.as_bytes()).unwrap().subject.unwrap();
        assert_eq!(s.chars().count(), MAX_SUBJECT_CHARS + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn missing_headers_are_not_fatal() {
        let m = parse(b"X-Nothing: 1\r\n\r\nbody only\r\n").unwrap();
        assert_eq!(m.from_email, None);
        assert_eq!(m.subject, None);
        assert_eq!(m.body_text, "body only");
        assert_eq!(parse(b"  \r\n"), Err(MailError::Empty));
    }

    #[test]
    fn auto_replies_and_bulk() {
        let ooo = parse(b"From: a@b.c\r\nAuto-Submitted: auto-replied\r\nSubject: Away\r\n\r\nx")
            .unwrap();
        assert!(matches!(ooo.auto, Some(AutoKind::AutoReply(_))));
        let not = parse(b"From: a@b.c\r\nAuto-Submitted: no\r\nSubject: Hi\r\n\r\nx").unwrap();
        assert_eq!(not.auto, None);
        let list = parse(b"From: a@b.c\r\nPrecedence: list\r\nSubject: Hi\r\n\r\nx").unwrap();
        assert!(matches!(list.auto, Some(AutoKind::Bulk(_))));
        let subj = parse(b"From: a@b.c\r\nSubject: Out of Office: back Monday\r\n\r\nx").unwrap();
        assert!(matches!(subj.auto, Some(AutoKind::AutoReply(_))));
    }

    #[test]
    fn huge_bodies_are_truncated_with_a_marker() {
        let mut raw = b"From: a@b.c\r\nSubject: big\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
        let m = parse(&raw).unwrap();
        assert!(m.truncated);
        assert!(m.body_text.len() <= MAX_BODY_BYTES);
        assert!(m.body_text.ends_with("bytes]"));
    }

    #[test]
    fn parses_every_corpus_message() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/eml");
        let entries = std::fs::read_dir(dir).expect("../shared/corpus/eml beside the repo");
        let mut n = 0;
        for e in entries.flatten() {
            let raw = std::fs::read(e.path()).unwrap();
            parse(&raw).unwrap_or_else(|err| panic!("{:?}: {err}", e.path()));
            n += 1;
        }
        assert!(n >= 20);
    }
}
