//! The env-configured mailbox of tenant `default` and its access token, shared by the poll and the reply route.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::integrations::{google_oauth, http::Http};
use crate::storage::{mailboxes, Db};

/// The tenant that owns the env-configured mailbox.
pub const DEFAULT_TENANT: &str = "default";

/// Refresh the access token this long (ms) before Google says it expires.
const TOKEN_MARGIN_MS: i64 = 60_000;

/// The mailbox row for the configured Gmail address (created on first use).
pub async fn configured(db: &Db, cfg: &Config) -> AppResult<mailboxes::MailboxRow> {
    let gmail = cfg.gmail()?;
    let now = crate::domain::time::rfc3339(crate::platform::now());
    mailboxes::ensure(
        db,
        DEFAULT_TENANT,
        &gmail.address,
        &crate::platform::uuid()?,
        &now,
    )
    .await
}

/// A valid access token: the cached one while it has more than a minute left, else a refreshed one (cached).
/// A refused refresh token is an [`AppError::Upstream`] naming Google OAuth.
pub async fn access_token(
    db: &Db,
    http: &Http,
    cfg: &Config,
    mb: &mailboxes::MailboxRow,
) -> AppResult<String> {
    let now_ms = crate::platform::now_ms();
    if let (Some(t), Some(exp)) = (&mb.access_token, mb.access_token_expires_at) {
        if exp - TOKEN_MARGIN_MS > now_ms {
            return Ok(t.clone());
        }
    }
    let g = cfg.gmail()?;
    let tok = google_oauth::refresh(
        http,
        &cfg.google_token_url,
        &g.client_id,
        &g.client_secret,
        &g.refresh_token,
        now_ms,
    )
    .await
    .map_err(|e| AppError::Upstream(format!("mailbox {}: {e}", mb.address)))?;
    mailboxes::save_token(db, &mb.id, &tok.token, tok.expires_at_ms).await?;
    Ok(tok.token)
}
