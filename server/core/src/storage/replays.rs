//! The [`ReplayStore`] port: replay records and progress, handled replayed
//! events, latest intervals and the recovery cursor (their model in
//! `replay_records`) — SQLite's `rec_*` tables (`mediator-sqlite`)
//! or one DynamoDB table every replica shares, so a replay started by one
//! replica is listed, counted and guarded — "one active replay per part" —
//! by all of them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::replay_records::ReplayRecord;
pub use crate::replay_records::{tally, Counted, HandledEvent, NewReplay, Recorded};

/// Where replay records, handled replayed events, latest intervals and the
/// recovery cursor are kept.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// The id of the last status change the recovery trigger has handled.
    async fn cursor(&self) -> Result<i64, StoreError>;

    /// Moves the trigger's cursor to `id` (never backwards).
    async fn advance_cursor(&self, id: i64) -> Result<(), StoreError>;

    /// Records `new` under the first free name at or after its creation
    /// second, or — when a replay for its `change_id` is already recorded
    /// (a recovery retried after a failure or a crash) — returns that
    /// replay's name and records nothing. Records nothing either when the
    /// part's most recently recorded replay is no longer `new.after`.
    async fn create(&self, new: &NewReplay) -> Result<Recorded, StoreError>;

    /// The part's most recently recorded replay, read consistently on every
    /// backend (what [`NewReplay::after`] is compared with).
    async fn newest_of_part(&self, part: &str) -> Result<Option<ReplayRecord>, StoreError>;

    /// The bus accepted the replay: marks it started and makes its window
    /// the part's latest replay interval.
    async fn mark_started(&self, name: &str) -> Result<(), StoreError>;

    /// The bus refused the replay, for `reason`.
    async fn mark_refused(&self, name: &str, reason: &str) -> Result<(), StoreError>;

    /// One replay.
    async fn get(&self, name: &str) -> Result<Option<ReplayRecord>, StoreError>;

    /// Replays newest first (by creation, then name), of `part` when given,
    /// only the started ones when `started_only`; at most `limit`.
    async fn newest(
        &self,
        part: Option<&str>,
        started_only: bool,
        limit: usize,
    ) -> Result<Vec<ReplayRecord>, StoreError>;

    /// Replays of `part` whose window overlaps `[start, end]` (both in epoch
    /// ms, inclusive), oldest first.
    async fn overlapping(
        &self,
        part: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<ReplayRecord>, StoreError>;

    /// The part's latest replay interval (of its latest started replay).
    async fn latest_interval(
        &self,
        part: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError>;

    /// Vouchers resubmitted by every replay of `part`.
    async fn resubmitted_total(&self, part: &str) -> Result<i64, StoreError>;

    /// Whether each `(replay, event id)` was already counted.
    async fn seen(&self, pairs: &[(String, String)]) -> Result<Vec<bool>, StoreError>;

    /// Counts each event once per (replay, event id) into its replay's
    /// progress (an event already counted is left out); returns the
    /// progress of every replay that counted something.
    async fn count(&self, events: &[HandledEvent]) -> Result<Vec<Counted>, StoreError>;

    /// The `(voucher, outcome)` of every event `replay` delivered that was
    /// handled.
    async fn outcomes(&self, replay: &str) -> Result<Vec<(String, String)>, StoreError>;
}
