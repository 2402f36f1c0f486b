//! Zapier calling back (public, JSON):
//! - `POST /api/v1/zapier/callback` `{"correlation_id","type","status":"success"|…,"data":{…}}` (shapes in
//!   ../shared/seed-rules.md). Unknown `correlation_id` → 404. When the tenant has a callback secret, the request
//!   needs `X-Edgedesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` (a tenant
//!   without a secret accepts no callbacks): a bad signature or a timestamp more than 300 s away → 401 and nothing
//!   changes. A callback for a request that is no
//!   longer pending → 200 `{"status":"already_processed"}` with no second effect. Otherwise 200 `{"status":"ok"}`
//!   and the conversation continues after the answer (`ctx.wait_until`).
//! - `POST /api/v1/zapier/customer-update` `{"tenant_id","phone_number","action":"invalidate"|"refresh","data"?}`
//!   (same signing, always required): drops or replaces the cached customer.

use super::extract::{context, own_origin};
use super::AppState;
use crate::domain::cs::verify_callback;
use crate::domain::phone::to_e164;
use crate::error::{AppError, AppResult};
use crate::jobs::cs::{continue_after, lookup_result, Cs};
use crate::platform;
use crate::storage::cs as store;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use worker::Context;

/// The Zapier routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/zapier/callback", post(callback))
        .route("/api/v1/zapier/customer-update", post(customer_update))
}

/// Checks `X-Edgedesk-Signature` with the tenant's secret; 401 when it does not verify, or when the tenant has
/// no secret (unsigned callbacks could make the assistant text anything from the tenant's number).
fn check_signature(cs: &Cs, headers: &HeaderMap, body: &[u8]) -> AppResult<()> {
    let Some(secret) = &cs.callback_secret else {
        return Err(AppError::Unauthorized(
            "callbacks must be signed: the tenant has no zapier_callback_secret".into(),
        ));
    };
    let header = headers
        .get("x-edgedesk-signature")
        .and_then(|v| v.to_str().ok());
    verify_callback(header, secret, body, platform::now_ms() / 1000)
        .map_err(|e| AppError::Unauthorized(e.to_string()))
}

/// A callback body.
#[derive(Deserialize)]
pub struct Callback {
    /// The request's correlation id.
    pub correlation_id: String,
    /// `customer_lookup` or `customer_query` (informative; the stored request decides).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `success`, or anything else for a failure.
    pub status: Option<String>,
    /// The result.
    #[serde(default)]
    pub data: serde_json::Value,
    /// A failure's reason.
    pub error: Option<String>,
}

async fn load(state: &AppState, uri: &Uri, headers: &HeaderMap, tenant: &str) -> AppResult<Cs> {
    let (cfg, db) = context(state)?;
    let base = cfg
        .public_base_url
        .clone()
        .or_else(|| own_origin(uri, headers))
        .unwrap_or_default();
    Cs::load(db, cfg, tenant, &base)
        .await?
        .ok_or_else(|| AppError::NotFound("customer service is not configured".into()))
}

#[worker::send]
async fn callback(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Context>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<serde_json::Value>> {
    let cb: Callback = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not a callback: {e}")))?;
    let (_, db) = context(&state)?;
    let req = store::request(&db, &cb.correlation_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no request {}", cb.correlation_id)))?;
    let cs = load(&state, &uri, &headers, &req.tenant_id).await?;
    check_signature(&cs, &headers, &body)?;
    if req.status != "pending" {
        return Ok(Json(serde_json::json!({"status": "already_processed"})));
    }
    let ok = cb.status.as_deref().unwrap_or("success") == "success";
    let outcome = if ok {
        Ok(cb.data.clone())
    } else {
        Err(cb
            .error
            .clone()
            .unwrap_or_else(|| "the Zap reported a failure".into()))
    };
    let stored = if ok { "completed" } else { "failed" };
    let data = cb.data.to_string();
    let error = outcome.as_ref().err().cloned();
    if !store::finish_request(
        &cs.db,
        &req.correlation_id,
        stored,
        Some(&data),
        error.as_deref(),
        platform::now_ms(),
    )
    .await?
    {
        return Ok(Json(serde_json::json!({"status": "already_processed"})));
    }
    let _ = cb.kind;
    ctx.wait_until(async move {
        if let Err(e) = continue_after(&cs, &req, outcome).await {
            worker::console_error!("zapier callback follow-up: {e}");
        }
    });
    Ok(Json(serde_json::json!({"status": "ok"})))
}

/// Body of `POST /api/v1/zapier/customer-update`.
#[derive(Deserialize)]
pub struct CustomerUpdate {
    /// The tenant whose cache changes.
    pub tenant_id: String,
    /// The customer's number (any common notation).
    pub phone_number: String,
    /// `invalidate` (default) or `refresh`.
    pub action: Option<String>,
    /// For `refresh`: the lookup `data` (`found`, `jackrabbit_id`, `name`, `email`, `customer_data`).
    pub data: Option<serde_json::Value>,
}

#[worker::send]
async fn customer_update(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<serde_json::Value>> {
    let u: CustomerUpdate = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is not a customer update: {e}")))?;
    let cs = load(&state, &uri, &headers, &u.tenant_id).await?;
    check_signature(&cs, &headers, &body)?;
    let phone = to_e164(&u.phone_number, &cs.conf.default_country_code)
        .ok_or_else(|| AppError::Validation("phone_number: not a phone number".into()))?;
    match u.action.as_deref().unwrap_or("invalidate") {
        "invalidate" => {
            store::forget_customer(&cs.db, &cs.tenant, &phone).await?;
            Ok(Json(
                serde_json::json!({"status": "ok", "action": "invalidate"}),
            ))
        }
        "refresh" => {
            let data = u
                .data
                .ok_or_else(|| AppError::Validation("data: required for refresh".into()))?;
            let now = platform::now_ms();
            cs.db
                .batch(vec![store::cache_customer(
                    &cs.db,
                    &cs.tenant,
                    &phone,
                    &lookup_result(&data),
                    now,
                    now + cs.conf.cache_ttl_seconds * 1000,
                )?])
                .await?;
            Ok(Json(
                serde_json::json!({"status": "ok", "action": "refresh"}),
            ))
        }
        other => Err(AppError::Validation(format!(
            "action must be invalidate or refresh; got {other:?}"
        ))),
    }
}
