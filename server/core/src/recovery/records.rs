//! The replays as the mediator recorded them, and as the bus reports them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Recovery, ReplayError, ReplayInfo, ReplayRecord};
use crate::storage::replays::ReplayStore;
use crate::storage::StoreError;

impl Recovery {
    /// Where the replays are recorded.
    pub fn replay_store(&self) -> Arc<dyn ReplayStore> {
        self.records.clone()
    }

    /// The part's latest replay interval.
    pub async fn latest_interval(
        &self,
        part: &str,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, StoreError> {
        self.records.latest_interval(part).await
    }

    /// The replays the mediator started, newest first.
    pub async fn list_replays(&self, limit: usize) -> Result<Vec<ReplayRecord>, StoreError> {
        self.records.newest(None, false, limit).await
    }

    /// One replay the mediator started.
    pub async fn replay(&self, name: &str) -> Result<Option<ReplayRecord>, StoreError> {
        self.records.get(name).await
    }

    /// The bus's view of a replay (state and cursor).
    pub async fn replay_state(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        self.replays.describe_replay(name).await
    }
}
