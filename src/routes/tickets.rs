//! Tickets (authenticated; scoped to the caller's tenant, where another tenant's ticket answers 404; within
//! the tenant the role rules of [`crate::domain::access`] apply, 403). Shapes in docs/api.md:
//! - `GET /api/v1/tickets?view=&status=&priority=&category=&channel=&assignee=&tag=&q=&sort=&limit=&cursor=` →
//!   `{"tickets":[Ticket],"next_cursor"}`; `q` is full-text (FTS5) over subject, customer and messages.
//! - `GET /api/v1/tickets/{id or number}` → `{"ticket","messages","draft","customer_tickets","events"}`.
//! - `PATCH /api/v1/tickets/{id} {"status"?,"priority"?,"category"?,"assigned_to"?,"tags"?}` → Ticket.
//! - `POST /api/v1/tickets/bulk {"ticket_ids","changes"}` → `{"changed","unchanged","denied","summary"}`.
//! - `POST /api/v1/tickets/{id}/merge {"source"}` → `{"ticket","merged"}`.
//!
//! Every change is recorded in the ticket's activity log and announced to the tenant's live dashboards.

use super::extract::{context, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::domain::access::{Actor, Assignment};
use crate::domain::fields::Tag;
use crate::domain::search::fts_terms;
use crate::domain::ticket::{Category, Channel, Priority, Sort, Status, View, SLA_AT_RISK_HOURS};
use crate::domain::{live, time};
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::rooms::hub;
use crate::storage::{drafts, staff, tickets, Db};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use worker::D1PreparedStatement;

/// The ticket routes (replies, notes and drafts are in [`super::replies`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets", get(list))
        .route("/api/v1/tickets/bulk", post(bulk))
        .route("/api/v1/tickets/{id}", get(detail).patch(update))
        .route("/api/v1/tickets/{id}/merge", post(merge))
}

/// Query of the ticket list (strings, so a bad value gets our 422 message naming the field).
#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// `all|mine|unassigned|open|sla_at_risk|sla_breached`; default `all`.
    pub view: Option<String>,
    /// `open|pending|resolved|closed`.
    pub status: Option<String>,
    /// `urgent|high|medium|low`.
    pub priority: Option<String>,
    /// `order|product|billing|technical|other`.
    pub category: Option<String>,
    /// `email|sms|voice|chat|facebook|instagram`.
    pub channel: Option<String>,
    /// A staff id, or `none` for unassigned.
    pub assignee: Option<String>,
    /// One tag.
    pub tag: Option<String>,
    /// A customer id (`/api/v1/customers/{id}`): that customer's tickets across channels.
    pub customer: Option<String>,
    /// Search text: full-text words (prefixes), or an exact ticket number or customer e-mail.
    pub q: Option<String>,
    /// `newest|oldest|updated|priority|sla`; default `newest`.
    pub sort: Option<String>,
    /// Page size 1–100, default 25.
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (opaque: base64url of `sort|key|ticket_id`).
    pub cursor: Option<String>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// An optional wire value checked against its enum and returned in canonical form; unknown → 422.
pub fn wire<T>(v: Option<String>) -> Result<Option<String>, AppError>
where
    T: std::str::FromStr<Err = crate::domain::ticket::ParseError> + std::fmt::Display,
{
    Ok(v.map(|s| s.parse::<T>())
        .transpose()?
        .map(|t| t.to_string()))
}

impl ListQuery {
    /// The storage filter for `me`.
    pub fn into_filter(self, me: &Staff) -> AppResult<tickets::Filter> {
        let limit = match nonempty(self.limit) {
            None => 25,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    AppError::Validation("limit must be a whole number from 1 to 100".into())
                })?,
        };
        let sort = nonempty(self.sort)
            .map(|s| s.parse::<Sort>())
            .transpose()?
            .unwrap_or(Sort::Newest);
        let after = match nonempty(self.cursor) {
            None => None,
            Some(c) => Some(decode_cursor(&c, sort).ok_or_else(|| {
                AppError::Validation("cursor is not one this API issued for this sort".into())
            })?),
        };
        let q = nonempty(self.q);
        let now = platform::now();
        Ok(tickets::Filter {
            visibility: me.actor().visibility(),
            me: me.id.clone(),
            view: nonempty(self.view)
                .map(|v| v.parse::<View>())
                .transpose()?
                .unwrap_or(View::All),
            status: wire::<Status>(nonempty(self.status))?,
            priority: wire::<Priority>(nonempty(self.priority))?,
            category: wire::<Category>(nonempty(self.category))?,
            channel: wire::<Channel>(nonempty(self.channel))?,
            assignee: nonempty(self.assignee).map(|a| {
                if a == "none" {
                    tickets::AssigneeFilter::Nobody
                } else {
                    tickets::AssigneeFilter::Staff(a)
                }
            }),
            tag: nonempty(self.tag)
                .map(|t| Tag::parse(&t))
                .transpose()?
                .map(|t| t.to_string()),
            customer: nonempty(self.customer),
            fts: q.as_deref().map(fts_terms).unwrap_or_default(),
            q,
            sort,
            after,
            limit,
            now: time::rfc3339(now),
            at_risk_until: time::rfc3339(now + chrono::Duration::hours(SLA_AT_RISK_HOURS)),
        })
    }
}

fn encode_cursor(sort: Sort, t: &tickets::Ticket) -> String {
    let key = t.sort_key.as_deref().unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{sort}|{key}|{}", t.ticket_id))
}

fn decode_cursor(c: &str, sort: Sort) -> Option<(String, String)> {
    let s = String::from_utf8(URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    let (s_sort, rest) = s.split_once('|')?;
    let (key, id) = rest.rsplit_once('|')?;
    (s_sort == sort.as_str()).then(|| (key.to_string(), id.to_string()))
}

#[worker::send]
async fn list(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let filter = q.into_filter(&me)?;
    let (_, db) = context(&state)?;
    let mut rows = tickets::list(&db, &me.tenant, &filter).await?;
    let next = if rows.len() > filter.limit {
        rows.truncate(filter.limit);
        rows.last().map(|t| encode_cursor(filter.sort, t))
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({"tickets": rows, "next_cursor": next}),
    ))
}

fn assignment(t: &tickets::Ticket) -> Assignment<'_> {
    Assignment {
        assignee: t.assigned_to.as_deref(),
        assignee_team: t.assignee_team.as_deref(),
    }
}

/// The ticket by id or number in the caller's tenant (404 otherwise) that the caller may work (403 otherwise).
pub async fn find_visible(db: &Db, me: &Staff, id: &str) -> AppResult<tickets::Ticket> {
    let ticket = tickets::get(db, &me.tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))?;
    if !me.actor().can_see(assignment(&ticket)) {
        return Err(AppError::Forbidden(format!(
            "ticket {} is assigned to someone else; your role may not work it",
            ticket.ticket_number
        )));
    }
    Ok(ticket)
}

/// A new activity-log statement by `me`.
pub fn event(
    db: &Db,
    me: &Staff,
    ticket_id: &str,
    kind: &str,
    detail: serde_json::Value,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    tickets::insert_event(
        db,
        &tickets::NewEvent {
            id: platform::uuid()?,
            tenant: &me.tenant,
            ticket_id,
            actor_id: Some(&me.id),
            kind,
            detail,
            now,
        },
    )
}

/// Tells the tenant's dashboards that a ticket changed.
pub async fn announce(state: &AppState, tenant: &str, what: &str, t: &tickets::Ticket) {
    hub::publish(
        &state.env,
        tenant,
        &live::ticket_event(what, &t.ticket_id, &t.ticket_number),
    )
    .await;
}

#[worker::send]
async fn detail(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    let messages = tickets::messages(&db, &me.tenant, &ticket.ticket_id).await?;
    let draft = drafts::latest(&db, &me.tenant, &ticket.ticket_id).await?;
    let customer_tickets = match &ticket.customer_email {
        Some(email) => {
            tickets::customer_tickets(
                &db,
                &me.tenant,
                &me.actor().visibility(),
                email,
                &ticket.ticket_id,
            )
            .await?
        }
        None => Vec::new(),
    };
    let events = tickets::events(&db, &me.tenant, &ticket.ticket_id).await?;
    // The customer's record in the primary CRM (looked up once per TTL; a CRM failure leaves it out).
    let crm = crate::jobs::crm::enrich(
        &db,
        &cfg,
        &me.tenant,
        &ticket.ticket_id,
        ticket.customer_email.as_deref(),
        ticket.customer_phone.as_deref(),
    )
    .await
    .unwrap_or(None)
    .map(|(kind, customer)| serde_json::json!({"crm_type": kind, "customer": customer}));
    Ok(Json(serde_json::json!({
        "ticket": ticket, "messages": messages, "draft": draft,
        "customer_tickets": customer_tickets, "events": events, "crm_customer": crm,
        "crm_links": crate::storage::crm::ticket_links(&db, &me.tenant, &ticket.ticket_id).await?,
    })))
}

/// Validated field changes shared by `PATCH` and bulk.
#[derive(Debug, Default)]
struct Changes {
    status: Option<Status>,
    priority: Option<Priority>,
    category: Option<Category>,
    /// `Some(None)` unassigns; else the new assignee.
    assign: Option<Option<staff::Member>>,
    add_tags: Vec<String>,
    remove_tags: Vec<String>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

async fn assignee(
    db: &Db,
    me: &Staff,
    v: Option<Option<String>>,
) -> AppResult<Option<Option<staff::Member>>> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(id)) => {
            let m = staff::active_member(db, &me.tenant, &id)
                .await?
                .ok_or_else(|| {
                    AppError::Validation(format!(
                        "assigned_to: {id} is not active staff of this tenant"
                    ))
                })?;
            Ok(Some(Some(m)))
        }
    }
}

fn tags(list: Option<Vec<String>>) -> AppResult<Vec<String>> {
    Ok(Tag::parse_all(&list.unwrap_or_default())?
        .into_iter()
        .map(|t| t.to_string())
        .collect())
}

/// What applying `c` to `t` would do, as statements and a change list (empty when nothing changes). 403 when
/// the actor may not make the assignment.
fn plan(
    db: &Db,
    me: &Staff,
    actor: &Actor,
    t: &tickets::Ticket,
    c: &Changes,
    now: &str,
) -> AppResult<(Vec<D1PreparedStatement>, Vec<String>)> {
    let mut stmts = Vec::new();
    let mut changed = Vec::new();
    let mut patch = tickets::Patch::default();
    // `shown` is how the summary names the new value (a name rather than a staff id).
    let mut note = |kind: &str,
                    from: Option<&str>,
                    to: Option<&str>,
                    shown: Option<&str>,
                    stmts: &mut Vec<D1PreparedStatement>|
     -> AppResult<()> {
        stmts.push(event(
            db,
            me,
            &t.ticket_id,
            kind,
            serde_json::json!({"from": from, "to": to}),
            now,
        )?);
        changed.push(format!("{kind} → {}", shown.or(to).unwrap_or("nobody")));
        Ok(())
    };
    if let Some(s) = c.status.filter(|s| s.as_str() != t.status) {
        patch.status = Some(s.to_string());
        patch.resolved_at = s.resolved_at_after(now);
        note(
            "status",
            Some(&t.status),
            Some(s.as_str()),
            None,
            &mut stmts,
        )?;
    }
    if let Some(p) = c.priority.filter(|p| p.as_str() != t.priority) {
        patch.priority = Some(p.to_string());
        note(
            "priority",
            Some(&t.priority),
            Some(p.as_str()),
            None,
            &mut stmts,
        )?;
    }
    if let Some(k) = c.category.filter(|k| k.as_str() != t.category) {
        patch.category = Some(k.to_string());
        note(
            "category",
            Some(&t.category),
            Some(k.as_str()),
            None,
            &mut stmts,
        )?;
    }
    if let Some(to) = &c.assign {
        let to_id = to.as_ref().map(|m| m.staff_id.as_str());
        if to_id != t.assigned_to.as_deref() {
            let target = Assignment {
                assignee: to_id,
                assignee_team: to.as_ref().and_then(|m| m.team.as_deref()),
            };
            actor
                .can_assign(assignment(t), target)
                .map_err(|why| AppError::Forbidden(why.into()))?;
            patch.assigned_to = Some(to_id.map(String::from));
            let name = to.as_ref().map(|m| m.name.as_str());
            note(
                "assigned",
                t.assigned_to.as_deref(),
                to_id,
                name,
                &mut stmts,
            )?;
        }
    }
    let current: Vec<String> = t
        .tags
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let added: Vec<String> = c
        .add_tags
        .iter()
        .filter(|g| !current.contains(g))
        .cloned()
        .collect();
    let removed: Vec<String> = c
        .remove_tags
        .iter()
        .filter(|g| current.contains(g))
        .cloned()
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        stmts.extend(tickets::change_tags(
            db,
            &me.tenant,
            &t.ticket_id,
            &added,
            &removed,
        )?);
        stmts.push(event(
            db,
            me,
            &t.ticket_id,
            "tags",
            serde_json::json!({"added": added, "removed": removed}),
            now,
        )?);
        changed.extend(added.iter().map(|g| format!("tag +{g}")));
        changed.extend(removed.iter().map(|g| format!("tag -{g}")));
    }
    if !changed.is_empty() {
        stmts.insert(
            0,
            tickets::patch(db, &me.tenant, &t.ticket_id, &patch, now)?,
        );
    }
    Ok((stmts, changed))
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
    /// The ticket's whole new tag list.
    pub tags: Option<Vec<String>>,
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> AppResult<Json<tickets::Ticket>> {
    let (_, db) = context(&state)?;
    let ticket = find_visible(&db, &me, &id).await?;
    let mut c = Changes {
        status: body.status.map(|s| s.parse()).transpose()?,
        priority: body.priority.map(|s| s.parse()).transpose()?,
        category: body.category.map(|s| s.parse()).transpose()?,
        assign: assignee(&db, &me, body.assigned_to).await?,
        ..Changes::default()
    };
    if let Some(list) = body.tags {
        let new = tags(Some(list))?;
        let current: Vec<String> = ticket
            .tags
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        c.remove_tags = current
            .iter()
            .filter(|g| !new.contains(g))
            .cloned()
            .collect();
        c.add_tags = new;
    }
    let now = time::rfc3339(platform::now());
    let (stmts, changed) = plan(&db, &me, &me.actor(), &ticket, &c, &now)?;
    if changed.is_empty() {
        return Ok(Json(ticket));
    }
    db.batch(stmts).await?;
    let fresh = find(&db, &me.tenant, &ticket.ticket_id).await?;
    announce(&state, &me.tenant, "updated", &fresh).await;
    Ok(Json(fresh))
}

async fn find(db: &Db, tenant: &str, id: &str) -> AppResult<tickets::Ticket> {
    tickets::get(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("ticket {id} not found")))
}

/// Changes of a bulk action.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkChanges {
    /// New status.
    pub status: Option<String>,
    /// New priority.
    pub priority: Option<String>,
    /// Staff id, or `null` to unassign.
    #[serde(default, deserialize_with = "some_or_null")]
    pub assigned_to: Option<Option<String>>,
    /// Tags to add.
    pub add_tags: Option<Vec<String>>,
    /// Tags to remove.
    pub remove_tags: Option<Vec<String>>,
}

/// Body of `POST /api/v1/tickets/bulk`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// 1–100 ticket ids or numbers.
    pub ticket_ids: Vec<String>,
    /// What to change on each.
    pub changes: BulkChanges,
}

#[worker::send]
async fn bulk(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<BulkBody>,
) -> AppResult<Json<serde_json::Value>> {
    let mut ids = body.ticket_ids;
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > 100 {
        return Err(AppError::Validation(
            "ticket_ids: give 1 to 100 tickets".into(),
        ));
    }
    let ch = body.changes;
    let (_, db) = context(&state)?;
    let c = Changes {
        status: ch.status.map(|s| s.parse()).transpose()?,
        priority: ch.priority.map(|s| s.parse()).transpose()?,
        category: None,
        assign: assignee(&db, &me, ch.assigned_to).await?,
        add_tags: tags(ch.add_tags)?,
        remove_tags: tags(ch.remove_tags)?,
    };
    if c.status.is_none()
        && c.priority.is_none()
        && c.assign.is_none()
        && c.add_tags.is_empty()
        && c.remove_tags.is_empty()
    {
        return Err(AppError::Validation("changes: nothing to change".into()));
    }
    let mut found = tickets::get_many(&db, &me.tenant, &ids).await?;
    found.sort_by(|a, b| a.ticket_id.cmp(&b.ticket_id));
    found.dedup_by(|a, b| a.ticket_id == b.ticket_id);
    let actor = me.actor();
    let now = time::rfc3339(platform::now());
    let (mut stmts, mut changed, mut unchanged, mut denied) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut what: Vec<String> = Vec::new();
    let mut touched = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for id in &ids {
        let Some(t) = found
            .iter()
            .find(|t| &t.ticket_id == id || &t.ticket_number == id)
        else {
            denied.push(serde_json::json!({"ticket_id": id, "reason": "not found"}));
            continue;
        };
        if seen.contains(&t.ticket_id.as_str()) {
            continue; // the same ticket given by id and by number
        }
        seen.push(&t.ticket_id);
        if !actor.can_see(assignment(t)) {
            denied.push(serde_json::json!({"ticket_id": id, "ticket_number": t.ticket_number, "reason": "assigned to someone else"}));
            continue;
        }
        match plan(&db, &me, &actor, t, &c, &now) {
            Err(AppError::Forbidden(why)) => {
                denied.push(serde_json::json!({"ticket_id": id, "ticket_number": t.ticket_number, "reason": why}));
            }
            Err(e) => return Err(e),
            Ok((_, ch)) if ch.is_empty() => unchanged.push(t.ticket_number.clone()),
            Ok((s, ch)) => {
                stmts.extend(s);
                for c in ch {
                    if !what.contains(&c) {
                        what.push(c);
                    }
                }
                changed.push(t.ticket_number.clone());
                touched.push(t);
            }
        }
    }
    if !stmts.is_empty() {
        db.batch(stmts).await?;
        // One frame for the whole action (a Durable Object call per ticket would spend the subrequest budget).
        let frame = serde_json::json!({"type": "ticket", "event": "updated", "ticket_id": null,
            "ticket_number": null, "count": touched.len()});
        hub::publish(&state.env, &me.tenant, &frame).await;
    }
    // Same order whatever ticket came first: status, priority, category, assignment, tags.
    what.sort_by_key(|c| {
        ["status", "priority", "category", "assigned", "tag"]
            .iter()
            .position(|k| c.starts_with(k))
    });
    let mut summary = format!(
        "{} ticket{} changed",
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    );
    if !what.is_empty() {
        summary.push_str(&format!(": {}", what.join(", ")));
    }
    if !unchanged.is_empty() {
        summary.push_str(&format!("; {} unchanged", unchanged.len()));
    }
    if !denied.is_empty() {
        summary.push_str(&format!("; {} denied", denied.len()));
    }
    Ok(Json(serde_json::json!({
        "changed": changed, "unchanged": unchanged, "denied": denied, "summary": summary,
    })))
}

/// Body of `POST /api/v1/tickets/{id}/merge`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// Id or number of the ticket merged into the one in the path.
    pub source: String,
}

#[worker::send]
async fn merge(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let target = find_visible(&db, &me, &id).await?;
    let source = find_visible(&db, &me, body.source.trim()).await?;
    if source.ticket_id == target.ticket_id {
        return Err(AppError::Conflict(
            "a ticket cannot be merged into itself".into(),
        ));
    }
    if source.merged_into.is_some() || target.merged_into.is_some() {
        return Err(AppError::Conflict(
            "one of the tickets is already merged".into(),
        ));
    }
    let same_customer = match (&source.customer_email, &target.customer_email) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    if !same_customer {
        return Err(AppError::Conflict(
            "only tickets of the same customer e-mail can be merged".into(),
        ));
    }
    let now = time::rfc3339(platform::now());
    let stale_gmail_drafts = drafts::open_gmail_drafts(&db, &me.tenant, &source.ticket_id).await?;
    let mut stmts = tickets::merge(&db, &me.tenant, &source.ticket_id, &target.ticket_id, &now)?;
    let line = format!(
        "{} merged {} into {}",
        me.name, source.ticket_number, target.ticket_number
    );
    for t in [&target, &source] {
        stmts.push(tickets::insert_message(
            &db,
            &tickets::NewMessage {
                id: &platform::uuid()?,
                tenant: &me.tenant,
                ticket_id: &t.ticket_id,
                sender_type: "system",
                sender_id: None,
                sender_name: Some("Edgedesk"),
                content: &line,
                internal: false,
                now: &now,
            },
        )?);
    }
    stmts.push(event(
        &db,
        &me,
        &source.ticket_id,
        "merged",
        serde_json::json!({"into": target.ticket_number}),
        &now,
    )?);
    stmts.push(event(
        &db,
        &me,
        &target.ticket_id,
        "merged_from",
        serde_json::json!({"from": source.ticket_number}),
        &now,
    )?);
    db.batch(stmts).await?;
    let ticket = find(&db, &me.tenant, &target.ticket_id).await?;
    let merged = find(&db, &me.tenant, &source.ticket_id).await?;
    if merged.merged_into.as_deref() != Some(ticket.ticket_number.as_str()) {
        return Err(AppError::Conflict(
            "the ticket was merged elsewhere meanwhile".into(),
        ));
    }
    if !stale_gmail_drafts.is_empty() {
        // Best effort: the source's AI drafts are superseded in D1 either way.
        let (cfg, _) = context(&state)?;
        match crate::jobs::reply::Outbox::for_ticket(&db, &cfg, &me.tenant, &ticket).await {
            Ok(outbox) => {
                let gmail = outbox.gmail(&cfg);
                for id in &stale_gmail_drafts {
                    if let Err(e) = gmail.delete_draft(id).await {
                        worker::console_warn!("deleting Gmail draft {id} after a merge: {e}");
                    }
                }
            }
            Err(e) => {
                worker::console_warn!("merge: Gmail drafts of {} left: {e}", merged.ticket_number)
            }
        }
    }
    announce(&state, &me.tenant, "updated", &ticket).await;
    announce(&state, &me.tenant, "updated", &merged).await;
    Ok(Json(
        serde_json::json!({"ticket": ticket, "merged": merged}),
    ))
}
