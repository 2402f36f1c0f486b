//! The HTTP API under `/api/v1`: one module per resource, each exposing its router; [`router`] only merges
//! them and adds the JSON 404/405 fallbacks. The dashboard's static files are served by Workers static
//! assets before the worker runs (`[assets]` in `wrangler.toml`).

pub mod admin;
pub mod auth;
pub mod canned;
pub mod crm;
pub mod customer_service;
pub mod customers;
pub mod extract;
pub mod handoff;
pub mod health;
pub mod live;
pub mod meta;
pub mod replies;
pub mod reports;
pub mod rooms;
pub mod staff;
pub mod support;
pub mod tenants;
pub mod tickets;
pub mod twilio;
pub mod zapier;

use crate::error::AppError;
use axum::Router;
use worker::send::SendWrapper;

/// What every handler can reach: the Worker's bindings and vars.
#[derive(Clone)]
pub struct AppState {
    /// The Worker's `Env` (D1 binding `DB`, vars, secrets), in a `SendWrapper` because axum state must be
    /// `Send` (a Worker isolate is single-threaded).
    pub env: SendWrapper<worker::Env>,
}

/// Largest body read before routing, in bytes: bodies up to this size are drained even when too large for any
/// route (so the client gets our 400, not a reset connection).
pub const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// The request with its body read to the end first. A body over [`extract::MAX_JSON_BYTES`] is dropped and marked
/// [`extract::BodyTooLarge`], which the JSON extractor answers with 400. Reading it before routing means an early
/// answer (401, 403 before the JSON is parsed) never leaves a client still sending its body: workerd would close
/// the connection under it, and the client would see a network error, not our JSON.
pub async fn buffered(req: worker::HttpRequest) -> axum::http::Request<axum::body::Body> {
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(axum::body::Body::new(body), DRAIN_BYTES).await {
        Ok(b) if b.len() <= extract::MAX_JSON_BYTES => b,
        _ => {
            parts.extensions.insert(extract::BodyTooLarge);
            axum::body::Bytes::new()
        }
    };
    axum::http::Request::from_parts(parts, axum::body::Body::from(bytes))
}

/// The whole API.
pub fn router(env: worker::Env) -> Router {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(tickets::router())
        .merge(replies::router())
        .merge(staff::router())
        .merge(tenants::router())
        .merge(canned::router())
        .merge(reports::router())
        .merge(live::router())
        .merge(twilio::router())
        .merge(zapier::router())
        .merge(customer_service::router())
        .merge(customers::router())
        .merge(meta::router())
        .merge(crm::router())
        .merge(handoff::router())
        .merge(support::router())
        .merge(rooms::router())
        .merge(admin::router())
        .fallback(|| async { AppError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            AppError::MethodNotAllowed("method not allowed on this route".into())
        })
        .with_state(AppState {
            env: SendWrapper::new(env),
        })
}
