//! Instagram and Messenger: tenant configs, DM tickets and messages, profiles.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

/// A tenant's Meta configuration (tokens sealed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetaConfig {
    /// Tenant id.
    pub tenant_id: String,
    /// Facebook page id.
    pub page_id: Option<String>,
    /// Instagram professional account id.
    pub instagram_account_id: Option<String>,
    /// The webhook subscription's verify token.
    pub verify_token: Option<String>,
    /// Sealed page access token.
    #[serde(skip_serializing)]
    pub page_access_token_enc: Option<String>,
    /// Sealed app secret.
    #[serde(skip_serializing)]
    pub app_secret_enc: Option<String>,
}

const COLUMNS: &str =
    "tenant_id, page_id, instagram_account_id, verify_token, page_access_token_enc, app_secret_enc";

/// The tenant's config.
pub async fn config(db: &Db, tenant: &str) -> AppResult<Option<MetaConfig>> {
    db.first(
        &format!("SELECT {COLUMNS} FROM meta_configs WHERE tenant_id = ?"),
        params![tenant],
    )
    .await
}

/// The config that owns a Facebook page (`instagram` false) or an Instagram account id.
pub async fn config_of_account(
    db: &Db,
    account_id: &str,
    instagram: bool,
) -> AppResult<Option<MetaConfig>> {
    let column = if instagram {
        "instagram_account_id"
    } else {
        "page_id"
    };
    db.first(
        &format!("SELECT {COLUMNS} FROM meta_configs WHERE {column} = ?"),
        params![account_id],
    )
    .await
}

/// The config with this verify token.
pub async fn config_of_verify_token(db: &Db, token: &str) -> AppResult<Option<MetaConfig>> {
    db.first(
        &format!("SELECT {COLUMNS} FROM meta_configs WHERE verify_token = ?"),
        params![token],
    )
    .await
}

/// Whether another tenant uses one of these page / account ids (in either role) or the verify token.
pub async fn taken_elsewhere(db: &Db, tenant: &str, c: &MetaConfig) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM meta_configs WHERE tenant_id != ?1 AND (page_id IN (?2, ?3)
               OR instagram_account_id IN (?2, ?3) OR verify_token = ?4)",
            params![
                tenant,
                c.page_id.clone(),
                c.instagram_account_id.clone(),
                c.verify_token.clone()
            ],
        )
        .await?;
    Ok(r.is_some())
}

/// Saves a config.
pub async fn save(db: &Db, c: &MetaConfig, now: &str) -> AppResult<()> {
    db.run(
        "INSERT INTO meta_configs (tenant_id, page_id, instagram_account_id, verify_token, page_access_token_enc,
           app_secret_enc, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET page_id = excluded.page_id,
           instagram_account_id = excluded.instagram_account_id, verify_token = excluded.verify_token,
           page_access_token_enc = excluded.page_access_token_enc, app_secret_enc = excluded.app_secret_enc,
           updated_at = excluded.updated_at",
        params![&c.tenant_id, c.page_id.clone(), c.instagram_account_id.clone(), c.verify_token.clone(),
            c.page_access_token_enc.clone(), c.app_secret_enc.clone(), now],
    )
    .await?;
    Ok(())
}

/// The customer's open DM ticket on a channel (open or pending).
pub async fn open_ticket(
    db: &Db,
    tenant: &str,
    customer_id: &str,
    channel: &str,
) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        ticket_id: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT ticket_id FROM tickets WHERE tenant_id = ? AND customer_id = ? AND channel = ?
               AND status IN ('open', 'pending') ORDER BY updated_at DESC LIMIT 1",
            params![tenant, customer_id, channel],
        )
        .await?;
    Ok(r.map(|r| r.ticket_id))
}

/// Records a DM; false when this `mid` was recorded before (a redelivery).
#[allow(clippy::too_many_arguments)]
pub async fn insert_message(
    db: &Db,
    id: &str,
    tenant: &str,
    ticket_id: &str,
    sender_type: &str,
    sender_id: Option<&str>,
    sender_name: Option<&str>,
    content: &str,
    mid: &str,
    at: &str,
) -> AppResult<bool> {
    Ok(db
        .run(
            "INSERT OR IGNORE INTO ticket_messages (id, tenant_id, ticket_id, sender_type, sender_id, sender_name,
               content, meta_mid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![id, tenant, ticket_id, sender_type, sender_id, sender_name, content, mid, at],
        )
        .await?
        > 0) // D1 counts the FTS trigger's row too
}

/// Whether a `mid` is recorded already.
pub async fn known_mid(db: &Db, tenant: &str, mid: &str) -> AppResult<bool> {
    let r: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM ticket_messages WHERE tenant_id = ? AND meta_mid = ?",
            params![tenant, mid],
        )
        .await?;
    Ok(r.is_some())
}

/// When the customer last wrote on the ticket (RFC 3339).
pub async fn last_customer_message(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        at: Option<String>,
    }
    let r: Option<R> = db
        .first(
            "SELECT max(created_at) AS at FROM ticket_messages WHERE tenant_id = ? AND ticket_id = ?
               AND sender_type = 'customer'",
            params![tenant, ticket_id],
        )
        .await?;
    Ok(r.and_then(|r| r.at))
}

/// The PSID / IGSID to answer a DM ticket at: the customer's identity on the account.
pub async fn recipient(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    kind: &str,
    scope: &str,
) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct R {
        value: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT i.value FROM customer_identities i JOIN tickets t ON t.customer_id = i.customer_id
             WHERE t.ticket_id = ? AND t.tenant_id = ? AND i.tenant_id = ? AND i.kind = ? AND i.scope = ? LIMIT 1",
            params![ticket_id, tenant, tenant, kind, scope],
        )
        .await?;
    Ok(r.map(|r| r.value))
}

/// A customer's profile state.
#[derive(Debug, Clone, Deserialize)]
pub struct ProfileState {
    /// Customer id.
    pub id: String,
    /// `none`, `pending`, `fetched`, `failed`.
    pub profile_status: String,
    /// When fetched, Unix ms.
    pub profile_fetched_at_ms: Option<i64>,
    /// Blocked flag (0/1).
    pub blocked: i64,
}

/// The profile state of a customer.
pub async fn profile_state(db: &Db, tenant: &str, id: &str) -> AppResult<Option<ProfileState>> {
    db.first(
        "SELECT id, profile_status, profile_fetched_at_ms, blocked FROM customers WHERE tenant_id = ? AND id = ?",
        params![tenant, id],
    )
    .await
}

/// Statement storing a fetched profile and naming the customer's tickets that have no name yet.
#[allow(clippy::too_many_arguments)]
pub fn store_profile(
    db: &Db,
    tenant: &str,
    id: &str,
    first: Option<&str>,
    last: Option<&str>,
    name: Option<&str>,
    pic: Option<&str>,
    now_ms: i64,
    now: &str,
) -> AppResult<Vec<D1PreparedStatement>> {
    Ok(vec![
        db.stmt(
            "UPDATE customers SET first_name = coalesce(?, first_name), last_name = coalesce(?, last_name),
               name = coalesce(name, ?), profile_pic_url = coalesce(?, profile_pic_url), profile_status = 'fetched',
               profile_fetched_at_ms = ?, updated_at = ? WHERE tenant_id = ? AND id = ? AND erased_at IS NULL",
            params![first, last, name, pic, now_ms, now, tenant, id],
        )?,
        db.stmt(
            "UPDATE tickets SET customer_name = (SELECT coalesce(c.name, nullif(trim(coalesce(c.first_name, '') || ' ' ||
               coalesce(c.last_name, '')), '')) FROM customers c WHERE c.id = ?)
             WHERE tenant_id = ? AND customer_id = ? AND customer_name IS NULL
               AND EXISTS (SELECT 1 FROM customers c WHERE c.id = ? AND c.erased_at IS NULL)",
            params![id, tenant, id, id],
        )?,
    ])
}

/// Statement marking a profile fetch as failed (retried with the next message or a manual fetch).
pub fn profile_failed(
    db: &Db,
    tenant: &str,
    id: &str,
    now: &str,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE customers SET profile_status = 'failed', updated_at = ? WHERE tenant_id = ? AND id = ?",
        params![now, tenant, id],
    )
}

/// How long after a failed (or still pending) profile fetch the sweep tries again, in ms. Every attempt touches
/// the row, so rows that keep failing rotate to the back instead of starving the others.
pub const RETRY_AFTER_MS: i64 = 5 * 60 * 1000;

/// Customers whose Meta profile is still to be read (`failed` or `pending`, untouched for [`RETRY_AFTER_MS`]),
/// with the tenant, oldest first, at most `limit`: the sweep retries them.
pub async fn profiles_to_retry(
    db: &Db,
    now_ms: i64,
    limit: usize,
) -> AppResult<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct R {
        tenant_id: String,
        id: String,
    }
    let rows: Vec<R> = db
        .all(
            "SELECT c.tenant_id, c.id FROM customers c
             WHERE c.profile_status IN ('failed', 'pending') AND c.updated_at < ?
               AND c.erased_at IS NULL
               AND EXISTS (SELECT 1 FROM customer_identities i WHERE i.customer_id = c.id AND i.kind IN ('psid', 'igsid'))
             ORDER BY c.updated_at LIMIT ?",
            params![crate::domain::time::rfc3339(crate::domain::time::from_millis(now_ms - RETRY_AFTER_MS)), limit as i64],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.id)).collect())
}
