//! LiveChat handoff over the Agent Chat API (<https://platform.text.com/docs/messaging/agent-chat-api>, v3.5):
//! a conversation Edgedesk's assistant could not finish (a call, an SMS thread, a ticket) becomes a LiveChat chat
//! carrying its transcript, routed to the connection's group so a human agent takes it.
//!
//! Versions: `3.6` (current; default) and `3.5` (legacy, the only one with `create_customer`).
//!
//! Auth: a personal access token, `Authorization: Basic base64(<account_id>:<token>)`
//! (<https://platform.text.com/docs/authorization/agent-authorization#personal-access-tokens>). Every action is
//! `POST /v3.5/agent/action/<name>` with a JSON body; errors are `{"error":{"type","message"}}`.
//!
//! Steps (4 subrequests): `create_customer {name, email}` → `customer_id`; `start_chat` with the customer and the
//! transcript as agent-only message events → `chat_id`, `thread_id`; `transfer_chat` to the target group (LiveChat
//! routes it to an available agent or queues it); `get_chat` → the assigned agent, or `thread.queue`
//! `{position, wait_time}` while queued.

use super::crm::Conn;
use crate::error::AppError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use worker::Method;

/// The `Authorization` header of a LiveChat personal access token.
pub fn auth(account_id: &str, token: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{account_id}:{token}")))
}

/// One transcript line.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Line {
    /// `customer`, `assistant`, `agent` or `system`.
    pub role: String,
    /// What was said.
    pub text: String,
}

/// What is handed over.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// Customer name.
    pub customer_name: String,
    /// Customer e-mail, if known.
    pub customer_email: Option<String>,
    /// Why the conversation is handed over.
    pub reason: Option<String>,
    /// `low|normal|high|urgent`.
    pub urgency: String,
    /// Where it came from (call id, ticket number), one line for the agent.
    pub origin: Option<String>,
    /// The conversation so far, oldest first.
    pub transcript: Vec<Line>,
    /// LiveChat group to transfer to (0: the general group).
    pub group_id: i64,
    /// The integration's own agent id (the token's owner), never reported as the assigned agent.
    pub own_agent_id: Option<String>,
}

/// LiveChat's answer, in the old connectors service's shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Handed {
    /// LiveChat chat id.
    pub handoff_id: String,
    /// Thread id.
    pub thread_id: String,
    /// The chat in the LiveChat agent app.
    pub chat_url: String,
    /// Assigned agent's name, if one took it.
    pub agent_name: Option<String>,
    /// Assigned agent's id (LiveChat agent ids are e-mail addresses).
    pub agent_id: Option<String>,
    /// Estimated wait in seconds while queued (0 when assigned).
    pub estimated_wait_seconds: i64,
    /// `assigned`, `queued` or `pending` (neither yet).
    pub status: String,
}

/// Most transcript lines sent; older ones are summarised as a count.
pub const MAX_LINES: usize = 100;
/// Most characters of one message event.
const MAX_TEXT: usize = 4000;

fn clip(s: &str) -> String {
    s.chars().take(MAX_TEXT).collect()
}

impl Conn<'_> {
    async fn action(
        &self,
        name: &str,
        version: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, AppError> {
        let r = self
            .call(
                Method::Post,
                &format!("/v{version}/agent/action/{name}"),
                Some(body),
            )
            .await?
            .ok_or_else(|| self.fail(502, "crm_error", &format!("{name} answered 404"), None))?;
        self.json(&r)
    }

    /// Hands a conversation over (see the module doc). `app_url` is the agent app's base
    /// (`https://my.livechatinc.com`), `version` the API version (`3.5`).
    pub async fn handoff(
        &self,
        h: &Handoff,
        version: &str,
        app_url: &str,
    ) -> Result<Handed, AppError> {
        // v3.5 (legacy) can register the customer; v3.6 removed `create_customer`, so there the customer's name and
        // e-mail travel in the first message only.
        let customer_id = if version == "3.5" {
            let mut customer = serde_json::json!({"name": h.customer_name});
            if let Some(e) = &h.customer_email {
                customer["email"] = e.clone().into();
            }
            Some(
                self.action("create_customer", version, customer)
                    .await?
                    .get("customer_id")
                    .and_then(|v| v.as_str())
                    .map(String::from)
                    .ok_or_else(|| self.vendor_shape("create_customer"))?,
            )
        } else {
            None
        };
        let mut head = format!(
            "Handoff from Edgedesk ({} urgency): {}{}",
            h.urgency,
            h.customer_name,
            h.customer_email
                .as_deref()
                .map(|e| format!(" <{e}>"))
                .unwrap_or_default()
        );
        if let Some(r) = &h.reason {
            head.push_str(&format!("\nReason: {r}"));
        }
        if let Some(o) = &h.origin {
            head.push_str(&format!("\n{o}"));
        }
        let skipped = h.transcript.len().saturating_sub(MAX_LINES);
        if skipped > 0 {
            head.push_str(&format!("\n({skipped} earlier lines not shown)"));
        }
        // The transcript opens the chat (initial events are always visible to all: it is the customer's own
        // conversation); the handoff note (reason, urgency, metadata) follows as an agents-only event.
        let events: Vec<serde_json::Value> = h
            .transcript
            .iter()
            .skip(skipped)
            .map(|line| {
                let who = match line.role.as_str() {
                    "customer" => "Customer",
                    "assistant" => "Assistant",
                    "agent" => "Agent",
                    _ => "System",
                };
                serde_json::json!({"type": "message", "text": clip(&format!("{who}: {}", line.text))})
            })
            .collect();
        let mut chat = serde_json::json!({});
        if !events.is_empty() {
            chat["thread"] = serde_json::json!({ "events": events });
        }
        if let Some(c) = &customer_id {
            chat["users"] = serde_json::json!([{"id": c, "type": "customer"}]);
        }
        let started = self
            .action(
                "start_chat",
                version,
                serde_json::json!({"chat": chat, "active": true, "continuous": true}),
            )
            .await?;
        let chat_id = started
            .get("chat_id")
            .and_then(|v| v.as_str())
            .map(String::from)
            .ok_or_else(|| self.vendor_shape("start_chat"))?;
        let thread_id = started
            .get("thread_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let mut handed = Handed {
            chat_url: format!("{}/chats/{chat_id}", app_url.trim_end_matches('/')),
            handoff_id: chat_id.clone(),
            thread_id: thread_id.clone(),
            agent_name: None,
            agent_id: None,
            estimated_wait_seconds: 0,
            status: "pending".into(),
        };
        // The chat exists from here on: a later failure answers `pending` (and is recorded) rather than an error,
        // so a retry by the caller does not open a second chat.
        let rest = async {
            self.action(
                "send_event",
                version,
                serde_json::json!({"chat_id": chat_id,
                    "event": {"type": "message", "text": clip(&head), "visibility": "agents"}}),
            )
            .await?;
            self.action(
                "transfer_chat",
                version,
                serde_json::json!({"id": chat_id, "target": {"type": "group", "ids": [h.group_id]},
                    "ignore_agents_availability": true, "ignore_requester_presence": true}),
            )
            .await?;
            self.action(
                "get_chat",
                version,
                serde_json::json!({"chat_id": chat_id, "thread_id": thread_id}),
            )
            .await
        };
        let chat = match rest.await {
            Ok(c) => c,
            Err(e) => {
                worker::console_warn!("LiveChat handoff {chat_id} left pending: {e}");
                return Ok(handed);
            }
        };
        let agent = chat
            .get("users")
            .and_then(|u| u.as_array())
            .and_then(|users| {
                users.iter().find(|u| {
                    u.get("type").and_then(|t| t.as_str()) == Some("agent")
                        && u.get("present").and_then(|p| p.as_bool()).unwrap_or(true)
                        && u.get("id").and_then(|i| i.as_str()) != h.own_agent_id.as_deref()
                })
            })
            .cloned();
        let queue = chat
            .get("thread")
            .and_then(|t| t.get("queue"))
            .filter(|q| q.is_object());
        let field = |k: &str| {
            agent
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        if agent.is_some() {
            handed.status = "assigned".into();
            handed.agent_name = field("name");
            handed.agent_id = field("id");
        } else if let Some(q) = queue {
            handed.status = "queued".into();
            handed.estimated_wait_seconds =
                q.get("wait_time").and_then(|w| w.as_i64()).unwrap_or(0);
        }
        Ok(handed)
    }

    fn vendor_shape(&self, action: &str) -> AppError {
        self.fail(
            502,
            "crm_error",
            &format!("{action} answered without the expected fields"),
            None,
        )
    }
}
