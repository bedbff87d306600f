//! Replays: the request that starts one, a replay as the JSON API answers
//! it, the preview of a window, and the console's flat view of a replay
//! (also the overview's `latest_replay`).

use serde::{Deserialize, Serialize};

/// A replay to start: `start` and `end` together, or neither (then the
/// part's latest replay interval is replayed again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ReplayRequestBody))]
pub struct ReplayRequest {
    /// The part whose archive is replayed.
    pub part: String,
    /// Window start (RFC 3339, event time).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: Option<String>,
    /// Window end (RFC 3339, exclusive); at most the archive's retention
    /// after `start`, not in the future.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: Option<String>,
    /// Who starts it (a non-empty string; default `api`), stored with the
    /// replay; the signed-in caller's name when sign-in is on.
    pub by: Option<String>,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

/// Progress of a replay, from the mediator's own ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ReplayProgressBody))]
pub struct ReplayProgress {
    /// Retry events of the part in the window.
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted and accepted.
    pub resubmitted: i64,
    /// …skipped (already submitted, error or in flight).
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

/// A replay the mediator started, with the bus's state and cursor, as the
/// JSON API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ReplayBody))]
pub struct Replay {
    /// `<ArchiveBase>Replay_YYYYMMDDHHMMSS`.
    pub name: String,
    /// The part.
    pub part: String,
    /// The archive replayed.
    pub archive: String,
    /// Window start.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_start: String,
    /// Window end.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_end: String,
    /// When it was asked for.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// `recovery`, `sweeper` or `manual`.
    pub trigger: String,
    /// Who started it: the operator's name (or `api`), `recovery` or
    /// `sweeper`; `null` for manual replays recorded before this was stored.
    pub by: Option<String>,
    /// Whether the bus accepted it.
    pub started: bool,
    /// Why the bus refused it.
    pub start_error: Option<String>,
    /// Progress.
    pub progress: ReplayProgress,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED (or
    /// UNKNOWN / NOT_STARTED when the bus does not know it).
    pub state: String,
    /// Why it is in that state.
    pub state_reason: Option<String>,
    /// The replay's cursor: event time replayed so far.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub event_last_replayed_time: Option<String>,
    /// When the bus started it.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub replay_start_time: Option<String>,
    /// When the bus finished it.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub replay_end_time: Option<String>,
}

/// The replays the mediator started, newest first (at most 100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplayList {
    /// The replays.
    pub replays: Vec<Replay>,
}

/// What replaying a window would touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PreviewBody))]
pub struct Preview {
    /// Retry events of the part in the window, by event time: what the
    /// part's archive holds in the window once archived. Exact on both
    /// backends, counted from the mediator's own ledger of the retry events
    /// it published (not the bus's figure).
    pub archived: i64,
    /// Vouchers of the part still `retry`/`received` whose retry event is in the window.
    pub pending: i64,
    /// The bus's own archive figure, for what it is: on AWS the whole
    /// archive's `EventCount` (every event it holds, of any time;
    /// approximate, EventBridge updates it with a delay); on the embedded
    /// bus the archive's events in the window. `null` when the bus cannot say.
    #[serde(default)]
    pub archive_event_count: Option<i64>,
}

/// A replay as the console shows it, and the overview's `latest_replay`:
/// the record, the bus's state and times, flat progress counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ReplaySummaryBody))]
pub struct ReplayView {
    /// `<ArchiveBase>Replay_YYYYMMDDHHMMSS`.
    pub name: String,
    /// The part.
    pub part: String,
    /// The archive replayed.
    pub archive: String,
    /// Window start (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_start: String,
    /// Window end (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub window_end: String,
    /// When the mediator asked for it (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// `recovery`, `sweeper` or `manual`.
    pub trigger: String,
    /// Who started it: the operator's name, `api`, or `recovery` /
    /// `sweeper` for automatic ones (`null` when not recorded: older replays).
    pub by: Option<String>,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED,
    /// NOT_STARTED or UNKNOWN.
    pub state: String,
    /// Why it is in that state, when known.
    pub state_reason: Option<String>,
    /// The replay's time cursor (event time replayed up to).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub cursor: Option<String>,
    /// When the bus started it.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: Option<String>,
    /// When the bus finished it.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub ended_at: Option<String>,
    /// Seconds it ran (up to now while active).
    pub duration_secs: Option<i64>,
    /// Retry events the replay will deliver (from our ledger).
    pub expected: i64,
    /// Replayed events handled.
    pub processed: i64,
    /// …resubmitted and accepted.
    pub resubmitted: i64,
    /// …skipped (already final or in flight).
    pub skipped: i64,
    /// …failed.
    pub failed: i64,
}

impl ReplayView {
    /// Whether the replay is still running (one active replay per part).
    pub fn is_active(&self) -> bool {
        matches!(self.state.as_str(), "STARTING" | "RUNNING" | "CANCELLING")
    }

    /// Progress in percent: processed against expected (100 once completed).
    pub fn percent(&self) -> u32 {
        if self.state == "COMPLETED" {
            return 100;
        }
        if self.expected <= 0 {
            return 0;
        }
        ((self.processed.max(0) * 100) / self.expected).min(100) as u32
    }

    /// Who started it, in words.
    pub fn started_by(&self) -> String {
        match (&self.by, self.trigger.as_str()) {
            (Some(by), "manual") => by.clone(),
            (None, "manual") => "an operator (not recorded)".into(),
            (_, trigger) => format!("automatic ({trigger})"),
        }
    }
}

/// One page of the console's replay list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayPage {
    /// The replays of the page.
    pub replays: Vec<ReplayView>,
    /// The page number (0-based).
    pub page: usize,
    /// Whether an older page exists.
    pub has_more: bool,
}

/// What replaying a window would do, as the console's dialog shows it
/// before the operator confirms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayPreview {
    /// The part.
    pub part: String,
    /// Window start as understood by the server (RFC 3339).
    pub start: String,
    /// Window end as understood by the server (RFC 3339).
    pub end: String,
    /// Retry events of the part in the window (exact, from the mediator's
    /// own ledger): what the archive holds in the window once archived.
    pub archived: i64,
    /// Vouchers of the part still held with a retry event in the window.
    pub pending: i64,
    /// The bus's own archive figure (see [`Preview::archive_event_count`]):
    /// on AWS the whole archive's approximate `EventCount`.
    #[serde(default)]
    pub archive_event_count: Option<i64>,
    /// Set when the window ends more recently than the archive's lag.
    pub lag_warning: Option<String>,
    /// The part's active replay, which makes a launch refused now.
    pub active_replay: Option<String>,
}
