//! `SignalingRoom`: one Durable Object per live chat or call (binding `ROOMS`, named by the room id) that relays
//! the signaling protocol of [`crate::domain::rooms`] between the customer, the agent and a supervisor.
//!
//! WebSocket Hibernation API
//! (<https://developers.cloudflare.com/durable-objects/best-practices/websockets/#websocket-hibernation-api>):
//! sockets are accepted with `acceptWebSocket`, tagged with their peer id, and carry their [`RoomPeer`] as a
//! serialized attachment, so an idle room is evicted from memory and wakes up knowing everyone; `{"type":"ping"}`
//! is answered `{"type":"pong"}` by the runtime (`setWebSocketAutoResponse`) without waking the room.
//!
//! Internal routes (reached only through the worker, which authenticates first):
//! - `POST /init` `{"tenant","session_id","kind","timeout_ms"}`: remembers the session and sets the queue-timeout
//!   alarm; 204.
//! - `GET /connect?peer=<JSON RoomPeer>&ice=<JSON ICE servers>` with `Upgrade: websocket` → 101 (query, not
//!   headers: names may be any Unicode).
//!   A peer id already present takes its place back (the old socket is closed with 4000). A full room accepts,
//!   sends `room-full` and closes with 4003.
//! - `POST /notify?sticky=1` with a JSON frame: sent to every peer; `sticky` keeps it and replays it to customers
//!   who connect later (queue position, assignment); 204.
//! - `POST /ring?at=<unix ms>`: a call was given to an agent; the alarm checks on it then; 204.
//! - `POST /evict?peer=`: that peer's sockets get `not-allowed` and are closed (4005): the conversation went to
//!   someone else; 204.
//! - `POST /close?reason=`: `{"type":"ended","reason"}` to everyone, then every socket is closed (1000); the room is
//!   over: later connections get the ending frame and are closed (4004), frames are refused; 204.
//!
//! The alarm (`jobs::support::on_alarm`) abandons a session still queued at its deadline and sends a call that
//! rang unanswered back to the queue; its errors make the runtime retry it.

use crate::domain::masking::mask_chat;
use crate::domain::rooms::{
    admit, error_frame, parse_frame, Inbound, PeerRole, RoomKind, RoomPeer,
};
use crate::storage::{support as store, Db};
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

/// An alarm at Unix ms `at` as workers-rs wants it: an `i64` is an offset from now, in ms.
fn offset(at: i64) -> i64 {
    (at - crate::platform::now_ms()).max(0)
}

/// What the room remembers about its session (DO storage key `meta`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomMeta {
    /// Tenant id.
    pub tenant: String,
    /// Session id.
    pub session_id: String,
    /// Chat or voice.
    pub kind: RoomKind,
    /// Unix ms after which a still-queued session is abandoned.
    #[serde(default)]
    pub deadline_ms: i64,
}

/// Most chat messages replayed in `welcome.history`.
const HISTORY_MAX: usize = 100;

/// A peer's attachment: who it is, and whether a reconnect replaced it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attached {
    peer: RoomPeer,
    #[serde(default)]
    replaced: bool,
}

/// The signaling room.
#[durable_object]
pub struct SignalingRoom {
    state: State,
    env: Env,
}

impl SignalingRoom {
    fn peers(&self) -> Vec<(WebSocket, Attached)> {
        self.state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let a = ws.deserialize_attachment::<Attached>().ok().flatten()?;
                (!a.replaced).then_some((ws, a))
            })
            .collect()
    }

    fn send_all(&self, frame: &str, except: Option<&str>) {
        for (ws, a) in self.peers() {
            if Some(a.peer.peer_id.as_str()) != except {
                // A closing socket may refuse; the others still get the frame.
                let _ = ws.send_with_str(frame);
            }
        }
    }

    async fn ended(&self) -> bool {
        self.state
            .storage()
            .get::<bool>("ended")
            .await
            .ok()
            .flatten()
            .unwrap_or(false)
    }

    async fn meta(&self) -> Option<RoomMeta> {
        self.state
            .storage()
            .get::<RoomMeta>("meta")
            .await
            .ok()
            .flatten()
    }

    fn left(&self, ws: &WebSocket) {
        let Ok(Some(a)) = ws.deserialize_attachment::<Attached>() else {
            return;
        };
        if a.replaced {
            return;
        }
        let frame = serde_json::json!({"type": "peer-left", "peer_id": a.peer.peer_id}).to_string();
        self.send_all(&frame, Some(&a.peer.peer_id));
    }

    async fn join(&self, req: Request) -> Result<Response> {
        let upgrade = req
            .headers()
            .get("upgrade")
            .ok()
            .flatten()
            .unwrap_or_default();
        let url = req.url()?;
        let query = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let peer: Option<RoomPeer> = serde_json::from_str(&query("peer")).ok();
        let ice: serde_json::Value =
            serde_json::from_str(&query("ice")).unwrap_or_else(|_| serde_json::json!([]));
        let (Some(peer), true) = (peer, upgrade.eq_ignore_ascii_case("websocket")) else {
            return Response::error("expected an authenticated WebSocket upgrade", 400);
        };
        let Some(meta) = self.meta().await else {
            return Response::error("no such room", 404);
        };
        let pair = WebSocketPair::new()?;
        if self.ended().await {
            // Accepted only to say how it ended, then closed; an ended room relays nothing.
            self.state.accept_web_socket(&pair.server);
            pair.server.serialize_attachment(&Attached {
                peer: peer.clone(),
                replaced: true,
            })?;
            if let Ok(Some(sticky)) = self.state.storage().get::<String>("sticky").await {
                let _ = pair.server.send_with_str(&sticky);
            }
            let _ = pair.server.close(Some(4004), Some("conversation over"));
            return Response::from_websocket(pair.client);
        }
        // A reconnect with the same peer id takes the place back.
        for ws in self.state.get_websockets_with_tag(&peer.peer_id) {
            if let Ok(Some(mut a)) = ws.deserialize_attachment::<Attached>() {
                a.replaced = true;
                let _ = ws.serialize_attachment(&a);
            }
            let _ = ws.close(Some(4000), Some("replaced by a newer connection"));
        }
        let present: Vec<(WebSocket, Attached)> = self.peers();
        let roles: Vec<PeerRole> = present.iter().map(|(_, a)| a.peer.role).collect();
        if admit(meta.kind, &roles, peer.role).is_err() {
            // Accepted only to say why, then closed; it never counts as a peer.
            self.state.accept_web_socket(&pair.server);
            pair.server.serialize_attachment(&Attached {
                peer: peer.clone(),
                replaced: true,
            })?;
            let _ = pair.server.send_with_str(error_frame(
                "room-full",
                &format!("this {} room is full", meta.kind.as_str()),
            ));
            let _ = pair.server.close(Some(4003), Some("room full"));
            return Response::from_websocket(pair.client);
        }
        let role_tag = peer.role.as_str();
        self.state
            .accept_websocket_with_tags(&pair.server, &[peer.peer_id.as_str(), role_tag]);
        pair.server.serialize_attachment(&Attached {
            peer: peer.clone(),
            replaced: false,
        })?;
        let others: Vec<serde_json::Value> = present
            .iter()
            .map(|(_, a)| serde_json::json!({"peer_id": a.peer.peer_id, "role": a.peer.role, "name": a.peer.name}))
            .collect();
        // The conversation so far (masked as stored), so a reloaded page or a reconnect shows it again.
        let history: Vec<serde_json::Value> = match self.env.d1("DB") {
            Ok(d1) => store::messages(&Db::new(d1), &meta.tenant, &meta.session_id)
                .await
                .unwrap_or_default()
                .into_iter()
                .rev()
                .take(HISTORY_MAX)
                .rev()
                .map(|m| serde_json::json!({"type": "chat", "id": m.id, "from": m.peer_id, "role": m.role,
                    "name": m.sender_name, "text": m.text, "ts": m.created_at}))
                .collect(),
            Err(_) => Vec::new(),
        };
        let welcome = serde_json::json!({"type": "welcome", "peer_id": peer.peer_id, "role": peer.role,
            "name": peer.name, "kind": meta.kind, "session_id": meta.session_id, "peers": others, "ice_servers": ice,
            "history": history});
        pair.server.send_with_str(welcome.to_string())?;
        if peer.role == PeerRole::Customer {
            if let Ok(Some(sticky)) = self.state.storage().get::<String>("sticky").await {
                let _ = pair.server.send_with_str(&sticky);
            }
        }
        let joined =
            serde_json::json!({"type": "peer-joined", "peer_id": peer.peer_id, "role": peer.role,
            "name": peer.name})
            .to_string();
        self.send_all(&joined, Some(&peer.peer_id));
        Response::from_websocket(pair.client)
    }
}

impl DurableObject for SignalingRoom {
    fn new(state: State, env: Env) -> Self {
        if let Ok(pair) = worker::worker_sys::WebSocketRequestResponsePair::new(
            r#"{"type":"ping"}"#,
            r#"{"type":"pong"}"#,
        ) {
            state.set_websocket_auto_response(&pair);
        }
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let query = |n: &str| {
            url.query_pairs()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.into_owned())
        };
        match url.path() {
            "/init" => {
                #[derive(Deserialize)]
                struct Init {
                    tenant: String,
                    session_id: String,
                    kind: RoomKind,
                    timeout_ms: i64,
                }
                let init: Init = req.json().await?;
                let timeout = init.timeout_ms.max(1000);
                let meta = RoomMeta {
                    tenant: init.tenant,
                    session_id: init.session_id,
                    kind: init.kind,
                    deadline_ms: crate::platform::now_ms() + timeout,
                };
                self.state.storage().put("meta", &meta).await?;
                self.state
                    .storage()
                    .set_alarm(std::time::Duration::from_millis(timeout as u64))
                    .await?;
                Ok(Response::empty()?.with_status(204))
            }
            "/connect" => self.join(req).await,
            "/notify" => {
                let frame = req.text().await?;
                if query("sticky").as_deref() == Some("1") {
                    self.state.storage().put("sticky", &frame).await?;
                }
                self.send_all(&frame, None);
                Ok(Response::empty()?.with_status(204))
            }
            "/ring" => {
                // A call given to an agent: check on it when it should have been answered.
                let at: i64 = query("at").and_then(|v| v.parse().ok()).unwrap_or(0);
                if at > 0 {
                    self.state.storage().set_alarm(offset(at)).await?;
                }
                Ok(Response::empty()?.with_status(204))
            }
            "/evict" => {
                let peer = query("peer").unwrap_or_default();
                let mut gone = false;
                for ws in self.state.get_websockets_with_tag(&peer) {
                    if let Ok(Some(mut a)) = ws.deserialize_attachment::<Attached>() {
                        gone |= !a.replaced;
                        a.replaced = true;
                        let _ = ws.serialize_attachment(&a);
                    }
                    let _ = ws.send_with_str(error_frame(
                        "not-allowed",
                        "this conversation was handed to someone else",
                    ));
                    let _ = ws.close(Some(4005), Some("reassigned"));
                }
                if gone {
                    let frame =
                        serde_json::json!({"type": "peer-left", "peer_id": peer}).to_string();
                    self.send_all(&frame, Some(&peer));
                }
                Ok(Response::empty()?.with_status(204))
            }
            "/close" => {
                let reason = query("reason").unwrap_or_else(|| "ended".into());
                let frame = serde_json::json!({"type": "ended", "reason": reason}).to_string();
                self.state.storage().put("sticky", &frame).await?;
                self.state.storage().put("ended", true).await?;
                for (ws, _) in self.peers() {
                    let _ = ws.send_with_str(&frame);
                    let _ = ws.close(Some(1000), Some("conversation ended"));
                }
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
        let text = match message {
            WebSocketIncomingMessage::String(t) => t,
            WebSocketIncomingMessage::Binary(_) => {
                let _ = ws.send_with_str(error_frame("bad-message", "frames are JSON text"));
                return Ok(());
            }
        };
        let Some(me) = ws
            .deserialize_attachment::<Attached>()?
            .filter(|a| !a.replaced)
        else {
            return Ok(());
        };
        let frame = match parse_frame(&text) {
            Ok(f) => f,
            Err(e) => {
                let _ = ws.send_with_str(error_frame("bad-message", &e.0));
                return Ok(());
            }
        };
        let Some(meta) = self.meta().await else {
            return Ok(());
        };
        if self.ended().await {
            let _ = ws.send_with_str(error_frame("not-allowed", "this conversation has ended"));
            return Ok(());
        }
        match frame {
            Inbound::Relay {
                kind,
                to,
                field,
                payload,
            } if kind == "offer"
                && meta.kind == RoomKind::Voice
                && me.peer.role == PeerRole::Supervisor =>
            {
                let _ = (to, field, payload);
                let _ = ws.send_with_str(error_frame(
                    "not-allowed",
                    "a supervisor listens in on calls: the talking peers offer, the supervisor answers",
                ));
            }
            Inbound::Relay {
                kind,
                to,
                field,
                payload,
            } => {
                let target = self
                    .state
                    .get_websockets_with_tag(&to)
                    .into_iter()
                    .find(|t| {
                        // Tags also hold roles: only a socket whose own peer id is `to` counts.
                        t.deserialize_attachment::<Attached>()
                            .ok()
                            .flatten()
                            .is_some_and(|a| !a.replaced && a.peer.peer_id == to)
                    });
                match target {
                    Some(t) if to != me.peer.peer_id => {
                        let mut out = serde_json::json!({"type": kind, "from": me.peer.peer_id});
                        out[field] = payload;
                        let _ = t.send_with_str(out.to_string());
                    }
                    _ => {
                        let _ = ws.send_with_str(error_frame(
                            "peer-not-found",
                            &format!("no peer {to:?} in this room"),
                        ));
                    }
                }
            }
            Inbound::Typing => {
                let out =
                    serde_json::json!({"type": "typing", "from": me.peer.peer_id}).to_string();
                self.send_all(&out, Some(&me.peer.peer_id));
            }
            Inbound::Chat(text) => {
                if meta.kind == RoomKind::Voice && me.peer.role == PeerRole::Supervisor {
                    let _ = ws.send_with_str(error_frame(
                        "not-allowed",
                        "a supervisor listens in on calls and cannot write",
                    ));
                    return Ok(());
                }
                let masked = mask_chat(&text);
                let id =
                    crate::platform::uuid().map_err(|e| worker::Error::RustError(e.to_string()))?;
                let now = crate::domain::time::rfc3339(crate::platform::now());
                let db = Db::new(self.env.d1("DB")?);
                let role = me.peer.role.as_str();
                let stored = store::add_message(
                    &db,
                    &store::NewChatMessage {
                        id: &id,
                        tenant: &meta.tenant,
                        session: &meta.session_id,
                        peer_id: &me.peer.peer_id,
                        role,
                        sender_name: &me.peer.name,
                        text: &masked,
                        now: &now,
                    },
                )
                .await;
                if let Err(e) = stored {
                    worker::console_error!("chat message not stored: {e}");
                    let _ = ws.send_with_str(error_frame(
                        "not-stored",
                        "the message could not be saved; send it again",
                    ));
                    return Ok(());
                }
                let out = serde_json::json!({"type": "chat", "id": id, "from": me.peer.peer_id,
                    "role": me.peer.role, "name": me.peer.name, "text": masked, "ts": now})
                .to_string();
                self.send_all(&out, None);
            }
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
        self.left(&ws);
        // Answer the client's close (automatic only from compatibility date 2026-04-07).
        let _ = ws.close(Some(1000), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.left(&ws);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        let Some(meta) = self.meta().await else {
            return Response::ok("no session");
        };
        let outcome = crate::jobs::support::on_alarm(
            &self.env,
            &meta.tenant,
            &meta.session_id,
            meta.deadline_ms,
        )
        .await
        // An error makes the runtime retry the alarm.
        .map_err(|e| worker::Error::RustError(format!("room alarm of {}: {e}", meta.session_id)))?;
        match outcome {
            crate::jobs::support::AlarmOutcome::Abandoned => {
                let frame = serde_json::json!({"type": "abandoned",
                    "message": "no one could take your conversation in time; we will follow up by e-mail"})
                .to_string();
                self.state.storage().put("sticky", &frame).await?;
                self.state.storage().put("ended", true).await?;
                for (ws, _) in self.peers() {
                    let _ = ws.send_with_str(&frame);
                    let _ = ws.close(Some(1000), Some("queue timeout"));
                }
            }
            crate::jobs::support::AlarmOutcome::Again(at) => {
                self.state.storage().set_alarm(offset(at)).await?;
            }
            crate::jobs::support::AlarmOutcome::Requeued(deadline) => {
                let meta = RoomMeta {
                    deadline_ms: deadline,
                    ..meta
                };
                self.state.storage().put("meta", &meta).await?;
                self.state.storage().set_alarm(offset(deadline)).await?;
            }
            crate::jobs::support::AlarmOutcome::Done => {}
        }
        Response::ok("done")
    }
}
