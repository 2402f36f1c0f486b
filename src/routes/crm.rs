//! CRM connections and the unified CRM API of the old connectors service (tenant-scoped; shapes in docs/api.md):
//! - admin+: `GET|POST /api/v1/admin/connections`, `PUT|DELETE /api/v1/admin/connections/{id}`,
//!   `POST /api/v1/admin/connections/{id}/test`. Secrets are sealed with `CS_ENCRYPTION_KEY` and never returned.
//! - any staff: `POST /api/v1/crm/customer`, `POST /api/v1/crm/ticket`, `POST /api/v1/crm/tickets`,
//!   `PATCH /api/v1/crm/tickets/{crm_type}/{id}`, `GET /api/v1/crm/health`.
//!
//! Errors: not found → 404; the vendor refused the credentials → 502 `crm_auth_failed` naming the connection; the
//! vendor's rate limit → 503 `crm_rate_limited` with `Retry-After`; no answer in time → 504 `crm_timeout`
//! (`CRM_TIMEOUT_MS`, default 8 s, retries included); customer and ticket calls on a LiveChat connection → 501
//! `crm_not_supported` (LiveChat is for handoffs: [`super::handoff`]).

use super::extract::{context, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::config::Config;
use crate::domain::crm::{CrmType, PRIORITIES, STATUSES};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::integrations::crm::{Lookup, TicketInput, TicketPatch};
use crate::integrations::http::Http;
use crate::jobs::crm::{connect, keep_token};
use crate::jobs::cs::seal;
use crate::platform;
use crate::storage::crm::{self as store, Connection};
use crate::storage::Db;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::Deserialize;

/// The CRM routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/connections", get(list).post(create))
        .route("/api/v1/admin/connections/{id}", put(update).delete(remove))
        .route("/api/v1/admin/connections/{id}/test", post(test))
        .route("/api/v1/crm/customer", post(customer))
        .route("/api/v1/crm/ticket", post(ticket))
        .route("/api/v1/crm/tickets", post(create_ticket))
        .route("/api/v1/crm/tickets/{crm_type}/{id}", patch(update_ticket))
        .route("/api/v1/crm/health", get(health))
}

fn shown(c: &Connection) -> serde_json::Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["has_secrets"] = c.secrets_enc.is_some().into();
    v
}

#[worker::send]
async fn list(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "CRM connections")?;
    let (_, db) = context(&state)?;
    let all: Vec<serde_json::Value> = store::list(&db, &me.tenant)
        .await?
        .iter()
        .map(shown)
        .collect();
    Ok(Json(serde_json::json!({"connections": all})))
}

/// Body of `POST` / `PUT /api/v1/admin/connections`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionInput {
    /// `salesforce|zendesk|hubspot|freshdesk|livechat` (POST only).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// API base override (sandboxes, tests); default per type (Zendesk: `https://{subdomain}.zendesk.com`,
    /// HubSpot: `https://api.hubapi.com`).
    pub base_url: Option<String>,
    /// Non-secret settings: Zendesk `email`, `subdomain`; Salesforce `instance_url`, `client_id`; Freshdesk `domain`;
    /// LiveChat `account_id`.
    pub settings: Option<serde_json::Value>,
    /// Secrets (write-only): Zendesk `api_token`; HubSpot `token`; Salesforce `client_secret`, `refresh_token`;
    /// Freshdesk `api_key`; LiveChat `personal_access_token`.
    pub secrets: Option<serde_json::Value>,
    /// The CRM tickets are enriched from.
    pub is_primary: Option<bool>,
    /// Cache TTL, 0–86 400 s (default 600).
    pub cache_ttl_seconds: Option<i64>,
}

fn required_secrets(kind: CrmType) -> &'static [&'static str] {
    match kind {
        CrmType::Zendesk => &["api_token"],
        CrmType::Hubspot => &["token"],
        CrmType::Salesforce => &["client_secret", "refresh_token"],
        CrmType::Freshdesk => &["api_key"],
        CrmType::Livechat => &["personal_access_token"],
    }
}

/// Settings each vendor needs, checked before anything is stored.
fn check_settings(kind: CrmType, settings: &serde_json::Value) -> AppResult<()> {
    let get = |k: &str| store::setting(settings, k);
    let need = |k: &str, vendor: &str| {
        get(k)
            .map(|_| ())
            .ok_or_else(|| AppError::Validation(format!("settings.{k}: required for {vendor}")))
    };
    match kind {
        CrmType::Zendesk => need("email", "Zendesk")?,
        CrmType::Salesforce => {
            need("client_id", "Salesforce")?;
            if let Some(v) = get("api_version") {
                let ok = v.split_once('.').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
                });
                if !ok {
                    return Err(AppError::Validation(
                        "settings.api_version: like 57.0".into(),
                    ));
                }
            }
            if let Some(f) = get("tier_field") {
                if f.len() > 80 || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(AppError::Validation(
                        "settings.tier_field: a field API name such as Tier__c".into(),
                    ));
                }
            }
            if let Some(u) = get("login_url") {
                if !(u.starts_with("https://") || u.starts_with("http://")) {
                    return Err(AppError::Validation(
                        "settings.login_url: must be an http(s) URL".into(),
                    ));
                }
            }
        }
        CrmType::Livechat => {
            need("account_id", "LiveChat")?;
            if get("api_version").is_some_and(|v| v != "3.5" && v != "3.6") {
                return Err(AppError::Validation(
                    "settings.api_version: 3.6 (default) or 3.5".into(),
                ));
            }
            if settings.get("group_id").is_some_and(|g| !g.is_i64()) {
                return Err(AppError::Validation("settings.group_id: an integer".into()));
            }
        }
        CrmType::Hubspot | CrmType::Freshdesk => {}
    }
    match settings.get("sync_tickets") {
        None | Some(serde_json::Value::Bool(false)) => {}
        Some(serde_json::Value::Bool(true)) if kind != CrmType::Livechat => {}
        Some(serde_json::Value::Bool(true)) => {
            return Err(AppError::Validation(
                "settings.sync_tickets: LiveChat holds no tickets".into(),
            ))
        }
        Some(_) => {
            return Err(AppError::Validation(
                "settings.sync_tickets: true or false".into(),
            ))
        }
    }
    Ok(())
}

fn default_base(kind: CrmType, settings: &serde_json::Value) -> AppResult<String> {
    let get = |k: &str| store::setting(settings, k);
    Ok(match kind {
        CrmType::Zendesk => format!(
            "https://{}.zendesk.com",
            get("subdomain").ok_or_else(|| AppError::Validation(
                "settings.subdomain: required for Zendesk without base_url".into()
            ))?
        ),
        CrmType::Hubspot => "https://api.hubapi.com".into(),
        CrmType::Salesforce => get("instance_url")
            .ok_or_else(|| {
                AppError::Validation("settings.instance_url: required for Salesforce".into())
            })?
            .to_string(),
        CrmType::Freshdesk => format!(
            "https://{}.freshdesk.com",
            get("domain").ok_or_else(|| AppError::Validation(
                "settings.domain: required for Freshdesk".into()
            ))?
        ),
        CrmType::Livechat => "https://api.livechatinc.com".into(),
    })
}

async fn apply(
    cfg: &Config,
    mut c: Connection,
    input: ConnectionInput,
    now: &str,
) -> AppResult<Connection> {
    let kind =
        CrmType::parse(&c.kind).ok_or_else(|| AppError::Validation("type: unknown".into()))?;
    let before = (
        c.base_url.clone(),
        c.settings.get("login_url").cloned(),
        c.settings.get("instance_url").cloned(),
    );
    if let Some(n) = input.name {
        c.name = crate::domain::fields::Name::parse("name", &n)?.to_string();
    }
    let previous_since = c.settings.get("sync_since").cloned();
    if let Some(s) = input.settings {
        if !s.is_object() {
            return Err(AppError::Validation("settings: must be an object".into()));
        }
        c.settings = s;
    }
    check_settings(kind, &c.settings)?;
    // Ticket sync mirrors tickets created from the moment it is switched on.
    let syncing = c.settings.get("sync_tickets") == Some(&serde_json::Value::Bool(true));
    if syncing
        && c.settings
            .get("sync_since")
            .and_then(|v| v.as_str())
            .is_none()
    {
        c.settings["sync_since"] = previous_since.unwrap_or_else(|| now.into());
    }
    if !syncing {
        if let Some(o) = c.settings.as_object_mut() {
            o.remove("sync_since");
        }
    }
    match input
        .base_url
        .map(|u| u.trim().trim_end_matches('/').to_string())
    {
        Some(u) if !u.is_empty() => {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err(AppError::Validation(
                    "base_url: must be an http(s) URL".into(),
                ));
            }
            c.base_url = u;
        }
        _ if c.base_url.is_empty() => c.base_url = default_base(kind, &c.settings)?,
        _ => {}
    }
    let destination = |c: &Connection| {
        (
            c.base_url.clone(),
            c.settings.get("login_url").cloned(),
            c.settings.get("instance_url").cloned(),
        )
    };
    if c.secrets_enc.is_some() && input.secrets.is_none() && destination(&c) != before {
        return Err(AppError::Validation(
            "secrets: send them again when changing base_url, login_url or instance_url".into(),
        ));
    }
    if let Some(sec) = input.secrets {
        if !sec.is_object() {
            return Err(AppError::Validation("secrets: must be an object".into()));
        }
        if let Some(k) = required_secrets(kind).iter().find(|k| {
            sec.get(**k)
                .and_then(|v| v.as_str())
                .is_none_or(|v| v.trim().is_empty())
        }) {
            return Err(AppError::Validation(format!("secrets.{k}: required")));
        }
        let key =
            cfg.cs_encryption_key
                .ok_or(AppError::Config(crate::config::ConfigError::Missing(
                    "CS_ENCRYPTION_KEY",
                )))?;
        c.secrets_enc = Some(seal(&key, &sec.to_string()).await?);
    }
    if c.secrets_enc.is_none() {
        return Err(AppError::Validation(format!(
            "secrets.{}: required",
            required_secrets(kind)[0]
        )));
    }
    if let Some(p) = input.is_primary {
        if p && kind == CrmType::Livechat {
            return Err(AppError::Validation(
                "is_primary: LiveChat holds no customers; make a CRM connection primary".into(),
            ));
        }
        c.is_primary = p;
    }
    if let Some(t) = input.cache_ttl_seconds {
        if !(0..=86_400).contains(&t) {
            return Err(AppError::Validation("cache_ttl_seconds: 0 to 86400".into()));
        }
        c.cache_ttl_seconds = t;
    }
    c.updated_at = now.to_string();
    Ok(c)
}

#[worker::send]
async fn create(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    me.require(Role::Admin, "CRM connections")?;
    let kind = input
        .kind
        .as_deref()
        .and_then(CrmType::parse)
        .ok_or_else(|| {
            AppError::Validation(
                "type: must be one of salesforce zendesk hubspot freshdesk livechat".into(),
            )
        })?;
    let (cfg, db) = context(&state)?;
    let now = time::rfc3339(platform::now());
    let blank = Connection {
        id: platform::uuid()?,
        kind: kind.as_str().into(),
        name: kind.as_str().into(),
        base_url: String::new(),
        settings: serde_json::json!({}),
        secrets_enc: None,
        is_primary: kind != CrmType::Livechat && store::primary(&db, &me.tenant).await?.is_none(),
        cache_ttl_seconds: 600,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let c = apply(&cfg, blank, input, &now).await?;
    store::save(&db, &me.tenant, &c).await?;
    Ok((StatusCode::CREATED, Json(shown(&c))))
}

async fn found(db: &Db, tenant: &str, id: &str) -> AppResult<Connection> {
    store::get(db, tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("connection {id} not found")))
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ConnectionInput>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "CRM connections")?;
    let (cfg, db) = context(&state)?;
    let current = found(&db, &me.tenant, &id).await?;
    if input.kind.as_deref().is_some_and(|k| k != current.kind) {
        return Err(AppError::Validation("type: cannot be changed".into()));
    }
    let c = apply(&cfg, current, input, &time::rfc3339(platform::now())).await?;
    store::save(&db, &me.tenant, &c).await?;
    Ok(Json(shown(&c)))
}

#[worker::send]
async fn remove(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    me.require(Role::Admin, "CRM connections")?;
    let (_, db) = context(&state)?;
    if store::delete(&db, &me.tenant, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("connection {id} not found")))
    }
}

#[worker::send]
async fn test(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "CRM connections")?;
    let (cfg, db) = context(&state)?;
    let c = found(&db, &me.tenant, &id).await?;
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &c).await?;
    let started = platform::now_ms();
    // A harmless read: a lookup of an address nobody has.
    let result = conn
        .customer(&Lookup::Email(
            "edgedesk-connection-test@example.invalid".into(),
        ))
        .await;
    let latency = platform::now_ms() - started;
    keep_token(&db, &cfg, &me.tenant, &c, &conn).await;
    Ok(Json(match result {
        Ok(_) => serde_json::json!({"ok": true, "latency_ms": latency, "error": null}),
        Err(e) => serde_json::json!({"ok": false, "latency_ms": latency, "error": e.to_string()}),
    }))
}

/// A vendor record id: letters, digits, `-` and `_` only (it goes into a URL path).
fn vendor_id(field: &str, id: &str) -> AppResult<String> {
    let id = id.trim();
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AppError::Validation(format!(
            "{field}: letters, digits, - and _ only"
        )));
    }
    Ok(id.to_string())
}

async fn connection_of(db: &Db, tenant: &str, crm_type: &str) -> AppResult<Connection> {
    let kind = CrmType::parse(crm_type).ok_or_else(|| {
        AppError::Validation(
            "crm_type: must be one of salesforce zendesk hubspot freshdesk livechat".into(),
        )
    })?;
    store::of_type(db, tenant, kind.as_str())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no {} connection", kind.as_str())))
}

/// Query of the unified reads.
#[derive(Deserialize, Default)]
pub struct Fresh {
    /// `true` bypasses the cache.
    pub fresh: Option<String>,
}

/// Body of `POST /api/v1/crm/customer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Vendor.
    pub crm_type: String,
    /// The vendor's id.
    pub customer_id: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

#[worker::send]
async fn customer(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<Fresh>,
    ApiJson(body): ApiJson<CustomerQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let lookup = match (&body.customer_id, &body.email, &body.phone) {
        (Some(id), None, None) => Lookup::Id(vendor_id("customer_id", id)?),
        (None, Some(e), None) => {
            Lookup::Email(crate::domain::fields::Email::parse("email", e)?.to_string())
        }
        (None, None, Some(p)) => Lookup::Phone(
            crate::domain::phone::to_e164(p, "1")
                .ok_or_else(|| AppError::Validation("phone: not a phone number".into()))?,
        ),
        _ => {
            return Err(AppError::Validation(
                "give exactly one of customer_id, email, phone".into(),
            ))
        }
    };
    let (cfg, db) = context(&state)?;
    let c = connection_of(&db, &me.tenant, &body.crm_type).await?;
    let key = match &lookup {
        Lookup::Id(v) => format!("customer:id:{v}"),
        Lookup::Email(v) => format!("customer:email:{v}"),
        Lookup::Phone(v) => format!("customer:phone:{v}"),
    };
    let now = platform::now_ms();
    if q.fresh.as_deref() != Some("true") && c.cache_ttl_seconds > 0 {
        if let Some(v) = store::cached(&db, &c.id, &key, now).await? {
            if v.get("found") == Some(&serde_json::Value::Bool(false)) {
                return Err(AppError::NotFound("no such customer in the CRM".into()));
            }
            return Ok(Json(v));
        }
    }
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &c).await?;
    let found = conn.customer(&lookup).await;
    keep_token(&db, &cfg, &me.tenant, &c, &conn).await;
    let found = found?.ok_or_else(|| AppError::NotFound("no such customer in the CRM".into()))?;
    let value = serde_json::to_value(&found)?;
    if c.cache_ttl_seconds > 0 {
        store::cache(&db, &c.id, &key, &value, now + c.cache_ttl_seconds * 1000).await?;
    }
    Ok(Json(value))
}

/// Body of `POST /api/v1/crm/ticket`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// Vendor.
    pub crm_type: String,
    /// The vendor's ticket id.
    pub ticket_id: String,
}

#[worker::send]
async fn ticket(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<TicketQuery>,
) -> AppResult<Json<crate::domain::crm::Ticket>> {
    let (cfg, db) = context(&state)?;
    let c = connection_of(&db, &me.tenant, &body.crm_type).await?;
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &c).await?;
    let id = vendor_id("ticket_id", &body.ticket_id)?;
    let found = conn.ticket(&id).await;
    keep_token(&db, &cfg, &me.tenant, &c, &conn).await;
    found?
        .map(Json)
        .ok_or_else(|| AppError::NotFound("no such ticket in the CRM".into()))
}

/// Body of `POST /api/v1/crm/tickets`.
#[derive(Deserialize)]
pub struct NewTicket {
    /// Vendor.
    pub crm_type: String,
    /// The ticket.
    #[serde(flatten)]
    pub ticket: TicketInput,
}

fn check_values(status: Option<&str>, priority: Option<&str>) -> AppResult<()> {
    if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(AppError::Validation(format!(
            "status must be one of {}; got {s:?}",
            STATUSES.join(" ")
        )));
    }
    if let Some(p) = priority.filter(|p| !PRIORITIES.contains(p)) {
        return Err(AppError::Validation(format!(
            "priority must be one of {}; got {p:?}",
            PRIORITIES.join(" ")
        )));
    }
    Ok(())
}

#[worker::send]
async fn create_ticket(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<NewTicket>,
) -> AppResult<(StatusCode, Json<crate::domain::crm::Ticket>)> {
    check_values(None, body.ticket.priority.as_deref())?;
    if body.ticket.subject.trim().is_empty() {
        return Err(AppError::Validation("subject: required".into()));
    }
    let (cfg, db) = context(&state)?;
    let c = connection_of(&db, &me.tenant, &body.crm_type).await?;
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &c).await?;
    let created = conn.create_ticket(&body.ticket).await;
    keep_token(&db, &cfg, &me.tenant, &c, &conn).await;
    Ok((StatusCode::CREATED, Json(created?)))
}

#[worker::send]
async fn update_ticket(
    State(state): State<AppState>,
    me: Staff,
    Path((crm_type, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<TicketPatch>,
) -> AppResult<Json<crate::domain::crm::Ticket>> {
    check_values(body.status.as_deref(), body.priority.as_deref())?;
    let id = vendor_id("id", &id)?;
    let (cfg, db) = context(&state)?;
    let c = connection_of(&db, &me.tenant, &crm_type).await?;
    let http = Http::with_timeout(cfg.crm_timeout_ms);
    let conn = connect(&cfg, &db, &http, &c).await?;
    let updated = conn.update_ticket(&id, &body).await;
    keep_token(&db, &cfg, &me.tenant, &c, &conn).await;
    updated?
        .map(Json)
        .ok_or_else(|| AppError::NotFound("no such ticket in the CRM".into()))
}

#[worker::send]
async fn health(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let list: Vec<serde_json::Value> = store::list(&db, &me.tenant)
        .await?
        .iter()
        .map(|c| {
            let supported = CrmType::parse(&c.kind).is_some();
            serde_json::json!({"id": c.id, "type": c.kind, "name": c.name, "is_primary": c.is_primary,
                "configured": c.secrets_enc.is_some(), "supported": supported})
        })
        .collect();
    Ok(Json(
        serde_json::json!({"status": "ok", "connections": list}),
    ))
}
