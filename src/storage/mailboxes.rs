//! Gmail mailboxes: sync position (`history_id`), cached access token, and the poll lease.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::Deserialize;

/// How long a poll holds its mailbox, in ms. A crashed poll frees it after this.
pub const LEASE_MS: i64 = 5 * 60 * 1000;

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

/// The mailbox row for `address` in `tenant`, created on first use.
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
        "SELECT id, tenant_id, address, history_id, access_token, access_token_expires_at FROM mailboxes WHERE address = ?",
        params![address],
    )
    .await?
    .ok_or_else(|| crate::error::AppError::Internal(format!("mailbox {address} vanished")))
}

/// Takes the poll lease when it is free or expired. Returns false when another poll holds it.
pub async fn try_lease(db: &Db, id: &str, now_ms: i64) -> AppResult<bool> {
    let n = db
        .run(
            "UPDATE mailboxes SET lease_until = ? WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)",
            params![now_ms + LEASE_MS, id, now_ms],
        )
        .await?;
    Ok(n == 1)
}

/// Ends a poll: frees the lease and records when and how it ended.
pub async fn finish_poll(db: &Db, id: &str, now: &str, error: Option<&str>) -> AppResult<()> {
    db.run(
        "UPDATE mailboxes SET lease_until = NULL, last_poll_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
        params![now, error, now, id],
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
