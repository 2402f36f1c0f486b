//! Zapier: the tenant's Zap is triggered by a "Webhooks by Zapier" Catch Hook
//! (<https://help.zapier.com/hc/en-us/articles/8496288690317>): `POST {zapier_webhook_url}` with a JSON body;
//! Zapier answers 200 `{"attempt","id","request_id","status":"success"}` at once and runs the Zap, which calls
//! Edgedesk back (`POST /api/v1/zapier/callback`).

use super::http::{error_message, Http, UpstreamError};
use worker::Method;

/// Posts `body` to the catch hook; returns the HTTP status and the round trip in ms. A non-2xx status is an
/// [`UpstreamError`] (retryable on 429/5xx).
pub async fn trigger(
    http: &Http,
    url: &str,
    body: &serde_json::Value,
) -> Result<(u16, i64), UpstreamError> {
    let started = crate::platform::now_ms();
    let resp = http
        .send(
            "zapier",
            Method::Post,
            url,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
        .await?;
    let latency = crate::platform::now_ms() - started;
    if (200..300).contains(&resp.status) {
        Ok((resp.status, latency))
    } else {
        Err(UpstreamError {
            service: "zapier",
            status: Some(resp.status),
            message: error_message(&resp.body),
        })
    }
}
