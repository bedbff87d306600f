//! Maintenance commands: scheduling a part's maintenance window, and ending
//! it early (or cancelling it before it starts).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::maintenance::{Maintenance, MaintenanceRequest, MaintenanceWindow};

/// A window as asked, and the request parsed from it.
#[derive(Debug, Clone)]
pub struct ScheduleWindow {
    /// The part.
    pub part: String,
    /// The reason as given, for the audit log.
    pub reason: Option<String>,
    /// The validated request, or why it is invalid.
    pub request: Result<MaintenanceRequest, CommandError>,
}

/// Parses a `POST …/maintenance` body at `now` into a [`ScheduleWindow`].
pub fn schedule_request(
    part: &str,
    body: &serde_json::Value,
    now: DateTime<Utc>,
) -> ScheduleWindow {
    ScheduleWindow {
        part: part.to_owned(),
        reason: body
            .get("reason")
            .and_then(|r| r.as_str())
            .map(str::to_owned),
        request: MaintenanceRequest::parse(body, now)
            .map_err(|(field, reason)| CommandError::invalid(field, reason)),
    }
}

/// Who the window is scheduled or ended by: the signed-in caller, else the
/// request's `by`, else the caller's name.
fn acting(who: &Principal, asked: Option<&str>) -> String {
    super::signed_in_name(who)
        .or(asked)
        .unwrap_or(who.name.as_str())
        .to_owned()
}

/// Schedules a maintenance window of a part (operator). Audited as
/// `maintenance.schedule` with the window.
#[tracing::instrument(name = "command", skip_all, fields(action = "maintenance.schedule", part = %change.part, caller = %who.name))]
pub async fn schedule(
    maintenance: &Maintenance,
    audit: &Audit,
    who: &Principal,
    change: ScheduleWindow,
) -> Result<MaintenanceWindow, CommandError> {
    const ACTION: &str = "maintenance.schedule";
    authorize(audit, who, Role::Operator, ACTION, &change.part).await?;
    let out = match change.request {
        Ok(req) => {
            let by = acting(who, req.by.as_deref());
            maintenance
                .schedule(&change.part, req, &by, Utc::now())
                .await
                .map_err(CommandError::from)
        }
        Err(e) => Err(e),
    };
    let detail = match &out {
        Ok(w) => json!({ "id": w.id, "start": w.start, "end": w.end }),
        Err(_) => json!({}),
    };
    audit
        .log(
            NewAuditEntry::new(who, ACTION)
                .target(change.part.as_str())
                .reason(change.reason.as_deref())
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}

/// Ends a part's maintenance window now, or cancels it if it has not
/// started (operator; a reason is required). Audited as `maintenance.end`.
#[tracing::instrument(name = "command", skip_all, fields(action = "maintenance.end", part = %part, caller = %who.name))]
pub async fn end(
    maintenance: &Maintenance,
    audit: &Audit,
    who: &Principal,
    part: &str,
    id: &str,
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<MaintenanceWindow, CommandError> {
    const ACTION: &str = "maintenance.end";
    authorize(audit, who, Role::Operator, ACTION, part).await?;
    let by = acting(who, by);
    let out = maintenance
        .end(part, id, &by, reason.unwrap_or_default(), Utc::now())
        .await
        .map_err(CommandError::from);
    let detail = match &out {
        Ok(w) => json!({ "id": w.id, "cancelled": w.cancelled() }),
        Err(_) => json!({ "id": id }),
    };
    audit
        .log(
            NewAuditEntry::new(who, ACTION)
                .target(part)
                .reason(reason)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}
