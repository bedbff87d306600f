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
//! - `POST /api/v1/replays/{name}/cancel` → 202; 404 unknown, 409 already finished.
//! - `GET  /api/v1/replays/preview?part=&start=&end=` → `{"archived", "pending"}`.
//! - `GET  /api/v1/dlq?limit=&next_token=` → `{"vouchers": [{…, "reason", "dead_lettered_at"}], "next_token"?}`.
//! - `POST /api/v1/dlq/{loyalty_request_id}/redrive` → back to `retry`, resubmitted
//!   now; 404 unknown, 409 not dead-lettered.
//!
//! - `POST /api/v1/parts/{part}/override` `{"mode", "reason", "by"}` → 200
//!   `{"part", "override", "circuit"}`; sets (`none`: clears) the part's manual
//!   circuit override; 404 unknown part, 422 naming `mode` or `reason`.
//!
//! - `GET  /metrics` → Prometheus text format 0.0.4 (per part: up, circuit
//!   open, checks, vouchers by status, active replays).
//!
//! Starting a replay answers 409 while the part has an active replay, and
//! 422 (naming the field) for a bad window.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mediator_core::access::{Principal, Role, Via};
use mediator_core::audit::NewAuditEntry;
use mediator_core::datacache::FIND_LIMIT_MAX;
use mediator_core::recovery::RecoveryError;
use mediator_core::submit::FlowError;
use mediator_core::{
    CircuitOverride, OverrideError, OverrideRequest, Overrides, Recovery, ReplayRecord,
    SubmissionFlow, VoucherRecord, VoucherRef,
};
use serde_json::{json, Value};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The submission flow.
    pub flow: Arc<SubmissionFlow>,
    /// Recovery (replays and their progress).
    pub recovery: Arc<Recovery>,
    /// Manual circuit overrides.
    pub overrides: Overrides,
    /// The console's read models (uptime, timelines, incidents, counters, archives).
    pub history: mediator_core::History,
    /// The live-change hub (`/api/v1/stream`).
    pub changes: mediator_core::Changes,
    /// Cancelled at shutdown: ends open event streams.
    pub streams_stop: tokio_util::sync::CancellationToken,
    /// The audit log (replays, overrides, redrives, sign-ins…).
    pub audit: mediator_core::Audit,
    /// Users, sessions and API tokens.
    pub access: mediator_core::Access,
}

/// An API failure, rendered as `{"error", "field"?}` with its status.
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
    /// The part is not configured (404, naming `part`).
    #[error("part {0:?} is not configured")]
    UnknownPart(String),
    /// Conflicts with the current state (409), naming what it concerns.
    #[error("{reason}")]
    Conflict {
        /// The part or replay at issue.
        field: String,
        /// Why.
        reason: String,
    },
    /// Storage or bus failed (503).
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match &self {
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, Some("body".to_string())),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, Some("body".to_string())),
            ApiError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("content-type".to_string()),
            ),
            ApiError::Invalid { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field.clone()))
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            ApiError::UnknownPart(_) => (StatusCode::NOT_FOUND, Some("part".to_string())),
            ApiError::Conflict { field, .. } => (StatusCode::CONFLICT, Some(field.clone())),
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
            RecoveryError::UnknownVoucher(id) => {
                ApiError::NotFound(format!("voucher {id:?} not found"))
            }
            e @ RecoveryError::NotDeadLettered { .. } => ApiError::Conflict {
                field: "loyalty_request_id".into(),
                reason: e.to_string(),
            },
            e @ RecoveryError::Busy { .. } => ApiError::Conflict {
                field: "part".into(),
                reason: e.to_string(),
            },
            RecoveryError::Replay(mediator_core::ReplayError::NotFound(r)) => {
                ApiError::NotFound(format!("replay {r:?} not found"))
            }
            RecoveryError::Replay(e @ mediator_core::ReplayError::Finished(_)) => {
                ApiError::Conflict {
                    field: "name".into(),
                    reason: e.to_string(),
                }
            }
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
        .route("/api/v1/vouchers", get(get_vouchers).post(post_voucher))
        .route("/api/v1/vouchers/{id}", get(get_voucher))
        .route("/api/v1/replays", get(get_replays).post(post_replay))
        .route("/api/v1/replays/preview", get(get_preview))
        .route("/api/v1/replays/{name}", get(get_replay))
        .route("/api/v1/replays/{name}/cancel", post(post_cancel))
        .route("/api/v1/dlq", get(get_dlq))
        .route("/api/v1/dlq/{id}/redrive", post(post_redrive))
        .route("/api/v1/parts/{part}/override", post(post_override))
        .route("/metrics", get(get_metrics))
        .with_state(state)
}

fn body(payload: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    payload.map(|Json(v)| v).map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(crate::security::API_MAX_BODY_BYTES),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::NotJson,
        _ => ApiError::Malformed(format!("body: {}", e.body_text())),
    })
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

/// Vouchers matching a reference, newest first: the query gives `ref` (any of
/// the four references) or exactly one of `loyalty_request_id`,
/// `loyalty_reference`, `merchant_reference`, `loyalty_order_reference`;
/// `limit` (1..=100, default 20) and the `next_token` of the previous page.
/// `next_token` is returned while a page is full.
pub async fn search_vouchers(
    flow: &SubmissionFlow,
    query: &std::collections::HashMap<String, String>,
) -> Result<Value, ApiError> {
    let mut given = std::iter::once(("ref", VoucherRef::Any))
        .chain(VoucherRef::FIELDS)
        .filter_map(|(name, f)| query.get(name).map(|v| (name, f, v.trim())));
    let (name, field, value) = given.next().ok_or_else(|| ApiError::Invalid {
        field: "ref".into(),
        reason: "is required: give ref (any reference) or one of loyalty_request_id, \
                 loyalty_reference, merchant_reference, loyalty_order_reference"
            .into(),
    })?;
    if let Some((other, _, _)) = given.next() {
        return Err(ApiError::Invalid {
            field: other.into(),
            reason: format!("give only one reference to search by ({name} is given)"),
        });
    }
    if value.is_empty() {
        return Err(ApiError::Invalid {
            field: name.into(),
            reason: "must not be empty".into(),
        });
    }
    let limit = match query.get("limit") {
        None => 20,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=FIND_LIMIT_MAX).contains(n))
            .ok_or_else(|| ApiError::Invalid {
                field: "limit".into(),
                reason: format!("must be an integer between 1 and {FIND_LIMIT_MAX}"),
            })?,
    };
    let after = query
        .get("next_token")
        .map(|t| {
            t.split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| ApiError::Invalid {
                    field: "next_token".into(),
                    reason: "is not a token this API returned".into(),
                })
        })
        .transpose()?;
    let page = flow
        .cache()
        .find(field, value, after, limit)
        .await
        .map_err(unavailable)?;
    let mut out = json!({ "vouchers": page.iter().map(voucher_json).collect::<Vec<_>>() });
    if let (true, Some(last)) = (page.len() == limit, page.last()) {
        out["next_token"] = json!(format!(
            "{}.{}",
            last.received_at.timestamp_millis(),
            last.keys.loyalty_request_id
        ));
    }
    Ok(out)
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

/// An optional point in time.
type MaybeTime = Option<DateTime<Utc>>;

/// `{"part", "start"?, "end"?}` from a JSON object (body or query): the
/// part (required) and the RFC 3339 times, each error naming its field.
fn part_and_times(body: &Value) -> Result<(String, MaybeTime, MaybeTime), ApiError> {
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
    Ok((part, time("start")?, time("end")?))
}

/// What replaying `part`'s archive over `[start, end)` would touch.
pub async fn preview(recovery: &Recovery, query: &Value) -> Result<Value, ApiError> {
    let (part, start, end) = part_and_times(query)?;
    let start = start.ok_or_else(|| ApiError::Invalid {
        field: "start".into(),
        reason: "is required".into(),
    })?;
    let end = end.ok_or_else(|| ApiError::Invalid {
        field: "end".into(),
        reason: "is required".into(),
    })?;
    Ok(json!(recovery.preview(&part, start, end).await?))
}

/// One page of the dead-letter queue: `limit` (1–1000, default 100) vouchers
/// after `next_token` (the previous page's), oldest first.
pub async fn dlq_page(
    flow: &SubmissionFlow,
    limit: Option<&str>,
    next_token: Option<&str>,
) -> Result<Value, ApiError> {
    let limit = match limit {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::Invalid {
                field: "limit".into(),
                reason: "must be an integer between 1 and 1000".into(),
            })?,
    };
    let after = next_token
        .map(|t| {
            t.split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| ApiError::Invalid {
                    field: "next_token".into(),
                    reason: "is not a token this API returned".into(),
                })
        })
        .transpose()?;
    let page = flow
        .cache()
        .dead_lettered(after, limit + 1)
        .await
        .map_err(unavailable)?;
    let more = page.len() > limit;
    let items: Vec<&VoucherRecord> = page.iter().take(limit).collect();
    let mut out = json!({
        "vouchers": items.iter().map(|v| {
            let mut j = voucher_json(v);
            j["reason"] = json!(v.last_error);
            j["dead_lettered_at"] = json!(v.updated_at);
            j
        }).collect::<Vec<_>>()
    });
    if let (true, Some(last)) = (more, items.last()) {
        out["next_token"] = json!(format!(
            "{}.{}",
            last.updated_at.timestamp_millis(),
            last.keys.loyalty_request_id
        ));
    }
    Ok(out)
}

/// Redrives a dead-lettered voucher: back to `retry`, resubmitted now.
pub async fn redrive(s: &ApiState, id: &str) -> Result<Value, ApiError> {
    s.recovery.redrive(id).await?;
    voucher(&s.flow, id).await
}

/// Cancels a replay the mediator started.
pub async fn cancel_replay(recovery: &Recovery, name: &str) -> Result<Value, ApiError> {
    let r = recovery.cancel(name).await?;
    Ok(replay_view(recovery, r).await)
}

/// Starts a replay of `part`'s window (default: its latest replay interval),
/// recorded as started by the body's `by` (default `api`).
pub async fn start_replay(recovery: &Recovery, body: &Value) -> Result<Value, ApiError> {
    let (part, start, end) = part_and_times(body)?;
    let by = match body.get("by") {
        None | Some(Value::Null) => "api",
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(_) => {
            return Err(ApiError::Invalid {
                field: "by".into(),
                reason: "must be a non-empty string (who starts the replay)".into(),
            })
        }
    };
    let window = match (start, end) {
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
    let r = recovery.replay_again(&part, window, by).await?;
    Ok(replay_view(recovery, r).await)
}

/// The caller (put there by `auth::authenticate`), and the `by` it acts as:
/// its name when signed in, else the body's (sign-in off).
fn acting_body(who: &Principal, mut body: Value) -> Value {
    if who.via != Via::Open {
        if let Some(o) = body.as_object_mut() {
            o.insert("by".into(), json!(who.name));
        }
    }
    body
}

/// The body's optional `reason` text, for the audit log.
fn reason_of(body: &Value) -> Option<&str> {
    body.get("reason").and_then(Value::as_str)
}

async fn post_voucher(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    if let Err(refused) =
        crate::auth::require(&s.audit, &who, Role::Operator, "voucher.submit", "api").await
    {
        return Ok(refused);
    }
    let out = submit_voucher(&s.flow, &body(payload)?).await?;
    let status = if out["duplicate"] == json!(true) {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(out)).into_response())
}

async fn get_vouchers(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(search_vouchers(&s.flow, &q).await?))
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
    Extension(who): Extension<Principal>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = acting_body(&who, body(payload)?);
    let part = body
        .get("part")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Err(refused) =
        crate::auth::require(&s.audit, &who, Role::Operator, "replay.start", &part).await
    {
        return Ok(refused);
    }
    let out = start_replay(&s.recovery, &body).await;
    let detail = match &out {
        Ok(r) => {
            json!({ "replay": r["name"], "window_start": r["window_start"], "window_end": r["window_end"] })
        }
        Err(_) => json!({ "start": body.get("start"), "end": body.get("end") }),
    };
    s.audit
        .log(
            NewAuditEntry::new(&who, "replay.start")
                .target(part)
                .reason(reason_of(&body))
                .detail(detail)
                .result(&out),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(out?)).into_response())
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

async fn get_preview(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(preview(&s.recovery, &json!(q)).await?))
}

async fn post_cancel(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if let Err(refused) =
        crate::auth::require(&s.audit, &who, Role::Operator, "replay.cancel", &name).await
    {
        return Ok(refused);
    }
    let out = cancel_replay(&s.recovery, &name).await;
    s.audit
        .log(
            NewAuditEntry::new(&who, "replay.cancel")
                .target(name.as_str())
                .result(&out),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(out?)).into_response())
}

async fn get_dlq(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        dlq_page(
            &s.flow,
            q.get("limit").map(String::as_str),
            q.get("next_token").map(String::as_str),
        )
        .await?,
    ))
}

async fn post_redrive(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if let Err(refused) =
        crate::auth::require(&s.audit, &who, Role::Operator, "dlq.redrive", &id).await
    {
        return Ok(refused);
    }
    let out = redrive(&s, &id).await;
    s.audit
        .log(
            NewAuditEntry::new(&who, "dlq.redrive")
                .target(id.as_str())
                .result(&out),
        )
        .await;
    Ok(Json(out?).into_response())
}

impl From<OverrideError> for ApiError {
    fn from(e: OverrideError) -> Self {
        match e {
            OverrideError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            OverrideError::UnknownPart(p) => ApiError::UnknownPart(p),
            OverrideError::Store(e) => unavailable(e),
        }
    }
}

/// An override as JSON (`null` when none).
pub fn override_json(o: Option<&CircuitOverride>) -> Value {
    match o {
        None => Value::Null,
        Some(o) => json!({
            "mode": o.mode.as_str(),
            "reason": o.reason,
            "by": o.by,
            "at": o.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    }
}

fn circuit_name(closed: bool) -> &'static str {
    if closed {
        "closed"
    } else {
        "open"
    }
}

/// Sets (or clears) a part's circuit override from a request body.
pub async fn set_override(
    overrides: &Overrides,
    part: &str,
    body: &Value,
) -> Result<Value, ApiError> {
    let req = OverrideRequest::parse(body)?;
    let o = overrides.set(part, req, Utc::now()).await?;
    let closed = overrides
        .circuits()
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|(p, _, _)| p.as_str() == part)
        .is_none_or(|(_, _, c)| c);
    Ok(json!({
        "part": part,
        "override": override_json(o.as_ref()),
        "circuit": circuit_name(closed),
    }))
}

/// Adds each part's `override` and effective `circuit` to the overview JSON.
pub async fn with_overrides(overrides: &Overrides, mut overview: Value) -> Result<Value, ApiError> {
    let circuits = overrides.circuits().await.map_err(unavailable)?;
    if let Some(parts) = overview.get_mut("parts").and_then(Value::as_array_mut) {
        for p in parts {
            let Some((_, o, closed)) = circuits
                .iter()
                .find(|(name, _, _)| p["name"] == name.as_str())
            else {
                continue;
            };
            p["override"] = override_json(o.as_ref());
            p["circuit"] = json!(circuit_name(*closed));
        }
    }
    Ok(overview)
}

async fn post_override(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(part): Path<String>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = acting_body(&who, body(payload)?);
    let mode = body
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let action = if mode == "none" {
        "override.clear"
    } else {
        "override.set"
    };
    if let Err(refused) = crate::auth::require(&s.audit, &who, Role::Operator, action, &part).await
    {
        return Ok(refused);
    }
    let out = set_override(&s.overrides, &part, &body).await;
    s.audit
        .log(
            NewAuditEntry::new(&who, action)
                .target(part.as_str())
                .reason(reason_of(&body))
                .detail(json!({ "mode": mode }))
                .result(&out),
        )
        .await;
    Ok(Json(out?).into_response())
}

/// The metrics page in the text exposition format.
pub async fn metrics_text(s: &ApiState) -> Result<String, ApiError> {
    let parts = mediator_core::metrics::collect(
        s.flow.cache(),
        &s.recovery,
        &s.overrides,
        s.history.monitor_history(),
    )
    .await?;
    Ok(mediator_core::metrics::render(&parts))
}

async fn get_metrics(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let text = metrics_text(&s).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
