//! The customer registry of the caller's tenant (any staff; erasure needs admin+). Shapes in docs/api.md:
//! - `POST /api/v1/customers` → 201 Customer; `GET /api/v1/customers?q=&platform=&blocked=&limit=&cursor=`.
//! - `GET|PUT|DELETE /api/v1/customers/{id}` (DELETE = GDPR erasure: personal data and message bodies erased,
//!   tickets keep their numbers and metrics; 204).
//! - `GET /api/v1/customers/psid/{psid}`; `POST /api/v1/customers/upsert` (idempotent by identity).
//! - `POST /api/v1/customers/{id}/block` / `unblock`; `PATCH /api/v1/customers/{id}/interaction`;
//!   `POST /api/v1/customers/{id}/merge {"other_id"}` (identities and tickets move, `other` is deleted).
//!
//! An identity of another customer of the tenant → 409; another tenant's customer → 404.

use super::extract::{context, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::domain::customers::{check_fields, identities_of, CustomerInput};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::customers::{self as store, Customer, Fields};
use crate::storage::{cs, Db};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The customer routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/customers", get(list).post(create))
        .route("/api/v1/customers/upsert", post(upsert))
        .route("/api/v1/customers/psid/{psid}", get(by_psid))
        .route(
            "/api/v1/customers/{id}",
            get(show).put(replace).delete(erase),
        )
        .route("/api/v1/customers/{id}/block", post(block))
        .route("/api/v1/customers/{id}/unblock", post(unblock))
        .route("/api/v1/customers/{id}/interaction", patch(interaction))
        .route("/api/v1/customers/{id}/merge", post(merge))
}

async fn country(db: &Db, tenant: &str) -> AppResult<String> {
    Ok(cs::config(db, tenant)
        .await?
        .map(|c| c.config.default_country_code)
        .unwrap_or_else(|| "1".into()))
}

fn fields(i: &CustomerInput) -> Fields<'_> {
    Fields {
        name: i.name.as_deref(),
        first_name: i.first_name.as_deref(),
        last_name: i.last_name.as_deref(),
        profile_pic_url: i.profile_pic_url.as_deref(),
        notes: i.notes.as_deref(),
    }
}

async fn found(db: &Db, tenant: &str, id: &str) -> AppResult<Customer> {
    store::get(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("customer {id} not found")))
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(input): ApiJson<CustomerInput>,
) -> AppResult<(StatusCode, Json<Customer>)> {
    check_fields(&input)?;
    let (_, db) = context(&state)?;
    let ids = identities_of(&input, &country(&db, &me.tenant).await?)?.unwrap_or_default();
    store::check_identities_free(&db, &me.tenant, &ids, None).await?;
    let id = platform::uuid()?;
    let now = time::rfc3339(platform::now());
    db.batch(store::insert(
        &db,
        &me.tenant,
        &id,
        &fields(&input),
        &ids,
        &now,
    )?)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(found(&db, &me.tenant, &id).await?),
    ))
}

/// `POST /api/v1/customers/upsert`: the customer holding any of the given identities is updated (and gets the
/// other identities); otherwise one is created. Repeating the same call changes nothing. 201 when created.
#[worker::send]
async fn upsert(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(input): ApiJson<CustomerInput>,
) -> AppResult<(StatusCode, Json<Customer>)> {
    check_fields(&input)?;
    let (_, db) = context(&state)?;
    let ids = identities_of(&input, &country(&db, &me.tenant).await?)?.unwrap_or_default();
    if ids.is_empty() {
        return Err(AppError::Validation(
            "emails: an upsert needs at least one identity (emails, phones or meta_ids)".into(),
        ));
    }
    let mut owners: Vec<String> = Vec::new();
    for i in &ids {
        if let Some(o) = store::by_identity(&db, &me.tenant, i).await? {
            if !owners.contains(&o) {
                owners.push(o);
            }
        }
    }
    let now = time::rfc3339(platform::now());
    match owners.as_slice() {
        [] => {
            let id = platform::uuid()?;
            db.batch(store::insert(
                &db,
                &me.tenant,
                &id,
                &fields(&input),
                &ids,
                &now,
            )?)
            .await?;
            Ok((
                StatusCode::CREATED,
                Json(found(&db, &me.tenant, &id).await?),
            ))
        }
        [one] => {
            let mut stmts = vec![store::update(&db, &me.tenant, one, &fields(&input), &now)?];
            stmts.extend(store::add_identities(&db, &me.tenant, one, &ids, &now)?);
            db.batch(stmts).await?;
            Ok((StatusCode::OK, Json(found(&db, &me.tenant, one).await?)))
        }
        many => Err(AppError::Conflict(format!(
            "these identities belong to different customers ({}); merge them first",
            many.join(", ")
        ))),
    }
}

/// Query of the list.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// Search text.
    pub q: Option<String>,
    /// `facebook`, `instagram`, `email` or `phone`.
    pub platform: Option<String>,
    /// `true` or `false`.
    pub blocked: Option<String>,
    /// 1–100, default 25.
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[worker::send]
async fn list(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
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
    let platform = match nonempty(q.platform).as_deref() {
        None => None,
        Some("facebook") => Some("psid"),
        Some("instagram") => Some("igsid"),
        Some("email") => Some("email"),
        Some("phone") => Some("phone"),
        Some(other) => {
            return Err(AppError::Validation(format!(
                "platform must be one of facebook instagram email phone; got {other:?}"
            )))
        }
    };
    let blocked = match nonempty(q.blocked).as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(AppError::Validation(format!(
                "blocked must be true or false; got {other:?}"
            )))
        }
    };
    let after = match nonempty(q.cursor) {
        None => None,
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(&c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once('|')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .ok_or_else(|| AppError::Validation("cursor is not one this API issued".into()))?,
        ),
    };
    let (_, db) = context(&state)?;
    let filter = store::Filter {
        q: nonempty(q.q),
        platform,
        blocked,
        after,
        limit,
    };
    let mut rows = store::list(&db, &me.tenant, &filter).await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last()
            .map(|c| URL_SAFE_NO_PAD.encode(format!("{}|{}", c.created_at, c.id)))
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({"customers": rows, "next_cursor": next}),
    ))
}

#[worker::send]
async fn show(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Customer>> {
    let (_, db) = context(&state)?;
    Ok(Json(found(&db, &me.tenant, &id).await?))
}

#[worker::send]
async fn by_psid(
    State(state): State<AppState>,
    me: Staff,
    Path(psid): Path<String>,
) -> AppResult<Json<Customer>> {
    let (_, db) = context(&state)?;
    let id = store::by_meta_id(&db, &me.tenant, psid.trim())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no customer with PSID {psid}")))?;
    Ok(Json(found(&db, &me.tenant, &id).await?))
}

#[worker::send]
async fn replace(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> AppResult<Json<Customer>> {
    check_fields(&input)?;
    let (_, db) = context(&state)?;
    let current = found(&db, &me.tenant, &id).await?;
    if current.erased_at.is_some() {
        return Err(AppError::Conflict("this customer was erased".into()));
    }
    let ids = identities_of(&input, &country(&db, &me.tenant).await?)?;
    let now = time::rfc3339(platform::now());
    let mut stmts = vec![store::update(&db, &me.tenant, &id, &fields(&input), &now)?];
    if let Some(ids) = &ids {
        store::check_identities_free(&db, &me.tenant, ids, Some(&id)).await?;
        stmts.push(store::retain_identities(&db, &me.tenant, &id, ids)?);
        stmts.extend(store::add_identities(&db, &me.tenant, &id, ids, &now)?);
    }
    db.batch(stmts).await?;
    Ok(Json(found(&db, &me.tenant, &id).await?))
}

#[worker::send]
async fn erase(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    me.require(Role::Admin, "erasing a customer")?;
    let (_, db) = context(&state)?;
    found(&db, &me.tenant, &id).await?;
    let now = time::rfc3339(platform::now());
    db.batch(store::erase(&db, &me.tenant, &id, &now)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_blocked(
    state: &AppState,
    me: &Staff,
    id: &str,
    blocked: bool,
) -> AppResult<Json<Customer>> {
    let (_, db) = context(state)?;
    found(&db, &me.tenant, id).await?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![store::set_blocked(
        &db, &me.tenant, id, blocked, &now,
    )?])
    .await?;
    Ok(Json(found(&db, &me.tenant, id).await?))
}

#[worker::send]
async fn block(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Customer>> {
    set_blocked(&state, &me, &id, true).await
}

#[worker::send]
async fn unblock(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Customer>> {
    set_blocked(&state, &me, &id, false).await
}

/// Body of `PATCH /api/v1/customers/{id}/interaction`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Interaction {
    /// RFC 3339; default now.
    pub at: Option<String>,
}

#[worker::send]
async fn interaction(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Interaction>,
) -> AppResult<Json<Customer>> {
    let at = match body.at {
        None => platform::now(),
        Some(a) => time::parse_rfc3339(&a)
            .ok_or_else(|| AppError::Validation("at: must be an RFC 3339 time".into()))?,
    };
    let (_, db) = context(&state)?;
    found(&db, &me.tenant, &id).await?;
    db.batch(vec![store::touch(
        &db,
        &me.tenant,
        &id,
        &time::rfc3339(at),
    )?])
    .await?;
    Ok(Json(found(&db, &me.tenant, &id).await?))
}

/// Body of `POST /api/v1/customers/{id}/merge`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The duplicate to fold into this customer.
    pub other_id: String,
}

#[worker::send]
async fn merge(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeBody>,
) -> AppResult<Json<Customer>> {
    if body.other_id == id {
        return Err(AppError::Conflict(
            "a customer cannot be merged into itself".into(),
        ));
    }
    let (_, db) = context(&state)?;
    let keep = found(&db, &me.tenant, &id).await?;
    let other = found(&db, &me.tenant, &body.other_id).await?;
    if keep.erased_at.is_some() || other.erased_at.is_some() {
        return Err(AppError::Conflict(
            "an erased customer cannot be merged".into(),
        ));
    }
    let now = time::rfc3339(platform::now());
    db.batch(store::merge(&db, &me.tenant, &id, &body.other_id, &now)?)
        .await?;
    Ok(Json(found(&db, &me.tenant, &id).await?))
}
