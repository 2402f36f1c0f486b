//! Meta Graph API for Messenger and Instagram messaging:
//! - user profiles: `GET {base}/{version}/{psid}?fields=first_name,last_name,profile_pic` (Messenger User Profile
//!   API, <https://developers.facebook.com/docs/messenger-platform/identity/user-profile>) and
//!   `GET {base}/{version}/{igsid}?fields=name,username,profile_pic` (Instagram,
//!   <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login/messaging-api/user-profile>);
//! - the Send API: `POST {base}/{version}/me/messages?access_token=…` with
//!   `{"recipient":{"id"},"messaging_type":"RESPONSE","message":{"text"}}` → `{"recipient_id","message_id"}`
//!   (<https://developers.facebook.com/docs/messenger-platform/reference/send-api/>).
//!
//! Errors are `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`; codes 4, 17, 32 and 613 are rate
//! limits (retryable), 190 an invalid token, 10 / 2018278 a message outside the 24-hour window.

use super::http::{Http, UpstreamError};
use serde::Deserialize;
use worker::Method;

/// A Graph API failure with Meta's code and subcode (when the body had them).
#[derive(Debug, Clone)]
pub struct GraphError {
    /// For messages and retry decisions.
    pub upstream: UpstreamError,
    /// `error.code`.
    pub code: Option<i64>,
    /// `error.error_subcode`.
    pub subcode: Option<i64>,
}

impl GraphError {
    /// Rate limited (codes 4, 17, 32, 613) or a network/5xx failure: try again later.
    pub fn retryable(&self) -> bool {
        matches!(self.code, Some(4 | 17 | 32 | 613)) || self.upstream.retryable()
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.upstream)
    }
}

/// A page's Graph API access.
pub struct Graph<'a> {
    /// Outbound HTTP.
    pub http: &'a Http,
    /// `META_GRAPH_API_BASE`.
    pub base: &'a str,
    /// `META_GRAPH_API_VERSION`.
    pub version: &'a str,
    /// The page access token.
    pub token: &'a str,
}

fn graph_error(status: u16, body: &[u8]) -> GraphError {
    #[derive(Deserialize)]
    struct Inner {
        message: Option<String>,
        code: Option<i64>,
        error_subcode: Option<i64>,
    }
    #[derive(Deserialize)]
    struct Outer {
        error: Inner,
    }
    let parsed: Option<Outer> = serde_json::from_slice(body).ok();
    let (message, code, subcode) = match parsed {
        Some(o) => (
            o.error
                .message
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
            o.error.code,
            o.error.error_subcode,
        ),
        None => ("no error detail".to_string(), None, None),
    };
    GraphError {
        upstream: UpstreamError {
            service: "meta",
            status: Some(status),
            message: format!(
                "{message}{}",
                code.map(|c| format!(" (code {c})")).unwrap_or_default()
            ),
        },
        code,
        subcode,
    }
}

impl Graph<'_> {
    /// A user's profile fields (`fields` comma-separated) as JSON.
    pub async fn profile(&self, id: &str, fields: &str) -> Result<serde_json::Value, GraphError> {
        let q = serde_urlencoded::to_string([("fields", fields), ("access_token", self.token)])
            .unwrap_or_default();
        let url = format!("{}/{}/{id}?{q}", self.base, self.version);
        let resp = self
            .http
            .send("meta", Method::Get, &url, &[], None)
            .await
            .map_err(|upstream| GraphError {
                upstream,
                code: None,
                subcode: None,
            })?;
        if resp.status != 200 {
            return Err(graph_error(resp.status, &resp.body));
        }
        resp.json("meta").map_err(|upstream| GraphError {
            upstream,
            code: None,
            subcode: None,
        })
    }

    /// Sends a text reply; returns Meta's `message_id`.
    pub async fn send_text(&self, recipient: &str, text: &str) -> Result<String, GraphError> {
        #[derive(Deserialize)]
        struct Sent {
            message_id: String,
        }
        let q = serde_urlencoded::to_string([("access_token", self.token)]).unwrap_or_default();
        let url = format!("{}/{}/me/messages?{q}", self.base, self.version);
        let body = serde_json::json!({
            "recipient": {"id": recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": text},
        });
        let resp = self
            .http
            .send(
                "meta",
                Method::Post,
                &url,
                &[("content-type", "application/json")],
                Some(body.to_string().into_bytes()),
            )
            .await
            .map_err(|upstream| GraphError {
                upstream,
                code: None,
                subcode: None,
            })?;
        if resp.status != 200 {
            return Err(graph_error(resp.status, &resp.body));
        }
        resp.json::<Sent>("meta")
            .map(|s| s.message_id)
            .map_err(|upstream| GraphError {
                upstream,
                code: None,
                subcode: None,
            })
    }
}
