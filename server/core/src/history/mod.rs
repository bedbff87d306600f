//! The console's read models over the monitor's history: uptime, timelines
//! (days → hours → minutes), outages and incidents, the overview's counters
//! and the archives.
//!
//! Everything is computed from **status-change intervals**
//! (`mon_status_changes`: a part is down from a `down` change to the next
//! change), never by counting checks, so a part polled every 5 minutes and
//! one polled every 15 s report the same minutes down for the same outage.
//! Time without data is reported as such, never as up: before the part's
//! first status change, hours in which the part was not checked at all
//! (the `hour` roll-ups of `mon_rollups` are empty: the mediator was
//! stopped), and the future. Reads touch only indexed rows: the changes of
//! the range, ≤ 24 roll-up rows a day, and per outage its ledger rows, so
//! 90 days stay cheap.
//!
//! **Response time** (`latency.rs`) is the exception: p50 and p95 of the
//! checks per slot, from the latency histograms of the roll-ups.
//!
//! An **incident** is an outage: its id is the id of the `down` status
//! change that opened it.
//!
//! One file per read model: uptime (`uptime.rs`), timelines of bars and
//! their outages (`bars.rs`), incidents (`incidents.rs`), the overview's
//! counters (`counters.rs`), the checks' response time (`latency.rs`) and
//! the archives (`archives.rs`); the status
//! intervals they are computed from in `intervals.rs`, the error in
//! `error.rs` and the parsing of the console's time parameters in
//! `params.rs`. This file has the service and what they share.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::archives::ArchiveBrowser;
use crate::part::PartSettings;
use crate::recovery::Recovery;
use crate::storage::history::MonitorHistory;
use crate::storage::replays::ReplayStore;
use crate::storage::{StoreError, VoucherStore};
use crate::voucher::VoucherStatus;

mod archives;
mod bars;
mod counters;
mod error;
mod incidents;
mod intervals;
mod latency;
mod params;
mod uptime;

pub use archives::MAX_ARCHIVE_PAGE;
pub use bars::{horizon, Bar, Outage, Timeline, MAX_DAYS};
pub use counters::PartCounters;
pub use error::HistoryError;
pub use incidents::{
    ChangeRef, Incident, IncidentOutcome, IncidentPage, IncidentReplay, MAX_INCIDENTS_PAGE,
};
pub use latency::{LatencyPoint, LatencySeries, RECENT_MINUTES};
pub use params::{parse_date, parse_hour, Range};
pub use uptime::{Uptime, UptimeWindow, WINDOWS};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// The ports [`History`] reads.
#[derive(Clone)]
pub struct HistoryPorts {
    /// The monitor's records (status changes, checked hours).
    pub monitor: Arc<dyn MonitorHistory>,
    /// What vouchers each outage held, and their statuses.
    pub vouchers: Arc<dyn VoucherStore>,
    /// The replays where the recovery records them.
    pub replays: Arc<dyn ReplayStore>,
}

/// The read models; cheap to clone.
#[derive(Clone)]
pub struct History {
    replays: Arc<dyn ReplayStore>,
    monitor: Arc<dyn MonitorHistory>,
    vouchers: Arc<dyn VoucherStore>,
    parts: Arc<Vec<PartSettings>>,
    recovery: Option<Arc<Recovery>>,
    archives: Option<Arc<dyn ArchiveBrowser>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("parts", &self.parts.len())
            .finish()
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn floor(ms: i64, size: i64) -> i64 {
    ms - ms.rem_euclid(size)
}

impl History {
    /// Read models over `ports` for `parts` (in configuration order). Without
    /// [`History::with_recovery`] replay states are `UNKNOWN`; without
    /// [`History::with_archives`] archive counts are `None`.
    pub fn new(ports: HistoryPorts, parts: Vec<PartSettings>) -> Self {
        Self {
            monitor: ports.monitor,
            vouchers: ports.vouchers,
            replays: ports.replays,
            parts: Arc::new(parts),
            recovery: None,
            archives: None,
        }
    }

    /// Where the monitor's records are read.
    pub fn monitor_history(&self) -> &dyn MonitorHistory {
        self.monitor.as_ref()
    }

    /// Asks `recovery` (the bus) for replay states, and reads the replays
    /// where `recovery` records them ([`Recovery::replay_store`]).
    pub fn with_recovery(mut self, recovery: Arc<Recovery>) -> Self {
        self.replays = recovery.replay_store();
        self.recovery = Some(recovery);
        self
    }

    /// Reads archives through `archives`.
    pub fn with_archives(mut self, archives: Arc<dyn ArchiveBrowser>) -> Self {
        self.archives = Some(archives);
        self
    }

    /// The configured parts.
    pub fn parts(&self) -> &[PartSettings] {
        &self.parts
    }

    fn known(&self, part: &str) -> Result<String, HistoryError> {
        self.parts
            .iter()
            .find(|p| p.name.as_str() == part)
            .map(|p| p.name.to_string())
            .ok_or_else(|| HistoryError::UnknownPart(part.to_owned()))
    }

    async fn replay_state(&self, name: &str, started: bool) -> String {
        if !started {
            return "NOT_STARTED".into();
        }
        match &self.recovery {
            Some(r) => match r.replay_state(name).await {
                Ok(Some(info)) => info.state,
                _ => "UNKNOWN".into(),
            },
            None => "UNKNOWN".into(),
        }
    }

    /// The vouchers of `part` held back between `start` and `until` (both
    /// included) and their current statuses.
    async fn held(
        &self,
        part: &str,
        start: i64,
        until: i64,
    ) -> Result<Vec<(String, VoucherStatus)>, StoreError> {
        self.vouchers
            .held_in_window(part, time(start), time(until + 1))
            .await
    }
}
