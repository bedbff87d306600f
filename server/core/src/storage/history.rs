//! [`MonitorHistory`]: what the history read models (timelines, uptime,
//! outages, incidents) read of the monitor's records — status changes by
//! part and time, and which hours had checks. On SQLite the
//! `mon_status_changes` and `mon_rollups` tables; on DynamoDB the changes
//! table's `part_time` index and the hour roll-ups, so every replica reads
//! the same history, whichever replica polled.

use async_trait::async_trait;

use super::StoreError;

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
