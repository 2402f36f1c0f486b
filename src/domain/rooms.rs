//! Live chat and WebRTC voice: the signaling protocol of a room, who may enter it, who gets a waiting
//! conversation, room tokens and TURN credentials. Pure; the Durable Object is `rooms::signaling`.
//!
//! Protocol (JSON text frames, at most [`MAX_FRAME_BYTES`]):
//! - server → client on connect: `{"type":"welcome","peer_id","role","peers":[{"peer_id","role","name"}],"history":[chat…],
//!   "ice_servers":[…]}`; then `{"type":"peer-joined","peer_id","role","name"}` / `{"type":"peer-left","peer_id"}`
//!   to the others.
//! - relay: `{"type":"offer"|"answer"|"ice-candidate","to":<peer_id>,"sdp"|"candidate":…}` goes only to `to`, with
//!   `"from"` added; an unknown `to` answers `{"type":"error","code":"peer-not-found"}`.
//! - `{"type":"chat","text"}` is masked ([`crate::domain::masking::mask_chat`]), stored and broadcast as
//!   `{"type":"chat","id","from","role","text","ts"}`; `{"type":"typing"}` is relayed to the others, not stored.
//! - `{"type":"ping"}` is answered `{"type":"pong"}` by the runtime without waking the room.
//! - errors `{"type":"error","code":"room-full"|"bad-message"|"not-allowed"|"peer-not-found","message"}`.
//! - server notices: `{"type":"queue","position"}`, `{"type":"assigned","agent_name"}`, `{"type":"transferred",
//!   "agent_name"}`, `{"type":"ended","reason"}`, `{"type":"abandoned"}`.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// Largest accepted frame, in bytes (64 KiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;
/// Peers of a chat room.
pub const CHAT_CAPACITY: usize = 8;
/// Talking peers of a call room (plus one listen-only supervisor).
pub const CALL_CAPACITY: usize = 2;

/// What a room carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Text chat (up to [`CHAT_CAPACITY`] peers).
    Chat,
    /// Voice call (two talking peers and an optional listen-only supervisor).
    Voice,
}

impl RoomKind {
    /// Wire form, also the ticket channel of the transcript (`chat`, `voice`).
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Chat => "chat",
            RoomKind::Voice => "voice",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "chat" => Some(RoomKind::Chat),
            "voice" => Some(RoomKind::Voice),
            _ => None,
        }
    }
}

/// A peer's part in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerRole {
    /// The customer (room token).
    Customer,
    /// A staff member working the conversation.
    Agent,
    /// A supervisor listening in (listen-only in calls: no chat frames and no offers; the talking peers each offer
    /// them a send-only audio connection, which they answer).
    Supervisor,
}

impl PeerRole {
    /// Wire form (also the socket tag and `chat_messages.role`).
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Customer => "customer",
            PeerRole::Agent => "agent",
            PeerRole::Supervisor => "supervisor",
        }
    }
}

/// A peer as the room knows it (kept as the socket's attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPeer {
    /// Chosen by the client (reconnecting with it takes the place back) or assigned.
    pub peer_id: String,
    /// Role.
    pub role: PeerRole,
    /// Display name.
    pub name: String,
    /// Staff id, for staff peers.
    pub staff_id: Option<String>,
}

/// Why a peer may not enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No place left for that role.
    Full,
}

/// Whether a peer with `role` may join a `kind` room where `present` (other peers, the rejoining peer excluded)
/// already are. Chats hold [`CHAT_CAPACITY`] peers; calls hold [`CALL_CAPACITY`] talking peers plus one supervisor.
pub fn admit(kind: RoomKind, present: &[PeerRole], role: PeerRole) -> Result<(), Refusal> {
    match kind {
        RoomKind::Chat if present.len() >= CHAT_CAPACITY => Err(Refusal::Full),
        RoomKind::Chat => Ok(()),
        RoomKind::Voice => {
            let supervisors = present
                .iter()
                .filter(|r| **r == PeerRole::Supervisor)
                .count();
            let talking = present.len() - supervisors;
            match role {
                PeerRole::Supervisor if supervisors >= 1 => Err(Refusal::Full),
                PeerRole::Supervisor => Ok(()),
                _ if talking >= CALL_CAPACITY => Err(Refusal::Full),
                _ => Ok(()),
            }
        }
    }
}

/// A frame from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// SDP offer / answer or ICE candidate for one peer: `kind` is `offer`, `answer` or `ice-candidate`; the
    /// payload is the `sdp` or `candidate` value as sent.
    Relay {
        /// Frame type.
        kind: &'static str,
        /// Target peer id.
        to: String,
        /// `sdp` or `candidate`.
        field: &'static str,
        /// Its value.
        payload: serde_json::Value,
    },
    /// A chat message (trimmed, non-empty, at most [`MAX_CHAT_CHARS`]).
    Chat(String),
    /// Typing indicator.
    Typing,
}

/// Why a frame was refused (`bad-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame(pub String);

/// Parses a client frame.
pub fn parse_frame(text: &str) -> Result<Inbound, BadFrame> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(BadFrame(format!(
            "frames are limited to {MAX_FRAME_BYTES} bytes"
        )));
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| BadFrame("not a JSON object".into()))?;
    let kind = v
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| BadFrame("missing \"type\"".into()))?;
    let relay = |kind: &'static str, field: &'static str| {
        let to = v
            .get("to")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BadFrame(format!("{kind} needs \"to\"")))?;
        let payload = v
            .get(field)
            .filter(|p| !p.is_null())
            .cloned()
            .ok_or_else(|| BadFrame(format!("{kind} needs \"{field}\"")))?;
        Ok(Inbound::Relay {
            kind,
            to: to.to_string(),
            field,
            payload,
        })
    };
    match kind {
        "offer" => relay("offer", "sdp"),
        "answer" => relay("answer", "sdp"),
        "ice-candidate" => relay("ice-candidate", "candidate"),
        "typing" => Ok(Inbound::Typing),
        "chat" => {
            let t = v
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| BadFrame("chat needs non-empty \"text\"".into()))?;
            if t.chars().count() > MAX_CHAT_CHARS {
                return Err(BadFrame(format!(
                    "chat text is limited to {MAX_CHAT_CHARS} characters"
                )));
            }
            Ok(Inbound::Chat(t.to_string()))
        }
        other => Err(BadFrame(format!("unknown type {other:?}"))),
    }
}

/// An error frame.
pub fn error_frame(code: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "code": code, "message": message}).to_string()
}

/// An agent's standing for assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad {
    /// Staff id.
    pub staff_id: String,
    /// Active conversations now.
    pub active: u32,
    /// When they were last given one (RFC 3339; empty: never), for round-robin among equals.
    pub last_assigned_at: String,
}

/// The agent a waiting conversation goes to: the least loaded of `online` agents under `cap`, ties broken
/// round-robin (the one given a conversation longest ago, then by id). `None` when all are at the cap.
pub fn pick_agent(online: &[AgentLoad], cap: u32) -> Option<&AgentLoad> {
    online.iter().filter(|a| a.active < cap).min_by(|a, b| {
        (a.active, &a.last_assigned_at, &a.staff_id).cmp(&(
            b.active,
            &b.last_assigned_at,
            &b.staff_id,
        ))
    })
}

/// TURN REST API credentials (draft-uberti-behave-turn-rest-00, as coturn's `use-auth-secret` checks them):
/// username `<expiry unix seconds>:<user>`, credential base64(HMAC-SHA1(secret, username)).
pub fn turn_credentials(
    secret: &str,
    user: &str,
    now_secs: i64,
    ttl_secs: i64,
) -> (String, String) {
    use base64::Engine;
    let username = format!("{}:{user}", now_secs + ttl_secs);
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

/// The ICE servers a client gets: the STUN URLs, then, when TURN URLs are configured with a secret, one TURN
/// entry with time-limited credentials. Shape of `RTCIceServer` (`{"urls":[…],"username","credential"}`).
pub fn ice_servers(
    stun: &[String],
    turn: &[String],
    turn_secret: Option<&str>,
    user: &str,
    now_secs: i64,
    ttl_secs: i64,
) -> serde_json::Value {
    let mut list = Vec::new();
    if !stun.is_empty() {
        list.push(serde_json::json!({ "urls": stun }));
    }
    if let (false, Some(secret)) = (turn.is_empty(), turn_secret) {
        let (username, credential) = turn_credentials(secret, user, now_secs, ttl_secs);
        list.push(
            serde_json::json!({"urls": turn, "username": username, "credential": credential}),
        );
    }
    serde_json::Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities() {
        use PeerRole::*;
        assert_eq!(
            admit(RoomKind::Voice, &[Customer, Agent], Customer),
            Err(Refusal::Full)
        );
        assert_eq!(
            admit(RoomKind::Voice, &[Customer, Agent], Supervisor),
            Ok(())
        );
        assert_eq!(
            admit(RoomKind::Voice, &[Customer, Agent, Supervisor], Supervisor),
            Err(Refusal::Full)
        );
        assert_eq!(admit(RoomKind::Voice, &[Supervisor], Agent), Ok(()));
        assert_eq!(admit(RoomKind::Chat, &[Agent; 7], Customer), Ok(()));
        assert_eq!(
            admit(RoomKind::Chat, &[Agent; 8], Customer),
            Err(Refusal::Full)
        );
    }

    #[test]
    fn frames() {
        assert_eq!(
            parse_frame(r#"{"type":"offer","to":"p2","sdp":"v=0"}"#),
            Ok(Inbound::Relay {
                kind: "offer",
                to: "p2".into(),
                field: "sdp",
                payload: "v=0".into()
            })
        );
        assert!(parse_frame(r#"{"type":"ice-candidate","to":"p2"}"#).is_err());
        assert!(parse_frame(r#"{"type":"offer","sdp":"x"}"#).is_err());
        assert_eq!(
            parse_frame(r#"{"type":"chat","text":"  hi "}"#),
            Ok(Inbound::Chat("hi".into()))
        );
        assert!(parse_frame(r#"{"type":"chat","text":"   "}"#).is_err());
        assert!(parse_frame("nope").is_err());
        assert!(parse_frame(r#"{"type":"dance"}"#).is_err());
        let big = format!(
            r#"{{"type":"chat","text":"{}"}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert!(parse_frame(&big).is_err());
    }

    #[test]
    fn assignment_is_least_loaded_then_round_robin() {
        let a = |id: &str, active, last: &str| AgentLoad {
            staff_id: id.into(),
            active,
            last_assigned_at: last.into(),
        };
        let online = [
            a("s1", 2, "2026-01-01T00:00:00Z"),
            a("s2", 1, "2026-01-01T00:05:00Z"),
            a("s3", 1, "2026-01-01T00:01:00Z"),
        ];
        assert_eq!(
            pick_agent(&online, 5).map(|x| x.staff_id.as_str()),
            Some("s3")
        );
        assert_eq!(pick_agent(&online, 1), None);
        let never = [a("s2", 0, "2026-01-01T00:00:00Z"), a("s9", 0, "")];
        assert_eq!(
            pick_agent(&never, 1).map(|x| x.staff_id.as_str()),
            Some("s9")
        );
    }

    #[test]
    fn turn_rest_credentials() {
        // Computed independently: printf '1700086400:alice' | openssl dgst -sha1 -hmac secret -binary | base64
        let (u, c) = turn_credentials("secret", "alice", 1_700_000_000, 86_400);
        assert_eq!(u, "1700086400:alice");
        assert_eq!(c, "bQkkJ09au//1ZGbK+3Pt69JC3qg=");
        let v = ice_servers(
            &["stun:stun.cloudflare.com:3478".into()],
            &["turn:turn.example.com:3478?transport=udp".into()],
            Some("secret"),
            "alice",
            1_700_000_000,
            86_400,
        );
        assert_eq!(v[1]["username"], "1700086400:alice");
        assert_eq!(v[1]["credential"], c);
        let stun_only = ice_servers(&["stun:x".into()], &[], Some("s"), "a", 0, 1);
        assert_eq!(stun_only.as_array().map(|a| a.len()), Some(1));
    }
}
