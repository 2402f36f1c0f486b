//! Live chat and WebRTC voice (shapes in docs/api.md, "Live chat and WebRTC voice"):
//! - public, for the website widget (CORS: any origin, no credentials; starts rate-limited per client IP by the
//!   `SUPPORT_START_LIMITER` binding): `POST /api/v1/support/chat/start`, `POST /api/v1/support/call/start`,
//!   `GET /api/v1/support/ice-servers`, `POST /api/v1/support/sessions/{id}/leave` (room token);
//! - staff: availability, queue, sessions, accept / decline / transfer / escalate / end, settings, metrics.
//!
//! Errors: 422 bad input; 404 unknown tenant or session; 409 the session is not in a state for that (someone else
//! took it, it ended, you are at your cap); 429 `rate_limited` with `Retry-After: 60`.

use super::extract::{context, own_origin, ApiJson, ApiQuery, Staff};
use super::AppState;
use crate::config::Config;
use crate::domain::access::Actor;
use crate::domain::auth::{issue_room, verify_room, RoomClaims};
use crate::domain::fields::{Email, Name};
use crate::domain::rooms::{ice_servers, RoomKind};
use crate::domain::ticket::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::support::{self as job, announce, notify};
use crate::platform;
use crate::storage::support::{self as store, Session, Settings};
use crate::storage::Db;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

/// The live support routes.
pub fn router() -> Router<AppState> {
    let public = Router::new()
        .route(
            "/api/v1/support/chat/start",
            post(chat_start).options(preflight),
        )
        .route(
            "/api/v1/support/call/start",
            post(call_start).options(preflight),
        )
        .route("/api/v1/support/ice-servers", get(ice).options(preflight))
        .route(
            "/api/v1/support/sessions/{id}/leave",
            post(leave).options(preflight),
        )
        .layer(axum::middleware::map_response(cors));
    Router::new()
        .merge(public)
        .route("/api/v1/support/me", get(me_status))
        .route("/api/v1/support/availability", put(availability))
        .route("/api/v1/support/queue", get(queue))
        .route("/api/v1/support/sessions", get(sessions))
        .route("/api/v1/support/sessions/{id}", get(session))
        .route("/api/v1/support/sessions/{id}/accept", post(accept))
        .route("/api/v1/support/sessions/{id}/decline", post(decline))
        .route("/api/v1/support/sessions/{id}/transfer", post(transfer))
        .route("/api/v1/support/sessions/{id}/escalate", post(escalate))
        .route("/api/v1/support/sessions/{id}/end", post(end))
        .route(
            "/api/v1/support/settings",
            get(get_settings).put(put_settings),
        )
        .route("/api/v1/support/metrics", get(metrics))
}

/// The widget runs on the tenant's own website: its calls are cross-origin, without cookies.
async fn cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("content-type, authorization"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("600"));
    res
}

async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Body of the start endpoints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// Tenant id (the widget's `data-tenant`).
    pub tenant: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's e-mail (optional; the transcript ticket and follow-ups use it).
    pub customer_email: Option<String>,
    /// `voice` (calls only).
    pub call_type: Option<String>,
}

/// Spends one start of the client's IP; 429 over the limit.
async fn limit(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let ip = headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    let limiter = state
        .env
        .rate_limiter("SUPPORT_START_LIMITER")
        .map_err(|_| {
            AppError::Config(crate::config::ConfigError::Missing("SUPPORT_START_LIMITER"))
        })?;
    if limiter.limit(ip).await?.success {
        Ok(())
    } else {
        Err(AppError::RateLimited {
            message: "too many conversations started from this address; try again in a minute"
                .into(),
            retry_after_secs: 60,
        })
    }
}

/// `wss://host` (or `ws://` for plain HTTP) of the API as the browser reaches it.
fn ws_origin(cfg: &Config, uri: &Uri, headers: &HeaderMap) -> String {
    let origin = cfg
        .public_base_url
        .clone()
        .or_else(|| own_origin(uri, headers))
        .unwrap_or_default();
    if let Some(rest) = origin.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        origin
    }
}

/// The ICE servers of `user` (a peer id): the configured STUN, and TURN with time-limited credentials.
pub fn ice_for(cfg: &Config, user: &str) -> serde_json::Value {
    ice_servers(
        &cfg.stun_urls,
        &cfg.turn_urls,
        cfg.turn_secret.as_deref(),
        user,
        platform::now().timestamp(),
        cfg.turn_ttl_seconds,
    )
}

/// Position (1-based) of a queued session, or 0.
async fn position(db: &Db, tenant: &str, id: &str) -> AppResult<usize> {
    Ok(store::list(db, tenant, "queued", None, 500)
        .await?
        .iter()
        .position(|s| s.id == id)
        .map(|p| p + 1)
        .unwrap_or(0))
}

async fn start(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    input: StartInput,
    kind: RoomKind,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let name = Name::parse("customer_name", &input.customer_name)?.to_string();
    let email = match input.customer_email.as_deref().map(str::trim) {
        Some(e) if !e.is_empty() => Some(Email::parse("customer_email", e)?.to_string()),
        _ => None,
    };
    if kind == RoomKind::Voice && input.call_type.as_deref().unwrap_or("voice") != "voice" {
        return Err(AppError::Validation("call_type: only voice".into()));
    }
    limit(state, headers).await?;
    let (cfg, db) = context(state)?;
    let tenant = input.tenant.trim().to_string();
    if crate::storage::staff::tenant(&db, &tenant).await?.is_none() {
        return Err(AppError::NotFound(format!("tenant {tenant} not found")));
    }
    let settings = store::settings(&db, &tenant).await?;
    let id = platform::uuid()?;
    let room_id = platform::uuid()?;
    let peer_id = format!("c-{}", &platform::uuid()?[..8]);
    let now = time::rfc3339(platform::now());
    // The room first: a session never exists without its room and queue-timeout alarm.
    job::init_room(
        &state.env,
        &room_id,
        &id,
        kind.as_str(),
        &tenant,
        settings.queue_timeout_seconds,
    )
    .await?;
    let mut stmts = store::insert(
        &db,
        &store::NewSession {
            id: &id,
            tenant: &tenant,
            kind: kind.as_str(),
            room_id: &room_id,
            customer_name: &name,
            customer_email: email.as_deref(),
            customer_peer_id: &peer_id,
            now: &now,
        },
    )?;
    stmts.push(store::activity(
        &db,
        &tenant,
        &id,
        None,
        "requested",
        &serde_json::json!({"kind": kind.as_str(), "customer_name": name}),
        &now,
    )?);
    db.batch(stmts).await?;
    let s = store::get(&db, &tenant, &id)
        .await?
        .ok_or_else(|| AppError::Internal("the new session vanished".into()))?;
    announce(&state.env, &tenant, "queued", &s, None).await;
    job::dispatch(&state.env, &db, &tenant).await?;
    let s = store::get(&db, &tenant, &id).await?.unwrap_or(s);
    let token = issue_room(
        cfg.jwt_secret()?.as_bytes(),
        RoomClaims {
            aud: "room".into(),
            tenant: tenant.clone(),
            session: id.clone(),
            room: room_id.clone(),
            peer: peer_id.clone(),
            name: name.clone(),
        },
        platform::now(),
    )
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let ws_url = format!(
        "{}/api/v1/rooms/{room_id}/ws?token={token}",
        ws_origin(&cfg, uri, headers)
    );
    let pos = position(&db, &tenant, &id).await?;
    let id_key = if kind == RoomKind::Voice {
        "call_id"
    } else {
        "session_id"
    };
    let mut body = serde_json::json!({id_key: id, "room_id": room_id, "peer_id": peer_id, "token": token,
        "ws_url": ws_url, "status": s.status, "position": pos});
    if kind == RoomKind::Voice {
        body["ice_servers"] = ice_for(&cfg, &peer_id);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

#[worker::send]
async fn chat_start(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(input): ApiJson<StartInput>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    if input.call_type.is_some() {
        return Err(AppError::Validation(
            "call_type: not for chats (use /support/call/start)".into(),
        ));
    }
    start(&state, &uri, &headers, input, RoomKind::Chat).await
}

#[worker::send]
async fn call_start(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(input): ApiJson<StartInput>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    start(&state, &uri, &headers, input, RoomKind::Voice).await
}

/// STUN for anyone; TURN credentials only with a room token or a staff token (`Authorization: Bearer`), so the
/// relay is not free for all.
#[worker::send]
async fn ice(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let secret = cfg.jwt_secret()?.as_bytes().to_vec();
    let user = match token {
        Some(t) => match verify_room(&secret, t, platform::now()) {
            Ok(c) => Some(c.peer),
            Err(_) => super::extract::authenticate(&db, &cfg, t)
                .await
                .ok()
                .map(|s| job::staff_peer_id(&s.id)),
        },
        None => None,
    };
    let servers = match &user {
        Some(u) => ice_for(&cfg, u),
        None => ice_servers(&cfg.stun_urls, &[], None, "", 0, 0),
    };
    Ok(Json(
        serde_json::json!({"ice_servers": servers, "ttl_seconds": cfg.turn_ttl_seconds}),
    ))
}

/// The customer leaves (room token as Bearer): an answered conversation ends, a waiting one is abandoned.
#[worker::send]
async fn leave(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::Unauthorized("the room token is required".into()))?;
    let claims = verify_room(cfg.jwt_secret()?.as_bytes(), token.trim(), platform::now())
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    if claims.session != id {
        return Err(AppError::Forbidden(
            "this token belongs to another conversation".into(),
        ));
    }
    let ended = job::leave(&state.env, &db, &claims.tenant, &id).await?;
    Ok(Json(
        serde_json::json!({"ended": ended.is_some(), "session_id": id}),
    ))
}

#[worker::send]
async fn me_status(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let mine = store::loads(&db, &me.tenant)
        .await?
        .into_iter()
        .find(|l| l.staff_id == me.id);
    Ok(Json(match mine {
        Some(l) => serde_json::json!({"support_status": l.support_status,
            "active": l.active_chats + l.active_calls, "active_chats": l.active_chats, "active_calls": l.active_calls}),
        None => serde_json::json!({"support_status": "offline", "active": 0}),
    }))
}

/// Body of `PUT /support/availability`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    /// `online|away|offline`.
    pub status: String,
}

#[worker::send]
async fn availability(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<Availability>,
) -> AppResult<Json<serde_json::Value>> {
    if !matches!(body.status.as_str(), "online" | "away" | "offline") {
        return Err(AppError::Validation(
            "status: one of online, away, offline".into(),
        ));
    }
    let (_, db) = context(&state)?;
    store::set_status(
        &db,
        &me.tenant,
        &me.id,
        &body.status,
        &time::rfc3339(platform::now()),
    )
    .await?;
    if body.status == "online" {
        job::dispatch(&state.env, &db, &me.tenant).await?;
    }
    Ok(Json(serde_json::json!({"support_status": body.status})))
}

#[worker::send]
async fn queue(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let list: Vec<serde_json::Value> = store::list(&db, &me.tenant, "queued", None, 200)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            v["position"] = (i + 1).into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "sessions": list })))
}

/// Query of `GET /support/sessions`.
#[derive(Deserialize, Default)]
pub struct SessionsQuery {
    /// `queued|active|ended|abandoned` (default active).
    pub status: Option<String>,
    /// `true`: only mine.
    pub mine: Option<String>,
}

#[worker::send]
async fn sessions(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<SessionsQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let status = q.status.unwrap_or_else(|| "active".into());
    if !matches!(status.as_str(), "queued" | "active" | "ended" | "abandoned") {
        return Err(AppError::Validation(
            "status: one of queued, active, ended, abandoned".into(),
        ));
    }
    let (_, db) = context(&state)?;
    // Agents see their own conversations and the queue; team leads and up see everyone's.
    let mine = q.mine.as_deref() == Some("true") || !me.role.at_least(Role::TeamLead);
    let list = store::list(
        &db,
        &me.tenant,
        &status,
        mine.then_some(me.id.as_str()),
        200,
    )
    .await?;
    Ok(Json(serde_json::json!({ "sessions": list })))
}

/// A session the caller may work: their own, a queued one, or any for team lead and up.
async fn found(db: &Db, me: &Staff, id: &str) -> AppResult<Session> {
    let s = store::get(db, &me.tenant, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("session {id} not found")))?;
    let allowed = me.role.at_least(Role::TeamLead)
        || s.status == "queued"
        || s.assigned_to.as_deref() == Some(me.id.as_str());
    if !allowed {
        return Err(AppError::Forbidden(
            "this conversation is someone else's".into(),
        ));
    }
    Ok(s)
}

#[worker::send]
async fn session(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    let messages = store::messages(&db, &me.tenant, &id).await?;
    let activity = store::activities(&db, &me.tenant, &id).await?;
    let call = if s.kind == "voice" {
        store::call(&db, &me.tenant, &id).await?
    } else {
        None
    };
    Ok(Json(
        serde_json::json!({"session": s, "messages": messages, "activity": activity, "call": call}),
    ))
}

fn conflict(what: &str) -> AppError {
    AppError::Conflict(what.to_string())
}

#[worker::send]
async fn accept(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Session>> {
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    let now = time::rfc3339(platform::now());
    match (s.status.as_str(), s.assigned_to.as_deref()) {
        ("queued", _) => {
            let settings = store::settings(&db, &me.tenant).await?;
            // Supervisors and up may take more than the cap.
            let cap = if me.role.at_least(Role::Supervisor) {
                i64::MAX
            } else {
                settings.max_concurrent_chats_per_agent
            };
            if !store::assign(
                &db,
                &me.tenant,
                &id,
                &me.id,
                cap,
                Some(&me.id),
                "accepted",
                &now,
            )
            .await?
            {
                return Err(conflict(
                    "someone else took it, or you are at your limit of conversations",
                ));
            }
            let s = found(&db, &me, &id).await?;
            notify(
                &state.env,
                &s.room_id,
                serde_json::json!({"type": "assigned", "agent_name": me.name}),
                true,
            )
            .await;
            announce(&state.env, &me.tenant, "accepted", &s, Some(&me.id)).await;
            job::dispatch(&state.env, &db, &me.tenant).await?;
            Ok(Json(s))
        }
        ("active", Some(a)) if a == me.id => {
            // Answering a call the dispatcher gave you.
            store::answer(&db, &me.tenant, &id, &me.id, &now).await?;
            announce(&state.env, &me.tenant, "accepted", &s, Some(&me.id)).await;
            Ok(Json(found(&db, &me, &id).await?))
        }
        _ => Err(conflict(&format!("the conversation is {}", s.status))),
    }
}

#[worker::send]
async fn decline(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Session>> {
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    if !store::decline(&db, &me.tenant, &id, &me.id).await? {
        return Err(conflict(
            "only the assignee of a call that was not answered yet can decline it",
        ));
    }
    let now = time::rfc3339(platform::now());
    db.batch(vec![store::activity(
        &db,
        &me.tenant,
        &id,
        Some(&me.id),
        "declined",
        &serde_json::json!({}),
        &now,
    )?])
    .await?;
    announce(&state.env, &me.tenant, "declined", &s, Some(&me.id)).await;
    // Back in the queue: the queue timeout starts again.
    let settings = store::settings(&db, &me.tenant).await?;
    job::init_room(
        &state.env,
        &s.room_id,
        &s.id,
        &s.kind,
        &me.tenant,
        settings.queue_timeout_seconds,
    )
    .await?;
    job::evict(&state.env, &s.room_id, &me.id).await;
    job::dispatch(&state.env, &db, &me.tenant).await?;
    // It may belong to someone else now: answered without the "is it yours" check.
    store::get(&db, &me.tenant, &id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("session {id} not found")))
}

/// Body of `POST /support/sessions/{id}/transfer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// Staff id of the new assignee.
    pub to: String,
}

async fn handover(
    state: &AppState,
    db: &Db,
    me: &Staff,
    s: &Session,
    to: &crate::storage::staff::Member,
    kind: &str,
) -> AppResult<Session> {
    let now = time::rfc3339(platform::now());
    if !store::reassign(
        db,
        &me.tenant,
        &s.id,
        &to.staff_id,
        kind == "escalated",
        &now,
    )
    .await?
    {
        return Err(conflict(&format!("the conversation is {}", s.status)));
    }
    db.batch(vec![store::activity(
        db,
        &me.tenant,
        &s.id,
        Some(&me.id),
        kind,
        &serde_json::json!({"from": s.assigned_to, "to": to.staff_id}),
        &now,
    )?])
    .await?;
    if let Some(previous) = s.assigned_to.as_deref().filter(|p| *p != to.staff_id) {
        job::evict(&state.env, &s.room_id, previous).await;
    }
    notify(
        &state.env,
        &s.room_id,
        serde_json::json!({"type": "transferred", "agent_name": to.name}),
        true,
    )
    .await;
    announce(&state.env, &me.tenant, kind, s, Some(&to.staff_id)).await;
    store::get(db, &me.tenant, &s.id)
        .await?
        .ok_or_else(|| AppError::NotFound("session not found".into()))
}

#[worker::send]
async fn transfer(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TransferInput>,
) -> AppResult<Json<Session>> {
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    if s.status != "active" {
        return Err(conflict(&format!("the conversation is {}", s.status)));
    }
    let to = crate::storage::staff::active_member(&db, &me.tenant, &body.to)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("staff {} not found", body.to)))?;
    // Team leads move conversations within their team; supervisors and up anywhere; the assignee may hand off.
    let target = Actor {
        id: to.staff_id.clone(),
        role: to.role,
        team: to.team.clone(),
    };
    let current_team = match s.assigned_to.as_deref() {
        Some(a) => crate::storage::staff::member(&db, &me.tenant, a)
            .await?
            .and_then(|m| m.team),
        None => None,
    };
    let may = me.role.at_least(Role::Supervisor)
        || (me.role == Role::TeamLead
            && me.team.is_some()
            && me.team == target.team
            && me.team == current_team)
        || s.assigned_to.as_deref() == Some(me.id.as_str());
    if !may {
        return Err(AppError::Forbidden(
            "you may not transfer this conversation".into(),
        ));
    }
    Ok(Json(
        handover(&state, &db, &me, &s, &to, "transferred").await?,
    ))
}

#[worker::send]
async fn escalate(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<Session>> {
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    if s.status != "active" {
        return Err(conflict(&format!("the conversation is {}", s.status)));
    }
    // The least-loaded online supervisor (or higher), not the caller.
    let loads = store::loads(&db, &me.tenant).await?;
    let pick = loads
        .iter()
        .filter(|l| l.support_status == "online" && l.staff_id != me.id)
        .filter(|l| {
            l.role
                .parse::<Role>()
                .is_ok_and(|r: Role| r.at_least(Role::Supervisor))
        })
        .min_by_key(|l| (l.active_chats + l.active_calls, l.last_assigned_at.clone()));
    match pick {
        Some(p) => {
            let to = crate::storage::staff::active_member(&db, &me.tenant, &p.staff_id)
                .await?
                .ok_or_else(|| AppError::NotFound("supervisor not found".into()))?;
            Ok(Json(
                handover(&state, &db, &me, &s, &to, "escalated").await?,
            ))
        }
        None => {
            // Nobody to hand it to: flagged for supervisors; the agent keeps it meanwhile.
            let now = time::rfc3339(platform::now());
            store::flag_escalated(&db, &me.tenant, &id).await?;
            db.batch(vec![store::activity(
                &db,
                &me.tenant,
                &id,
                Some(&me.id),
                "escalated",
                &serde_json::json!({"to": null, "note": "no supervisor online"}),
                &now,
            )?])
            .await?;
            announce(&state.env, &me.tenant, "escalated", &s, None).await;
            Ok(Json(found(&db, &me, &id).await?))
        }
    }
}

/// Body of `POST /support/sessions/{id}/end`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// Why (default `resolved`).
    pub reason: Option<String>,
}

#[worker::send]
async fn end(
    State(state): State<AppState>,
    me: Staff,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<Session>> {
    // The body is optional: `{}`/`{"reason"}` or nothing.
    let input: EndInput = if body.iter().all(u8::is_ascii_whitespace) {
        EndInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::Validation(format!("body: {e}")))?
    };
    let (_, db) = context(&state)?;
    let s = found(&db, &me, &id).await?;
    // Anyone may take a waiting conversation; closing one nobody took is for team leads and up.
    if s.status == "queued" && !me.role.at_least(Role::TeamLead) {
        return Err(AppError::Forbidden(
            "only team leads and up may end a conversation nobody took".into(),
        ));
    }
    let reason = input
        .reason
        .map(|r| r.trim().chars().take(200).collect::<String>())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "resolved".into());
    match job::end(&state.env, &db, &me.tenant, &s.id, Some(&me.id), &reason).await? {
        Some(s) => Ok(Json(s)),
        None => Err(conflict(&format!(
            "the conversation is already {}",
            s.status
        ))),
    }
}

#[worker::send]
async fn get_settings(State(state): State<AppState>, me: Staff) -> AppResult<Json<Settings>> {
    let (_, db) = context(&state)?;
    Ok(Json(store::settings(&db, &me.tenant).await?))
}

/// Body of `PUT /support/settings`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Auto-assignment.
    pub auto_assign_enabled: Option<bool>,
    /// 1–50.
    pub max_concurrent_chats_per_agent: Option<i64>,
    /// 5–3600 s.
    pub queue_timeout_seconds: Option<i64>,
    /// 5–300 s.
    pub ring_timeout_seconds: Option<i64>,
}

#[worker::send]
async fn put_settings(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<SettingsInput>,
) -> AppResult<Json<Settings>> {
    me.require(Role::Admin, "live support settings")?;
    let (_, db) = context(&state)?;
    let mut s = store::settings(&db, &me.tenant).await?;
    if let Some(a) = body.auto_assign_enabled {
        s.auto_assign_enabled = a;
    }
    if let Some(m) = body.max_concurrent_chats_per_agent {
        if !(1..=50).contains(&m) {
            return Err(AppError::Validation(
                "max_concurrent_chats_per_agent: 1 to 50".into(),
            ));
        }
        s.max_concurrent_chats_per_agent = m;
    }
    if let Some(t) = body.queue_timeout_seconds {
        if !(5..=3600).contains(&t) {
            return Err(AppError::Validation(
                "queue_timeout_seconds: 5 to 3600".into(),
            ));
        }
        s.queue_timeout_seconds = t;
    }
    if let Some(t) = body.ring_timeout_seconds {
        if !(5..=300).contains(&t) {
            return Err(AppError::Validation(
                "ring_timeout_seconds: 5 to 300".into(),
            ));
        }
        s.ring_timeout_seconds = t;
    }
    store::save_settings(&db, &me.tenant, &s, &time::rfc3339(platform::now())).await?;
    job::dispatch(&state.env, &db, &me.tenant).await?;
    Ok(Json(s))
}

/// Query of `GET /support/metrics`.
#[derive(Deserialize, Default)]
pub struct MetricsQuery {
    /// Days back (1–90, default 1).
    pub days: Option<i64>,
}

#[worker::send]
async fn metrics(
    State(state): State<AppState>,
    me: Staff,
    ApiQuery(q): ApiQuery<MetricsQuery>,
) -> AppResult<Json<serde_json::Value>> {
    me.require(Role::Supervisor, "live support metrics")?;
    let days = q.days.unwrap_or(1);
    if !(1..=90).contains(&days) {
        return Err(AppError::Validation("days: 1 to 90".into()));
    }
    let (_, db) = context(&state)?;
    let since = time::rfc3339(platform::now() - chrono::Duration::days(days));
    let m = store::metrics(&db, &me.tenant, &since).await?;
    let agents = store::loads(&db, &me.tenant).await?;
    let mut v = serde_json::to_value(&m)?;
    v["abandon_rate"] = if m.sessions > 0 {
        (m.abandoned as f64 / m.sessions as f64).into()
    } else {
        serde_json::Value::Null
    };
    v["agents"] = serde_json::to_value(&agents)?;
    v["days"] = days.into();
    Ok(Json(v))
}
