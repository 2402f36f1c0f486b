//! Gmail mailboxes: sync position (`history_id`), cached access token, and the poll lease.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::Deserialize;

/// How long a poll holds its mailbox, in ms. A crashed poll frees it after this.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// A row of `mailboxes`: a Gmail mailbox with its sync position and cached token.
#[derive(Debug, Clone, Deserialize)]
pub struct MailboxRow {
    /// Mailbox id (UUID).
    pub id: String,
    /// The owning tenant.
    pub tenant_id: String,
    /// The Gmail address, lower-cased; unique across tenants.
    pub address: String,
    /// Gmail `historyId` the next incremental sync starts from; `None` before the first sync.
    pub history_id: Option<String>,
    /// Cached OAuth access token, if any.
    pub access_token: Option<String>,
    /// Unix ms.
    pub access_token_expires_at: Option<i64>,
}

/// The mailbox row for `address` in `tenant`, created on first use. An address that already belongs to another
/// tenant is an [`crate::error::AppError::Conflict`].
pub async fn ensure(
    db: &Db,
    tenant: &str,
    address: &str,
    new_id: &str,
    now: &str,
) -> AppResult<MailboxRow> {
    db.run(
        "INSERT OR IGNORE INTO mailboxes (id, tenant_id, address, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        params![new_id, tenant, address, now, now],
    )
    .await?;
    db.first(
        "SELECT id, tenant_id, address, history_id, access_token, access_token_expires_at FROM mailboxes WHERE address = ? AND tenant_id = ?",
        params![address, tenant],
    )
    .await?
    .ok_or_else(|| crate::error::AppError::Conflict(format!("mailbox {address} belongs to another tenant")))
}

/// Takes the poll lease for `owner` (a random id of this run) when it is free or expired ([`LEASE_MS`]).
/// Returns false when another poll holds it.
pub async fn try_lease(db: &Db, id: &str, owner: &str, now_ms: i64) -> AppResult<bool> {
    let n = db
        .run(
            "UPDATE mailboxes SET lease_until = ?, lease_owner = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
            params![now_ms + LEASE_MS, owner, id, now_ms],
        )
        .await?;
    Ok(n == 1)
}

/// Ends a poll: frees the lease if `owner` still holds it, and records when and how the poll ended.
pub async fn finish_poll(
    db: &Db,
    id: &str,
    owner: &str,
    now: &str,
    error: Option<&str>,
) -> AppResult<()> {
    db.run(
        "UPDATE mailboxes SET lease_until = NULL, lease_owner = NULL, last_poll_at = ?, last_error = ?, updated_at = ?
         WHERE id = ? AND lease_owner = ?",
        params![now, error, now, id, owner],
    )
    .await?;
    Ok(())
}

/// Caches an access token until `expires_at_ms`.
pub async fn save_token(db: &Db, id: &str, token: &str, expires_at_ms: i64) -> AppResult<()> {
    db.run(
        "UPDATE mailboxes SET access_token = ?, access_token_expires_at = ? WHERE id = ?",
        params![token, expires_at_ms, id],
    )
    .await?;
    Ok(())
}

/// Forgets the cached token (after Gmail refused it).
pub async fn clear_token(db: &Db, id: &str) -> AppResult<()> {
    db.run(
        "UPDATE mailboxes SET access_token = NULL, access_token_expires_at = NULL WHERE id = ?",
        params![id],
    )
    .await?;
    Ok(())
}

/// The mailbox of a tenant by id.
pub async fn by_id(db: &Db, tenant: &str, id: &str) -> AppResult<Option<MailboxRow>> {
    db.first(
        "SELECT id, tenant_id, address, history_id, access_token, access_token_expires_at FROM mailboxes WHERE id = ? AND tenant_id = ?",
        params![id, tenant],
    )
    .await
}
