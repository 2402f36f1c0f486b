//! Extractors that parse at the boundary and fail with [`AppError`] (so every rejection is JSON):
//! [`Staff`] (a verified bearer token), [`ApiJson`] and [`ApiQuery`].

use super::AppState;
use crate::config::Config;
use crate::domain::auth::{self, StaffClaims};
use crate::error::AppError;
use crate::platform;
use crate::storage::{staff, Db};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Largest JSON body accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Configuration and database of a request.
pub fn context(state: &AppState) -> Result<(Config, Db), AppError> {
    let cfg = Config::from_env(&state.env)?;
    let db = Db::new(state.env.d1("DB")?);
    Ok((cfg, db))
}

/// The authenticated staff member: `Authorization: Bearer <jwt>` verified (HS256 with `JWT_SECRET`,
/// unexpired), and the account still active in its tenant. Otherwise 401.
#[derive(Debug, Clone)]
pub struct Staff(pub StaffClaims);

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::Unauthorized("missing Authorization: Bearer token".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
            })?
            .trim()
            .to_string();
        let state = state.clone();
        worker::send::SendFuture::new(async move {
            let (cfg, db) = context(&state)?;
            let claims = auth::verify(cfg.jwt_secret()?.as_bytes(), &token, platform::now())
                .map_err(|e| AppError::Unauthorized(e.to_string()))?;
            let role = staff::active_role(&db, &claims.tenant, &claims.sub)
                .await?
                .ok_or_else(|| AppError::Unauthorized("the account is not active".into()))?;
            // The stored role wins over the token's: a demoted admin loses admin routes at once.
            Ok(Staff(StaffClaims { role, ..claims }))
        })
        .await
    }
}

/// A JSON body parsed into `T`; malformed JSON → 400, wrong shape or values → 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(format!("could not read the body: {e}")))?;
        if bytes.len() > MAX_JSON_BYTES {
            return Err(AppError::BadRequest(format!(
                "the body is larger than {MAX_JSON_BYTES} bytes"
            )));
        }
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                AppError::BadRequest(format!("the body is not valid JSON: {e}"))
            } else {
                AppError::Validation(e.to_string())
            }
        })
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
