//! Replays: the list, one replay's live detail, the preview before a replay
//! ("how many events, how many vouchers"), starting and cancelling.

use leptos::prelude::*;

pub use mediator_wire::{ReplayPage, ReplayPreview, ReplayView};

use super::ApiError;

/// A page of the replays, newest first.
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_replays(page: usize) -> Result<ReplayPage, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::list(&ctx, page).await
}

/// One replay with its live state and progress.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_replay(name: String) -> Result<ReplayView, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::get(&ctx, &name).await
}

/// The counts a replay of `part` over `[start, end)` would touch.
#[server(client = crate::api::access::CsrfClient)]
pub async fn preview_replay(
    part: String,
    start: String,
    end: String,
) -> Result<ReplayPreview, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::preview(&ctx, &part, &start, &end).await
}

/// Starts a manual replay of `part` over `[start, end)` for `reason`
/// (audited with it), recording who: the signed-in user, or `by` when
/// sign-in is off.
#[server(client = crate::api::access::CsrfClient)]
pub async fn start_replay(
    part: String,
    start: String,
    end: String,
    by: String,
    reason: String,
) -> Result<ReplayView, ApiError> {
    use mediator_core::commands::{self, replays::ReplayAsk};
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    // Signed in, the replay is started by the user, whatever the form says.
    let by = commands::signed_in_name(&who).map_or(by, str::to_owned);
    let request = ssr::start_request(&start, &end, &by, &reason);
    let ask = ReplayAsk {
        part: part.clone(),
        reason: Some(reason.trim().to_owned()).filter(|r| !r.is_empty()),
        start: start.into(),
        end: end.into(),
    };
    let r = commands::replays::start(&ctx.recovery, &ctx.audit, &who, ask, request).await?;
    tracing::info!(replay = %r.name, part, by = r.by.as_deref().unwrap_or_default(), "replay started from the console");
    Ok(ssr::view(&ctx, r).await)
}

/// Cancels an active replay.
#[server(client = crate::api::access::CsrfClient)]
pub async fn cancel_replay(name: String) -> Result<ReplayView, ApiError> {
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let r =
        mediator_core::commands::replays::cancel(&ctx.recovery, &ctx.audit, &who, &name).await?;
    Ok(ssr::view(&ctx, r).await)
}

#[cfg(feature = "ssr")]
pub use ssr::{get, list, parse_time, preview, start_request, view};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use chrono::{DateTime, NaiveDateTime, Utc};
    use mediator_core::commands::replays::StartReplay;
    use mediator_core::recovery::RecoveryError;
    use mediator_core::{CommandError, ReplayRecord};
    use mediator_wire::convert::time_secs;

    use super::{ReplayPage, ReplayPreview, ReplayView};
    use crate::api::ssr::unavailable;
    use crate::api::{ApiError, ConsoleContext, ARCHIVE_LAG_SECS, PAGE_SIZE};

    /// Maps recovery's errors to the console's, keeping the field named
    /// (through the commands' error, as the JSON API does).
    pub(crate) fn recovery_error(e: RecoveryError) -> ApiError {
        CommandError::from(e).into()
    }

    /// Parses an operator's time: RFC 3339, or `YYYY-MM-DD[T ]HH:MM[:SS]`
    /// taken as UTC. The error names `field`.
    pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, CommandError> {
        let t = text.trim().trim_end_matches(" UTC");
        if t.is_empty() {
            return Err(CommandError::invalid(field, "is required"));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(t) {
            return Ok(t.with_timezone(&Utc));
        }
        let t = t.replacen(' ', "T", 1);
        for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
            if let Ok(n) = NaiveDateTime::parse_from_str(&t, fmt) {
                return Ok(n.and_utc());
            }
        }
        Err(CommandError::invalid(
            field,
            "must be a time like 2026-01-01T12:00:00Z",
        ))
    }

    /// The replay the console's dialog asks for: `by` (who starts it) and
    /// `reason` (why, for the audit log) are required, then the window's
    /// times. (The JSON API takes both as optional.)
    pub fn start_request(
        start: &str,
        end: &str,
        by: &str,
        reason: &str,
    ) -> Result<StartReplay, CommandError> {
        let by = by.trim();
        if by.is_empty() {
            return Err(CommandError::invalid(
                "by",
                "is required (who starts the replay)",
            ));
        }
        if reason.trim().is_empty() {
            return Err(CommandError::invalid(
                "reason",
                "is required (why the window is replayed)",
            ));
        }
        Ok(StartReplay {
            window: Some((parse_time("start", start)?, parse_time("end", end)?)),
            by: by.to_owned(),
        })
    }

    /// A replay record with the bus's state and cursor.
    pub async fn view(ctx: &ConsoleContext, r: ReplayRecord) -> ReplayView {
        let bus = ctx.recovery.replay_state(&r.name).await;
        ReplayView::new(r, bus, Utc::now())
    }

    /// Page `page` (0-based) of the replays, newest first.
    pub async fn list(ctx: &ConsoleContext, page: usize) -> Result<ReplayPage, ApiError> {
        let page = page.min(10_000);
        let want = (page + 1) * PAGE_SIZE + 1;
        let all = ctx.recovery.list_replays(want).await.map_err(unavailable)?;
        let has_more = all.len() > (page + 1) * PAGE_SIZE;
        let mut replays = Vec::new();
        for r in all.into_iter().skip(page * PAGE_SIZE).take(PAGE_SIZE) {
            replays.push(view(ctx, r).await);
        }
        Ok(ReplayPage {
            replays,
            page,
            has_more,
        })
    }

    /// One replay.
    pub async fn get(ctx: &ConsoleContext, name: &str) -> Result<ReplayView, ApiError> {
        let r = ctx
            .recovery
            .replay(name)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::NotFound(format!("replay {name:?} not found")))?;
        Ok(view(ctx, r).await)
    }

    /// The preview of a window, with the lag warning and the active replay.
    pub async fn preview(
        ctx: &ConsoleContext,
        part: &str,
        start: &str,
        end: &str,
    ) -> Result<ReplayPreview, ApiError> {
        let start = parse_time("start", start)?;
        let end = parse_time("end", end)?;
        let p = ctx
            .recovery
            .preview(part, start, end)
            .await
            .map_err(recovery_error)?;
        let part_lag = mediator_core::part::PartName::parse(part)
            .map(|p| ctx.recovery.part_recovery(&p).archive_lag)
            .unwrap_or_default();
        let lag_warning = lag_warning((Utc::now() - end).num_seconds(), part_lag);
        let active_replay = ctx
            .recovery
            .active_replay(part)
            .await
            .map_err(recovery_error)?;
        Ok(ReplayPreview {
            part: part.to_string(),
            start: time_secs(start),
            end: time_secs(end),
            archived: p.archived,
            pending: p.pending,
            archive_event_count: p.archive_event_count,
            lag_warning,
            active_replay,
        })
    }

    /// The dialog's warning for a window that ended `age` seconds ago: when
    /// that is less than the archive's lag — the part's `archive_lag`, at
    /// least [`ARCHIVE_LAG_SECS`] — its last events may not be archived yet.
    fn lag_warning(age: i64, part_lag: std::time::Duration) -> Option<String> {
        let lag = (part_lag.as_secs() as i64).max(ARCHIVE_LAG_SECS);
        (age < lag).then(|| {
            format!(
                "The window ends {} ago, less than the archive's lag ({}): events sent near its end may not be archived yet, so a replay now could miss them.",
                crate::api::fmt_duration(age.max(0)),
                crate::api::fmt_duration(lag)
            )
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_lag_warning_follows_the_parts_archive_lag() {
            use std::time::Duration;
            // Embedded (no lag): the console's own five minutes.
            assert!(lag_warning(200, Duration::ZERO)
                .unwrap()
                .contains("(5 min)"));
            assert_eq!(lag_warning(400, Duration::ZERO), None);
            // AWS's default of ten minutes warns longer.
            let aws = Duration::from_secs(600);
            assert!(lag_warning(400, aws).unwrap().contains("(10 min)"));
            assert_eq!(lag_warning(700, aws), None);
        }

        #[test]
        fn the_dialog_asks_who_and_why() {
            let (s, e) = ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
            let field =
                |r: Result<StartReplay, CommandError>| r.unwrap_err().field().map(str::to_owned);
            assert_eq!(
                field(start_request(s, e, " ", "why")).as_deref(),
                Some("by")
            );
            assert_eq!(
                field(start_request(s, e, "ann", "  ")).as_deref(),
                Some("reason")
            );
            assert_eq!(
                field(start_request("then", e, "ann", "why")).as_deref(),
                Some("start")
            );
            let ok = start_request(s, e, " ann ", "why").unwrap();
            assert_eq!(ok.by, "ann");
        }

        #[test]
        fn operator_times_parse_or_name_the_field() {
            let t = parse_time("start", "2026-01-01T12:00:00Z").unwrap();
            assert_eq!(time_secs(t), "2026-01-01T12:00:00Z");
            assert_eq!(
                parse_time("end", "2026-01-01 12:00:05 UTC").map(time_secs),
                Ok("2026-01-01T12:00:05Z".to_string())
            );
            assert_eq!(
                parse_time("end", "2026-01-01T12:00").map(time_secs),
                Ok("2026-01-01T12:00:00Z".to_string())
            );
            let e = ApiError::from(parse_time("end", "yesterday").unwrap_err());
            assert!(e.for_field("end").is_some());
            assert_eq!(
                ApiError::from(parse_time("start", " ").unwrap_err()).for_field("start"),
                Some("is required".into())
            );
        }
    }
}
