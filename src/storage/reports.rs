//! The raw figures behind `GET /api/v1/reports/overview`: five D1 calls, aggregated in SQL where it is a
//! plain count and in Rust ([`crate::domain::stats`]) where it needs percentiles.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::Deserialize;

/// Tickets created per UTC day since `from`.
#[derive(Debug, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Tickets created that day (merged-away tickets not counted).
    pub n: i64,
}

/// Per-day creation counts since `from` (RFC 3339).
pub async fn created_per_day(db: &Db, tenant: &str, from: &str) -> AppResult<Vec<DayCount>> {
    db.all(
        "SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM tickets
         WHERE tenant_id = ? AND created_at >= ? AND merged_into IS NULL GROUP BY day",
        params![tenant, from],
    )
    .await
}

/// Timing of a ticket created in the range.
#[derive(Debug, Deserialize)]
pub struct Timing {
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when answered.
    pub first_response_at: Option<String>,
    /// RFC 3339, when resolved.
    pub resolved_at: Option<String>,
    /// RFC 3339.
    pub sla_due_at: Option<String>,
    /// Wire status.
    pub status: String,
}

/// Timings of the tickets created since `from`.
pub async fn timings(db: &Db, tenant: &str, from: &str) -> AppResult<Vec<Timing>> {
    db.all(
        "SELECT created_at, first_response_at, resolved_at, sla_due_at, status FROM tickets
         WHERE tenant_id = ? AND created_at >= ? AND merged_into IS NULL",
        params![tenant, from],
    )
    .await
}

/// Open work by status and priority.
#[derive(Debug, Deserialize)]
pub struct OpenCount {
    /// `open` or `pending`.
    pub status: String,
    /// Wire priority.
    pub priority: String,
    /// Tickets.
    pub n: i64,
}

/// Open and pending tickets now, by status and priority.
pub async fn open_counts(db: &Db, tenant: &str) -> AppResult<Vec<OpenCount>> {
    db.all(
        "SELECT status, priority, count(*) AS n FROM tickets
         WHERE tenant_id = ? AND status IN ('open', 'pending') GROUP BY status, priority",
        params![tenant],
    )
    .await
}

/// An agent's load.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct AgentLoad {
    /// Staff id.
    pub staff_id: String,
    /// Display name.
    pub name: String,
    /// Open tickets assigned now.
    pub open: i64,
    /// Pending tickets assigned now.
    pub pending: i64,
    /// E-mail replies sent since `from`.
    pub replies: i64,
}

/// Every active staff member's load now and replies since `from`.
pub async fn agent_load(db: &Db, tenant: &str, from: &str) -> AppResult<Vec<AgentLoad>> {
    db.all(
        "SELECT s.staff_id, s.name,
           (SELECT count(*) FROM tickets t WHERE t.tenant_id = s.tenant_id AND t.assigned_to = s.staff_id
              AND t.status = 'open') AS open,
           (SELECT count(*) FROM tickets t WHERE t.tenant_id = s.tenant_id AND t.assigned_to = s.staff_id
              AND t.status = 'pending') AS pending,
           (SELECT count(*) FROM ticket_messages m WHERE m.tenant_id = s.tenant_id AND m.sender_id = s.staff_id
              AND m.created_at >= ? AND m.sender_type = 'agent' AND m.internal = 0) AS replies
         FROM staff s WHERE s.tenant_id = ? AND s.status = 'active' ORDER BY lower(s.name)",
        params![from, tenant],
    )
    .await
}

/// How agents used AI drafts.
#[derive(Debug, Deserialize)]
pub struct DraftUse {
    /// Drafts sent by an agent (edited or not).
    pub sent: i64,
    /// Mean Levenshtein distance; `None` when none were sent.
    pub mean_edit_distance: Option<f64>,
    /// Sent without any change.
    pub unchanged: Option<i64>,
}

/// AI drafts sent by agents since `from`.
pub async fn draft_use(db: &Db, tenant: &str, from: &str) -> AppResult<DraftUse> {
    let r: Option<DraftUse> = db
        .first(
            "SELECT count(*) AS sent, avg(edit_distance) AS mean_edit_distance, sum(edit_distance = 0) AS unchanged
             FROM drafts WHERE tenant_id = ? AND sent_by IS NOT NULL AND sent_at >= ?",
            params![tenant, from],
        )
        .await?;
    Ok(r.unwrap_or(DraftUse {
        sent: 0,
        mean_edit_distance: None,
        unchanged: None,
    }))
}
