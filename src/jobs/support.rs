//! Live chat and voice sessions: starting them, the queue and auto-assignment, ending them into a ticket, and
//! abandoning them at the queue timeout. Rooms are `SignalingRoom` Durable Objects (binding `ROOMS`, one per
//! session, named by the room id); dashboards hear about changes through the tenant's `TenantHub`.
//!
//! Budget per call: [`dispatch`] assigns and notifies at most [`NOTIFY_MAX`] waiting sessions (one DO subrequest
//! each) plus one hub frame; ending a session writes its transcript in one D1 batch.

use crate::domain::rooms::{pick_agent, RoomKind};
use crate::domain::ticket::{ticket_number, Channel};
use crate::domain::{time, triage};
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::support::{self as store, Session};
use crate::storage::{customers, tickets, Db};
use worker::Env;

/// Most waiting sessions told their position (or assigned) per dispatch.
pub const NOTIFY_MAX: usize = 20;

/// Sends a request to a room's Durable Object.
async fn room_call(env: &Env, room_id: &str, path: &str, body: Option<String>) -> AppResult<()> {
    let stub = env
        .durable_object("ROOMS")?
        .id_from_name(room_id)?
        .get_stub()?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = worker::Request::new_with_init(&format!("https://room{path}"), &init)?;
    let res = stub.fetch_with_request(req).await?;
    if res.status_code() >= 300 {
        return Err(AppError::Internal(format!(
            "room {room_id}{path} answered {}",
            res.status_code()
        )));
    }
    Ok(())
}

/// Remembers the session in its room and sets the queue-timeout alarm (again after a call went back to the
/// queue).
pub async fn init_room(
    env: &Env,
    room_id: &str,
    session_id: &str,
    kind: &str,
    tenant: &str,
    timeout_secs: i64,
) -> AppResult<()> {
    room_call(
        env,
        room_id,
        "/init",
        Some(
            serde_json::json!({"tenant": tenant, "session_id": session_id, "kind": kind,
                "timeout_ms": timeout_secs * 1000})
            .to_string(),
        ),
    )
    .await
}

/// Sends a frame to everyone in a room; `sticky` frames are replayed to customers who connect later. Best
/// effort: a failure is logged.
pub async fn notify(env: &Env, room_id: &str, frame: serde_json::Value, sticky: bool) {
    let path = if sticky {
        "/notify?sticky=1"
    } else {
        "/notify"
    };
    if let Err(e) = room_call(env, room_id, path, Some(frame.to_string())).await {
        worker::console_warn!("room {room_id}: notice not delivered: {e}");
    }
}

/// Tells everyone the conversation ended and closes the room's sockets. Best effort.
pub async fn close_room(env: &Env, room_id: &str, reason: &str) {
    let q = serde_urlencoded::to_string([("reason", reason)]).unwrap_or_default();
    if let Err(e) = room_call(env, room_id, &format!("/close?{q}"), None).await {
        worker::console_warn!("room {room_id}: not closed: {e}");
    }
}

/// A `support` frame for the tenant's dashboards.
pub async fn announce(env: &Env, tenant: &str, event: &str, s: &Session, staff: Option<&str>) {
    crate::rooms::hub::publish(
        env,
        tenant,
        &serde_json::json!({"type": "support", "event": event, "session_id": s.id, "kind": s.kind,
            "staff_id": staff}),
    )
    .await;
}

/// Gives waiting sessions to online agents (when auto-assignment is on; oldest first, least-loaded agent under
/// the cap, round-robin on ties, never to someone who declined that call), then tells every session still waiting
/// its position. Returns the sessions assigned now.
pub async fn dispatch(env: &Env, db: &Db, tenant: &str) -> AppResult<Vec<Session>> {
    let settings = store::settings(db, tenant).await?;
    let queued = store::list(db, tenant, "queued", None, 100).await?;
    let mut assigned = Vec::new();
    let mut waiting = Vec::new();
    if settings.auto_assign_enabled && !queued.is_empty() {
        let mut online = store::online(db, tenant).await?;
        let cap = settings.max_concurrent_chats_per_agent.max(1) as u32;
        for s in queued {
            if assigned.len() >= NOTIFY_MAX {
                waiting.push(s);
                continue;
            }
            let declined: Vec<String> = serde_json::from_str(&s.declined_by).unwrap_or_default();
            let candidates: Vec<_> = online
                .iter()
                .filter(|a| !declined.contains(&a.staff_id))
                .cloned()
                .collect();
            let Some(pick) = pick_agent(&candidates, cap).cloned() else {
                waiting.push(s);
                continue;
            };
            let now = time::rfc3339(platform::now());
            if store::assign(
                db,
                tenant,
                &s.id,
                &pick.staff_id,
                i64::from(cap),
                None,
                "assigned",
                &now,
            )
            .await?
            {
                if let Some(a) = online.iter_mut().find(|a| a.staff_id == pick.staff_id) {
                    a.active += 1;
                    a.last_assigned_at = now.clone();
                }
                if let Some(fresh) = store::get(db, tenant, &s.id).await? {
                    assigned.push(fresh);
                }
            } else {
                waiting.push(s);
            }
        }
    } else {
        waiting = queued;
    }
    // The notices go out together (Durable Object subrequests, bounded by NOTIFY_MAX).
    let ring_at = platform::now_ms() + settings.ring_timeout_seconds * 1000;
    let mut work: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>> = Vec::new();
    for s in &assigned {
        work.push(Box::pin(notify(
            env,
            &s.room_id,
            serde_json::json!({"type": "assigned", "agent_name": s.assigned_name}),
            true,
        )));
        work.push(Box::pin(announce(
            env,
            tenant,
            "assigned",
            s,
            s.assigned_to.as_deref(),
        )));
        if s.kind == "voice" {
            work.push(Box::pin(async move {
                if let Err(e) =
                    room_call(env, &s.room_id, &format!("/ring?at={ring_at}"), None).await
                {
                    worker::console_warn!("room {}: ring alarm not set: {e}", s.room_id);
                }
            }));
        }
    }
    for (i, s) in waiting.iter().take(NOTIFY_MAX).enumerate() {
        work.push(Box::pin(notify(
            env,
            &s.room_id,
            serde_json::json!({"type": "queue", "position": i + 1}),
            true,
        )));
    }
    futures_util::future::join_all(work).await;
    Ok(assigned)
}

/// The transcript of an ended or abandoned session as a new ticket (channel `chat` or `voice`): customer lines
/// as customer messages, staff lines as agent messages, and a system line with the outcome. Answered sessions
/// are resolved (first response = the assignment); abandoned ones stay open for a follow-up. Returns the ticket id.
async fn transcript_ticket(
    db: &Db,
    tenant: &str,
    s: &Session,
    outcome: &str,
    now: &str,
) -> AppResult<String> {
    let kind = RoomKind::parse(&s.kind).unwrap_or(RoomKind::Chat);
    let messages = store::messages(db, tenant, &s.id).await?;
    let customer_text: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == "customer")
        .map(|m| m.text.as_str())
        .collect();
    let subject = match kind {
        RoomKind::Chat => format!("Chat with {}", s.customer_name),
        RoomKind::Voice => format!("Call with {}", s.customer_name),
    };
    let description = customer_text.first().copied().unwrap_or(match kind {
        RoomKind::Chat => "(the customer wrote nothing)",
        RoomKind::Voice => "(voice call)",
    });
    let tri = triage::triage(&subject, &customer_text.join("\n"));
    let created = time::parse_rfc3339(&s.created_at).unwrap_or_else(platform::now);
    let sla = time::rfc3339(triage::sla_due(created, tri.priority));
    let seq = tickets::reserve_numbers(db, tenant, 1).await?;
    let number = ticket_number(seq);
    let id = platform::uuid()?;
    let channel = match kind {
        RoomKind::Chat => Channel::Chat,
        RoomKind::Voice => Channel::Voice,
    };
    let mut stmts = vec![tickets::insert(
        db,
        &tickets::NewTicket {
            ticket_id: &id,
            tenant,
            ticket_number: &number,
            customer_email: s.customer_email.as_deref(),
            customer_name: Some(&s.customer_name),
            subject: &subject,
            description,
            priority: tri.priority.as_str(),
            category: tri.category.as_str(),
            channel: channel.as_str(),
            mailbox_id: None,
            sla_due_at: &sla,
            created_at: &s.created_at,
        },
    )?];
    if let Some(email) = &s.customer_email {
        if let Ok(who) = crate::domain::customers::Identity::email(email) {
            stmts.extend(customers::link_ticket(
                db,
                tenant,
                &id,
                &who,
                &platform::uuid()?,
                Some(&s.customer_name),
                now,
            )?);
        }
    }
    let message_ids: Vec<String> = messages
        .iter()
        .map(|_| platform::uuid())
        .collect::<Result<_, _>>()?;
    for (m, mid) in messages.iter().zip(&message_ids) {
        stmts.push(tickets::insert_message(
            db,
            &tickets::NewMessage {
                id: mid,
                tenant,
                ticket_id: &id,
                sender_type: if m.role == "customer" {
                    "customer"
                } else {
                    "agent"
                },
                sender_id: None,
                sender_name: Some(&m.sender_name),
                content: &m.text,
                internal: false,
                now: &m.created_at,
            },
        )?);
    }
    let system_id = platform::uuid()?;
    stmts.push(tickets::insert_message(
        db,
        &tickets::NewMessage {
            id: &system_id,
            tenant,
            ticket_id: &id,
            sender_type: "system",
            sender_id: None,
            sender_name: None,
            content: outcome,
            internal: false,
            now,
        },
    )?);
    if let Some(answered_at) = &s.first_assigned_at {
        stmts.push(tickets::resolve_answered(
            db,
            tenant,
            &id,
            answered_at,
            s.assigned_to.as_deref(),
            now,
        )?);
    }
    stmts.push(store::set_ticket(db, tenant, &s.id, &id)?);
    db.batch(stmts).await?;
    Ok(id)
}

fn minutes(from: &str, to: &str) -> String {
    match (time::parse_rfc3339(from), time::parse_rfc3339(to)) {
        (Some(a), Some(b)) => {
            let secs = (b - a).num_seconds().max(0);
            format!("{} min {} s", secs / 60, secs % 60)
        }
        _ => "unknown time".into(),
    }
}

/// How a session finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Ended by staff, or by the customer after someone took it.
    Ended,
    /// Nobody took it: the queue timeout, or the customer left while waiting.
    Abandoned,
}

/// Finishes a session: its status (once), the room closed (before the transcript is read, so nothing said after
/// is lost), the transcript ticket (answered: resolved; abandoned: open for a follow-up when the customer wrote or
/// left an e-mail), the activity entry, the dashboards told and the queue moved on. Resumable: a session already
/// finished but without its ticket (a failure half-way) is completed by the next call. `Ok(None)` when there is
/// nothing left to do. `close` is false when the room itself is the caller (its alarm).
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    env: &Env,
    db: &Db,
    tenant: &str,
    session_id: &str,
    how: Finish,
    reason: &str,
    actor: Option<&str>,
    close: bool,
) -> AppResult<Option<Session>> {
    let now = time::rfc3339(platform::now());
    let status = match how {
        Finish::Ended => "ended",
        Finish::Abandoned => "abandoned",
    };
    let changed = store::finish(db, tenant, session_id, status, reason, &now).await?;
    let Some(s) = store::get(db, tenant, session_id).await? else {
        return Ok(None);
    };
    let finished = matches!(s.status.as_str(), "ended" | "abandoned");
    if !finished || (!changed && s.ticket_id.is_some()) {
        return Ok(None);
    }
    let reason = s.end_reason.clone().unwrap_or_else(|| reason.to_string());
    if close {
        close_room(env, &s.room_id, &reason).await;
    }
    let what = if s.kind == "voice" { "Call" } else { "Chat" };
    let ended_at = s.ended_at.clone().unwrap_or_else(|| now.clone());
    let mut detail = serde_json::json!({"reason": reason});
    let wrote = !store::messages(db, tenant, session_id).await?.is_empty();
    if s.ticket_id.is_none() && (s.status == "ended" || wrote || s.customer_email.is_some()) {
        let outcome = match (&s.first_assigned_at, s.status.as_str()) {
            (Some(at), _) => format!(
                "{what} ended ({reason}) after {} with {}.",
                minutes(at, &ended_at),
                s.assigned_name.as_deref().unwrap_or("an agent")
            ),
            (None, "abandoned") => format!(
                "{what} abandoned ({reason}) after {} in the queue; nobody answered. Follow up with the customer.",
                minutes(&s.created_at, &ended_at)
            ),
            (None, _) => format!(
                "{what} ended ({reason}) before anyone answered, after {} in the queue.",
                minutes(&s.created_at, &ended_at)
            ),
        };
        let ticket = transcript_ticket(db, tenant, &s, &outcome, &now).await?;
        detail["ticket_id"] = ticket.into();
    }
    if changed {
        db.batch(vec![store::activity(
            db, tenant, session_id, actor, status, &detail, &now,
        )?])
        .await?;
    }
    announce(env, tenant, status, &s, actor).await;
    if let Err(e) = dispatch(env, db, tenant).await {
        worker::console_warn!("dispatch after {status} {session_id}: {e}");
    }
    store::get(db, tenant, session_id).await
}

/// Ends a session (staff): see [`finish`].
pub async fn end(
    env: &Env,
    db: &Db,
    tenant: &str,
    session_id: &str,
    actor: Option<&str>,
    reason: &str,
) -> AppResult<Option<Session>> {
    finish(
        env,
        db,
        tenant,
        session_id,
        Finish::Ended,
        reason,
        actor,
        true,
    )
    .await
}

/// The customer leaves: an answered session ends, a waiting one is abandoned.
pub async fn leave(
    env: &Env,
    db: &Db,
    tenant: &str,
    session_id: &str,
) -> AppResult<Option<Session>> {
    let how = match store::get(db, tenant, session_id).await? {
        Some(s) if s.status == "queued" => Finish::Abandoned,
        _ => Finish::Ended,
    };
    finish(
        env,
        db,
        tenant,
        session_id,
        how,
        "customer left",
        None,
        true,
    )
    .await
}

/// What a room's alarm did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmOutcome {
    /// The session waited past its deadline: abandoned; the room tells its peers and shuts.
    Abandoned,
    /// Set the alarm again at this Unix ms (a deadline ahead, or a call given to the next agent rings).
    Again(i64),
    /// A call rang out and is back in the queue: a new queue deadline (Unix ms), also the next alarm.
    Requeued(i64),
    /// Nothing to wait for.
    Done,
}

/// A room's alarm: a session still queued at `deadline_ms` is abandoned; a call that rang `ring_timeout_seconds` at an
/// agent without an answer goes back to the queue (that agent counts as having declined) and the next agent is
/// tried. Errors propagate, so the runtime retries the alarm.
pub async fn on_alarm(
    env: &Env,
    tenant: &str,
    session_id: &str,
    deadline_ms: i64,
) -> AppResult<AlarmOutcome> {
    let db = Db::new(env.d1("DB")?);
    let now_ms = platform::now_ms();
    let Some(s) = store::get(&db, tenant, session_id).await? else {
        return Ok(AlarmOutcome::Done);
    };
    match s.status.as_str() {
        "queued" if now_ms >= deadline_ms => {
            finish(
                env,
                &db,
                tenant,
                session_id,
                Finish::Abandoned,
                "queue timeout",
                None,
                false,
            )
            .await?;
            Ok(AlarmOutcome::Abandoned)
        }
        "queued" => Ok(AlarmOutcome::Again(deadline_ms)),
        "active" if s.kind == "voice" && store::ringing(&db, tenant, session_id).await? => {
            let settings = store::settings(&db, tenant).await?;
            let ring_ms = settings.ring_timeout_seconds * 1000;
            let since = s
                .assigned_at
                .as_deref()
                .and_then(time::parse_rfc3339)
                .map(|t| t.timestamp_millis())
                .unwrap_or(now_ms);
            if now_ms < since + ring_ms {
                return Ok(AlarmOutcome::Again(since + ring_ms));
            }
            let Some(agent) = s.assigned_to.clone() else {
                return Ok(AlarmOutcome::Done);
            };
            if store::decline(&db, tenant, session_id, &agent).await? {
                let now = time::rfc3339(platform::now());
                db.batch(vec![store::activity(
                    &db,
                    tenant,
                    session_id,
                    None,
                    "missed",
                    &serde_json::json!({"staff_id": agent}),
                    &now,
                )?])
                .await?;
                evict(env, &s.room_id, &agent).await;
                announce(env, tenant, "missed", &s, Some(&agent)).await;
                dispatch(env, &db, tenant).await?;
            }
            // Still queued → a fresh queue deadline; given to the next agent → that ring.
            let timeout_ms = settings.queue_timeout_seconds * 1000;
            match store::get(&db, tenant, session_id).await? {
                Some(n) if n.status == "queued" => Ok(AlarmOutcome::Requeued(now_ms + timeout_ms)),
                Some(n) if n.status == "active" => {
                    Ok(AlarmOutcome::Again(platform::now_ms() + ring_ms))
                }
                _ => Ok(AlarmOutcome::Done),
            }
        }
        _ => Ok(AlarmOutcome::Done),
    }
}

/// The room peer id of a staff member.
pub fn staff_peer_id(staff_id: &str) -> String {
    format!("a-{}", staff_id.chars().take(8).collect::<String>())
}

/// Closes a staff member's sockets in a room (they no longer have the conversation). Best effort.
pub async fn evict(env: &Env, room_id: &str, staff_id: &str) {
    let q = serde_urlencoded::to_string([("peer", staff_peer_id(staff_id))]).unwrap_or_default();
    if let Err(e) = room_call(env, room_id, &format!("/evict?{q}"), None).await {
        worker::console_warn!("room {room_id}: eviction failed: {e}");
    }
}
