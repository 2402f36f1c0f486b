//! Tickets (authenticated, scoped to the caller's tenant; another tenant's ticket answers 404):
//! - `GET /api/v1/tickets?status=&priority=&category=&q=&limit=(1–100, default 25)&cursor=` →
//!   `{"tickets":[Ticket],"next_cursor":string|null}`, newest first.
//! - `GET /api/v1/tickets/{ticket_id or ticket_number}` → `{"ticket","messages":[…],"draft":{…}|null}`.
//! - `POST /api/v1/tickets/{id}/reply {"content"}` → sends through Gmail in the ticket's thread
//!   (`In-Reply-To`/`References` of the customer's newest mail), records the agent message, sets
//!   `first_response_at`; answers `{"message":{…}}` (201).
//! - `PATCH /api/v1/tickets/{id} {"status"?, "priority"?, "category"?, "assigned_to"? (staff id or null)}` →
//!   the updated ticket. Unknown values → 422 naming the field.

use super::extract::{context, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::domain::ticket::{Category, Priority, Status};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::integrations::gmail::Gmail;
use crate::integrations::http::Http;
use crate::jobs::drafts as draft_job;
use crate::jobs::mailbox;
use crate::jobs::reply::{self, ReplyTo};
use crate::platform;
use crate::storage::{drafts, mail, mailboxes, staff, tickets, Db};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// `GET /api/v1/tickets`, `GET`/`PATCH /api/v1/tickets/{id}`, `POST /api/v1/tickets/{id}/reply`; all need a
/// staff token.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(list))
        .route("/api/v1/tickets/{id}", get(detail).patch(update))
        .route("/api/v1/tickets/{id}/reply", post(reply))
}

/// Query of the ticket list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// `open|pending|resolved|closed`; blank or absent means any.
    pub status: Option<String>,
    /// `urgent|high|medium|low`; blank or absent means any.
    pub priority: Option<String>,
    /// `order|product|billing|technical|other`; blank or absent means any.
    pub category: Option<String>,
    /// Substring of subject, customer e-mail or name, or ticket number (SQL `LIKE`, ASCII case-insensitive).
    pub q: Option<String>,
    /// Page size 1–100, default 25 (a string, so a bad value gets our 422 message).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque: base64url of `created_at|ticket_id`).
    pub cursor: Option<String>,
}

impl TryFrom<ListQuery> for tickets::Filter {
    type Error = AppError;

    fn try_from(q: ListQuery) -> Result<Self, AppError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let limit = match nonempty(q.limit) {
            None => 25,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    AppError::Validation("limit must be a whole number from 1 to 100".into())
                })?,
        };
        let after =
            match nonempty(q.cursor) {
                None => None,
                Some(c) => Some(decode_cursor(&c).ok_or_else(|| {
                    AppError::Validation("cursor is not one this API issued".into())
                })?),
            };
        Ok(tickets::Filter {
            status: wire::<Status>(nonempty(q.status))?,
            priority: wire::<Priority>(nonempty(q.priority))?,
            category: wire::<Category>(nonempty(q.category))?,
            q: nonempty(q.q).map(|s| s.trim().to_string()),
            after,
            limit,
        })
    }
}

/// An optional wire value checked against its enum and returned in canonical form; unknown → 422.
fn wire<T>(v: Option<String>) -> Result<Option<String>, AppError>
where
    T: std::str::FromStr<Err = crate::domain::ticket::ParseError> + std::fmt::Display,
{
    Ok(v.map(|s| s.parse::<T>())
        .transpose()?
        .map(|t| t.to_string()))
}

fn encode_cursor(t: &tickets::Ticket) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", t.created_at, t.ticket_id))
}

fn decode_cursor(c: &str) -> Option<(String, String)> {
    let s = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    let (created, id) = s.split_once('|')?;
    time::parse_rfc3339(created)?;
    Some((created.to_string(), id.to_string()))
}

#[worker::send]
async fn list(
    State(state): State<AppState>,
    Staff(me): Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let filter = tickets::Filter::try_from(q)?;
    let (_, db) = context(&state)?;
    let mut rows = tickets::list(&db, &me.tenant, &filter).await?;
    let next = if rows.len() > filter.limit {
        rows.truncate(filter.limit);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({"tickets": rows, "next_cursor": next}),
    ))
}

async fn find(db: &Db, tenant: &str, id: &str) -> AppResult<tickets::Ticket> {
    tickets::get(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))
}

#[worker::send]
async fn detail(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let ticket = find(&db, &me.tenant, &id).await?;
    let messages = tickets::messages(&db, &me.tenant, &ticket.ticket_id).await?;
    let draft = drafts::latest(&db, &me.tenant, &ticket.ticket_id).await?;
    Ok(Json(
        serde_json::json!({"ticket": ticket, "messages": messages, "draft": draft}),
    ))
}

/// Body of `PATCH /api/v1/tickets/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// `open|pending|resolved|closed`; `resolved` sets `resolved_at`, any other status clears it.
    pub status: Option<String>,
    /// `urgent|high|medium|low` (`sla_due_at` is not recomputed).
    pub priority: Option<String>,
    /// `order|product|billing|technical|other`.
    pub category: Option<String>,
    /// A staff id, or `null` to unassign.
    #[serde(default, deserialize_with = "some_or_null")]
    pub assigned_to: Option<Option<String>>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> AppResult<Json<tickets::Ticket>> {
    let status = body.status.map(|s| s.parse::<Status>()).transpose()?;
    let priority = wire::<Priority>(body.priority)?;
    let category = wire::<Category>(body.category)?;
    let (_, db) = context(&state)?;
    let ticket = find(&db, &me.tenant, &id).await?;
    if let Some(Some(assignee)) = &body.assigned_to {
        if !staff::is_active(&db, &me.tenant, assignee).await? {
            return Err(AppError::Validation(format!(
                "assigned_to: {assignee} is not active staff of this tenant"
            )));
        }
    }
    let now = time::rfc3339(platform::now());
    let patch = tickets::Patch {
        status: status.map(|s| s.as_str().to_string()),
        priority,
        category,
        assigned_to: body.assigned_to,
        resolved_at: status.map(|s| (s == Status::Resolved).then(|| now.clone())),
    };
    tickets::patch(&db, &me.tenant, &ticket.ticket_id, &patch, &now).await?;
    Ok(Json(find(&db, &me.tenant, &ticket.ticket_id).await?))
}

/// Body of `POST /api/v1/tickets/{id}/reply`.
#[derive(Deserialize)]
pub struct ReplyBody {
    /// The plain-text reply; trimmed, must not be empty (422).
    pub content: String,
}

#[worker::send]
async fn reply(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let content = body.content.trim();
    if content.is_empty() {
        return Err(AppError::Validation("content must not be empty".into()));
    }
    let (cfg, db) = context(&state)?;
    let ticket = find(&db, &me.tenant, &id).await?;
    let answered = mail::latest_customer_email(&db, &me.tenant, &ticket.ticket_id)
        .await?
        .ok_or_else(|| {
            AppError::Conflict("this ticket has no customer e-mail to reply to".into())
        })?;
    let to = ticket
        .customer_email
        .clone()
        .or(answered.from_email.clone())
        .ok_or_else(|| AppError::Conflict("the customer has no e-mail address".into()))?;
    let mb_id = answered
        .mailbox_id
        .clone()
        .ok_or_else(|| AppError::Conflict("the customer's e-mail has no mailbox".into()))?;
    let mb = mailboxes::by_id(&db, &me.tenant, &mb_id)
        .await?
        .ok_or_else(|| AppError::Conflict("the ticket's mailbox is gone".into()))?;
    let http = Http::with_timeout(cfg.http_timeout_ms);
    let token = mailbox::access_token(&db, &http, &cfg, &mb).await?;
    let gmail = Gmail::new(&http, &cfg.gmail_api_base, &token);

    let to_customer = ReplyTo {
        answered: &answered,
        to: &to,
        to_name: ticket.customer_name.as_deref(),
        fallback_subject: &ticket.subject,
    };
    let (sent, stmts) = reply::send(
        &db,
        &gmail,
        &cfg,
        &mb,
        &me.tenant,
        &ticket.ticket_id,
        &to_customer,
        content,
        Some(&me.sub),
    )
    .await?
    .map_err(|e| AppError::Upstream(format!("sending through Gmail failed: {e}")))?;
    db.batch(stmts).await?;
    // The ticket's AI drafts are moot now: superseded, and deleted from Gmail so nobody sends a second reply.
    draft_job::retire_gmail_drafts(&db, &gmail, &me.tenant, &ticket.ticket_id, true).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"message": {
            "id": sent.message_id, "sender_type": "agent", "sender_name": cfg.support_name,
            "sender_email": mb.address, "content": content, "created_at": sent.sent_at,
            "gmail_message_id": sent.gmail_message_id, "gmail_thread_id": sent.gmail_thread_id,
            "message_id_header": sent.rfc_message_id,
        }})),
    ))
}
