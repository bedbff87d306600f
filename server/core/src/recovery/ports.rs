//! What recovery needs of the bus: archive replays (EventBridge
//! StartReplay/DescribeReplay/CancelReplay) and the queues the resubmit
//! rules feed (SQS on AWS).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::part::PartName;

/// A replay to start: the part's archive over `[start, end)`, delivered only
/// to the part's resubmit rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// `<ArchiveBase>Replay_YYYYMMDDHHMMSS`.
    pub name: String,
    /// The part.
    pub part: PartName,
    /// The part's archive.
    pub archive: String,
    /// Window start (event time).
    pub start: DateTime<Utc>,
    /// Window end (event time).
    pub end: DateTime<Utc>,
}

/// A replay as the bus reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplayInfo {
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED or FAILED.
    pub state: String,
    /// Why it is in that state, when the bus says.
    pub state_reason: Option<String>,
    /// The replay's cursor: event time up to which it has replayed.
    pub event_last_replayed_time: Option<DateTime<Utc>>,
    /// When it started.
    pub replay_start_time: Option<DateTime<Utc>>,
    /// When it ended.
    pub replay_end_time: Option<DateTime<Utc>>,
}

/// Why the bus did not start or describe a replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A replay of that name exists already.
    #[error("replay exists already: {0}")]
    AlreadyExists(String),
    /// Refused for good (bad window, missing archive, …).
    #[error("replay refused: {0}")]
    Rejected(String),
    /// Try again later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// No such replay.
    #[error("replay not found: {0}")]
    NotFound(String),
    /// The replay is no longer running.
    #[error("replay already finished: {0}")]
    Finished(String),
}

/// Starts and describes archive replays (EventBridge StartReplay/DescribeReplay).
#[async_trait]
pub trait ArchiveReplays: Send + Sync {
    /// Starts `req`, delivered only to the part's resubmit rule.
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError>;
    /// The replay's state, `None` if the bus does not know it.
    async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError>;
    /// Cancels a running replay (EventBridge CancelReplay): `NotFound` if
    /// the bus does not know it, `Finished` if it is no longer running.
    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError>;
    /// The bus's own count of `archive`'s events: the embedded bus counts
    /// those with an event time in `[start, end)`; EventBridge only reports
    /// the whole archive's `EventCount`, approximate and updated with a
    /// delay. Shown for what it is; recovery counts from its own ledger.
    async fn count_archived(
        &self,
        archive: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, ReplayError>;
}

/// Which of a part's queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Replayed retry events to resubmit.
    Resubmit,
    /// Messages that failed too often.
    DeadLetter,
}

/// A received queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// The event JSON.
    pub body: String,
    /// Handle to delete it with.
    pub receipt: String,
}

/// The queues the resubmit rules feed (SQS on AWS).
#[async_trait]
pub trait ResubmitQueue: Send + Sync {
    /// Receives up to `max` messages of `part`'s `lane`, waiting up to `wait`
    /// for the first.
    async fn receive(
        &self,
        part: &PartName,
        lane: Lane,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<QueuedEvent>, String>;
    /// Deletes a handled message.
    async fn delete(&self, part: &PartName, lane: Lane, receipt: &str) -> Result<(), String>;
    /// Deletes handled messages; backends that can should do it in one call.
    async fn delete_many(
        &self,
        part: &PartName,
        lane: Lane,
        receipts: Vec<String>,
    ) -> Result<(), String> {
        for r in &receipts {
            self.delete(part, lane, r).await?;
        }
        Ok(())
    }
    /// Keeps in-flight messages invisible for `by` more (SQS
    /// ChangeMessageVisibility), for work that outlasts the queue's
    /// visibility timeout. The default does nothing: the embedded queues'
    /// timeout already exceeds a resubmission's lease.
    async fn extend_visibility(
        &self,
        _part: &PartName,
        _lane: Lane,
        _receipts: &[String],
        _by: Duration,
    ) -> Result<(), String> {
        Ok(())
    }
}
