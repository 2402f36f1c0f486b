//! Google OAuth 2.0: exchanging a refresh token for an access token
//! (<https://developers.google.com/identity/protocols/oauth2/web-server#offline>): `POST {GOOGLE_TOKEN_URL}`
//! with form fields `grant_type=refresh_token`, `client_id`, `client_secret`, `refresh_token`; answer
//! `{"access_token","expires_in" (seconds),"scope","token_type":"Bearer"}`. A 400 `invalid_grant` means the
//! refresh token was revoked or expired: not retryable until someone issues a new one.

use super::http::{error_message, Http, UpstreamError};
use serde::Deserialize;
use worker::Method;

/// An access token and when it expires (Unix ms).
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token for `Authorization: Bearer …` (a secret).
    pub token: String,
    /// Expiry as Unix ms: `now_ms` plus the response's `expires_in` seconds.
    pub expires_at_ms: i64,
}

/// Refreshes an access token.
pub async fn refresh(
    http: &Http,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    refresh_token: &str,
    now_ms: i64,
) -> Result<AccessToken, UpstreamError> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: String,
        expires_in: i64,
    }
    let form = serde_urlencoded::to_string([
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
    ])
    .map_err(|e| UpstreamError {
        service: "google-oauth",
        status: None,
        message: e.to_string(),
    })?;
    let resp = http
        .send(
            "google-oauth",
            Method::Post,
            token_url,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ],
            Some(form.into_bytes()),
        )
        .await?;
    if resp.status != 200 {
        return Err(UpstreamError {
            service: "google-oauth",
            status: Some(resp.status),
            message: error_message(&resp.body),
        });
    }
    let t: TokenResponse = resp.json("google-oauth")?;
    Ok(AccessToken {
        token: t.access_token,
        expires_at_ms: now_ms + t.expires_in * 1000,
    })
}
