//! The JSON API of the submission flow and recovery: thin axum handlers
//! over plain async functions (which tests and, later, the console's server
//! functions call directly).
//!
//! - `POST /api/v1/vouchers` → 202 `{voucher…, "duplicate"}`; 4xx `{"error", "field"}`.
//! - `GET  /api/v1/vouchers?ref=…` or `?part=&status=&from=&to=&min_attempts=` →
//!   `{"vouchers", "next_token"?}`, by reference or by filter, newest first.
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
//! - `/api/v1/dlq/redrives…` and `/api/v1/dlq/export`: the queue in bulk
//!   (handlers in [`crate::api_dlq`]).
//!
//! - `POST /api/v1/parts/{part}/override` `{"mode", "reason", "by"}` → 200
//!   `{"part", "override", "circuit"}`; sets (`none`: clears) the part's manual
//!   circuit override; 404 unknown part, 422 naming `mode` or `reason`.
//!
//! - `GET|POST /api/v1/parts/{part}/maintenance`, `DELETE …/maintenance/{id}`:
//!   the part's maintenance windows (handlers in [`crate::api_maintenance`]).
//!
//! - `GET  /api/v1/notifications?limit=` → the channels and the newest deliveries.
//! - `POST /api/v1/notifications/{channel}/test` → 202, a test queued
//!   for the channel (admin); 404 unknown channel.
//!
//! Starting a replay answers 409 while the part has an active replay, and
//! 422 (naming the field) for a bad window.
//!
//! The handlers that change state are shells over `mediator_core::commands`
//! (role check, policy, action, audit): they parse the request, call the
//! command and shape its answer; refusals are `CommandError`s, answered
//! with their one status and `{"error", "field"?}` body.
//!
//! Every answer is a typed value of `mediator_wire` (converted from the
//! model there), and each handler carries its `#[utoipa::path]`: the
//! OpenAPI document ([`crate::openapi`]) is built from these handlers and
//! those types, so it describes what is served.

use crate::api_dlq::{
    get_bulk_redrive, get_bulk_redrives as bulk_list, get_dlq_export, post_bulk_cancel,
    post_bulk_redrive as bulk_start,
};
pub use crate::api_error::ApiError;
use crate::api_error::{body, invalid, not_found, unavailable};
use crate::api_maintenance::{delete_maintenance, get_maintenance, post_maintenance};
pub use crate::api_state::ApiState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Extension;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use mediator_core::access::Principal;
use mediator_core::commands::overrides::OverrideChange;
use mediator_core::commands::replays::{ReplayAsk, StartReplay};
use mediator_core::commands::vouchers::Submission;
use mediator_core::commands::{self, CommandError};
use mediator_core::datacache::FIND_LIMIT_MAX;
use mediator_core::{
    OverrideRequest, Overrides, Recovery, ReplayRecord, SubmissionFlow, VoucherFilter, VoucherRef,
};
use mediator_wire::convert::circuit_name;
use mediator_wire::{
    DlqPage, ErrorBody, Override, OverrideRequest as OverrideRequestBody, OverrideResult, Overview,
    Preview, Replay, ReplayList, ReplayRequest, SubmittedVoucher,
    VoucherDetail as VoucherDetailBody, VoucherListQuery, VoucherRequest, VoucherSearch,
};
use serde_json::{json, Value};

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
        .route("/api/v1/dlq/redrives", get(bulk_list).post(bulk_start))
        .route("/api/v1/dlq/redrives/{id}", get(get_bulk_redrive))
        .route("/api/v1/dlq/redrives/{id}/cancel", post(post_bulk_cancel))
        .route("/api/v1/dlq/export", get(get_dlq_export))
        .route("/api/v1/parts/{part}/override", post(post_override))
        .route("/api/v1/parts/{part}/check", post(post_check))
        .route(
            "/api/v1/parts/{part}/maintenance",
            get(get_maintenance).post(post_maintenance),
        )
        .route(
            "/api/v1/parts/{part}/maintenance/{id}",
            delete(delete_maintenance),
        )
        .route("/api/v1/notifications", get(get_notifications))
        .route("/api/v1/notifications/{channel}/test", post(test_channel))
        .with_state(state)
}

/// Vouchers matching a reference, or passing a filter, newest received
/// first. With a reference: `ref` (any of the four references) or exactly
/// one of `loyalty_request_id`, `loyalty_reference`, `merchant_reference`,
/// `loyalty_order_reference`. Without one: the filter's `part`, `status`
/// (comma-separated), `from`, `to` (received in `[from, to)`, RFC 3339) and
/// `min_attempts`, all optional ([`VoucherFilter::parse`]); a filter does
/// not combine with a reference. `limit` (1..=100, default 20) and the
/// `next_token` of the previous page; `next_token` is returned while a
/// reference's page is full, and while a filtered list has more.
pub async fn search_vouchers(
    flow: &SubmissionFlow,
    query: &std::collections::HashMap<String, String>,
) -> Result<VoucherSearch, ApiError> {
    let mut given = std::iter::once(("ref", VoucherRef::Any))
        .chain(VoucherRef::FIELDS)
        .filter_map(|(name, f)| query.get(name).map(|v| (name, f, v.trim())));
    let Some((name, field, value)) = given.next() else {
        return list_vouchers(flow, query).await;
    };
    if let Some((other, _, _)) = given.next() {
        return Err(invalid(
            other,
            format!("give only one reference to search by ({name} is given)"),
        ));
    }
    if let Some(f) = VoucherListQuery::FIELDS
        .iter()
        .find(|f| query.get(**f).is_some_and(|v| !v.trim().is_empty()))
    {
        return Err(invalid(
            f,
            format!("filters list vouchers without a reference: give {f} or {name}, not both"),
        ));
    }
    if value.is_empty() {
        return Err(invalid(name, "must not be empty"));
    }
    let limit = page_limit(query)?;
    let after = after_token(query.get("next_token").map(String::as_str))?;
    let page = flow
        .cache()
        .find(field, value, after, limit)
        .await
        .map_err(unavailable)?;
    Ok(VoucherSearch::found(&page, page.len() == limit))
}

/// The vouchers the query's filter passes (every voucher without one),
/// newest received first: one page and, while more follow, its `next_token`.
async fn list_vouchers(
    flow: &SubmissionFlow,
    query: &std::collections::HashMap<String, String>,
) -> Result<VoucherSearch, ApiError> {
    let filter = VoucherFilter::parse(|f| query.get(f).map(String::as_str), flow.parts())
        .map_err(CommandError::from)?;
    let limit = page_limit(query)?;
    let after = after_token(query.get("next_token").map(String::as_str))?;
    let page = flow
        .cache()
        .list(&filter, after, limit)
        .await
        .map_err(unavailable)?;
    Ok((&page).into())
}

/// A voucher list's `limit`: 1..=100, default 20 (refused naming `limit`).
fn page_limit(query: &std::collections::HashMap<String, String>) -> Result<usize, ApiError> {
    match query.get("limit") {
        None => Ok(20),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=FIND_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    format!("must be an integer between 1 and {FIND_LIMIT_MAX}"),
                )
            }),
    }
}

/// A voucher with its lifecycle.
pub async fn voucher(flow: &SubmissionFlow, id: &str) -> Result<VoucherDetailBody, ApiError> {
    Ok((&commands::vouchers::detail(flow.cache(), id).await?).into())
}

/// A replay with the bus's state and cursor next to our progress.
pub async fn replay_view(recovery: &Recovery, r: ReplayRecord) -> Replay {
    let bus = recovery.replay_state(&r.name).await;
    Replay::new(r, bus)
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
pub async fn preview(recovery: &Recovery, query: &Value) -> Result<Preview, ApiError> {
    let (part, start, end) = part_and_times(query)?;
    let start = start.ok_or_else(|| invalid("start", "is required"))?;
    let end = end.ok_or_else(|| invalid("end", "is required"))?;
    Ok(recovery.preview(&part, start, end).await?.into())
}

/// One page of the dead-letter queue: `limit` (1–1000, default 100) vouchers
/// after `next_token` (the previous page's), oldest first.
pub async fn dlq_page(
    flow: &SubmissionFlow,
    limit: Option<&str>,
    next_token: Option<&str>,
) -> Result<DlqPage, ApiError> {
    let limit = match limit {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("limit", "must be an integer between 1 and 1000"))?,
    };
    let after = after_token(next_token)?;
    let mut page = flow
        .cache()
        .dead_lettered(after, limit + 1)
        .await
        .map_err(unavailable)?;
    let more = page.len() > limit;
    page.truncate(limit);
    Ok(DlqPage::dead_lettered(&page, more))
}

/// Where a voucher list's page starts: after the voucher its `next_token`
/// names (refused, naming `next_token`, when it is not one this API gave).
fn after_token(next_token: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    next_token
        .map(|t| {
            mediator_wire::page_token::decode(t)
                .ok_or_else(|| invalid("next_token", "is not a token this API returned"))
        })
        .transpose()
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

/// Accepts a voucher: validates, stores and submits it (or holds it while
/// its part is down).
#[utoipa::path(post, path = "/api/v1/vouchers", tag = "vouchers",
    request_body = VoucherRequest,
    responses(
        (status = 202, description = "Accepted; `status` says what the flow did", body = SubmittedVoucher),
        (status = 200, description = "A known id: the stored voucher, `duplicate: true`", body = SubmittedVoucher),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid (named in `field`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn post_voucher(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<SubmittedVoucher>), ApiError> {
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
    Ok((status, Json((&accepted).into())))
}

/// Vouchers, newest received first: those whose reference matches
/// exactly (give `ref`, matching any of the four references, or exactly one
/// of `loyalty_request_id`, `loyalty_reference`, `merchant_reference`,
/// `loyalty_order_reference`), or, without a reference, those passing the
/// filter (`part`, `status`, `from`, `to`, `min_attempts`; every condition
/// given must hold; none: every voucher). Pages are keyset pages: a voucher
/// stored meanwhile neither repeats nor skips one.
#[utoipa::path(get, path = "/api/v1/vouchers", tag = "vouchers",
    params(
        ("ref" = Option<String>, Query, description = "Matches any of the four references"),
        ("loyalty_request_id" = Option<String>, Query, description = "Matches this reference only"),
        ("loyalty_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("merchant_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("loyalty_order_reference" = Option<String>, Query, description = "Matches this reference only"),
        ("part" = Option<String>, Query, description = "Filter (without a reference): only this configured part's vouchers"),
        ("status" = Option<String>, Query, description = "Filter: only vouchers in one of these statuses, comma-separated (`received`, `submitting`, `retry`, `submitted`, `error`, `dead_lettered`), e.g. `retry,dead_lettered`"),
        ("from" = Option<DateTime<Utc>>, Query, description = "Filter: received at or after this time (RFC 3339)"),
        ("to" = Option<DateTime<Utc>>, Query, description = "Filter: received before this time (RFC 3339, exclusive; after `from`)"),
        ("min_attempts" = Option<u32>, Query, description = "Filter: at least this many SaaS calls made (0 or more)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100 (default 20)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The matches (no reference and no filter: every voucher)", body = VoucherSearch),
        (status = 422, description = "Two references, an empty one, a reference with a filter, a bad filter value (unknown `part` or `status`, `from`/`to` not RFC 3339 or not in order, `min_attempts` not a whole number ≥ 0), or a bad `limit` / `next_token`: `field` names the parameter, `error` the reason", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_vouchers(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<VoucherSearch>, ApiError> {
    Ok(Json(search_vouchers(&s.flow, &q).await?))
}

/// A voucher and its lifecycle.
#[utoipa::path(get, path = "/api/v1/vouchers/{loyalty_request_id}", tag = "vouchers",
    params(("loyalty_request_id" = String, Path, description = "The voucher's id")),
    responses(
        (status = 200, description = "The voucher with `lifecycle`", body = VoucherDetailBody),
        (status = 404, description = "Unknown voucher", body = ErrorBody)
    ))]
pub(crate) async fn get_voucher(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<VoucherDetailBody>, ApiError> {
    Ok(Json(voucher(&s.flow, &id).await?))
}

/// The replays the mediator started, newest first.
#[utoipa::path(get, path = "/api/v1/replays", tag = "replays",
    responses(
        (status = 200, description = "The replays", body = ReplayList),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_replays(State(s): State<ApiState>) -> Result<Json<ReplayList>, ApiError> {
    let mut replays = Vec::new();
    for r in s.recovery.list_replays(100).await.map_err(unavailable)? {
        replays.push(replay_view(&s.recovery, r).await);
    }
    Ok(Json(ReplayList { replays }))
}

/// Replays a window of a part's archive to its resubmit rule.
#[utoipa::path(post, path = "/api/v1/replays", tag = "replays",
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Started", body = Replay),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 409, description = "The part has an active replay (`field`: `part`)", body = ErrorBody),
        (status = 422, description = "Unknown part, or a bad window (`start` not before `end`, longer than the retention, `end` in the future)", body = ErrorBody)
    ))]
pub(crate) async fn post_replay(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Replay>), ApiError> {
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
    ))
}

/// One replay: the bus's state and cursor, and the progress.
#[utoipa::path(get, path = "/api/v1/replays/{name}", tag = "replays",
    params(("name" = String, Path, description = "The replay's name")),
    responses(
        (status = 200, description = "The replay", body = Replay),
        (status = 404, description = "Unknown replay", body = ErrorBody)
    ))]
pub(crate) async fn get_replay(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Replay>, ApiError> {
    let r = s
        .recovery
        .replay(&name)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(format!("replay {name:?} not found")))?;
    Ok(Json(replay_view(&s.recovery, r).await))
}

/// What replaying a window would touch, before launching it.
#[utoipa::path(get, path = "/api/v1/replays/preview", tag = "replays",
    params(
        ("part" = String, Query, description = "The part"),
        ("start" = DateTime<Utc>, Query, description = "Window start (RFC 3339)"),
        ("end" = DateTime<Utc>, Query, description = "Window end (RFC 3339)")
    ),
    responses(
        (status = 200, description = "Archived and still-pending counts", body = Preview),
        (status = 422, description = "Missing or bad `part`, `start` or `end`", body = ErrorBody)
    ))]
pub(crate) async fn get_preview(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Preview>, ApiError> {
    Ok(Json(preview(&s.recovery, &json!(q)).await?))
}

/// Cancels a running replay.
#[utoipa::path(post, path = "/api/v1/replays/{name}/cancel", tag = "replays",
    params(("name" = String, Path, description = "The replay's name")),
    responses(
        (status = 202, description = "Cancelling", body = Replay),
        (status = 404, description = "Unknown replay", body = ErrorBody),
        (status = 409, description = "Already finished (`field`: `name`)", body = ErrorBody)
    ))]
pub(crate) async fn post_cancel(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Replay>), ApiError> {
    let r = commands::replays::cancel(&s.recovery, &s.audit, &who, &name).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(replay_view(&s.recovery, r).await),
    ))
}

/// One page of dead-lettered vouchers, oldest first.
#[utoipa::path(get, path = "/api/v1/dlq", tag = "dlq",
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1–1000 (default 100)"),
        ("next_token" = Option<String>, Query, description = "The previous page's `next_token`")
    ),
    responses(
        (status = 200, description = "The page", body = DlqPage),
        (status = 422, description = "Bad `limit` or `next_token`", body = ErrorBody)
    ))]
pub(crate) async fn get_dlq(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<DlqPage>, ApiError> {
    Ok(Json(
        dlq_page(
            &s.flow,
            q.get("limit").map(String::as_str),
            q.get("next_token").map(String::as_str),
        )
        .await?,
    ))
}

/// Redrives a dead-lettered voucher: back to `retry` and resubmitted now.
#[utoipa::path(post, path = "/api/v1/dlq/{loyalty_request_id}/redrive", tag = "dlq",
    params(("loyalty_request_id" = String, Path, description = "The voucher's id")),
    responses(
        (status = 200, description = "The voucher after the resubmission, with its lifecycle", body = VoucherDetailBody),
        (status = 404, description = "Unknown voucher", body = ErrorBody),
        (status = 409, description = "Not dead-lettered (`field`: `loyalty_request_id`)", body = ErrorBody)
    ))]
pub(crate) async fn post_redrive(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<VoucherDetailBody>, ApiError> {
    let d = commands::vouchers::redrive(&s.flow, &s.recovery, &s.audit, &who, &id).await?;
    Ok(Json((&d).into()))
}

/// Sets each part's `override` and effective `circuit` in the overview
/// from the overrides as they are now.
pub async fn with_overrides(
    overrides: &Overrides,
    mut overview: Overview,
) -> Result<Overview, ApiError> {
    let circuits = overrides.circuits().await.map_err(unavailable)?;
    for p in &mut overview.parts {
        let Some((_, o, closed)) = circuits.iter().find(|(name, _, _)| p.name == name.as_str())
        else {
            continue;
        };
        p.override_ = o.as_ref().map(Override::from);
        p.circuit = circuit_name(*closed && p.maintenance.is_none()).into();
    }
    Ok(overview)
}

/// Sets or clears a part's manual circuit override.
#[utoipa::path(post, path = "/api/v1/parts/{part}/override", tag = "parts",
    params(("part" = String, Path, description = "A configured part")),
    request_body = OverrideRequestBody,
    responses(
        (status = 200, description = "The override in force and the effective circuit", body = OverrideResult),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ErrorBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 422, description = "Bad `mode`, or `reason` missing", body = ErrorBody)
    ))]
pub(crate) async fn post_override(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(part): Path<String>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Json<OverrideResult>, ApiError> {
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
    Ok(Json(OverrideResult::new(&part, &set)))
}

/// Runs a part's health check now, outside its poll schedule, and records
/// it like any poll (so a good check counts toward the part's recovery).
#[utoipa::path(post, path = "/api/v1/parts/{part}/check", tag = "parts",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The check's result and the part's status after it", body = mediator_wire::CheckResult),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 429, description = "Checked on request less than 5 s ago (`field`: `part`; `Retry-After` says when to ask again)", body = ErrorBody)
    ))]
pub(crate) async fn post_check(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(part): Path<String>,
) -> Result<Json<mediator_wire::CheckResult>, ApiError> {
    let rec = commands::parts::check_now(&s.monitor, &s.audit, &who, &part).await?;
    Ok(Json(mediator_wire::CheckResult::from(&rec)))
}

/// Deliveries the notification log shows by default, and at most.
pub const NOTIFICATIONS_LIMIT: (usize, usize) = (50, 200);

/// The configured notification channels and the newest deliveries
/// (channel, kind, event id, attempts, status, last error), newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(("limit" = Option<usize>, Query, description = "Deliveries to list, 1 to 200 (default 50)")),
    responses(
        (status = 200, description = "Channels and deliveries", body = mediator_wire::Notifications),
        (status = 422, description = "Bad `limit`", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn get_notifications(
    State(s): State<ApiState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<mediator_wire::Notifications>, ApiError> {
    let limit = match q.get("limit") {
        None => NOTIFICATIONS_LIMIT.0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=NOTIFICATIONS_LIMIT.1).contains(n))
            .ok_or_else(|| {
                invalid(
                    "limit",
                    format!("must be 1 to {}, got {v:?}", NOTIFICATIONS_LIMIT.1),
                )
            })?,
    };
    let deliveries = match &s.notifier {
        Some(n) => n.recent(limit).await.map_err(unavailable)?,
        None => Vec::new(),
    };
    Ok(Json(mediator_wire::convert::notifications(
        s.notifier.as_deref(),
        &deliveries,
    )))
}

/// Queues a test notification for one channel (admin; audited as
/// `notify.test`); the delivery log shows how it went.
#[utoipa::path(post, path = "/api/v1/notifications/{channel}/test", tag = "notifications",
    params(("channel" = String, Path, description = "A configured channel")),
    responses(
        (status = 202, description = "Queued", body = mediator_wire::NotificationTest),
        (status = 404, description = "Unknown channel (`field`: `channel`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody)
    ))]
pub(crate) async fn test_channel(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(channel): Path<String>,
) -> Result<(StatusCode, Json<mediator_wire::NotificationTest>), ApiError> {
    let n = commands::notify::send_test(s.notifier.as_deref(), &s.audit, &who, &channel).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(mediator_wire::NotificationTest {
            channel,
            event_id: n.event_id,
        }),
    ))
}

/// The parts with status, circuit, counters and latest replay: the
/// overview the console shows, with each part's manual `override` and
/// effective `circuit` read now.
#[utoipa::path(get, path = "/api/v1/parts", tag = "parts",
    responses(
        (status = 200, description = "The overview", body = mediator_wire::Overview),
        (status = 503, description = "Storage unavailable", body = mediator_wire::ErrorBody)
    ))]
pub(crate) async fn api_parts(State(console): State<app::api::ConsoleContext>) -> Response {
    match app::api::overview(&console).await {
        Ok(o) => match with_overrides(&console.overrides, o).await {
            Ok(o) => Json(o).into_response(),
            Err(e) => e.into_response(),
        },
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(mediator_wire::ErrorBody::new(e.to_string(), None)),
        )
            .into_response(),
    }
}
