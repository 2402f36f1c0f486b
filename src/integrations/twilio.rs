//! Twilio Programmable Messaging: send an SMS with the Message resource
//! (<https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>):
//! `POST {TWILIO_API_BASE}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic auth
//! `AccountSid:AuthToken`, form-encoded `To`, `From`, `Body`; 201 with the Message resource (`sid`, `status`).
//! Errors are `{"code","message","more_info","status"}` (e.g. 21610: the recipient opted out).

use super::http::{Http, UpstreamError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use worker::Method;

/// Twilio's error code for "Attempt to send to unsubscribed recipient".
pub const ERROR_OPTED_OUT: i64 = 21610;

/// A Twilio account's credentials and API base.
pub struct Twilio<'a> {
    /// Outbound HTTP.
    pub http: &'a Http,
    /// `TWILIO_API_BASE`, default `https://api.twilio.com`.
    pub base: &'a str,
    /// `AC…`.
    pub account_sid: &'a str,
    /// The account's auth token.
    pub auth_token: &'a str,
}

impl Twilio<'_> {
    /// Sends `body` from our number `from` to `to` (both E.164); returns the Message SID (`SM…`).
    pub async fn send_sms(
        &self,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<String, UpstreamError> {
        #[derive(Deserialize)]
        struct Created {
            sid: String,
        }
        #[derive(Deserialize)]
        struct TwilioError {
            code: Option<i64>,
            message: Option<String>,
        }
        let form = serde_urlencoded::to_string([("To", to), ("From", from), ("Body", body)])
            .map_err(|e| UpstreamError {
                service: "twilio",
                status: None,
                message: e.to_string(),
            })?;
        let auth = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token))
        );
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base, self.account_sid
        );
        let resp = self
            .http
            .send(
                "twilio",
                Method::Post,
                &url,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(form.into_bytes()),
            )
            .await?;
        if resp.status == 201 || resp.status == 200 {
            return Ok(resp.json::<Created>("twilio")?.sid);
        }
        let e: Option<TwilioError> = serde_json::from_slice(&resp.body).ok();
        let message = e
            .map(|e| {
                format!(
                    "{}{}",
                    e.code.map(|c| format!("{c} ")).unwrap_or_default(),
                    e.message
                        .unwrap_or_default()
                        .chars()
                        .take(300)
                        .collect::<String>()
                )
            })
            .unwrap_or_else(|| "no error detail".into());
        Err(UpstreamError {
            service: "twilio",
            status: Some(resp.status),
            message,
        })
    }
}
