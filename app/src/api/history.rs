//! History read models as the console shows them: timelines (90 daily
//! bars, a day's hours, an hour's minutes) with their outages and the
//! checks' response time per bar, incidents,
//! and the archives with their events.
//!
//! The shapes are `mediator_wire`'s (the JSON API's, times as RFC 3339
//! strings); outages and incidents also carry the replay window prefilled
//! with the part's margin.

use leptos::prelude::*;

use super::ApiError;

pub use mediator_wire::{
    ArchiveEventsView, ArchiveSummary, ArchivedEventView, Bar, ChangeRef, Incident, IncidentReplay,
    IncidentView, IncidentViewPage, LatencyPoint, LatencySeries, Outage, OutageView, RecentLatency,
    TimelineView,
};

/// Every part's timeline: 90 daily bars (`at` empty), the 24 hours of a day
/// (`at` = `2026-11-26`) or the 60 minutes of an hour (`2026-11-26T10`).
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_timelines(at: Option<String>) -> Result<Vec<TimelineView>, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::timelines(&ctx, at.as_deref().unwrap_or("")).await
}

/// A page of incidents (optionally of one part), newest first.
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_incidents(
    part: Option<String>,
    next_token: Option<String>,
) -> Result<IncidentViewPage, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::incidents(&ctx, part.as_deref(), next_token.as_deref()).await
}

/// One incident.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_incident(id: i64) -> Result<IncidentView, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::incident(&ctx, id).await
}

/// Every archive.
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_archives() -> Result<Vec<ArchiveSummary>, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::archives(&ctx).await
}

/// A page of an archive's events in `[start, end)` (either may be empty).
#[server(client = crate::api::access::CsrfClient)]
pub async fn archive_events(
    name: String,
    start: String,
    end: String,
    next_token: Option<String>,
) -> Result<ArchiveEventsView, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::events(&ctx, &name, &start, &end, next_token.as_deref()).await
}

#[cfg(feature = "ssr")]
pub use ssr::{archives, events, incident, incidents, recent_latency, timelines, uptime};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use chrono::Utc;
    use mediator_core::commands::replays;
    use mediator_core::history;
    use mediator_core::HistoryError;

    use super::*;
    use crate::api::replays::parse_time;
    use crate::api::ssr::unavailable;
    use crate::api::{ConsoleContext, UptimeSummary, PAGE_SIZE};

    /// Maps the read models' errors, keeping the field named.
    pub(crate) fn history_error(e: HistoryError) -> ApiError {
        match e {
            HistoryError::UnknownPart(p) => ApiError::Invalid {
                field: "part".into(),
                reason: format!("part {p:?} is not configured"),
            },
            HistoryError::Invalid { field, reason } => ApiError::Invalid {
                field: field.into(),
                reason,
            },
            HistoryError::UnknownArchive(n) => {
                ApiError::NotFound(format!("archive {n:?} not found"))
            }
            other => unavailable(other),
        }
    }

    fn margin(ctx: &ConsoleContext, part: &str) -> chrono::Duration {
        chrono::Duration::from_std(replays::margin(&ctx.recovery, part)).unwrap_or_default()
    }

    /// Every part's timeline at the zoom `at` names, with its response
    /// time per bar.
    pub async fn timelines(ctx: &ConsoleContext, at: &str) -> Result<Vec<TimelineView>, ApiError> {
        let now = Utc::now();
        let at = at.trim();
        let range = if at.is_empty() {
            history::Range::Days(history::MAX_DAYS)
        } else if at.len() == 10 {
            history::Range::Day(history::parse_date(at, "at").map_err(history_error)?)
        } else {
            history::Range::Hour(history::parse_hour(at, "at").map_err(history_error)?)
        };
        let mut out = Vec::new();
        for p in ctx.history.parts() {
            let part = p.name.as_str();
            let t = ctx
                .history
                .timeline_of(part, range, now)
                .await
                .map_err(history_error)?;
            let latency = ctx
                .history
                .latency(part, range, now)
                .await
                .map_err(history_error)?;
            out.push(TimelineView::new(&t, &latency, margin(ctx, part), now));
        }
        Ok(out)
    }

    /// A part's response time over the last hour (the overview's sparkline).
    pub async fn recent_latency(
        ctx: &ConsoleContext,
        part: &str,
    ) -> Result<RecentLatency, ApiError> {
        let l = ctx
            .history
            .recent_latency(part, Utc::now())
            .await
            .map_err(history_error)?;
        Ok((&l).into())
    }

    /// Uptime of a part over the four windows.
    pub async fn uptime(ctx: &ConsoleContext, part: &str) -> Result<UptimeSummary, ApiError> {
        let u = ctx
            .history
            .uptime(part, Utc::now())
            .await
            .map_err(history_error)?;
        Ok((&u).into())
    }

    /// A page of incidents.
    pub async fn incidents(
        ctx: &ConsoleContext,
        part: Option<&str>,
        next_token: Option<&str>,
    ) -> Result<IncidentViewPage, ApiError> {
        let now = Utc::now();
        let part = part.filter(|p| !p.is_empty());
        let next_token = next_token.filter(|t| !t.is_empty());
        let page = ctx
            .history
            .incidents(part, PAGE_SIZE, next_token, now)
            .await
            .map_err(history_error)?;
        Ok(IncidentViewPage {
            incidents: page
                .incidents
                .iter()
                .map(|i| IncidentView::new(i, margin(ctx, &i.part), now))
                .collect(),
            next_token: page.next_token,
        })
    }

    /// One incident.
    pub async fn incident(ctx: &ConsoleContext, id: i64) -> Result<IncidentView, ApiError> {
        let now = Utc::now();
        let i = ctx
            .history
            .incident(id, now)
            .await
            .map_err(history_error)?
            .ok_or_else(|| ApiError::NotFound(format!("incident {id} not found")))?;
        Ok(IncidentView::new(&i, margin(ctx, &i.part), now))
    }

    /// Every archive.
    pub async fn archives(ctx: &ConsoleContext) -> Result<Vec<ArchiveSummary>, ApiError> {
        Ok(ctx
            .history
            .archives()
            .await
            .map_err(history_error)?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// A page of an archive's events.
    pub async fn events(
        ctx: &ConsoleContext,
        name: &str,
        start: &str,
        end: &str,
        next_token: Option<&str>,
    ) -> Result<ArchiveEventsView, ApiError> {
        let opt = |field: &str, s: &str| {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                parse_time(field, s).map(Some)
            }
        };
        let (start, end) = (opt("start", start)?, opt("end", end)?);
        Ok(ctx
            .history
            .archive_events(
                name,
                start,
                end,
                PAGE_SIZE,
                next_token.filter(|t| !t.is_empty()),
            )
            .await
            .map_err(history_error)?
            .into())
    }
}
