//! The one way Edgedesk calls out: `fetch` with a subrequest counter (Workers allow 50 subrequests per
//! invocation on the free plan, <https://developers.cloudflare.com/workers/platform/limits/>).

use std::cell::Cell;
use std::rc::Rc;
use worker::{Fetch, Headers, Method, Request, RequestInit};

/// A failed outbound call, safe to show: vendor name, HTTP status and a short reason; never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {}{message}", .status.map(|s| format!("HTTP {s}: ")).unwrap_or_default())]
pub struct UpstreamError {
    /// `gmail`, `google-oauth`, `llm`.
    pub service: &'static str,
    /// `None` for network failures.
    pub status: Option<u16>,
    /// Short reason: the vendor's error message (at most 300 characters), or the network or parse error.
    pub message: String,
}

impl UpstreamError {
    /// Worth retrying later: network failures, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s == 429 || s >= 500,
        }
    }
}

/// A response: status and body bytes.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as JSON, or an [`UpstreamError`] for `service`.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        service: &'static str,
    ) -> Result<T, UpstreamError> {
        serde_json::from_slice(&self.body).map_err(|e| UpstreamError {
            service,
            status: Some(self.status),
            message: format!("unexpected response body: {e}"),
        })
    }
}

/// Counts subrequests of one invocation.
#[derive(Debug, Default, Clone)]
pub struct Http {
    /// `fetch` calls made so far; clones share the counter.
    pub subrequests: Rc<Cell<u32>>,
}

impl Http {
    /// Sends a request. A non-2xx status is not an error here; vendors decide what their statuses mean.
    pub async fn send(
        &self,
        service: &'static str,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<HttpResponse, UpstreamError> {
        let net = |e: worker::Error| UpstreamError {
            service,
            status: None,
            message: e.to_string(),
        };
        let h = Headers::new();
        for (k, v) in headers {
            h.set(k, v).map_err(net)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(h);
        if let Some(b) = body {
            init.with_body(Some(js_sys::Uint8Array::from(b.as_slice()).into()));
        }
        let req = Request::new_with_init(url, &init).map_err(net)?;
        self.subrequests.set(self.subrequests.get() + 1);
        let mut resp = Fetch::Request(req).send().await.map_err(net)?;
        let status = resp.status_code();
        let content_type = resp.headers().get("content-type").ok().flatten();
        let body = resp.bytes().await.map_err(net)?;
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}

/// Google's error body `{"error":{"code","message","status"}}` (also OAuth's `{"error","error_description"}` and
/// OpenAI's `{"error":{"message","type"}}`) reduced to one line of at most 300 characters; `no error detail`
/// when the body has none.
pub fn error_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["error"];
    let text = e["message"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            e.as_str()
                .map(|code| format!("{code}: {}", v["error_description"].as_str().unwrap_or("")))
        })
        .unwrap_or_else(|| "no error detail".into());
    text.chars().take(300).collect()
}
