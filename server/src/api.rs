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
//! Starting a replay answers 409 while the part has an active replay, and
//! 422 (naming the field) for a bad window.
//!
//! The handlers that change state are shells over `mediator_core::commands`
//! (role check, policy, action, audit): they parse the request, call the
//! command and shape its answer; refusals are `CommandError`s, answered
//! with their one status and `{"error", "field"?}` body.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mediator_core::access::Principal;
use mediator_core::commands::overrides::{OverrideChange, OverrideSet};
use mediator_core::commands::replays::{ReplayAsk, StartReplay};
use mediator_core::commands::vouchers::{Submission, VoucherDetail};
use mediator_core::commands::{self, CommandError};
use mediator_core::datacache::FIND_LIMIT_MAX;
use mediator_core::recovery::RecoveryError;
use mediator_core::{
    CircuitOverride, OverrideRequest, Overrides, Recovery, ReplayRecord, SubmissionFlow,
    VoucherRecord, VoucherRef,
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
        let body = json!({ "error": self.to_string(), "field": field });
        (status, Json(body)).into_response()
    }
}

/// A command's refusal as an HTTP answer; a refused role also names the
/// role needed in `X-Required-Role`.
fn command_refusal(e: &CommandError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, Json(e.body())).into_response();
    if let CommandError::Forbidden { required, .. } = e {
        res.headers_mut().insert(
            "x-required-role",
            axum::http::HeaderValue::from_static(required.as_str()),
        );
    }
    res
}

impl From<RecoveryError> for ApiError {
    fn from(e: RecoveryError) -> Self {
        CommandError::from(e).into()
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    CommandError::unavailable(e).into()
}

fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
    CommandError::invalid(field, reason).into()
}

fn not_found(what: String) -> ApiError {
    CommandError::not_found(what).into()
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
    let (name, field, value) = given.next().ok_or_else(|| {
        invalid(
            "ref",
            "is required: give ref (any reference) or one of loyalty_request_id, \
                 loyalty_reference, merchant_reference, loyalty_order_reference",
        )
    })?;
    if let Some((other, _, _)) = given.next() {
        return Err(invalid(
            other,
            format!("give only one reference to search by ({name} is given)"),
        ));
    }
    if value.is_empty() {
        return Err(invalid(name, "must not be empty"));
    }
    let limit = match query.get("limit") {
        None => 20,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=FIND_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    format!("must be an integer between 1 and {FIND_LIMIT_MAX}"),
                )
            })?,
    };
    let after = query
        .get("next_token")
        .map(|t| {
            t.split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| invalid("next_token", "is not a token this API returned"))
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

/// An accepted voucher as the API answers it: the voucher and `duplicate`.
fn submitted_json(accepted: &mediator_core::submit::Accepted) -> Value {
    let mut out = voucher_json(&accepted.voucher);
    out["duplicate"] = json!(accepted.duplicate);
    out
}

/// A voucher with its lifecycle, as the API answers it.
fn detail_json(d: &VoucherDetail) -> Value {
    let mut out = voucher_json(&d.voucher);
    out["lifecycle"] = json!(d.lifecycle);
    out
}

/// A voucher with its lifecycle.
pub async fn voucher(flow: &SubmissionFlow, id: &str) -> Result<Value, ApiError> {
    Ok(detail_json(
        &commands::vouchers::detail(flow.cache(), id).await?,
    ))
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
fn part_and_times(body: &Value) -> Result<(String, MaybeTime, MaybeTime), CommandError> {
    let text = |f: &'static str| -> Result<Option<String>, CommandError> {
        match body.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(CommandError::invalid(f, "must be a string")),
        }
    };
    let time = |f: &'static str| -> Result<Option<DateTime<Utc>>, CommandError> {
        text(f)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| CommandError::invalid(f, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    if !body.is_object() {
        return Err(CommandError::invalid("body", "must be a JSON object"));
    }
    let part = text("part")?.ok_or_else(|| CommandError::invalid("part", "is required"))?;
    Ok((part, time("start")?, time("end")?))
}

/// What replaying `part`'s archive over `[start, end)` would touch.
pub async fn preview(recovery: &Recovery, query: &Value) -> Result<Value, ApiError> {
    let (part, start, end) = part_and_times(query)?;
    let start = start.ok_or_else(|| invalid("start", "is required"))?;
    let end = end.ok_or_else(|| invalid("end", "is required"))?;
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
            .ok_or_else(|| invalid("limit", "must be an integer between 1 and 1000"))?,
    };
    let after = next_token
        .map(|t| {
            t.split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| invalid("next_token", "is not a token this API returned"))
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

/// The replay a `POST /api/v1/replays` body asks for: `{"part", "start"?,
/// "end"?, "by"?}`, the window both or neither (default: the part's latest
/// replay interval), `by` defaulting to `api`; each error names its field.
fn start_request(body: &Value) -> Result<StartReplay, CommandError> {
    let (_, start, end) = part_and_times(body)?;
    let by = match body.get("by") {
        None | Some(Value::Null) => "api",
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        Some(_) => {
            return Err(CommandError::invalid(
                "by",
                "must be a non-empty string (who starts the replay)",
            ))
        }
    };
    let window = match (start, end) {
        (Some(s), Some(e)) => Some((s, e)),
        (None, None) => None,
        (None, Some(_)) => return Err(CommandError::invalid("start", "is required with end")),
        (Some(_), None) => return Err(CommandError::invalid("end", "is required with start")),
    };
    Ok(StartReplay {
        window,
        by: by.to_owned(),
    })
}

/// The body as the caller (put there by `auth::authenticate`) acts: its
/// `by` is the caller's name when signed in, else the body's (sign-in off).
fn acting_body(who: &Principal, mut body: Value) -> Value {
    if let (Some(name), Some(o)) = (commands::signed_in_name(who), body.as_object_mut()) {
        o.insert("by".into(), json!(name));
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
    let body = match body(payload) {
        Ok(body) => body,
        Err(unreadable) => {
            // The role is checked before the body is, as for any request.
            commands::vouchers::authorize_api_submission(&s.audit, &who).await?;
            return Err(unreadable);
        }
    };
    let accepted =
        commands::vouchers::submit(&s.flow, &s.audit, &who, Submission::api(Ok(body))).await?;
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(submitted_json(&accepted))).into_response())
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
    let ask = ReplayAsk {
        part: body
            .get("part")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        reason: reason_of(&body).map(str::to_owned),
        start: body.get("start").cloned().unwrap_or(Value::Null),
        end: body.get("end").cloned().unwrap_or(Value::Null),
    };
    let r =
        commands::replays::start(&s.recovery, &s.audit, &who, ask, start_request(&body)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(replay_view(&s.recovery, r).await),
    )
        .into_response())
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
        .ok_or_else(|| not_found(format!("replay {name:?} not found")))?;
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
    let r = commands::replays::cancel(&s.recovery, &s.audit, &who, &name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(replay_view(&s.recovery, r).await),
    )
        .into_response())
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
    let d = commands::vouchers::redrive(&s.flow, &s.recovery, &s.audit, &who, &id).await?;
    Ok(Json(detail_json(&d)).into_response())
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

/// A part's override after a change, as the API answers it.
fn override_answer(part: &str, set: &OverrideSet) -> Value {
    json!({
        "part": part,
        "override": override_json(set.current.as_ref()),
        "circuit": circuit_name(set.closed),
    })
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
    let change = OverrideChange {
        part: part.clone(),
        mode: body
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        reason: reason_of(&body).map(str::to_owned),
        request: OverrideRequest::parse(&body).map_err(CommandError::from),
    };
    let set = commands::overrides::set(&s.overrides, &s.audit, &who, change).await?;
    Ok(Json(override_answer(&part, &set)).into_response())
}
