//! The one error type of the HTTP API and the jobs, mapped to HTTP in one place ([`AppError::into_response`]).
//!
//! Every error answers `{"error":{"code","message"}}` with its status. Internal details (D1 errors, vendor
//! bodies) are logged, never sent to the client.

use crate::config::ConfigError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failure of the API or the jobs. Each variant has one HTTP status and stable `error.code`
/// ([`AppError::status_and_code`]); the message is the `error.message` (except for [`AppError::Internal`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 `bad_request`: unparseable JSON, query or path.
    #[error("{0}")]
    BadRequest(String),
    /// 401 `unauthorized`: missing, malformed, expired or badly signed credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 405 `method_not_allowed`: the route exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 403 `forbidden`: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 422 `validation_failed`: well-formed but invalid; the message names the field.
    #[error("{0}")]
    Validation(String),
    /// 429 `rate_limited`: too many attempts; retry after the given number of seconds (`Retry-After`).
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u32,
    },
    /// A CRM vendor's failure with its own status and code: 502 `crm_auth_failed` (credentials refused),
    /// 503 `crm_rate_limited` (with `Retry-After`), 504 `crm_timeout`, 502 `crm_error`.
    #[error("{message}")]
    Vendor {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: &'static str,
        /// Safe message (never the vendor's body or a secret).
        message: String,
        /// Seconds for `Retry-After`.
        retry_after_secs: Option<u32>,
    },
    /// 500 `config_error`: a missing or invalid var or secret, named in the message.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// 502 `upstream_error`: a vendor (Gmail, Google OAuth, LLM) failed; the message names the vendor only.
    #[error("{0}")]
    Upstream(String),
    /// 500 `internal`: logged with detail, answered without it.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// HTTP status and the stable error `code` of the JSON body.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Vendor { status, code, .. } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
                code,
            ),
            AppError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "config_error"),
            AppError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<crate::domain::ticket::ParseError> for AppError {
    /// An unknown status, priority, category… is 422 naming the field and the allowed values.
    fn from(e: crate::domain::ticket::ParseError) -> Self {
        AppError::Validation(e.to_string())
    }
}

impl From<crate::domain::fields::InvalidField> for AppError {
    /// A field that failed validation is 422 naming it.
    fn from(e: crate::domain::fields::InvalidField) -> Self {
        AppError::Validation(e.to_string())
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(format!("JSON: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Internal(detail) => {
                worker::console_error!("internal error: {detail}");
                "internal error; see the worker log".to_string()
            }
            other => other.to_string(),
        };
        let mut res = (
            status,
            Json(serde_json::json!({"error": {"code": code, "message": message}})),
        )
            .into_response();
        let retry = match self {
            AppError::RateLimited {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            AppError::Vendor {
                retry_after_secs, ..
            } => retry_after_secs,
            _ => None,
        };
        if let Some(secs) = retry {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

/// Result with [`AppError`].
pub type AppResult<T> = Result<T, AppError>;
