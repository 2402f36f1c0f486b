//! AI drafts: one row per customer message that deserves a reply, from `pending` job to Gmail draft.
//!
//! States: `pending` (nothing generated yet) → `generated` (text stored; Gmail not yet told) → `created`
//! (a Gmail draft exists) or `sent` (auto mode); `failed` when retries give up ([`crate::domain::retry`]); `superseded` when an agent
//! replied first. The UNIQUE `message_id` makes a second draft for one message impossible.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// Statement creating a draft job for a customer message (ignored if one exists).
pub fn insert_job(
    db: &Db,
    id: &str,
    tenant: &str,
    ticket_id: &str,
    message_id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT OR IGNORE INTO drafts (id, tenant_id, ticket_id, message_id, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        params![id, tenant, ticket_id, message_id, now, now],
    )
}

/// A draft job with what generating it needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// Draft id (UUID).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The ticket answered.
    pub ticket_id: String,
    /// `ticket_messages.id` of the customer message answered.
    pub message_id: String,
    /// `pending` or `generated`.
    pub status: String,
    /// The reply text, once `generated`.
    pub content: Option<String>,
    /// `llm` or `template`, once `generated`.
    pub source: Option<String>,
    /// Failed attempts so far.
    pub attempts: i64,
    /// `TKT-000001` form.
    pub ticket_number: String,
    /// The ticket's subject (prompt, and the reply subject when the answered mail has none).
    pub ticket_subject: String,
    /// The ticket's category, wire form.
    pub category: String,
    /// The ticket's customer display name.
    pub customer_name: Option<String>,
}

/// Jobs of the mailbox's tenant that are due (`pending` or `generated`), oldest first.
pub async fn due(db: &Db, tenant: &str, now_ms: i64, limit: usize) -> AppResult<Vec<Job>> {
    db.all(
        "SELECT d.id, d.tenant_id, d.ticket_id, d.message_id, d.status, d.content, d.source, d.attempts,
                t.ticket_number, t.subject AS ticket_subject, t.category, t.customer_name
         FROM drafts d JOIN tickets t ON t.ticket_id = d.ticket_id
         WHERE d.tenant_id = ? AND d.status IN ('pending', 'generated') AND d.next_attempt_at <= ?
         ORDER BY d.created_at, d.rowid LIMIT ?",
        params![tenant, now_ms, limit as i64],
    )
    .await
}

/// How long a run owns a draft job it claimed, in ms (longer than any LLM or Gmail call of one run).
pub const CLAIM_MS: i64 = 10 * 60 * 1000;

/// Claims a due job for this run; false when another run holds it or it is no longer open.
pub async fn claim(db: &Db, id: &str, now_ms: i64) -> AppResult<bool> {
    let n = db
        .run(
            "UPDATE drafts SET claimed_until = ? WHERE id = ? AND status IN ('pending', 'generated') AND claimed_until < ?",
            params![now_ms + CLAIM_MS, id, now_ms],
        )
        .await?;
    Ok(n == 1)
}

/// Stores generated text (before Gmail is called, so a Gmail failure does not cost a second LLM call).
pub async fn set_generated(
    db: &Db,
    id: &str,
    content: &str,
    source: &str,
    now: &str,
) -> AppResult<()> {
    db.run(
        "UPDATE drafts SET status = 'generated', content = ?, source = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
        params![content, source, now, id],
    )
    .await?;
    Ok(())
}

/// Statement recording the reply sent in auto mode (`sent`), whatever the job's state: the mail went out.
pub fn set_sent(
    db: &Db,
    id: &str,
    gmail_message_id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'sent', gmail_message_id = ?, last_error = NULL, claimed_until = 0, updated_at = ? WHERE id = ?",
        params![gmail_message_id, now, id],
    )
}

/// Records the Gmail draft (`created`) if the job is still open; false when it was superseded meanwhile.
pub async fn mark_created(db: &Db, id: &str, gmail_draft_id: &str, now: &str) -> AppResult<bool> {
    let n = db
        .run(
            "UPDATE drafts SET status = 'created', gmail_draft_id = ?, last_error = NULL, claimed_until = 0, updated_at = ?
             WHERE id = ? AND status IN ('pending', 'generated')",
            params![gmail_draft_id, now, id],
        )
        .await?;
    Ok(n == 1)
}

/// Records a failed attempt: retried at `next_attempt_ms`, or `failed` for good when `give_up`; frees the claim.
pub async fn record_failure(
    db: &Db,
    id: &str,
    error: &str,
    next_attempt_ms: i64,
    give_up: bool,
    now: &str,
) -> AppResult<()> {
    db.run(
        "UPDATE drafts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_until = 0,
         status = CASE WHEN ? THEN 'failed' ELSE status END, updated_at = ? WHERE id = ?",
        params![error, next_attempt_ms, give_up, now, id],
    )
    .await?;
    Ok(())
}

/// Gmail draft ids of the ticket's drafts that an agent reply makes stale (deleted from Gmail on reply).
pub async fn open_gmail_drafts(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        gmail_draft_id: String,
    }
    let rows: Vec<Row> = db
        .all(
            "SELECT gmail_draft_id FROM drafts WHERE tenant_id = ? AND ticket_id = ? AND status = 'created' AND gmail_draft_id IS NOT NULL",
            params![tenant, ticket_id],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.gmail_draft_id).collect())
}

/// Statement marking a ticket's drafts `superseded`: those in Gmail (`created`), and with `all_open` also those
/// not yet delivered (`pending`, `generated`): an agent replied, or a newer draft replaces them.
pub fn supersede(
    db: &Db,
    ticket_id: &str,
    all_open: bool,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'superseded', updated_at = ?
         WHERE ticket_id = ? AND (status = 'created' OR (? AND status IN ('pending', 'generated')))",
        params![now, ticket_id, all_open],
    )
}

/// A draft as the ticket API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    /// Draft id (UUID).
    pub id: String,
    /// `ticket_messages.id` of the customer message answered (a `messages[].id`).
    pub message_id: String,
    /// `pending|generated|created|sent|failed` (superseded drafts are not shown).
    pub status: String,
    /// `llm` or `template`.
    pub source: Option<String>,
    /// The reply text, once generated.
    pub content: Option<String>,
    /// Gmail draft id, once `created`.
    pub gmail_draft_id: Option<String>,
    /// Failed attempts so far.
    pub attempts: i64,
    /// The last failure; kept when the draft is `failed`.
    pub last_error: Option<String>,
    /// RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// RFC 3339 UTC with milliseconds.
    pub updated_at: String,
}

/// The ticket's newest draft that is not superseded, if any.
pub async fn latest(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Option<Draft>> {
    db.first(
        "SELECT id, message_id, status, source, content, gmail_draft_id, attempts, last_error, created_at, updated_at
         FROM drafts WHERE tenant_id = ? AND ticket_id = ? AND status != 'superseded'
         ORDER BY created_at DESC, rowid DESC LIMIT 1",
        params![tenant, ticket_id],
    )
    .await
}
