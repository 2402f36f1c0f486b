//! Canned responses of the caller's tenant: `GET /api/v1/canned-responses` (any staff) →
//! `{"canned_responses":[Canned]}`; `POST` (201), `PUT /{id}`, `DELETE /{id}` (204) for admins and owners.
//! Body `{"title" (1–100),"shortcut" (a-z0-9_-, 1–32, unique per tenant: 409),"body" (1–20 000 chars)}`.

use super::extract::{context, ApiJson, Staff};
use super::AppState;
use crate::domain::fields::{Name, Shortcut};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::canned;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;

/// The canned-response routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/canned-responses", get(list).post(create))
        .route("/api/v1/canned-responses/{id}", put(replace).delete(remove))
}

#[worker::send]
async fn list(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    Ok(Json(
        serde_json::json!({"canned_responses": canned::list(&db, &me.tenant).await?}),
    ))
}

/// Body of `POST` and `PUT`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    /// Title shown in the picker.
    pub title: String,
    /// Typed as `/shortcut` in the composer.
    pub shortcut: String,
    /// The text inserted.
    pub body: String,
}

async fn save(state: &AppState, me: &Staff, id: &str, b: CannedBody) -> AppResult<canned::Canned> {
    me.require(Role::Admin, "editing canned responses")?;
    let title = Name::parse("title", &b.title)?;
    let shortcut = Shortcut::parse(&b.shortcut)?;
    let body = b.body.trim();
    if body.is_empty() || body.chars().count() > 20_000 {
        return Err(AppError::Validation("body: 1 to 20 000 characters".into()));
    }
    let (_, db) = context(state)?;
    if canned::shortcut_taken(&db, &me.tenant, shortcut.as_str(), id).await? {
        return Err(AppError::Conflict(format!(
            "the shortcut /{shortcut} is taken"
        )));
    }
    let now = time::rfc3339(platform::now());
    canned::upsert(
        &db,
        &me.tenant,
        id,
        title.as_str(),
        shortcut.as_str(),
        body,
        &me.id,
        &now,
    )
    .await?;
    canned::get(&db, &me.tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("canned response {id} not found")))
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<CannedBody>,
) -> AppResult<(StatusCode, Json<canned::Canned>)> {
    let id = platform::uuid()?;
    Ok((
        StatusCode::CREATED,
        Json(save(&state, &me, &id, body).await?),
    ))
}

#[worker::send]
async fn replace(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CannedBody>,
) -> AppResult<Json<canned::Canned>> {
    me.require(Role::Admin, "editing canned responses")?;
    let (_, db) = context(&state)?;
    if canned::get(&db, &me.tenant, &id).await?.is_none() {
        return Err(AppError::NotFound(format!(
            "canned response {id} not found"
        )));
    }
    Ok(Json(save(&state, &me, &id, body).await?))
}

#[worker::send]
async fn remove(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    me.require(Role::Admin, "deleting canned responses")?;
    let (_, db) = context(&state)?;
    if canned::delete(&db, &me.tenant, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "canned response {id} not found"
        )))
    }
}
