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
//!   retry events in the window have left the outbox and until
//!   `up + archive_lag` has passed (the bus archives an event some time
//!   after accepting it), so none is missed.
//! - **Drain** ([`Recovery::drain_step`]): the resubmit rule feeds a queue;
//!   replayed events are taken at a bounded concurrency and rate, and each is
//!   handled once ([`Recovery::handle`]): a voucher already `submitted` or
//!   `error` is skipped, otherwise it goes through the same submission flow.
//!   Messages that keep failing land in a dead-letter queue; their vouchers
//!   become `dead_lettered`.
//! - **Sweeper** ([`Recovery::sweep_step`]): resumes stuck vouchers
//!   (`received` never attempted, `submitting` with an expired lease), then,
//!   per part that is up, replays the retry events of vouchers no replay
//!   has handled (trigger `sweeper`).
//! - **Safety**: one active replay per part (recovery and the sweeper defer,
//!   the API gets [`RecoveryError::Busy`]); operators' windows are validated
//!   ([`Recovery::validate_window`]), previewed and cancellable.
//!
//! The bus is reached only through [`ArchiveReplays`] and [`ResubmitQueue`],
//! which the embedded and the AWS backends implement.
//!
//! One file per concern: the bus's ports (`ports.rs`), the settings
//! (`settings.rs`), the error (`error.rs`), the replays as recorded
//! (`records.rs`), the trigger (`trigger.rs`), starting, following and
//! cancelling a replay (`start.rs`), operators' windows and their preview
//! (`window.rs`), the sweeper (`sweeper.rs`), the drain (`drain.rs`), the
//! DLQ redrive (`redrive.rs`) and bulk redrive (`bulk_redrive.rs`); this file has the service, its
//! construction and its loops.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::part::PartName;
use crate::storage::replays::ReplayStore;
use crate::submit::SubmissionFlow;

mod bulk_redrive;
mod drain;
mod error;
mod ports;
mod records;
mod redrive;
mod settings;
mod start;
mod sweeper;
mod trigger;
mod window;

pub use crate::replay_records::{ItemOutcome, Progress, ReplayRecord};
pub use bulk_redrive::{
    BulkRedrive, BulkState, DlqScan, BULK_CONCURRENCY, BULK_KEPT, BULK_MAX, BULK_RATE_DEFAULT,
    BULK_RATE_MAX,
};
pub use drain::{VISIBILITY_EXTENSION, VISIBILITY_HEARTBEAT};
pub use error::RecoveryError;
pub use ports::{
    ArchiveReplays, Lane, QueuedEvent, ReplayError, ReplayInfo, ReplayRequest, ResubmitQueue,
};
pub use settings::{PartRecovery, RecoverySettings, AWS_ARCHIVE_LAG};
pub use start::{ACTIVE_STATES, STARTING_GRACE};
pub use window::{Preview, FUTURE_TOLERANCE};

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
    /// The bulk redrives of the dead-letter queue this process runs.
    bulk: bulk_redrive::BulkRedrives,
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
            bulk: Default::default(),
        }
    }

    /// Notifies `changes` (topic `replay`) when a replay starts, changes
    /// state, progresses (at most 5 times a second per replay) and ends.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
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
                        archive_lag: p.archive_lag.unwrap_or(self.settings.archive_lag),
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
                archive_lag: self.settings.archive_lag,
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

    fn known_part(&self, part: &str) -> Result<PartName, RecoveryError> {
        self.part(part)
            .cloned()
            .ok_or_else(|| RecoveryError::Invalid {
                field: "part",
                reason: format!("unknown part {part:?}"),
            })
    }

    /// Starts the trigger loop, the sweeper loop and the drain loops of
    /// each part on `tracker`.
    pub fn spawn(self: Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        tracker.spawn(self.clone().trigger_run(shutdown.clone()));
        tracker.spawn(self.clone().sweep_run(chrono::Utc::now(), shutdown.clone()));
        for part in self.parts().to_vec() {
            // Two loops per part when its concurrency allows, each with half
            // of it: while one waits for its batch's last SaaS answers, the
            // other claims and sends the next batch, so neither the database
            // nor the SaaS sits idle between batches.
            let workers = if self.part_recovery(&part).concurrency >= 2 {
                drain::DRAIN_WORKERS
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
}
