//! The storage ports: what the domain persists, behind object-safe traits
//! so the same domain code runs on SQLite (the embedded backend, the
//! `mediator-sqlite` crate) and on DynamoDB (the `aws-backend` crate).
//! Services are built from them ([`Ports`] bundles one backend's).
//!
//! The ports:
//! * [`OverrideStore`] — manual circuit overrides (`Overrides`);
//! * [`StatusStore`] — the circuit per part, its checks and roll-ups, and
//!   the status changes that are also the SAAS_STATUS outbox
//!   (`Monitor`, `publish_step_with`).
//!
//! * [`VoucherStore`] — the DataCache: vouchers, lifecycle, status-event
//!   outbox and retry ledger (`DataCache` wraps it);
//! * [`history::MonitorHistory`] — the monitor's records as the history
//!   reads them (`History`);
//! * [`audit::AuditStore`] — the audit log (`Audit`);
//! * [`access::AccessStore`] — users, sessions and API tokens
//!   (`Access`);
//! * [`replays::ReplayStore`] — replay records and progress, handled
//!   replayed events, latest intervals, the recovery cursor
//!   (`Recovery`, `History`);
//! * [`notify::NotificationStore`] — the notification outbox and its
//!   sources' cursors (`notify::Notifier`);
//! * [`maintenance::MaintenanceStore`] — the parts' maintenance windows
//!   (`Maintenance`), which the voucher store's hold and claim also read;
//! * [`feed::ChangeFeed`] — the live-change feed replicas on a shared
//!   storage relay the console's notifications through (`ChangeRelay`).
//!
//! `contract` is the backend-neutral contract suite every implementation
//! must pass (run for SQLite in `mediator-sqlite`'s tests and for DynamoDB
//! in `aws-backend`'s).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use std::sync::Arc;

use crate::circuit::{Circuit, PartState, StatusChange};
use crate::circuit_override::{CircuitOverride, OverrideMode};
use access::AccessStore;
use audit::AuditStore;
use history::MonitorHistory;
use replays::ReplayStore;

pub mod access;
pub mod audit;
mod error;
pub mod feed;
pub mod history;
pub mod maintenance;
pub mod notify;
pub mod replays;
pub mod vouchers;

pub use error::{BoxError, StoreError};
pub use vouchers::{Admitted, VoucherStore};

/// Manual circuit overrides, stored beside each part's status.
#[async_trait]
pub trait OverrideStore: Send + Sync {
    /// Sets (`Some`) or clears (`None`) the override of `part`. Never
    /// touches the part's status or check counters.
    async fn set_override(
        &self,
        part: &str,
        value: Option<&CircuitOverride>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every override in force, by part.
    async fn overrides(&self) -> Result<HashMap<String, CircuitOverride>, StoreError>;

    /// Every override in force and every part's stored status (`up`,
    /// `down`, …), read together (one read on both backends).
    async fn overrides_and_statuses(
        &self,
    ) -> Result<(HashMap<String, CircuitOverride>, HashMap<String, String>), StoreError>;

    /// The override mode of `part`, if any.
    async fn mode_of(&self, part: &str) -> Result<Option<OverrideMode>, StoreError>;
}

/// A part's circuit as last written, with the version a conditional write
/// must still find ([`StatusStore::record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// The circuit (`Circuit::default()` when the part has no status yet).
    pub circuit: Circuit,
    /// The error of the last check, if it failed.
    pub last_error: Option<String>,
    /// When the part was last checked (not compared by writers).
    pub last_check_at: Option<DateTime<Utc>>,
    /// The write version: 0 before the first check is recorded. SQLite
    /// compares the whole snapshot instead, which decides the same races.
    pub version: u64,
}

/// One check to record: the check itself (and its roll-ups) and the circuit
/// it produced, with the status change it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckWrite {
    /// When the check started.
    pub at: DateTime<Utc>,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// The circuit after the check.
    pub circuit: Circuit,
    /// The status change the check caused, if any.
    pub change: Option<StatusChange>,
}

/// What [`StatusStore::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Written; `change_id` is the id of the status change row, if any.
    Recorded {
        /// The new status change's id (monotonic, in commit order).
        change_id: Option<i64>,
    },
    /// Nothing written: the part's circuit moved since the snapshot (another
    /// replica recorded first). The caller reloads and observes again; the
    /// other writer's change, if any, is then already done.
    Stale,
}

/// A stored status change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Its id (monotonic in commit order).
    pub id: i64,
    /// The part.
    pub part: String,
    /// The change.
    pub change: StatusChange,
}

/// Minute, hour and day roll-up bucket sizes in milliseconds.
pub const ROLLUPS: [(&str, i64); 3] =
    [("minute", 60_000), ("hour", 3_600_000), ("day", 86_400_000)];

/// The circuit per part, its checks and roll-ups, and the status changes
/// (which are also the outbox SAAS_STATUS events are published from).
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// The part's circuit and last error as last written (strongly
    /// consistent).
    async fn load(&self, part: &str) -> Result<StatusSnapshot, StoreError>;

    /// Records a check atomically — the circuit, the check, its minute/
    /// hour/day roll-ups and the status change if any — only if the part's
    /// stored circuit is still `expect`; otherwise [`RecordOutcome::Stale`]
    /// and nothing is written. Two replicas racing on one status change:
    /// exactly one writes it.
    async fn record(
        &self,
        part: &str,
        expect: &StatusSnapshot,
        write: &CheckWrite,
    ) -> Result<RecordOutcome, StoreError>;

    /// Unpublished status changes, oldest first.
    async fn unpublished_changes(&self, limit: usize) -> Result<Vec<StoredChange>, StoreError>;

    /// Claims changes for publication by `owner` until `until`; returns the
    /// ids this owner may publish (not claimed by another owner whose claim
    /// is still valid). A single-process store gives all of them.
    async fn claim_publication(
        &self,
        ids: &[i64],
        _owner: &str,
        _until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(ids.to_vec())
    }

    /// Marks changes published (they leave the outbox).
    async fn mark_changes_published(&self, ids: &[i64]) -> Result<(), StoreError>;

    /// Status changes with an id greater than `after`, in id order, at most
    /// `limit` (published or not).
    async fn changes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredChange>, StoreError>;

    /// Whether `part` has a status change with an id greater than `after`.
    async fn has_changes_after(&self, part: &str, after: i64) -> Result<bool, StoreError>;

    /// Claims the recovery of the down→up change `change_id` for `owner`:
    /// true for the first owner to ask (and again for it), false for every
    /// other, so replicas sharing the storage start one replay per outage.
    /// A claimer that dies before starting it leaves the outage's vouchers
    /// to the sweeper, which replays what is still held.
    async fn claim_change_replay(&self, change_id: i64, owner: &str) -> Result<bool, StoreError>;

    /// Takes or renews the lease to poll `part`: granted to `owner` until
    /// `until` when nobody holds it, when `owner` already does, or when the
    /// holder's lease ended before `now`; `false` (and nothing written) while
    /// another owner's lease runs. Only the holder polls a part, so replicas
    /// sharing the storage count each check once and a dead leader is
    /// replaced when its lease runs out.
    async fn lease_monitor(
        &self,
        part: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Makes sure every part of `parts` has a status (`unknown` when new);
    /// statuses of other parts are kept, so history is not lost. A store
    /// that reads a missing status as unknown has nothing to do.
    async fn seed(&self, _parts: &[String], _now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }

    /// The stored circuit of each of `parts` that has one, as the status
    /// board shows it (one read where the store allows; by default
    /// [`StatusStore::load`] per part, strongly consistent).
    async fn board(&self, parts: &[String]) -> Result<HashMap<String, StatusSnapshot>, StoreError> {
        let mut out = HashMap::with_capacity(parts.len());
        for p in parts {
            out.insert(p.clone(), self.load(p).await?);
        }
        Ok(out)
    }

    /// The stored status of `part` (`up`, `down`, …) for diagnostics;
    /// `None` when the part has none.
    async fn stored_status(&self, part: &str) -> Result<Option<String>, StoreError> {
        let snap = self.load(part).await?;
        Ok(
            (snap.version > 0 || snap.circuit.status != PartState::Unknown)
                .then(|| snap.circuit.status.as_str().to_string()),
        )
    }
}

/// Every port of one backend (the embedded database, or DynamoDB), as the
/// server builds its services from them.
#[derive(Clone)]
pub struct Ports {
    /// Circuits, checks, roll-ups, status changes, leases.
    pub status: Arc<dyn StatusStore>,
    /// Manual circuit overrides.
    pub overrides: Arc<dyn OverrideStore>,
    /// The monitor's records as the history reads them.
    pub monitor_history: Arc<dyn MonitorHistory>,
    /// The DataCache's vouchers, lifecycle, outbox and retry ledger.
    pub vouchers: Arc<dyn VoucherStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Replay records and progress, the recovery cursor.
    pub replays: Arc<dyn ReplayStore>,
    /// Users, sessions and API tokens.
    pub access: Arc<dyn AccessStore>,
    /// The parts' maintenance windows.
    pub maintenance: Arc<dyn maintenance::MaintenanceStore>,
    /// The notification outbox and its sources' cursors.
    pub notifications: Arc<dyn notify::NotificationStore>,
}
