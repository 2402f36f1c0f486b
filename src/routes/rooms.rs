//! `GET /api/v1/rooms/{room_id}/ws` (WebSocket): a live chat or call room, protocol in [`crate::domain::rooms`].
//!
//! Authenticated before the upgrade (401 otherwise, nothing upgraded): a customer's room token
//! (`?token=`, bound to this room; see [`crate::domain::auth::RoomClaims`]), or a staff JWT (`?token=`) or the
//! session cookie (then a browser `Origin` must be ours or in `ALLOWED_ORIGINS`: 403). Staff join as `agent` when
//! the session is assigned to them, as `supervisor` when they are supervisor or higher (listen-only in calls),
//! else 403; a session of another tenant is 404. Staff peer ids are `a-<first 8 of the staff id>`, so a reconnect
//! takes the old place back; a customer's is in the token. The socket is then handed to the room's
//! `SignalingRoom` Durable Object ([`crate::rooms::signaling`]) with the peer and its ICE servers.

use super::extract::{
    authenticate, check_origin, context, session_cookie, upgrade_at, websocket_token,
};
use super::AppState;
use crate::domain::auth::verify_room;
use crate::domain::rooms::{PeerRole, RoomPeer};
use crate::domain::ticket::Role;
use crate::error::{AppError, AppResult};
use crate::platform;
use crate::storage::support as store;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

/// The room route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/rooms/{room_id}/ws", get(ws))
}

#[worker::send]
async fn ws(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    req: Request,
) -> AppResult<Response> {
    let (cfg, db) = context(&state)?;
    let (parts, _) = req.into_parts();
    let query_token = websocket_token(&parts)?;
    let secret = cfg.jwt_secret()?.as_bytes().to_vec();
    let peer = match query_token
        .as_deref()
        .map(|t| verify_room(&secret, t, platform::now()))
    {
        Some(Ok(claims)) => {
            if claims.room != room_id {
                return Err(AppError::Unauthorized(
                    "this room token is for another room".into(),
                ));
            }
            let (tenant, session) = store::by_room(&db, &room_id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("room {room_id} not found")))?;
            if tenant != claims.tenant || session.id != claims.session {
                return Err(AppError::Unauthorized(
                    "this room token is for another conversation".into(),
                ));
            }
            open_session(&session)?;
            RoomPeer {
                peer_id: claims.peer,
                role: PeerRole::Customer,
                name: claims.name,
                staff_id: None,
            }
        }
        _ => {
            let token = match query_token {
                Some(t) => t,
                None => {
                    let c = session_cookie(&parts.headers).ok_or_else(|| {
                        AppError::Unauthorized("a room or staff token is required".into())
                    })?;
                    if parts.headers.contains_key("origin") {
                        check_origin(&cfg, &parts.uri, &parts.headers)?;
                    }
                    c
                }
            };
            let me = authenticate(&db, &cfg, &token).await?;
            let (tenant, session) = store::by_room(&db, &room_id)
                .await?
                .filter(|(t, _)| *t == me.tenant)
                .ok_or_else(|| AppError::NotFound(format!("room {room_id} not found")))?;
            let _ = tenant;
            open_session(&session)?;
            let role = if session.assigned_to.as_deref() == Some(me.id.as_str()) {
                PeerRole::Agent
            } else if me.role.at_least(Role::Supervisor) {
                PeerRole::Supervisor
            } else {
                return Err(AppError::Forbidden(
                    "this conversation is assigned to someone else".into(),
                ));
            };
            RoomPeer {
                peer_id: crate::jobs::support::staff_peer_id(&me.id),
                role,
                name: me.name,
                staff_id: Some(me.id),
            }
        }
    };
    let ice = super::support::ice_for(&cfg, &peer.peer_id);
    let q = serde_urlencoded::to_string([
        ("peer", serde_json::to_string(&peer)?),
        ("ice", ice.to_string()),
    ])
    .map_err(|e| AppError::Internal(e.to_string()))?;
    upgrade_at(
        &state,
        "ROOMS",
        &room_id,
        &format!("https://room/connect?{q}"),
    )
    .await
}

/// 409 unless the conversation is waiting or in progress: an ended room takes no one.
fn open_session(s: &store::Session) -> AppResult<()> {
    if matches!(s.status.as_str(), "queued" | "active") {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "the conversation is {}",
            s.status
        )))
    }
}
