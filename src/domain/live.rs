//! The live-update protocol of the dashboard (JSON text frames over the `/api/v1/live` WebSocket):
//! - server → client: `{"type":"ticket","event":"created"|"updated"|"message","ticket_id","ticket_number"}`
//!   and `{"type":"presence","ticket_id","viewers":[{"staff_id","name"}]}`.
//! - client → server: `{"type":"viewing","ticket_id":string|null}`.

use serde::{Deserialize, Serialize};

/// Largest client frame accepted, in bytes; larger frames are ignored.
pub const MAX_CLIENT_FRAME_BYTES: usize = 4096;

/// A frame from a dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The agent opened a ticket (`Some`) or left it (`None`).
    Viewing {
        /// Ticket id, or `null`.
        ticket_id: Option<String>,
    },
}

impl ClientMessage {
    /// Parses a client frame; `None` for anything else (ignored, never fatal to the socket). A ticket id must
    /// look like one (at most 64 of `A-Z a-z 0-9 -`), so a peer's attachment stays small.
    pub fn parse(frame: &str) -> Option<ClientMessage> {
        if frame.len() > MAX_CLIENT_FRAME_BYTES {
            return None;
        }
        let msg: ClientMessage = serde_json::from_str(frame).ok()?;
        let ClientMessage::Viewing { ticket_id } = &msg;
        let plausible = |t: &str| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        ticket_id.as_deref().is_none_or(plausible).then_some(msg)
    }
}

/// Who a connected dashboard is and what it shows: stored as the socket's attachment, so it survives
/// hibernation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Staff id.
    pub staff_id: String,
    /// Display name.
    pub name: String,
    /// The ticket open in this dashboard, if any.
    pub viewing: Option<String>,
}

/// A viewer in a presence frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viewer {
    /// Staff id.
    pub staff_id: String,
    /// Display name.
    pub name: String,
}

/// The presence frame of a ticket: each staff member viewing it once (several tabs count once), by name.
pub fn presence(peers: &[Peer], ticket_id: &str) -> serde_json::Value {
    let mut viewers: Vec<Viewer> = peers
        .iter()
        .filter(|p| p.viewing.as_deref() == Some(ticket_id))
        .map(|p| Viewer {
            staff_id: p.staff_id.clone(),
            name: p.name.clone(),
        })
        .collect();
    viewers.sort_by(|a, b| a.name.cmp(&b.name).then(a.staff_id.cmp(&b.staff_id)));
    viewers.dedup_by(|a, b| a.staff_id == b.staff_id);
    serde_json::json!({"type": "presence", "ticket_id": ticket_id, "viewers": viewers})
}

/// A ticket change frame.
pub fn ticket_event(event: &str, ticket_id: &str, ticket_number: &str) -> serde_json::Value {
    serde_json::json!({"type": "ticket", "event": event, "ticket_id": ticket_id, "ticket_number": ticket_number})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, name: &str, viewing: Option<&str>) -> Peer {
        Peer {
            staff_id: id.into(),
            name: name.into(),
            viewing: viewing.map(String::from),
        }
    }

    #[test]
    fn parses_viewing_and_ignores_the_rest() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"viewing","ticket_id":"t1"}"#),
            Some(ClientMessage::Viewing {
                ticket_id: Some("t1".into())
            })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"viewing","ticket_id":null}"#),
            Some(ClientMessage::Viewing { ticket_id: None })
        );
        assert_eq!(ClientMessage::parse("ping"), None);
        assert_eq!(
            ClientMessage::parse(r#"{"type":"viewing","ticket_id":"<b>x</b>"}"#),
            None
        );
        assert_eq!(ClientMessage::parse(r#"{"type":"shout"}"#), None);
        let big = format!(r#"{{"type":"viewing","ticket_id":"{}"}}"#, "x".repeat(5000));
        assert_eq!(ClientMessage::parse(&big), None);
    }

    #[test]
    fn presence_lists_each_viewer_once() {
        let peers = [
            peer("b", "Bo", Some("t1")),
            peer("a", "Ana", Some("t1")),
            peer("a", "Ana", Some("t1")),
            peer("c", "Cy", Some("t2")),
            peer("d", "Di", None),
        ];
        let p = presence(&peers, "t1");
        assert_eq!(p["type"], "presence");
        let names: Vec<&str> = p["viewers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Ana", "Bo"]);
    }
}
