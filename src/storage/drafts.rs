//! AI drafts: one row per customer message that deserves a reply, from `pending` job to Gmail draft.
//!
//! States: `pending` (nothing generated yet) → `generated` (text stored; Gmail not yet told) → `created`
//! (a Gmail draft exists) or `sent` (auto mode); `failed` when retries give up ([`crate::domain::retry`]); `superseded` when an agent
//! replied first. The UNIQUE `message_id` makes a second draft for one message impossible.

use super::mail::{AnsweredEmail, ANSWERED_COLUMNS};
use super::{placeholders, Db, Val};
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

/// A claimed draft job with what generating and delivering it needs: the ticket, the answered customer e-mail,
/// and the ticket's Gmail draft that this one will replace.
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    /// Draft id (UUID).
    pub id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// The ticket answered.
    pub ticket_id: String,
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
    /// Gmail id of the ticket's current AI draft (status `created`), which this job's draft replaces.
    pub older_gmail_draft_id: Option<String>,
    /// The answered e-mail's columns (`message_id` of `emails` is the job's `message_id`).
    #[serde(flatten)]
    pub answered: AnsweredEmail,
}

/// Claims up to `limit` due jobs of the tenant (`pending` or `generated`, retry time come, not claimed by a
/// running poll) for [`CLAIM_MS`], oldest first, and loads them: two D1 calls in all. Jobs whose message has
/// no e-mail are not returned (they cannot be answered by e-mail).
pub async fn claim_due(db: &Db, tenant: &str, now_ms: i64, limit: usize) -> AppResult<Vec<Job>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let claimed: Vec<Id> = db
        .all(
            "UPDATE drafts SET claimed_until = ? WHERE id IN (
               SELECT id FROM drafts WHERE tenant_id = ? AND status IN ('pending', 'generated')
                 AND next_attempt_at <= ? AND claimed_until < ? ORDER BY created_at, rowid LIMIT ?)
             RETURNING id",
            params![now_ms + CLAIM_MS, tenant, now_ms, now_ms, limit as i64],
        )
        .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = claimed.into_iter().map(|c| c.id).collect();
    load(db, &ids).await
}

/// Loads draft jobs by id (oldest first); jobs whose message has no e-mail are left out.
pub async fn load(db: &Db, ids: &[String]) -> AppResult<Vec<Job>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT d.id, d.tenant_id, d.ticket_id, d.status, d.content, d.source, d.attempts,
                t.ticket_number, t.subject AS ticket_subject, t.category, t.customer_name,
                (SELECT o.gmail_draft_id FROM drafts o WHERE o.ticket_id = d.ticket_id AND o.status = 'created'
                  AND o.gmail_draft_id IS NOT NULL ORDER BY o.created_at DESC LIMIT 1) AS older_gmail_draft_id,
                {ANSWERED_COLUMNS}
         FROM drafts d JOIN tickets t ON t.ticket_id = d.ticket_id JOIN emails e ON e.message_id = d.message_id
         WHERE d.id IN ({}) ORDER BY d.created_at, d.rowid",
        placeholders(ids.len())
    );
    db.all(&sql, ids.iter().map(Val::from).collect()).await
}

/// Re-opens the draft job of the ticket's newest customer e-mail for a fresh generation (`pending`, no text,
/// no attempts, not sent), creating the job when that message has none, and claims it until
/// `claimed_until_ms`. Returns the job id; `None` when the ticket has no customer e-mail, or when a poll holds
/// the job's claim right now (it is generating this draft).
pub async fn reopen_newest(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    new_id: &str,
    now_ms: i64,
    claimed_until_ms: i64,
    now: &str,
) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let row: Option<Id> = db
        .first(
            "INSERT INTO drafts (id, tenant_id, ticket_id, message_id, status, claimed_until, created_at, updated_at)
             SELECT ?, m.tenant_id, m.ticket_id, m.id, 'pending', ?, ?, ?
               FROM ticket_messages m JOIN emails e ON e.message_id = m.id
              WHERE m.tenant_id = ? AND m.ticket_id = ? AND m.sender_type = 'customer' AND m.internal = 0
              ORDER BY m.created_at DESC, m.rowid DESC LIMIT 1
             ON CONFLICT (message_id) DO UPDATE SET status = 'pending', content = NULL, source = NULL,
               gmail_draft_id = NULL, gmail_message_id = NULL, attempts = 0, next_attempt_at = 0, last_error = NULL,
               edit_distance = NULL, sent_content_length = NULL, sent_by = NULL, sent_at = NULL,
               ticket_id = excluded.ticket_id, claimed_until = excluded.claimed_until, updated_at = excluded.updated_at
             WHERE drafts.claimed_until < ?
             RETURNING id",
            params![new_id, claimed_until_ms, now, now, tenant, ticket_id, now_ms],
        )
        .await?;
    Ok(row.map(|r| r.id))
}

/// Records that an agent sent (an edit of) this draft: `sent`, with the edit distance and lengths.
pub fn record_agent_send(
    db: &Db,
    tenant: &str,
    id: &str,
    edit_distance: i64,
    sent_length: i64,
    staff_id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'sent', edit_distance = ?, sent_content_length = ?, sent_by = ?, sent_at = ?,
           claimed_until = 0, updated_at = ? WHERE id = ? AND tenant_id = ?",
        params![edit_distance, sent_length, staff_id, now, now, id, tenant],
    )
}

/// A draft of the ticket by id: `None` when it is not one; `Some(None)` when it has no text (yet).
pub async fn content_of(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    id: &str,
) -> AppResult<Option<Option<String>>> {
    #[derive(Deserialize)]
    struct C {
        content: Option<String>,
    }
    let c: Option<C> = db
        .first(
            "SELECT content FROM drafts WHERE id = ? AND tenant_id = ? AND ticket_id = ?",
            params![id, tenant, ticket_id],
        )
        .await?;
    Ok(c.map(|c| c.content))
}

/// How long a run owns a draft job it claimed, in ms (longer than any LLM or Gmail call of one run).
pub const CLAIM_MS: i64 = 10 * 60 * 1000;

/// Statement recording the reply sent in auto mode (`sent`), whatever the job's state: the mail went out.
pub fn set_sent(
    db: &Db,
    id: &str,
    content: &str,
    source: &str,
    gmail_message_id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'sent', content = ?, source = ?, gmail_message_id = ?, last_error = NULL,
         claimed_until = 0, updated_at = ? WHERE id = ?",
        params![content, source, gmail_message_id, now, id],
    )
}

/// Records the Gmail draft (`created`) with its text if the job is still open; false when it was superseded
/// meanwhile.
pub async fn mark_created(
    db: &Db,
    id: &str,
    content: &str,
    source: &str,
    gmail_draft_id: &str,
    now: &str,
) -> AppResult<bool> {
    let n = db
        .run(
            "UPDATE drafts SET status = 'created', content = ?, source = ?, gmail_draft_id = ?, last_error = NULL,
             claimed_until = 0, updated_at = ? WHERE id = ? AND status IN ('pending', 'generated')",
            params![content, source, gmail_draft_id, now, id],
        )
        .await?;
    Ok(n == 1)
}

/// Records a failed attempt: retried at `next_attempt_ms`, or `failed` for good when `give_up`; frees the claim.
/// `generated` keeps text produced before the failure (`(content, source)`), so the retry does not ask the LLM
/// again.
pub async fn record_failure(
    db: &Db,
    id: &str,
    error: &str,
    next_attempt_ms: i64,
    give_up: bool,
    generated: Option<(&str, &str)>,
    now: &str,
) -> AppResult<()> {
    let (content, source) = generated.unzip();
    db.run(
        "UPDATE drafts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_until = 0,
         content = coalesce(?, content), source = coalesce(?, source),
         status = CASE WHEN ? THEN 'failed' WHEN ? IS NOT NULL AND status = 'pending' THEN 'generated' ELSE status END,
         updated_at = ? WHERE id = ?",
        params![error, next_attempt_ms, content, source, give_up, content, now, id],
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
/// not yet delivered or given up (`pending`, `generated`, `failed`): an agent replied, or a newer draft replaces
/// them.
pub fn supersede(
    db: &Db,
    ticket_id: &str,
    all_open: bool,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'superseded', updated_at = ?
         WHERE ticket_id = ? AND (status = 'created' OR (? AND status IN ('pending', 'generated', 'failed')))",
        params![now, ticket_id, all_open],
    )
}

/// Statement marking the draft with this Gmail draft id `superseded` (a newer draft replaced it).
pub fn supersede_draft(db: &Db, gmail_draft_id: &str, now: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE drafts SET status = 'superseded', updated_at = ? WHERE gmail_draft_id = ? AND status = 'created'",
        params![now, gmail_draft_id],
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

/// The ticket's newest draft with text still to be reviewed (`generated`, `created`, or `failed` after its text
/// was generated), if any; a job still waiting for its text is not a draft yet.
pub async fn latest(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Option<Draft>> {
    db.first(
        "SELECT id, message_id, status, source, content, gmail_draft_id, attempts, last_error, created_at, updated_at
         FROM drafts WHERE tenant_id = ? AND ticket_id = ? AND status IN ('generated', 'created', 'failed')
           AND content IS NOT NULL AND sent_by IS NULL
         ORDER BY created_at DESC, rowid DESC LIMIT 1",
        params![tenant, ticket_id],
    )
    .await
}

/// Statement deleting the draft of a message (a DM draft about to be generated again).
pub fn remove_for_message(
    db: &Db,
    tenant: &str,
    message_id: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "DELETE FROM drafts WHERE tenant_id = ? AND message_id = ?",
        params![tenant, message_id],
    )
}
