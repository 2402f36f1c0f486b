//! The mail queue (what sync discovered and what became of it), stored e-mails, and the id lookups that
//! threading needs.

use super::{chunks, placeholders, Db, Val};
use crate::domain::threading::Known;
use crate::error::AppResult;
use crate::params;
use serde::Deserialize;
use worker::D1PreparedStatement;

/// Queue rows per multi-row INSERT (5 parameters each, under D1's 100).
const ENQUEUE_ROWS: usize = 20;

/// A discovered Gmail message waiting to be ingested.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueItem {
    /// Gmail message id.
    pub gmail_message_id: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// Statements that add discovered messages (ignored when already queued, whatever their state).
pub fn enqueue(
    db: &Db,
    mailbox: &str,
    ids: &[(String, String)],
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    ids.chunks(ENQUEUE_ROWS)
        .map(|rows| {
            let sql = format!(
                "INSERT OR IGNORE INTO mail_queue (mailbox_id, gmail_message_id, gmail_thread_id, discovered_at, updated_at) VALUES {}",
                vec!["(?, ?, ?, ?, ?)"; rows.len()].join(", ")
            );
            let params: Vec<Val> = rows
                .iter()
                .flat_map(|(id, thread)| params![mailbox, id, thread, now, now])
                .collect();
            db.stmt(&sql, params)
        })
        .collect()
}

/// Statement that moves the mailbox's sync position.
pub fn set_history(db: &Db, mailbox: &str, history_id: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE mailboxes SET history_id = ? WHERE id = ?",
        params![history_id, mailbox],
    )
}

/// Pending messages whose retry time has come, oldest discovered first.
pub async fn due(db: &Db, mailbox: &str, now_ms: i64, limit: usize) -> AppResult<Vec<QueueItem>> {
    db.all(
        "SELECT gmail_message_id, attempts FROM mail_queue
         WHERE mailbox_id = ? AND status = 'pending' AND next_attempt_at <= ?
         ORDER BY discovered_at, rowid LIMIT ?",
        params![mailbox, now_ms, limit as i64],
    )
    .await
}

/// Statement that closes a queue item as `done` or `skipped` with its outcome.
pub fn settle(
    db: &Db,
    mailbox: &str,
    gmail_id: &str,
    status: &str,
    outcome: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE mail_queue SET status = ?, outcome = ?, last_error = NULL, updated_at = ? WHERE mailbox_id = ? AND gmail_message_id = ?",
        params![status, outcome, now, mailbox, gmail_id],
    )
}

/// Claims queue items for this run before they are fetched: counts the attempt and pushes `next_attempt_at`
/// out by [`crate::domain::retry::backoff_ms`] of the new attempt count, so a run that dies mid-way (memory,
/// CPU) neither loses the items nor keeps retrying them first. One statement per 97 ids.
pub fn claim(
    db: &Db,
    mailbox: &str,
    ids: &[String],
    now_ms: i64,
) -> AppResult<Vec<D1PreparedStatement>> {
    chunks(ids, 3)
        .into_iter()
        .map(|chunk| {
            let sql = format!(
                "UPDATE mail_queue SET attempts = attempts + 1,
                   next_attempt_at = ? + min(60000 << min(attempts, 10), ?)
                 WHERE mailbox_id = ? AND gmail_message_id IN ({})",
                placeholders(chunk.len())
            );
            let mut p = params![now_ms, crate::domain::retry::MAX_BACKOFF_MS, mailbox];
            p.extend(chunk.into_iter().map(Val::from));
            db.stmt(&sql, p)
        })
        .collect()
}

/// Records why claimed items failed (their attempt was counted by [`claim`]); they are retried when their
/// `next_attempt_at` comes, or marked `failed` for good when `give_up`. One statement per 96 ids.
pub async fn record_failure(
    db: &Db,
    mailbox: &str,
    ids: &[String],
    error: &str,
    give_up: bool,
    now: &str,
) -> AppResult<()> {
    for chunk in chunks(ids, 4) {
        let sql = format!(
            "UPDATE mail_queue SET last_error = ?, status = CASE WHEN ? THEN 'failed' ELSE status END, updated_at = ?
             WHERE mailbox_id = ? AND gmail_message_id IN ({})",
            placeholders(chunk.len())
        );
        let mut p = params![error, give_up, now, mailbox];
        p.extend(chunk.into_iter().map(Val::from));
        db.run(&sql, p).await?;
    }
    Ok(())
}

/// What storage knows about the ids a batch of incoming mail mentions: Gmail threads of this mailbox,
/// `Message-ID`s and Gmail ids of the tenant. At most one query per kind per 99 ids.
pub async fn known(
    db: &Db,
    tenant: &str,
    mailbox: &str,
    thread_ids: &[String],
    message_ids: &[String],
    gmail_ids: &[String],
) -> AppResult<Known> {
    Ok(Known {
        // Oldest first, so the newest ticket of a Gmail thread wins.
        threads: ticket_of(
            db,
            "gmail_thread_id",
            "mailbox_id",
            mailbox,
            thread_ids,
            "ORDER BY received_at",
        )
        .await?
        .into_iter()
        .collect(),
        message_ids: ticket_of(db, "rfc_message_id", "tenant_id", tenant, message_ids, "")
            .await?
            .into_iter()
            .collect(),
        gmail_ids: ticket_of(db, "gmail_message_id", "tenant_id", tenant, gmail_ids, "")
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
    })
}

/// `(value, ticket_id)` of the e-mails whose `column` is one of `values`, within `scope_column = scope`.
/// Column names are this module's literals, never input.
async fn ticket_of(
    db: &Db,
    column: &str,
    scope_column: &str,
    scope: &str,
    values: &[String],
    order: &str,
) -> AppResult<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Pair {
        k: String,
        ticket_id: String,
    }
    let mut out = Vec::new();
    for chunk in chunks(values, 1) {
        let sql = format!(
            "SELECT {column} AS k, ticket_id FROM emails WHERE {scope_column} = ? AND {column} IN ({}) {order}",
            placeholders(chunk.len())
        );
        let mut p = params![scope];
        p.extend(chunk.into_iter().map(Val::from));
        out.extend(
            db.all::<Pair>(&sql, p)
                .await?
                .into_iter()
                .map(|r| (r.k, r.ticket_id)),
        );
    }
    Ok(out)
}

/// A ticket message with the e-mail behind it.
#[derive(Debug, Clone)]
pub struct NewEmailMessage<'a> {
    /// New `ticket_messages.id` (UUID); also the key of the `emails` row.
    pub id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// The ticket it belongs to.
    pub ticket_id: &'a str,
    /// The mailbox it came in or went out through.
    pub mailbox_id: Option<&'a str>,
    /// `customer` or `agent`.
    pub sender_type: &'a str,
    /// Staff id of the agent who sent it (`None` for customer mail, Gmail-sent replies and auto mode).
    pub sender_id: Option<&'a str>,
    /// Sender display name.
    pub sender_name: Option<&'a str>,
    /// Sender address, lower-cased (also stored as `emails.from_email`).
    pub sender_email: Option<&'a str>,
    /// `Reply-To` address, where replies go when set.
    pub reply_to: Option<&'a str>,
    /// First `To` address, lower-cased.
    pub to_email: Option<&'a str>,
    /// E-mail subject.
    pub subject: Option<&'a str>,
    /// Plain-text body shown in the thread.
    pub content: &'a str,
    /// The original HTML part, if any (at most `MAX_BODY_BYTES`).
    pub body_html: Option<&'a str>,
    /// Gmail message id.
    pub gmail_message_id: Option<&'a str>,
    /// Gmail thread id.
    pub gmail_thread_id: Option<&'a str>,
    /// `Message-ID` without angle brackets.
    pub rfc_message_id: Option<&'a str>,
    /// First `In-Reply-To` id, without angle brackets.
    pub in_reply_to: Option<&'a str>,
    /// JSON array.
    pub references: String,
    /// JSON array of attachment metadata.
    pub attachments: String,
    /// True when `attachments` is not empty.
    pub has_attachments: bool,
    /// Why it counts as an auto-reply or bulk mail ([`crate::domain::mail::AutoKind::reason`]).
    pub auto_reason: Option<&'a str>,
    /// True when a body was cut to `MAX_BODY_BYTES`.
    pub truncated: bool,
    /// JSON array of Gmail labels.
    pub labels: String,
    /// When it was received or sent, RFC 3339 UTC with milliseconds (also `emails.received_at`).
    pub created_at: &'a str,
}

/// Statements inserting the message and its e-mail row.
pub fn insert_email_message(
    db: &Db,
    m: &NewEmailMessage<'_>,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "INSERT INTO ticket_messages (id, tenant_id, ticket_id, sender_type, sender_id, sender_name, sender_email, content, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![m.id, m.tenant, m.ticket_id, m.sender_type, m.sender_id, m.sender_name, m.sender_email, m.content, m.created_at],
        )?,
        db.stmt(
            "INSERT INTO emails (message_id, tenant_id, ticket_id, mailbox_id, gmail_message_id, gmail_thread_id, rfc_message_id,
               in_reply_to, references_ids, from_email, from_name, reply_to, to_email, subject, body_html, has_attachments, attachments,
               auto_reason, truncated, labels, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                m.id, m.tenant, m.ticket_id, m.mailbox_id, m.gmail_message_id, m.gmail_thread_id, m.rfc_message_id,
                m.in_reply_to, &m.references, m.sender_email, m.sender_name, m.reply_to, m.to_email, m.subject, m.body_html,
                m.has_attachments, &m.attachments, m.auto_reason, m.truncated, &m.labels, m.created_at
            ],
        )?,
    ])
}

/// The newest customer e-mail of a ticket: what a reply answers.
#[derive(Debug, Clone, Deserialize)]
pub struct AnsweredEmail {
    /// `ticket_messages.id` of the e-mail's message.
    pub message_id: String,
    /// The mailbox it came in through.
    pub mailbox_id: Option<String>,
    /// Gmail thread to reply in.
    pub gmail_thread_id: Option<String>,
    /// Its `Message-ID` without angle brackets: the reply's `In-Reply-To`.
    pub rfc_message_id: Option<String>,
    /// JSON array.
    pub references_ids: Option<String>,
    /// Sender address, lower-cased.
    pub from_email: Option<String>,
    /// Sender display name.
    pub from_name: Option<String>,
    /// `Reply-To` address, when the mail had one.
    pub reply_to: Option<String>,
    /// E-mail subject.
    pub subject: Option<String>,
}

/// Columns of [`AnsweredEmail`] from `emails e`.
pub const ANSWERED_COLUMNS: &str =
    "e.message_id, e.mailbox_id, e.gmail_thread_id, e.rfc_message_id, e.references_ids, \
    e.from_email, e.from_name, e.reply_to, e.subject";

/// The newest customer e-mail of the ticket, if it has any.
pub async fn latest_customer_email(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
) -> AppResult<Option<AnsweredEmail>> {
    db.first(
        &format!(
            "SELECT {ANSWERED_COLUMNS} FROM emails e JOIN ticket_messages m ON m.id = e.message_id
             WHERE e.tenant_id = ? AND e.ticket_id = ? AND m.sender_type = 'customer'
             ORDER BY e.received_at DESC, m.rowid DESC LIMIT 1"
        ),
        params![tenant, ticket_id],
    )
    .await
}
