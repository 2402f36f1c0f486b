//! OpenAI-compatible chat completions (<https://platform.openai.com/docs/api-reference/chat/create>):
//! `POST {LLM_API_BASE}/chat/completions` with `Authorization: Bearer {LLM_API_KEY}` and
//! `{"model","messages":[{role,content}],"max_completion_tokens"}` (no `temperature`, which reasoning models refuse); the reply is
//! `choices[0].message.content`.

use super::http::{error_message, Http, UpstreamError};
use crate::domain::draft::ChatMessage;
use serde::Deserialize;
use worker::Method;

/// Most tokens of a generated reply.
pub const MAX_TOKENS: u32 = 600;

/// Generates a completion and returns its text (trimmed, never empty).
pub async fn complete(
    http: &Http,
    base: &str,
    api_key: &str,
    model: &str,
    messages: &[ChatMessage],
) -> Result<String, UpstreamError> {
    #[derive(Deserialize)]
    struct Msg {
        content: Option<String>,
    }
    #[derive(Deserialize)]
    struct Choice {
        message: Msg,
    }
    #[derive(Deserialize)]
    struct Completion {
        choices: Vec<Choice>,
    }
    let body = serde_json::json!({
        "model": model,
        "messages": messages,
        "max_completion_tokens": MAX_TOKENS,
    });
    let auth = format!("Bearer {api_key}");
    let resp = http
        .send(
            "llm",
            Method::Post,
            &format!("{base}/chat/completions"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(body.to_string().into_bytes()),
        )
        .await?;
    if resp.status != 200 {
        return Err(UpstreamError {
            service: "llm",
            status: Some(resp.status),
            message: error_message(&resp.body),
        });
    }
    let c: Completion = resp.json("llm")?;
    c.choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or(UpstreamError {
            service: "llm",
            status: Some(200),
            message: "the completion was empty".into(),
        })
}
