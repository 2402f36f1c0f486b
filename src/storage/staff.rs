//! Staff accounts.

use super::Db;
use crate::domain::ticket::Role;
use crate::error::AppResult;
use crate::params;
use serde::Deserialize;

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
}

/// Active or not, by e-mail (lower-cased by the caller).
pub async fn by_email(db: &Db, email: &str) -> AppResult<Option<StaffRow>> {
    db.first(
        "SELECT staff_id, tenant_id, email, name, role, status, password_hash FROM staff WHERE email = ?",
        params![email],
    )
    .await
}

/// The current role of an active staff member of the tenant; `None` when the account does not exist there or
/// is inactive. Checked on every request, so a role change or deactivation applies at once.
pub async fn active_role(db: &Db, tenant: &str, staff_id: &str) -> AppResult<Option<Role>> {
    #[derive(Deserialize)]
    struct R {
        role: Role,
    }
    let r: Option<R> = db
        .first(
            "SELECT role FROM staff WHERE staff_id = ? AND tenant_id = ? AND status = 'active'",
            params![staff_id, tenant],
        )
        .await?;
    Ok(r.map(|r| r.role))
}

/// Whether the staff member exists, is active and belongs to the tenant.
pub async fn is_active(db: &Db, tenant: &str, staff_id: &str) -> AppResult<bool> {
    Ok(active_role(db, tenant, staff_id).await?.is_some())
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
