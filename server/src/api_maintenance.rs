//! A part's maintenance windows (routes in [`crate::api::routes`]):
//!
//! - `GET  /api/v1/parts/{part}/maintenance` → `{"windows"}`: upcoming,
//!   active and those ended in the last day, by start.
//! - `POST /api/v1/parts/{part}/maintenance` `{"start"?, "end", "reason",
//!   "by"?}` → 201, the window; 422 naming the field, 409 overlapping
//!   another window of the part.
//! - `DELETE /api/v1/parts/{part}/maintenance/{id}` `{"reason", "by"?}` →
//!   200, the window ended now (cancelled when it had not started); 404
//!   unknown, 409 already ended.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use mediator_core::access::Principal;
use mediator_core::commands::{self, CommandError};
use mediator_wire::{
    ErrorBody, MaintenanceEnd, MaintenanceList, MaintenanceRequest, MaintenanceWindow,
};
use serde_json::Value;

use crate::api_error::{body, ApiError};
use crate::api_state::ApiState;

/// A part's maintenance windows: upcoming, active, and those ended in the
/// last day.
#[utoipa::path(get, path = "/api/v1/parts/{part}/maintenance", tag = "parts",
    params(("part" = String, Path, description = "A configured part")),
    responses(
        (status = 200, description = "The part's windows, by start", body = MaintenanceList),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody)
    ))]
pub(crate) async fn get_maintenance(
    State(s): State<ApiState>,
    Path(part): Path<String>,
) -> Result<Json<MaintenanceList>, ApiError> {
    if !s.flow.parts().iter().any(|p| p.as_str() == part) {
        return Err(CommandError::unknown_part(&part).into());
    }
    let now = Utc::now();
    let windows = s
        .maintenance
        .list(Some(&part), now)
        .await
        .map_err(CommandError::unavailable)?;
    Ok(Json(MaintenanceList {
        windows: windows
            .iter()
            .map(|w| MaintenanceWindow::new(w, now))
            .collect(),
    }))
}

/// Schedules a maintenance window of a part: while it holds, the part's
/// circuit is held open (vouchers held as `retry`) and its down/up
/// notifications are muted; once it ends, the window (± the part's replay
/// margin) is replayed like an outage.
#[utoipa::path(post, path = "/api/v1/parts/{part}/maintenance", tag = "parts",
    params(("part" = String, Path, description = "A configured part")),
    request_body = MaintenanceRequest,
    responses(
        (status = 201, description = "The window scheduled", body = MaintenanceWindow),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ErrorBody),
        (status = 404, description = "Unknown part (`field`: `part`)", body = ErrorBody),
        (status = 409, description = "It overlaps another window of the part (`field`: `start`)", body = ErrorBody),
        (status = 422, description = "A bad `start`, `end` or `reason` (named in `field`)", body = ErrorBody)
    ))]
pub(crate) async fn post_maintenance(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(part): Path<String>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<MaintenanceWindow>), ApiError> {
    let body = body(payload)?;
    let change = commands::maintenance::schedule_request(&part, &body, Utc::now());
    let w = commands::maintenance::schedule(&s.maintenance, &s.audit, &who, change).await?;
    Ok((
        StatusCode::CREATED,
        Json(MaintenanceWindow::new(&w, Utc::now())),
    ))
}

/// Ends a part's maintenance window now (its replay follows), or cancels
/// it if it has not started. A reason is required.
#[utoipa::path(delete, path = "/api/v1/parts/{part}/maintenance/{id}", tag = "parts",
    params(
        ("part" = String, Path, description = "A configured part"),
        ("id" = String, Path, description = "The window's id")
    ),
    request_body = MaintenanceEnd,
    responses(
        (status = 200, description = "The window, ended or cancelled", body = MaintenanceWindow),
        (status = 400, description = "The body is not JSON (`field`: `body`)", body = ErrorBody),
        (status = 404, description = "Unknown part or window (`field`: `part` or `id`)", body = ErrorBody),
        (status = 409, description = "The window already ended (`field`: `id`)", body = ErrorBody),
        (status = 422, description = "`reason` missing", body = ErrorBody)
    ))]
pub(crate) async fn delete_maintenance(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((part, id)): Path<(String, String)>,
    payload: Result<Json<Value>, JsonRejection>,
) -> Result<Json<MaintenanceWindow>, ApiError> {
    let body = body(payload)?;
    let text = |f: &str| body.get(f).and_then(Value::as_str).map(str::to_owned);
    let w = commands::maintenance::end(
        &s.maintenance,
        &s.audit,
        &who,
        &part,
        &id,
        text("reason").as_deref(),
        text("by").as_deref(),
    )
    .await?;
    Ok(Json(MaintenanceWindow::new(&w, Utc::now())))
}
