//! Staff accounts and tenants.

use super::Db;
use crate::domain::ticket::Role;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// A staff row as login needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct StaffRow {
    /// Staff id (UUID).
    pub staff_id: String,
    /// The staff member's tenant.
    pub tenant_id: String,
    /// Login e-mail, lower-cased; unique across tenants.
    pub email: String,
    /// Display name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// `active` or `inactive`; only active staff can log in or use a token.
    pub status: String,
    /// `pbkdf2-sha256$…` ([`crate::domain::auth::PasswordHash`]).
    pub password_hash: String,
    /// Bumped by a password change or reset; tokens carry it ([`crate::domain::auth::StaffClaims::ver`]).
    pub session_version: i64,
}

/// A staff member as the API shows it (`Staff` in docs/api.md); never the password hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// Staff id (UUID).
    pub staff_id: String,
    /// Tenant id.
    #[serde(rename(serialize = "tenant"))]
    pub tenant_id: String,
    /// Login e-mail, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role, wire form.
    pub role: Role,
    /// Team name, if any.
    pub team: Option<String>,
    /// `active` or `inactive`.
    pub status: String,
    /// Set by a temporary password until the member chooses their own.
    #[serde(deserialize_with = "int_bool")]
    pub must_change_password: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
}

fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

const MEMBER_COLUMNS: &str =
    "staff_id, tenant_id, email, name, role, team, status, must_change_password, created_at";

/// Active or not, by e-mail (lower-cased by the caller).
pub async fn by_email(db: &Db, email: &str) -> AppResult<Option<StaffRow>> {
    db.first(
        "SELECT staff_id, tenant_id, email, name, role, status, password_hash, session_version FROM staff WHERE email = ?",
        params![email],
    )
    .await
}

/// The password row of a staff member of the tenant (any status).
pub async fn credentials(db: &Db, tenant: &str, staff_id: &str) -> AppResult<Option<StaffRow>> {
    db.first(
        "SELECT staff_id, tenant_id, email, name, role, status, password_hash, session_version FROM staff
         WHERE staff_id = ? AND tenant_id = ?",
        params![staff_id, tenant],
    )
    .await
}

/// What every authenticated request re-reads: the caller's current role, team and session version.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// Current role.
    pub role: Role,
    /// Team name.
    pub team: Option<String>,
    /// Current session version; a token with another one is refused.
    pub session_version: i64,
    /// Display name (live presence).
    pub name: String,
}

/// The session data of an active staff member of the tenant; `None` when the account does not exist there or
/// is inactive. Checked on every request, so a role change or deactivation applies at once.
pub async fn active_session(db: &Db, tenant: &str, staff_id: &str) -> AppResult<Option<Session>> {
    db.first(
        "SELECT role, team, session_version, name FROM staff WHERE staff_id = ? AND tenant_id = ? AND status = 'active'",
        params![staff_id, tenant],
    )
    .await
}

/// An active staff member of the tenant, as the API shows it.
pub async fn active_member(db: &Db, tenant: &str, staff_id: &str) -> AppResult<Option<Member>> {
    db.first(
        &format!("SELECT {MEMBER_COLUMNS} FROM staff WHERE staff_id = ? AND tenant_id = ? AND status = 'active'"),
        params![staff_id, tenant],
    )
    .await
}

/// A staff member of the tenant (any status).
pub async fn member(db: &Db, tenant: &str, staff_id: &str) -> AppResult<Option<Member>> {
    db.first(
        &format!("SELECT {MEMBER_COLUMNS} FROM staff WHERE staff_id = ? AND tenant_id = ?"),
        params![staff_id, tenant],
    )
    .await
}

/// Every staff member of the tenant, by name.
pub async fn list(db: &Db, tenant: &str) -> AppResult<Vec<Member>> {
    db.all(
        &format!(
            "SELECT {MEMBER_COLUMNS} FROM staff WHERE tenant_id = ? ORDER BY lower(name), email"
        ),
        params![tenant],
    )
    .await
}

/// A new staff account.
pub struct NewStaff<'a> {
    /// Staff id (UUID).
    pub staff_id: &'a str,
    /// Tenant id.
    pub tenant: &'a str,
    /// Lower-cased e-mail.
    pub email: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Team.
    pub team: Option<&'a str>,
    /// PBKDF2 hash of the (temporary) password.
    pub password_hash: &'a str,
    /// Whether the password is temporary.
    pub must_change_password: bool,
    /// RFC 3339 UTC.
    pub now: &'a str,
}

/// Statement inserting a staff account; fails on a taken e-mail (checked before by [`email_taken`]).
pub fn insert(db: &Db, s: &NewStaff<'_>) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO staff (staff_id, tenant_id, email, name, role, team, status, password_hash, must_change_password,
           created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
        params![s.staff_id, s.tenant, s.email, s.name, s.role.as_str(), s.team, s.password_hash,
            s.must_change_password, s.now, s.now],
    )
}

/// Whether any account (of any tenant) has this e-mail.
pub async fn email_taken(db: &Db, email: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first("SELECT 1 AS one FROM staff WHERE email = ?", params![email])
        .await?;
    Ok(r.is_some())
}

/// Changes to a staff member; `team: Some(None)` clears the team.
#[derive(Debug, Default)]
pub struct StaffPatch {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New team.
    pub team: Option<Option<String>>,
    /// `active` or `inactive`.
    pub status: Option<String>,
}

/// Applies a patch to a staff member of the tenant. Deactivating also bumps the session version, so a later
/// reactivation does not revive old tokens.
pub async fn patch(
    db: &Db,
    tenant: &str,
    staff_id: &str,
    p: &StaffPatch,
    now: &str,
) -> AppResult<()> {
    db.run(
        "UPDATE staff SET name = coalesce(?, name), role = coalesce(?, role),
           team = CASE WHEN ? THEN ? ELSE team END, status = coalesce(?, status), updated_at = ?,
           session_version = session_version + (CASE WHEN ? = 'inactive' THEN 1 ELSE 0 END)
         WHERE staff_id = ? AND tenant_id = ?",
        params![
            p.name.clone(),
            p.role.map(|r| r.as_str().to_string()),
            p.team.is_some(),
            p.team.clone().flatten(),
            p.status.clone(),
            now,
            p.status.clone(),
            staff_id,
            tenant
        ],
    )
    .await?;
    Ok(())
}

/// Sets a new password hash and bumps the session version (every older token stops working); returns the new
/// version.
pub async fn set_password(
    db: &Db,
    tenant: &str,
    staff_id: &str,
    password_hash: &str,
    temporary: bool,
    now: &str,
) -> AppResult<i64> {
    #[derive(Deserialize)]
    struct V {
        session_version: i64,
    }
    let v: Option<V> = db
        .first(
            "UPDATE staff SET password_hash = ?, must_change_password = ?, session_version = session_version + 1,
               updated_at = ? WHERE staff_id = ? AND tenant_id = ? RETURNING session_version",
            params![password_hash, temporary, now, staff_id, tenant],
        )
        .await?;
    Ok(v.map(|v| v.session_version).unwrap_or(1))
}

/// Number of active owners of the tenant (the last one cannot be demoted or deactivated).
pub async fn active_owners(db: &Db, tenant: &str) -> AppResult<i64> {
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    let n: Option<N> = db
        .first(
            "SELECT count(*) AS n FROM staff WHERE tenant_id = ? AND role = 'owner' AND status = 'active'",
            params![tenant],
        )
        .await?;
    Ok(n.map(|n| n.n).unwrap_or(0))
}

/// Creates the tenant's owner only when the tenant has no staff yet (a single statement, so two concurrent
/// first logins create one owner). Returns whether a row was written.
pub async fn bootstrap_owner(
    db: &Db,
    tenant: &str,
    staff_id: &str,
    email: &str,
    password_hash: &str,
    now: &str,
) -> AppResult<bool> {
    let changed = db
        .run(
            "INSERT OR IGNORE INTO staff (staff_id, tenant_id, email, name, role, status, password_hash, created_at, updated_at)
             SELECT ?, ?, ?, ?, 'owner', 'active', ?, ?, ?
             WHERE NOT EXISTS (SELECT 1 FROM staff WHERE tenant_id = ?)",
            params![staff_id, tenant, email, "Owner", password_hash, now, now, tenant],
        )
        .await?;
    Ok(changed > 0)
}

/// Whether the tenant has any staff.
pub async fn tenant_has_staff(db: &Db, tenant: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM staff WHERE tenant_id = ? LIMIT 1",
            params![tenant],
        )
        .await?;
    Ok(r.is_some())
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Number of staff accounts.
    pub staff_count: i64,
}

/// Every tenant with its staff count.
pub async fn tenants(db: &Db) -> AppResult<Vec<Tenant>> {
    db.all(
        "SELECT t.id, t.name, t.created_at, (SELECT count(*) FROM staff s WHERE s.tenant_id = t.id) AS staff_count
         FROM tenants t ORDER BY t.created_at, t.id",
        params![],
    )
    .await
}

/// One tenant.
pub async fn tenant(db: &Db, id: &str) -> AppResult<Option<Tenant>> {
    db.first(
        "SELECT t.id, t.name, t.created_at, (SELECT count(*) FROM staff s WHERE s.tenant_id = t.id) AS staff_count
         FROM tenants t WHERE t.id = ?",
        params![id],
    )
    .await
}

/// Statement creating a tenant.
pub fn insert_tenant(db: &Db, id: &str, name: &str, now: &str) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
        params![id, name, now],
    )
}
