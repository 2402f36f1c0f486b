//! `GET /api/v1/live` (WebSocket): the dashboard's live channel, protocol in [`crate::domain::live`].
//!
//! The caller is authenticated before the upgrade (session cookie, or `?token=<jwt>` for scripts and tests)
//! and, when the browser sends an `Origin`, it must be the worker's own or in `ALLOWED_ORIGINS` (cross-site
//! WebSocket hijacking defence); otherwise 401/403 and no upgrade. The socket is then handed to the tenant's
//! `TenantHub` Durable Object ([`crate::rooms::hub`]).

use super::extract::{
    authenticate, check_origin, context, session_cookie, upgrade_at, websocket_token,
};
use super::AppState;
use crate::error::{AppError, AppResult};
use crate::rooms::hub;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// The live route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/live", get(live))
}

#[worker::send]
async fn live(State(state): State<AppState>, req: Request) -> AppResult<Response> {
    let (cfg, db) = context(&state)?;
    let (parts, _) = req.into_parts();
    let query_token = websocket_token(&parts)?;
    if parts.headers.contains_key("origin") {
        check_origin(&cfg, &parts.uri, &parts.headers)?;
    }
    let token = session_cookie(&parts.headers)
        .or(query_token)
        .ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
    let me = authenticate(&db, &cfg, &token).await?;

    let url = hub::hub_url("/connect", &[("staff_id", &me.id), ("name", &me.name)]);
    upgrade_at(&state, "HUB", &me.tenant, &url).await
}
