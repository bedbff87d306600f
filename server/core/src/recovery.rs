//! Recovery: when a part comes back up, replay its archive over the outage
//! and resubmit what is still pending (the seed's archive-and-replay).
//!
//! - **Trigger** ([`Recovery::trigger_step`]): reads new rows of
//!   `mon_status_changes` (the monitor's outbox) after a persisted cursor; a
//!   part going down → up starts a replay of the part's archive over
//!   `[down changed_at − margin, up changed_at + margin]`, named
//!   `<ArchiveBase>Replay_YYYYMMDDHHMMSS`, delivered only to the part's
//!   resubmit rule, and recorded (with the expected count from our own
//!   ledger) as the part's latest replay interval. It waits until the part's
//!   retry events in the window have left the outbox, so none is missed.
//! - **Drain** ([`Recovery::drain_step`]): the resubmit rule feeds a queue;
//!   replayed events are taken at a bounded concurrency and rate, and each is
//!   handled once ([`Recovery::handle`]): a voucher already `submitted` or
//!   `error` is skipped, otherwise it goes through the same submission flow.
//!   Messages that keep failing land in a dead-letter queue; their vouchers
//!   become `dead_lettered`.
//! - **Sweeper** ([`Recovery::sweep_step`]): resumes stuck vouchers
//!   (`received` never attempted, `submitting` with an expired lease), then,
//!   per part that is up, replays retry events no completed replay window
//!   covers (trigger `sweeper`).
//! - **Safety**: one active replay per part (recovery and the sweeper defer,
//!   the API gets [`RecoveryError::Busy`]); operators' windows are validated
//!   ([`Recovery::validate_window`]), previewed and cancellable.
//!
//! The bus is reached only through [`ArchiveReplays`] and [`ResubmitQueue`],
//! which the embedded backend implements now and the AWS backend later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use store::Database;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::datacache::time;
use crate::replay_records::{HandledEvent, NewReplay, Recorded, ReplayStore};
pub use crate::replay_records::{ItemOutcome, Progress, ReplayRecord};
use crate::storage::replays::SqliteReplays;
use crate::submit::SubmissionFlow;
use crate::voucher::VoucherStatus;
use crate::PartName;

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
    /// Events `archive` holds with an event time in `[start, end)`.
    async fn count_archived(
        &self,
        archive: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<i64, ReplayError>;
}

/// How often the drain extends the visibility of the batch it is handling.
pub const VISIBILITY_HEARTBEAT: Duration = Duration::from_secs(60);
/// How much longer each extension keeps the batch invisible.
pub const VISIBILITY_EXTENSION: Duration = Duration::from_secs(120);

/// Drain loops per part (when its concurrency is at least 2); they share
/// the part's concurrency and rate.
const DRAIN_WORKERS: usize = 2;

/// Replay states in which a replay is still active.
pub const ACTIVE_STATES: [&str; 3] = ["STARTING", "RUNNING", "CANCELLING"];

/// How long a recorded replay that the bus does not know yet (and that was
/// neither started nor refused) counts as active: the moment between one
/// replica recording a replay and the bus starting it, during which another
/// replica must not start a second one. A record left so by a crash or a
/// failed start stops blocking the part after this.
pub const STARTING_GRACE: Duration = Duration::from_secs(30);

/// Attempts at recording a replay while other replicas record theirs.
const RECORD_ATTEMPTS: usize = 3;

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

/// Errors of recovery.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bus refused or failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A queue failed.
    #[error("queue: {0}")]
    Queue(String),
    /// The part has an active replay (one at a time per part).
    #[error("part {part} has an active replay: {replay}")]
    Busy {
        /// The part.
        part: String,
        /// Its active replay.
        replay: String,
    },
    /// No such voucher.
    #[error("voucher {0:?} not found")]
    UnknownVoucher(String),
    /// The voucher is not dead-lettered.
    #[error("voucher {id:?} is {status}, not dead_lettered")]
    NotDeadLettered {
        /// The voucher.
        id: String,
        /// Its status.
        status: VoucherStatus,
    },
    /// A request named something invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// How recovery runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoverySettings {
    /// Added before the outage's start and after its end.
    pub margin: Duration,
    /// Replayed events handled per second, at most.
    pub rate_per_sec: f64,
    /// Replayed events handled at once, at most.
    pub concurrency: usize,
    /// How often the trigger looks for status changes.
    pub poll: Duration,
    /// How long an archive keeps events: a longer window is refused.
    pub retention: Duration,
    /// How often the sweeper looks for vouchers no replay covered.
    pub sweep_interval: Duration,
}

/// How far in the future an operator's window may end (clock skew, margin).
pub const FUTURE_TOLERANCE: Duration = Duration::from_secs(120);

/// What a replay of a window would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// Events the archive holds in the window (the bus's count).
    pub archived: i64,
    /// Vouchers of the part still `retry`/`received` whose retry event falls
    /// in the window (from the DataCache).
    pub pending: i64,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            rate_per_sec: 50.0,
            concurrency: 4,
            poll: Duration::from_millis(250),
            retention: Duration::from_secs(10 * 86_400),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

/// The recovery service.
pub struct Recovery {
    /// Replay records, handled events, latest intervals, the cursor.
    records: Arc<dyn ReplayStore>,
    /// Where the status changes the trigger follows are read.
    status: Arc<dyn crate::storage::StatusStore>,
    flow: Arc<SubmissionFlow>,
    replays: Arc<dyn ArchiveReplays>,
    queue: Arc<dyn ResubmitQueue>,
    settings: RecoverySettings,
    /// Per-part archive, retention, margin and pace (see [`Recovery::with_parts`]).
    per_part: std::collections::HashMap<String, PartRecovery>,
    /// Serialises "is a replay of the part active? → start one".
    start_lock: tokio::sync::Mutex<()>,
    /// Live-change notifications (topic `replay`), if wired.
    changes: Option<crate::Changes>,
    /// This replica's name in the claims on down→up changes.
    replica: String,
}

/// How one part is replayed: its archive, and the values of
/// [`RecoverySettings`] its configuration overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRecovery {
    /// The part's archive.
    pub archive: String,
    /// Added before the outage's start and after its end.
    pub margin: Duration,
    /// Replayed events handled per second, at most.
    pub rate_per_sec: f64,
    /// Replayed events handled at once, at most.
    pub concurrency: usize,
    /// How long the archive keeps events: a longer window is refused.
    pub retention: Duration,
}

impl Recovery {
    /// Recovery over `db`, resubmitting through `flow`.
    pub fn new(
        db: Database,
        flow: Arc<SubmissionFlow>,
        replays: Arc<dyn ArchiveReplays>,
        queue: Arc<dyn ResubmitQueue>,
        settings: RecoverySettings,
    ) -> Self {
        Self {
            status: Arc::new(crate::storage::sqlite::SqliteStore::new(db.clone())),
            records: Arc::new(SqliteReplays::new(db)),
            flow,
            replays,
            queue,
            settings,
            per_part: Default::default(),
            start_lock: tokio::sync::Mutex::new(()),
            changes: None,
            replica: crate::monitor::EMBEDDED_REPLICA.to_string(),
        }
    }

    /// Notifies `changes` (topic `replay`) when a replay starts, changes
    /// state, progresses (at most 5 times a second per replay) and ends.
    pub fn with_changes(mut self, changes: crate::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Follows a started replay on the bus until it is no longer active,
    /// notifying each state change and cursor move.
    fn watch_replay(&self, name: String, part: String) {
        let Some(changes) = self.changes.clone() else {
            return;
        };
        changes.notify(crate::Topic::Replay, Some(&part));
        let replays = self.replays.clone();
        tokio::spawn(async move {
            let mut last: Option<ReplayInfo> = None;
            let deadline = Instant::now() + Duration::from_secs(86_400);
            while Instant::now() < deadline {
                match replays.describe_replay(&name).await {
                    Ok(Some(info)) => {
                        let done = !ACTIVE_STATES.contains(&info.state.as_str());
                        match &last {
                            Some(l) if l.state == info.state => {
                                if l.event_last_replayed_time != info.event_last_replayed_time {
                                    changes.replay_progress(&name, &part);
                                }
                            }
                            _ => changes.notify(crate::Topic::Replay, Some(&part)),
                        }
                        if done {
                            break;
                        }
                        last = Some(info);
                    }
                    Ok(None) => break,
                    Err(e) => tracing::debug!(replay = %name, "watching the replay: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    /// Uses each part's own archive name, retention, replay margin and
    /// resubmit rate and concurrency instead of the defaults of
    /// [`RecoverySettings`] (and `Loyalty<Part>Archive`).
    pub fn with_parts(mut self, parts: &[crate::PartSettings]) -> Self {
        self.per_part = parts
            .iter()
            .map(|p| {
                (
                    p.name.to_string(),
                    PartRecovery {
                        archive: p.archive_name.clone(),
                        margin: p.replay_margin,
                        rate_per_sec: p.resubmit_rate,
                        concurrency: p.resubmit_concurrency,
                        retention: p.retention(),
                    },
                )
            })
            .collect();
        self
    }

    /// How `part` is replayed: its own settings, or the defaults.
    pub fn part_recovery(&self, part: &PartName) -> PartRecovery {
        self.per_part
            .get(part.as_str())
            .cloned()
            .unwrap_or_else(|| PartRecovery {
                archive: part.default_archive_name(),
                margin: self.settings.margin,
                rate_per_sec: self.settings.rate_per_sec,
                concurrency: self.settings.concurrency,
                retention: self.settings.retention,
            })
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartName] {
        self.flow.parts()
    }

    fn part(&self, name: &str) -> Option<&PartName> {
        self.flow.parts().iter().find(|p| p.as_str() == name)
    }

    /// Names this replica in the claims on down→up changes (replicas
    /// sharing the status store start one recovery replay per outage).
    pub fn with_replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = replica.into();
        self
    }

    /// Reads status changes from `store` (where the monitor writes them,
    /// e.g. DynamoDB) instead of the database given to [`Recovery::new`].
    pub fn with_status_store(mut self, store: Arc<dyn crate::storage::StatusStore>) -> Self {
        self.status = store;
        self
    }

    /// Keeps replay records, handled events, latest intervals and the
    /// trigger's cursor in `store` (e.g. DynamoDB, shared by every replica)
    /// instead of the database given to [`Recovery::new`].
    pub fn with_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.records = store;
        self
    }

    /// Where the replays are recorded.
    pub fn replay_store(&self) -> Arc<dyn ReplayStore> {
        self.records.clone()
    }

    /// Starts replays for new down→up changes; returns how many changes it
    /// consumed. Stops early (to resume next time) while a part's retry
    /// events of the window are still in the outbox or the bus is unavailable.
    pub async fn trigger_step(&self) -> Result<usize, RecoveryError> {
        let cursor = self.records.cursor().await?;
        let changes: Vec<(i64, String, String, i64, String, Option<i64>)> = self
            .status
            .changes_after(cursor, 100)
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    c.part,
                    c.change.status.as_str().to_owned(),
                    c.change.changed_at.timestamp_millis(),
                    c.change.prev_status.as_str().to_owned(),
                    c.change.prev_change_at.map(|t| t.timestamp_millis()),
                )
            })
            .collect();
        let mut consumed = 0;
        for (id, part, status, changed_ms, prev, prev_ms) in changes {
            if let (Some(p), "up", "down") = (self.part(&part), status.as_str(), prev.as_str()) {
                let p = p.clone();
                let margin =
                    chrono::Duration::from_std(self.part_recovery(&p).margin).unwrap_or_default();
                let start = time(prev_ms.unwrap_or(changed_ms)) - margin;
                let end = time(changed_ms) + margin;
                if self
                    .flow
                    .cache()
                    .retry_events_pending(p.as_str(), end)
                    .await?
                {
                    tracing::debug!(part = %p, "recovery waits for retry events to be published");
                    break;
                }
                if !self.status.claim_change_replay(id, &self.replica).await? {
                    tracing::info!(part = %p, change = id, "another replica recovers this outage");
                } else {
                    match self
                        .start_window(&p, start, end, "recovery", "recovery", Some(id))
                        .await
                    {
                        Ok(r) => {
                            tracing::info!(replay = %r.name, part = %p, expected = r.progress.expected, "recovery replay started")
                        }
                        Err(RecoveryError::Replay(ReplayError::Rejected(e))) => {
                            tracing::error!(part = %p, "recovery replay refused: {e}")
                        }
                        Err(RecoveryError::Busy { replay, .. }) => {
                            tracing::debug!(part = %p, replay, "recovery waits for the active replay");
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            self.records.advance_cursor(id).await?;
            consumed += 1;
        }
        Ok(consumed)
    }

    /// Replays `part`'s archive over `[start, end)` to its resubmit rule (a
    /// recovery when `change_id` names the down→up change, or a manual
    /// replay), records it with the expected count, who started it (`by`)
    /// and as the part's latest replay interval.
    pub async fn start_window(
        &self,
        part: &PartName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        trigger: &'static str,
        by: &str,
        change_id: Option<i64>,
    ) -> Result<ReplayRecord, RecoveryError> {
        let by = by.trim().to_owned();
        if by.is_empty() {
            return Err(RecoveryError::Invalid {
                field: "by",
                reason: "must name who starts the replay".into(),
            });
        }
        if start >= end {
            return Err(RecoveryError::Invalid {
                field: "start",
                reason: "must be before end".into(),
            });
        }
        let _one_at_a_time = self.start_lock.lock().await;
        let archive = self.part_recovery(part).archive;
        let expected = self
            .flow
            .cache()
            .count_retry_events(part.as_str(), start, end)
            .await?;
        // One record per replay, written before asking the bus: a recovery
        // that is retried after a failure or a crash finds its record (and
        // name) again. The record is refused when another replica recorded
        // a replay of the part since the check (the store compares the
        // part's newest record in the same write); the check runs again.
        let mut recorded = None;
        let mut newer = String::new();
        for _ in 0..RECORD_ATTEMPTS {
            let newest = self.records.newest_of_part(part.as_str()).await?;
            if let Some(active) = self.active_among(part.as_str(), newest.as_ref()).await? {
                return Err(RecoveryError::Busy {
                    part: part.to_string(),
                    replay: active,
                });
            }
            let new = NewReplay {
                part: part.to_string(),
                archive: archive.clone(),
                start,
                end,
                created_at: Utc::now(),
                trigger: trigger.to_owned(),
                change_id,
                expected,
                by: by.clone(),
                after: newest.map(|r| r.name),
            };
            match self.records.create(&new).await? {
                Recorded::Name(name) => {
                    recorded = Some(name);
                    break;
                }
                Recorded::Superseded(name) => newer = name,
            }
        }
        let Some(name) = recorded else {
            return Err(RecoveryError::Busy {
                part: part.to_string(),
                replay: newer,
            });
        };
        let req = ReplayRequest {
            name: name.clone(),
            part: part.clone(),
            archive,
            start,
            end,
        };
        let started = match self.replays.start_replay(&req).await {
            Ok(()) | Err(ReplayError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        };
        match &started {
            Ok(()) => self.records.mark_started(&name).await?,
            Err(ReplayError::Rejected(reason)) => self.records.mark_refused(&name, reason).await?,
            // A recovery keeps its record for the retry (same name); any
            // other replay that could not be started is marked so, rather
            // than blocking its part for the starting grace.
            Err(e) if change_id.is_none() => {
                self.records.mark_refused(&name, &e.to_string()).await?
            }
            Err(_) => {}
        }
        started?;
        self.watch_replay(name.clone(), part.to_string());
        Ok(self
            .replay(&name)
            .await?
            .expect("the replay row was just written"))
    }

    /// Replays the part's latest replay interval again (or `[start, end)`
    /// when given): the operator's "replay this window". `by` names who
    /// starts it (stored with the replay; must not be blank).
    pub async fn replay_again(
        &self,
        part: &str,
        window: Option<(DateTime<Utc>, DateTime<Utc>)>,
        by: &str,
    ) -> Result<ReplayRecord, RecoveryError> {
        let p = self.known_part(part)?;
        let (start, end) = match window {
            Some((s, e)) => {
                self.validate_part_window(&p, s, e)?;
                (s, e)
            }
            None => self
                .latest_interval(part)
                .await?
                .ok_or_else(|| RecoveryError::Invalid {
                    field: "start",
                    reason: format!("part {part} has no replay yet; give start and end"),
                })?,
        };
        self.start_window(&p, start, end, "manual", by, None).await
    }

    /// Checks an operator's window: start before end, not longer than the
    /// archive's retention, not ending in the future (beyond
    /// [`FUTURE_TOLERANCE`]). The error names the field.
    pub fn validate_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), RecoveryError> {
        self.check_window(start, end, self.settings.retention)
    }

    /// [`Recovery::validate_window`] against `part`'s own archive retention.
    pub fn validate_part_window(
        &self,
        part: &PartName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), RecoveryError> {
        self.check_window(start, end, self.part_recovery(part).retention)
    }

    fn check_window(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        retention: Duration,
    ) -> Result<(), RecoveryError> {
        let invalid = |field, reason: String| Err(RecoveryError::Invalid { field, reason });
        if start >= end {
            return invalid("start", "must be before end".into());
        }
        let retention = chrono::Duration::from_std(retention).unwrap_or_default();
        if end - start > retention {
            return invalid(
                "start",
                format!(
                    "window longer than the archive's retention ({} s)",
                    retention.num_seconds()
                ),
            );
        }
        let tolerance = chrono::Duration::from_std(FUTURE_TOLERANCE).unwrap_or_default();
        if end > Utc::now() + tolerance {
            return invalid("end", "must not be in the future".into());
        }
        Ok(())
    }

    fn known_part(&self, part: &str) -> Result<PartName, RecoveryError> {
        self.part(part)
            .cloned()
            .ok_or_else(|| RecoveryError::Invalid {
                field: "part",
                reason: format!("unknown part {part:?}"),
            })
    }

    /// The part's active replay (STARTING, RUNNING or CANCELLING on the
    /// bus, or just recorded and being started: [`STARTING_GRACE`]), if
    /// any, among the replays the mediator recorded.
    pub async fn active_replay(&self, part: &str) -> Result<Option<String>, RecoveryError> {
        let newest = self.records.newest_of_part(part).await?;
        self.active_among(part, newest.as_ref()).await
    }

    /// [`Recovery::active_replay`] given the part's newest record (read
    /// consistently; the older ones come from a listing that may lag on
    /// DynamoDB, and only matter for replays recorded before this guard).
    async fn active_among(
        &self,
        part: &str,
        newest: Option<&ReplayRecord>,
    ) -> Result<Option<String>, RecoveryError> {
        if let Some(r) = newest {
            match self.replays.describe_replay(&r.name).await? {
                Some(info) if ACTIVE_STATES.contains(&info.state.as_str()) => {
                    return Ok(Some(r.name.clone()))
                }
                Some(_) => {}
                None => {
                    let age = (Utc::now() - r.created_at).to_std().unwrap_or_default();
                    if !r.started && r.start_error.is_none() && age < STARTING_GRACE {
                        return Ok(Some(r.name.clone()));
                    }
                }
            }
        }
        for r in self.records.newest(Some(part), true, 20).await? {
            if newest.is_some_and(|n| n.name == r.name) {
                continue;
            }
            if let Some(info) = self.replays.describe_replay(&r.name).await? {
                if ACTIVE_STATES.contains(&info.state.as_str()) {
                    return Ok(Some(r.name));
                }
            }
        }
        Ok(None)
    }

    /// Cancels a replay the mediator started (CancelReplay on the bus).
    pub async fn cancel(&self, name: &str) -> Result<ReplayRecord, RecoveryError> {
        let Some(r) = self.replay(name).await? else {
            return Err(ReplayError::NotFound(name.to_owned()).into());
        };
        self.replays.cancel_replay(name).await?;
        if let Some(c) = &self.changes {
            c.notify(crate::Topic::Replay, Some(&r.part));
        }
        Ok(r)
    }

    /// What replaying `part`'s archive over `[start, end)` would deliver
    /// (archived events) and how many held vouchers it concerns (pending).
    pub async fn preview(
        &self,
        part: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Preview, RecoveryError> {
        let p = self.known_part(part)?;
        self.validate_part_window(&p, start, end)?;
        let archived = self
            .replays
            .count_archived(&self.part_recovery(&p).archive, start, end)
            .await?;
        let pending = self
            .flow
            .cache()
            .count_pending_in_window(p.as_str(), start, end)
            .await?;
        Ok(Preview { archived, pending })
    }

    /// One sweep of `part` (only while it is up and has no active replay):
    /// vouchers still `retry` whose retry event no completed replay window
    /// of the part covers (late archiving, a crash, a cancelled replay) are
    /// replayed over `[min − margin, max + margin]` of those events' times,
    /// trigger `sweeper`. Returns the replay started, if any.
    pub async fn sweep_part(&self, part: &PartName) -> Result<Option<ReplayRecord>, RecoveryError> {
        let cache = self.flow.cache();
        if !cache.part_is_up(part.as_str()).await? {
            return Ok(None);
        }
        // The trigger has status changes of this part to handle first.
        let cursor = self.records.cursor().await?;
        let trigger_behind = self.status.has_changes_after(part.as_str(), cursor).await?;
        if trigger_behind {
            return Ok(None);
        }
        let times = cache.retry_event_times(part.as_str()).await?;
        if times.is_empty() || self.active_replay(part.as_str()).await?.is_some() {
            return Ok(None);
        }
        let mut completed = Vec::new();
        for r in self.records.newest(Some(part.as_str()), true, 200).await? {
            if let Some(info) = self.replays.describe_replay(&r.name).await? {
                if info.state == "COMPLETED" {
                    completed.push((
                        r.window_start.timestamp_millis(),
                        r.window_end.timestamp_millis(),
                    ));
                }
            }
        }
        let uncovered: Vec<i64> = times
            .into_iter()
            .filter(|t| !completed.iter().any(|(s, e)| s <= t && t < e))
            .collect();
        let (Some(min), Some(max)) = (uncovered.iter().min(), uncovered.iter().max()) else {
            return Ok(None);
        };
        let margin =
            chrono::Duration::from_std(self.part_recovery(part).margin).unwrap_or_default();
        let start = time(*min) - margin;
        // The end is exclusive: keep the latest event inside.
        let end = time(*max) + margin + chrono::Duration::milliseconds(1);
        if cache.retry_events_pending(part.as_str(), end).await? {
            return Ok(None);
        }
        match self
            .start_window(part, start, end, "sweeper", "sweeper", None)
            .await
        {
            Ok(r) => {
                tracing::info!(replay = %r.name, part = %part, pending = uncovered.len(), "sweeper replay started");
                Ok(Some(r))
            }
            Err(RecoveryError::Busy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends vouchers left behind back through the flow: `received` before
    /// `received_before` (never attempted) and `submitting` with an expired
    /// lease (its holder crashed or hung); each is held (`retry`) if its part
    /// is down. Returns how many were resumed. An expired `submitting` one
    /// may already have been accepted by the SaaS: this is the
    /// at-least-once window of the claim (see ARCHITECTURE.md).
    pub async fn resume_stuck(
        &self,
        received_before: DateTime<Utc>,
    ) -> Result<usize, RecoveryError> {
        let ids = self
            .flow
            .cache()
            .stuck(received_before, Utc::now(), 100)
            .await?;
        for id in &ids {
            let status = self.flow.process(id, "resumed after a stall").await?;
            tracing::info!(loyalty_request_id = %id, status = ?status, "stuck voucher resumed");
        }
        Ok(ids.len())
    }

    /// Moves a dead-lettered voucher back to `retry` and resubmits it through
    /// the flow now; returns its status afterwards.
    pub async fn redrive(&self, id: &str) -> Result<VoucherStatus, RecoveryError> {
        match self.flow.cache().redrive(id, Utc::now()).await? {
            None => Err(RecoveryError::UnknownVoucher(id.to_owned())),
            Some(VoucherStatus::Retry) => Ok(self
                .flow
                .process(id, "redriven from the dead-letter queue")
                .await?
                .unwrap_or(VoucherStatus::Retry)),
            Some(status) => Err(RecoveryError::NotDeadLettered {
                id: id.to_owned(),
                status,
            }),
        }
    }

    /// One sweep: resumes stuck vouchers (`received` for longer than a
    /// claim's lease, or an expired `submitting`), then looks at every part
    /// ([`Recovery::sweep_part`]); returns the replays started.
    pub async fn sweep_step(&self) -> Result<Vec<ReplayRecord>, RecoveryError> {
        let lease = chrono::Duration::from_std(self.flow.lease()).unwrap_or_default();
        self.resume_stuck(Utc::now() - lease).await?;
        let mut started = Vec::new();
        for part in self.parts().to_vec() {
            if let Some(r) = self.sweep_part(&part).await? {
                started.push(r);
            }
        }
        Ok(started)
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

    /// Handles one replayed event (see [`Recovery::handle_batch`]).
    pub async fn handle(&self, body: &str) -> Result<ItemOutcome, RecoveryError> {
        let mut out = self.handle_batch(&[body], 1).await?;
        Ok(out.pop().unwrap_or(ItemOutcome::Ignored))
    }

    /// Handles replayed events together: resubmits each one's voucher unless
    /// it is final or in flight (`concurrency` SaaS calls at a time), and
    /// counts each outcome once per (replay, event id), so a redelivered
    /// message neither resubmits nor counts twice. The whole batch takes a
    /// few transactions (seen?, statuses, hold-or-claim, outcomes, counts)
    /// rather than several per event. Outcomes are in the order given.
    pub async fn handle_batch(
        &self,
        bodies: &[&str],
        concurrency: usize,
    ) -> Result<Vec<ItemOutcome>, RecoveryError> {
        let keys: Vec<Option<(String, String, String)>> = bodies
            .iter()
            .map(|b| {
                let event: Value = serde_json::from_str(b).unwrap_or(Value::Null);
                let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
                let key = (
                    s(event.get("replay-name")),
                    s(event.get("id")),
                    s(event.pointer("/detail/data/loyalty_request_id")),
                );
                if let (Some(r), Some(e), Some(l)) = key {
                    Some((r, e, l))
                } else {
                    tracing::warn!("ignoring a queued event that is not a replayed retry event");
                    None
                }
            })
            .collect();
        let mut out = vec![ItemOutcome::Ignored; keys.len()];
        let valid: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].is_some()).collect();
        let pairs: Vec<(String, String)> = keys
            .iter()
            .flatten()
            .map(|(r, e, _)| (r.clone(), e.clone()))
            .collect();
        let seen = self.records.seen(&pairs).await?;
        let mut fresh = Vec::new();
        for (i, seen) in valid.into_iter().zip(seen) {
            if seen {
                out[i] = ItemOutcome::Skipped;
            } else {
                fresh.push(i);
            }
        }
        let lrids = fresh
            .iter()
            .filter_map(|&i| keys[i].as_ref().map(|k| k.2.clone()))
            .collect();
        let statuses = self.flow.cache().statuses(lrids).await?;
        let (mut to_submit, mut submit_at) = (Vec::new(), Vec::new());
        for (&i, status) in fresh.iter().zip(statuses) {
            let Some((replay, _, lrid)) = &keys[i] else {
                continue;
            };
            out[i] = match status {
                None => {
                    tracing::warn!(
                        loyalty_request_id = %lrid,
                        replay,
                        "replayed event for an unknown voucher"
                    );
                    ItemOutcome::Failed
                }
                Some(s) if s.is_final() || s == VoucherStatus::Submitting => ItemOutcome::Skipped,
                Some(_) => {
                    submit_at.push(i);
                    to_submit.push((lrid.clone(), format!("resubmitted by replay {replay}")));
                    continue;
                }
            };
        }
        if !to_submit.is_empty() {
            let after = self.flow.process_many(to_submit, concurrency).await?;
            for (i, status) in submit_at.into_iter().zip(after) {
                out[i] = match status {
                    Some(VoucherStatus::Submitted) => ItemOutcome::Resubmitted,
                    Some(VoucherStatus::Submitting | VoucherStatus::Received) => {
                        ItemOutcome::Skipped
                    }
                    _ => ItemOutcome::Failed,
                };
            }
        }
        let counts = fresh
            .iter()
            .filter_map(|&i| {
                let (r, e, l) = keys[i].clone()?;
                Some((r, e, l, out[i]))
            })
            .collect();
        self.count_many(counts).await?;
        Ok(out)
    }

    async fn count(
        &self,
        replay: &str,
        event_id: &str,
        lrid: &str,
        outcome: ItemOutcome,
    ) -> Result<(), StoreError> {
        self.count_many(vec![(
            replay.to_owned(),
            event_id.to_owned(),
            lrid.to_owned(),
            outcome,
        )])
        .await
    }

    /// Counts `(replay, event id, voucher, outcome)`s in one transaction,
    /// each once per (replay, event id), into their replays' progress.
    async fn count_many(
        &self,
        items: Vec<(String, String, String, ItemOutcome)>,
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let events: Vec<HandledEvent> = items
            .into_iter()
            .map(
                |(replay, event_id, loyalty_request_id, outcome)| HandledEvent {
                    replay,
                    event_id,
                    loyalty_request_id,
                    outcome,
                },
            )
            .collect();
        let counted = self.records.count(&events).await?;
        if let Some(c) = &self.changes {
            for p in counted {
                if p.processed >= p.expected {
                    c.notify(crate::Topic::Replay, Some(&p.part));
                } else {
                    c.replay_progress(&p.replay, &p.part);
                }
            }
        }
        Ok(())
    }

    /// Takes a batch of replayed events of `part` (four per unit of
    /// concurrency, at most a second's worth of the rate; waiting up to
    /// `wait` for the first), handles them together with at most
    /// `concurrency` SaaS calls at once ([`Recovery::handle_batch`]) and
    /// deletes them; then marks the vouchers of dead-lettered messages.
    /// Returns how many messages were handled. A batch whose handling
    /// failed stays in the queue and comes back after its visibility timeout.
    pub async fn drain_step(
        self: &Arc<Self>,
        part: &PartName,
        wait: Duration,
    ) -> Result<usize, RecoveryError> {
        self.drain_share(part, wait, 1).await
    }

    /// [`Recovery::drain_step`] for one of `workers` drain loops of `part`:
    /// it uses its share of the part's concurrency and rate, so the loops
    /// together stay within the configured limits.
    async fn drain_share(
        self: &Arc<Self>,
        part: &PartName,
        wait: Duration,
        workers: usize,
    ) -> Result<usize, RecoveryError> {
        let settings = self.part_recovery(part);
        let workers = workers.max(1);
        let concurrency = (settings.concurrency / workers).max(1);
        let batch = (concurrency * 4)
            .min((settings.rate_per_sec / workers as f64).max(1.0) as usize)
            .clamp(1, 1024);
        let msgs = self
            .queue
            .receive(part, Lane::Resubmit, batch, wait)
            .await
            .map_err(RecoveryError::Queue)?;
        let mut handled = 0;
        if !msgs.is_empty() {
            let bodies: Vec<&str> = msgs.iter().map(|m| m.body.as_str()).collect();
            let receipts: Vec<String> = msgs.iter().map(|m| m.receipt.clone()).collect();
            // Keep the batch invisible while it is handled (SQS
            // ChangeMessageVisibility on AWS; a no-op on the embedded bus).
            let work = self.handle_batch(&bodies, concurrency);
            tokio::pin!(work);
            let mut beat = tokio::time::interval_at(
                tokio::time::Instant::now() + VISIBILITY_HEARTBEAT,
                VISIBILITY_HEARTBEAT,
            );
            let result = loop {
                tokio::select! {
                    r = &mut work => break r,
                    _ = beat.tick() => {
                        if let Err(e) = self
                            .queue
                            .extend_visibility(part, Lane::Resubmit, &receipts, VISIBILITY_EXTENSION)
                            .await
                        {
                            tracing::warn!(part = %part, "cannot extend visibility: {e}");
                        }
                    }
                }
            };
            match result {
                Ok(_) => {
                    handled = msgs.len();
                    if let Err(e) = self.queue.delete_many(part, Lane::Resubmit, receipts).await {
                        tracing::warn!(part = %part, "cannot delete handled messages: {e}");
                    }
                }
                Err(e) => tracing::warn!(part = %part, "replayed events not handled yet: {e}"),
            }
        }
        for m in self
            .queue
            .receive(part, Lane::DeadLetter, 10, Duration::ZERO)
            .await
            .map_err(RecoveryError::Queue)?
        {
            let event: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
            if let Some(lrid) = event
                .pointer("/detail/data/loyalty_request_id")
                .and_then(Value::as_str)
            {
                let replay = event
                    .get("replay-name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                self.flow
                    .cache()
                    .dead_letter(
                        lrid,
                        format!("replayed event of {replay} failed too often"),
                        Utc::now(),
                    )
                    .await?;
                if let Some(id) = event.get("id").and_then(Value::as_str) {
                    self.count(replay, id, lrid, ItemOutcome::Failed).await?;
                }
            }
            self.queue
                .delete(part, Lane::DeadLetter, &m.receipt)
                .await
                .map_err(RecoveryError::Queue)?;
        }
        Ok(handled)
    }

    /// Starts the trigger loop and one drain loop per part on `tracker`.
    pub fn spawn(self: Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        let me = self.clone();
        let token = shutdown.clone();
        tracker.spawn(async move {
            let mut tick = tokio::time::interval(me.settings.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = me.trigger_step().await {
                    tracing::warn!("recovery trigger: {e}");
                }
            }
        });
        let me = self.clone();
        let token = shutdown.clone();
        let started_at = Utc::now();
        tracker.spawn(async move {
            // Vouchers a previous run left `received` or `submitting`.
            match me.resume_stuck(started_at).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(resumed = n, "stuck vouchers resumed at start-up"),
                Err(e) => tracing::warn!("resuming stuck vouchers: {e}"),
            }
            let mut tick = tokio::time::interval(me.settings.sweep_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = me.sweep_step().await {
                    tracing::warn!("sweeper: {e}");
                }
            }
        });
        for part in self.parts().to_vec() {
            // Two loops per part when its concurrency allows, each with half
            // of it: while one waits for its batch's last SaaS answers, the
            // other claims and sends the next batch, so neither the database
            // nor the SaaS sits idle between batches.
            let workers = if self.part_recovery(&part).concurrency >= 2 {
                DRAIN_WORKERS
            } else {
                1
            };
            for _ in 0..workers {
                let me = self.clone();
                let token = shutdown.clone();
                let part = part.clone();
                tracker.spawn(async move { me.drain_run(part, workers, token).await });
            }
        }
    }

    async fn drain_run(
        self: Arc<Self>,
        part: PartName,
        workers: usize,
        shutdown: CancellationToken,
    ) {
        // Each of the part's `workers` loops paces to its share of the rate.
        let rate = (self.part_recovery(&part).rate_per_sec / workers as f64).max(0.001);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let started = Instant::now();
            // A step (receive, submit, record, delete) is never cut short:
            // at shutdown the batch in hand finishes (its long poll is
            // 500 ms, its SaaS calls bounded by their timeout), then the
            // loop stops.
            let step = self
                .drain_share(&part, Duration::from_millis(500), workers)
                .await;
            let pause = match step {
                // Pace to the configured rate.
                Ok(n) => Duration::from_secs_f64(n as f64 / rate).saturating_sub(started.elapsed()),
                Err(e) => {
                    tracing::warn!(part = %part, "resubmit drain: {e}");
                    Duration::from_secs(1)
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubmitOutcome;
    use serde_json::json;
    use std::sync::Mutex;
    use store::rusqlite::params;

    struct AcceptAll;

    #[async_trait]
    impl crate::SaasSubmitter for AcceptAll {
        async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
            SubmitOutcome::Accepted { status: 200 }
        }
    }

    /// Records started replays; `states` answers DescribeReplay; with
    /// `running`, a started replay is RUNNING until a test says otherwise.
    #[derive(Default)]
    struct FakeBus(
        Mutex<Vec<ReplayRequest>>,
        Mutex<std::collections::HashMap<String, String>>,
        std::sync::atomic::AtomicBool,
    );

    #[async_trait]
    impl ArchiveReplays for FakeBus {
        async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
            self.0.lock().unwrap().push(req.clone());
            if self.2.load(std::sync::atomic::Ordering::SeqCst) {
                self.1
                    .lock()
                    .unwrap()
                    .insert(req.name.clone(), "RUNNING".into());
            }
            Ok(())
        }
        async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
            Ok(self.1.lock().unwrap().get(name).map(|s| ReplayInfo {
                state: s.clone(),
                state_reason: None,
                event_last_replayed_time: None,
                replay_start_time: None,
                replay_end_time: None,
            }))
        }
        async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
            Err(ReplayError::NotFound(name.into()))
        }
        async fn count_archived(
            &self,
            _: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<i64, ReplayError> {
            Ok(0)
        }
    }

    #[async_trait]
    impl ResubmitQueue for FakeBus {
        async fn receive(
            &self,
            _part: &PartName,
            _lane: Lane,
            _max: usize,
            _wait: Duration,
        ) -> Result<Vec<QueuedEvent>, String> {
            Ok(vec![])
        }
        async fn delete(&self, _: &PartName, _: Lane, _: &str) -> Result<(), String> {
            Ok(())
        }
    }

    /// The default parts' flow on `db`, with a SaaS that accepts everything.
    fn accepting_flow(db: &Database) -> Arc<SubmissionFlow> {
        Arc::new(SubmissionFlow::new(
            db.clone(),
            Arc::new(AcceptAll),
            PartName::defaults(),
            Duration::from_secs(1),
        ))
    }

    async fn exec(db: &Database, sql: &'static str) {
        db.write(move |tx| tx.execute_batch(sql)).await.unwrap();
    }

    #[tokio::test]
    async fn the_sweeper_replays_only_uncovered_retries_one_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let flow = accepting_flow(&db);
        let bus = Arc::new(FakeBus::default());
        let settings = RecoverySettings {
            margin: Duration::from_secs(2),
            ..Default::default()
        };
        let rec = Recovery::new(db.clone(), flow.clone(), bus.clone(), bus.clone(), settings);
        exec(
            &db,
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
        )
        .await;
        assert!(
            rec.sweep_step().await.unwrap().is_empty(),
            "nothing pending"
        );
        let a = flow
            .accept_json(&json!({"part": "voucher", "loyalty_request_id": "a", "loyalty_reference": "r",
                                 "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
            .await
            .unwrap();
        assert_eq!(a.voucher.status, VoucherStatus::Retry);
        assert!(rec.sweep_step().await.unwrap().is_empty(), "part down");
        exec(&db, "UPDATE part_status SET status = 'up'").await;
        assert!(
            rec.sweep_step().await.unwrap().is_empty(),
            "retry event not published yet"
        );
        exec(&db, "UPDATE voucher_events SET published = 1").await;
        let started = rec.sweep_step().await.unwrap();
        assert_eq!(started.len(), 1);
        let r = &started[0];
        assert_eq!(r.trigger, "sweeper");
        assert_eq!(
            r.by.as_deref(),
            Some("sweeper"),
            "automatic replays name themselves"
        );
        let at = a.voucher.updated_at;
        assert!(r.window_start <= at - chrono::Duration::seconds(2) && at < r.window_end);
        // Active: never a second one; completed and covering: nothing to do.
        bus.1
            .lock()
            .unwrap()
            .insert(r.name.clone(), "RUNNING".into());
        assert!(rec.sweep_step().await.unwrap().is_empty(), "one at a time");
        assert!(matches!(
            rec.replay_again("voucher", None, "alice").await,
            Err(RecoveryError::Busy { .. })
        ));
        bus.1
            .lock()
            .unwrap()
            .insert(r.name.clone(), "COMPLETED".into());
        assert!(rec.sweep_step().await.unwrap().is_empty(), "covered");
        // A cancelled replay covers nothing.
        bus.1
            .lock()
            .unwrap()
            .insert(r.name.clone(), "CANCELLED".into());
        assert_eq!(rec.sweep_step().await.unwrap().len(), 1);
        assert_eq!(bus.0.lock().unwrap().len(), 2);
    }

    /// Two replicas (two `Recovery`s, each with its own start lock) on one
    /// store and one bus: operators starting a replay of one part at the
    /// same moment get one replay and one Busy; a replay recorded but not
    /// yet started by the bus (another replica is starting it) blocks the
    /// part for the starting grace only.
    #[tokio::test]
    async fn two_replicas_starting_a_replay_of_one_part_start_one() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let flow = accepting_flow(&db);
        let bus = Arc::new(FakeBus::default());
        bus.2.store(true, std::sync::atomic::Ordering::SeqCst);
        let replica = || {
            Recovery::new(
                db.clone(),
                flow.clone(),
                bus.clone(),
                bus.clone(),
                RecoverySettings::default(),
            )
        };
        let (a, b) = (replica(), replica());
        let now = Utc::now();
        let window = Some((
            now - chrono::Duration::minutes(10),
            now - chrono::Duration::minutes(5),
        ));
        for round in 0..5 {
            let (x, y) = tokio::join!(
                a.replay_again("voucher", window, "ann"),
                b.replay_again("voucher", window, "bob")
            );
            let started: Vec<&ReplayRecord> = [&x, &y].into_iter().flatten().collect();
            assert_eq!(started.len(), 1, "round {round}: {x:?} {y:?}");
            let busy = [&x, &y].into_iter().find_map(|r| match r {
                Err(RecoveryError::Busy { replay, .. }) => Some(replay.clone()),
                _ => None,
            });
            assert_eq!(
                busy.as_deref(),
                Some(started[0].name.as_str()),
                "{x:?} {y:?}"
            );
            let name = started[0].name.clone();
            bus.1.lock().unwrap().insert(name, "COMPLETED".into());
        }
        assert_eq!(bus.0.lock().unwrap().len(), 5, "one replay per round");

        // Recorded by a replica that has not started it (yet): busy, until
        // the grace is over (a crash between recording and starting).
        let record = |created_at| NewReplay {
            part: "member".into(),
            archive: "LoyaltyMemberArchive".into(),
            start: now - chrono::Duration::minutes(10),
            end: now - chrono::Duration::minutes(5),
            created_at,
            trigger: "manual".into(),
            change_id: None,
            expected: 0,
            by: "carol".into(),
            after: None,
        };
        let grace = chrono::Duration::from_std(STARTING_GRACE).unwrap();
        let Recorded::Name(old) = a.records.create(&record(now - grace * 2)).await.unwrap() else {
            panic!("recorded")
        };
        assert_eq!(
            a.active_replay("member").await.unwrap(),
            None,
            "{old} is stale"
        );
        let Recorded::Name(young) = a
            .records
            .create(&NewReplay {
                after: Some(old),
                ..record(now)
            })
            .await
            .unwrap()
        else {
            panic!("recorded")
        };
        assert_eq!(
            b.active_replay("member").await.unwrap(),
            Some(young.clone())
        );
        assert!(matches!(
            b.replay_again("member", window, "dan").await,
            Err(RecoveryError::Busy { replay, .. }) if replay == young
        ));
    }

    #[tokio::test]
    async fn each_part_uses_its_own_archive_margin_retention_and_pace() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let flow = accepting_flow(&db);
        let bus = Arc::new(FakeBus::default());
        let mut voucher = crate::PartSettings::new(PartName::parse("voucher").unwrap());
        voucher.archive_name = "VoucherKeep".into();
        voucher.replay_margin = Duration::from_secs(7);
        voucher.retention_days = 1;
        voucher.resubmit_rate = 3.0;
        voucher.resubmit_concurrency = 9;
        let rec = Recovery::new(
            db.clone(),
            flow,
            bus.clone(),
            bus.clone(),
            RecoverySettings::default(),
        )
        .with_parts(std::slice::from_ref(&voucher));
        let v = rec.part_recovery(&voucher.name);
        assert_eq!(
            (v.archive.as_str(), v.margin, v.rate_per_sec, v.concurrency),
            ("VoucherKeep", Duration::from_secs(7), 3.0, 9)
        );
        // A part without settings of its own keeps the defaults.
        let member = rec.part_recovery(&PartName::parse("member").unwrap());
        assert_eq!(member.archive, "LoyaltyMemberArchive");
        assert_eq!(member.margin, Duration::from_secs(60));

        // The window is checked against the part's own retention (1 day).
        let end = Utc::now();
        let two_days = end - chrono::Duration::days(2);
        assert!(matches!(
            rec.replay_again("voucher", Some((two_days, end)), "alice")
                .await,
            Err(RecoveryError::Invalid { field: "start", .. })
        ));
        rec.preview("member", two_days, end).await.unwrap();
        // The replay reads the part's archive and is named after it.
        let r = rec
            .replay_again(
                "voucher",
                Some((end - chrono::Duration::hours(1), end)),
                "alice",
            )
            .await
            .unwrap();
        assert_eq!(r.archive, "VoucherKeep");
        assert!(r.name.starts_with("VoucherKeepReplay_"), "{}", r.name);
        assert_eq!(bus.0.lock().unwrap()[0].archive, "VoucherKeep");
    }

    #[tokio::test]
    async fn stuck_vouchers_go_back_through_the_flow() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let flow = accepting_flow(&db);
        let bus = Arc::new(FakeBus::default());
        let rec = Recovery::new(
            db.clone(),
            flow.clone(),
            bus.clone(),
            bus,
            RecoverySettings::default(),
        );
        let parts = PartName::defaults();
        let req = |id: &str| {
            crate::VoucherRequest::parse(
                &json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                        "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}),
                &parts,
            )
            .unwrap()
        };
        let cache = flow.cache();
        let past = Utc::now() - chrono::Duration::minutes(10);
        // Never attempted; claimed by a handler that died (lease expired);
        // claimed by a live handler (lease running).
        for id in ["received", "expired", "live"] {
            cache.insert(&req(id), past).await.unwrap();
        }
        cache
            .claim("expired", past, Duration::from_secs(1), "crashed".into())
            .await
            .unwrap();
        cache
            .claim("live", Utc::now(), Duration::from_secs(600), "busy".into())
            .await
            .unwrap();
        // A voucher received just now is not stuck yet.
        cache.insert(&req("fresh"), Utc::now()).await.unwrap();
        let cutoff = Utc::now() - chrono::Duration::minutes(1);
        assert_eq!(rec.resume_stuck(cutoff).await.unwrap(), 2);
        let status = |id: &'static str| {
            let cache = cache.clone();
            async move { cache.get(id).await.unwrap().unwrap().status }
        };
        assert_eq!(status("received").await, VoucherStatus::Submitted);
        assert_eq!(status("expired").await, VoucherStatus::Submitted);
        assert_eq!(status("live").await, VoucherStatus::Submitting);
        assert_eq!(status("fresh").await, VoucherStatus::Received);

        // While the part is down, a stuck voucher is held instead.
        exec(
            &db,
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
        )
        .await;
        cache.insert(&req("held"), past).await.unwrap();
        cache
            .claim("held", past, Duration::from_secs(1), "crashed".into())
            .await
            .unwrap();
        assert_eq!(rec.resume_stuck(cutoff).await.unwrap(), 1);
        assert_eq!(status("held").await, VoucherStatus::Retry);
    }

    #[tokio::test]
    async fn a_down_to_up_change_replays_its_window_once_and_counts_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let flow = accepting_flow(&db);
        let bus = Arc::new(FakeBus::default());
        let settings = RecoverySettings {
            margin: Duration::from_secs(5),
            ..Default::default()
        };
        let rec = Arc::new(Recovery::new(
            db.clone(),
            flow.clone(),
            bus.clone(),
            bus.clone(),
            settings,
        ));
        exec(
            &db,
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
        )
        .await;
        let a = flow
            .accept_json(&json!({"part": "voucher", "loyalty_request_id": "a", "loyalty_reference": "r",
                                 "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
            .await
            .unwrap();
        assert_eq!(a.voucher.status, VoucherStatus::Retry);
        let down = a.voucher.updated_at.timestamp_millis() - 1_000;
        let up = down + 10_000;
        db.write(move |tx| {
            tx.execute(
                "INSERT INTO mon_status_changes (part, status, changed_ms, prev_status, prev_change_ms)
                 VALUES ('voucher', 'down', ?1, 'up', NULL), ('voucher', 'up', ?2, 'down', ?1)",
                params![down, up],
            )
        })
        .await
        .unwrap();
        // The retry event is still in the outbox: the trigger waits.
        assert_eq!(rec.trigger_step().await.unwrap(), 1, "only the down change");
        assert!(bus.0.lock().unwrap().is_empty());
        exec(&db, "UPDATE voucher_events SET published = 1").await;
        exec(&db, "UPDATE part_status SET status = 'up'").await;
        assert_eq!(rec.trigger_step().await.unwrap(), 1);
        assert_eq!(rec.trigger_step().await.unwrap(), 0, "consumed once");
        let req = bus.0.lock().unwrap()[0].clone();
        assert_eq!(req.start.timestamp_millis(), down - 5_000);
        assert_eq!(req.end.timestamp_millis(), up + 5_000);
        assert!(req.name.starts_with("LoyaltyVoucherReplay_"));
        let r = rec.replay(&req.name).await.unwrap().unwrap();
        assert_eq!(r.progress.expected, 1);
        assert_eq!(
            (r.trigger.as_str(), r.by.as_deref()),
            ("recovery", Some("recovery"))
        );
        assert_eq!(
            rec.latest_interval("voucher").await.unwrap(),
            Some((req.start, req.end))
        );

        let event = json!({"id": "e1", "replay-name": req.name,
                           "detail": {"data": {"loyalty_request_id": "a"}}})
        .to_string();
        assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Resubmitted);
        assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Skipped);
        let p = rec.replay(&req.name).await.unwrap().unwrap().progress;
        assert_eq!(
            (p.processed, p.resubmitted, p.skipped),
            (1, 1, 0),
            "redelivery counted once"
        );

        // Replaying the window again skips the submitted voucher.
        assert!(matches!(
            rec.replay_again("voucher", None, "  ").await,
            Err(RecoveryError::Invalid { field: "by", .. })
        ));
        let again = rec.replay_again("voucher", None, " alice ").await.unwrap();
        assert_ne!(again.name, req.name);
        assert_eq!(
            (again.trigger.as_str(), again.by.as_deref()),
            ("manual", Some("alice"))
        );
        assert_eq!(
            rec.list_replays(1).await.unwrap()[0].by.as_deref(),
            Some("alice"),
            "stored and listed"
        );
        assert_eq!((again.window_start, again.window_end), (req.start, req.end));
        let event = json!({"id": "e1", "replay-name": again.name,
                           "detail": {"data": {"loyalty_request_id": "a"}}})
        .to_string();
        assert_eq!(rec.handle(&event).await.unwrap(), ItemOutcome::Skipped);
        assert!(matches!(
            rec.replay_again("points", None, "alice").await,
            Err(RecoveryError::Invalid { field: "start", .. })
        ));
    }

    /// Accepts everything, counting the calls.
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl crate::SaasSubmitter for Counting {
        async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            SubmitOutcome::Accepted { status: 200 }
        }
    }

    #[tokio::test]
    async fn a_batch_submits_each_voucher_once_and_counts_each_event_once() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let saas = Arc::new(Counting(Default::default()));
        let flow = Arc::new(SubmissionFlow::new(
            db.clone(),
            saas.clone(),
            PartName::defaults(),
            Duration::from_secs(1),
        ));
        let bus = Arc::new(FakeBus::default());
        let rec = Recovery::new(
            db.clone(),
            flow.clone(),
            bus.clone(),
            bus.clone(),
            RecoverySettings::default(),
        );
        exec(
            &db,
            "INSERT INTO part_status (part, status, updated_at) VALUES ('voucher', 'down', 'now')",
        )
        .await;
        for id in ["a", "b"] {
            let v = flow
                .accept_json(&json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": "r",
                                     "merchant_reference": "m", "loyalty_order_reference": "o", "payload": {}}))
                .await
                .unwrap();
            assert_eq!(v.voucher.status, VoucherStatus::Retry);
        }
        exec(&db, "UPDATE part_status SET status = 'up'").await;
        assert_eq!(
            flow.process("b", "by hand").await.unwrap(),
            Some(VoucherStatus::Submitted)
        );
        let now = Utc::now();
        let part = PartName::parse("voucher").unwrap();
        let r = rec
            .start_window(
                &part,
                now - chrono::Duration::hours(1),
                now + chrono::Duration::minutes(1),
                "manual",
                "tester",
                None,
            )
            .await
            .unwrap();
        let ev = |id: &str, lrid: &str| {
            json!({"id": id, "replay-name": r.name, "detail": {"data": {"loyalty_request_id": lrid}}})
                .to_string()
        };
        let bodies = [
            ev("e1", "a"),
            ev("e2", "a"),
            ev("e1", "a"),
            ev("e3", "b"),
            ev("e4", "unknown"),
            "not an event".to_owned(),
        ];
        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let out = rec.handle_batch(&refs, 4).await.unwrap();
        use ItemOutcome::*;
        assert_eq!(
            out,
            [Resubmitted, Skipped, Skipped, Skipped, Failed, Ignored]
        );
        assert_eq!(
            saas.0.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "b by hand, a once"
        );
        let p = rec.replay(&r.name).await.unwrap().unwrap().progress;
        assert_eq!(
            (p.processed, p.resubmitted, p.skipped, p.failed),
            (4, 1, 2, 1),
            "each (replay, event) counted once"
        );
        // The whole batch again: nothing resubmitted, nothing counted twice.
        let again = rec.handle_batch(&refs, 4).await.unwrap();
        assert_eq!(
            again,
            [Skipped, Skipped, Skipped, Skipped, Skipped, Ignored]
        );
        assert_eq!(saas.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        let p2 = rec.replay(&r.name).await.unwrap().unwrap().progress;
        assert_eq!(p2, p);
    }
}
