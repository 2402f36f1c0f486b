//! `POST /api/v1/auth/login {"email","password"}` → `{"token","staff":{…}}`: a JWT (HS256, `JWT_SECRET`; claims
//! `sub`, `tenant`, `role`, `exp`). When tenant `default` has no staff yet, the owner is created from
//! `ADMIN_EMAIL`/`ADMIN_PASSWORD` first. Passwords are stored only as salted PBKDF2-SHA256 hashes (WebCrypto).
//! Wrong e-mail or password → 401 `unauthorized` with the same message for both.

use super::extract::{context, ApiJson};
use super::AppState;
use crate::domain::auth::{self, PasswordHash, StaffClaims, PBKDF2_ITERATIONS};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::jobs::mailbox::DEFAULT_TENANT;
use crate::platform;
use crate::storage::staff;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

/// `POST /api/v1/auth/login` (no authentication).
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/login", post(login))
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

#[worker::send]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Login>,
) -> AppResult<Json<serde_json::Value>> {
    let (cfg, db) = context(&state)?;
    let secret = cfg.jwt_secret()?.to_string();
    let email = body.email.trim().to_lowercase();
    if email.is_empty() || body.password.is_empty() {
        return Err(AppError::Validation(
            "email and password are required".into(),
        ));
    }
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
    let denied = || AppError::Unauthorized("wrong e-mail or password".into());
    let row = staff::by_email(&db, &email).await?;
    // Derive a hash even for an unknown account, so response time does not tell which e-mails exist.
    let stored = row
        .as_ref()
        .and_then(|r| PasswordHash::parse(&r.password_hash))
        .unwrap_or(PasswordHash {
            iterations: PBKDF2_ITERATIONS,
            salt: vec![0; 16],
            hash: vec![0; 32],
        });
    let derived = platform::pbkdf2_sha256(&body.password, &stored.salt, stored.iterations).await?;
    let row = row
        .filter(|r| r.status == "active" && stored.matches(&derived))
        .ok_or_else(denied)?;
    let claims = StaffClaims {
        sub: row.staff_id.clone(),
        tenant: row.tenant_id.clone(),
        role: row.role,
    };
    let token = auth::issue(secret.as_bytes(), claims, platform::now())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Json(serde_json::json!({
        "token": token,
        "expires_in": auth::TOKEN_TTL_SECONDS,
        "staff": {"staff_id": row.staff_id, "email": row.email, "name": row.name, "role": row.role, "tenant": row.tenant_id},
    })))
}
