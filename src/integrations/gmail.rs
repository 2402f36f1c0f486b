//! Gmail REST API v1 (<https://developers.google.com/gmail/api/reference/rest>) for one mailbox
//! (`users/me`), authenticated with an OAuth access token (scope `gmail.modify`).
//!
//! Calls used: `users.getProfile`, `users.messages.list`, `users.history.list` (404 when the start id is too
//! old: [`GmailError::HistoryExpired`]), `users.messages.get` with `format=raw` through the batch endpoint
//! (`POST /batch/gmail/v1`, multipart/mixed of `application/http` parts,
//! <https://developers.google.com/gmail/api/guides/batch>, at most [`BATCH_MAX`] per call),
//! `users.messages.batchModify`, `users.drafts.create`, `users.drafts.delete`, `users.messages.send`, and
//! `users.messages.get` with `format=metadata` to learn the `Message-ID` Gmail gave a sent message.

use super::http::{error_message, Http, HttpResponse, UpstreamError};
use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
use base64::{alphabet, Engine};
use serde::Deserialize;
use worker::Method;

/// Requests per batch call. Google allows 100 and recommends at most 50; 20 bounds the memory one call holds
/// (raw messages with attachments can be megabytes each; a Worker has 128 MB).
pub const BATCH_MAX: usize = 20;

/// base64url that accepts padded and unpadded input (Gmail's `raw`).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Gmail failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GmailError {
    /// `history.list` answered 404: the stored `historyId` is too old; a full sync is needed.
    #[error("gmail: history id expired")]
    HistoryExpired,
    /// The access token was refused (401): refresh and try again next run.
    #[error("gmail: access token refused")]
    Unauthorized,
    /// Any other failure: network error, unexpected body, or a non-2xx status other than 401 (a 404 of
    /// `history.list` becomes [`GmailError::HistoryExpired`]).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl GmailError {
    /// Worth retrying later.
    pub fn retryable(&self) -> bool {
        match self {
            GmailError::Upstream(u) => u.retryable(),
            _ => true,
        }
    }
}

/// `{id, threadId}` as `messages.list` and `history.list` give them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    /// Gmail message id.
    pub id: String,
    /// Gmail thread id (`threadId`).
    pub thread_id: String,
    /// `labelIds` (`INBOX`, `SENT`, `DRAFT`, `UNREAD`, …); empty when the response omits them, as
    /// `messages.list` does.
    #[serde(default)]
    pub label_ids: Vec<String>,
}

/// A message fetched with `format=raw`.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Gmail message id.
    pub id: String,
    /// Gmail thread id (`threadId`).
    pub thread_id: String,
    /// `labelIds` at fetch time.
    pub label_ids: Vec<String>,
    /// Unix ms when Gmail received it.
    pub internal_date: i64,
    /// RFC 5322 bytes.
    pub raw: Vec<u8>,
}

/// One page of `history.list`.
#[derive(Debug, Clone, Default)]
pub struct HistoryPage {
    /// Messages added, in history order.
    pub added: Vec<MessageRef>,
    /// The mailbox's current `historyId`: where the next sync starts once every page is read.
    pub history_id: String,
    /// `nextPageToken`; `None` on the last page.
    pub next_page_token: Option<String>,
    /// Id of the page's last history record: where to continue when a run stops between pages.
    pub last_record_id: Option<String>,
}

/// A client for one mailbox.
pub struct Gmail<'a> {
    http: &'a Http,
    base: &'a str,
    auth: String,
}

impl<'a> Gmail<'a> {
    /// `base` is `GMAIL_API_BASE` without a trailing slash.
    pub fn new(http: &'a Http, base: &'a str, access_token: &str) -> Self {
        Gmail {
            http,
            base,
            auth: format!("Bearer {access_token}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/gmail/v1/users/me/{path}", self.base)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<HttpResponse, GmailError> {
        let mut headers = vec![
            ("authorization", self.auth.as_str()),
            ("accept", "application/json"),
        ];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let resp = self
            .http
            .send(
                "gmail",
                method,
                &self.url(path),
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await?;
        check(resp)
    }

    /// `users.getProfile` → the mailbox's current `historyId`.
    pub async fn current_history_id(&self) -> Result<String, GmailError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Profile {
            history_id: String,
        }
        let p: Profile = self
            .call(Method::Get, "profile", None)
            .await?
            .json("gmail")?;
        Ok(p.history_id)
    }

    /// `users.messages.list` with a search query; returns refs and the next page token.
    pub async fn list(
        &self,
        q: &str,
        page_token: Option<&str>,
        max: usize,
    ) -> Result<(Vec<MessageRef>, Option<String>), GmailError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct List {
            #[serde(default)]
            messages: Vec<MessageRef>,
            next_page_token: Option<String>,
        }
        let mut qs = vec![("q", q.to_string()), ("maxResults", max.to_string())];
        if let Some(t) = page_token {
            qs.push(("pageToken", t.to_string()));
        }
        let path = format!("messages?{}", encode_query(&qs));
        let l: List = self.call(Method::Get, &path, None).await?.json("gmail")?;
        Ok((l.messages, l.next_page_token))
    }

    /// `users.history.list` of `messageAdded` records after `start` (all labels: the caller keeps inbox mail and
    /// mail we sent).
    pub async fn history(
        &self,
        start: &str,
        page_token: Option<&str>,
    ) -> Result<HistoryPage, GmailError> {
        #[derive(Deserialize)]
        struct Added {
            message: MessageRef,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Record {
            id: String,
            #[serde(default)]
            messages_added: Vec<Added>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            history: Vec<Record>,
            history_id: String,
            next_page_token: Option<String>,
        }
        let mut qs = vec![
            ("startHistoryId", start.to_string()),
            ("historyTypes", "messageAdded".into()),
            ("maxResults", "500".into()),
        ];
        if let Some(t) = page_token {
            qs.push(("pageToken", t.to_string()));
        }
        let path = format!("history?{}", encode_query(&qs));
        let page: Page = match self.call(Method::Get, &path, None).await {
            Err(GmailError::Upstream(UpstreamError {
                status: Some(404), ..
            })) => return Err(GmailError::HistoryExpired),
            other => other?.json("gmail")?,
        };
        let last_record_id = page.history.last().map(|r| r.id.clone());
        Ok(HistoryPage {
            last_record_id,
            added: page
                .history
                .into_iter()
                .flat_map(|r| r.messages_added)
                .map(|a| a.message)
                .collect(),
            history_id: page.history_id,
            next_page_token: page.next_page_token,
        })
    }

    /// Fetches messages with `format=raw` in one batch call (at most [`BATCH_MAX`] ids). Each id gets its own
    /// result: one message can fail (404: deleted since discovery) while the others succeed.
    pub async fn get_raw_batch(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, Result<RawMessage, GmailError>)>, GmailError> {
        let boundary = "edgedesk_batch_boundary";
        let mut body = String::new();
        for (i, id) in ids.iter().enumerate() {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\nGET /gmail/v1/users/me/messages/{id}?format=raw\r\n\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let ct = format!("multipart/mixed; boundary={boundary}");
        let resp = self
            .http
            .send(
                "gmail",
                Method::Post,
                &format!("{}/batch/gmail/v1", self.base),
                &[("authorization", &self.auth), ("content-type", &ct)],
                Some(body.into_bytes()),
            )
            .await?;
        let resp = check(resp)?;
        let parts = parse_batch_response(resp.content_type.as_deref().unwrap_or(""), &resp.body);
        let by_position = parts.iter().all(|p| p.index.is_none());
        Ok(ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                // Match by Content-ID; by position only when the response carries no Content-IDs at all.
                let part = if by_position {
                    parts.get(i)
                } else {
                    parts.iter().find(|p| p.index == Some(i))
                };
                let r = match part {
                    None => Err(GmailError::Upstream(UpstreamError {
                        service: "gmail",
                        status: None,
                        message: "batch response lacks this message".into(),
                    })),
                    Some(p) => check(HttpResponse {
                        status: p.status,
                        content_type: None,
                        retry_after: None,
                        body: p.body.clone(),
                    })
                    .and_then(|r| decode_raw(&r)),
                };
                (id.clone(), r)
            })
            .collect())
    }

    /// `users.messages.batchModify`: removes `UNREAD` from up to 1000 messages in one call.
    pub async fn mark_read(&self, ids: &[String]) -> Result<(), GmailError> {
        for chunk in ids.chunks(1000) {
            let body = serde_json::json!({"ids": chunk, "removeLabelIds": ["UNREAD"]});
            self.call(Method::Post, "messages/batchModify", Some(body))
                .await?;
        }
        Ok(())
    }

    /// `users.drafts.create` in the thread; returns the draft id.
    pub async fn create_draft(
        &self,
        raw: &str,
        thread_id: Option<&str>,
    ) -> Result<String, GmailError> {
        #[derive(Deserialize)]
        struct Draft {
            id: String,
        }
        let mut message = serde_json::json!({"raw": B64URL.encode(raw)});
        if let Some(t) = thread_id {
            message["threadId"] = t.into();
        }
        let d: Draft = self
            .call(
                Method::Post,
                "drafts",
                Some(serde_json::json!({"message": message})),
            )
            .await?
            .json("gmail")?;
        Ok(d.id)
    }

    /// `users.drafts.delete`; a draft already gone (404) counts as deleted.
    pub async fn delete_draft(&self, id: &str) -> Result<(), GmailError> {
        match self
            .call(Method::Delete, &format!("drafts/{id}"), None)
            .await
        {
            Err(GmailError::Upstream(UpstreamError {
                status: Some(404), ..
            }))
            | Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `users.messages.send` in the thread, then `messages.get` (metadata) for the `Message-ID` Gmail gave it
    /// (Gmail replaces a client-set one). Returns the sent message's ref and `Message-ID` (no brackets).
    pub async fn send(
        &self,
        raw: &str,
        thread_id: Option<&str>,
    ) -> Result<(MessageRef, Option<String>), GmailError> {
        let mut body = serde_json::json!({"raw": B64URL.encode(raw)});
        if let Some(t) = thread_id {
            body["threadId"] = t.into();
        }
        let sent: MessageRef = self
            .call(Method::Post, "messages/send", Some(body))
            .await?
            .json("gmail")?;
        let mid = self.message_id_header(&sent.id).await.ok().flatten();
        Ok((sent, mid))
    }

    async fn message_id_header(&self, id: &str) -> Result<Option<String>, GmailError> {
        #[derive(Deserialize)]
        struct Header {
            name: String,
            value: String,
        }
        #[derive(Deserialize)]
        struct Payload {
            #[serde(default)]
            headers: Vec<Header>,
        }
        #[derive(Deserialize)]
        struct Meta {
            payload: Option<Payload>,
        }
        let m: Meta = self
            .call(
                Method::Get,
                &format!("messages/{id}?format=metadata&metadataHeaders=Message-ID"),
                None,
            )
            .await?
            .json("gmail")?;
        Ok(m.payload.into_iter().flat_map(|p| p.headers).find_map(|h| {
            h.name.eq_ignore_ascii_case("message-id").then(|| {
                h.value
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
        }))
    }
}

fn check(resp: HttpResponse) -> Result<HttpResponse, GmailError> {
    match resp.status {
        200..=299 => Ok(resp),
        401 => Err(GmailError::Unauthorized),
        s => Err(GmailError::Upstream(UpstreamError {
            service: "gmail",
            status: Some(s),
            message: error_message(&resp.body),
        })),
    }
}

fn decode_raw(resp: &HttpResponse) -> Result<RawMessage, GmailError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Msg {
        id: String,
        thread_id: String,
        #[serde(default)]
        label_ids: Vec<String>,
        internal_date: Option<String>,
        raw: String,
    }
    let m: Msg = resp.json("gmail")?;
    let raw = B64URL.decode(m.raw.trim()).map_err(|e| UpstreamError {
        service: "gmail",
        status: Some(resp.status),
        message: format!("raw is not base64url: {e}"),
    })?;
    Ok(RawMessage {
        id: m.id,
        thread_id: m.thread_id,
        label_ids: m.label_ids,
        internal_date: m.internal_date.and_then(|d| d.parse().ok()).unwrap_or(0),
        raw,
    })
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// One part of a batch response: the inner HTTP status and body, and the request index from `Content-ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPart {
    /// Request index from the part's `Content-ID: <response-itemN>`; `None` when absent or of another form.
    pub index: Option<usize>,
    /// The inner response's HTTP status.
    pub status: u16,
    /// The inner response's body (JSON for Gmail).
    pub body: Vec<u8>,
}

/// Splits a `multipart/mixed` batch response (parsed with `mail-parser`) into its inner HTTP responses.
pub fn parse_batch_response(content_type: &str, body: &[u8]) -> Vec<BatchPart> {
    use mail_parser::{MessageParser, MimeHeaders};
    let mut doc = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    doc.extend_from_slice(body);
    let Some(msg) = MessageParser::default().parse(&doc) else {
        return Vec::new();
    };
    msg.parts
        .iter()
        .skip(1)
        .filter(|p| {
            p.content_type().is_some_and(|c| {
                c.ctype().eq_ignore_ascii_case("application")
                    && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("http"))
            })
        })
        .filter_map(|p| {
            let index = p
                .headers()
                .iter()
                .find(|h| h.name().eq_ignore_ascii_case("content-id"))
                .and_then(|h| h.value().as_text())
                .and_then(|v| {
                    v.trim_matches(|c| c == '<' || c == '>')
                        .strip_prefix("response-item")
                })
                .and_then(|n| n.parse().ok());
            let (status, body) = parse_http_response(p.contents())?;
            Some(BatchPart {
                index,
                status,
                body,
            })
        })
        .collect()
}

/// `HTTP/1.1 200 OK\r\nheaders\r\n\r\nbody` → (200, body).
fn parse_http_response(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let text_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            bytes
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let (head_end, body_start) = text_end.unwrap_or((bytes.len(), bytes.len()));
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let status = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((status, bytes[body_start..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_batch_response_with_mixed_results() {
        let body = "--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\n\
HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":404}}\r\n\
--batch_x\r\nContent-Type: application/http\r\nContent-ID: <response-item0>\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"id\":\"a\",\"threadId\":\"t\",\"raw\":\"RnJvbTogYUBiLmMNCg\"}\r\n\
--batch_x--\r\n";
        let parts = parse_batch_response("multipart/mixed; boundary=batch_x", body.as_bytes());
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].index, parts[0].status), (Some(1), 404));
        assert_eq!((parts[1].index, parts[1].status), (Some(0), 200));
        let m = decode_raw(&HttpResponse {
            status: 200,
            content_type: None,
            retry_after: None,
            body: parts[1].body.clone(),
        })
        .unwrap();
        assert_eq!(m.raw, b"From: a@b.c\r\n");
    }
}
