//! CRM work outside the unified API: opening a connection for calls, and enriching tickets with the customer's
//! record in the tenant's primary CRM (looked up by e-mail, else phone; at most once per customer per the
//! connection's cache TTL; never delaying ticket creation: it runs when a draft is prepared or the ticket is viewed).

use crate::config::Config;
use crate::domain::crm::{self, CrmType, Customer};
use crate::error::{AppError, AppResult};
use crate::integrations::crm::{zendesk_auth, Conn, Lookup, OAuthRefresh};
use crate::integrations::http::Http;
use crate::jobs::cs::{open, seal};
use crate::platform;
use crate::storage::crm::{self as store, Connection};
use crate::storage::Db;
use std::cell::{Cell, RefCell};

/// Cache key of a Salesforce access token (sealed with `CS_ENCRYPTION_KEY`) in `crm_cache`.
const TOKEN_KEY: &str = "oauth:access_token";
/// How long a Salesforce access token is reused, in ms (sessions last 2 h by default; a 401
/// `INVALID_SESSION_ID` before that refreshes it anyway).
const TOKEN_TTL_MS: i64 = 60 * 60 * 1000;

/// A connection opened for calls (secrets unsealed; Salesforce: the cached access token, if any).
pub async fn connect<'a>(
    cfg: &Config,
    db: &Db,
    http: &'a Http,
    c: &'a Connection,
) -> AppResult<Conn<'a>> {
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
    let mut oauth = None;
    let auth = match kind {
        CrmType::Zendesk => zendesk_auth(c.setting("email").unwrap_or_default(), &sec("api_token")),
        CrmType::Hubspot => format!("Bearer {}", sec("token")),
        CrmType::Freshdesk => crate::integrations::crm::freshdesk_auth(&sec("api_key")),
        CrmType::Livechat => crate::integrations::livechat::auth(
            c.setting("account_id").unwrap_or_default(),
            &sec("personal_access_token"),
        ),
        CrmType::Salesforce => {
            oauth = Some(OAuthRefresh {
                login_url: c
                    .setting("login_url")
                    .unwrap_or("https://login.salesforce.com")
                    .trim_end_matches('/')
                    .to_string(),
                client_id: c.setting("client_id").unwrap_or_default().to_string(),
                client_secret: sec("client_secret"),
                refresh_token: sec("refresh_token"),
            });
            // A kept token that cannot be opened (e.g. after a key change) just means a refresh.
            match store::cached(db, &c.id, TOKEN_KEY, platform::now_ms()).await? {
                Some(v) => match v.get("sealed").and_then(|s| s.as_str()) {
                    Some(sealed) => open(&key, sealed)
                        .await
                        .map(|t| format!("Bearer {t}"))
                        .unwrap_or_default(),
                    None => String::new(),
                },
                None => String::new(),
            }
        }
    };
    Ok(Conn {
        http,
        kind,
        name: &c.name,
        base: &c.base_url,
        auth: RefCell::new(auth),
        oauth,
        refreshed: Cell::new(false),
        rotated_refresh: RefCell::new(None),
        api_version: c.setting("api_version").unwrap_or("57.0").to_string(),
        tier_field: c.setting("tier_field").map(String::from),
        deadline_ms: platform::now_ms() + cfg.crm_timeout_ms as i64,
    })
}

/// Keeps an access token refreshed during `conn`'s use (sealed, for [`TOKEN_TTL_MS`]) so later invocations
/// reuse it, and a refresh token Salesforce rotated with it (the old one no longer works) in the connection's
/// sealed secrets. A failure to store the access token only costs a refresh later; a lost rotated refresh token
/// would end the connection, so that failure is logged as an error.
pub async fn keep_token(db: &Db, cfg: &Config, tenant: &str, row: &Connection, conn: &Conn<'_>) {
    let (Some(token), Some(key)) = (conn.refreshed_token(), cfg.cs_encryption_key) else {
        return;
    };
    let stored = async {
        let sealed = seal(&key, &token).await?;
        store::cache(
            db,
            &row.id,
            TOKEN_KEY,
            &serde_json::json!({ "sealed": sealed }),
            platform::now_ms() + TOKEN_TTL_MS,
        )
        .await
    };
    if let Err(e) = stored.await {
        worker::console_warn!("keeping the access token of connection {}: {e}", row.id);
    }
    if let (Some(rotated), Some(sealed)) = (conn.rotated_refresh_token(), &row.secrets_enc) {
        let saved = async {
            let mut secrets: serde_json::Value = serde_json::from_str(&open(&key, sealed).await?)?;
            secrets["refresh_token"] = rotated.into();
            let resealed = seal(&key, &secrets.to_string()).await?;
            store::set_secrets(db, tenant, &row.id, &resealed).await
        };
        if let Err(e) = saved.await {
            worker::console_error!(
                "keeping the rotated refresh token of connection {}: {e}",
                row.id
            );
        }
    }
}

/// The ticket's CRM record: the stored one, else looked up now in the primary CRM (cached per TTL) and stored on
/// the ticket. `Ok(None)` when there is no primary CRM or it does not know the customer (remembered as
/// `{"found":false}`). A failed lookup is an error, recorded on the ticket so the sweep retries it with back-off.
/// Returns the vendor and the customer.
pub async fn enrich(
    db: &Db,
    cfg: &Config,
    tenant: &str,
    ticket_id: &str,
    email: Option<&str>,
    phone: Option<&str>,
) -> AppResult<Option<(String, Customer)>> {
    match store::primary(db, tenant).await? {
        Some(primary) => {
            let http = Http::with_timeout(cfg.crm_timeout_ms);
            enrich_with(db, cfg, &http, &primary, tenant, ticket_id, email, phone).await
        }
        None => Ok(store::ticket_crm_customer(db, tenant, ticket_id)
            .await?
            .as_ref()
            .and_then(parse_stored)),
    }
}

/// [`enrich`] with the primary connection already loaded (the drafts job loads it once per run) and the
/// caller's [`Http`], whose subrequest counter the CRM calls add to.
#[allow(clippy::too_many_arguments)]
pub async fn enrich_with(
    db: &Db,
    cfg: &Config,
    http: &Http,
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
        // Its own keys: an enrichment record (with open tickets, or a remembered miss) is not a `/crm/customer`
        // answer.
        (Some(e), _) => (format!("enrich:email:{e}"), Lookup::Email(e.to_string())),
        (None, Some(p)) => (format!("enrich:phone:{p}"), Lookup::Phone(p.to_string())),
        (None, None) => return Ok(None),
    };
    let now = platform::now_ms();
    let value = match store::cached(db, &conn_row.id, &key, now).await? {
        Some(v) => v,
        None => {
            let conn = connect(cfg, db, http, conn_row).await?;
            let found = lookup_with_open_tickets(&conn, &lookup).await;
            keep_token(db, cfg, tenant, conn_row, &conn).await;
            let found = match found {
                Ok(f) => f,
                Err(e) => {
                    worker::console_warn!("CRM enrichment of {ticket_id}: {e}");
                    store::enrich_failed(db, tenant, ticket_id, platform::now_ms()).await?;
                    return Err(e);
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

/// The customer and, in `metadata.open_tickets`, their open CRM tickets (`[{id, subject, status}]`, at most 5;
/// left out when that second call fails).
async fn lookup_with_open_tickets(conn: &Conn<'_>, lookup: &Lookup) -> AppResult<Option<Customer>> {
    let Some(mut c) = conn.customer(lookup).await? else {
        return Ok(None);
    };
    match conn.open_tickets(&c.id).await {
        Ok(open) => {
            let list: Vec<serde_json::Value> = open
                .iter()
                .map(|t| serde_json::json!({"id": t.id, "subject": t.subject, "status": t.status}))
                .collect();
            if !c.metadata.is_object() {
                c.metadata = serde_json::json!({});
            }
            c.metadata["open_tickets"] = list.into();
        }
        Err(e) => worker::console_warn!("open CRM tickets of {}: {e}", c.id),
    }
    Ok(Some(c))
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

/// Most tickets the enrichment sweep looks at per run (each costs up to 3 CRM calls and about 6 D1 queries).
pub const SWEEP_BATCH: u32 = 5;
/// The sweep stops starting lookups once its invocation has made this many subrequests (Workers free plan: 50).
pub const SWEEP_SUBREQUESTS: u32 = 30;
/// How far back the sweep looks, in minutes.
pub const SWEEP_WINDOW_MINUTES: i64 = 60;
/// The cron of the enrichment sweep (its own invocation, so its budget is its own).
pub const SWEEP_CRON: &str = "*/2 * * * *";

/// The enrichment sweep (cron [`SWEEP_CRON`]): attaches the primary CRM's record to tickets created in the last
/// [`SWEEP_WINDOW_MINUTES`] from any channel (e-mail, SMS, calls, DMs, chats) — after creation, never delaying
/// it. A failed lookup is retried with back-off (at most 5 attempts) and skips the rest of that tenant's tickets
/// this run. Returns how many tickets got a record.
pub async fn sweep(env: &worker::Env) -> AppResult<u32> {
    let cfg = Config::from_env(env)?;
    let db = Db::new(env.d1("DB")?);
    let now = platform::now();
    let since = crate::domain::time::rfc3339(now - chrono::Duration::minutes(SWEEP_WINDOW_MINUTES));
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let mut done = 0;
    let mut primaries: Vec<(String, Option<Connection>)> = Vec::new();
    let mut failing: Vec<String> = Vec::new();
    for t in store::unenriched(&db, &since, platform::now_ms(), SWEEP_BATCH).await? {
        if http.subrequests.get() >= SWEEP_SUBREQUESTS {
            break;
        }
        if failing.contains(&t.tenant_id) {
            continue;
        }
        if !primaries.iter().any(|(tenant, _)| *tenant == t.tenant_id) {
            primaries.push((
                t.tenant_id.clone(),
                store::primary(&db, &t.tenant_id).await?,
            ));
        }
        let Some(Some(primary)) = primaries
            .iter()
            .find(|(tenant, _)| *tenant == t.tenant_id)
            .map(|(_, p)| p)
        else {
            continue;
        };
        match enrich_with(
            &db,
            &cfg,
            &http,
            primary,
            &t.tenant_id,
            &t.ticket_id,
            t.email.as_deref(),
            t.phone.as_deref(),
        )
        .await
        {
            Ok(_) => done += 1,
            Err(e) => {
                worker::console_warn!("CRM enrichment of {}: {e}", t.ticket_id);
                failing.push(t.tenant_id.clone());
            }
        }
    }
    Ok(done)
}

/// Most tickets a sync run creates, pushes and reads per connection.
pub const SYNC_BATCH: u32 = 5;
/// A sync run starts no CRM call once its invocation has made this many subrequests.
pub const SYNC_SUBREQUESTS: u32 = 40;

/// Statuses that count as the same for the sync: a CRM that cannot set "closed" (Zendesk sets `solved`) must not
/// make the two sides flip each other forever.
fn coarse(unified: &str) -> &'static str {
    match unified {
        "new" | "open" => "open",
        "pending" => "pending",
        _ => "done",
    }
}

/// What a sync run did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct SyncReport {
    /// CRM tickets created for Edgedesk tickets.
    pub created: u32,
    /// CRM tickets an earlier, failed-looking create had made after all, found and linked instead of created again.
    pub recovered: u32,
    /// Edgedesk status changes written to the CRM.
    pub pushed: u32,
    /// CRM status changes written to Edgedesk.
    pub pulled: u32,
}

/// Ticket sync (connections with `settings.sync_tickets`; run by the enrichment cron after enrichment): every
/// Edgedesk ticket still open or pending, or changed since `settings.sync_since`, gets one CRM ticket/case (idempotent by the stored external
/// id: a ticket is claimed before the create, creates are never repeated within a run after a 5xx or timeout, a
/// later run first looks for the ticket such a create may have made ([`Conn::find_created`]: the Zendesk
/// `external_id` / Freshdesk tag `edgedesk-<ticket id>`, the exact subject at HubSpot and Salesforce), and a failed
/// create is retried at most 5 times); status changes in Edgedesk are written to the CRM; the CRM side of linked
/// tickets is read round-robin and its status changes are written to Edgedesk (Edgedesk wins when both changed
/// between two runs). At most [`SYNC_BATCH`] tickets per step per connection and [`SYNC_SUBREQUESTS`] per run.
pub async fn sync(env: &worker::Env) -> AppResult<SyncReport> {
    let cfg = Config::from_env(env)?;
    let db = Db::new(env.d1("DB")?);
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let mut report = SyncReport::default();
    for sc in store::sync_connections(&db).await? {
        if http.subrequests.get() >= SYNC_SUBREQUESTS {
            break;
        }
        let Some(row) = store::get(&db, &sc.tenant_id, &sc.id).await? else {
            continue;
        };
        let conn = connect(&cfg, &db, &http, &row).await?;
        let result = sync_connection(
            &db,
            &http,
            &row,
            &sc.tenant_id,
            &conn,
            cfg.crm_timeout_ms as i64,
            &mut report,
        )
        .await;
        keep_token(&db, &cfg, &sc.tenant_id, &row, &conn).await;
        if let Err(e) = result {
            worker::console_warn!("ticket sync with connection {}: {e}", row.id);
        }
    }
    Ok(report)
}

async fn sync_connection(
    db: &Db,
    http: &Http,
    row: &Connection,
    tenant: &str,
    conn: &Conn<'_>,
    timeout_ms: i64,
    report: &mut SyncReport,
) -> AppResult<()> {
    use crate::domain::crm::{from_edgedesk_status, to_edgedesk_status};
    use crate::integrations::crm::{Requester, TicketInput, TicketPatch};
    let since = row
        .setting("sync_since")
        .unwrap_or(&row.created_at)
        .to_string();
    let budget = || http.subrequests.get() < SYNC_SUBREQUESTS;

    // 1. Mirror new tickets.
    for t in
        store::unlinked_tickets(db, tenant, &row.id, &since, platform::now_ms(), SYNC_BATCH).await?
    {
        // A create needs time for its answer: one started on the run's last seconds could be made at the vendor
        // and still time out here. The next run goes on.
        if !budget() || conn.deadline_ms - platform::now_ms() < timeout_ms / 2 {
            return Ok(());
        }
        let now = crate::domain::time::rfc3339(platform::now());
        if !store::claim_link(db, tenant, &row.id, &t.ticket_id, &now, platform::now_ms()).await? {
            continue; // another run holds it
        }
        let customer_id = t
            .crm_customer
            .as_deref()
            .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            .filter(|c| c.get("crm_type").and_then(|k| k.as_str()) == Some(row.kind.as_str()))
            .and_then(|c| c["customer"]["id"].as_str().map(String::from));
        let valid_email = t
            .customer_email
            .as_deref()
            .filter(|e| crate::domain::fields::Email::parse("email", e).is_ok());
        let input = TicketInput {
            subject: crate::domain::crm::mirror_subject(&t.ticket_number, &t.subject),
            description: Some(t.description.clone().unwrap_or_else(|| t.subject.clone())),
            priority: Some(t.priority.clone()),
            customer_id,
            marker: Some(crate::domain::crm::mirror_marker(
                &t.ticket_number,
                &t.ticket_id,
            )),
            requester: Requester {
                email: valid_email.map(String::from),
                phone: t.customer_phone.clone(),
                name: t.customer_name.clone(),
            },
        };
        // An earlier attempt that failed may still have created it (the answer was lost): look before creating.
        // A failed search has no side effect: it is not counted as an attempt (the claim's lease pauses the ticket).
        let found = if t.tried != 0 {
            conn.find_created(&input, t.claimed_at.as_deref()).await?
        } else {
            None
        };
        let recovered = found.is_some();
        let result = match found {
            Some(existing) => Ok(existing),
            None => conn.create_ticket(&input).await,
        };
        match result {
            Ok(created) => {
                let mut agreed = created.status.clone();
                // A ticket already pending or done in Edgedesk: the new CRM ticket follows.
                if let Some(want) = from_edgedesk_status(&t.status) {
                    if coarse(want) != coarse(&created.status) {
                        let patch = TicketPatch {
                            status: Some(want.into()),
                            ..Default::default()
                        };
                        if let Ok(Some(updated)) = conn.update_ticket(&created.id, &patch).await {
                            agreed = updated.status;
                        }
                    }
                }
                store::link_created(
                    db,
                    &row.id,
                    &t.ticket_id,
                    &created.id,
                    &agreed,
                    &t.updated_at,
                    platform::now_ms(),
                )
                .await?;
                if recovered {
                    report.recovered += 1;
                } else {
                    report.created += 1;
                }
            }
            Err(e) => {
                store::link_failed(
                    db,
                    &row.id,
                    &t.ticket_id,
                    &e.to_string(),
                    platform::now_ms(),
                )
                .await?;
                // The vendor refused this ticket (4xx): the others may go through. Anything else (down, rate
                // limited, timed out) ends this connection's run.
                if e.status_and_code().0.as_u16() != 422 {
                    return Err(e);
                }
                worker::console_warn!(
                    "ticket sync: {} refused by {}: {e}",
                    t.ticket_number,
                    row.id
                );
            }
        }
    }

    // 2. Edgedesk → CRM.
    for t in store::changed_tickets(db, tenant, &row.id, SYNC_BATCH).await? {
        if !budget() {
            return Ok(());
        }
        let (Some(ext), Some(want)) = (t.external_id.as_deref(), from_edgedesk_status(&t.status))
        else {
            continue;
        };
        let synced = t.synced_status.clone().unwrap_or_default();
        if coarse(want) == coarse(&synced) {
            store::link_synced(
                db,
                &row.id,
                &t.ticket_id,
                &synced,
                &t.updated_at,
                platform::now_ms(),
            )
            .await?;
            continue;
        }
        let patch = TicketPatch {
            status: Some(want.into()),
            ..Default::default()
        };
        let agreed = match conn.update_ticket(ext, &patch).await? {
            Some(updated) => updated.status,
            None => want.to_string(), // gone from the CRM: nothing to keep in step
        };
        store::link_synced(
            db,
            &row.id,
            &t.ticket_id,
            &agreed,
            &t.updated_at,
            platform::now_ms(),
        )
        .await?;
        report.pushed += 1;
    }

    // 3. CRM → Edgedesk.
    for t in store::tickets_to_check(db, tenant, &row.id, SYNC_BATCH).await? {
        if !budget() {
            return Ok(());
        }
        let Some(ext) = t.external_id.as_deref() else {
            continue;
        };
        let now_ms = platform::now_ms();
        let Some(remote) = conn.ticket(ext).await? else {
            store::link_checked(db, &row.id, &t.ticket_id, now_ms).await?;
            continue;
        };
        let synced = t.synced_status.clone().unwrap_or_default();
        let edgedesk_now = from_edgedesk_status(&t.status).unwrap_or("open");
        if coarse(&remote.status) == coarse(&synced)
            || coarse(&remote.status) == coarse(edgedesk_now)
        {
            store::link_synced(
                db,
                &row.id,
                &t.ticket_id,
                &remote.status,
                &t.updated_at,
                now_ms,
            )
            .await?;
            continue;
        }
        let Some(status) = to_edgedesk_status(&remote.status) else {
            store::link_checked(db, &row.id, &t.ticket_id, now_ms).await?;
            continue;
        };
        let now = crate::domain::time::rfc3339(platform::now());
        store::set_status_from_crm(
            db,
            tenant,
            &t.ticket_id,
            status,
            &serde_json::json!({"crm_type": row.kind, "connection": row.name, "external_id": ext,
                "from": t.status, "to": status}),
            &now,
        )
        .await?;
        store::link_synced(db, &row.id, &t.ticket_id, &remote.status, &now, now_ms).await?;
        report.pulled += 1;
    }
    Ok(())
}
