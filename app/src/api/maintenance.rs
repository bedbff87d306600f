//! A part's maintenance windows, listed, scheduled and ended from its
//! card: the same commands as `/api/v1/parts/{part}/maintenance` (role
//! check, validation, audit), so the console and the JSON API agree.

use leptos::prelude::*;

pub use mediator_wire::{MaintenanceList, MaintenanceWindow};

use super::ApiError;

/// The maintenance windows of `part` (every part when `None`): upcoming,
/// active and those ended in the last day, by start.
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_maintenance(part: Option<String>) -> Result<MaintenanceList, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    let now = chrono::Utc::now();
    let windows = ctx
        .maintenance
        .list(part.as_deref(), now)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(MaintenanceList {
        windows: windows
            .iter()
            .map(|w| MaintenanceWindow::new(w, now))
            .collect(),
    })
}

/// Schedules a window of `part` (operator): from `start` (RFC 3339; empty:
/// now) to `end` (RFC 3339), or for `minutes` when `end` is empty; `by`
/// names who acts when sign-in is off.
#[server(client = crate::api::access::CsrfClient)]
pub async fn schedule_maintenance(
    part: String,
    start: String,
    end: String,
    minutes: String,
    reason: String,
    by: String,
) -> Result<MaintenanceWindow, ApiError> {
    use mediator_core::commands;
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let now = chrono::Utc::now();
    let change = match ssr::body(&start, &end, &minutes, &reason, &by, now) {
        Ok(body) => commands::maintenance::schedule_request(&part, &body, now),
        Err(e) => commands::maintenance::ScheduleWindow {
            part: part.clone(),
            reason: Some(reason.clone()),
            request: Err(e),
        },
    };
    let w = commands::maintenance::schedule(&ctx.maintenance, &ctx.audit, &who, change).await?;
    Ok(MaintenanceWindow::new(&w, chrono::Utc::now()))
}

/// Ends the window `id` of `part` now, or cancels it before it starts
/// (operator; `reason` required).
#[server(client = crate::api::access::CsrfClient)]
pub async fn end_maintenance(
    part: String,
    id: String,
    reason: String,
    by: String,
) -> Result<MaintenanceWindow, ApiError> {
    use mediator_core::commands;
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let by = Some(by.trim()).filter(|b| !b.is_empty());
    let w = commands::maintenance::end(
        &ctx.maintenance,
        &ctx.audit,
        &who,
        &part,
        &id,
        Some(reason.as_str()),
        by,
    )
    .await?;
    Ok(MaintenanceWindow::new(&w, chrono::Utc::now()))
}

#[cfg(feature = "ssr")]
mod ssr {
    //! How the console's form is read.

    use chrono::{DateTime, Utc};
    use mediator_core::CommandError;
    use serde_json::{json, Value};

    /// The JSON API's body from the dialog's fields: `end` when given,
    /// else `start` (or now) plus `minutes`.
    pub fn body(
        start: &str,
        end: &str,
        minutes: &str,
        reason: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, CommandError> {
        let (start, end, minutes) = (start.trim(), end.trim(), minutes.trim());
        let end = if end.is_empty() {
            let m: i64 = minutes.parse().ok().filter(|m| *m > 0).ok_or_else(|| {
                CommandError::invalid("minutes", "must be a whole number of minutes above 0")
            })?;
            let from = if start.is_empty() {
                now
            } else {
                DateTime::parse_from_rfc3339(start)
                    .map_err(|_| {
                        CommandError::invalid(
                            "start",
                            format!(
                                "{start:?} is not an RFC 3339 time (e.g. 2026-12-07T06:00:00Z)"
                            ),
                        )
                    })?
                    .with_timezone(&Utc)
            };
            (from + chrono::Duration::minutes(m)).to_rfc3339()
        } else {
            end.to_owned()
        };
        Ok(json!({
            "start": Some(start).filter(|s| !s.is_empty()),
            "end": end,
            "reason": reason,
            "by": by,
        }))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn minutes_make_the_end_and_errors_name_the_field() {
            let now = DateTime::parse_from_rfc3339("2026-12-07T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc);
            let b = body("", "", "30", "r", "", now).unwrap();
            assert_eq!(b["end"], "2026-12-07T06:30:00+00:00");
            assert_eq!(b["start"], Value::Null);
            let field = |r: Result<Value, CommandError>| r.unwrap_err().field().map(str::to_owned);
            assert_eq!(
                field(body("", "", "x", "r", "", now)).as_deref(),
                Some("minutes")
            );
            assert_eq!(
                field(body("soon", "", "5", "r", "", now)).as_deref(),
                Some("start")
            );
            let b = body("", "2026-12-07T07:00:00Z", "", "r", "", now).unwrap();
            assert_eq!(b["end"], "2026-12-07T07:00:00Z");
        }
    }
}
