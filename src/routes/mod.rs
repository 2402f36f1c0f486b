//! The HTTP API under `/api/v1`: one module per resource, each exposing its router; [`router`] only merges
//! them and adds the JSON 404/405 fallbacks. The dashboard's static files are served by Workers static
//! assets before the worker runs (`[assets]` in `wrangler.toml`).

pub mod admin;
pub mod auth;
pub mod canned;
pub mod extract;
pub mod health;
pub mod live;
pub mod replies;
pub mod reports;
pub mod staff;
pub mod tenants;
pub mod tickets;

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
        .merge(admin::router())
        .fallback(|| async { AppError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            AppError::MethodNotAllowed("method not allowed on this route".into())
        })
        .with_state(AppState {
            env: SendWrapper::new(env),
        })
}
