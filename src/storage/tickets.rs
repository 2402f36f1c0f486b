//! Tickets and their messages.

use super::{Db, Val};
use crate::error::{AppError, AppResult};
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// A ticket as the API shows it (RFC 3339 UTC timestamps).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ticket {
    /// Ticket id (UUID).
    pub ticket_id: String,
    /// `TKT-000001` form; unique per tenant.
    pub ticket_number: String,
    /// Where replies go (`Reply-To`, else `From`), lower-cased.
    pub customer_email: Option<String>,
    /// The customer's display name from `From`.
    pub customer_name: Option<String>,
    /// The first e-mail's subject; `(no subject)` when it had none.
    pub subject: String,
    /// `open|pending|resolved|closed`.
    pub status: String,
    /// `urgent|high|medium|low`.
    pub priority: String,
    /// `order|product|billing|technical|other`.
    pub category: String,
    /// `email|sms|voice|chat|facebook|instagram` (only `email` is ingested today).
    pub channel: String,
    /// Staff id of the assignee; `None` when unassigned.
    pub assigned_to: Option<String>,
    /// When the first response is due (RFC 3339 UTC).
    pub sla_due_at: Option<String>,
    /// The first agent reply (API, `auto` mode, or sent from Gmail); set once.
    pub first_response_at: Option<String>,
    /// When it was last set `resolved`; cleared by any other status.
    pub resolved_at: Option<String>,
    /// When the first e-mail arrived (Gmail `internalDate`), RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// Last change, RFC 3339 UTC with milliseconds.
    pub updated_at: String,
}

const TICKET_COLUMNS: &str = "ticket_id, ticket_number, customer_email, customer_name, subject, status, priority, \
    category, channel, assigned_to, sla_due_at, first_response_at, resolved_at, created_at, updated_at";

/// A new ticket.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    /// New ticket id (UUID).
    pub ticket_id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// `TKT-000001` form ([`crate::domain::ticket::ticket_number`]).
    pub ticket_number: &'a str,
    /// Where replies go (`Reply-To`, else `From`), lower-cased.
    pub customer_email: Option<&'a str>,
    /// The customer's display name.
    pub customer_name: Option<&'a str>,
    /// The ticket's subject.
    pub subject: &'a str,
    /// Plain text of the first message.
    pub description: &'a str,
    /// Wire form of [`crate::domain::ticket::Priority`].
    pub priority: &'a str,
    /// Wire form of [`crate::domain::ticket::Category`].
    pub category: &'a str,
    /// Wire form of [`crate::domain::ticket::Channel`].
    pub channel: &'a str,
    /// The mailbox the first e-mail came in through.
    pub mailbox_id: Option<&'a str>,
    /// When the first response is due, RFC 3339 UTC.
    pub sla_due_at: &'a str,
    /// Creation time, RFC 3339 UTC with milliseconds; also the initial `updated_at`.
    pub created_at: &'a str,
}

/// Statement inserting a ticket with status `open`.
pub fn insert(db: &Db, t: &NewTicket<'_>) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO tickets (ticket_id, tenant_id, ticket_number, customer_email, customer_name, subject, description,
           status, priority, category, channel, mailbox_id, sla_due_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?)",
        params![
            t.ticket_id, t.tenant, t.ticket_number, t.customer_email, t.customer_name, t.subject, t.description,
            t.priority, t.category, t.channel, t.mailbox_id, t.sla_due_at, t.created_at, t.created_at
        ],
    )
}

/// Reserves `n` consecutive ticket sequence numbers for the tenant in one atomic statement and returns the
/// first. Numbers are never reused, also when the caller then fails (gaps are possible, duplicates are not).
pub async fn reserve_numbers(db: &Db, tenant: &str, n: usize) -> AppResult<i64> {
    #[derive(Deserialize)]
    struct Next {
        next_ticket_number: i64,
    }
    let r: Option<Next> = db
        .first(
            "UPDATE tenants SET next_ticket_number = next_ticket_number + ? WHERE id = ? RETURNING next_ticket_number",
            params![n as i64, tenant],
        )
        .await?;
    let next = r.ok_or_else(|| AppError::Internal(format!("tenant {tenant} does not exist")))?;
    Ok(next.next_ticket_number - n as i64)
}

/// Statement for a customer message arriving on a ticket: back to `open`, touched.
pub fn reopen_on_customer_message(
    db: &Db,
    ticket_id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE tickets SET status = 'open', resolved_at = NULL, updated_at = ? WHERE ticket_id = ?",
        params![now, ticket_id],
    )
}

/// Statement for an agent reply: sets `first_response_at` once, touches the ticket.
pub fn record_response(db: &Db, ticket_id: &str, now: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE tickets SET first_response_at = COALESCE(first_response_at, ?), updated_at = ? WHERE ticket_id = ?",
        params![now, now, ticket_id],
    )
}

/// A ticket by id or by number (`TKT-000001`), within the tenant.
pub async fn get(db: &Db, tenant: &str, id_or_number: &str) -> AppResult<Option<Ticket>> {
    db.first(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = ? AND (ticket_id = ? OR ticket_number = ?)"),
        params![tenant, id_or_number, id_or_number],
    )
    .await
}

/// List filters; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Wire form of a status.
    pub status: Option<String>,
    /// Wire form of a priority.
    pub priority: Option<String>,
    /// Wire form of a category.
    pub category: Option<String>,
    /// Substring of subject, customer e-mail or name, or ticket number.
    pub q: Option<String>,
    /// Position after which to continue: `(created_at, ticket_id)` of the last ticket seen.
    pub after: Option<(String, String)>,
    /// Page size; [`list`] reads one row more.
    pub limit: usize,
}

/// Tickets of the tenant, newest first, at most `limit` (+1 to tell whether more follow).
pub async fn list(db: &Db, tenant: &str, f: &Filter) -> AppResult<Vec<Ticket>> {
    let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = ?");
    let mut p: Vec<Val> = params![tenant];
    for (col, v) in [
        ("status", &f.status),
        ("priority", &f.priority),
        ("category", &f.category),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            p.push(v.into());
        }
    }
    if let Some(q) = &f.q {
        // instr() rather than LIKE: no wildcard escaping, and no limit on the pattern length (D1 refuses LIKE
        // patterns over 50 bytes). lower() folds ASCII only.
        sql.push_str(
            " AND (instr(lower(subject), lower(?)) > 0 OR instr(lower(coalesce(customer_email, '')), lower(?)) > 0 \
             OR instr(lower(coalesce(customer_name, '')), lower(?)) > 0 OR instr(ticket_number, upper(?)) > 0)",
        );
        for _ in 0..4 {
            p.push(q.into());
        }
    }
    if let Some((created, id)) = &f.after {
        sql.push_str(" AND (created_at < ? OR (created_at = ? AND ticket_id < ?))");
        p.extend(params![created, created, id]);
    }
    sql.push_str(" ORDER BY created_at DESC, ticket_id DESC LIMIT ?");
    p.push(Val::Int(f.limit as i64 + 1));
    db.all(&sql, p).await
}

/// A message of a ticket thread, with its e-mail ids when it came or went by e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `ticket_messages.id` (UUID).
    pub id: String,
    /// `customer|agent|system`.
    pub sender_type: String,
    /// Sender display name.
    pub sender_name: Option<String>,
    /// Sender address.
    pub sender_email: Option<String>,
    /// Plain-text body.
    pub content: String,
    /// RFC 3339 UTC with milliseconds: when it was received or sent.
    pub created_at: String,
    /// Gmail message id; `None` for a message that did not come or go by e-mail.
    pub gmail_message_id: Option<String>,
    /// Gmail thread id.
    pub gmail_thread_id: Option<String>,
    /// `Message-ID` without angle brackets.
    pub message_id_header: Option<String>,
    /// First `In-Reply-To` id, without angle brackets.
    pub in_reply_to: Option<String>,
    /// E-mail subject.
    pub subject: Option<String>,
    /// Attachments as `[{filename, content_type, size (bytes)}]` (stored as JSON text; `[]` when none).
    #[serde(deserialize_with = "json_array")]
    pub attachments: serde_json::Value,
    /// Set for auto-replies and bulk mail: why.
    pub auto_reason: Option<String>,
}

/// The thread of a ticket, oldest first.
pub async fn messages(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Vec<Message>> {
    db.all(
        "SELECT m.id, m.sender_type, m.sender_name, m.sender_email, m.content, m.created_at,
                e.gmail_message_id, e.gmail_thread_id, e.rfc_message_id AS message_id_header, e.in_reply_to,
                e.subject, e.attachments, e.auto_reason
         FROM ticket_messages m LEFT JOIN emails e ON e.message_id = m.id
         WHERE m.tenant_id = ? AND m.ticket_id = ?
         ORDER BY m.created_at, m.rowid",
        params![tenant, ticket_id],
    )
    .await
}

/// Field changes from `PATCH /api/v1/tickets/{id}`; `assigned_to: Some(None)` unassigns.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    /// Wire form of the new status.
    pub status: Option<String>,
    /// Wire form of the new priority.
    pub priority: Option<String>,
    /// Wire form of the new category.
    pub category: Option<String>,
    /// `Some(Some(staff_id))` assigns, `Some(None)` unassigns, `None` leaves as is.
    pub assigned_to: Option<Option<String>>,
    /// Set with a `resolved` status, cleared with any other.
    pub resolved_at: Option<Option<String>>,
}

/// Applies a patch and returns whether the ticket exists in the tenant.
pub async fn patch(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    p: &Patch,
    now: &str,
) -> AppResult<bool> {
    let mut sets = vec!["updated_at = ?".to_string()];
    let mut vals: Vec<Val> = params![now];
    for (col, v) in [
        ("status", &p.status),
        ("priority", &p.priority),
        ("category", &p.category),
    ] {
        if let Some(v) = v {
            sets.push(format!("{col} = ?"));
            vals.push(v.into());
        }
    }
    for (col, v) in [
        ("assigned_to", &p.assigned_to),
        ("resolved_at", &p.resolved_at),
    ] {
        if let Some(v) = v {
            sets.push(format!("{col} = ?"));
            vals.push(v.clone().into());
        }
    }
    vals.extend(params![ticket_id, tenant]);
    let sql = format!(
        "UPDATE tickets SET {} WHERE ticket_id = ? AND tenant_id = ?",
        sets.join(", ")
    );
    Ok(db.run(&sql, vals).await? == 1)
}

/// Reads a JSON-array column (TEXT, possibly NULL or malformed) as a JSON array value.
fn json_array<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_array)
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new())))
}
