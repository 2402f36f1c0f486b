//! Staff accounts of the caller's tenant (shapes in docs/api.md):
//! - `GET /api/v1/staff` (any staff) → `{"staff":[Staff]}`.
//! - `POST /api/v1/staff {"email","name","role","team"?}` (admin+) → 201 `{"staff","temporary_password"}`.
//! - `PATCH /api/v1/staff/{id} {"name"?,"role"?,"team"?,"status"?}` (admin+) → `{"staff"}`.
//! - `POST /api/v1/staff/{id}/reset-password` (admin+) → `{"temporary_password"}`.
//!
//! Only owners grant or change `owner` (403). Nobody deactivates or demotes themselves, and the last active
//! owner stays (409). A deactivated account's tokens stop working at once (checked on every request); a reset
//! password ends its sessions (the session version is bumped).

use super::auth::hash_password;
use super::extract::{context, ApiJson, Staff};
use super::AppState;
use crate::domain::fields::{temporary_password, Email, Name};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::{staff, Db};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The staff routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/staff", get(list).post(create))
        .route("/api/v1/staff/{id}", patch(update))
        .route("/api/v1/staff/{id}/reset-password", post(reset_password))
}

#[worker::send]
async fn list(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    Ok(Json(
        serde_json::json!({"staff": staff::list(&db, &me.tenant).await?}),
    ))
}

/// Body of `POST /api/v1/staff`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// Login e-mail; unique across all tenants (409 when taken).
    pub email: String,
    /// Display name, 1–100 characters.
    pub name: String,
    /// `owner|admin|supervisor|team_lead|agent`.
    pub role: String,
    /// Team name, optional.
    pub team: Option<String>,
}

/// A fresh temporary password and its hash.
pub async fn new_temporary_password() -> AppResult<(String, String)> {
    let password = temporary_password(&platform::random_bytes::<12>()?);
    let hash = hash_password(&password).await?;
    Ok((password, hash))
}

fn team(v: Option<String>) -> AppResult<Option<String>> {
    Ok(v.filter(|t| !t.trim().is_empty())
        .map(|t| Name::parse("team", &t))
        .transpose()?
        .map(|t| t.to_string()))
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<NewMember>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let email = Email::parse("email", &body.email)?;
    let name = Name::parse("name", &body.name)?;
    let role: Role = body.role.parse()?;
    let team = team(body.team)?;
    me.actor()
        .can_manage(None, role)
        .map_err(|why| AppError::Forbidden(why.into()))?;
    let (_, db) = context(&state)?;
    if staff::email_taken(&db, email.as_str()).await? {
        return Err(AppError::Conflict(format!(
            "{email} already has an Edgedesk account"
        )));
    }
    let (password, hash) = new_temporary_password().await?;
    let id = platform::uuid()?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![staff::insert(
        &db,
        &staff::NewStaff {
            staff_id: &id,
            tenant: &me.tenant,
            email: email.as_str(),
            name: name.as_str(),
            role,
            team: team.as_deref(),
            password_hash: &hash,
            must_change_password: true,
            now: &now,
        },
    )?])
    .await?;
    let member = found(&db, &me.tenant, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"staff": member, "temporary_password": password})),
    ))
}

async fn found(db: &Db, tenant: &str, id: &str) -> AppResult<staff::Member> {
    staff::member(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("staff member {id} not found")))
}

/// Body of `PATCH /api/v1/staff/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<String>,
    /// New team; `null` or `""` clears it.
    #[serde(default, deserialize_with = "some_or_null")]
    pub team: Option<Option<String>>,
    /// `active` or `inactive`.
    pub status: Option<String>,
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MemberPatch>,
) -> AppResult<Json<serde_json::Value>> {
    let name = body.name.map(|n| Name::parse("name", &n)).transpose()?;
    let role = body.role.map(|r| r.parse::<Role>()).transpose()?;
    let status = match body.status.as_deref().map(str::trim) {
        None => None,
        Some(s @ ("active" | "inactive")) => Some(s.to_string()),
        Some(other) => {
            return Err(AppError::Validation(format!(
                "status must be one of active inactive; got {other:?}"
            )))
        }
    };
    let team = match body.team {
        None => None,
        Some(t) => Some(team(t)?),
    };
    let (_, db) = context(&state)?;
    let target = found(&db, &me.tenant, &id).await?;
    me.actor()
        .can_manage(Some(target.role), role.unwrap_or(target.role))
        .map_err(|why| AppError::Forbidden(why.into()))?;
    let demotes = role.is_some_and(|r| r != target.role);
    let deactivates = status.as_deref() == Some("inactive");
    if target.staff_id == me.id && (demotes || deactivates) {
        return Err(AppError::Conflict(
            "you cannot change your own role or deactivate yourself".into(),
        ));
    }
    if target.role == Role::Owner
        && target.status == "active"
        && ((demotes && role != Some(Role::Owner)) || deactivates)
        && staff::active_owners(&db, &me.tenant).await? <= 1
    {
        return Err(AppError::Conflict(
            "the tenant's last active owner must stay an active owner".into(),
        ));
    }
    let now = time::rfc3339(platform::now());
    staff::patch(
        &db,
        &me.tenant,
        &target.staff_id,
        &staff::StaffPatch {
            name: name.map(|n| n.to_string()),
            role,
            team,
            status,
        },
        &now,
    )
    .await?;
    if deactivates || demotes {
        crate::rooms::hub::kick(&state.env, &me.tenant, &target.staff_id).await;
    }
    Ok(Json(
        serde_json::json!({"staff": found(&db, &me.tenant, &target.staff_id).await?}),
    ))
}

#[worker::send]
async fn reset_password(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let target = found(&db, &me.tenant, &id).await?;
    me.actor()
        .can_manage(Some(target.role), target.role)
        .map_err(|why| AppError::Forbidden(why.into()))?;
    let (password, hash) = new_temporary_password().await?;
    let now = time::rfc3339(platform::now());
    staff::set_password(&db, &me.tenant, &target.staff_id, &hash, true, &now).await?;
    crate::rooms::hub::kick(&state.env, &me.tenant, &target.staff_id).await;
    Ok(Json(serde_json::json!({"temporary_password": password})))
}
