//! Sessions:
//! - `POST /api/v1/auth/login {"email","password"}` → `{"token","expires_in","staff"}` and the session cookie
//!   (`edgedesk_session`: HttpOnly, Secure, SameSite=Strict, Path=/, Max-Age = token lifetime). A JWT (HS256,
//!   `JWT_SECRET`; claims `sub`, `tenant`, `role`, `ver`, `exp`). When tenant `default` has no staff yet, its
//!   owner is created from `ADMIN_EMAIL`/`ADMIN_PASSWORD` first. Wrong e-mail or password → 401 with the same
//!   message for both. Attempts are limited per account (`LOGIN_ACCOUNT_LIMITER`) and per client IP
//!   (`LOGIN_IP_LIMITER`, from `CF-Connecting-IP`) with Workers rate-limiting bindings
//!   (<https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/>): over the limit → 429
//!   `rate_limited` with `Retry-After: 60`, before the password is checked.
//! - `POST /api/v1/auth/logout` → 204 and an expired cookie.
//! - `GET /api/v1/auth/me` → `{"staff","tenant":{"id","name"}}`.
//! - `POST /api/v1/auth/password {"current_password","new_password"}` → a new token and cookie; the account's
//!   older tokens stop working (its `session_version` is bumped).
//!
//! Passwords are stored only as salted PBKDF2-SHA256 hashes (WebCrypto, 100 000 iterations).

use super::extract::{check_origin, context, ApiJson, Staff, SESSION_COOKIE};
use super::AppState;
use crate::config::Config;
use crate::domain::auth::{self, PasswordHash, StaffClaims, PBKDF2_ITERATIONS};
use crate::domain::fields::NewPassword;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::mailbox::DEFAULT_TENANT;
use crate::platform;
use crate::storage::{staff, Db};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

/// The session routes; only login needs no authentication.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/password", post(change_password))
}

/// Login body.
#[derive(Deserialize)]
pub struct Login {
    /// Login e-mail; trimmed and lower-cased before the lookup.
    pub email: String,
    /// The plain password, checked against the stored PBKDF2 hash; never stored or logged.
    pub password: String,
}

/// Hashes a password with a fresh 16-byte salt.
pub async fn hash_password(password: &str) -> AppResult<String> {
    let salt = platform::random_bytes::<16>()?.to_vec();
    let hash = platform::pbkdf2_sha256(password, &salt, PBKDF2_ITERATIONS).await?;
    Ok(PasswordHash {
        iterations: PBKDF2_ITERATIONS,
        salt,
        hash,
    }
    .encode())
}

/// `Set-Cookie` for a session token, or (with `None`) one that deletes the cookie.
fn session_cookie(token: Option<&str>) -> HeaderValue {
    let max_age = if token.is_some() {
        auth::TOKEN_TTL_SECONDS
    } else {
        0
    };
    let c = cookie::Cookie::build((SESSION_COOKIE, token.unwrap_or("").to_string()))
        .http_only(true)
        .secure(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A token answer: the JSON body and the session cookie.
fn session_response(token: &str, member: &staff::Member) -> Response {
    let mut res = Json(serde_json::json!({
        "token": token,
        "expires_in": auth::TOKEN_TTL_SECONDS,
        "staff": member,
    }))
    .into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(Some(token)));
    res
}

/// Spends one attempt of `key` on the rate-limiting binding; 429 when over the limit.
async fn spend_attempt(state: &AppState, binding: &str, key: String, what: &str) -> AppResult<()> {
    let limiter = state.env.rate_limiter(binding).map_err(|_| {
        AppError::Config(crate::config::ConfigError::Missing(
            if binding == "LOGIN_IP_LIMITER" {
                "LOGIN_IP_LIMITER"
            } else {
                "LOGIN_ACCOUNT_LIMITER"
            },
        ))
    })?;
    let outcome = limiter.limit(key).await?;
    if outcome.success {
        Ok(())
    } else {
        Err(AppError::RateLimited {
            message: format!("too many sign-in attempts {what}; try again in a minute"),
            retry_after_secs: 60,
        })
    }
}

fn issue(
    cfg: &Config,
    staff_id: &str,
    tenant: &str,
    role: crate::domain::ticket::Role,
    ver: i64,
) -> AppResult<String> {
    let claims = StaffClaims {
        sub: staff_id.to_string(),
        tenant: tenant.to_string(),
        role,
        ver,
    };
    auth::issue(cfg.jwt_secret()?.as_bytes(), claims, platform::now())
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Checks a password against a stored hash in constant time; an unusable hash never matches.
async fn password_matches(stored: Option<&str>, password: &str) -> AppResult<bool> {
    // Derive a hash even for an unknown account, so response time does not tell which e-mails exist.
    let parsed = stored.and_then(PasswordHash::parse);
    let known = parsed.is_some();
    let hash = parsed.unwrap_or(PasswordHash {
        iterations: PBKDF2_ITERATIONS,
        salt: vec![0; 16],
        hash: vec![0; 32],
    });
    let derived = platform::pbkdf2_sha256(password, &hash.salt, hash.iterations).await?;
    Ok(known && hash.matches(&derived))
}

#[worker::send]
async fn login(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> AppResult<Response> {
    let (cfg, db) = context(&state)?;
    cfg.jwt_secret()?; // a worker without a signing secret says so before anything else
    if headers.contains_key("origin") {
        // Login CSRF: another site must not sign a browser into an account of its choosing.
        check_origin(&cfg, &uri, &headers)?;
    }
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || body.password.is_empty() {
        return Err(AppError::Validation(
            "email and password are required".into(),
        ));
    }
    let ip = headers
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    spend_attempt(
        &state,
        "LOGIN_IP_LIMITER",
        format!("ip:{ip}"),
        "from this address",
    )
    .await?;
    spend_attempt(
        &state,
        "LOGIN_ACCOUNT_LIMITER",
        format!("account:{email}"),
        "for this account",
    )
    .await?;
    if let Some((admin_email, admin_password)) = &cfg.admin {
        if *admin_email == email && !staff::tenant_has_staff(&db, DEFAULT_TENANT).await? {
            let hash = hash_password(admin_password).await?;
            let now = time::rfc3339(platform::now());
            staff::bootstrap_owner(
                &db,
                DEFAULT_TENANT,
                &platform::uuid()?,
                admin_email,
                &hash,
                &now,
            )
            .await?;
        }
    }
    let row = staff::by_email(&db, &email).await?;
    let ok = password_matches(
        row.as_ref().map(|r| r.password_hash.as_str()),
        &body.password,
    )
    .await?;
    let row = row
        .filter(|r| ok && r.status == "active")
        .ok_or_else(|| AppError::Unauthorized("wrong e-mail or password".into()))?;
    let member = staff::member(&db, &row.tenant_id, &row.staff_id)
        .await?
        .ok_or_else(|| AppError::Internal("staff row vanished during login".into()))?;
    let token = issue(
        &cfg,
        &row.staff_id,
        &row.tenant_id,
        row.role,
        row.session_version,
    )?;
    Ok(session_response(&token, &member))
}

async fn logout() -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(None));
    res
}

#[worker::send]
async fn me(State(state): State<AppState>, me: Staff) -> AppResult<Json<serde_json::Value>> {
    let (_, db) = context(&state)?;
    let member = active_member(&db, &me).await?;
    let tenant = staff::tenant(&db, &me.tenant).await?;
    Ok(Json(serde_json::json!({
        "staff": member,
        "tenant": tenant.map(|t| serde_json::json!({"id": t.id, "name": t.name})),
    })))
}

async fn active_member(db: &Db, me: &Staff) -> AppResult<staff::Member> {
    staff::active_member(db, &me.tenant, &me.id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the account is not active".into()))
}

/// Body of `POST /api/v1/auth/password`.
#[derive(Deserialize)]
pub struct PasswordChange {
    /// The current password.
    pub current_password: String,
    /// The new one: 10–200 characters ([`NewPassword`]).
    pub new_password: String,
}

#[worker::send]
async fn change_password(
    State(state): State<AppState>,
    me: Staff,
    ApiJson(body): ApiJson<PasswordChange>,
) -> AppResult<Response> {
    let new = NewPassword::parse("new_password", &body.new_password)?;
    let (cfg, db) = context(&state)?;
    let row = staff::credentials(&db, &me.tenant, &me.id).await?;
    if !password_matches(
        row.as_ref().map(|r| r.password_hash.as_str()),
        &body.current_password,
    )
    .await?
    {
        return Err(AppError::Unauthorized(
            "the current password is wrong".into(),
        ));
    }
    if body.current_password == body.new_password {
        return Err(AppError::Validation(
            "new_password: must differ from the current password".into(),
        ));
    }
    let hash = hash_password(new.as_str()).await?;
    let now = time::rfc3339(platform::now());
    let ver = staff::set_password(&db, &me.tenant, &me.id, &hash, false, &now).await?;
    // Open dashboards of this account (including this one) reconnect with the new session.
    crate::rooms::hub::kick(&state.env, &me.tenant, &me.id).await;
    let member = active_member(&db, &me).await?;
    let token = issue(&cfg, &me.id, &me.tenant, me.role, ver)?;
    Ok(session_response(&token, &member))
}
