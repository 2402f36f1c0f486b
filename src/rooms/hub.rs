//! `TenantHub`: one Durable Object per tenant (binding `HUB`, named by the tenant id) that keeps the tenant's
//! dashboards' WebSockets and relays the live protocol of [`crate::domain::live`].
//!
//! It uses the WebSocket Hibernation API
//! (<https://developers.cloudflare.com/durable-objects/best-practices/websockets/#websocket-hibernation-api>):
//! sockets are accepted with `acceptWebSocket` and each carries its [`Peer`] as a serialized attachment, so an
//! idle hub is evicted from memory and costs nothing, and wakes up with every peer known.
//!
//! Internal routes (reached only through the worker, which authenticates first):
//! - `GET /connect?staff_id=&name=` with `Upgrade: websocket` → 101 with the socket (tagged with the staff id).
//! - `POST /publish` with a JSON frame → sent to every socket; 204.
//! - `POST /kick?staff_id=` → that staff member's sockets are closed (code 4001); 204. Used when an account is
//!   deactivated, demoted or its password changes, so open dashboards re-authenticate.

use crate::domain::live::{presence, ClientMessage, Peer};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

/// The per-tenant live hub.
#[durable_object]
pub struct TenantHub {
    state: State,
}

impl TenantHub {
    fn peers(&self) -> Vec<(WebSocket, Peer)> {
        self.state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let peer = ws.deserialize_attachment::<Peer>().ok().flatten()?;
                Some((ws, peer))
            })
            .collect()
    }

    fn broadcast(&self, frame: &str) {
        for ws in self.state.get_websockets() {
            // A socket that is closing may refuse; the others still get the frame.
            let _ = ws.send_with_str(frame);
        }
    }

    fn announce(&self, ticket_id: &str) {
        let peers: Vec<Peer> = self.peers().into_iter().map(|(_, p)| p).collect();
        self.broadcast(&presence(&peers, ticket_id).to_string());
    }

    /// The socket leaves: it stops viewing, and the others learn it.
    fn leave(&self, ws: &WebSocket) -> Result<()> {
        if let Some(mut peer) = ws.deserialize_attachment::<Peer>()? {
            if let Some(ticket) = peer.viewing.take() {
                ws.serialize_attachment(&peer)?;
                self.announce(&ticket);
            }
        }
        Ok(())
    }
}

impl DurableObject for TenantHub {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        let url = req.url()?;
        let query = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        match path.as_str() {
            "/connect" => {
                let peer = Peer {
                    staff_id: query("staff_id"),
                    name: query("name"),
                    viewing: None,
                };
                let upgrade = req
                    .headers()
                    .get("upgrade")
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                if peer.staff_id.is_empty() || !upgrade.eq_ignore_ascii_case("websocket") {
                    return Response::error("expected an authenticated WebSocket upgrade", 400);
                }
                let pair = WebSocketPair::new()?;
                self.state
                    .accept_websocket_with_tags(&pair.server, &[peer.staff_id.as_str()]);
                pair.server.serialize_attachment(&peer)?;
                Response::from_websocket(pair.client)
            }
            "/kick" => {
                let staff_id = query("staff_id");
                for ws in self.state.get_websockets_with_tag(&staff_id) {
                    self.leave(&ws)?;
                    let _ = ws.close(Some(4001), Some("session ended; sign in again"));
                }
                Ok(Response::empty()?.with_status(204))
            }
            "/publish" => {
                let mut req = req;
                let frame = req.text().await?;
                self.broadcast(&frame);
                Ok(Response::empty()?.with_status(204))
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let WebSocketIncomingMessage::String(text) = message else {
            return Ok(());
        };
        let Some(ClientMessage::Viewing { ticket_id }) = ClientMessage::parse(&text) else {
            return Ok(());
        };
        let Some(mut peer) = ws.deserialize_attachment::<Peer>()? else {
            return Ok(());
        };
        let before = std::mem::replace(&mut peer.viewing, ticket_id.clone());
        ws.serialize_attachment(&peer)?;
        if let Some(old) = before.filter(|old| Some(old) != ticket_id.as_ref()) {
            self.announce(&old);
        }
        if let Some(new) = &ticket_id {
            self.announce(new);
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.leave(&ws)
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.leave(&ws)
    }
}

/// The URL of a hub route with query parameters (form-encoded, so any name is safe).
pub fn hub_url(path: &str, query: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(query).unwrap_or_default();
    format!("https://hub{path}?{q}")
}

/// Closes the live sockets of a staff member (deactivated, demoted, or password changed). Best effort.
pub async fn kick(env: &Env, tenant: &str, staff_id: &str) {
    let result: Result<()> = async {
        let stub = env
            .durable_object("HUB")?
            .id_from_name(tenant)?
            .get_stub()?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post);
        let req = Request::new_with_init(&hub_url("/kick", &[("staff_id", staff_id)]), &init)?;
        stub.fetch_with_request(req).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        worker::console_warn!("closing live sockets of {staff_id}: {e}");
    }
}

/// Sends a frame to every dashboard of the tenant (one subrequest to the tenant's hub). Best effort: a failure
/// is logged and the caller's work stands (dashboards also refresh on reconnect).
pub async fn publish(env: &Env, tenant: &str, frame: &serde_json::Value) {
    let result: Result<()> = async {
        let stub = env
            .durable_object("HUB")?
            .id_from_name(tenant)?
            .get_stub()?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post)
            .with_body(Some(frame.to_string().into()));
        let req = Request::new_with_init("https://hub/publish", &init)?;
        stub.fetch_with_request(req).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        worker::console_warn!("live update for tenant {tenant} not delivered: {e}");
    }
}
