//! Customer-service administration of the caller's tenant (admins and owners; 403 otherwise):
//! - `GET /api/v1/admin/customer-service/config` → the config with defaults (see [`CsConfig`]), plus
//!   `has_auth_token` and `has_zapier_callback_secret` (secrets are write-only: never returned).
//! - `PUT /api/v1/admin/customer-service/config` → the same, after applying [`CsConfigInput`]; 422 naming the
//!   field; 409 when a number belongs to another tenant; secrets need `CS_ENCRYPTION_KEY` (500 `config_error`).
//! - `POST /api/v1/admin/customer-service/test-zapier` → `{"ok","status","latency_ms","error"}` after posting
//!   `{"type":"ping","correlation_id","callback_url"}` to the hook.
//! - `GET /api/v1/admin/customer-service/lookup-stats?days=7` (1–90) → lookups by status, mean/median/p95
//!   latency of completed lookups (ms), cache hits, misses and hit rate.

use super::extract::{context, own_origin, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::domain::cs::{CsConfig, CsConfigInput};
use crate::domain::stats::{percentile, round1};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::integrations::http::Http;
use crate::integrations::zapier;
use crate::jobs::cs::seal;
use crate::platform;
use crate::storage::cs::{self as store, StoredConfig};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/customer-service/config",
            get(show).put(update),
        )
        .route(
            "/api/v1/admin/customer-service/test-zapier",
            post(test_zapier),
        )
        .route("/api/v1/admin/customer-service/lookup-stats", get(stats))
}

fn shown(s: &StoredConfig) -> serde_json::Value {
    let mut v = serde_json::to_value(&s.config).unwrap_or_default();
    v["has_auth_token"] = s.auth_token_enc.is_some().into();
    v["has_zapier_callback_secret"] = s.callback_secret_enc.is_some().into();
    // The API names it account_sid, as the PUT does.
    if let Some(sid) = v.get("twilio_account_sid").cloned() {
        v["account_sid"] = sid;
    }
    v
}

fn stored_or_default(s: Option<StoredConfig>) -> StoredConfig {
    s.unwrap_or(StoredConfig {
        config: CsConfig::default(),
        auth_token_enc: None,
        callback_secret_enc: None,
    })
}

#[worker::send]
async fn show(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "customer-service settings")?;
    let (_, db) = context(&state)?;
    Ok(Json(shown(&stored_or_default(
        store::config(&db, &me.tenant).await?,
    ))))
}

#[worker::send]
async fn update(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(input): ApiJson<CsConfigInput>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "customer-service settings")?;
    let (cfg, db) = context(&state)?;
    let mut stored = stored_or_default(store::config(&db, &me.tenant).await?);
    let (config, secrets) = input
        .apply(&stored.config)
        .map_err(|e| AppError::Validation(e.to_string()))?;
    let taken = store::numbers_taken(&db, &me.tenant, &config.phone_numbers).await?;
    if !taken.is_empty() {
        return Err(store::numbers_conflict(&taken));
    }
    for (change, slot) in [
        (secrets.auth_token, &mut stored.auth_token_enc),
        (
            secrets.zapier_callback_secret,
            &mut stored.callback_secret_enc,
        ),
    ] {
        match change {
            None => {}
            Some(None) => *slot = None,
            Some(Some(secret)) => {
                let key = cfg.cs_encryption_key.ok_or(AppError::Config(
                    crate::config::ConfigError::Missing("CS_ENCRYPTION_KEY"),
                ))?;
                *slot = Some(seal(&key, &secret).await?);
            }
        }
    }
    if config.is_enabled && stored.callback_secret_enc.is_none() {
        return Err(AppError::Validation(
            "zapier_callback_secret: required when is_enabled is true (Zapier callbacks must be signed)".into(),
        ));
    }
    stored.config = config;
    store::save_config(&db, &me.tenant, &stored, &time::rfc3339(platform::now())).await?;
    Ok(Json(shown(&stored)))
}

#[worker::send]
async fn test_zapier(
    State(state): State<AppState>,
    me: Staff,
    uri: Uri,
    headers: HeaderMap,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "customer-service settings")?;
    let (cfg, db) = context(&state)?;
    let stored = stored_or_default(store::config(&db, &me.tenant).await?);
    let hook = stored
        .config
        .zapier_webhook_url
        .ok_or_else(|| AppError::Conflict("set zapier_webhook_url first".into()))?;
    let base = cfg
        .public_base_url
        .clone()
        .or_else(|| own_origin(&uri, &headers))
        .unwrap_or_default();
    let body = serde_json::json!({
        "type": "ping",
        "correlation_id": platform::uuid()?,
        "callback_url": format!("{base}/api/v1/zapier/callback"),
    });
    let http = Http::with_timeout(8_000);
    let started = platform::now_ms();
    Ok(Json(match zapier::trigger(&http, &hook, &body).await {
        Ok((status, latency)) => {
            serde_json::json!({"ok": true, "status": status, "latency_ms": latency, "error": null})
        }
        Err(e) => serde_json::json!({
            "ok": false, "status": e.status, "latency_ms": platform::now_ms() - started, "error": e.to_string(),
        }),
    }))
}

/// Query of the stats.
#[derive(Deserialize)]
pub struct StatsQuery {
    /// 1–90, default 7.
    pub days: Option<String>,
}

#[worker::send]
async fn stats(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Admin, "customer-service settings")?;
    let days: i64 = match q.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => 7,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| (1..=90).contains(d))
            .ok_or_else(|| {
                AppError::Validation("days must be a whole number from 1 to 90".into())
            })?,
    };
    let (_, db) = context(&state)?;
    let since = platform::now_ms() - days * 86_400_000;
    let s = store::lookup_stats(&db, &me.tenant, since).await?;
    let n = s.latencies.len();
    let mean = (n > 0).then(|| round1(s.latencies.iter().sum::<f64>() / n as f64));
    let total = s.cache_hits + s.cache_misses;
    Ok(Json(serde_json::json!({
        "days": days,
        "lookups_by_status": s.by_status,
        "latency_ms": {
            "count": n,
            "mean": mean,
            "median": percentile(&s.latencies, 50.0).map(round1),
            "p95": percentile(&s.latencies, 95.0).map(round1),
        },
        "cache": {
            "hits": s.cache_hits,
            "misses": s.cache_misses,
            "hit_rate": (total > 0).then(|| round1(s.cache_hits as f64 * 100.0 / total as f64) / 100.0),
        },
    })))
}
