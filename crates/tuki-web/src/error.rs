//! The one place where failures become HTTP answers.
//!
//! Handlers return `Result<_, AppError>`. Store errors convert with `?`; the
//! mapping below decides the status. Every error body has the same shape:
//! `{"error": {"code": ..., "message": ..., "field": ...}}`. Internal errors
//! are logged with their cause and answered with a generic message, so no
//! detail of the engine or the code leaks.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tuki_store::StoreError;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `invalid`, `malformed`, `unsupported_media_type`,
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`, `transition_not_allowed`,
    /// `payload_too_large`, `method_not_allowed`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// The input the error is about, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    /// A rate limit was reached (the website widget).
    #[error("too many requests")]
    TooManyRequests,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<tuki_domain::ValidationError> for AppError {
    fn from(e: tuki_domain::ValidationError) -> Self {
        AppError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// How a store error is answered: its status and stable code, the same for
/// the API and the pages (which add a message in the viewer's language).
pub fn status_of(e: &StoreError) -> (StatusCode, &'static str) {
    match e {
        StoreError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        StoreError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        StoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
        StoreError::Transition(_) => (StatusCode::CONFLICT, "transition_not_allowed"),
        StoreError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
        StoreError::QuotaExceeded { .. } => (StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded"),
        StoreError::FileUnavailable { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, "file_unavailable")
        }
        StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Files(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = match self {
            AppError::Invalid { field, message } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                message,
                Some(field),
            ),
            AppError::Malformed(m) => (StatusCode::BAD_REQUEST, "malformed", m, None),
            AppError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json".into(),
                None,
            ),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid token is required: Authorization: Bearer <token>".into(),
                None,
            ),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m, None),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".into(), None),
            AppError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here".into(),
                None,
            ),
            AppError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large".into(),
                None,
            ),
            AppError::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests from this address; try again later".into(),
                None,
            ),
            AppError::Store(e) => {
                let (status, code) = status_of(&e);
                let (message, field) = match e {
                    StoreError::Invalid(v) => (v.message, Some(v.field)),
                    StoreError::NotFound => ("not found".into(), None),
                    StoreError::Forbidden(m) => (m, None),
                    StoreError::Conflict { field, message } => (message, field),
                    StoreError::Transition(t) => (t.to_string(), Some("state".to_string())),
                    e @ StoreError::TooLarge { .. } => (e.to_string(), Some("file".to_string())),
                    e @ StoreError::QuotaExceeded { .. } => (e.to_string(), None),
                    StoreError::FileUnavailable { damage, .. } => (
                        format!(
                            "the stored file is {}; the administrators have been told",
                            damage.as_str()
                        ),
                        None,
                    ),
                    e @ (StoreError::Database(_)
                    | StoreError::Migrate(_)
                    | StoreError::Files(_)) => {
                        tracing::error!(error = %e, "internal error");
                        (
                            "something went wrong on our side; it has been logged".into(),
                            None,
                        )
                    }
                };
                (status, code, message, field)
            }
        };
        let mut res = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    field,
                },
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

pub type ApiResult<T> = Result<T, AppError>;
