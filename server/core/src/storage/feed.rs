//! [`ChangeFeed`]: where replicas sharing one storage relay their live
//! changes to each other (the console's notifications, see
//! [`crate::changes`]), so a page open on any replica follows what every
//! replica does. Only shared storages have one (DynamoDB); the embedded
//! backend is one process and needs none.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::changes::Topic;

/// One replica's changes over a short interval (coalesced: each topic and
/// part once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// Unique across replicas; entries are ordered by it within one
    /// writer: `<at_ms:013>#<replica>#<seq>`.
    pub id: String,
    /// The replica that made the changes.
    pub replica: String,
    /// When the writer appended it (its clock).
    pub at: DateTime<Utc>,
    /// What changed: topics with their part (`None`: any part).
    pub changes: Vec<(Topic, Option<String>)>,
}

/// The shared change feed.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Appends `entry` (kept about an hour: readers only look back
    /// seconds).
    async fn append(&self, entry: &FeedEntry) -> Result<(), StoreError>;

    /// Entries appended at or after `since` by their writer's clock, oldest
    /// first (strongly consistent: an entry whose append was acknowledged is
    /// read).
    async fn since(&self, since: DateTime<Utc>) -> Result<Vec<FeedEntry>, StoreError>;
}
