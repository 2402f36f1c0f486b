//! Instagram and Facebook Messenger:
//! - `GET|PUT /api/v1/admin/meta/config` (admin+): `{"page_id","instagram_account_id","verify_token",
//!   "page_access_token" (write-only),"app_secret" (write-only)}`; GET shows `has_page_access_token` and
//!   `has_app_secret`. Ids and verify tokens are unique across tenants (409).
//! - `GET /api/v1/webhooks/meta?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` → the challenge as text when
//!   a tenant has that verify token; 403 otherwise
//!   (<https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests>).
//! - `POST /api/v1/webhooks/meta`: `object` `page` or `instagram`; the tenant is the owner of `entry[0].id`; the
//!   body must carry `X-Hub-Signature-256` of its app secret (403 and nothing written otherwise). Messages are
//!   recorded once per `mid`, echoes ignored; profiles are fetched after the answer (200 `EVENT_RECEIVED`).
//! - `POST /api/v1/customers/{id}/fetch-profile` (any staff): fetch the profile now.

use super::extract::{context, ApiJson, Staff};
use super::AppState;
use crate::domain::meta::{verify_signature, Webhook};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::cs::seal;
use crate::jobs::meta::Meta;
use crate::platform;
use crate::storage::meta::{self as store, MetaConfig};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use worker::Context;

/// The Meta routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/meta/config", get(show).put(update))
        .route("/api/v1/webhooks/meta", get(handshake).post(receive))
        .route("/api/v1/customers/{id}/fetch-profile", post(fetch_profile))
}

fn shown(c: &MetaConfig) -> serde_json::Value {
    serde_json::json!({
        "page_id": c.page_id, "instagram_account_id": c.instagram_account_id, "verify_token": c.verify_token,
        "has_page_access_token": c.page_access_token_enc.is_some(), "has_app_secret": c.app_secret_enc.is_some(),
    })
}

#[worker::send]
async fn show(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "Meta settings")?;
    let (_, db) = context(&state)?;
    let c = store::config(&db, &me.tenant).await?.unwrap_or_default();
    Ok(Json(shown(&c)))
}

fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Body of `PUT /api/v1/admin/meta/config` (absent = unchanged, `null` clears).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaInput {
    /// Facebook page id (digits).
    #[serde(default, deserialize_with = "some_or_null")]
    pub page_id: Option<Option<String>>,
    /// Instagram professional account id (digits).
    #[serde(default, deserialize_with = "some_or_null")]
    pub instagram_account_id: Option<Option<String>>,
    /// The verify token of the webhook subscription (8–200 characters).
    #[serde(default, deserialize_with = "some_or_null")]
    pub verify_token: Option<Option<String>>,
    /// Page access token (write-only).
    #[serde(default, deserialize_with = "some_or_null")]
    pub page_access_token: Option<Option<String>>,
    /// App secret (write-only).
    #[serde(default, deserialize_with = "some_or_null")]
    pub app_secret: Option<Option<String>>,
}

fn digits(field: &str, v: Option<String>) -> AppResult<Option<String>> {
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if (5..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(s))
        }
        Some(_) => Err(AppError::Validation(format!(
            "{field}: must be a Meta id (5 to 32 digits)"
        ))),
    }
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(input): ApiJson<MetaInput>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "Meta settings")?;
    let (cfg, db) = context(&state)?;
    let mut c = store::config(&db, &me.tenant).await?.unwrap_or_default();
    c.tenant_id = me.tenant.clone();
    if let Some(v) = input.page_id {
        c.page_id = digits("page_id", v)?;
    }
    if let Some(v) = input.instagram_account_id {
        c.instagram_account_id = digits("instagram_account_id", v)?;
    }
    if let Some(v) = input.verify_token {
        c.verify_token = match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            Some(t) if !(8..=200).contains(&t.len()) => {
                return Err(AppError::Validation(
                    "verify_token: 8 to 200 characters".into(),
                ))
            }
            other => other,
        };
    }
    for (field, v, slot) in [
        (
            "page_access_token",
            input.page_access_token,
            &mut c.page_access_token_enc,
        ),
        ("app_secret", input.app_secret, &mut c.app_secret_enc),
    ] {
        match v {
            None => {}
            Some(None) => *slot = None,
            Some(Some(secret)) => {
                if secret.trim().len() < 8 {
                    return Err(AppError::Validation(format!(
                        "{field}: at least 8 characters"
                    )));
                }
                let key = cfg.cs_encryption_key.ok_or(AppError::Config(
                    crate::config::ConfigError::Missing("CS_ENCRYPTION_KEY"),
                ))?;
                *slot = Some(seal(&key, secret.trim()).await?);
            }
        }
    }
    if store::taken_elsewhere(&db, &me.tenant, &c).await? {
        return Err(AppError::Conflict(
            "the page id, Instagram account id or verify token belongs to another tenant".into(),
        ));
    }
    store::save(&db, &c, &time::rfc3339(platform::now())).await?;
    Ok(Json(shown(&c)))
}

/// The handshake's query.
#[derive(Deserialize)]
pub struct Handshake {
    /// `subscribe`.
    #[serde(rename = "hub.mode")]
    pub mode: Option<String>,
    /// The verify token configured in the Meta app.
    #[serde(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    /// Echoed back.
    #[serde(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

#[worker::send]
async fn handshake(
    State(state): State<AppState>,
    Query(q): Query<Handshake>,
) -> AppResult<Response> {
    let (_, db) = context(&state)?;
    let known = match (&q.mode, &q.verify_token) {
        (Some(m), Some(t)) if m == "subscribe" && !t.is_empty() => {
            store::config_of_verify_token(&db, t).await?.is_some()
        }
        _ => false,
    };
    if !known {
        return Err(AppError::Forbidden(
            "wrong hub.mode or hub.verify_token".into(),
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        q.challenge.unwrap_or_default(),
    )
        .into_response())
}

#[worker::send]
async fn receive(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Context>>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let hook: Webhook = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("not a Meta webhook body: {e}")))?;
    if hook.channel().is_none() {
        return Err(AppError::BadRequest(format!(
            "object {:?} is not page or instagram",
            hook.object
        )));
    }
    let (cfg, db) = context(&state)?;
    if hook.entry.is_empty() {
        return Err(AppError::BadRequest("the webhook has no entry".into()));
    }
    // Meta may batch entries of several pages of one app into a delivery: every entry's tenant must verify the
    // signature with its own app secret before anything is written; then each tenant records its entries.
    let instagram = hook.object == "instagram";
    let sig = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let mut tenants: Vec<Meta> = Vec::new();
    for e in &hook.entry {
        if tenants.iter().any(|m| owns(&m.conf, &e.id, instagram)) {
            continue;
        }
        let conf = store::config_of_account(&db, &e.id, instagram)
            .await?
            .ok_or_else(|| {
                AppError::Forbidden(format!("{} is not an account of any tenant", e.id))
            })?;
        let meta = Meta::new(db.clone(), cfg.clone(), conf).await?;
        let secret = meta
            .app_secret
            .clone()
            .ok_or_else(|| AppError::Forbidden("the tenant has no app secret".into()))?;
        if !verify_signature(sig, &secret, &body) {
            return Err(AppError::Forbidden(
                "invalid or missing X-Hub-Signature-256".into(),
            ));
        }
        tenants.push(meta);
    }
    let inbound = hook.inbound();
    for meta in tenants {
        record_for(&state, &ctx, meta, &inbound, instagram).await?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "EVENT_RECEIVED",
    )
        .into_response())
}

/// Whether the config owns the account of an entry (a page for Messenger, an Instagram account for Instagram).
fn owns(conf: &MetaConfig, account_id: &str, instagram: bool) -> bool {
    if instagram {
        conf.instagram_account_id.as_deref() == Some(account_id)
    } else {
        conf.page_id.as_deref() == Some(account_id)
    }
}

/// Records one tenant's inbound DMs, notifies its dashboards (not for blocked customers), and fetches profiles
/// and drafts after the answer.
async fn record_for(
    state: &AppState,
    ctx: &Context,
    meta: Meta,
    inbound: &[crate::domain::meta::Inbound],
    instagram: bool,
) -> AppResult<()> {
    let mut recorded: Vec<crate::jobs::meta::Recorded> = Vec::new();
    for m in inbound
        .iter()
        .filter(|m| owns(&meta.conf, &m.account_id, instagram))
    {
        if let Some(r) = meta.record(m).await? {
            recorded.push(r);
        }
    }
    if !recorded.is_empty() {
        let tenant = meta.conf.tenant_id.clone();
        // Blocked customers' messages are recorded without notifying anyone.
        let mut notify = 0;
        for r in &recorded {
            let blocked = crate::storage::meta::profile_state(&meta.db, &tenant, &r.customer_id)
                .await?
                .is_some_and(|p| p.blocked != 0);
            if !blocked {
                notify += 1;
            }
        }
        if notify > 0 {
            let frame = serde_json::json!({"type": "ticket", "event": "message", "ticket_id": null,
                "ticket_number": null, "count": notify});
            crate::rooms::hub::publish(&state.env, &tenant, &frame).await;
        }
        ctx.wait_until(async move {
            let mut fetched: Vec<String> = Vec::new();
            for r in &recorded {
                if !fetched.contains(&r.customer_id) {
                    fetched.push(r.customer_id.clone());
                    if let Err(e) = meta.fetch_profile(&r.customer_id, false).await {
                        worker::console_warn!("profile of {}: {e}", r.customer_id);
                    }
                }
            }
            // One AI draft per ticket: for its newest message.
            let mut drafted: Vec<&str> = Vec::new();
            for r in recorded.iter().rev() {
                if drafted.contains(&r.ticket_id.as_str()) {
                    continue;
                }
                drafted.push(&r.ticket_id);
                if let Err(e) = meta.draft(r).await {
                    worker::console_warn!("DM draft for {}: {e}", r.ticket_id);
                }
            }
        });
    }
    Ok(())
}

#[worker::send]
async fn fetch_profile(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let conf = store::config(&db, &me.tenant)
        .await?
        .ok_or_else(|| AppError::Conflict("Instagram/Messenger is not configured".into()))?;
    let meta = Meta::new(db.clone(), cfg, conf).await?;
    meta.fetch_profile(&id, true).await?;
    let c = crate::storage::customers::get(&db, &me.tenant, &id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("customer {id} not found")))?;
    Ok(Json(serde_json::to_value(c)?))
}
