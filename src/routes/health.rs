//! `GET /api/v1/health`: liveness, with whether D1 answers. No authentication.

use super::AppState;
use crate::error::AppResult;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// `GET /api/v1/health` (no authentication).
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/health", get(health))
}

/// `{"status":"ok","d1":true}`.
#[worker::send]
async fn health(State(state): State<AppState>) -> AppResult<Json<serde_json::Value>> {
    let db = crate::storage::Db::new(state.env.d1("DB")?);
    let d1 = db
        .all::<serde_json::Value>("SELECT 1 AS one", vec![])
        .await
        .is_ok();
    Ok(Json(serde_json::json!({"status": "ok", "d1": d1})))
}
