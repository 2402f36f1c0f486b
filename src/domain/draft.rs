//! Reply drafting: the LLM prompt, the per-category template fallback, and the RFC 5322 reply that Gmail
//! stores as a draft or sends.
//!
//! Prompts follow the OpenAI chat-completions message shape (`[{role, content}]`,
//! <https://platform.openai.com/docs/api-reference/chat/create>). Customer words go in `user` messages,
//! ours in `assistant` messages; card numbers are masked first ([`crate::domain::masking`]).

use super::masking::mask_card_numbers;
use super::ticket::{Category, SenderType};
use serde::Serialize;

/// One chat message of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text; thread messages are cut to [`PROMPT_MESSAGE_CHARS`] characters and card-masked.
    pub content: String,
}

/// A message of the ticket thread, as the prompt sees it.
#[derive(Debug, Clone)]
pub struct ThreadEntry {
    /// Who wrote it: `customer` becomes a `user` message, `agent` an `assistant` one, `system` is left out.
    pub sender_type: SenderType,
    /// The message's plain text, unmasked ([`build_prompt`] masks it).
    pub content: String,
}

/// What the prompt says about the ticket.
#[derive(Debug, Clone)]
pub struct TicketContext<'a> {
    /// `TKT-000001` form; named in the system prompt and the template.
    pub ticket_number: &'a str,
    /// The ticket's subject.
    pub subject: &'a str,
    /// The ticket's category: picks the template and is named in the prompt.
    pub category: Category,
    /// The customer's display name, if known (`unknown` in the prompt, a bare `Hello,` in the template).
    pub customer_name: Option<&'a str>,
    /// Who signs template replies (`SUPPORT_NAME`).
    pub signature: &'a str,
    /// A compact summary of the customer's CRM record, when the tenant has a primary CRM and it knows them.
    pub crm_summary: Option<&'a str>,
}

/// Most characters of one thread message included in a prompt; longer messages are cut.
pub const PROMPT_MESSAGE_CHARS: usize = 4000;
/// Most thread messages included in a prompt (the newest ones).
pub const PROMPT_MESSAGES: usize = 12;

/// The chat-completions `messages` for a draft reply to the ticket's latest customer message.
/// System/internal messages are left out; the newest [`PROMPT_MESSAGES`] messages are kept.
pub fn build_prompt(ctx: &TicketContext<'_>, thread: &[ThreadEntry]) -> Vec<ChatMessage> {
    let mut out = vec![ChatMessage {
        role: "system",
        content: mask_card_numbers(&format!(
            "You are a courteous customer-support agent. Write the reply e-mail body to the customer's latest \
             message in ticket {} (subject: \"{}\", category: {}). Customer name: {}. Answer in the customer's \
             language, be concise and specific, never invent order details, prices or policies you were not \
             given, and ask for missing information. Do not include a subject line. A human will review the \
             draft before it is sent.",
            ctx.ticket_number,
            ctx.subject,
            ctx.category,
            ctx.customer_name.unwrap_or("unknown"),
        )),
    }];
    if let Some(summary) = ctx.crm_summary {
        out[0].content.push_str(&mask_card_numbers(&format!(
            "\nThe customer's CRM record (use it, do not recite it): {summary}"
        )));
    }
    let relevant: Vec<&ThreadEntry> = thread
        .iter()
        .filter(|m| !matches!(m.sender_type, SenderType::System | SenderType::Note))
        .collect();
    let start = relevant.len().saturating_sub(PROMPT_MESSAGES);
    out.extend(relevant[start..].iter().map(|m| ChatMessage {
        role: if m.sender_type == SenderType::Customer {
            "user"
        } else {
            "assistant"
        },
        content: mask_card_numbers(&cut_chars(&own_words(&m.content), PROMPT_MESSAGE_CHARS)),
    }));
    out
}

/// A message without the history it quotes: lines starting with `>` and the `On … wrote:` line introducing
/// them are dropped, so the prompt holds each writer's own words once.
pub fn own_words(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let quoted = line.trim_start().starts_with('>');
        let intro = line.trim_end().ends_with("wrote:")
            && lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim_start().starts_with('>'));
        if !quoted && !intro {
            kept.push(line);
        }
    }
    kept.join("\n").trim().to_string()
}

fn cut_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A reply from the category's template, used when no LLM is configured. The caller marks it as a template.
pub fn template_reply(ctx: &TicketContext<'_>) -> String {
    let greeting = match ctx.customer_name {
        Some(n) => format!("Hello {n},"),
        None => "Hello,".to_string(),
    };
    let body = match ctx.category {
        Category::Order => "Thank you for contacting us about your order. We are checking its status and will get back to you shortly. If you have not already, please send us your order number.",
        Category::Product => "Thank you for your message about our product. We are looking into your question and will reply with the details shortly.",
        Category::Billing => "Thank you for contacting us about billing. We are reviewing your account and the charges in question and will get back to you shortly. Please never send full card numbers by e-mail.",
        Category::Technical => "Thank you for reporting this. We are investigating the technical problem and will update you as soon as we know more. Any screenshots or error messages help us.",
        Category::Other => "Thank you for your message. We have received it and will get back to you shortly.",
    };
    format!(
        "{greeting}\n\n{body}\n\nYour reference is {}.\n\nBest regards,\n{}",
        ctx.ticket_number, ctx.signature
    )
}

/// `Re: subject`, without stacking prefixes (`Re: Re: x` never happens); `Re: (no subject)` when empty.
pub fn reply_subject(subject: &str) -> String {
    let s = subject.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("re:") {
        s.to_string()
    } else if s.is_empty() {
        "Re: (no subject)".into()
    } else {
        format!("Re: {s}")
    }
}

/// An outgoing reply e-mail.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    /// The mailbox's own address.
    pub from: &'a str,
    /// Display name for `From`, e.g. the tenant's support name.
    pub from_name: &'a str,
    /// The customer's address (`To`).
    pub to: &'a str,
    /// The customer's display name for `To`, if known.
    pub to_name: Option<&'a str>,
    /// The ticket subject; `Re: ` is added.
    pub subject: &'a str,
    /// The `Message-ID` being answered (no angle brackets), if known.
    pub in_reply_to: Option<&'a str>,
    /// The answered message's `References` plus its id, oldest first.
    pub references: Vec<String>,
    /// Our own `Message-ID` (no angle brackets).
    pub message_id: &'a str,
    /// Unix seconds for the `Date` header.
    pub date: i64,
    /// Plain-text body (UTF-8).
    pub body: &'a str,
}

impl Reply<'_> {
    /// The RFC 5322 message (CRLF line ends, RFC 2047 encoded headers, UTF-8 text body), as Gmail's
    /// `drafts.create` and `messages.send` take in `raw` (after base64url).
    pub fn to_rfc5322(&self) -> String {
        let mut b = mail_builder::MessageBuilder::new()
            .from((self.from_name, self.from))
            .subject(reply_subject(self.subject))
            .message_id(self.message_id)
            .date(self.date)
            .text_body(self.body);
        b = match self.to_name {
            Some(n) => b.to((n, self.to)),
            None => b.to(self.to),
        };
        if let Some(irt) = self.in_reply_to {
            b = b.in_reply_to(irt);
        }
        if !self.references.is_empty() {
            b = b.references(self.references.clone());
        }
        // Writing to a String cannot fail for a single-part message.
        b.write_to_string().unwrap_or_default()
    }
}

/// The `References` of a reply: the answered message's own `References` followed by its `Message-ID`.
pub fn reply_references(answered_refs: &[String], answered_id: Option<&str>) -> Vec<String> {
    let mut refs: Vec<String> = answered_refs.to_vec();
    if let Some(id) = answered_id {
        if !refs.iter().any(|r| r == id) {
            refs.push(id.to_string());
        }
    }
    refs
}

/// Longest text compared by [`edit_distance`], in characters; longer texts are cut there (the comparison is
/// O(n·m) time, and 20 000² steps stay within a request's CPU budget).
pub const EDIT_DISTANCE_MAX_CHARS: usize = 20_000;

/// How many single-character insertions, deletions and substitutions turn the AI draft into what the agent
/// sent (Levenshtein distance over Unicode scalar values, via `strsim`). Line endings are normalised to `\n`
/// and surrounding whitespace ignored first, so a textarea's `\r\n` does not count as an edit.
pub fn edit_distance(draft: &str, sent: &str) -> usize {
    let norm = |s: &str| -> String {
        s.replace("\r\n", "\n")
            .trim()
            .chars()
            .take(EDIT_DISTANCE_MAX_CHARS)
            .collect()
    };
    strsim::levenshtein(&norm(draft), &norm(sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_character_edits() {
        assert_eq!(edit_distance("Hello Ana", "Hello Ana"), 0);
        assert_eq!(edit_distance("Hello Ana\r\nBye", " Hello Ana\nBye\n"), 0);
        assert_eq!(edit_distance("Hello Ana", "Hello Anna!"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("Grüße", "Gruße"), 1);
    }
    use crate::domain::mail;

    fn ctx() -> TicketContext<'static> {
        TicketContext {
            crm_summary: None,
            ticket_number: "TKT-000007",
            subject: "Refund",
            category: Category::Billing,
            customer_name: Some("Ana"),
            signature: "Shop Support",
        }
    }

    #[test]
    fn prompt_masks_cards_and_maps_roles() {
        let p = build_prompt(
            &ctx(),
            &[
                ThreadEntry {
                    sender_type: SenderType::Customer,
                    content: "My card 4111 1111 1111 1111 was charged twice".into(),
                },
                ThreadEntry {
                    sender_type: SenderType::System,
                    content: "status changed".into(),
                },
                ThreadEntry {
                    sender_type: SenderType::Agent,
                    content: "Looking into it".into(),
                },
            ],
        );
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].role, "system");
        assert!(p[0].content.contains("TKT-000007"));
        assert_eq!(p[1].role, "user");
        assert!(p[1].content.contains("****") && !p[1].content.contains("4111"));
        assert_eq!(p[2].role, "assistant");
    }

    #[test]
    fn quoted_history_is_left_out() {
        let text =
            "Still broken.\n\nOn Mon, 2 Jun 2025 at 10:15, Ana <a@x> wrote:\n> Hello,\n> it broke.";
        assert_eq!(own_words(text), "Still broken.");
        assert_eq!(own_words("I wrote:\nthis"), "I wrote:\nthis");
    }

    #[test]
    fn template_mentions_ticket_and_name() {
        let t = template_reply(&ctx());
        assert!(t.starts_with("Hello Ana,"));
        assert!(t.contains("TKT-000007") && t.contains("billing"));
    }

    #[test]
    fn subjects_do_not_stack() {
        assert_eq!(reply_subject("RE: Hi"), "RE: Hi");
        assert_eq!(reply_subject("Hi"), "Re: Hi");
        assert_eq!(reply_subject(""), "Re: (no subject)");
    }

    #[test]
    fn reply_round_trips_through_the_parser() {
        let refs = reply_references(&["root@x".into()], Some("cust@x"));
        let r = Reply {
            from: "support@shop.test",
            from_name: "Shop Support",
            to: "jose@example.com",
            to_name: Some("José García"),
            subject: "Pedido dañado",
            in_reply_to: Some("cust@x"),
            references: refs,
            message_id: "draft-1@edgedesk",
            date: 1_795_352_400,
            body: "Hola José,\n\nLo sentimos.",
        }
        .to_rfc5322();
        let m = mail::parse(r.as_bytes()).unwrap();
        assert_eq!(m.subject.as_deref(), Some("Re: Pedido dañado"));
        assert_eq!(m.in_reply_to, vec!["cust@x"]);
        assert_eq!(m.references, vec!["root@x", "cust@x"]);
        assert_eq!(m.message_id.as_deref(), Some("draft-1@edgedesk"));
        assert_eq!(m.to, vec!["jose@example.com"]);
        assert!(m.body_text.contains("Lo sentimos."));
    }
}
