//! CRM work outside the unified API: opening a connection for calls, and enriching tickets with the customer's
//! record in the tenant's primary CRM (looked up by e-mail, else phone; at most once per customer per the
//! connection's cache TTL; never delaying ticket creation: it runs when a draft is prepared or the ticket is viewed).

use crate::config::Config;
use crate::domain::crm::{self, CrmType, Customer};
use crate::error::{AppError, AppResult};
use crate::integrations::crm::{zendesk_auth, Conn, Lookup};
use crate::integrations::http::Http;
use crate::jobs::cs::open;
use crate::platform;
use crate::storage::crm::{self as store, Connection};
use crate::storage::Db;

/// A connection opened for calls (secrets unsealed).
pub async fn connect<'a>(cfg: &Config, http: &'a Http, c: &'a Connection) -> AppResult<Conn<'a>> {
    let kind = CrmType::parse(&c.kind)
        .ok_or_else(|| AppError::Internal("unknown connection type".into()))?;
    let key =
        cfg.cs_encryption_key
            .ok_or(AppError::Config(crate::config::ConfigError::Missing(
                "CS_ENCRYPTION_KEY",
            )))?;
    let secrets: serde_json::Value = match &c.secrets_enc {
        Some(s) => serde_json::from_str(&open(&key, s).await?)?,
        None => serde_json::json!({}),
    };
    let sec = |k: &str| {
        secrets
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let auth = match kind {
        CrmType::Zendesk => zendesk_auth(
            c.settings
                .get("email")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            &sec("api_token"),
        ),
        CrmType::Hubspot => format!("Bearer {}", sec("token")),
        CrmType::Freshdesk => crate::integrations::crm::freshdesk_auth(&sec("api_key")),
        _ => String::new(),
    };
    Ok(Conn {
        http,
        kind,
        name: &c.name,
        base: &c.base_url,
        auth,
        deadline_ms: platform::now_ms() + cfg.crm_timeout_ms as i64,
    })
}

/// The ticket's CRM record: the stored one, else looked up now in the primary CRM (cached per TTL) and stored on
/// the ticket. `Ok(None)` when there is no primary CRM, it does not know the customer, or the lookup failed (the
/// failure is logged and the next call tries again). Returns the vendor and the customer.
pub async fn enrich(
    db: &Db,
    cfg: &Config,
    tenant: &str,
    ticket_id: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> AppResult<Option<(String, Customer)>> {
    match store::primary(db, tenant).await? {
        Some(primary) => enrich_with(db, cfg, &primary, tenant, ticket_id, email, phone).await,
        None => Ok(store::ticket_crm_customer(db, tenant, ticket_id)
            .await?
            .as_ref()
            .and_then(parse_stored)),
    }
}

/// [`enrich`] with the primary connection already loaded (the drafts job loads it once per run).
pub async fn enrich_with(
    db: &Db,
    cfg: &Config,
    conn_row: &Connection,
    tenant: &str,
    ticket_id: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> AppResult<Option<(String, Customer)>> {
    if let Some(stored) = store::ticket_crm_customer(db, tenant, ticket_id).await? {
        return Ok(parse_stored(&stored));
    }
    let (key, lookup) = match (email, phone) {
        (Some(e), _) => (format!("customer:email:{e}"), Lookup::Email(e.to_string())),
        (None, Some(p)) => (format!("customer:phone:{p}"), Lookup::Phone(p.to_string())),
        (None, None) => return Ok(None),
    };
    let now = platform::now_ms();
    let value = match store::cached(db, &conn_row.id, &key, now).await? {
        Some(v) => v,
        None => {
            let http = Http::with_timeout(cfg.crm_timeout_ms);
            let conn = connect(cfg, &http, conn_row).await?;
            let found = match conn.customer(&lookup).await {
                Ok(f) => f,
                Err(e) => {
                    worker::console_warn!("CRM enrichment of {ticket_id}: {e}");
                    return Ok(None);
                }
            };
            let v = match found {
                Some(c) => serde_json::to_value(&c)?,
                None => serde_json::json!({"found": false}),
            };
            if conn_row.cache_ttl_seconds > 0 {
                store::cache(
                    db,
                    &conn_row.id,
                    &key,
                    &v,
                    now + conn_row.cache_ttl_seconds * 1000,
                )
                .await?;
            }
            v
        }
    };
    let stored = serde_json::json!({"crm_type": conn_row.kind, "customer": value});
    store::set_ticket_crm_customer(db, tenant, ticket_id, &stored).await?;
    Ok(parse_stored(&stored))
}

fn parse_stored(v: &serde_json::Value) -> Option<(String, Customer)> {
    let kind = v.get("crm_type")?.as_str()?.to_string();
    let c: Customer = serde_json::from_value(v.get("customer")?.clone()).ok()?;
    Some((kind, c))
}

/// The prompt summary of a ticket's CRM record.
pub fn summary(found: &Option<(String, Customer)>) -> Option<String> {
    found.as_ref().map(|(k, c)| crm::summary(k, c))
}
