//! `GET /api/v1/health`: liveness, with whether D1 answers. Like every `/api/v1` route but login it needs a
//! bearer token (an unauthenticated probe still tells the worker is up: it answers 401 JSON).

use super::extract::Staff;
use super::AppState;
use crate::error::AppResult;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// `GET /api/v1/health` (authenticated).
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/health", get(health))
}

/// `{"status":"ok","d1":true}`.
#[worker::send]
async fn health(State(state): State<AppState>, _: Staff) -> AppResult<Json<serde_json::Value>> {
    let db = crate::storage::Db::new(state.env.d1("DB")?);
    let d1 = db
        .all::<serde_json::Value>("SELECT 1 AS one", vec![])
        .await
        .is_ok();
    Ok(Json(serde_json::json!({"status": "ok", "d1": d1})))
}
