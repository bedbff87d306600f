//! Refusals: the JSON error body (`{"error", "field"?}`), 401 with its
//! challenge, 403 naming the role an action needs (audited), 429 with
//! `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mediator_core::access::{Principal, Role};

/// A refusal rendered as `{"error", "field"?, "required_role"?}`.
pub(super) fn refuse(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = mediator_wire::ErrorBody::new(message, field);
    let mut res = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"mediator\""),
        );
    }
    res
}

/// A refusal decided before any response exists; small to pass around.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, message: impl Into<String>, field: Option<&str>) -> Self {
        Refusal {
            status,
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        refuse(self.status, &self.message, self.field.as_deref())
    }
}

/// 403 naming the role an action needs (the commands' refusal, answered
/// as the JSON API answers every command's).
pub fn forbidden(required: Role, who: &Principal) -> Response {
    crate::api::ApiError::from(mediator_core::CommandError::forbidden(who, required))
        .into_response()
}

/// 429 with `Retry-After` (whole seconds, at least 1).
pub(super) fn too_many(message: &str, retry_after: std::time::Duration) -> Response {
    let mut res = refuse(StatusCode::TOO_MANY_REQUESTS, message, None);
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}
