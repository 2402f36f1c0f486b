//! `GET /api/v1/reports/overview?days=7|30|90` (supervisor and above; 403 otherwise): the numbers behind the
//! dashboard's metrics page, shape in docs/api.md. The range is the last `days` UTC calendar days including
//! today; durations are minutes (first response) and hours (resolution), rounded to 0.1; percentiles by linear
//! interpolation ([`crate::domain::stats::percentile`]); `null` where there is no data.

use super::extract::{context, ApiQuery, Staff};
use super::AppState;
use crate::domain::stats::{day_range, percentile, round1};
use crate::domain::ticket::{Role, SLA_AT_RISK_HOURS};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::reports;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

/// The report routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/reports/overview", get(overview))
}

/// Query of the overview.
#[derive(Deserialize)]
pub struct RangeQuery {
    /// 7, 30 or 90; default 7.
    pub days: Option<String>,
}

fn between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (time::parse_rfc3339(a)?, time::parse_rfc3339(b)?);
    Some((b - a).num_milliseconds() as f64)
}

fn summary(values: &[f64], unit_ms: f64) -> (Option<f64>, Option<f64>) {
    let scaled: Vec<f64> = values.iter().map(|v| v / unit_ms).collect();
    (
        percentile(&scaled, 50.0).map(round1),
        percentile(&scaled, 90.0).map(round1),
    )
}

#[worker::send]
async fn overview(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Supervisor, "reports")?;
    let days: u32 = match q.days.as_deref().map(str::trim) {
        None | Some("") => 7,
        Some(d) => d
            .parse()
            .ok()
            .filter(|d| [7, 30, 90].contains(d))
            .ok_or_else(|| AppError::Validation("days must be 7, 30 or 90".into()))?,
    };
    let (_, db) = context(&state)?;
    let now = platform::now();
    let range = day_range(now, days);
    let from = format!("{}T00:00:00.000Z", range[0]);
    let now_s = time::rfc3339(now);
    let soon = time::rfc3339(now + chrono::Duration::hours(SLA_AT_RISK_HOURS));

    let per_day = reports::created_per_day(&db, &me.tenant, &from).await?;
    let created: Vec<serde_json::Value> = range
        .iter()
        .map(|d| {
            let day = d.to_string();
            let n = per_day.iter().find(|c| c.day == day).map_or(0, |c| c.n);
            serde_json::json!({"date": day, "count": n})
        })
        .collect();

    let timings = reports::timings(&db, &me.tenant, &from).await?;
    let mut first = Vec::new();
    let mut resolution = Vec::new();
    let (mut met, mut breached, mut at_risk) = (0, 0, 0);
    for t in &timings {
        if let Some(ms) = t
            .first_response_at
            .as_deref()
            .and_then(|r| between(&t.created_at, r))
        {
            first.push(ms);
        }
        if let Some(ms) = t
            .resolved_at
            .as_deref()
            .and_then(|r| between(&t.created_at, r))
        {
            resolution.push(ms);
        }
        let unresolved = t.status == "open" || t.status == "pending";
        match (&t.first_response_at, &t.sla_due_at) {
            (Some(r), Some(due)) if r <= due => met += 1,
            (Some(_), Some(_)) => breached += 1,
            (None, Some(due)) if unresolved && *due <= now_s => breached += 1,
            (None, Some(due)) if unresolved && *due <= soon => at_risk += 1,
            _ => {}
        }
    }
    let (fr_median, fr_p90) = summary(&first, 60_000.0);
    let (res_median, res_p90) = summary(&resolution, 3_600_000.0);

    let mut by_status = serde_json::json!({"open": 0, "pending": 0});
    let mut by_priority = serde_json::json!({"urgent": 0, "high": 0, "medium": 0, "low": 0});
    for c in reports::open_counts(&db, &me.tenant).await? {
        for (map, key) in [(&mut by_status, &c.status), (&mut by_priority, &c.priority)] {
            let slot = &mut map[key.as_str()];
            *slot = serde_json::json!(slot.as_i64().unwrap_or(0) + c.n);
        }
    }
    let agents = reports::agent_load(&db, &me.tenant, &from).await?;
    let drafts = reports::draft_use(&db, &me.tenant, &from).await?;
    Ok(Json(serde_json::json!({
        "days": days, "from": from, "to": now_s,
        "created_per_day": created,
        "first_response": {"count": first.len(), "median_minutes": fr_median, "p90_minutes": fr_p90},
        "resolution": {"count": resolution.len(), "median_hours": res_median, "p90_hours": res_p90},
        "open_by_status": by_status,
        "open_by_priority": by_priority,
        "sla": {"met": met, "breached": breached, "at_risk": at_risk},
        "agents": agents,
        "ai_drafts": {
            "sent": drafts.sent,
            "mean_edit_distance": drafts.mean_edit_distance.map(round1),
            "unchanged": drafts.unchanged.unwrap_or(0),
        },
    })))
}
