//! [`MonitorHistory`]: what the history read models (timelines, uptime,
//! outages, incidents) read of the monitor's records — status changes by
//! part and time, which hours had checks, and the roll-ups' latency
//! histograms. On SQLite the `mon_status_changes`, `mon_rollups` and
//! `mon_latency_bins` tables; on DynamoDB the changes table's `part_time`
//! index and the roll-up items, so every replica reads
//! the same history, whichever replica polled.

use async_trait::async_trait;

use super::StoreError;
use crate::latency::LatencyHistogram;

/// A roll-up's latency histogram as the history reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyRollup {
    /// The roll-up's start (its minute, hour or day), in epoch ms.
    pub bucket_ms: i64,
    /// Its checks counted per latency bin (empty for roll-ups written
    /// before the histograms were kept).
    pub histogram: LatencyHistogram,
}

/// A status change as the history reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// The change's id (commit order).
    pub id: i64,
    /// The part.
    pub part: String,
    /// When it happened, in epoch milliseconds.
    pub at_ms: i64,
    /// The new status (`up`, `down`).
    pub status: String,
    /// The status before.
    pub prev_status: String,
}

/// The monitor's records, read for history.
#[async_trait]
pub trait MonitorHistory: Send + Sync {
    /// The changes of `part` that matter for `[a, b)`: the one in force at
    /// `a` (the last at or before it), those inside, and the first at or
    /// after `b`; in `(at_ms, id)` order.
    async fn changes_around(
        &self,
        part: &str,
        a: i64,
        b: i64,
    ) -> Result<Vec<ChangeRow>, StoreError>;

    /// The starts (ms) of the hour buckets of `part` in `[lo, hi)` holding
    /// at least one check, ascending.
    async fn checked_hours(&self, part: &str, lo: i64, hi: i64) -> Result<Vec<i64>, StoreError>;

    /// The latency histograms of `part`'s roll-ups of `granularity`
    /// (`minute`, `hour`, `day`) starting in `[lo, hi)`, ascending. A
    /// roll-up without checks has no row; one written before histograms were
    /// kept has none or an empty histogram.
    async fn latency_rollups(
        &self,
        part: &str,
        granularity: &str,
        lo: i64,
        hi: i64,
    ) -> Result<Vec<LatencyRollup>, StoreError>;

    /// `down` changes with an id below `before` (of `part`, or of every
    /// part), newest first, at most `limit`.
    async fn downs_before(
        &self,
        before: i64,
        part: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ChangeRow>, StoreError>;

    /// The change `id`, if any.
    async fn change(&self, id: i64) -> Result<Option<ChangeRow>, StoreError>;

    /// Every check of `part` recorded so far and how many failed (the sum
    /// of its day roll-ups, whichever replica polled).
    async fn check_totals(&self, part: &str) -> Result<(u64, u64), StoreError>;

    /// The first change of `part` after `(at_ms, id)` in `(at_ms, id)`
    /// order.
    async fn next_change(
        &self,
        part: &str,
        at_ms: i64,
        id: i64,
    ) -> Result<Option<ChangeRow>, StoreError>;
}
