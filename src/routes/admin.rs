//! `POST /api/v1/admin/email-poll` (owner or admin): runs the cron's Gmail poll now and answers its report
//! `{"fetched","tickets_created","messages_appended","skipped","drafts_created","errors":[…],"usage":{…}}`.

use super::extract::Staff;
use super::AppState;
use crate::error::{AppError, AppResult};
use crate::jobs::email_poll;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

/// `POST /api/v1/admin/email-poll`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/email-poll", post(email_poll_now))
}

#[worker::send]
async fn email_poll_now(
    State(state): State<AppState>,
    me: Staff,
) -> AppResult<Json<email_poll::PollReport>> {
    if !me.role.is_admin() {
        return Err(AppError::Forbidden(
            "only owners and admins can run the e-mail poll".into(),
        ));
    }
    Ok(Json(email_poll::run(&state.env, Some(&me.tenant)).await))
}
