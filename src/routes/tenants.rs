//! Tenants, managed by the owner of tenant `default` only (403 for anyone else):
//! - `GET /api/v1/tenants` → `{"tenants":[{"id","name","created_at","staff_count"}]}`.
//! - `POST /api/v1/tenants {"id","name","owner_email","owner_name"}` → 201 `{"tenant","owner","temporary_password"}`;
//!   409 when the id or the e-mail is taken. The new tenant's owner signs in with the temporary password and
//!   sees only their tenant.

use super::extract::{context, ApiJson, Staff};
use super::staff::new_temporary_password;
use super::AppState;
use crate::domain::fields::{Email, Name, TenantId};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::mailbox::DEFAULT_TENANT;
use crate::platform;
use crate::storage::staff;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// The tenant routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/tenants", get(list).post(create))
}

fn require_root(me: &Staff) -> AppResult<()> {
    if me.tenant == DEFAULT_TENANT && me.role == Role::Owner {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the owner of the default tenant manages tenants".into(),
        ))
    }
}

#[worker::send]
async fn list(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    require_root(&me)?;
    let (_, db) = context(&state)?;
    Ok(Json(
        serde_json::json!({"tenants": staff::tenants(&db).await?}),
    ))
}

/// Body of `POST /api/v1/tenants`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 3–40 of `a-z 0-9 -`, starting with a letter.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The new tenant's owner: login e-mail (unique across tenants).
    pub owner_email: String,
    /// The owner's display name.
    pub owner_name: String,
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<NewTenant>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    require_root(&me)?;
    let id = TenantId::parse(&body.id)?;
    let name = Name::parse("name", &body.name)?;
    let email = Email::parse("owner_email", &body.owner_email)?;
    let owner_name = Name::parse("owner_name", &body.owner_name)?;
    let (_, db) = context(&state)?;
    if staff::tenant(&db, id.as_str()).await?.is_some() {
        return Err(AppError::Conflict(format!("tenant {id} already exists")));
    }
    if staff::email_taken(&db, email.as_str()).await? {
        return Err(AppError::Conflict(format!(
            "{email} already has an Edgedesk account"
        )));
    }
    let (password, hash) = new_temporary_password().await?;
    let owner_id = platform::uuid()?;
    let now = time::rfc3339(platform::now());
    db.batch(vec![
        staff::insert_tenant(&db, id.as_str(), name.as_str(), &now)?,
        staff::insert(
            &db,
            &staff::NewStaff {
                staff_id: &owner_id,
                tenant: id.as_str(),
                email: email.as_str(),
                name: owner_name.as_str(),
                role: Role::Owner,
                team: None,
                password_hash: &hash,
                must_change_password: true,
                now: &now,
            },
        )?,
    ])
    .await?;
    let tenant = staff::tenant(&db, id.as_str()).await?;
    let owner = staff::member(&db, id.as_str(), &owner_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"tenant": tenant, "owner": owner, "temporary_password": password})),
    ))
}
