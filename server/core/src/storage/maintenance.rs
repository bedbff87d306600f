//! [`MaintenanceStore`]: the parts' maintenance windows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::maintenance_window::MaintenanceWindow;

/// What [`MaintenanceStore::schedule`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// Recorded.
    Recorded,
    /// Not recorded: it overlaps this window of the same part.
    Overlaps(Box<MaintenanceWindow>),
}

/// The parts' maintenance windows. A window that holds at `now`
/// ([`MaintenanceWindow::holds`]) holds its part's circuit open in the
/// [`VoucherStore`](super::VoucherStore)'s hold and claim decided at `now`
/// (in their own write, as an override does), and `part_is_up` is false.
#[async_trait]
pub trait MaintenanceStore: Send + Sync {
    /// Records `w` unless it overlaps another (not cancelled) window of its
    /// part; two schedulers racing on overlapping windows: one is recorded.
    async fn schedule(&self, w: &MaintenanceWindow) -> Result<Scheduled, StoreError>;

    /// The window `id`.
    async fn window(&self, id: &str) -> Result<Option<MaintenanceWindow>, StoreError>;

    /// The windows of `part` (every part when `None`) whose hold ends at or
    /// after `since`, or whose replay has not started; by start.
    async fn windows(
        &self,
        part: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Vec<MaintenanceWindow>, StoreError>;

    /// Ends the window `id` at `at` (early, or before it starts: cancelled)
    /// unless its hold already ended by then; returns it as stored after.
    async fn end(
        &self,
        id: &str,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<Option<MaintenanceWindow>, StoreError>;

    /// Records the replay of the window `id` (its name, or why none could
    /// start) unless one is already recorded; whether it was written.
    async fn mark_replayed(&self, id: &str, replay: &str) -> Result<bool, StoreError>;
}
