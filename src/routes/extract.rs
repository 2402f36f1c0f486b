//! Extractors that parse at the boundary and fail with [`AppError`] (so every rejection is JSON):
//! [`Staff`] (a verified bearer token or session cookie), [`ApiJson`] and [`ApiQuery`].

use super::AppState;
use crate::config::Config;
use crate::domain::access::Actor;
use crate::domain::auth::{self, StaffClaims};
use crate::domain::ticket::Role;
use crate::error::AppError;
use crate::platform;
use crate::storage::{staff, Db};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

/// Largest JSON body accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Name of the dashboard's session cookie (HttpOnly, Secure, SameSite=Strict; its value is a staff JWT).
pub const SESSION_COOKIE: &str = "edgedesk_session";

/// Configuration and database of a request.
pub fn context(state: &AppState) -> Result<(Config, Db), AppError> {
    let cfg = Config::from_env(&state.env)?;
    let db = Db::new(state.env.d1("DB")?);
    Ok((cfg, db))
}

/// The authenticated staff member, re-read from D1 on every request (role, team, active, session version).
///
/// Credentials: `Authorization: Bearer <jwt>`, else the [`SESSION_COOKIE`]. A cookie-authenticated request
/// with a state-changing method (`POST`, `PUT`, `PATCH`, `DELETE`) must carry an `Origin` equal to the
/// request's own origin or one of `ALLOWED_ORIGINS` (CSRF defence; OWASP "Verifying Origin With Standard
/// Headers"), else 403. A token that is invalid, expired, of an inactive account or of an older session
/// version (password changed) → 401.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Staff id.
    pub id: String,
    /// Tenant id; every query of the request is scoped to it.
    pub tenant: String,
    /// Current role.
    pub role: Role,
    /// Current team.
    pub team: Option<String>,
    /// Display name.
    pub name: String,
}

impl Staff {
    /// The caller as the role rules ([`crate::domain::access`]) see them.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.clone(),
            role: self.role,
            team: self.team.clone(),
        }
    }

    /// 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role, what: &str) -> Result<(), AppError> {
        if self.role.at_least(role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{what} needs the {role} role or higher"
            )))
        }
    }
}

/// Where a request's credentials came from.
enum Credential {
    Bearer(String),
    Cookie(String),
}

fn credential(headers: &HeaderMap) -> Result<Credential, AppError> {
    if let Some(header) = headers.get("authorization") {
        let header = header
            .to_str()
            .map_err(|_| AppError::Unauthorized("the Authorization header is not text".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
            })?;
        return Ok(Credential::Bearer(token.trim().to_string()));
    }
    session_cookie(headers)
        .map(Credential::Cookie)
        .ok_or_else(|| {
            AppError::Unauthorized("sign in first (no session cookie or bearer token)".into())
        })
}

/// The `token` query parameter of a WebSocket upgrade request (a browser cannot send headers with one), if given;
/// 400 `bad_request` unless the request asks for `Upgrade: websocket`.
pub fn websocket_token(parts: &Parts) -> Result<Option<String>, AppError> {
    let upgrade = parts
        .headers
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Err(AppError::BadRequest(
            "this endpoint needs a WebSocket upgrade (Upgrade: websocket)".into(),
        ));
    }
    Ok(parts.uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v)
    }))
}

/// Hands an authenticated WebSocket upgrade to the Durable Object named `name` in namespace `binding`: `url` (its
/// path and query tell the object who connects) is fetched there with `Upgrade: websocket`, and the object's answer
/// (101 with the socket) goes back as is.
pub async fn upgrade_at(
    state: &AppState,
    binding: &str,
    name: &str,
    url: &str,
) -> Result<axum::response::Response, AppError> {
    let headers = worker::Headers::new();
    headers.set("upgrade", "websocket")?;
    let mut init = worker::RequestInit::new();
    init.with_headers(headers);
    let req = worker::Request::new_with_init(url, &init)?;
    let stub = state
        .env
        .durable_object(binding)?
        .id_from_name(name)?
        .get_stub()?;
    Ok(stub.fetch_with_request(req).await?.into())
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

/// The origin (`scheme://host[:port]`) the request was made to: the URL's, else `https://` + `Host`.
pub fn own_origin(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => Some(format!("{scheme}://{authority}")),
        _ => headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map(|h| format!("https://{h}")),
    }
    .map(|o| o.to_ascii_lowercase())
}

/// 403 unless the request's `Origin` is its own origin or one of `ALLOWED_ORIGINS`.
pub fn check_origin(cfg: &Config, uri: &Uri, headers: &HeaderMap) -> Result<(), AppError> {
    let origin = headers
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
        .ok_or_else(|| {
            AppError::Forbidden("a cookie-authenticated change needs an Origin header".into())
        })?;
    let own = own_origin(uri, headers);
    if own.as_deref() == Some(origin.as_str()) || cfg.allowed_origins.contains(&origin) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "requests from origin {origin} may not use the session cookie"
        )))
    }
}

/// Verifies a staff JWT and re-reads the account: the shared core of [`Staff`] and the live socket.
pub async fn authenticate(db: &Db, cfg: &Config, token: &str) -> Result<Staff, AppError> {
    let claims: StaffClaims = auth::verify(cfg.jwt_secret()?.as_bytes(), token, platform::now())
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    let session = staff::active_session(db, &claims.tenant, &claims.sub)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account is not active".into()))?;
    if session.session_version != claims.ver {
        return Err(AppError::Unauthorized(
            "this session has ended (the password was changed); sign in again".into(),
        ));
    }
    // The stored role wins over the token's: a demoted admin loses admin routes at once.
    Ok(Staff {
        id: claims.sub,
        tenant: claims.tenant,
        role: session.role,
        team: session.team,
        name: session.name,
    })
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let credential = credential(&parts.headers)?;
        let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let (uri, headers) = (parts.uri.clone(), parts.headers.clone());
        let state = state.clone();
        worker::send::SendFuture::new(async move {
            let (cfg, db) = context(&state)?;
            let token = match credential {
                Credential::Bearer(t) => t,
                Credential::Cookie(t) => {
                    if changes {
                        check_origin(&cfg, &uri, &headers)?;
                    }
                    t
                }
            };
            authenticate(&db, &cfg, &token).await
        })
        .await
    }
}

/// Marks a request whose body exceeded [`MAX_JSON_BYTES`] (set by [`super::buffered`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyTooLarge;

/// A JSON body parsed into `T`; a `Content-Type` other than `application/json`, malformed JSON or a body over
/// [`MAX_JSON_BYTES`] → 400, wrong shape or values → 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let json = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            // Also a CSRF defence: a cross-site HTML form cannot send this type without a CORS preflight.
            return Err(AppError::BadRequest(
                "the body must be JSON with Content-Type: application/json".into(),
            ));
        }
        if req.extensions().get::<BodyTooLarge>().is_some() {
            return Err(AppError::BadRequest(format!(
                "the body is larger than {MAX_JSON_BYTES} bytes"
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(AppError::BadRequest(format!(
                "the body is larger than {MAX_JSON_BYTES} bytes"
            )));
        }
        // serde_path_to_error names the field of a wrong value (`routing_rules.enable_fax: unknown field`).
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                AppError::BadRequest(format!("the body is not valid JSON: {inner}"))
            } else if path == "." {
                AppError::Validation(inner.to_string())
            } else {
                AppError::Validation(format!("{path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        Ok(ApiJson(value))
    }
}

/// A query string parsed into `T`; bad values → 422.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(ApiQuery)
            .map_err(|e| AppError::Validation(format!("query: {e}")))
    }
}
