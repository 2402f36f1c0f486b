//! The one way Edgedesk calls out: `fetch` with a subrequest counter (Workers allow 50 subrequests per
//! invocation on the free plan, <https://developers.cloudflare.com/workers/platform/limits/>).

use futures_util::future::{select, Either};
use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

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
    /// `Retry-After` in seconds, when the response has it in that form.
    pub retry_after: Option<u64>,
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

/// Default time an outbound call may take, headers and body, in ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 20_000;

/// Counts subrequests of one invocation and bounds each with a timeout.
#[derive(Debug, Clone)]
pub struct Http {
    /// `fetch` calls made so far; clones share the counter.
    pub subrequests: Rc<Cell<u32>>,
    /// Most time one call may take, in ms; then it is aborted (an `AbortSignal`) and fails as retryable.
    pub timeout_ms: u64,
}

impl Default for Http {
    fn default() -> Self {
        Http::with_timeout(DEFAULT_TIMEOUT_MS)
    }
}

impl Http {
    /// A client whose calls time out after `timeout_ms` milliseconds (`HTTP_TIMEOUT_MS`).
    pub fn with_timeout(timeout_ms: u64) -> Self {
        Http {
            subrequests: Rc::default(),
            timeout_ms,
        }
    }

    /// Sends a request. A non-2xx status is not an error here; vendors decide what their statuses mean. A call
    /// still unanswered (headers and body) after [`Http::timeout_ms`] is aborted: `UpstreamError` with no status.
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
        let controller = AbortController::default();
        let signal = controller.signal();
        let call = async {
            let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
            let status = resp.status_code();
            let content_type = resp.headers().get("content-type").ok().flatten();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = resp.bytes().await?;
            Ok::<_, worker::Error>(HttpResponse {
                status,
                content_type,
                retry_after,
                body,
            })
        };
        let timer = Delay::from(Duration::from_millis(self.timeout_ms));
        let outcome = match select(pin!(call), pin!(timer)).await {
            Either::Left((result, _)) => result.map_err(net),
            Either::Right(((), _)) => {
                controller.abort();
                Err(UpstreamError {
                    service,
                    status: None,
                    message: format!("no answer within {} ms", self.timeout_ms),
                })
            }
        };
        outcome
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
