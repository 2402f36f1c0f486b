//! LiveChat handoff of the old connectors service (authenticated, any staff role; shapes in docs/api.md):
//! `POST /api/v1/handoff/create` hands a conversation to a human agent in the tenant's LiveChat connection.
//!
//! Body (JSON): `{"call_id"?, "ticket_id"?, "customer_name"?, "customer_email"?, "transcript"?: [{"role","text"}],
//! "reason"?, "urgency"?: "low"|"normal"|"high"|"urgent" (default normal), "metadata"?: {…}}`. A `ticket_id` (id or
//! TKT number, visible to the caller) or a `call_id` (the CallSid of a phone conversation) supplies the customer and,
//! when `transcript` is absent, the transcript (the ticket's messages without internal notes). Answers 201
//! `{"handoff_id","chat_url","agent_name","agent_id","estimated_wait_seconds","status":"assigned"|"queued"|"pending"}`.
//! The handoff is recorded (`crm_handoffs`); a ticket gets a `handoff` activity entry and a system line.
//!
//! Errors: 422 `validation_failed` (no customer name, bad role/urgency, over 500 lines or 64 KiB of transcript);
//! 404 no LiveChat connection / unknown ticket or call; vendor failures as in [`super::crm`] (502
//! `crm_auth_failed`, 503 `crm_rate_limited` + `Retry-After`, 504 `crm_timeout`).

use super::extract::{context, ApiJson, Staff};
use super::tickets::{announce, event, find_visible};
use super::AppState;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::integrations::http::Http;
use crate::integrations::livechat::{Handoff, Line};
use crate::jobs::crm::connect;
use crate::platform;
use crate::storage::crm::{self as store, HandoffRow};
use crate::storage::tickets;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

/// The handoff route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/handoff/create", post(create))
}

/// Body of `POST /api/v1/handoff/create` (the old service's handoff context).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffContext {
    /// Twilio CallSid of a phone conversation.
    pub call_id: Option<String>,
    /// Edgedesk ticket id or number.
    pub ticket_id: Option<String>,
    /// Customer name (default: the ticket's).
    pub customer_name: Option<String>,
    /// Customer e-mail (default: the ticket's).
    pub customer_email: Option<String>,
    /// The conversation, oldest first (default: the ticket's messages).
    pub transcript: Option<Vec<Line>>,
    /// Why.
    pub reason: Option<String>,
    /// `low|normal|high|urgent`.
    pub urgency: Option<String>,
    /// Anything else the caller wants the agent to see (shown as `key: value` lines).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

const ROLES: &[&str] = &["customer", "assistant", "agent", "system"];
const URGENCIES: &[&str] = &["low", "normal", "high", "urgent"];
/// Most transcript lines accepted.
const MAX_LINES_IN: usize = 500;
/// Most transcript bytes accepted.
const MAX_TRANSCRIPT_BYTES: usize = 64 * 1024;

fn ticket_transcript(messages: &[tickets::Message]) -> Vec<Line> {
    messages
        .iter()
        .filter(|m| m.sender_type != "note" && !m.content.trim().is_empty())
        .map(|m| Line {
            role: match m.sender_type.as_str() {
                "customer" => "customer",
                "agent" => "agent",
                _ if m.sender_name.as_deref() == Some(crate::jobs::cs::ASSISTANT) => "assistant",
                _ => "system",
            }
            .into(),
            text: m.content.clone(),
        })
        .collect()
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<HandoffContext>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let urgency = body.urgency.clone().unwrap_or_else(|| "normal".into());
    if !URGENCIES.contains(&urgency.as_str()) {
        return Err(AppError::Validation(format!(
            "urgency: must be one of {}",
            URGENCIES.join(" ")
        )));
    }
    if let Some(t) = &body.transcript {
        if t.len() > MAX_LINES_IN
            || t.iter().map(|l| l.text.len()).sum::<usize>() > MAX_TRANSCRIPT_BYTES
        {
            return Err(AppError::Validation(format!(
                "transcript: at most {MAX_LINES_IN} lines and {MAX_TRANSCRIPT_BYTES} bytes"
            )));
        }
        if let Some((i, l)) = t
            .iter()
            .enumerate()
            .find(|(_, l)| !ROLES.contains(&l.role.as_str()))
        {
            return Err(AppError::Validation(format!(
                "transcript[{i}].role: must be one of {}; got {:?}",
                ROLES.join(" "),
                l.role
            )));
        }
    }
    let (cfg, db) = context(&state)?;
    // The ticket: given, or the phone conversation's.
    let ticket_ref = match (&body.ticket_id, &body.call_id) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(call)) => {
            match crate::storage::cs::call_conversation(&db, &me.tenant, call.trim()).await? {
                Some(conv) => Some(conv.ticket_id),
                None if body.customer_name.is_none() => {
                    return Err(AppError::NotFound(format!("call {call} not found")))
                }
                None => None,
            }
        }
        _ => None,
    };
    let ticket = match &ticket_ref {
        Some(t) => Some(find_visible(&db, &me, t).await?),
        None => None,
    };
    let transcript = match (&body.transcript, &ticket) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => {
            ticket_transcript(&tickets::messages(&db, &me.tenant, &t.ticket_id).await?)
        }
        (None, None) => Vec::new(),
    };
    let customer_name = body
        .customer_name
        .clone()
        .or_else(|| ticket.as_ref().and_then(|t| t.customer_name.clone()))
        .or_else(|| ticket.as_ref().and_then(|t| t.customer_phone.clone()))
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| AppError::Validation("customer_name: required without a ticket".into()))?;
    let customer_email = match &body.customer_email {
        Some(e) => Some(crate::domain::fields::Email::parse("customer_email", e)?.to_string()),
        None => ticket.as_ref().and_then(|t| t.customer_email.clone()),
    };
    let conn_row = store::of_type(&db, &me.tenant, "livechat")
        .await?
        .ok_or_else(|| AppError::NotFound("no livechat connection".into()))?;
    let mut origin: Vec<String> = Vec::new();
    if let Some(t) = &ticket {
        origin.push(format!(
            "Edgedesk ticket {} ({})",
            t.ticket_number, t.channel
        ));
    }
    if let Some(c) = &body.call_id {
        origin.push(format!("Call {c}"));
    }
    for (k, v) in body.metadata.iter().flatten() {
        let v = v
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string());
        origin.push(format!("{k}: {v}"));
    }
    let setting = |k: &str| conn_row.setting(k).map(String::from);
    let handoff = Handoff {
        customer_name,
        customer_email,
        reason: body.reason.clone().filter(|r| !r.trim().is_empty()),
        urgency: urgency.clone(),
        origin: (!origin.is_empty()).then(|| origin.join("\n")),
        transcript,
        group_id: conn_row
            .settings
            .get("group_id")
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        own_agent_id: setting("agent_id"),
    };
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &conn_row).await?;
    let version = setting("api_version").unwrap_or_else(|| "3.6".into());
    let app_url = setting("app_url").unwrap_or_else(|| "https://my.livechatinc.com".into());
    let handed = conn.handoff(&handoff, &version, &app_url).await?;

    let now = time::rfc3339(platform::now());
    let id = platform::uuid()?;
    let mut stmts = vec![store::insert_handoff(
        &db,
        &me.tenant,
        &HandoffRow {
            id: &id,
            connection_id: &conn_row.id,
            ticket_id: ticket.as_ref().map(|t| t.ticket_id.as_str()),
            call_id: body.call_id.as_deref(),
            chat_id: &handed.handoff_id,
            status: &handed.status,
            agent_id: handed.agent_id.as_deref(),
            agent_name: handed.agent_name.as_deref(),
            estimated_wait_seconds: handed.estimated_wait_seconds,
            reason: handoff.reason.as_deref(),
            urgency: &urgency,
            created_by: &me.id,
            now: &now,
        },
    )?];
    if let Some(t) = &ticket {
        let line = match (&handed.agent_name, handed.status.as_str()) {
            (Some(a), _) => format!(
                "Handed over to LiveChat (chat {}), taken by {a}.",
                handed.handoff_id
            ),
            (None, "queued") => format!(
                "Handed over to LiveChat (chat {}), queued; estimated wait {} s.",
                handed.handoff_id, handed.estimated_wait_seconds
            ),
            _ => format!("Handed over to LiveChat (chat {}).", handed.handoff_id),
        };
        stmts.push(tickets::insert_message(
            &db,
            &tickets::NewMessage {
                id: &platform::uuid()?,
                tenant: &me.tenant,
                ticket_id: &t.ticket_id,
                sender_type: "system",
                sender_id: None,
                sender_name: None,
                content: &line,
                internal: false,
                now: &now,
            },
        )?);
        stmts.push(event(
            &db,
            &me,
            &t.ticket_id,
            "handoff",
            serde_json::json!({"chat_id": handed.handoff_id, "status": handed.status,
                "agent": handed.agent_name, "urgency": urgency}),
            &now,
        )?);
        stmts.push(tickets::touch(&db, &me.tenant, &t.ticket_id, &now)?);
    }
    db.batch(stmts).await?;
    if let Some(t) = &ticket {
        announce(&state, &me.tenant, "updated", t).await;
    }
    Ok((StatusCode::CREATED, Json(serde_json::to_value(&handed)?)))
}
