//! The SaaS parts: the overview (`GET /api/v1/parts`, the console's status
//! board) and manual circuit overrides.

use serde::{Deserialize, Serialize};

use crate::replays::ReplayView;

/// A manual circuit override to set (`mode` `none` clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OverrideRequestBody))]
pub struct OverrideRequest {
    /// `force_open`, `force_closed`, `disabled` or `none`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(force_open|force_closed|disabled|none)$")
    )]
    pub mode: String,
    /// Why; required unless `mode` is `none`.
    pub reason: Option<String>,
    /// Who sets it; the signed-in caller's name when sign-in is on.
    pub by: Option<String>,
}

/// A manual circuit override in force (as resilience4j's forced states).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OverrideBody))]
pub struct Override {
    /// `force_open`, `force_closed` or `disabled`.
    pub mode: String,
    /// Why it was set.
    pub reason: String,
    /// Who set it.
    pub by: Option<String>,
    /// When (RFC 3339, milliseconds).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
}

/// A part's override and effective circuit after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OverrideResultBody))]
pub struct OverrideResult {
    /// The part.
    pub part: String,
    /// The override in force, `null` when none.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// `closed` (vouchers are submitted) or `open` (held as `retry`).
    pub circuit: String,
}

/// A health check of a part run on request (`POST /api/v1/parts/{part}/check`),
/// recorded like any poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CheckBody))]
pub struct CheckResult {
    /// The part.
    pub part: String,
    /// When the check started (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// Whether the part answered healthy.
    pub ok: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: u64,
    /// Why it failed, `null` when it passed.
    pub error: Option<String>,
    /// The part's status after the check: `pending`, `up` or `down`.
    pub status: String,
    /// Whether this check changed the status.
    pub changed: bool,
}

/// How many vouchers of a part are in each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherCountsBody))]
pub struct VoucherCounts {
    /// Stored, not yet decided.
    pub received: u64,
    /// Being submitted right now.
    pub submitting: u64,
    /// Held back, waiting for a replay.
    pub retry: u64,
    /// Accepted by the SaaS.
    pub submitted: u64,
    /// Refused by the SaaS.
    pub error: u64,
    /// Given up on.
    pub dead_lettered: u64,
}

/// Uptime percentages over the standard windows (`null`: no data then).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UptimeSummaryBody))]
pub struct UptimeSummary {
    /// Last 24 hours.
    pub h24: Option<f64>,
    /// Last 7 days.
    pub d7: Option<f64>,
    /// Last 30 days.
    pub d30: Option<f64>,
    /// Last 90 days.
    pub d90: Option<f64>,
}

/// One SaaS part on the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PartBody))]
pub struct Part {
    /// Part name, e.g. `voucher`.
    pub name: String,
    /// `unknown`, `pending`, `up` or `down`.
    pub status: String,
    /// When the status last changed (RFC 3339), if it did.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub since: Option<String>,
    /// Seconds between the last status change and the snapshot.
    pub since_secs: Option<i64>,
    /// Archive that keeps the part's retry events.
    pub archive: String,
    /// Consecutive failed checks, against `failure_threshold`.
    pub failures: u32,
    /// Failed checks that make the part down.
    pub failure_threshold: u32,
    /// Consecutive good checks, against `recovery_threshold` while down.
    pub successes: u32,
    /// Good checks that bring a down part back up.
    pub recovery_threshold: u32,
    /// Last health check (RFC 3339), if any.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_check_at: Option<String>,
    /// Why the last check failed, if it did.
    pub last_error: Option<String>,
    /// Effective circuit the submission flow reads: `closed` or `open`.
    pub circuit: String,
    /// The manual override in force, if any.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// The maintenance window holding the circuit open now, if any.
    ///
    /// The browser build reads only what the console's card shows of it
    /// (`id`, `end`, `ended_at`, `reason`, `by`; the other fields stay
    /// empty), which keeps the full window's deserializer out of the
    /// overview's wasm module: see [`crate::maintenance::holding`].
    #[serde(default)]
    #[cfg_attr(
        target_arch = "wasm32",
        serde(deserialize_with = "crate::maintenance::holding")
    )]
    pub maintenance: Option<crate::MaintenanceWindow>,
    /// Vouchers of the part by status.
    pub vouchers: VoucherCounts,
    /// Uptime over the standard windows.
    pub uptime: UptimeSummary,
    /// Response time of the part's checks over the last hour.
    pub recent_latency: crate::RecentLatency,
    /// Events the part's archive holds, when known.
    pub archived: Option<u64>,
    /// Vouchers resubmitted by replays (sum over the part's replays).
    pub resubmitted: u64,
    /// The part's newest replay.
    pub latest_replay: Option<ReplayView>,
    /// Replay margin of the part, in seconds.
    pub replay_margin_secs: i64,
    /// Window the console's replay dialog proposes from this card (RFC
    /// 3339): the current outage plus the margin while down, else the
    /// latest replay's window, else the last hour.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub suggest_start: String,
    /// End of the proposed window (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub suggest_end: String,
}

/// The overview: every configured part, in configuration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PartsBody))]
pub struct Overview {
    /// The parts.
    pub parts: Vec<Part>,
    /// When the server produced this snapshot (RFC 3339, milliseconds).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub generated_at: String,
}
