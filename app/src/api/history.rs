//! History read models as the console shows them: timelines (90 daily
//! bars, a day's hours, an hour's minutes) with their outages, incidents,
//! and the archives with their events.
//!
//! The shapes mirror `mediator_core::history` with times as RFC 3339
//! strings (the browser build carries no date library); outages also carry
//! the replay window prefilled with the part's margin.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::ApiError;

/// One bar of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BarView {
    /// Its start (RFC 3339).
    pub start: String,
    /// Its end, exclusive (RFC 3339).
    pub end: String,
    /// `2026-11-26`, `10:00` or `10:42` (UTC).
    pub label: String,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds without data.
    pub no_data_secs: i64,
    /// Outages overlapping the bar.
    pub outages: u32,
}

impl BarView {
    /// `down`, `degraded` (under 1% down), `up` or `nodata`: the bar's class
    /// and the word screen readers hear.
    pub fn level(&self) -> &'static str {
        let known = self.down_secs + self.up_secs;
        if known == 0 {
            "nodata"
        } else if self.down_secs == 0 {
            "up"
        } else if self.down_secs * 100 < known {
            "degraded"
        } else {
            "down"
        }
    }
}

/// An outage, with the replay window the dialog proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageView {
    /// Its id (the incident's).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down (RFC 3339).
    pub start: String,
    /// When it came back, `None` while ongoing.
    pub end: Option<String>,
    /// Still down.
    pub ongoing: bool,
    /// Its length (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back during it.
    pub retries_held: i64,
    /// Proposed replay window start: start − margin.
    pub replay_start: String,
    /// Proposed replay window end: end (or now) + margin.
    pub replay_end: String,
    /// Where the outage starts on its timeline, in % of the range.
    #[serde(default)]
    pub left_pct: f64,
    /// How much of the timeline's range it covers, in %.
    #[serde(default)]
    pub width_pct: f64,
}

/// One part's timeline at one granularity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineView {
    /// The part.
    pub part: String,
    /// `day`, `hour` or `minute` bars.
    pub granularity: String,
    /// Start of the first bar.
    pub start: String,
    /// End of the last bar.
    pub end: String,
    /// The bars, oldest first.
    pub bars: Vec<BarView>,
    /// Outages overlapping the range, oldest first.
    pub outages: Vec<OutageView>,
}

/// A status change an incident links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeView {
    /// The new status.
    pub status: String,
    /// The status before.
    pub prev_status: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A replay linked to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReplayView {
    /// Its name.
    pub name: String,
    /// recovery, manual or sweeper.
    pub trigger: String,
    /// Window start.
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Bus state.
    pub state: String,
    /// Expected events.
    pub expected: i64,
    /// Handled events.
    pub processed: i64,
    /// Resubmitted.
    pub resubmitted: i64,
    /// Skipped.
    pub skipped: i64,
    /// Failed.
    pub failed: i64,
}

/// An outage as a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    /// The outage (times, retries held, proposed replay window).
    pub outage: OutageView,
    /// The down change, then the change that ended it.
    pub status_changes: Vec<ChangeView>,
    /// Replays whose window overlaps it.
    pub replays: Vec<IncidentReplayView>,
    /// Held vouchers resubmitted by the replays.
    pub resubmitted: i64,
    /// …skipped.
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
    /// …dead-lettered now.
    pub dead_lettered: i64,
    /// …still pending now.
    pub pending: i64,
    /// ongoing, recovering, needs_attention or resolved.
    pub state: String,
}

/// A page of incidents, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPageView {
    /// The incidents.
    pub incidents: Vec<IncidentView>,
    /// Token of the next (older) page.
    pub next_token: Option<String>,
}

/// One archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveView {
    /// Its name.
    pub name: String,
    /// The part whose retry events it keeps.
    pub part: Option<String>,
    /// Its event pattern.
    pub pattern: Option<String>,
    /// Days kept (0: for ever).
    pub retention_days: i64,
    /// ENABLED, …
    pub state: String,
    /// Events held.
    pub event_count: i64,
    /// Their size in bytes.
    pub size_bytes: i64,
    /// Oldest event time.
    pub oldest: Option<String>,
    /// Newest event time.
    pub newest: Option<String>,
}

/// One archived event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEventView {
    /// Position in the archive.
    pub seq: i64,
    /// Event time (RFC 3339).
    pub time: String,
    /// `detail.metadata.status` and the request id, when present.
    pub summary: String,
    /// The event as archived (pretty JSON).
    pub json: String,
}

/// A page of archived events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEventsView {
    /// The events.
    pub events: Vec<ArchivedEventView>,
    /// Token of the next page.
    pub next_token: Option<String>,
}

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
) -> Result<IncidentPageView, ApiError> {
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
pub async fn list_archives() -> Result<Vec<ArchiveView>, ApiError> {
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
pub use ssr::{archives, events, incident, incidents, timelines, uptime};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use chrono::{DateTime, Utc};
    use mediator_core::commands::replays;
    use mediator_core::history::{self, Incident, Outage, Timeline};
    use mediator_core::HistoryError;

    use super::*;
    use crate::api::replays::parse_time;
    use crate::api::ssr::{rfc3339, unavailable};
    use crate::api::{ConsoleContext, UptimeView, PAGE_SIZE};

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

    pub(crate) fn outage(ctx: &ConsoleContext, o: &Outage, now: DateTime<Utc>) -> OutageView {
        let m = margin(ctx, &o.part);
        let end = o.end.unwrap_or(now);
        OutageView {
            id: o.id,
            part: o.part.clone(),
            start: rfc3339(o.start),
            end: o.end.map(rfc3339),
            ongoing: o.ongoing,
            duration_secs: o.duration_secs,
            retries_held: o.retries_held,
            replay_start: rfc3339(o.start - m),
            replay_end: rfc3339(replays::proposed_end(end + m, now)),
            left_pct: 0.0,
            width_pct: 0.0,
        }
    }

    fn timeline(ctx: &ConsoleContext, t: Timeline, now: DateTime<Utc>) -> TimelineView {
        TimelineView {
            part: t.part,
            granularity: t.granularity,
            start: rfc3339(t.start),
            end: rfc3339(t.end),
            bars: t
                .bars
                .into_iter()
                .map(|b| BarView {
                    start: rfc3339(b.start),
                    end: rfc3339(b.end),
                    label: b.label,
                    down_secs: b.down_secs,
                    up_secs: b.up_secs,
                    no_data_secs: b.no_data_secs,
                    outages: b.outages,
                })
                .collect(),
            outages: t
                .outages
                .iter()
                .map(|o| {
                    let range = (t.end - t.start).num_milliseconds().max(1) as f64;
                    let a = o.start.max(t.start);
                    let b = o.end.unwrap_or(now).min(t.end).max(a);
                    OutageView {
                        left_pct: (a - t.start).num_milliseconds() as f64 * 100.0 / range,
                        width_pct: (b - a).num_milliseconds() as f64 * 100.0 / range,
                        ..outage(ctx, o, now)
                    }
                })
                .collect(),
        }
    }

    /// Every part's timeline at the zoom `at` names.
    pub async fn timelines(ctx: &ConsoleContext, at: &str) -> Result<Vec<TimelineView>, ApiError> {
        let now = Utc::now();
        let at = at.trim();
        let mut out = Vec::new();
        for p in ctx.history.parts() {
            let part = p.name.as_str();
            let t = if at.is_empty() {
                ctx.history.days(part, history::MAX_DAYS, now).await
            } else if at.len() == 10 {
                let date = history::parse_date(at, "at").map_err(history_error)?;
                ctx.history.day(part, date, now).await
            } else {
                let hour = history::parse_hour(at, "at").map_err(history_error)?;
                ctx.history.hour(part, hour, now).await
            }
            .map_err(history_error)?;
            out.push(timeline(ctx, t, now));
        }
        Ok(out)
    }

    /// Uptime of a part over the four windows.
    pub async fn uptime(ctx: &ConsoleContext, part: &str) -> Result<UptimeView, ApiError> {
        let u = ctx
            .history
            .uptime(part, Utc::now())
            .await
            .map_err(history_error)?;
        let pct = |w: &str| {
            u.windows
                .iter()
                .find(|x| x.window == w)
                .and_then(|x| x.percent)
        };
        Ok(UptimeView {
            h24: pct("24h"),
            d7: pct("7d"),
            d30: pct("30d"),
            d90: pct("90d"),
        })
    }

    fn incident_view(ctx: &ConsoleContext, i: Incident, now: DateTime<Utc>) -> IncidentView {
        let o = Outage {
            id: i.id,
            part: i.part.clone(),
            start: i.start,
            end: i.end,
            ongoing: i.ongoing,
            duration_secs: i.duration_secs,
            retries_held: i.retries_held,
        };
        IncidentView {
            outage: outage(ctx, &o, now),
            status_changes: i
                .status_changes
                .into_iter()
                .map(|c| ChangeView {
                    status: c.status,
                    prev_status: c.prev_status,
                    at: rfc3339(c.at),
                })
                .collect(),
            replays: i
                .replays
                .into_iter()
                .map(|r| IncidentReplayView {
                    name: r.name,
                    trigger: r.trigger,
                    window_start: rfc3339(r.window_start),
                    window_end: rfc3339(r.window_end),
                    state: r.state,
                    expected: r.expected,
                    processed: r.processed,
                    resubmitted: r.resubmitted,
                    skipped: r.skipped,
                    failed: r.failed,
                })
                .collect(),
            resubmitted: i.outcome.resubmitted,
            skipped: i.outcome.skipped,
            failed: i.outcome.failed,
            dead_lettered: i.outcome.dead_lettered,
            pending: i.outcome.pending,
            state: i.state,
        }
    }

    /// A page of incidents.
    pub async fn incidents(
        ctx: &ConsoleContext,
        part: Option<&str>,
        next_token: Option<&str>,
    ) -> Result<IncidentPageView, ApiError> {
        let now = Utc::now();
        let part = part.filter(|p| !p.is_empty());
        let next_token = next_token.filter(|t| !t.is_empty());
        let page = ctx
            .history
            .incidents(part, PAGE_SIZE, next_token, now)
            .await
            .map_err(history_error)?;
        Ok(IncidentPageView {
            incidents: page
                .incidents
                .into_iter()
                .map(|i| incident_view(ctx, i, now))
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
        Ok(incident_view(ctx, i, now))
    }

    /// Every archive.
    pub async fn archives(ctx: &ConsoleContext) -> Result<Vec<ArchiveView>, ApiError> {
        Ok(ctx
            .history
            .archives()
            .await
            .map_err(history_error)?
            .into_iter()
            .map(|a| ArchiveView {
                name: a.name,
                part: a.part,
                pattern: a.pattern,
                retention_days: a.retention_days,
                state: a.state,
                event_count: a.event_count,
                size_bytes: a.size_bytes,
                oldest: a.oldest.map(rfc3339),
                newest: a.newest.map(rfc3339),
            })
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
        let page = ctx
            .history
            .archive_events(
                name,
                start,
                end,
                PAGE_SIZE,
                next_token.filter(|t| !t.is_empty()),
            )
            .await
            .map_err(history_error)?;
        Ok(ArchiveEventsView {
            events: page
                .events
                .into_iter()
                .map(|e| {
                    let detail = e.event.get("detail");
                    let status = detail
                        .and_then(|d| d.pointer("/metadata/status"))
                        .and_then(|s| s.as_str())
                        .unwrap_or("");
                    let id = detail
                        .and_then(|d| d.pointer("/data/loyalty_request_id"))
                        .and_then(|s| s.as_str())
                        .unwrap_or("");
                    ArchivedEventView {
                        seq: e.seq,
                        time: rfc3339(e.time),
                        summary: format!("{status} {id}").trim().to_string(),
                        json: serde_json::to_string_pretty(&e.event).unwrap_or_default(),
                    }
                })
                .collect(),
            next_token: page.next_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(down: i64, up: i64) -> BarView {
        BarView {
            start: String::new(),
            end: String::new(),
            label: String::new(),
            down_secs: down,
            up_secs: up,
            no_data_secs: 0,
            outages: 0,
        }
    }

    #[test]
    fn bars_are_graded_by_time_down() {
        assert_eq!(bar(0, 0).level(), "nodata");
        assert_eq!(bar(0, 100).level(), "up");
        assert_eq!(bar(1, 1000).level(), "degraded");
        assert_eq!(bar(600, 1000).level(), "down");
    }
}
