//! The read models: uptime, timelines with their outages, incidents and a
//! part's counters, as the JSON API answers them; and the console's views
//! of timelines and incidents, which add the replay window its dialog
//! proposes (and where an outage sits on its timeline).

use serde::{Deserialize, Serialize};

/// A part's uptime over the standard windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UptimeBody))]
pub struct Uptime {
    /// The part.
    pub part: String,
    /// `24h`, `7d`, `30d` and `90d`, in that order.
    pub windows: Vec<UptimeWindow>,
}

/// Uptime over one window ending now (from status changes, not checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UptimeWindowBody))]
pub struct UptimeWindow {
    /// `24h`, `7d`, `30d` or `90d`.
    pub window: String,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds without data (before the first check, mediator stopped).
    pub no_data_secs: i64,
    /// `up / (up + down) × 100`; `null` when the window has no data.
    pub percent: Option<f64>,
}

/// Bars over a range at one granularity, with the outages overlapping it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = TimelineBody))]
pub struct Timeline {
    /// The part.
    pub part: String,
    /// `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first bar.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// End of the last bar (exclusive).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// The outages overlapping the range, oldest first.
    pub outages: Vec<Outage>,
}

/// One bar of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BarBody))]
pub struct Bar {
    /// Its start.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// Its end (exclusive).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// `2026-11-26`, `10:00` or `10:42` (UTC).
    pub label: String,
    /// Seconds down.
    pub down_secs: i64,
    /// Seconds up.
    pub up_secs: i64,
    /// Seconds without data (including the future).
    pub no_data_secs: i64,
    /// `down_secs / 60`.
    pub down_minutes: f64,
    /// Outages overlapping the bar.
    pub outages: u32,
}

impl Bar {
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

/// An outage: from a `down` status change to the next change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OutageBody))]
pub struct Outage {
    /// The incident id.
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// When it came back; `null` while ongoing.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: Option<String>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds from start to end (to now while ongoing).
    pub duration_secs: i64,
    /// Vouchers held back during it.
    pub retries_held: i64,
}

/// A replay as the read models show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = IncidentReplayBody))]
pub struct IncidentReplay {
    /// The replay's name.
    pub name: String,
    /// `recovery`, `manual` or `sweeper`.
    pub trigger: String,
    /// Who started it (see `ReplayBody.by`).
    pub by: Option<String>,
    /// Window start.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_start: String,
    /// Window end.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_end: String,
    /// When it was asked for.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The bus's state, `NOT_STARTED` or `UNKNOWN`.
    pub state: String,
    /// Retry events its window holds.
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted.
    pub resubmitted: i64,
    /// …skipped.
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

/// A part's overview counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PartCountersBody))]
pub struct PartCounters {
    /// The part.
    pub part: String,
    /// Vouchers held back now.
    pub pending_retries: i64,
    /// Events the part's archive holds; `null` when the bus did not answer.
    pub archived: Option<i64>,
    /// Vouchers resubmitted by the part's replays.
    pub resubmitted: i64,
    /// Vouchers dead-lettered now.
    pub dead_lettered: i64,
    /// The latest replay with its progress.
    pub latest_replay: Option<IncidentReplay>,
}

/// A status change an incident links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ChangeRefBody))]
pub struct ChangeRef {
    /// Its id.
    pub id: i64,
    /// The new status.
    pub status: String,
    /// The status before.
    pub prev_status: String,
    /// When.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
}

/// What became of the vouchers an incident held back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = IncidentOutcomeBody))]
pub struct IncidentOutcome {
    /// Resubmitted by a replay.
    pub resubmitted: i64,
    /// Skipped by the replays.
    pub skipped: i64,
    /// Failed in the replays.
    pub failed: i64,
    /// Dead-lettered now.
    pub dead_lettered: i64,
    /// Still waiting now.
    pub pending: i64,
}

/// An outage as a record: the status changes, the retries held, the
/// replays that recovered them and the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = IncidentBody))]
pub struct Incident {
    /// The id (of the `down` status change).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When the part went down.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// When it came back; `null` while ongoing.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: Option<String>,
    /// Whether it is still down.
    pub ongoing: bool,
    /// Seconds it lasted (so far).
    pub duration_secs: i64,
    /// Vouchers held back.
    pub retries_held: i64,
    /// The `down` change, then the one that ended it.
    pub status_changes: Vec<ChangeRef>,
    /// Replays whose window overlaps it, oldest first.
    pub replays: Vec<IncidentReplay>,
    /// What became of the held vouchers.
    pub outcome: IncidentOutcome,
    /// `ongoing`, `recovering`, `needs_attention` or `resolved`.
    pub state: String,
    /// The vouchers of the part received while it was down, with their
    /// status now: the `GET /api/v1/vouchers` query that lists them
    /// (`/api/v1/vouchers?part=…&from=<start>&to=<end>`, without `to`
    /// while ongoing).
    pub vouchers: String,
}

impl Incident {
    /// The list of the part's vouchers received while it was down (from
    /// `start`, before `end` unless ongoing), of `status` only when given:
    /// the filter the console's `/vouchers` and the API's list take.
    pub fn held_vouchers(&self, status: Option<&str>) -> crate::VoucherListQuery {
        crate::VoucherListQuery {
            part: Some(self.part.clone()),
            status: status.map(str::to_owned),
            from: Some(self.start.clone()),
            to: self.end.clone(),
            min_attempts: None,
        }
    }

    /// Sets [`Incident::vouchers`], the API query of
    /// [`Incident::held_vouchers`].
    pub fn with_vouchers_link(mut self) -> Self {
        self.vouchers = format!("/api/v1/vouchers?{}", self.held_vouchers(None).to_query());
        self
    }
}

/// A page of incidents, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = IncidentPageBody))]
pub struct IncidentPage {
    /// The incidents.
    pub incidents: Vec<Incident>,
    /// Pass as `next_token` for older ones; `null` on the last page.
    pub next_token: Option<String>,
}

/// An outage as the console shows it: the outage, the replay window its
/// dialog proposes (the part's margin around it) and, on a timeline, where
/// it sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutageView {
    /// The outage (nested, not flattened: the console's page copy then
    /// writes it as an array of its fields).
    pub outage: Outage,
    /// Proposed replay window start: start − margin (RFC 3339).
    pub replay_start: String,
    /// Proposed replay window end: end (or now) + margin (RFC 3339).
    pub replay_end: String,
    /// Where the outage starts on its timeline, in % of the range (0 off a timeline).
    pub left_pct: f64,
    /// How much of the timeline's range it covers, in %.
    pub width_pct: f64,
}

/// One part's timeline as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineView {
    /// The part.
    pub part: String,
    /// `day`, `hour` or `minute` bars.
    pub granularity: String,
    /// Start of the first bar (RFC 3339).
    pub start: String,
    /// End of the last bar (RFC 3339).
    pub end: String,
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// Outages overlapping the range, oldest first.
    pub outages: Vec<OutageView>,
    /// p50 and p95 of the part's checks per bar.
    pub latency: crate::LatencySeries,
}

/// An incident as the console shows it, with the replay window its
/// dialog proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    /// The incident (nested, as [`OutageView::outage`]).
    pub incident: Incident,
    /// Proposed replay window start: start − margin (RFC 3339).
    pub replay_start: String,
    /// Proposed replay window end: end (or now) + margin (RFC 3339).
    pub replay_end: String,
}

/// A page of the console's incidents, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentViewPage {
    /// The incidents.
    pub incidents: Vec<IncidentView>,
    /// Token of the next (older) page.
    pub next_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(down: i64, up: i64) -> Bar {
        Bar {
            start: String::new(),
            end: String::new(),
            label: String::new(),
            down_secs: down,
            up_secs: up,
            no_data_secs: 0,
            down_minutes: down as f64 / 60.0,
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
