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
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::datacache::time;
use crate::part::PartName;
use crate::replay_records::{HandledEvent, NewReplay, Recorded};
pub use crate::replay_records::{ItemOutcome, Progress, ReplayRecord};
use crate::storage::replays::ReplayStore;
use crate::submit::SubmissionFlow;
use crate::voucher::VoucherStatus;

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

/// The ports [`Recovery`] reads and writes.
#[derive(Clone)]
pub struct RecoveryPorts {
    /// Where the status changes the trigger follows are read, and the
    /// claims on down→up changes made.
    pub status: Arc<dyn crate::storage::StatusStore>,
    /// Replay records, handled events, latest intervals, the cursor.
    pub records: Arc<dyn ReplayStore>,
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
    changes: Option<crate::changes::Changes>,
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
    /// Recovery keeping its records in `ports`, resubmitting through
    /// `flow`. Its replica name (in the claims on down→up changes) is
    /// [`crate::monitor::EMBEDDED_REPLICA`] until [`Recovery::with_replica`].
    pub fn new(
        ports: RecoveryPorts,
        flow: Arc<SubmissionFlow>,
        replays: Arc<dyn ArchiveReplays>,
        queue: Arc<dyn ResubmitQueue>,
        settings: RecoverySettings,
    ) -> Self {
        Self {
            status: ports.status,
            records: ports.records,
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
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// Follows a started replay on the bus until it is no longer active,
    /// notifying each state change and cursor move.
    fn watch_replay(&self, name: String, part: String) {
        let Some(changes) = self.changes.clone() else {
            return;
        };
        changes.notify(crate::changes::Topic::Replay, Some(&part));
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
                            _ => changes.notify(crate::changes::Topic::Replay, Some(&part)),
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
    pub fn with_parts(mut self, parts: &[crate::part::PartSettings]) -> Self {
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
            c.notify(crate::changes::Topic::Replay, Some(&r.part));
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
    #[tracing::instrument(name = "sweep", skip_all)]
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
                    c.notify(crate::changes::Topic::Replay, Some(&p.part));
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
    #[tracing::instrument(name = "drain", skip_all, fields(part = %part))]
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
