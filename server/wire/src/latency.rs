//! Response time of a part's health checks: p50 and p95 per slot of a
//! timeline's range (`GET /api/v1/parts/{part}/latency`, the timeline's
//! chart), and the last hour per minute (the overview card's sparkline).
//! Percentiles are estimated from fixed latency bins: exact below 8 ms,
//! otherwise within 25% of the true value (docs/console.md).

use serde::{Deserialize, Serialize};

/// p50 and p95 of a part's checks per slot (day, hour or minute) of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LatencyBody))]
pub struct LatencySeries {
    /// The part.
    pub part: String,
    /// Slot size: `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first slot.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// End of the last slot (exclusive).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// Checks with a recorded latency over the whole range.
    pub checks: u64,
    /// Median over the whole range, in ms; `null` without checks.
    pub p50_ms: Option<u64>,
    /// 95th percentile over the whole range, in ms; `null` without checks.
    pub p95_ms: Option<u64>,
    /// The slots, oldest first (the timeline's bars).
    pub points: Vec<LatencyPoint>,
}

/// The checks of one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LatencyPointBody))]
pub struct LatencyPoint {
    /// Its start.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// Its end (exclusive).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// `2026-11-26`, `10:00` or `10:42` (UTC).
    pub label: String,
    /// Checks with a recorded latency.
    pub checks: u64,
    /// Median latency in ms; `null` without checks.
    pub p50_ms: Option<u64>,
    /// 95th percentile in ms; `null` without checks.
    pub p95_ms: Option<u64>,
}

/// A part's response time over the last hour, for the overview's sparkline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RecentLatencyBody))]
pub struct RecentLatency {
    /// Median per minute in ms, oldest first, the current minute last (60
    /// entries; `null`: no check that minute).
    pub p50_ms_per_minute: Vec<Option<u64>>,
    /// Median over the hour, in ms.
    pub p50_ms: Option<u64>,
    /// 95th percentile over the hour, in ms.
    pub p95_ms: Option<u64>,
}
