//! Writing on a ticket (authenticated; the ticket rules of [`super::tickets::find_visible`] apply):
//! - `POST /api/v1/tickets/{id}/reply {"content","draft_id"?,"status"?}` → 201 `{"message","ticket"}`: sends
//!   through Gmail in the ticket's thread (`In-Reply-To`/`References` of the customer's newest mail), records
//!   the agent message and `first_response_at`. With `draft_id`, the Levenshtein distance between that AI
//!   draft and the sent text is stored on the draft and in a `draft_sent` event. `status` is applied after.
//! - `POST /api/v1/tickets/{id}/notes {"content"}` → 201 `{"message"}`: an internal note (never e-mailed, never
//!   in an LLM prompt).
//! - `POST /api/v1/tickets/{id}/draft/regenerate` → `{"draft"}`; `DELETE /api/v1/tickets/{id}/draft` → 204.
//!
//! Gmail failures answer 502 and record nothing (the reply can be sent again).

use super::extract::{context, ApiJson, Staff};
use super::tickets::{announce, event, find_visible};
use super::AppState;
use crate::domain::draft::edit_distance;
use crate::domain::ticket::Status;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::drafts as draft_job;
use crate::jobs::reply::{self, Outbox, ReplyTo};
use crate::platform;
use crate::storage::{drafts, tickets};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

/// Largest reply or note, in characters.
pub const MAX_CONTENT_CHARS: usize = 50_000;

/// Reply, note and draft routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets/{id}/reply", post(reply))
        .route("/api/v1/tickets/{id}/notes", post(note))
        .route("/api/v1/tickets/{id}/draft/regenerate", post(regenerate))
        .route("/api/v1/tickets/{id}/draft", axum::routing::delete(discard))
}

fn content(text: &str) -> AppResult<&str> {
    let t = text.trim();
    if t.is_empty() {
        return Err(AppError::Validation("content must not be empty".into()));
    }
    if t.chars().count() > MAX_CONTENT_CHARS {
        return Err(AppError::Validation(format!(
            "content: at most {MAX_CONTENT_CHARS} characters"
        )));
    }
    Ok(t)
}

/// Body of `POST /api/v1/tickets/{id}/reply`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The plain-text reply; trimmed, 1–50 000 characters (422).
    pub content: String,
    /// The AI draft the text started from, if any (its edit distance is recorded).
    pub draft_id: Option<String>,
    /// Status to set after sending (`open|pending|resolved|closed`); default unchanged.
    pub status: Option<String>,
}

#[worker::send]
async fn reply(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let text = content(&body.content)?;
    let status = body.status.map(|s| s.parse::<Status>()).transpose()?;
    let (cfg, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    if crate::storage::customers::ticket_customer_blocked(&db, &me.tenant, &ticket.ticket_id)
        .await?
    {
        return Err(AppError::Conflict(
            "this customer is blocked: no replies are sent (unblock them first)".into(),
        ));
    }
    // The draft the text started from; one without text (still being generated) is simply not compared.
    let draft_text = match &body.draft_id {
        Some(d) => drafts::content_of(&db, &me.tenant, &ticket.ticket_id, d)
            .await?
            .ok_or_else(|| {
                AppError::Validation(format!("draft_id: {d} is not a draft of this ticket"))
            })?,
        None => None,
    };
    let used_draft = body.draft_id.as_deref().zip(draft_text.as_deref());
    if ticket.channel == "sms" {
        let r = sms_reply(&state, &me, &ticket, text, status).await?;
        record_draft_use(&db, &me, &ticket.ticket_id, used_draft, text).await;
        return Ok(r);
    }
    if ticket.channel == "facebook" || ticket.channel == "instagram" {
        let r = dm_reply(&state, &me, &ticket, text, status).await?;
        record_draft_use(&db, &me, &ticket.ticket_id, used_draft, text).await;
        return Ok(r);
    }
    let outbox = Outbox::for_ticket(&db, &cfg, &me.tenant, &ticket).await?;
    let gmail = outbox.gmail(&cfg);
    let to_customer = ReplyTo {
        answered: &outbox.answered,
        to: &outbox.to,
        to_name: ticket.customer_name.as_deref(),
        fallback_subject: &ticket.subject,
    };
    let (sent, mut stmts) = reply::send(
        &db,
        &gmail,
        &cfg,
        &outbox.mb,
        &me.tenant,
        &ticket.ticket_id,
        &to_customer,
        text,
        Some(&me.id),
    )
    .await?
    .map_err(|e| AppError::Upstream(format!("sending through Gmail failed: {e}")))?;
    let now = sent.sent_at.clone();
    stmts.push(event(
        &db,
        &me,
        &ticket.ticket_id,
        "reply",
        serde_json::json!({"message_id": sent.message_id}),
        &now,
    )?);
    stmts.extend(status_after_send(&db, &me, &ticket, status, &now)?);
    db.batch(stmts).await?;
    // The ticket's AI drafts are moot now: superseded, and deleted from Gmail so nobody sends a second reply. The
    // mail is out: a failure here is logged, never answered as an error (the agent would send again).
    if let Err(e) =
        draft_job::retire_gmail_drafts(&db, &gmail, &me.tenant, &ticket.ticket_id, true).await
    {
        worker::console_warn!("retiring drafts of {}: {e}", ticket.ticket_number);
    }
    record_draft_use(&db, &me, &ticket.ticket_id, used_draft, text).await;
    let fresh = tickets::get(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .ok_or_else(|| AppError::NotFound("the ticket vanished".into()))?;
    announce(&state, &me.tenant, "message", &fresh).await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": {
            "id": sent.message_id, "sender_type": "agent", "sender_id": me.id, "sender_name": cfg.support_name,
            "sender_email": outbox.mb.address, "content": text, "created_at": sent.sent_at,
            "gmail_message_id": sent.gmail_message_id, "gmail_thread_id": sent.gmail_thread_id,
            "message_id_header": sent.rfc_message_id, "attachments": [],
        }, "ticket": fresh})),
    ))
}

/// Statements applying the status the agent chose to set with a reply (`None` or the current status: nothing),
/// with its activity-log entry; shared by the e-mail, SMS and DM replies.
fn status_after_send(
    db: &crate::storage::Db,
    me: &Staff,
    ticket: &tickets::Ticket,
    status: Option<Status>,
    now: &str,
) -> AppResult<Vec<worker::D1PreparedStatement>> {
    let Some(s) = status.filter(|s| s.as_str() != ticket.status) else {
        return Ok(Vec::new());
    };
    let patch = tickets::Patch {
        status: Some(s.to_string()),
        resolved_at: s.resolved_at_after(now),
        ..tickets::Patch::default()
    };
    Ok(vec![
        tickets::patch(db, &me.tenant, &ticket.ticket_id, &patch, now)?,
        event(
            db,
            me,
            &ticket.ticket_id,
            "status",
            serde_json::json!({"from": ticket.status, "to": s.as_str()}),
            now,
        )?,
    ])
}

/// Records how much the agent changed the AI draft the reply started from (`draft_id` and its text): the
/// draft becomes `sent` with the Levenshtein distance, and a `draft_sent` event. Best effort after sending.
async fn record_draft_use(
    db: &crate::storage::Db,
    me: &Staff,
    ticket_id: &str,
    used: Option<(&str, &str)>,
    text: &str,
) {
    let Some((draft_id, draft)) = used else {
        return;
    };
    let now = time::rfc3339(platform::now());
    let distance = edit_distance(draft, text) as i64;
    let sent_len = text.chars().count() as i64;
    let recorded = async {
        db.batch(vec![
            drafts::record_agent_send(db, &me.tenant, draft_id, distance, sent_len, &me.id, &now)?,
            event(
                db,
                me,
                ticket_id,
                "draft_sent",
                serde_json::json!({
                    "draft_id": draft_id, "edit_distance": distance,
                    "draft_length": draft.trim().chars().count(), "reply_length": sent_len,
                }),
                &now,
            )?,
        ])
        .await
    };
    if let Err(e) = recorded.await {
        worker::console_warn!("recording the edit distance on {ticket_id}: {e}");
    }
}

/// An agent's reply on an SMS ticket: sent through Twilio from the number the customer texted (never to a number
/// that opted out: 409), recorded as the agent's message and the first response.
async fn sms_reply(
    state: &AppState,
    me: &Staff,
    ticket: &tickets::Ticket,
    text: &str,
    status: Option<Status>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    use crate::storage::cs as cs_store;
    if text.chars().count() > crate::jobs::cs::MAX_SMS_CHARS {
        return Err(AppError::Validation(format!(
            "content: an SMS reply has at most {} characters",
            crate::jobs::cs::MAX_SMS_CHARS
        )));
    }
    let (cfg, db) = context(state)?;
    let conv = cs_store::ticket_conversation(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("this SMS ticket has no conversation to reply in".into())
        })?;
    if cs_store::opted_out(&db, &me.tenant, &conv.phone_number).await? {
        return Err(AppError::Conflict(
            "the customer replied STOP: nothing can be sent to this number until they text START"
                .into(),
        ));
    }
    let base = cfg.public_base_url.clone().unwrap_or_default();
    let cs = crate::jobs::cs::Cs::load(db.clone(), cfg, &me.tenant, &base)
        .await?
        .ok_or_else(|| AppError::Conflict("customer service is not configured".into()))?;
    let sid = cs
        .send_sms(&conv.our_number, &conv.phone_number, text)
        .await
        .map_err(|e| AppError::Upstream(format!("sending through Twilio failed: {e}")))?;
    let now = time::rfc3339(platform::now());
    let message_id = platform::uuid()?;
    let mut stmts = cs_store::insert_message(
        &db,
        &cs_store::PhoneMessage {
            id: &message_id,
            tenant: &me.tenant,
            ticket_id: &ticket.ticket_id,
            sender_type: "agent",
            sender_id: Some(&me.id),
            sender_name: &me.name,
            sender_phone: &conv.our_number,
            content: text,
            twilio_sid: Some(&sid),
            now: &now,
        },
    )?;
    stmts.push(tickets::record_response(&db, &ticket.ticket_id, &now)?);
    stmts.push(event(
        &db,
        me,
        &ticket.ticket_id,
        "reply",
        serde_json::json!({"message_id": message_id, "via": "sms"}),
        &now,
    )?);
    stmts.extend(status_after_send(&db, me, ticket, status, &now)?);
    if let Err(e) = db.batch(stmts).await {
        worker::console_error!("SMS sent but not recorded on {}: {e}", ticket.ticket_number);
        return Err(e);
    }
    let fresh = tickets::get(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .ok_or_else(|| AppError::NotFound("the ticket vanished".into()))?;
    announce(state, &me.tenant, "message", &fresh).await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": {
            "id": message_id, "sender_type": "agent", "sender_id": me.id, "sender_name": me.name,
            "sender_email": conv.our_number, "content": text, "created_at": now, "twilio_sid": sid,
            "attachments": [],
        }, "ticket": fresh})),
    ))
}

/// An agent's reply on a Messenger or Instagram ticket through the Send API (inside the 24-hour window, never to a
/// blocked customer: 409, nothing sent).
async fn dm_reply(
    state: &AppState,
    me: &Staff,
    ticket: &tickets::Ticket,
    text: &str,
    status: Option<Status>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let (cfg, db) = context(state)?;
    let conf = crate::storage::meta::config(&db, &me.tenant)
        .await?
        .ok_or_else(|| AppError::Conflict("Instagram/Messenger is not configured".into()))?;
    // Meta's limits: 2 000 characters on Messenger, 1 000 bytes on Instagram.
    let too_long = if ticket.channel == "instagram" {
        text.len() > 1000
    } else {
        text.chars().count() > 2000
    };
    if too_long {
        return Err(AppError::Validation(format!(
            "content: too long for {} (Messenger: 2 000 characters, Instagram: 1 000 bytes)",
            ticket.channel
        )));
    }
    let meta = crate::jobs::meta::Meta::new(db.clone(), cfg, conf).await?;
    let mid = meta.reply(ticket, text).await?;
    let now = time::rfc3339(platform::now());
    let message_id = platform::uuid()?;
    crate::storage::meta::insert_message(
        &db,
        &message_id,
        &me.tenant,
        &ticket.ticket_id,
        "agent",
        Some(&me.id),
        Some(&me.name),
        text,
        &mid,
        &now,
    )
    .await?;
    let mut stmts = vec![
        tickets::record_response(&db, &ticket.ticket_id, &now)?,
        // The ticket's drafts are answered now (the one used is marked sent by the caller).
        drafts::supersede(&db, &ticket.ticket_id, true, &now)?,
        event(
            &db,
            me,
            &ticket.ticket_id,
            "reply",
            serde_json::json!({"message_id": message_id, "via": ticket.channel}),
            &now,
        )?,
    ];
    stmts.extend(status_after_send(&db, me, ticket, status, &now)?);
    db.batch(stmts).await?;
    let fresh = tickets::get(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .ok_or_else(|| AppError::NotFound("the ticket vanished".into()))?;
    announce(state, &me.tenant, "message", &fresh).await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": {
            "id": message_id, "sender_type": "agent", "sender_id": me.id, "sender_name": me.name,
            "content": text, "created_at": now, "meta_mid": mid, "attachments": [],
        }, "ticket": fresh})),
    ))
}

/// Body of `POST /api/v1/tickets/{id}/notes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note; trimmed, 1–50 000 characters.
    pub content: String,
}

#[worker::send]
async fn note(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let text = content(&body.content)?;
    let (_, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    let now = time::rfc3339(platform::now());
    let message_id = platform::uuid()?;
    db.batch(vec![
        tickets::insert_message(
            &db,
            &tickets::NewMessage {
                id: &message_id,
                tenant: &me.tenant,
                ticket_id: &ticket.ticket_id,
                sender_type: "agent",
                sender_id: Some(&me.id),
                sender_name: Some(&me.name),
                content: text,
                internal: true,
                now: &now,
            },
        )?,
        tickets::touch(&db, &me.tenant, &ticket.ticket_id, &now)?,
        event(
            &db,
            &me,
            &ticket.ticket_id,
            "note",
            serde_json::json!({"message_id": message_id}),
            &now,
        )?,
    ])
    .await?;
    announce(&state, &me.tenant, "message", &ticket).await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": {
            "id": message_id, "sender_type": "note", "sender_id": me.id, "sender_name": me.name,
            "content": text, "created_at": now, "attachments": [],
        }})),
    ))
}

#[worker::send]
async fn regenerate(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    if ticket.channel == "facebook" || ticket.channel == "instagram" {
        return regenerate_dm(&state, &me, &ticket).await;
    }
    let outbox = Outbox::for_ticket(&db, &cfg, &me.tenant, &ticket).await?;
    let gmail = outbox.gmail(&cfg);
    draft_job::regenerate(
        &db,
        &outbox.http,
        &gmail,
        &cfg,
        &outbox.mb,
        &me.tenant,
        &ticket.ticket_id,
    )
    .await?
    .map_err(|why| AppError::Upstream(format!("the draft could not be generated: {why}")))?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![event(
        &db,
        &me,
        &ticket.ticket_id,
        "draft_regenerated",
        serde_json::json!({}),
        &now,
    )?])
    .await?;
    let draft = drafts::latest(&db, &me.tenant, &ticket.ticket_id).await?;
    announce(&state, &me.tenant, "updated", &ticket).await;
    Ok(Json(serde_json::json!({"draft": draft})))
}

/// Regenerates the AI draft of a Messenger/Instagram ticket for its newest customer message.
async fn regenerate_dm(
    state: &AppState,
    me: &Staff,
    ticket: &tickets::Ticket,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(state)?;
    let conf = crate::storage::meta::config(&db, &me.tenant)
        .await?
        .ok_or_else(|| AppError::Conflict("Instagram/Messenger is not configured".into()))?;
    let meta = crate::jobs::meta::Meta::new(db.clone(), cfg, conf).await?;
    let newest = tickets::messages(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .into_iter()
        .rev()
        .find(|m| m.sender_type == "customer")
        .ok_or_else(|| {
            AppError::Conflict("this ticket has no customer message to answer".into())
        })?;
    // One draft per message: the message's draft row is replaced.
    let now = time::rfc3339(platform::now());
    db.batch(vec![drafts::remove_for_message(
        &db, &me.tenant, &newest.id,
    )?])
    .await?;
    meta.draft(&crate::jobs::meta::Recorded {
        customer_id: ticket.customer_id.clone().unwrap_or_default(),
        ticket_id: ticket.ticket_id.clone(),
        message_id: newest.id,
    })
    .await?;
    db.batch(vec![event(
        &db,
        me,
        &ticket.ticket_id,
        "draft_regenerated",
        serde_json::json!({}),
        &now,
    )?])
    .await?;
    let draft = drafts::latest(&db, &me.tenant, &ticket.ticket_id).await?;
    announce(state, &me.tenant, "updated", ticket).await;
    Ok(Json(serde_json::json!({"draft": draft})))
}

#[worker::send]
async fn discard(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let (cfg, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    if drafts::latest(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound(
            "this ticket has no draft to discard".into(),
        ));
    }
    let outbox = Outbox::for_ticket(&db, &cfg, &me.tenant, &ticket).await?;
    draft_job::retire_gmail_drafts(
        &db,
        &outbox.gmail(&cfg),
        &me.tenant,
        &ticket.ticket_id,
        true,
    )
    .await?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![event(
        &db,
        &me,
        &ticket.ticket_id,
        "draft_discarded",
        serde_json::json!({}),
        &now,
    )?])
    .await?;
    announce(&state, &me.tenant, "updated", &ticket).await;
    Ok(StatusCode::NO_CONTENT)
}
