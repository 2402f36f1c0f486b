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

/// Remembers the session in its room and sets the queue-timeout alarm.
pub async fn init_room(env: &Env, s: &Session, tenant: &str, timeout_secs: i64) -> AppResult<()> {
    room_call(
        env,
        &s.room_id,
        "/init",
        Some(
            serde_json::json!({"tenant": tenant, "session_id": s.id, "kind": s.kind,
                "timeout_ms": timeout_secs * 1000})
            .to_string(),
        ),
    )
    .await
}

/// Sends a frame to everyone in a room; `sticky` frames are replayed to customers who connect later. Best
/// effort: a failure is logged.
pub async fn notify(env: &Env, room_id: &str, frame: &serde_json::Value, sticky: bool) {
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
    for s in &assigned {
        notify(
            env,
            &s.room_id,
            &serde_json::json!({"type": "assigned", "agent_name": s.assigned_name}),
            true,
        )
        .await;
        announce(env, tenant, "assigned", s, s.assigned_to.as_deref()).await;
    }
    for (i, s) in waiting.iter().take(NOTIFY_MAX).enumerate() {
        notify(
            env,
            &s.room_id,
            &serde_json::json!({"type": "queue", "position": i + 1}),
            true,
        )
        .await;
    }
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
    if let Some(assigned_at) = &s.assigned_at {
        stmts.push(tickets::resolve_answered(
            db,
            tenant,
            &id,
            assigned_at,
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

/// Ends a session (customer, agent or supervisor): the transcript becomes a ticket, the room is closed, the
/// dashboards told, and the freed agent gets the next waiting session. `Ok(None)` when it had already ended.
pub async fn end(
    env: &Env,
    db: &Db,
    tenant: &str,
    session_id: &str,
    actor: Option<&str>,
    reason: &str,
) -> AppResult<Option<Session>> {
    let now = time::rfc3339(platform::now());
    if !store::finish(db, tenant, session_id, "ended", reason, &now).await? {
        return Ok(None);
    }
    let s = store::get(db, tenant, session_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("session {session_id} not found")))?;
    let what = if s.kind == "voice" { "Call" } else { "Chat" };
    let outcome = match &s.assigned_at {
        Some(at) => format!(
            "{what} ended ({reason}) after {} with {}.",
            minutes(at, &now),
            s.assigned_name.as_deref().unwrap_or("an agent")
        ),
        None => format!(
            "{what} ended ({reason}) before anyone answered, after {} in the queue.",
            minutes(&s.created_at, &now)
        ),
    };
    let ticket = transcript_ticket(db, tenant, &s, &outcome, &now).await?;
    db.batch(vec![store::activity(
        db,
        tenant,
        session_id,
        actor,
        "ended",
        &serde_json::json!({"reason": reason, "ticket_id": ticket}),
        &now,
    )?])
    .await?;
    close_room(env, &s.room_id, reason).await;
    announce(env, tenant, "ended", &s, actor).await;
    if let Err(e) = dispatch(env, db, tenant).await {
        worker::console_warn!("dispatch after ending {session_id}: {e}");
    }
    store::get(db, tenant, session_id).await
}

/// The room's alarm: a session still queued at its timeout is abandoned (its transcript, if the customer wrote,
/// becomes an open ticket), logged, and the queue moves up. Whether it was abandoned now. The room itself tells
/// its peers and closes their sockets.
pub async fn abandon(env: &Env, tenant: &str, session_id: &str) -> AppResult<bool> {
    let db = Db::new(env.d1("DB")?);
    let now = time::rfc3339(platform::now());
    if !store::finish(&db, tenant, session_id, "abandoned", "queue timeout", &now).await? {
        return Ok(false);
    }
    let Some(s) = store::get(&db, tenant, session_id).await? else {
        return Ok(false);
    };
    let mut detail = serde_json::json!({"waited": minutes(&s.created_at, &now)});
    if !store::messages(&db, tenant, session_id).await?.is_empty() || s.customer_email.is_some() {
        let what = if s.kind == "voice" { "Call" } else { "Chat" };
        let outcome = format!(
            "{what} abandoned: nobody answered within the queue timeout ({}). Follow up with the customer.",
            minutes(&s.created_at, &now)
        );
        let ticket = transcript_ticket(&db, tenant, &s, &outcome, &now).await?;
        detail["ticket_id"] = ticket.into();
    }
    db.batch(vec![store::activity(
        &db,
        tenant,
        session_id,
        None,
        "abandoned",
        &detail,
        &now,
    )?])
    .await?;
    announce(env, tenant, "abandoned", &s, None).await;
    dispatch(env, &db, tenant).await?;
    Ok(true)
}
