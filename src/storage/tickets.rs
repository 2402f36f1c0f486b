//! Tickets, their messages, tags, activity log and merges.

use super::{placeholders, Db, Val};
use crate::domain::access::Visibility;
use crate::domain::ticket::{Sort, View};
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
    /// The caller's number (E.164) for SMS and voice tickets.
    #[serde(default)]
    pub customer_phone: Option<String>,
    /// The customer record (`/api/v1/customers/{id}`) the ticket belongs to.
    #[serde(default)]
    pub customer_id: Option<String>,
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
    /// The assignee's display name.
    pub assignee_name: Option<String>,
    /// The assignee's team (for the role rules; not shown).
    #[serde(skip_serializing, default)]
    pub assignee_team: Option<String>,
    /// Tags, sorted (stored in `ticket_tags`).
    #[serde(deserialize_with = "json_array")]
    pub tags: serde_json::Value,
    /// Number of the ticket this one was merged into.
    pub merged_into: Option<String>,
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
    /// The list's sort key of this row (for the cursor; not shown).
    #[serde(skip_serializing, default)]
    pub sort_key: Option<String>,
}

/// Columns of [`Ticket`] from `tickets t`.
const TICKET_COLUMNS: &str = "t.ticket_id, t.ticket_number, t.customer_email, t.customer_name, t.customer_phone, t.customer_id, \
    t.subject, t.status, \
    t.priority, t.category, t.channel, t.assigned_to, a.name AS assignee_name, a.team AS assignee_team, \
    (SELECT json_group_array(tag) FROM (SELECT g.tag FROM ticket_tags g WHERE g.ticket_id = t.ticket_id ORDER BY g.tag)) AS tags, \
    (SELECT mt.ticket_number FROM tickets mt WHERE mt.ticket_id = t.merged_into) AS merged_into, \
    t.sla_due_at, t.first_response_at, t.resolved_at, t.created_at, t.updated_at";

/// `FROM` clause matching [`TICKET_COLUMNS`].
const TICKET_FROM: &str = "tickets t LEFT JOIN staff a ON a.staff_id = t.assigned_to";

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
        &format!("SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.tenant_id = ? AND (t.ticket_id = ? OR t.ticket_number = ?)"),
        params![tenant, id_or_number, id_or_number],
    )
    .await
}

/// Tickets of the tenant by id or number (any order); unknown ones are left out.
pub async fn get_many(db: &Db, tenant: &str, ids: &[String]) -> AppResult<Vec<Ticket>> {
    let mut out = Vec::new();
    for chunk in super::chunks(ids, super::MAX_PARAMS / 2 + 1) {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.tenant_id = ? AND (t.ticket_id IN ({0}) OR t.ticket_number IN ({0}))",
            placeholders(chunk.len())
        );
        let mut p: Vec<Val> = params![tenant];
        p.extend(chunk.iter().map(Val::from));
        p.extend(chunk.into_iter().map(Val::from));
        out.extend(db.all::<Ticket>(&sql, p).await?);
    }
    Ok(out)
}

/// Who is assigned to what: the rows matching an assignee filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Unassigned tickets.
    Nobody,
    /// Tickets of this staff id.
    Staff(String),
}

/// List filters; `None` means any.
#[derive(Debug, Clone)]
pub struct Filter {
    /// What the caller may see.
    pub visibility: Visibility,
    /// The caller's staff id (view `mine`).
    pub me: String,
    /// Saved view.
    pub view: View,
    /// Wire form of a status.
    pub status: Option<String>,
    /// Wire form of a priority.
    pub priority: Option<String>,
    /// Wire form of a category.
    pub category: Option<String>,
    /// Wire form of a channel.
    pub channel: Option<String>,
    /// Assignee.
    pub assignee: Option<AssigneeFilter>,
    /// One tag.
    pub tag: Option<String>,
    /// A customer id.
    pub customer: Option<String>,
    /// FTS5 expressions, all of which must match somewhere in the ticket ([`crate::domain::search::fts_terms`]).
    pub fts: Vec<String>,
    /// The raw search text: an exact ticket number or customer e-mail also matches.
    pub q: Option<String>,
    /// Order.
    pub sort: Sort,
    /// Position after which to continue: `(sort key, ticket_id)` of the last ticket seen.
    pub after: Option<(String, String)>,
    /// Page size; [`list`] reads one row more.
    pub limit: usize,
    /// Now (RFC 3339): SLA views.
    pub now: String,
    /// Now + the at-risk window (RFC 3339).
    pub at_risk_until: String,
}

/// SQL sort key of a list order (a text value, so one cursor shape fits every order) and whether it ascends.
fn sort_key(sort: Sort) -> (&'static str, bool) {
    match sort {
        Sort::Newest => ("t.created_at", false),
        Sort::Oldest => ("t.created_at", true),
        Sort::Updated => ("t.updated_at", false),
        Sort::Priority => (
            "(CASE t.priority WHEN 'urgent' THEN '0' WHEN 'high' THEN '1' WHEN 'medium' THEN '2' ELSE '3' END || t.created_at)",
            true,
        ),
        Sort::Sla => ("coalesce(t.sla_due_at, '9999')", true),
    }
}

/// The SQL condition (and its parameters) limiting tickets to what the caller may see, on `tickets t`.
pub fn visibility_sql(tenant: &str, v: &Visibility) -> (String, Vec<Val>) {
    match v {
        Visibility::All => ("1 = 1".into(), Vec::new()),
        Visibility::Limited { me, team: None } => (
            "(t.assigned_to IS NULL OR t.assigned_to = ?)".into(),
            params![me],
        ),
        Visibility::Limited {
            me,
            team: Some(team),
        } => (
            "(t.assigned_to IS NULL OR t.assigned_to = ? OR t.assigned_to IN \
             (SELECT staff_id FROM staff WHERE tenant_id = ? AND team = ?))"
                .into(),
            params![me, tenant, team],
        ),
    }
}

/// Tickets of the tenant the filter selects, in its order, at most `limit` (+1 to tell whether more follow).
pub async fn list(db: &Db, tenant: &str, f: &Filter) -> AppResult<Vec<Ticket>> {
    let (key, asc) = sort_key(f.sort);
    let (vis, vis_params) = visibility_sql(tenant, &f.visibility);
    let mut sql = format!(
        "SELECT {TICKET_COLUMNS}, {key} AS sort_key FROM {TICKET_FROM} WHERE t.tenant_id = ? AND {vis}"
    );
    let mut p: Vec<Val> = params![tenant];
    p.extend(vis_params);
    match f.view {
        View::All => {}
        View::Mine => {
            sql.push_str(" AND t.assigned_to = ?");
            p.push((&f.me).into());
        }
        View::Unassigned => {
            sql.push_str(" AND t.assigned_to IS NULL AND t.status IN ('open', 'pending')")
        }
        View::Open => sql.push_str(" AND t.status IN ('open', 'pending')"),
        View::SlaAtRisk => {
            sql.push_str(
                " AND t.first_response_at IS NULL AND t.status IN ('open', 'pending') AND t.sla_due_at > ? AND t.sla_due_at <= ?",
            );
            p.extend(params![&f.now, &f.at_risk_until]);
        }
        View::SlaBreached => {
            sql.push_str(
                " AND t.first_response_at IS NULL AND t.status IN ('open', 'pending') AND t.sla_due_at <= ?",
            );
            p.push((&f.now).into());
        }
    }
    for (col, v) in [
        ("t.status", &f.status),
        ("t.priority", &f.priority),
        ("t.category", &f.category),
        ("t.channel", &f.channel),
    ] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            p.push(v.into());
        }
    }
    match &f.assignee {
        None => {}
        Some(AssigneeFilter::Nobody) => sql.push_str(" AND t.assigned_to IS NULL"),
        Some(AssigneeFilter::Staff(id)) => {
            sql.push_str(" AND t.assigned_to = ?");
            p.push(id.into());
        }
    }
    if let Some(c) = &f.customer {
        sql.push_str(" AND t.customer_id = ?");
        p.push(c.into());
    }
    if let Some(tag) = &f.tag {
        sql.push_str(" AND EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.ticket_id AND g.tag = ?)");
        p.push(tag.into());
    }
    if let Some(q) = &f.q {
        // Full text (FTS5, subject + customer + every message: each word somewhere in the ticket), or an exact
        // ticket number or customer e-mail.
        sql.push_str(" AND (t.ticket_number = upper(?) OR t.customer_email = lower(?)");
        p.extend(params![q, q]);
        if !f.fts.is_empty() {
            let each = vec![
                "t.ticket_id IN (SELECT ticket_id FROM search_fts WHERE search_fts MATCH ? AND tenant_id = ?)";
                f.fts.len()
            ];
            sql.push_str(&format!(" OR ({})", each.join(" AND ")));
            for term in &f.fts {
                p.extend(params![term, tenant]);
            }
        }
        sql.push(')');
    }
    let (cmp, dir) = if asc { (">", "ASC") } else { ("<", "DESC") };
    if let Some((k, id)) = &f.after {
        sql.push_str(&format!(
            " AND ({key} {cmp} ? OR ({key} = ? AND t.ticket_id {cmp} ?))"
        ));
        p.extend(params![k, k, id]);
    }
    sql.push_str(&format!(" ORDER BY {key} {dir}, t.ticket_id {dir} LIMIT ?"));
    p.push(Val::Int(f.limit as i64 + 1));
    db.all(&sql, p).await
}

/// Other tickets of the same customer e-mail that the caller may see, newest first, at most 20.
pub async fn customer_tickets(
    db: &Db,
    tenant: &str,
    v: &Visibility,
    email: &str,
    except: &str,
) -> AppResult<Vec<Ticket>> {
    let (vis, vis_params) = visibility_sql(tenant, v);
    let mut p: Vec<Val> = params![tenant, email, except];
    p.extend(vis_params);
    db.all(
        &format!(
            "SELECT {TICKET_COLUMNS} FROM {TICKET_FROM} WHERE t.tenant_id = ? AND t.customer_email = ? AND t.ticket_id != ?
             AND {vis} ORDER BY t.created_at DESC LIMIT 20"
        ),
        p,
    )
    .await
}

/// A message of a ticket thread, with its e-mail ids when it came or went by e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `ticket_messages.id` (UUID).
    pub id: String,
    /// `customer|agent|system|note` (`note`: an internal note).
    pub sender_type: String,
    /// Staff id of an agent message or note.
    pub sender_id: Option<String>,
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
    /// The e-mail's HTML body as received: untrusted, to be sanitized by whoever renders it.
    pub body_html: Option<String>,
    /// Attachments as `[{filename, content_type, size (bytes)}]` (stored as JSON text; `[]` when none).
    #[serde(deserialize_with = "json_array")]
    pub attachments: serde_json::Value,
    /// Set for auto-replies and bulk mail: why.
    pub auto_reason: Option<String>,
}

/// The thread of a ticket, oldest first.
pub async fn messages(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Vec<Message>> {
    db.all(
        "SELECT m.id, CASE WHEN m.internal = 1 THEN 'note' ELSE m.sender_type END AS sender_type, m.sender_id,
                m.sender_name, m.sender_email, m.content, m.created_at,
                e.gmail_message_id, e.gmail_thread_id, e.rfc_message_id AS message_id_header, e.in_reply_to,
                e.subject, e.body_html, e.attachments, e.auto_reason
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

/// Statement applying a patch (also touches `updated_at`).
pub fn patch(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    p: &Patch,
    now: &str,
) -> AppResult<D1PreparedStatement> {
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
    db.stmt(&sql, vals)
}

/// Statements adding and removing tags of a ticket (tags already validated and lower-cased).
pub fn change_tags(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    add: &[String],
    remove: &[String],
) -> AppResult<Vec<D1PreparedStatement>> {
    let mut out = Vec::new();
    for tag in add {
        out.push(db.stmt(
            "INSERT OR IGNORE INTO ticket_tags (tenant_id, ticket_id, tag) VALUES (?, ?, ?)",
            params![tenant, ticket_id, tag],
        )?);
    }
    if !remove.is_empty() {
        let mut p: Vec<Val> = params![tenant, ticket_id];
        p.extend(remove.iter().map(Val::from));
        out.push(db.stmt(
            &format!(
                "DELETE FROM ticket_tags WHERE tenant_id = ? AND ticket_id = ? AND tag IN ({})",
                placeholders(remove.len())
            ),
            p,
        )?);
    }
    Ok(out)
}

/// An entry of a ticket's activity log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Event id (UUID).
    pub id: String,
    /// Staff id of who did it; `None` for Edgedesk itself.
    pub actor_id: Option<String>,
    /// Their display name.
    pub actor_name: Option<String>,
    /// What happened: `status`, `priority`, `category`, `assigned`, `tags`, `reply`, `note`, `merged`,
    /// `merged_from`, `draft_sent`, `draft_discarded`, `draft_regenerated`.
    pub kind: String,
    /// Details as a JSON object (e.g. `{"from","to"}`).
    #[serde(deserialize_with = "json_object")]
    pub detail: serde_json::Value,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A new activity-log entry.
pub struct NewEvent<'a> {
    /// Event id (UUID).
    pub id: String,
    /// Tenant id.
    pub tenant: &'a str,
    /// The ticket.
    pub ticket_id: &'a str,
    /// Who did it.
    pub actor_id: Option<&'a str>,
    /// See [`Event::kind`].
    pub kind: &'a str,
    /// JSON object.
    pub detail: serde_json::Value,
    /// RFC 3339 UTC.
    pub now: &'a str,
}

/// Statement recording an activity-log entry.
pub fn insert_event(db: &Db, e: &NewEvent<'_>) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO ticket_events (id, tenant_id, ticket_id, actor_id, kind, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![&e.id, e.tenant, e.ticket_id, e.actor_id, e.kind, e.detail.to_string(), e.now],
    )
}

/// The ticket's activity log, oldest first.
pub async fn events(db: &Db, tenant: &str, ticket_id: &str) -> AppResult<Vec<Event>> {
    db.all(
        "SELECT e.id, e.actor_id, s.name AS actor_name, e.kind, e.detail, e.created_at
         FROM ticket_events e LEFT JOIN staff s ON s.staff_id = e.actor_id
         WHERE e.tenant_id = ? AND e.ticket_id = ? ORDER BY e.created_at, e.rowid",
        params![tenant, ticket_id],
    )
    .await
}

/// A message written in Edgedesk rather than received: an internal note or a system message.
pub struct NewMessage<'a> {
    /// Message id (UUID).
    pub id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// The ticket.
    pub ticket_id: &'a str,
    /// `agent` (with `internal`) for notes, `system` for Edgedesk's own lines.
    pub sender_type: &'a str,
    /// Staff id of a note's author.
    pub sender_id: Option<&'a str>,
    /// Display name.
    pub sender_name: Option<&'a str>,
    /// Plain text.
    pub content: &'a str,
    /// Whether it is an internal note.
    pub internal: bool,
    /// RFC 3339 UTC.
    pub now: &'a str,
}

/// Statement inserting a note or system message (it touches nothing else).
pub fn insert_message(db: &Db, m: &NewMessage<'_>) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO ticket_messages (id, tenant_id, ticket_id, sender_type, sender_id, sender_name, content, internal, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![m.id, m.tenant, m.ticket_id, m.sender_type, m.sender_id, m.sender_name, m.content, m.internal, m.now],
    )
}

/// Statement resolving a ticket that was answered live (a chat or call transcript): first response at
/// `answered_at`, assignee, resolved `now`.
pub fn resolve_answered(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    answered_at: &str,
    assignee: Option<&str>,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE tickets SET status = 'resolved', resolved_at = ?, first_response_at = ?, assigned_to = ?,
           updated_at = ? WHERE tenant_id = ? AND ticket_id = ?",
        params![now, answered_at, assignee, now, tenant, ticket_id],
    )
}

/// Statement touching a ticket's `updated_at`.
pub fn touch(db: &Db, tenant: &str, ticket_id: &str, now: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE tickets SET updated_at = ? WHERE ticket_id = ? AND tenant_id = ?",
        params![now, ticket_id, tenant],
    )
}

/// Statements merging ticket `source` into `target` (same tenant): messages, e-mails (so later replies thread
/// into the target), drafts (open ones superseded) and tags move; the source is closed with `merged_into` (only
/// if it is not merged already). The target keeps its own first response and SLA. The caller adds the system
/// messages and events to the same batch, and deletes the source's Gmail drafts.
pub fn merge(
    db: &Db,
    tenant: &str,
    source: &str,
    target: &str,
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "UPDATE ticket_messages SET ticket_id = ? WHERE ticket_id = ? AND tenant_id = ?",
            params![target, source, tenant],
        )?,
        db.stmt(
            "UPDATE emails SET ticket_id = ? WHERE ticket_id = ? AND tenant_id = ?",
            params![target, source, tenant],
        )?,
        db.stmt(
            "INSERT OR IGNORE INTO ticket_tags (tenant_id, ticket_id, tag)
             SELECT tenant_id, ?, tag FROM ticket_tags WHERE ticket_id = ? AND tenant_id = ?",
            params![target, source, tenant],
        )?,
        db.stmt(
            "UPDATE drafts SET ticket_id = ?, updated_at = ?,
               status = CASE WHEN status IN ('pending', 'generated', 'created', 'failed') THEN 'superseded' ELSE status END
             WHERE ticket_id = ? AND tenant_id = ?",
            params![target, now, source, tenant],
        )?,
        db.stmt(
            "UPDATE tickets SET status = 'closed', merged_into = ?, updated_at = ?
             WHERE ticket_id = ? AND tenant_id = ? AND merged_into IS NULL",
            params![target, now, source, tenant],
        )?,
        touch(db, tenant, target, now)?,
    ])
}

/// Reads a JSON-object column (TEXT) as a JSON object value (`{}` when NULL or malformed).
fn json_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({})))
}

/// Reads a JSON-array column (TEXT, possibly NULL or malformed) as a JSON array value.
fn json_array<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .filter(serde_json::Value::is_array)
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new())))
}
