//! Live chat and voice sessions (`migrations/0009_support.sql`): settings, staff availability, sessions and their
//! queue, chat messages, voice calls and the activity log. Assignment is one conditional statement, so two
//! simultaneous assignments can never push an agent over the cap or give one session to two agents.

use super::Db;
use crate::domain::rooms::AgentLoad;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// Per-tenant live support settings (defaults of the old support module when unset).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Give waiting conversations to online agents automatically.
    #[serde(deserialize_with = "int_bool")]
    pub auto_assign_enabled: bool,
    /// Most active conversations per agent (auto-assignment and accept).
    pub max_concurrent_chats_per_agent: i64,
    /// Seconds a conversation may wait in the queue before it is abandoned.
    pub queue_timeout_seconds: i64,
    /// Seconds a call may ring at an agent before it goes back to the queue for the next one.
    pub ring_timeout_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_assign_enabled: true,
            max_concurrent_chats_per_agent: 5,
            queue_timeout_seconds: 300,
            ring_timeout_seconds: 30,
        }
    }
}

fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        I(i64),
        B(bool),
    }
    Ok(match B::deserialize(d)? {
        B::I(i) => i != 0,
        B::B(b) => b,
    })
}

/// The tenant's settings.
pub async fn settings(db: &Db, tenant: &str) -> AppResult<Settings> {
    Ok(db
        .first(
            "SELECT auto_assign_enabled, max_concurrent_chats_per_agent, queue_timeout_seconds,
               ring_timeout_seconds FROM support_settings WHERE tenant_id = ?",
            params![tenant],
        )
        .await?
        .unwrap_or_default())
}

/// Saves the tenant's settings.
pub async fn save_settings(db: &Db, tenant: &str, s: &Settings, now: &str) -> AppResult<()> {
    db.run(
        "INSERT INTO support_settings (tenant_id, auto_assign_enabled, max_concurrent_chats_per_agent,
           queue_timeout_seconds, ring_timeout_seconds, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET auto_assign_enabled = excluded.auto_assign_enabled,
           max_concurrent_chats_per_agent = excluded.max_concurrent_chats_per_agent,
           queue_timeout_seconds = excluded.queue_timeout_seconds,
           ring_timeout_seconds = excluded.ring_timeout_seconds, updated_at = excluded.updated_at",
        params![tenant, s.auto_assign_enabled, s.max_concurrent_chats_per_agent, s.queue_timeout_seconds,
            s.ring_timeout_seconds, now],
    )
    .await?;
    Ok(())
}

/// Sets a staff member's availability (`online|away|offline`).
pub async fn set_status(
    db: &Db,
    tenant: &str,
    staff_id: &str,
    status: &str,
    now: &str,
) -> AppResult<()> {
    db.run(
        "UPDATE staff SET support_status = ?, support_status_at = ? WHERE tenant_id = ? AND staff_id = ?",
        params![status, now, tenant, staff_id],
    )
    .await?;
    Ok(())
}

/// A staff member's availability and load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffLoad {
    /// Staff id.
    pub staff_id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// `online|away|offline`.
    pub support_status: String,
    /// Active chats.
    pub active_chats: i64,
    /// Active calls.
    pub active_calls: i64,
    /// RFC 3339, or null.
    pub last_assigned_at: Option<String>,
}

/// Every active staff member of the tenant with availability and load.
pub async fn loads(db: &Db, tenant: &str) -> AppResult<Vec<StaffLoad>> {
    db.all(
        "SELECT s.staff_id, s.name, s.role, s.support_status, s.last_assigned_at,
           (SELECT COUNT(*) FROM support_sessions x WHERE x.tenant_id = s.tenant_id AND x.assigned_to = s.staff_id
              AND x.status = 'active' AND x.kind = 'chat') AS active_chats,
           (SELECT COUNT(*) FROM support_sessions x WHERE x.tenant_id = s.tenant_id AND x.assigned_to = s.staff_id
              AND x.status = 'active' AND x.kind = 'voice') AS active_calls
         FROM staff s WHERE s.tenant_id = ? AND s.status = 'active' ORDER BY s.name",
        params![tenant],
    )
    .await
}

/// Online agents (any role) as assignment candidates.
pub async fn online(db: &Db, tenant: &str) -> AppResult<Vec<AgentLoad>> {
    Ok(loads(db, tenant)
        .await?
        .into_iter()
        .filter(|s| s.support_status == "online")
        .map(|s| AgentLoad {
            staff_id: s.staff_id,
            active: (s.active_chats + s.active_calls).max(0) as u32,
            last_assigned_at: s.last_assigned_at.unwrap_or_default(),
        })
        .collect())
}

/// A support session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Session id (the call id of a call).
    pub id: String,
    /// `chat|voice`.
    pub kind: String,
    /// Room (Durable Object name).
    pub room_id: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's e-mail.
    pub customer_email: Option<String>,
    /// The customer's peer id in the room.
    pub customer_peer_id: String,
    /// `queued|active|ended|abandoned`.
    pub status: String,
    /// Staff id.
    pub assigned_to: Option<String>,
    /// Assignee's name.
    pub assigned_name: Option<String>,
    /// Escalated to a supervisor.
    #[serde(deserialize_with = "int_bool")]
    pub escalated: bool,
    /// JSON array of staff ids.
    pub declined_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when someone first took it (the customer's wait ends here).
    pub first_assigned_at: Option<String>,
    /// RFC 3339: since when the current assignee has it.
    pub assigned_at: Option<String>,
    /// RFC 3339.
    pub ended_at: Option<String>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// The transcript's ticket.
    pub ticket_id: Option<String>,
}

const SESSION_COLUMNS: &str = "x.id, x.kind, x.room_id, x.customer_name, x.customer_email, x.customer_peer_id,
  x.status, x.assigned_to, s.name AS assigned_name, x.escalated, x.declined_by, x.created_at, x.first_assigned_at,
  x.assigned_at,
  x.ended_at, x.end_reason, x.ticket_id";
const SESSION_FROM: &str = "support_sessions x LEFT JOIN staff s ON s.staff_id = x.assigned_to";

/// A session of the tenant.
pub async fn get(db: &Db, tenant: &str, id: &str) -> AppResult<Option<Session>> {
    db.first(
        &format!("SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE x.tenant_id = ? AND x.id = ?"),
        params![tenant, id],
    )
    .await
}

/// The session of a room, with its tenant.
pub async fn by_room(db: &Db, room_id: &str) -> AppResult<Option<(String, Session)>> {
    #[derive(Deserialize)]
    struct T {
        tenant_id: String,
    }
    let t: Option<T> = db
        .first(
            "SELECT tenant_id FROM support_sessions WHERE room_id = ?",
            params![room_id],
        )
        .await?;
    let Some(t) = t else { return Ok(None) };
    let id: Option<Session> = db
        .first(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE x.tenant_id = ? AND x.room_id = ?"
            ),
            params![&t.tenant_id, room_id],
        )
        .await?;
    Ok(id.map(|s| (t.tenant_id, s)))
}

/// Sessions of the tenant with a status (`queued` oldest first; others newest first), at most `limit`;
/// `assignee` narrows to one staff member.
pub async fn list(
    db: &Db,
    tenant: &str,
    status: &str,
    assignee: Option<&str>,
    limit: u32,
) -> AppResult<Vec<Session>> {
    let order = if status == "queued" {
        "x.created_at, x.id"
    } else {
        "x.created_at DESC, x.id"
    };
    db.all(
        &format!(
            "SELECT {SESSION_COLUMNS} FROM {SESSION_FROM} WHERE x.tenant_id = ? AND x.status = ?
               AND (? IS NULL OR x.assigned_to = ?) ORDER BY {order} LIMIT ?"
        ),
        params![tenant, status, assignee, assignee, i64::from(limit)],
    )
    .await
}

/// A new session.
pub struct NewSession<'a> {
    /// Id (UUID).
    pub id: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// `chat|voice`.
    pub kind: &'a str,
    /// Room id.
    pub room_id: &'a str,
    /// Name.
    pub customer_name: &'a str,
    /// E-mail.
    pub customer_email: Option<&'a str>,
    /// Peer id.
    pub customer_peer_id: &'a str,
    /// RFC 3339.
    pub now: &'a str,
}

/// Statements creating a queued session (and its `voice_calls` row for a call).
pub fn insert(db: &Db, s: &NewSession<'_>) -> AppResult<Vec<D1PreparedStatement>> {
    let mut v = vec![db.stmt(
        "INSERT INTO support_sessions (id, tenant_id, kind, room_id, customer_name, customer_email, customer_peer_id,
           status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
        params![s.id, s.tenant, s.kind, s.room_id, s.customer_name, s.customer_email, s.customer_peer_id, s.now],
    )?];
    if s.kind == "voice" {
        v.push(db.stmt(
            "INSERT INTO voice_calls (id, tenant_id, requested_at) VALUES (?, ?, ?)",
            params![s.id, s.tenant, s.now],
        )?);
    }
    Ok(v)
}

/// Statement adding an activity-log entry.
pub fn activity(
    db: &Db,
    tenant: &str,
    session: &str,
    actor: Option<&str>,
    kind: &str,
    detail: &serde_json::Value,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO support_activity (id, tenant_id, session_id, actor_id, kind, detail, created_at)
         VALUES (lower(hex(randomblob(16))), ?, ?, ?, ?, ?, ?)",
        params![tenant, session, actor, kind, detail.to_string(), now],
    )
}

/// An activity-log entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    /// Staff id, or null (customer/system).
    pub actor_id: Option<String>,
    /// Actor's name.
    pub actor_name: Option<String>,
    /// What happened.
    pub kind: String,
    /// JSON text.
    pub detail: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A session's activity log, oldest first.
pub async fn activities(db: &Db, tenant: &str, session: &str) -> AppResult<Vec<Activity>> {
    db.all(
        "SELECT a.actor_id, s.name AS actor_name, a.kind, a.detail, a.created_at FROM support_activity a
         LEFT JOIN staff s ON s.staff_id = a.actor_id
         WHERE a.tenant_id = ? AND a.session_id = ? ORDER BY a.created_at, a.rowid",
        params![tenant, session],
    )
    .await
}

/// Assigns a queued session to `staff` if they have fewer than `cap` active sessions — one batch, so the
/// check and the write are atomic. Also stamps the round-robin time and logs `kind` (`assigned`/`accepted`).
/// Whether it was assigned.
#[allow(clippy::too_many_arguments)]
pub async fn assign(
    db: &Db,
    tenant: &str,
    session: &str,
    staff: &str,
    cap: i64,
    actor: Option<&str>,
    kind: &str,
    now: &str,
) -> AppResult<bool> {
    db.batch(vec![
        db.stmt(
            "UPDATE support_sessions SET status = 'active', assigned_to = ?, assigned_at = ?,
               first_assigned_at = COALESCE(first_assigned_at, ?)
             WHERE tenant_id = ? AND id = ? AND status = 'queued'
               AND (SELECT COUNT(*) FROM support_sessions y WHERE y.tenant_id = ? AND y.assigned_to = ?
                    AND y.status = 'active') < ?",
            params![staff, now, now, tenant, session, tenant, staff, cap],
        )?,
        db.stmt(
            "UPDATE staff SET last_assigned_at = ? WHERE tenant_id = ? AND staff_id = ?
               AND EXISTS (SELECT 1 FROM support_sessions WHERE id = ? AND assigned_to = ? AND assigned_at = ?)",
            params![now, tenant, staff, session, staff, now],
        )?,
        // A call taken from the queue by hand is answered at once; one the dispatcher gives is answered on accept.
        db.stmt(
            "UPDATE voice_calls SET answered_at = ? WHERE id = ? AND answered_at IS NULL AND ? = 'accepted'
               AND EXISTS (SELECT 1 FROM support_sessions WHERE id = ? AND assigned_to = ? AND assigned_at = ?)",
            params![now, session, kind, session, staff, now],
        )?,
        db.stmt(
            "INSERT INTO support_activity (id, tenant_id, session_id, actor_id, kind, detail, created_at)
             SELECT lower(hex(randomblob(16))), ?, ?, ?, ?, ?, ?
             WHERE EXISTS (SELECT 1 FROM support_sessions WHERE id = ? AND assigned_to = ? AND assigned_at = ?)",
            params![tenant, session, actor, kind, serde_json::json!({"staff_id": staff}).to_string(), now,
                session, staff, now],
        )?,
    ])
    .await?;
    Ok(get(db, tenant, session)
        .await?
        .is_some_and(|s| s.status == "active" && s.assigned_to.as_deref() == Some(staff)))
}

/// Gives an active session to another staff member (transfer or escalation); whether it changed.
pub async fn reassign(
    db: &Db,
    tenant: &str,
    session: &str,
    to: &str,
    escalated: bool,
    now: &str,
) -> AppResult<bool> {
    Ok(db
        .run(
            "UPDATE support_sessions SET assigned_to = ?, assigned_at = ?, escalated = MAX(escalated, ?)
             WHERE tenant_id = ? AND id = ? AND status = 'active'",
            params![to, now, escalated, tenant, session],
        )
        .await?
        > 0)
}

/// A call its assignee declined (or let ring out) before answering goes back to the queue, remembering who;
/// whether it changed (answered calls and chats cannot be declined).
pub async fn decline(db: &Db, tenant: &str, session: &str, staff: &str) -> AppResult<bool> {
    Ok(db
        .run(
            "UPDATE support_sessions SET status = 'queued', assigned_to = NULL, assigned_at = NULL,
               declined_by = json_insert(declined_by, '$[#]', ?)
             WHERE tenant_id = ? AND id = ? AND status = 'active' AND assigned_to = ? AND kind = 'voice'
               AND (SELECT answered_at FROM voice_calls WHERE id = ?) IS NULL",
            params![staff, tenant, session, staff, session],
        )
        .await?
        > 0)
}

/// Ends a queued or active session (`ended`), or abandons a queued one (`abandoned`); the call row gets its end
/// and duration. Whether this call ended it (a second end does nothing).
pub async fn finish(
    db: &Db,
    tenant: &str,
    session: &str,
    status: &str,
    reason: &str,
    now: &str,
) -> AppResult<bool> {
    let from = if status == "abandoned" {
        "('queued')"
    } else {
        "('queued', 'active')"
    };
    let changed = db
        .run(
            &format!(
                "UPDATE support_sessions SET status = ?, ended_at = ?, end_reason = ?
                 WHERE tenant_id = ? AND id = ? AND status IN {from}"
            ),
            params![status, now, reason, tenant, session],
        )
        .await?
        > 0;
    if changed {
        db.run(
            "UPDATE voice_calls SET ended_at = ?, end_reason = ?,
               duration_seconds = CASE WHEN answered_at IS NULL THEN 0
                 ELSE CAST(ROUND((julianday(?) - julianday(answered_at)) * 86400) AS INTEGER) END
             WHERE id = ? AND tenant_id = ? AND ended_at IS NULL",
            params![now, reason, now, session, tenant],
        )
        .await?;
    }
    Ok(changed)
}

/// Links the transcript's ticket.
pub fn set_ticket(
    db: &Db,
    tenant: &str,
    session: &str,
    ticket: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE support_sessions SET ticket_id = ? WHERE tenant_id = ? AND id = ?",
        params![ticket, tenant, session],
    )
}

/// A stored chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Id.
    pub id: String,
    /// Sender peer id.
    pub peer_id: String,
    /// `customer|agent|supervisor`.
    pub role: String,
    /// Sender name.
    pub sender_name: String,
    /// Masked text.
    pub text: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A new chat message (already masked).
pub struct NewChatMessage<'a> {
    /// Id.
    pub id: &'a str,
    /// Tenant.
    pub tenant: &'a str,
    /// Session.
    pub session: &'a str,
    /// Peer id.
    pub peer_id: &'a str,
    /// Role.
    pub role: &'a str,
    /// Name.
    pub sender_name: &'a str,
    /// Masked text.
    pub text: &'a str,
    /// RFC 3339.
    pub now: &'a str,
}

/// Stores a chat message.
pub async fn add_message(db: &Db, m: &NewChatMessage<'_>) -> AppResult<()> {
    db.run(
        "INSERT INTO chat_messages (id, tenant_id, session_id, peer_id, role, sender_name, text, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![m.id, m.tenant, m.session, m.peer_id, m.role, m.sender_name, m.text, m.now],
    )
    .await?;
    Ok(())
}

/// A session's chat messages, oldest first.
pub async fn messages(db: &Db, tenant: &str, session: &str) -> AppResult<Vec<ChatMessage>> {
    db.all(
        "SELECT id, peer_id, role, sender_name, text, created_at FROM chat_messages
         WHERE tenant_id = ? AND session_id = ? ORDER BY created_at, rowid",
        params![tenant, session],
    )
    .await
}

/// Live support figures since `since` (RFC 3339).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// Chats in progress.
    pub active_chats: i64,
    /// Calls in progress.
    pub active_calls: i64,
    /// Waiting now.
    pub queued: i64,
    /// Staff online now.
    pub online_staff: i64,
    /// Sessions created since `since`.
    pub sessions: i64,
    /// Of those, abandoned.
    pub abandoned: i64,
    /// Mean seconds from request to assignment, of those assigned.
    pub average_wait_seconds: Option<f64>,
}

/// Figures for the metrics endpoint.
pub async fn metrics(db: &Db, tenant: &str, since: &str) -> AppResult<Metrics> {
    Ok(db
        .first(
            "SELECT
               (SELECT COUNT(*) FROM support_sessions WHERE tenant_id = ?1 AND status = 'active' AND kind = 'chat') AS active_chats,
               (SELECT COUNT(*) FROM support_sessions WHERE tenant_id = ?1 AND status = 'active' AND kind = 'voice') AS active_calls,
               (SELECT COUNT(*) FROM support_sessions WHERE tenant_id = ?1 AND status = 'queued') AS queued,
               (SELECT COUNT(*) FROM staff WHERE tenant_id = ?1 AND status = 'active' AND support_status = 'online') AS online_staff,
               (SELECT COUNT(*) FROM support_sessions WHERE tenant_id = ?1 AND created_at >= ?2) AS sessions,
               (SELECT COUNT(*) FROM support_sessions WHERE tenant_id = ?1 AND created_at >= ?2 AND status = 'abandoned') AS abandoned,
               (SELECT AVG((julianday(first_assigned_at) - julianday(created_at)) * 86400) FROM support_sessions
                  WHERE tenant_id = ?1 AND created_at >= ?2 AND first_assigned_at IS NOT NULL) AS average_wait_seconds",
            params![tenant, since],
        )
        .await?
        .unwrap_or(Metrics {
            active_chats: 0,
            active_calls: 0,
            queued: 0,
            online_staff: 0,
            sessions: 0,
            abandoned: 0,
            average_wait_seconds: None,
        }))
}

/// Answers a call the dispatcher gave `staff` (its `voice_calls.answered_at`, once) and logs `accepted` (once).
pub async fn answer(db: &Db, tenant: &str, session: &str, staff: &str, now: &str) -> AppResult<()> {
    db.batch(vec![
        db.stmt(
            "INSERT INTO support_activity (id, tenant_id, session_id, actor_id, kind, detail, created_at)
             SELECT lower(hex(randomblob(16))), ?, ?, ?, 'accepted', ?, ?
             WHERE EXISTS (SELECT 1 FROM voice_calls WHERE tenant_id = ? AND id = ? AND answered_at IS NULL)",
            params![tenant, session, staff, serde_json::json!({"staff_id": staff}).to_string(), now,
                tenant, session],
        )?,
        db.stmt(
            "UPDATE voice_calls SET answered_at = ? WHERE tenant_id = ? AND id = ? AND answered_at IS NULL",
            params![now, tenant, session],
        )?,
    ])
    .await
}

/// Flags a session for supervisors (escalated with nobody online to take it).
pub async fn flag_escalated(db: &Db, tenant: &str, session: &str) -> AppResult<()> {
    db.run(
        "UPDATE support_sessions SET escalated = 1 WHERE tenant_id = ? AND id = ?",
        params![tenant, session],
    )
    .await?;
    Ok(())
}

/// A call's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    /// = session id.
    pub id: String,
    /// RFC 3339.
    pub requested_at: String,
    /// RFC 3339.
    pub answered_at: Option<String>,
    /// RFC 3339.
    pub ended_at: Option<String>,
    /// Seconds answered → ended.
    pub duration_seconds: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

/// The `voice_calls` row of a call.
pub async fn call(db: &Db, tenant: &str, session: &str) -> AppResult<Option<Call>> {
    db.first(
        "SELECT id, requested_at, answered_at, ended_at, duration_seconds, end_reason FROM voice_calls
         WHERE tenant_id = ? AND id = ?",
        params![tenant, session],
    )
    .await
}

/// Whether a call is still ringing (assigned, not answered).
pub async fn ringing(db: &Db, tenant: &str, session: &str) -> AppResult<bool> {
    #[derive(Deserialize)]
    struct R {
        n: i64,
    }
    let r: Option<R> = db
        .first(
            "SELECT COUNT(*) AS n FROM support_sessions x JOIN voice_calls c ON c.id = x.id
             WHERE x.tenant_id = ? AND x.id = ? AND x.status = 'active' AND c.answered_at IS NULL",
            params![tenant, session],
        )
        .await?;
    Ok(r.is_some_and(|r| r.n > 0))
}
