//! CRM vendors behind the unified API (Salesforce, Zendesk Support, HubSpot CRM and Freshdesk; LiveChat handoffs
//! are in [`super::livechat`]):
//! - Freshdesk (<https://developers.freshdesk.com/api/>): Basic auth `{api_key}:X`; `GET /api/v2/contacts/{id}`,
//!   `GET /api/v2/contacts?email=|phone=`, `GET|PUT /api/v2/tickets/{id}`, `POST /api/v2/tickets`; errors
//!   `{"description","errors":[…]}` / `{"code","message"}`.
//! - Zendesk (<https://developer.zendesk.com/api-reference/ticketing/introduction/>): Basic auth
//!   `{email}/token:{api_token}`; `GET /api/v2/users/{id}.json`, `GET /api/v2/users/search.json?query=email:…|phone:…`,
//!   `GET|PUT /api/v2/tickets/{id}.json`, `POST /api/v2/tickets.json`; errors `{"error","description"}`.
//! - Salesforce (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/>): OAuth 2.0
//!   refresh-token flow ([`OAuthRefresh`]); `GET /services/data/vXX.X/sobjects/Contact/{id}`, SOQL `/query` by
//!   e-mail, SOSL `/search` `IN PHONE FIELDS` by phone digits, `GET|PATCH /sobjects/Case/{id}`, `POST
//!   /sobjects/Case`; errors `[{"message","errorCode"}]` (401 `INVALID_SESSION_ID` → one refresh; 403
//!   `REQUEST_LIMIT_EXCEEDED` → retried as a rate limit).
//! - HubSpot (<https://developers.hubspot.com/docs/api/crm/contacts>, `/tickets`): Bearer private-app token;
//!   `GET /crm/v3/objects/contacts/{id}`, `POST /crm/v3/objects/contacts/search`, `GET|PATCH
//!   /crm/v3/objects/tickets/{id}`, `POST /crm/v3/objects/tickets`; errors `{"status","message","category"}`.
//!
//! Every call gets the request's remaining time budget (default 8 s, aborted after it: 504) and is retried with
//! exponential backoff and jitter on 429 and 5xx, honouring `Retry-After`, while the budget lasts. Vendor bodies and
//! secrets never reach the client: errors say what kind of failure it was and which connection.

use super::http::{Http, HttpResponse, UpstreamError};
use crate::domain::crm::{self, Customer, Ticket};
use crate::error::AppError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::cell::{Cell, RefCell};
use worker::Method;

/// A connection ready to call.
pub struct Conn<'a> {
    /// Outbound HTTP.
    pub http: &'a Http,
    /// Vendor.
    pub kind: crm::CrmType,
    /// Connection name (in error messages).
    pub name: &'a str,
    /// API base URL, no trailing slash.
    pub base: &'a str,
    /// `Authorization` header value (Salesforce: `Bearer <access token>`, empty until the first refresh).
    pub auth: RefCell<String>,
    /// Salesforce: how to get a new access token (refresh-token flow).
    pub oauth: Option<OAuthRefresh>,
    /// Set when the access token was refreshed during this connection's use (the caller may keep it).
    pub refreshed: Cell<bool>,
    /// A new refresh token Salesforce returned with the refresh (refresh token rotation); the old one is dead.
    pub rotated_refresh: RefCell<Option<String>>,
    /// Salesforce: REST API version without the `v`, e.g. `57.0`.
    pub api_version: String,
    /// Salesforce: an optional custom Contact field holding the tier (e.g. `Tier__c`; identifier characters only).
    pub tier_field: Option<String>,
    /// Unix ms after which no new attempt starts.
    pub deadline_ms: i64,
}

/// The OAuth 2.0 refresh-token flow of Salesforce
/// (<https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm>):
/// `POST {login_url}/services/oauth2/token` form `grant_type=refresh_token&client_id&client_secret&refresh_token`
/// → `{"access_token","instance_url","token_type":"Bearer",…}`; errors `{"error","error_description"}` (400
/// `invalid_grant` for an expired or revoked refresh token, 400/401 `invalid_client_id`/`invalid_client`).
#[derive(Debug, Clone)]
pub struct OAuthRefresh {
    /// `https://login.salesforce.com` (or `https://test.salesforce.com`, a My Domain, or a test fake).
    pub login_url: String,
    /// Connected app consumer key.
    pub client_id: String,
    /// Connected app consumer secret.
    pub client_secret: String,
    /// The refresh token.
    pub refresh_token: String,
}

/// How a customer is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// By the vendor's id.
    Id(String),
    /// By e-mail.
    Email(String),
    /// By phone.
    Phone(String),
}

impl Lookup {
    /// The vendor field an e-mail or phone lookup searches (`email` / `phone`; `id` for an id).
    pub fn field(&self) -> &'static str {
        match self {
            Lookup::Id(_) => "id",
            Lookup::Email(_) => "email",
            Lookup::Phone(_) => "phone",
        }
    }
}

/// The `Authorization` header of a Freshdesk API key (Basic, the key as user and `X` as password).
pub fn freshdesk_auth(key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{key}:X")))
}

/// The `Authorization` header of a Zendesk API token.
pub fn zendesk_auth(email: &str, token: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{email}/token:{token}"))
    )
}

impl Conn<'_> {
    pub(crate) fn fail(
        &self,
        status: u16,
        code: &'static str,
        what: &str,
        retry: Option<u32>,
    ) -> AppError {
        // Logged without any vendor body or credential: the kind, the connection and what happened.
        worker::console_warn!(
            "{} connection {:?}: {code}: {what}",
            self.kind.as_str(),
            self.name
        );
        AppError::Vendor {
            status,
            code,
            message: format!("{} connection {:?}: {what}", self.kind.as_str(), self.name),
            retry_after_secs: retry,
        }
    }

    /// 501 `crm_not_supported`: the vendor has no such operation here (LiveChat holds no customers or tickets).
    fn unsupported(&self, kind: crm::CrmType) -> AppError {
        self.fail(
            501,
            "crm_not_supported",
            &format!("{} is not supported yet", kind.as_str()),
            None,
        )
    }

    /// Sends with retries; maps failures. `Ok(None)` for 404.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<HttpResponse>, AppError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0u32;
        let mut refreshed_here = false;
        if self.oauth.is_some() && self.auth.borrow().is_empty() {
            self.refresh().await?;
            refreshed_here = true;
        }
        loop {
            attempt += 1;
            let now = crate::platform::now_ms();
            let left = self.deadline_ms - now;
            if left <= 0 {
                return Err(self.fail(504, "crm_timeout", "no answer in time", None));
            }
            let http = Http::with_timeout(left as u64);
            let auth = self.auth.borrow().clone();
            let headers: Vec<(&str, &str)> = vec![
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ];
            let result = http
                .send(
                    "crm",
                    method.clone(),
                    &url,
                    &headers,
                    body.as_ref().map(|b| b.to_string().into_bytes()),
                )
                .await;
            self.http.subrequests.set(self.http.subrequests.get() + 1);
            let code = match &result {
                Ok(r) if matches!(r.status, 401 | 403) => salesforce_error_code(&r.body),
                _ => None,
            };
            // Salesforce: an expired session is refreshed once and the call repeated.
            if code.as_deref() == Some("INVALID_SESSION_ID")
                && self.oauth.is_some()
                && !refreshed_here
            {
                self.refresh().await?;
                refreshed_here = true;
                continue;
            }
            // Salesforce's org-wide API limit is a 403 with REQUEST_LIMIT_EXCEEDED: retried like a 429.
            let limited = code.as_deref() == Some("REQUEST_LIMIT_EXCEEDED");
            let retry_after = match &result {
                Ok(r) if r.status == 429 || r.status >= 500 || limited => r.retry_after,
                Err(UpstreamError { status: None, .. })
                    if crate::platform::now_ms() >= self.deadline_ms =>
                {
                    return Err(self.fail(504, "crm_timeout", "no answer in time", None));
                }
                Err(UpstreamError { status: None, .. }) => None,
                Ok(r) => {
                    return match r.status {
                        200..=299 => Ok(Some(r.clone())),
                        404 => Ok(None),
                        401 | 403 => Err(self.fail(
                            502,
                            "crm_auth_failed",
                            "the vendor refused the credentials",
                            None,
                        )),
                        400 | 409 | 422 => Err(self.fail(
                            422,
                            "crm_invalid",
                            "the vendor refused the request as invalid",
                            None,
                        )),
                        s => {
                            Err(self.fail(502, "crm_error", &format!("unexpected HTTP {s}"), None))
                        }
                    };
                }
                Err(_) => None,
            };
            let delay = crm::retry_delay_ms(attempt, retry_after, js_sys::Math::random());
            let rate_limited = limited || matches!(&result, Ok(r) if r.status == 429);
            // A create that failed with a 5xx or timed out may have happened: not repeated (no duplicates).
            let repeatable = rate_limited || retry_safe(&method, path);
            if !repeatable
                || attempt >= 4
                || crate::platform::now_ms() + delay as i64 >= self.deadline_ms
            {
                return Err(if rate_limited {
                    self.fail(
                        503,
                        "crm_rate_limited",
                        "the vendor's rate limit was reached",
                        Some(retry_after.unwrap_or(1).max(1) as u32),
                    )
                } else if result.is_err() {
                    self.fail(504, "crm_timeout", "no answer in time", None)
                } else {
                    self.fail(502, "crm_error", "the vendor kept failing", None)
                });
            }
            worker::Delay::from(std::time::Duration::from_millis(delay)).await;
        }
    }

    /// Salesforce: a new access token through the refresh-token flow ([`OAuthRefresh`]); 502 `crm_auth_failed`
    /// when Salesforce refuses the client or the refresh token. A 5xx or a lost connection from the token endpoint
    /// is tried again (at most 3 attempts, backoff with jitter, within the request's deadline): the grant creates
    /// nothing a repeat could double. (With refresh-token rotation on, a grant whose answer was lost has already
    /// replaced the refresh token; the retry is then refused and answered 502 `crm_auth_failed`.)
    async fn refresh(&self) -> Result<(), AppError> {
        let Some(o) = &self.oauth else {
            return Ok(());
        };
        let form = serde_urlencoded::to_string([
            ("grant_type", "refresh_token"),
            ("client_id", o.client_id.as_str()),
            ("client_secret", o.client_secret.as_str()),
            ("refresh_token", o.refresh_token.as_str()),
        ])
        .map_err(|_| self.fail(502, "crm_error", "could not encode the token request", None))?;
        let mut attempt = 0;
        let r = loop {
            attempt += 1;
            let left = self.deadline_ms - crate::platform::now_ms();
            if left <= 0 {
                return Err(self.fail(504, "crm_timeout", "no answer in time", None));
            }
            let result = Http::with_timeout(left as u64)
                .send(
                    "crm",
                    Method::Post,
                    &format!("{}/services/oauth2/token", o.login_url),
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("accept", "application/json"),
                    ],
                    Some(form.clone().into_bytes()),
                )
                .await;
            self.http.subrequests.set(self.http.subrequests.get() + 1);
            let (retry_after, last) = match result {
                Ok(r) if r.status < 500 => break r,
                Ok(r) => (r.retry_after, Some(r.status)),
                Err(e) => {
                    worker::console_warn!(
                        "salesforce connection {:?}: token endpoint attempt {attempt}: {e}",
                        self.name
                    );
                    (None, None)
                }
            };
            let delay = crm::retry_delay_ms(attempt, retry_after, js_sys::Math::random());
            if attempt >= 3 || crate::platform::now_ms() + delay as i64 >= self.deadline_ms {
                return Err(match last {
                    Some(s) => self.fail(
                        502,
                        "crm_error",
                        &format!("token endpoint answered HTTP {s}"),
                        None,
                    ),
                    None => self.fail(504, "crm_timeout", "no answer in time", None),
                });
            }
            worker::Delay::from(std::time::Duration::from_millis(delay)).await;
        };
        match r.status {
            200..=299 => {
                let token = self
                    .json(&r)?
                    .get("access_token")
                    .and_then(|t| t.as_str())
                    .map(String::from)
                    .ok_or_else(|| {
                        self.fail(
                            502,
                            "crm_error",
                            "the token answer had no access token",
                            None,
                        )
                    })?;
                let body = self.json(&r)?;
                let rotated = body
                    .get("refresh_token")
                    .and_then(|t| t.as_str())
                    .filter(|t| *t != o.refresh_token);
                *self.rotated_refresh.borrow_mut() = rotated.map(String::from);
                *self.auth.borrow_mut() = format!("Bearer {token}");
                self.refreshed.set(true);
                Ok(())
            }
            400 | 401 | 403 => Err(self.fail(
                502,
                "crm_auth_failed",
                "the vendor refused the OAuth client or refresh token",
                None,
            )),
            429 => Err(self.fail(
                503,
                "crm_rate_limited",
                "the vendor's rate limit was reached",
                Some(r.retry_after.unwrap_or(1).max(1) as u32),
            )),
            s => Err(self.fail(
                502,
                "crm_error",
                &format!("token endpoint answered HTTP {s}"),
                None,
            )),
        }
    }

    /// The access token obtained during this connection's use, if it was refreshed (`Bearer …` stripped).
    pub fn refreshed_token(&self) -> Option<String> {
        self.refreshed
            .get()
            .then(|| self.auth.borrow().trim_start_matches("Bearer ").to_string())
    }

    /// The refresh token Salesforce rotated in during this connection's use, if any.
    pub fn rotated_refresh_token(&self) -> Option<String> {
        self.rotated_refresh.borrow().clone()
    }

    /// `/services/data/vXX.X` of Salesforce.
    fn sf(&self) -> String {
        format!("/services/data/v{}", self.api_version)
    }

    /// Salesforce SOQL query (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm>):
    /// `GET /query?q=` → `{"totalSize","done","records":[…]}`; the records.
    async fn soql(&self, q: &str) -> Result<Vec<serde_json::Value>, AppError> {
        let qs = serde_urlencoded::to_string([("q", q)]).unwrap_or_default();
        Ok(
            match self
                .call(Method::Get, &format!("{}/query?{qs}", self.sf()), None)
                .await?
            {
                Some(r) => self
                    .json(&r)?
                    .get("records")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default(),
                None => Vec::new(),
            },
        )
    }

    /// Salesforce SOSL search (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search.htm>):
    /// `GET /search/?q=` → `{"searchRecords":[…]}`; the records.
    async fn sosl(&self, q: &str) -> Result<Vec<serde_json::Value>, AppError> {
        let qs = serde_urlencoded::to_string([("q", q)]).unwrap_or_default();
        Ok(
            match self
                .call(Method::Get, &format!("{}/search/?{qs}", self.sf()), None)
                .await?
            {
                Some(r) => self
                    .json(&r)?
                    .get("searchRecords")
                    .and_then(|v| v.as_array())
                    .cloned()
                    .unwrap_or_default(),
                None => Vec::new(),
            },
        )
    }

    fn contact_fields(&self) -> String {
        let mut f = String::from("Id, Name, Email, Phone, MobilePhone, AccountId, Account.Name");
        if let Some(t) = &self.tier_field {
            f.push_str(", ");
            f.push_str(t);
        }
        f
    }

    pub(crate) fn json(&self, r: &HttpResponse) -> Result<serde_json::Value, AppError> {
        serde_json::from_slice(&r.body)
            .map_err(|_| self.fail(502, "crm_error", "the vendor's answer was not JSON", None))
    }

    /// A customer, or `None`.
    pub async fn customer(&self, by: &Lookup) -> Result<Option<Customer>, AppError> {
        match self.kind {
            crm::CrmType::Zendesk => {
                let user = match by {
                    Lookup::Id(id) => match self
                        .call(
                            Method::Get,
                            &format!("/api/v2/users/{}.json", enc(id)),
                            None,
                        )
                        .await?
                    {
                        Some(r) => self.json(&r)?.get("user").cloned(),
                        None => None,
                    },
                    Lookup::Email(v) | Lookup::Phone(v) => {
                        let field = by.field();
                        let q = serde_urlencoded::to_string([("query", format!("{field}:{v}"))])
                            .unwrap_or_default();
                        match self
                            .call(Method::Get, &format!("/api/v2/users/search.json?{q}"), None)
                            .await?
                        {
                            Some(r) => self.json(&r)?.get("users").and_then(|u| u.get(0)).cloned(),
                            None => None,
                        }
                    }
                };
                Ok(user.map(|u| zendesk_customer(&u)))
            }
            crm::CrmType::Hubspot => {
                const PROPS: &str = "email,firstname,lastname,phone,lifecyclestage,hs_lead_status";
                let contact = match by {
                    Lookup::Id(id) => match self
                        .call(
                            Method::Get,
                            &format!("/crm/v3/objects/contacts/{}?properties={PROPS}", enc(id)),
                            None,
                        )
                        .await?
                    {
                        Some(r) => Some(self.json(&r)?),
                        None => None,
                    },
                    Lookup::Email(v) | Lookup::Phone(v) => {
                        let field = by.field();
                        let body = serde_json::json!({
                            "filterGroups": [{"filters": [{"propertyName": field, "operator": "EQ", "value": v}]}],
                            "properties": PROPS.split(',').collect::<Vec<_>>(), "limit": 1,
                        });
                        match self
                            .call(Method::Post, "/crm/v3/objects/contacts/search", Some(body))
                            .await?
                        {
                            Some(r) => self
                                .json(&r)?
                                .get("results")
                                .and_then(|u| u.get(0))
                                .cloned(),
                            None => None,
                        }
                    }
                };
                Ok(contact.map(|c| hubspot_customer(&c)))
            }
            crm::CrmType::Freshdesk => {
                let contact = match by {
                    Lookup::Id(id) => match self
                        .call(Method::Get, &format!("/api/v2/contacts/{}", enc(id)), None)
                        .await?
                    {
                        Some(r) => Some(self.json(&r)?),
                        None => None,
                    },
                    Lookup::Email(v) | Lookup::Phone(v) => {
                        let field = by.field();
                        let q =
                            serde_urlencoded::to_string([(field, v.as_str())]).unwrap_or_default();
                        match self
                            .call(Method::Get, &format!("/api/v2/contacts?{q}"), None)
                            .await?
                        {
                            Some(r) => self.json(&r)?.get(0).cloned(),
                            None => None,
                        }
                    }
                };
                Ok(contact.map(|c| Customer {
                    id: s(&c, "id").unwrap_or_default(),
                    name: s(&c, "name"),
                    email: s(&c, "email"),
                    phone: s(&c, "phone").or_else(|| s(&c, "mobile")),
                    tier: s(&c, "company_id").map(|id| format!("company {id}")),
                    metadata: serde_json::json!({"company_id": c.get("company_id")}),
                }))
            }
            crm::CrmType::Salesforce => {
                let contact = match by {
                    Lookup::Id(id) => match self
                        .call(
                            Method::Get,
                            &format!("{}/sobjects/Contact/{}", self.sf(), enc(id)),
                            None,
                        )
                        .await?
                    {
                        Some(r) => Some(self.json(&r)?),
                        None => None,
                    },
                    Lookup::Email(v) => self
                        .soql(&format!(
                            "SELECT {} FROM Contact WHERE Email = '{}' ORDER BY LastModifiedDate DESC LIMIT 1",
                            self.contact_fields(),
                            soql_str(v)
                        ))
                        .await?
                        .into_iter()
                        .next(),
                    // Salesforce keeps phone numbers as typed ("(555) 010-0099"), so an exact SOQL comparison
                    // misses them; SOSL phone search matches on the digits.
                    Lookup::Phone(v) => {
                        let digits: String = v.chars().filter(char::is_ascii_digit).collect();
                        if digits.len() < 2 {
                            return Ok(None);
                        }
                        self.sosl(&format!(
                            "FIND {{{digits}}} IN PHONE FIELDS RETURNING Contact({} ORDER BY LastModifiedDate DESC LIMIT 1)",
                            self.contact_fields()
                        ))
                        .await?
                        .into_iter()
                        .next()
                    }
                };
                Ok(contact.map(|c| salesforce_customer(&c, self.tier_field.as_deref())))
            }
            other => Err(self.unsupported(other)),
        }
    }

    /// A ticket, or `None`.
    pub async fn ticket(&self, id: &str) -> Result<Option<Ticket>, AppError> {
        match self.kind {
            crm::CrmType::Zendesk => Ok(match self.call(Method::Get, &format!("/api/v2/tickets/{}.json", enc(id)), None).await? {
                Some(r) => self.json(&r)?.get("ticket").map(zendesk_ticket),
                None => None,
            }),
            crm::CrmType::Hubspot => Ok(
                match self
                    .call(
                        Method::Get,
                        &format!("/crm/v3/objects/tickets/{}?properties=subject,content,hs_pipeline_stage,hs_ticket_priority,createdate,hs_lastmodifieddate", enc(id)),
                        None,
                    )
                    .await?
                {
                    Some(r) => Some(hubspot_ticket(&self.json(&r)?)),
                    None => None,
                },
            ),
            crm::CrmType::Freshdesk => Ok(match self.call(Method::Get, &format!("/api/v2/tickets/{}", enc(id)), None).await? {
                Some(r) => Some(freshdesk_ticket(&self.json(&r)?)),
                None => None,
            }),
            crm::CrmType::Salesforce => Ok(match self.call(Method::Get, &format!("{}/sobjects/Case/{}", self.sf(), enc(id)), None).await? {
                Some(r) => Some(salesforce_case(&self.json(&r)?)),
                None => None,
            }),
            other => Err(self.unsupported(other)),
        }
    }

    /// HubSpot ticket search (`POST /crm/v3/objects/tickets/search`): one AND group of `filters`, optional `sorts`,
    /// at most `limit` tickets with the properties [`hubspot_ticket`] reads
    /// (<https://developers.hubspot.com/docs/api/crm/search>).
    async fn hubspot_tickets(
        &self,
        filters: serde_json::Value,
        sorts: Option<serde_json::Value>,
        limit: u32,
    ) -> Result<Vec<Ticket>, AppError> {
        let mut body = serde_json::json!({
            "filterGroups": [{"filters": filters}],
            "properties": ["subject", "content", "hs_pipeline_stage", "hs_ticket_priority", "createdate", "hs_lastmodifieddate"],
            "limit": limit,
        });
        if let Some(sorts) = sorts {
            body["sorts"] = sorts;
        }
        Ok(
            match self
                .call(Method::Post, "/crm/v3/objects/tickets/search", Some(body))
                .await?
            {
                Some(r) => self
                    .json(&r)?
                    .get("results")
                    .and_then(|t| t.as_array())
                    .map(|a| a.iter().map(hubspot_ticket).collect())
                    .unwrap_or_default(),
                None => Vec::new(),
            },
        )
    }

    /// Salesforce Cases with the fields [`salesforce_case`] reads, `condition` being the SOQL after `WHERE`
    /// (filter, `ORDER BY`, `LIMIT`; values already escaped with [`soql_str`]).
    async fn salesforce_cases(&self, condition: &str) -> Result<Vec<Ticket>, AppError> {
        Ok(self
            .soql(&format!(
                "SELECT Id, CaseNumber, Subject, Status, Priority, IsClosed, ContactId, CreatedDate, LastModifiedDate \
                 FROM Case WHERE {condition}"
            ))
            .await?
            .iter()
            .map(salesforce_case)
            .collect())
    }

    /// The customer's open tickets (not solved or closed), newest first, at most 5 (one call):
    /// Zendesk `GET /api/v2/users/{id}/tickets/requested.json`; HubSpot ticket search on `associations.contact`;
    /// Freshdesk `GET /api/v2/tickets?requester_id=`; Salesforce SOQL on Case by `ContactId` and `IsClosed`.
    pub async fn open_tickets(&self, customer_id: &str) -> Result<Vec<Ticket>, AppError> {
        let open = |t: &Ticket| !matches!(t.status.as_str(), "solved" | "closed");
        let mut found: Vec<Ticket> = match self.kind {
            crm::CrmType::Zendesk => match self
                .call(
                    Method::Get,
                    &format!(
                        "/api/v2/users/{}/tickets/requested.json?sort_by=updated_at&sort_order=desc",
                        enc(customer_id)
                    ),
                    None,
                )
                .await?
            {
                Some(r) => self.json(&r)?.get("tickets").and_then(|t| t.as_array()).map(|a| a.iter().map(zendesk_ticket).collect()).unwrap_or_default(),
                None => Vec::new(),
            },
            crm::CrmType::Hubspot => {
                self.hubspot_tickets(
                    serde_json::json!([
                        {"propertyName": "associations.contact", "operator": "EQ", "value": customer_id},
                        {"propertyName": "hs_pipeline_stage", "operator": "NEQ", "value": "4"}]),
                    None,
                    5,
                )
                .await?
            }
            crm::CrmType::Freshdesk => {
                // Without updated_since Freshdesk lists only tickets created in the last 30 days.
                let since = crate::domain::time::rfc3339(crate::platform::now() - chrono::Duration::days(365));
                let q = serde_urlencoded::to_string([("requester_id", customer_id), ("updated_since", since.as_str()), ("order_by", "updated_at"), ("order_type", "desc")]).unwrap_or_default();
                match self.call(Method::Get, &format!("/api/v2/tickets?{q}"), None).await? {
                    Some(r) => self.json(&r)?.as_array().map(|a| a.iter().map(freshdesk_ticket).collect()).unwrap_or_default(),
                    None => Vec::new(),
                }
            }
            crm::CrmType::Salesforce => {
                self.salesforce_cases(&format!(
                    "ContactId = '{}' AND IsClosed = false ORDER BY CreatedDate DESC LIMIT 5",
                    soql_str(customer_id)
                ))
                .await?
            }
            crm::CrmType::Livechat => Vec::new(),
        };
        found.retain(open);
        found.truncate(5);
        Ok(found)
    }

    /// The ticket an earlier [`Conn::create_ticket`] of `t` may have made although its answer was lost (a 5xx or a
    /// timeout after the vendor wrote it); `None` when there is none. One call: Zendesk `GET
    /// /api/v2/tickets.json?external_id=` (List Tickets by external id); Freshdesk `GET /api/v2/search/tickets?query=
    /// "tag:'…'"` (Filter Tickets; its index may lag a few seconds behind a create); HubSpot ticket search with
    /// `subject` EQ; Salesforce SOQL on Case by exact `Subject`. Zendesk and Freshdesk need `t.marker`; at HubSpot and
    /// Salesforce only tickets created since `since` (RFC 3339, the first attempt's time, less 10 min for clock
    /// skew) count, so an older ticket that happens to share the subject is never taken for ours.
    /// <https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets>,
    /// <https://developers.freshdesk.com/api/#filter_tickets>, <https://developers.hubspot.com/docs/api/crm/search>.
    pub async fn find_created(
        &self,
        t: &TicketInput,
        since: Option<&str>,
    ) -> Result<Option<Ticket>, AppError> {
        let since = since
            .and_then(crate::domain::time::parse_rfc3339)
            .map(|s| s - chrono::Duration::minutes(10));
        let first = |v: Option<&serde_json::Value>, f: fn(&serde_json::Value) -> Ticket| {
            v.and_then(|a| a.as_array()).and_then(|a| a.first()).map(f)
        };
        Ok(match (self.kind, t.marker.as_deref()) {
            (crm::CrmType::Zendesk, Some(m)) => {
                match self
                    .call(Method::Get, &format!("/api/v2/tickets.json?external_id={}", enc(m)), None)
                    .await?
                {
                    Some(r) => first(self.json(&r)?.get("tickets"), zendesk_ticket),
                    None => None,
                }
            }
            (crm::CrmType::Freshdesk, Some(m)) => {
                let q = serde_urlencoded::to_string([("query", format!("\"tag:'{m}'\""))])
                    .map_err(|_| self.fail(502, "crm_error", "could not encode the search", None))?;
                match self.call(Method::Get, &format!("/api/v2/search/tickets?{q}"), None).await? {
                    Some(r) => first(self.json(&r)?.get("results"), freshdesk_ticket),
                    None => None,
                }
            }
            (crm::CrmType::Hubspot, _) => self
                .hubspot_tickets(
                    serde_json::json!([
                        {"propertyName": "subject", "operator": "EQ", "value": t.subject},
                        {"propertyName": "createdate", "operator": "GTE",
                         "value": since.map(|s| s.timestamp_millis()).unwrap_or(0).to_string()}]),
                    Some(serde_json::json!([{"propertyName": "createdate", "direction": "ASCENDING"}])),
                    1,
                )
                .await?
                .into_iter()
                .next(),
            (crm::CrmType::Salesforce, _) => self
                .salesforce_cases(&format!(
                    "Subject = '{}' AND CreatedDate >= {} ORDER BY CreatedDate ASC LIMIT 1",
                    soql_str(&t.subject),
                    // SOQL dateTime literal: no quotes, no fractional seconds.
                    since
                        .unwrap_or_default()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                ))
                .await?
                .into_iter()
                .next(),
            _ => None,
        })
    }

    /// Creates a ticket from unified fields.
    pub async fn create_ticket(&self, t: &TicketInput) -> Result<Ticket, AppError> {
        let created = match self.kind {
            crm::CrmType::Zendesk => {
                let mut ticket = serde_json::json!({"subject": t.subject, "comment": {"body": t.description.clone().unwrap_or_default()}});
                if let Some(p) = t.priority.as_deref().and_then(crm::to_zendesk_priority) {
                    ticket["priority"] = p.into();
                }
                if let Some(m) = &t.marker {
                    ticket["external_id"] = m.clone().into();
                }
                if let Some(c) = &t.customer_id {
                    ticket["requester_id"] = c
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| c.clone().into());
                }
                self.call(
                    Method::Post,
                    "/api/v2/tickets.json",
                    Some(serde_json::json!({"ticket": ticket})),
                )
                .await?
                .and_then(|r| self.json(&r).ok())
                .and_then(|v| v.get("ticket").map(zendesk_ticket))
            }
            crm::CrmType::Hubspot => {
                let mut props = serde_json::json!({"subject": t.subject, "content": t.description, "hs_pipeline": "0", "hs_pipeline_stage": "1"});
                if let Some(p) = t.priority.as_deref().and_then(crm::to_hubspot_priority) {
                    props["hs_ticket_priority"] = p.into();
                }
                self.call(
                    Method::Post,
                    "/crm/v3/objects/tickets",
                    Some(serde_json::json!({"properties": props})),
                )
                .await?
                .and_then(|r| self.json(&r).ok())
                .map(|v| hubspot_ticket(&v))
            }
            crm::CrmType::Freshdesk => {
                let mut ticket = serde_json::json!({"subject": t.subject,
                    "description": t.description.clone().unwrap_or_else(|| t.subject.clone()), "status": 2,
                    "priority": t.priority.as_deref().and_then(crm::to_freshdesk_priority).unwrap_or(2)});
                if let Some(m) = &t.marker {
                    ticket["tags"] = serde_json::json!([m]);
                }
                let r = &t.requester;
                if let Some(c) = &t.customer_id {
                    ticket["requester_id"] = c
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| c.clone().into());
                } else if let Some(email) = &r.email {
                    ticket["email"] = email.clone().into();
                } else if let Some(phone) = &r.phone {
                    ticket["phone"] = phone.clone().into();
                    ticket["name"] = r.name.clone().unwrap_or_else(|| phone.clone()).into();
                }
                self.call(Method::Post, "/api/v2/tickets", Some(ticket))
                    .await?
                    .and_then(|r| self.json(&r).ok())
                    .map(|v| freshdesk_ticket(&v))
            }
            crm::CrmType::Salesforce => {
                let mut case = serde_json::json!({"Subject": t.subject, "Description": t.description,
                    "Status": "New", "Origin": "Web",
                    "Priority": t.priority.as_deref().and_then(crm::to_salesforce_priority).unwrap_or("Medium")});
                if let Some(c) = &t.customer_id {
                    case["ContactId"] = c.clone().into();
                }
                let id = self
                    .call(
                        Method::Post,
                        &format!("{}/sobjects/Case", self.sf()),
                        Some(case),
                    )
                    .await?
                    .and_then(|r| self.json(&r).ok())
                    .and_then(|v| s(&v, "id"));
                match id {
                    Some(id) => self.ticket(&id).await?,
                    None => None,
                }
            }
            other => return Err(self.unsupported(other)),
        };
        created.ok_or_else(|| {
            self.fail(
                502,
                "crm_error",
                "the vendor did not return the ticket",
                None,
            )
        })
    }

    /// Updates a ticket's status, priority or subject; `None` when it does not exist.
    pub async fn update_ticket(
        &self,
        id: &str,
        t: &TicketPatch,
    ) -> Result<Option<Ticket>, AppError> {
        match self.kind {
            crm::CrmType::Zendesk => {
                let ticket = t.fields(
                    (
                        "status",
                        t.status
                            .as_deref()
                            .and_then(crm::to_zendesk_status)
                            .map(Into::into),
                    ),
                    (
                        "priority",
                        t.priority
                            .as_deref()
                            .and_then(crm::to_zendesk_priority)
                            .map(Into::into),
                    ),
                    "subject",
                );
                Ok(self
                    .call(
                        Method::Put,
                        &format!("/api/v2/tickets/{}.json", enc(id)),
                        Some(serde_json::json!({"ticket": ticket})),
                    )
                    .await?
                    .and_then(|r| self.json(&r).ok())
                    .and_then(|v| v.get("ticket").map(zendesk_ticket)))
            }
            crm::CrmType::Hubspot => {
                let props = t.fields(
                    (
                        "hs_pipeline_stage",
                        t.status
                            .as_deref()
                            .and_then(crm::to_hubspot_stage)
                            .map(Into::into),
                    ),
                    (
                        "hs_ticket_priority",
                        t.priority
                            .as_deref()
                            .and_then(crm::to_hubspot_priority)
                            .map(Into::into),
                    ),
                    "subject",
                );
                Ok(self
                    .call(
                        Method::Patch,
                        &format!("/crm/v3/objects/tickets/{}", enc(id)),
                        Some(serde_json::json!({"properties": props})),
                    )
                    .await?
                    .and_then(|r| self.json(&r).ok())
                    .map(|v| hubspot_ticket(&v)))
            }
            crm::CrmType::Freshdesk => {
                let ticket = t.fields(
                    (
                        "status",
                        t.status
                            .as_deref()
                            .and_then(crm::to_freshdesk_status)
                            .map(Into::into),
                    ),
                    (
                        "priority",
                        t.priority
                            .as_deref()
                            .and_then(crm::to_freshdesk_priority)
                            .map(Into::into),
                    ),
                    "subject",
                );
                Ok(self
                    .call(
                        Method::Put,
                        &format!("/api/v2/tickets/{}", enc(id)),
                        Some(ticket),
                    )
                    .await?
                    .and_then(|r| self.json(&r).ok())
                    .map(|v| freshdesk_ticket(&v)))
            }
            crm::CrmType::Salesforce => {
                let case = t.fields(
                    (
                        "Status",
                        t.status
                            .as_deref()
                            .and_then(crm::to_salesforce_status)
                            .map(Into::into),
                    ),
                    (
                        "Priority",
                        t.priority
                            .as_deref()
                            .and_then(crm::to_salesforce_priority)
                            .map(Into::into),
                    ),
                    "Subject",
                );
                // PATCH answers 204 without a body; the case is read back.
                match self
                    .call(
                        Method::Patch,
                        &format!("{}/sobjects/Case/{}", self.sf(), enc(id)),
                        Some(case),
                    )
                    .await?
                {
                    Some(_) => self.ticket(id).await,
                    None => Ok(None),
                }
            }
            other => Err(self.unsupported(other)),
        }
    }
}

/// Whether a call may be repeated after a 5xx or a timeout: reads, updates, and POSTs that only search.
fn retry_safe(method: &Method, path: &str) -> bool {
    !matches!(method, Method::Post)
        || path.contains("/search")
        || path.contains("/action/get_")
        || path.contains("/query")
}

/// SOQL string literal body: backslash and quote escaped, line breaks dropped
/// (<https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm>).
fn soql_str(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '\\' => vec!['\\', '\\'],
            '\'' => vec!['\\', '\''],
            '"' => vec!['\\', '"'],
            c => vec![c],
        })
        .collect()
}

/// Salesforce's error array `[{"message","errorCode","fields"}]`: the first `errorCode`.
fn salesforce_error_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get(0)?.get("errorCode")?.as_str().map(String::from)
}

fn salesforce_customer(c: &serde_json::Value, tier_field: Option<&str>) -> Customer {
    let account = c.get("Account").filter(|a| a.is_object());
    Customer {
        id: s(c, "Id").unwrap_or_default(),
        name: s(c, "Name"),
        email: s(c, "Email"),
        phone: s(c, "Phone").or_else(|| s(c, "MobilePhone")),
        tier: tier_field.and_then(|f| s(c, f)),
        metadata: serde_json::json!({"account_id": c.get("AccountId"),
            "account_name": account.and_then(|a| a.get("Name"))}),
    }
}

fn salesforce_case(t: &serde_json::Value) -> Ticket {
    let status = t.get("Status").and_then(|v| v.as_str()).unwrap_or("New");
    let closed = t.get("IsClosed").and_then(|v| v.as_bool()).unwrap_or(false);
    Ticket {
        id: s(t, "Id").unwrap_or_default(),
        subject: s(t, "Subject"),
        description: s(t, "Description"),
        status: crm::salesforce_status(status, closed).into(),
        priority: crm::salesforce_priority(t.get("Priority").and_then(|v| v.as_str())).into(),
        customer_id: s(t, "ContactId"),
        created_at: s(t, "CreatedDate"),
        updated_at: s(t, "LastModifiedDate"),
        metadata: serde_json::json!({"case_number": t.get("CaseNumber"), "vendor_status": status}),
    }
}

fn freshdesk_ticket(t: &serde_json::Value) -> Ticket {
    Ticket {
        id: s(t, "id").unwrap_or_default(),
        subject: s(t, "subject"),
        description: s(t, "description_text").or_else(|| s(t, "description")),
        status: crm::freshdesk_status(t.get("status").and_then(|v| v.as_i64()).unwrap_or(2)).into(),
        priority: crm::freshdesk_priority(t.get("priority").and_then(|v| v.as_i64()).unwrap_or(2))
            .into(),
        customer_id: s(t, "requester_id"),
        created_at: s(t, "created_at"),
        updated_at: s(t, "updated_at"),
        metadata: serde_json::json!({"vendor_status": t.get("status"), "tags": t.get("tags")}),
    }
}

fn enc(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn s(v: &serde_json::Value, k: &str) -> Option<String> {
    match v.get(k) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn zendesk_customer(u: &serde_json::Value) -> Customer {
    let tier = u
        .get("user_fields")
        .and_then(|f| f.get("tier"))
        .and_then(|t| t.as_str())
        .map(String::from)
        .or_else(|| s(u, "organization_id").map(|o| format!("organization {o}")));
    Customer {
        id: s(u, "id").unwrap_or_default(),
        name: s(u, "name"),
        email: s(u, "email"),
        phone: s(u, "phone"),
        tier,
        metadata: serde_json::json!({"role": u.get("role"), "tags": u.get("tags"), "organization_id": u.get("organization_id")}),
    }
}

fn zendesk_ticket(t: &serde_json::Value) -> Ticket {
    Ticket {
        id: s(t, "id").unwrap_or_default(),
        subject: s(t, "subject"),
        description: s(t, "description"),
        status: crm::zendesk_status(t.get("status").and_then(|v| v.as_str()).unwrap_or("open"))
            .into(),
        priority: crm::zendesk_priority(t.get("priority").and_then(|v| v.as_str())).into(),
        customer_id: s(t, "requester_id"),
        created_at: s(t, "created_at"),
        updated_at: s(t, "updated_at"),
        metadata: serde_json::json!({"tags": t.get("tags"), "vendor_status": t.get("status")}),
    }
}

fn hubspot_customer(c: &serde_json::Value) -> Customer {
    let p = c.get("properties").cloned().unwrap_or_default();
    let name = [s(&p, "firstname"), s(&p, "lastname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Customer {
        id: s(c, "id").unwrap_or_default(),
        name: (!name.is_empty()).then_some(name),
        email: s(&p, "email"),
        phone: s(&p, "phone"),
        tier: s(&p, "lifecyclestage"),
        metadata: serde_json::json!({"hs_lead_status": p.get("hs_lead_status")}),
    }
}

fn hubspot_ticket(t: &serde_json::Value) -> Ticket {
    let p = t.get("properties").cloned().unwrap_or_default();
    Ticket {
        id: s(t, "id").unwrap_or_default(),
        subject: s(&p, "subject"),
        description: s(&p, "content"),
        status: crm::hubspot_status(
            p.get("hs_pipeline_stage")
                .and_then(|v| v.as_str())
                .unwrap_or("3"),
        )
        .into(),
        priority: crm::hubspot_priority(p.get("hs_ticket_priority").and_then(|v| v.as_str()))
            .into(),
        customer_id: None,
        created_at: s(&p, "createdate").or_else(|| s(t, "createdAt")),
        updated_at: s(&p, "hs_lastmodifieddate").or_else(|| s(t, "updatedAt")),
        metadata: serde_json::json!({"vendor_stage": p.get("hs_pipeline_stage")}),
    }
}

/// Fields of a new ticket.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketInput {
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: Option<String>,
    /// Unified priority.
    pub priority: Option<String>,
    /// The vendor's customer id.
    pub customer_id: Option<String>,
    /// Edgedesk's mark on a mirrored ticket (`edgedesk-<ticket uuid>`), set by the ticket sync only, never by API
    /// clients: Zendesk `external_id`, a Freshdesk tag. [`Conn::find_created`] looks for it.
    #[serde(skip)]
    pub marker: Option<String>,
    /// The requester's address when `customer_id` is unknown (set by the ticket sync): Freshdesk refuses a create
    /// without one of `requester_id`, `email` or `phone` (+ `name`), and makes the contact from it.
    #[serde(skip)]
    pub requester: Requester,
}

/// A requester by address: e-mail, phone (E.164), display name.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Display name.
    pub name: Option<String>,
}

impl TicketPatch {
    /// The vendor's JSON object of an update: the (already mapped) status and priority under the vendor's field
    /// names, and the subject, each only when given.
    fn fields(
        &self,
        status: (&str, Option<serde_json::Value>),
        priority: (&str, Option<serde_json::Value>),
        subject: &str,
    ) -> serde_json::Value {
        let mut body = serde_json::Map::new();
        for (key, value) in [
            status,
            priority,
            (subject, self.subject.clone().map(Into::into)),
        ] {
            if let Some(v) = value {
                body.insert(key.to_string(), v);
            }
        }
        serde_json::Value::Object(body)
    }
}

/// Fields of a ticket update.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    /// Unified status.
    pub status: Option<String>,
    /// Unified priority.
    pub priority: Option<String>,
    /// Subject.
    pub subject: Option<String>,
}
