//! CRM connections and the response cache.

use super::Db;
use crate::error::AppResult;
use crate::params;
use serde::{Deserialize, Serialize};

/// A connection row (the secrets stay sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connection {
    /// Id.
    pub id: String,
    /// `salesforce|zendesk|hubspot|freshdesk|livechat`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// API base URL.
    pub base_url: String,
    /// Non-secret settings (JSON object).
    #[serde(deserialize_with = "json_object")]
    pub settings: serde_json::Value,
    /// Sealed secrets.
    #[serde(skip_serializing)]
    pub secrets_enc: Option<String>,
    /// The primary CRM (enrichment).
    #[serde(deserialize_with = "int_bool")]
    pub is_primary: bool,
    /// Cache TTL in seconds.
    pub cache_ttl_seconds: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A non-secret string setting of a connection's `settings` object, trimmed; `None` when absent or blank.
pub fn setting<'a>(settings: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    settings
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl Connection {
    /// A string setting ([`setting`]).
    pub fn setting(&self, key: &str) -> Option<&str> {
        setting(&self.settings, key)
    }
}

fn int_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

fn json_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    let t = String::deserialize(d)?;
    Ok(serde_json::from_str(&t).unwrap_or_else(|_| serde_json::json!({})))
}

const COLUMNS: &str =
    "id, type, name, base_url, settings, secrets_enc, is_primary, cache_ttl_seconds, created_at, updated_at";

/// The tenant's connections.
pub async fn list(db: &Db, tenant: &str) -> AppResult<Vec<Connection>> {
    db.all(
        &format!("SELECT {COLUMNS} FROM crm_connections WHERE tenant_id = ? ORDER BY created_at"),
        params![tenant],
    )
    .await
}

/// One connection of the tenant.
pub async fn get(db: &Db, tenant: &str, id: &str) -> AppResult<Option<Connection>> {
    db.first(
        &format!("SELECT {COLUMNS} FROM crm_connections WHERE tenant_id = ? AND id = ?"),
        params![tenant, id],
    )
    .await
}

/// The tenant's connection of a type (the primary one first).
pub async fn of_type(db: &Db, tenant: &str, kind: &str) -> AppResult<Option<Connection>> {
    db.first(
        &format!(
            "SELECT {COLUMNS} FROM crm_connections WHERE tenant_id = ? AND type = ?
             ORDER BY is_primary DESC, created_at LIMIT 1"
        ),
        params![tenant, kind],
    )
    .await
}

/// Saves a connection (insert or replace by id), clearing other primaries when this one is primary.
pub async fn save(db: &Db, tenant: &str, c: &Connection) -> AppResult<()> {
    let mut stmts = Vec::new();
    if c.is_primary {
        stmts.push(db.stmt(
            "UPDATE crm_connections SET is_primary = 0 WHERE tenant_id = ? AND id != ?",
            params![tenant, &c.id],
        )?);
    }
    stmts.push(db.stmt(
        "INSERT INTO crm_connections (id, tenant_id, type, name, base_url, settings, secrets_enc, is_primary,
           cache_ttl_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, base_url = excluded.base_url, settings = excluded.settings,
           secrets_enc = excluded.secrets_enc, is_primary = excluded.is_primary,
           cache_ttl_seconds = excluded.cache_ttl_seconds, updated_at = excluded.updated_at
         WHERE crm_connections.tenant_id = excluded.tenant_id",
        params![&c.id, tenant, &c.kind, &c.name, &c.base_url, c.settings.to_string(), c.secrets_enc.clone(),
            c.is_primary, c.cache_ttl_seconds, &c.created_at, &c.updated_at],
    )?);
    // The cache of a changed connection may describe another account.
    stmts.push(db.stmt(
        "DELETE FROM crm_cache WHERE connection_id = ?",
        params![&c.id],
    )?);
    db.batch(stmts).await
}

/// Deletes a connection of the tenant; whether it existed.
pub async fn delete(db: &Db, tenant: &str, id: &str) -> AppResult<bool> {
    db.batch(vec![db.stmt("DELETE FROM crm_cache WHERE connection_id = ? AND connection_id IN (SELECT id FROM crm_connections WHERE tenant_id = ?)", params![id, tenant])?])
        .await?;
    Ok(db
        .run(
            "DELETE FROM crm_connections WHERE tenant_id = ? AND id = ?",
            params![tenant, id],
        )
        .await?
        > 0)
}

/// A cached value still valid at `now_ms`.
pub async fn cached(
    db: &Db,
    connection: &str,
    key: &str,
    now_ms: i64,
) -> AppResult<Option<serde_json::Value>> {
    #[derive(Deserialize)]
    struct R {
        value: String,
    }
    let r: Option<R> = db
        .first(
            "SELECT value FROM crm_cache WHERE connection_id = ? AND key = ? AND expires_at_ms > ?",
            params![connection, key, now_ms],
        )
        .await?;
    Ok(r.and_then(|r| serde_json::from_str(&r.value).ok()))
}

/// Caches a value until `expires_at_ms`.
pub async fn cache(
    db: &Db,
    connection: &str,
    key: &str,
    value: &serde_json::Value,
    expires_at_ms: i64,
) -> AppResult<()> {
    db.run(
        "INSERT OR REPLACE INTO crm_cache (connection_id, key, value, expires_at_ms) VALUES (?, ?, ?, ?)",
        params![connection, key, value.to_string(), expires_at_ms],
    )
    .await?;
    Ok(())
}

/// The tenant's primary CRM connection (never LiveChat, which holds no customers).
pub async fn primary(db: &Db, tenant: &str) -> AppResult<Option<Connection>> {
    db.first(
        &format!(
            "SELECT {COLUMNS} FROM crm_connections WHERE tenant_id = ? AND is_primary = 1
               AND type IN ('salesforce', 'zendesk', 'hubspot', 'freshdesk') LIMIT 1"
        ),
        params![tenant],
    )
    .await
}

/// The CRM record stored on a ticket (JSON), if any.
pub async fn ticket_crm_customer(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
) -> AppResult<Option<serde_json::Value>> {
    #[derive(Deserialize)]
    struct R {
        crm_customer: Option<String>,
    }
    let r: Option<R> = db
        .first(
            "SELECT crm_customer FROM tickets WHERE tenant_id = ? AND ticket_id = ?",
            params![tenant, ticket_id],
        )
        .await?;
    Ok(r.and_then(|r| r.crm_customer)
        .and_then(|t| serde_json::from_str(&t).ok()))
}

/// Stores a CRM record on a ticket.
pub async fn set_ticket_crm_customer(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    v: &serde_json::Value,
) -> AppResult<()> {
    db.run(
        "UPDATE tickets SET crm_customer = ? WHERE tenant_id = ? AND ticket_id = ?",
        params![v.to_string(), tenant, ticket_id],
    )
    .await?;
    Ok(())
}

/// A LiveChat handoff as recorded (`crm_handoffs`).
pub struct HandoffRow<'a> {
    /// UUID.
    pub id: &'a str,
    /// The livechat connection.
    pub connection_id: &'a str,
    /// The Edgedesk ticket, if any.
    pub ticket_id: Option<&'a str>,
    /// CallSid from the context.
    pub call_id: Option<&'a str>,
    /// LiveChat chat id.
    pub chat_id: &'a str,
    /// `assigned|queued|pending`.
    pub status: &'a str,
    /// Assigned agent.
    pub agent_id: Option<&'a str>,
    /// Assigned agent's name.
    pub agent_name: Option<&'a str>,
    /// Seconds.
    pub estimated_wait_seconds: i64,
    /// Why.
    pub reason: Option<&'a str>,
    /// `low|normal|high|urgent`.
    pub urgency: &'a str,
    /// Staff id.
    pub created_by: &'a str,
    /// RFC 3339.
    pub now: &'a str,
}

/// Statement recording a handoff.
pub fn insert_handoff(
    db: &Db,
    tenant: &str,
    h: &HandoffRow<'_>,
) -> AppResult<worker::D1PreparedStatement> {
    db.stmt(
        "INSERT INTO crm_handoffs (id, tenant_id, connection_id, ticket_id, call_id, chat_id, status, agent_id,
           agent_name, estimated_wait_seconds, reason, urgency, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![h.id, tenant, h.connection_id, h.ticket_id, h.call_id, h.chat_id, h.status, h.agent_id,
            h.agent_name, h.estimated_wait_seconds, h.reason, h.urgency, h.created_by, h.now],
    )
}

/// A ticket waiting for its CRM record.
#[derive(Debug, Deserialize)]
pub struct Unenriched {
    /// Tenant.
    pub tenant_id: String,
    /// Ticket id.
    pub ticket_id: String,
    /// The ticket's e-mail, else one from the customer registry.
    pub email: Option<String>,
    /// The ticket's phone, else one from the customer registry.
    pub phone: Option<String>,
}

/// Most enrichment attempts of one ticket.
pub const MAX_ENRICH_ATTEMPTS: i64 = 5;

/// Tickets created since `since` (RFC 3339) with no CRM record yet, in tenants with a primary CRM, that have an
/// e-mail or phone (on the ticket or the customer's registry identities), due for an attempt at `now_ms` (fewer
/// than [`MAX_ENRICH_ATTEMPTS`] failures, back-off passed), least recently tried first, at most `limit`.
pub async fn unenriched(
    db: &Db,
    since: &str,
    now_ms: i64,
    limit: u32,
) -> AppResult<Vec<Unenriched>> {
    db.all(
        "SELECT t.tenant_id, t.ticket_id,
           COALESCE(t.customer_email, (SELECT i.value FROM customer_identities i WHERE i.tenant_id = t.tenant_id
             AND i.customer_id = t.customer_id AND i.kind = 'email' ORDER BY i.created_at LIMIT 1)) AS email,
           COALESCE(t.customer_phone, (SELECT i.value FROM customer_identities i WHERE i.tenant_id = t.tenant_id
             AND i.customer_id = t.customer_id AND i.kind = 'phone' ORDER BY i.created_at LIMIT 1)) AS phone
         FROM tickets t
         WHERE t.created_at >= ? AND t.crm_customer IS NULL AND t.crm_attempts < ? AND t.crm_retry_at_ms <= ?
           AND t.tenant_id IN (SELECT tenant_id FROM crm_connections WHERE is_primary = 1
                               AND type IN ('salesforce', 'zendesk', 'hubspot', 'freshdesk'))
           AND (email IS NOT NULL OR phone IS NOT NULL)
         ORDER BY t.crm_retry_at_ms, t.created_at LIMIT ?",
        params![since, MAX_ENRICH_ATTEMPTS, now_ms, i64::from(limit)],
    )
    .await
}

/// Records a failed enrichment attempt: the next one waits 2^(attempts−1) minutes.
pub async fn enrich_failed(db: &Db, tenant: &str, ticket_id: &str, now_ms: i64) -> AppResult<()> {
    db.run(
        "UPDATE tickets SET crm_attempts = crm_attempts + 1,
           crm_retry_at_ms = ? + 60000 * (1 << MIN(crm_attempts, 6))
         WHERE tenant_id = ? AND ticket_id = ?",
        params![now_ms, tenant, ticket_id],
    )
    .await?;
    Ok(())
}

/// Replaces a connection's sealed secrets (a rotated refresh token), leaving its cache alone.
pub async fn set_secrets(db: &Db, tenant: &str, id: &str, sealed: &str) -> AppResult<()> {
    db.run(
        "UPDATE crm_connections SET secrets_enc = ? WHERE tenant_id = ? AND id = ?",
        params![sealed, tenant, id],
    )
    .await?;
    Ok(())
}

/// A connection with ticket sync switched on, and its tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncConnection {
    /// Tenant.
    pub tenant_id: String,
    /// Connection id.
    pub id: String,
}

/// Connections of every tenant with `settings.sync_tickets` true (never LiveChat).
pub async fn sync_connections(db: &Db) -> AppResult<Vec<SyncConnection>> {
    db.all(
        "SELECT tenant_id, id FROM crm_connections
         WHERE json_extract(settings, '$.sync_tickets') = 1 AND type != 'livechat' AND secrets_enc IS NOT NULL
         ORDER BY created_at",
        params![],
    )
    .await
}

/// An Edgedesk ticket as the sync sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct SyncTicket {
    /// Ticket id.
    pub ticket_id: String,
    /// `TKT-…`.
    pub ticket_number: String,
    /// Subject.
    pub subject: String,
    /// First message.
    pub description: Option<String>,
    /// Edgedesk priority.
    pub priority: String,
    /// Edgedesk status.
    pub status: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The CRM record stored by enrichment (JSON), for the requester.
    pub crm_customer: Option<String>,
    /// The requester's e-mail address, phone and name.
    pub customer_email: Option<String>,
    /// Phone (E.164).
    pub customer_phone: Option<String>,
    /// Name.
    pub customer_name: Option<String>,
    /// The link's external id (linked tickets only).
    pub external_id: Option<String>,
    /// The link's last agreed unified status (linked tickets only).
    pub synced_status: Option<String>,
    /// 1 when a create was attempted before (claimed by an earlier run): it may have happened although it failed.
    #[serde(default)]
    pub tried: i64,
    /// RFC 3339: when the first attempt claimed it (unlinked tickets tried before only).
    #[serde(default)]
    pub claimed_at: Option<String>,
}

const SYNC_TICKET_COLUMNS: &str =
    "t.ticket_id, t.ticket_number, t.subject, t.description, t.priority, t.status,
  t.updated_at, t.crm_customer, t.customer_email, t.customer_phone, t.customer_name";

/// Tickets still open or pending, or changed since `since`, with no CRM ticket yet (or whose creation failed fewer
/// than 5 times and is due again at `now_ms`), oldest first. (A mail's ticket is dated by the mail, not by its ingestion.)
pub async fn unlinked_tickets(
    db: &Db,
    tenant: &str,
    connection: &str,
    since: &str,
    now_ms: i64,
    limit: u32,
) -> AppResult<Vec<SyncTicket>> {
    db.all(
        &format!(
            "SELECT {SYNC_TICKET_COLUMNS}, NULL AS external_id, NULL AS synced_status,
                    (l.ticket_id IS NOT NULL) AS tried, l.created_at AS claimed_at FROM tickets t
             LEFT JOIN crm_ticket_links l ON l.connection_id = ? AND l.ticket_id = t.ticket_id
             WHERE t.tenant_id = ? AND (t.status IN ('open', 'pending') OR t.updated_at >= ?)
               AND t.merged_into IS NULL
               AND (l.ticket_id IS NULL OR (l.external_id IS NULL AND l.attempts < ? AND l.retry_at_ms <= ?))
             ORDER BY t.created_at LIMIT ?"
        ),
        params![connection, tenant, since, SYNC_MAX_ATTEMPTS, now_ms, i64::from(limit)],
    )
    .await
}

/// Linked tickets (with an external id) matching `and_order` (an `AND …` condition and the `ORDER BY`).
async fn linked_tickets(
    db: &Db,
    tenant: &str,
    connection: &str,
    and_order: &str,
    limit: u32,
) -> AppResult<Vec<SyncTicket>> {
    db.all(
        &format!(
            "SELECT {SYNC_TICKET_COLUMNS}, l.external_id, l.synced_status FROM crm_ticket_links l
             JOIN tickets t ON t.ticket_id = l.ticket_id AND t.tenant_id = l.tenant_id
             WHERE l.connection_id = ? AND l.tenant_id = ? AND l.external_id IS NOT NULL {and_order} LIMIT ?"
        ),
        params![connection, tenant, i64::from(limit)],
    )
    .await
}

/// Linked tickets changed in Edgedesk since their last sync.
pub async fn changed_tickets(
    db: &Db,
    tenant: &str,
    connection: &str,
    limit: u32,
) -> AppResult<Vec<SyncTicket>> {
    linked_tickets(
        db,
        tenant,
        connection,
        "AND t.updated_at > COALESCE(l.edgedesk_updated_at, '') ORDER BY t.updated_at",
        limit,
    )
    .await
}

/// Linked tickets whose CRM side was read longest ago (none with an Edgedesk change still to push: Edgedesk
/// wins).
pub async fn tickets_to_check(
    db: &Db,
    tenant: &str,
    connection: &str,
    limit: u32,
) -> AppResult<Vec<SyncTicket>> {
    linked_tickets(
        db,
        tenant,
        connection,
        "AND t.updated_at <= COALESCE(l.edgedesk_updated_at, '') ORDER BY l.checked_at_ms",
        limit,
    )
    .await
}

/// Claims a ticket for one create attempt, as a lease of [`SYNC_RETRY_STEP_MS`]: a new link row, or a due one whose
/// earlier attempt failed (or whose run died). `false` when another run holds it (overlapping crons): then nothing
/// is created. One write for a new ticket, two for a retry.
pub async fn claim_link(
    db: &Db,
    tenant: &str,
    connection: &str,
    ticket: &str,
    now: &str,
    now_ms: i64,
) -> AppResult<bool> {
    let lease = now_ms + SYNC_RETRY_STEP_MS;
    let inserted = db
        .run(
            "INSERT OR IGNORE INTO crm_ticket_links (connection_id, tenant_id, ticket_id, created_at, retry_at_ms)
             VALUES (?, ?, ?, ?, ?)",
            params![connection, tenant, ticket, now, lease],
        )
        .await?;
    if inserted == 1 {
        return Ok(true);
    }
    let taken = db
        .run(
            "UPDATE crm_ticket_links SET retry_at_ms = ?
             WHERE connection_id = ? AND ticket_id = ? AND external_id IS NULL AND retry_at_ms <= ?",
            params![lease, connection, ticket, now_ms],
        )
        .await?;
    Ok(taken == 1)
}

/// Records the CRM ticket created for a ticket.
pub async fn link_created(
    db: &Db,
    connection: &str,
    ticket: &str,
    external_id: &str,
    status: &str,
    updated_at: &str,
    now_ms: i64,
) -> AppResult<()> {
    db.run(
        "UPDATE crm_ticket_links SET external_id = ?, synced_status = ?, edgedesk_updated_at = ?, last_error = NULL,
           checked_at_ms = ? WHERE connection_id = ? AND ticket_id = ?",
        params![external_id, status, updated_at, now_ms, connection, ticket],
    )
    .await?;
    Ok(())
}

/// A failed create is tried again after this many ms times the failed attempts so far (5, 10, 15 … min), at most
/// [`SYNC_RETRY_MAX_MS`] apart; a claim holds a ticket this long (a run that dies mid-create pauses it too).
pub const SYNC_RETRY_STEP_MS: i64 = 5 * 60 * 1000;
/// Longest pause between two create attempts (1 h).
pub const SYNC_RETRY_MAX_MS: i64 = 60 * 60 * 1000;
/// Failed create attempts after which a ticket is no longer mirrored (≈ a day of retries).
pub const SYNC_MAX_ATTEMPTS: i64 = 30;

/// Records a failed creation (kept for retry after [`SYNC_RETRY_STEP_MS`] × attempts, capped at
/// [`SYNC_RETRY_MAX_MS`], given up after [`SYNC_MAX_ATTEMPTS`]).
pub async fn link_failed(
    db: &Db,
    connection: &str,
    ticket: &str,
    error: &str,
    now_ms: i64,
) -> AppResult<()> {
    db.run(
        "UPDATE crm_ticket_links SET attempts = attempts + 1, last_error = ?,
                retry_at_ms = ? + MIN(? * (attempts + 1), ?)
         WHERE connection_id = ? AND ticket_id = ?",
        params![
            error,
            now_ms,
            SYNC_RETRY_STEP_MS,
            SYNC_RETRY_MAX_MS,
            connection,
            ticket
        ],
    )
    .await?;
    Ok(())
}

/// Records an agreed status (and the ticket's `updated_at` it was seen at).
pub async fn link_synced(
    db: &Db,
    connection: &str,
    ticket: &str,
    status: &str,
    updated_at: &str,
    now_ms: i64,
) -> AppResult<()> {
    db.run(
        "UPDATE crm_ticket_links SET synced_status = ?, edgedesk_updated_at = ?, checked_at_ms = ?
         WHERE connection_id = ? AND ticket_id = ?",
        params![status, updated_at, now_ms, connection, ticket],
    )
    .await?;
    Ok(())
}

/// The CRM side was read and nothing changed.
pub async fn link_checked(db: &Db, connection: &str, ticket: &str, now_ms: i64) -> AppResult<()> {
    db.run(
        "UPDATE crm_ticket_links SET checked_at_ms = ? WHERE connection_id = ? AND ticket_id = ?",
        params![now_ms, connection, ticket],
    )
    .await?;
    Ok(())
}

/// A ticket's CRM links (for the ticket detail).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketLink {
    /// Connection id.
    pub connection_id: String,
    /// Vendor.
    #[serde(rename = "type")]
    pub kind: String,
    /// The CRM ticket's id.
    pub external_id: Option<String>,
    /// Last agreed unified status.
    pub synced_status: Option<String>,
    /// Last creation error.
    pub last_error: Option<String>,
}

/// The CRM tickets a ticket is mirrored as.
pub async fn ticket_links(db: &Db, tenant: &str, ticket: &str) -> AppResult<Vec<TicketLink>> {
    db.all(
        "SELECT l.connection_id, c.type, l.external_id, l.synced_status, l.last_error FROM crm_ticket_links l
         JOIN crm_connections c ON c.id = l.connection_id WHERE l.tenant_id = ? AND l.ticket_id = ?",
        params![tenant, ticket],
    )
    .await
}

/// Sets a ticket's status from its CRM mirror (with `resolved_at` following the status, as a staff change would)
/// and logs a `crm_sync` activity entry.
pub async fn set_status_from_crm(
    db: &Db,
    tenant: &str,
    ticket_id: &str,
    status: &str,
    detail: &serde_json::Value,
    now: &str,
) -> AppResult<()> {
    let resolved_at = status
        .parse::<crate::domain::ticket::Status>()
        .ok()
        .and_then(|s| s.resolved_at_after(now));
    let patch = super::tickets::Patch {
        status: Some(status.to_string()),
        resolved_at,
        ..Default::default()
    };
    db.batch(vec![
        super::tickets::patch(db, tenant, ticket_id, &patch, now)?,
        super::tickets::insert_event(
            db,
            &super::tickets::NewEvent {
                id: crate::platform::uuid()?,
                tenant,
                ticket_id,
                actor_id: None,
                kind: "crm_sync",
                detail: detail.clone(),
                now,
            },
        )?,
    ])
    .await
}
