//! Replying to a ticket by e-mail, shared by `POST /api/v1/tickets/{id}/reply` and auto mode of the drafts job:
//! compose the RFC 5322 reply to the customer's newest mail (same Gmail thread, `In-Reply-To` its
//! `Message-ID`, `References` its references plus its id, `Subject: Re: …`), and send it through Gmail with
//! the agent message recorded under the `Message-ID` Gmail assigned (so the customer's answer threads to it).

use crate::config::Config;
use crate::domain::draft::{reply_references, Reply};
use crate::domain::time;
use crate::error::AppError;
use crate::error::AppResult;
use crate::integrations::gmail::{Gmail, GmailError};
use crate::integrations::http::Http;
use crate::jobs::mailbox;
use crate::platform;
use crate::storage::mail::{self, AnsweredEmail};
use crate::storage::{mailboxes::MailboxRow, tickets, Db};
use worker::D1PreparedStatement;

/// Whom a reply answers.
pub struct ReplyTo<'a> {
    /// The customer e-mail being answered: its Gmail thread, `Message-ID`, `References` and subject.
    pub answered: &'a AnsweredEmail,
    /// The customer's address.
    pub to: &'a str,
    /// The customer's display name for `To`, if known.
    pub to_name: Option<&'a str>,
    /// Subject when the answered mail had none (the ticket's).
    pub fallback_subject: &'a str,
}

impl ReplyTo<'_> {
    fn references(&self) -> Vec<String> {
        self.answered
            .references_ids
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }
}

/// Our `Message-ID` for a reply (no angle brackets): `edgedesk-{local_id}@{mailbox domain}`.
fn own_message_id(mb: &MailboxRow, local_id: &str) -> String {
    let domain = mb.address.split('@').nth(1).unwrap_or("edgedesk.invalid");
    format!("edgedesk-{local_id}@{domain}")
}

/// The raw reply from the mailbox, with our own `Message-ID` `edgedesk-{local_id}@{mailbox domain}`.
pub fn compose(
    cfg: &Config,
    mb: &MailboxRow,
    r: &ReplyTo<'_>,
    local_id: &str,
    body: &str,
) -> String {
    let own_id = own_message_id(mb, local_id);
    let in_reply_to = r.answered.rfc_message_id.as_deref();
    Reply {
        from: &mb.address,
        from_name: &cfg.support_name,
        to: r.to,
        to_name: r.to_name,
        subject: r.answered.subject.as_deref().unwrap_or(r.fallback_subject),
        in_reply_to,
        references: reply_references(&r.references(), in_reply_to),
        message_id: &own_id,
        date: platform::now_ms() / 1000,
        body,
    }
    .to_rfc5322()
}

/// A reply Gmail accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Id of the recorded agent message.
    pub message_id: String,
    /// Gmail id of the sent message.
    pub gmail_message_id: String,
    /// Gmail thread the reply went into.
    pub gmail_thread_id: String,
    /// The `Message-ID` Gmail gave it (ours if Gmail's could not be read), without angle brackets.
    pub rfc_message_id: String,
    /// When it was sent, RFC 3339.
    pub sent_at: String,
}

/// Sends `body` as the reply. Outer error: storage. Inner error: Gmail refused (nothing recorded).
/// On success, returns the statements recording the agent message and the ticket's first response, for the
/// caller to run in its own batch with its other writes.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    db: &Db,
    gmail: &Gmail<'_>,
    cfg: &Config,
    mb: &MailboxRow,
    tenant: &str,
    ticket_id: &str,
    r: &ReplyTo<'_>,
    body: &str,
    sender_id: Option<&str>,
) -> AppResult<Result<(Sent, Vec<D1PreparedStatement>), GmailError>> {
    let message_id = platform::uuid()?;
    let raw = compose(cfg, mb, r, &message_id, body);
    let (sent, gmail_mid) = match gmail
        .send(&raw, r.answered.gmail_thread_id.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let rfc_message_id = gmail_mid.unwrap_or_else(|| own_message_id(mb, &message_id));
    let now = time::rfc3339(platform::now());
    let mut stmts = mail::insert_email_message(
        db,
        &mail::NewEmailMessage {
            id: &message_id,
            tenant,
            ticket_id,
            mailbox_id: Some(&mb.id),
            sender_type: "agent",
            sender_id,
            sender_name: Some(&cfg.support_name),
            sender_email: Some(&mb.address),
            reply_to: None,
            to_email: Some(r.to),
            subject: r.answered.subject.as_deref(),
            content: body,
            body_html: None,
            gmail_message_id: Some(&sent.id),
            gmail_thread_id: Some(&sent.thread_id),
            rfc_message_id: Some(&rfc_message_id),
            in_reply_to: r.answered.rfc_message_id.as_deref(),
            references: serde_json::to_string(&r.references())?,
            attachments: "[]".into(),
            has_attachments: false,
            auto_reason: None,
            truncated: false,
            labels: "[\"SENT\"]".into(),
            created_at: &now,
        },
    )?;
    stmts.push(tickets::record_response(db, ticket_id, &now)?);
    Ok(Ok((
        Sent {
            message_id,
            gmail_message_id: sent.id,
            gmail_thread_id: sent.thread_id,
            rfc_message_id,
            sent_at: now,
        },
        stmts,
    )))
}

/// What replying to a ticket by e-mail needs: the customer e-mail answered, the address, the mailbox and a
/// Gmail access token. Errors: 409 when the ticket has no customer e-mail or mailbox; 502 when the OAuth token
/// cannot be refreshed.
pub struct Outbox {
    /// Outbound HTTP with the configured timeout.
    pub http: Http,
    /// The mailbox the customer wrote to.
    pub mb: MailboxRow,
    /// Gmail access token.
    pub token: String,
    /// The customer's newest e-mail.
    pub answered: AnsweredEmail,
    /// Where the reply goes (`Reply-To`, else `From`, else the ticket's customer e-mail).
    pub to: String,
}

impl Outbox {
    /// The outbox of a ticket of the tenant.
    pub async fn for_ticket(
        db: &Db,
        cfg: &Config,
        tenant: &str,
        ticket: &tickets::Ticket,
    ) -> AppResult<Outbox> {
        let answered = mail::latest_customer_email(db, tenant, &ticket.ticket_id)
            .await?
            .ok_or_else(|| {
                AppError::Conflict("this ticket has no customer e-mail to reply to".into())
            })?;
        let to = ticket
            .customer_email
            .clone()
            .or(answered.reply_to.clone())
            .or(answered.from_email.clone())
            .ok_or_else(|| AppError::Conflict("the customer has no e-mail address".into()))?;
        let mb_id = answered
            .mailbox_id
            .clone()
            .ok_or_else(|| AppError::Conflict("the customer's e-mail has no mailbox".into()))?;
        let mb = crate::storage::mailboxes::by_id(db, tenant, &mb_id)
            .await?
            .ok_or_else(|| AppError::Conflict("the ticket's mailbox is gone".into()))?;
        let http = Http::with_timeout(cfg.http_timeout_ms);
        let token = mailbox::access_token(db, &http, cfg, &mb).await?;
        Ok(Outbox {
            http,
            mb,
            token,
            answered,
            to,
        })
    }

    /// A Gmail client for the mailbox.
    pub fn gmail<'a>(&'a self, cfg: &'a Config) -> Gmail<'a> {
        Gmail::new(&self.http, &cfg.gmail_api_base, &self.token)
    }
}
