//! Edgedesk: an omnichannel customer-service back office on Cloudflare Workers.
//!
//! This file holds only the entry points: `fetch` (the `/api/v1` HTTP API through axum; the dashboard is
//! served by static assets), `scheduled` (the Gmail poll every 5 minutes, the customer-service sweep every
//! minute; crons in `wrangler.toml`), and the exports of the Durable Objects `TenantHub` (live dashboard updates)
//! and `SignalingRoom` (live chat and WebRTC call rooms).

#![warn(missing_docs)]

pub mod config;
pub mod domain;
pub mod error;
pub mod integrations;
pub mod jobs;
pub mod platform;
pub mod rooms;
pub mod routes;
pub mod storage;

pub use rooms::hub::TenantHub;
pub use rooms::signaling::SignalingRoom;
use tower_service::Service;
use worker::{event, Context, Env, HttpRequest, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(
    req: HttpRequest,
    env: Env,
    ctx: Context,
) -> worker::Result<axum::http::Response<axum::body::Body>> {
    let mut req = routes::buffered(req).await;
    // Handlers reach `ctx.wait_until` through this extension (work after the answer, e.g. Twilio webhooks).
    req.extensions_mut().insert(std::sync::Arc::new(ctx));
    Ok(routes::router(env).call(req).await?)
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if event.cron() == jobs::cs::SWEEP_CRON {
        match jobs::cs::sweep(&env).await {
            Ok(n) => worker::console_log!("customer-service sweep: {n} timed out"),
            Err(e) => worker::console_error!("customer-service sweep: {e}"),
        }
        match jobs::meta::retry_profiles(&env).await {
            Ok(n) => worker::console_log!("meta profiles retried: {n} read"),
            Err(e) => worker::console_error!("meta profile retry: {e}"),
        }
        return;
    }
    if event.cron() == jobs::crm::SWEEP_CRON {
        match jobs::crm::sweep(&env).await {
            Ok(n) => worker::console_log!("CRM enrichment: {n} tickets"),
            Err(e) => worker::console_error!("CRM enrichment: {e}"),
        }
        match jobs::crm::sync(&env).await {
            Ok(r) => worker::console_log!(
                "CRM ticket sync: {} created, {} found after a lost answer, {} pushed, {} pulled",
                r.created,
                r.recovered,
                r.pushed,
                r.pulled
            ),
            Err(e) => worker::console_error!("CRM ticket sync: {e}"),
        }
        return;
    }
    let report = jobs::email_poll::run(&env, None).await;
    match serde_json::to_string(&report) {
        Ok(json) => worker::console_log!("email poll: {json}"),
        Err(e) => worker::console_error!("email poll report: {e}"),
    }
}
