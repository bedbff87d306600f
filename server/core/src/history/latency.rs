//! Response time of a part's health checks: p50 and p95 per slot of a
//! timeline's range (days, the hours of a day, the minutes of an hour), from
//! the latency histograms of the roll-ups of that granularity
//! ([`crate::latency`]: the error bound of the estimates), and the last
//! hour per minute for the overview's sparkline. Every check counts, failed
//! ones included (a timeout counts as the time waited).

use chrono::{DateTime, Utc};

use super::params::{Range, Slots};
use super::{floor, time, History, HistoryError, MINUTE_MS};
use crate::latency::LatencyHistogram;

/// Minutes of the overview's recent response time.
pub const RECENT_MINUTES: i64 = 60;

/// p50 and p95 of a part's checks per slot of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySeries {
    /// The part.
    pub part: String,
    /// Slot size: `day`, `hour` or `minute`.
    pub granularity: String,
    /// Start of the first slot.
    pub start: DateTime<Utc>,
    /// End of the last slot (exclusive).
    pub end: DateTime<Utc>,
    /// Over the whole range.
    pub overall: LatencyPoint,
    /// The slots, oldest first.
    pub points: Vec<LatencyPoint>,
}

/// The checks of one slot (or of a whole range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyPoint {
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end (exclusive).
    pub end: DateTime<Utc>,
    /// `2026-11-26` (day), `10:00` (hour) or `10:42` (minute), UTC.
    pub label: String,
    /// Checks with a recorded latency.
    pub checks: u64,
    /// Median latency in ms; `None` without checks.
    pub p50_ms: Option<u64>,
    /// 95th percentile in ms; `None` without checks.
    pub p95_ms: Option<u64>,
}

impl LatencyPoint {
    fn new(a: i64, b: i64, label: String, h: &LatencyHistogram) -> Self {
        LatencyPoint {
            start: time(a),
            end: time(b),
            label,
            checks: h.total(),
            p50_ms: h.percentile(0.5),
            p95_ms: h.percentile(0.95),
        }
    }
}

impl History {
    /// p50 and p95 of `part`'s checks per slot of `range`.
    pub async fn latency(
        &self,
        part: &str,
        range: Range,
        now: DateTime<Utc>,
    ) -> Result<LatencySeries, HistoryError> {
        let slots = range.slots(now)?;
        self.latency_over(part, slots).await
    }

    /// p50 and p95 per minute over the last [`RECENT_MINUTES`], the current
    /// minute last.
    pub async fn recent_latency(
        &self,
        part: &str,
        now: DateTime<Utc>,
    ) -> Result<LatencySeries, HistoryError> {
        let this_minute = floor(now.timestamp_millis(), MINUTE_MS);
        self.latency_over(
            part,
            Slots {
                granularity: "minute",
                start: this_minute - (RECENT_MINUTES - 1) * MINUTE_MS,
                size: MINUTE_MS,
                count: RECENT_MINUTES,
            },
        )
        .await
    }

    async fn latency_over(&self, part: &str, s: Slots) -> Result<LatencySeries, HistoryError> {
        let part = self.known(part)?;
        let rollups = self
            .monitor
            .latency_rollups(&part, s.granularity, s.start, s.end())
            .await?;
        let mut overall = LatencyHistogram::default();
        let empty = LatencyHistogram::default();
        let mut rows = rollups.iter().peekable();
        let points = (0..s.count)
            .map(|i| {
                let (a, b) = (s.start + i * s.size, s.start + (i + 1) * s.size);
                // Roll-ups start on their slot's start; skip any other.
                while rows.next_if(|r| r.bucket_ms < a).is_some() {}
                let h = rows
                    .next_if(|r| r.bucket_ms == a)
                    .map_or(&empty, |r| &r.histogram);
                overall.merge(h);
                let t = time(a);
                let label = match s.granularity {
                    "day" => t.format("%Y-%m-%d").to_string(),
                    _ => t.format("%H:%M").to_string(),
                };
                LatencyPoint::new(a, b, label, h)
            })
            .collect();
        Ok(LatencySeries {
            overall: LatencyPoint::new(s.start, s.end(), String::new(), &overall),
            part,
            granularity: s.granularity.into(),
            start: time(s.start),
            end: time(s.end()),
            points,
        })
    }
}
