//! The JSON API's one failure type and how a request body is read: a body
//! that is not JSON, too large or not sent as JSON, or a command's refusal,
//! each answered with its status and `{"error", "field"?}`.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mediator_core::commands::CommandError;
use mediator_core::recovery::RecoveryError;
use mediator_wire::ErrorBody;
use serde_json::Value;

/// An API failure, rendered as `{"error", "field"?}` with its status: the
/// request could not be read as JSON, or a command (or read) refused it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (400).
    #[error("{0}")]
    Malformed(String),
    /// The body is larger than the limit (413, naming `body`).
    #[error("body: must be at most {0} bytes")]
    TooLarge(usize),
    /// The body is not sent as `application/json` (415, naming `content-type`).
    #[error("content-type: must be application/json")]
    NotJson,
    /// Refused by a command or a read: its own status and body
    /// ([`CommandError::http_status`], [`CommandError::body`]).
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match self {
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "body"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "body"),
            ApiError::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "content-type"),
            ApiError::Command(e) => return command_refusal(&e),
        };
        let body = ErrorBody::new(self.to_string(), Some(field));
        (status, Json(body)).into_response()
    }
}

/// A command's refusal as an HTTP answer; a refused role also names the
/// role needed in `X-Required-Role`, a refusal for asking too soon the
/// seconds to wait in `Retry-After`.
fn command_refusal(e: &CommandError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, Json(e.body())).into_response();
    if let CommandError::Forbidden { required, .. } = e {
        res.headers_mut().insert(
            "x-required-role",
            axum::http::HeaderValue::from_static(required.as_str()),
        );
    }
    if let Some(secs) = e.retry_after_secs() {
        res.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    res
}

impl From<RecoveryError> for ApiError {
    fn from(e: RecoveryError) -> Self {
        CommandError::from(e).into()
    }
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> ApiError {
    CommandError::unavailable(e).into()
}

pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    CommandError::invalid(field, reason).into()
}

pub(crate) fn not_found(what: String) -> ApiError {
    CommandError::not_found(what).into()
}

/// The request's JSON body, or why it cannot be read (400, 413, 415).
pub(crate) fn body(payload: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    payload.map(|Json(v)| v).map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(crate::security::API_MAX_BODY_BYTES),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::NotJson,
        _ => ApiError::Malformed(format!("body: {}", e.body_text())),
    })
}
