//! Canned responses: per-tenant reply snippets with a shortcut.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};

/// A canned response as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Canned {
    /// Id (UUID).
    pub id: String,
    /// Title shown in the picker.
    pub title: String,
    /// Typed as `/shortcut` in the composer; unique per tenant.
    pub shortcut: String,
    /// The text inserted; may contain `{{customer_name}}` and `{{ticket_number}}`.
    pub body: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// The tenant's canned responses, by shortcut.
pub async fn list(db: &Db, tenant: &str) -> AppResult<Vec<Canned>> {
    db.all(
        "SELECT id, title, shortcut, body, updated_at FROM canned_responses WHERE tenant_id = ? ORDER BY shortcut",
        params![tenant],
    )
    .await
}

/// One canned response of the tenant.
pub async fn get(db: &Db, tenant: &str, id: &str) -> AppResult<Option<Canned>> {
    db.first(
        "SELECT id, title, shortcut, body, updated_at FROM canned_responses WHERE tenant_id = ? AND id = ?",
        params![tenant, id],
    )
    .await
}

/// Whether another canned response of the tenant (not `except`) has this shortcut.
pub async fn shortcut_taken(
    db: &Db,
    tenant: &str,
    shortcut: &str,
    except: &str,
) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM canned_responses WHERE tenant_id = ? AND shortcut = ? AND id != ?",
            params![tenant, shortcut, except],
        )
        .await?;
    Ok(r.is_some())
}

/// Creates or replaces a canned response (`id` new or existing in the tenant).
#[allow(clippy::too_many_arguments)]
pub async fn upsert(
    db: &Db,
    tenant: &str,
    id: &str,
    title: &str,
    shortcut: &str,
    body: &str,
    staff_id: &str,
    now: &str,
) -> AppResult<()> {
    db.run(
        "INSERT INTO canned_responses (id, tenant_id, title, shortcut, body, created_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, shortcut = excluded.shortcut, body = excluded.body,
           updated_at = excluded.updated_at WHERE canned_responses.tenant_id = excluded.tenant_id",
        params![id, tenant, title, shortcut, body, staff_id, now, now],
    )
    .await?;
    Ok(())
}

/// Deletes a canned response; whether it existed.
pub async fn delete(db: &Db, tenant: &str, id: &str) -> AppResult<bool> {
    Ok(db
        .run(
            "DELETE FROM canned_responses WHERE tenant_id = ? AND id = ?",
            params![tenant, id],
        )
        .await?
        == 1)
}
