//! The JSON API of the submission flow and recovery: thin axum handlers
//! over plain async functions (which tests and, later, the console's server
//! functions call directly).
//!
//! - `POST /api/v1/vouchers` → 202 `{voucher…, "duplicate"}`; 4xx `{"error", "field"}`.
//! - `GET  /api/v1/vouchers/{loyalty_request_id}` → the voucher and its `lifecycle`.
//! - `GET  /api/v1/replays` → the replays the mediator started, newest first.
//! - `POST /api/v1/replays` `{"part", "start"?, "end"?}` → 202, replays a window
//!   (default: the part's latest replay interval) to the part's resubmit rule.
//! - `GET  /api/v1/replays/{name}` → the replay's state, cursor and progress.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mediator_core::recovery::RecoveryError;
use mediator_core::submit::FlowError;
use mediator_core::{Recovery, ReplayRecord, SubmissionFlow, VoucherRecord};
use serde_json::{json, Value};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The submission flow.
    pub flow: Arc<SubmissionFlow>,
    /// Recovery (replays and their progress).
    pub recovery: Arc<Recovery>,
}

/// An API failure, rendered as `{"error", "field"?}` with its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (400).
    #[error("{0}")]
    Malformed(String),
    /// A field is invalid (422), named.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// Not found (404).
    #[error("{0}")]
    NotFound(String),
    /// Storage or bus failed (503).
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match &self {
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, Some("body".to_string())),
            ApiError::Invalid { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field.clone()))
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
        };
        let mut body = json!({ "error": self.to_string() });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        (status, Json(body)).into_response()
    }
}

impl From<RecoveryError> for ApiError {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            RecoveryError::Replay(mediator_core::ReplayError::Rejected(r)) => ApiError::Invalid {
                field: "start".into(),
                reason: r,
            },
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

/// The routes, to merge into the main router.
pub fn routes<S>(state: ApiState) -> Router<S> {
    Router::new()
        .route("/api/v1/vouchers", post(post_voucher))
        .route("/api/v1/vouchers/{id}", get(get_voucher))
        .route("/api/v1/replays", get(get_replays).post(post_replay))
        .route("/api/v1/replays/{name}", get(get_replay))
        .with_state(state)
}

fn body(payload: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    payload
        .map(|Json(v)| v)
        .map_err(|e| ApiError::Malformed(format!("body: {}", e.body_text())))
}

fn voucher_json(v: &VoucherRecord) -> Value {
    json!({
        "loyalty_request_id": v.keys.loyalty_request_id,
        "part": v.part,
        "status": v.status,
        "loyalty_reference": v.keys.loyalty_reference,
        "merchant_reference": v.keys.merchant_reference,
        "loyalty_order_reference": v.keys.loyalty_order_reference,
        "attempts": v.attempts,
        "received_at": v.received_at,
        "updated_at": v.updated_at,
        "last_error": v.last_error,
    })
}

/// Accepts a voucher: validates it, stores it and runs the submission flow.
pub async fn submit_voucher(flow: &SubmissionFlow, body: &Value) -> Result<Value, ApiError> {
    let accepted = flow.accept_json(body).await.map_err(|e| match e {
        FlowError::Invalid(v) => ApiError::Invalid {
            field: v.field,
            reason: v.reason,
        },
        FlowError::Store(s) => unavailable(s),
    })?;
    let mut out = voucher_json(&accepted.voucher);
    out["duplicate"] = json!(accepted.duplicate);
    Ok(out)
}

/// A voucher with its lifecycle.
pub async fn voucher(flow: &SubmissionFlow, id: &str) -> Result<Value, ApiError> {
    let v = flow
        .cache()
        .get(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("voucher {id:?} not found")))?;
    let mut out = voucher_json(&v);
    out["lifecycle"] = json!(flow.cache().lifecycle(id).await.map_err(unavailable)?);
    Ok(out)
}

/// A replay with the bus's state and cursor next to our progress.
pub async fn replay_view(recovery: &Recovery, r: ReplayRecord) -> Value {
    let mut out = json!(r);
    match recovery.replay_state(&r.name).await {
        Ok(Some(info)) => {
            for (k, v) in json!(info).as_object().into_iter().flatten() {
                out[k] = v.clone();
            }
        }
        Ok(None) => out["state"] = json!(if r.started { "UNKNOWN" } else { "NOT_STARTED" }),
        Err(e) => {
            out["state"] = json!("UNKNOWN");
            out["state_reason"] = json!(e.to_string());
        }
    }
    out
}

/// Starts a replay of `part`'s window (default: its latest replay interval).
pub async fn start_replay(recovery: &Recovery, body: &Value) -> Result<Value, ApiError> {
    let text = |f: &'static str| -> Result<Option<String>, ApiError> {
        match body.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::Invalid {
                field: f.into(),
                reason: "must be a string".into(),
            }),
        }
    };
    let time = |f: &'static str| -> Result<Option<DateTime<Utc>>, ApiError> {
        text(f)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| ApiError::Invalid {
                        field: f.into(),
                        reason: "must be an RFC 3339 time".into(),
                    })
            })
            .transpose()
    };
    if !body.is_object() {
        return Err(ApiError::Invalid {
            field: "body".into(),
            reason: "must be a JSON object".into(),
        });
    }
    let part = text("part")?.ok_or_else(|| ApiError::Invalid {
        field: "part".into(),
        reason: "is required".into(),
    })?;
    let window = match (time("start")?, time("end")?) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ApiError::Invalid {
                field: "start".into(),
                reason: "is required with end".into(),
            })
        }
        (Some(_), None) => {
            return Err(ApiError::Invalid {
                field: "end".into(),
                reason: "is required with start".into(),
            })
        }
    };
    let r = recovery.replay_again(&part, window).await?;
    Ok(replay_view(recovery, r).await)
}

async fn post_voucher(
    State(s): State<ApiState>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let out = submit_voucher(&s.flow, &body(payload)?).await?;
    let status = if out["duplicate"] == json!(true) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(out)).into_response())
}

async fn get_voucher(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(voucher(&s.flow, &id).await?))
}

async fn get_replays(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for r in s.recovery.list_replays(100).await.map_err(unavailable)? {
        out.push(replay_view(&s.recovery, r).await);
    }
    Ok(Json(json!({ "replays": out })))
}

async fn post_replay(
    State(s): State<ApiState>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let out = start_replay(&s.recovery, &body(payload)?).await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

async fn get_replay(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = s
        .recovery
        .replay(&name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("replay {name:?} not found")))?;
    Ok(Json(replay_view(&s.recovery, r).await))
}
