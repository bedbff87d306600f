//! The status monitor: polls each part's health on its own schedule, runs
//! the result through the part's [`Circuit`], and records everything in one
//! transaction: the check, the roll-ups the timelines read, the circuit, and
//! (on a change) the status-change row that is also the publication outbox.
//!
//! Each part has its own loop, and each check is bounded by the part's
//! timeout, so a slow or hanging part never delays the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::circuit::{Circuit, PartState, StatusChange};
use crate::part::PartSettings;
use crate::storage::{CheckWrite, RecordOutcome, StatusStore};

/// Asks the SaaS whether a part is healthy. The HTTP implementation lives in
/// the server; tests use their own.
#[async_trait]
pub trait HealthProbe: Send + Sync {
    /// `Ok(())` when the part is healthy, `Err(reason)` otherwise.
    async fn check(&self, part: &str) -> Result<(), String>;
}

/// What one check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// The part checked.
    pub part: String,
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
    /// The settled status change the check caused, if any.
    pub change: Option<StatusChange>,
}

/// Polls every configured part.
pub struct Monitor {
    store: Arc<dyn StatusStore>,
    probe: Arc<dyn HealthProbe>,
    parts: Vec<PartSettings>,
    changes: Option<crate::changes::Changes>,
    /// This process's name in the monitor leases ([`StatusStore::lease_monitor`]).
    replica: String,
    /// When each part was last checked on request ([`Monitor::check_now`]).
    asked: Mutex<HashMap<String, Instant>>,
}

/// Shortest time between two checks of one part asked for by callers
/// ([`Monitor::check_now`]): a vendor's health endpoint is not hammered by
/// a support team clicking at once.
pub const CHECK_NOW_INTERVAL: Duration = Duration::from_secs(5);

/// Whole seconds, rounded up (a `Retry-After` never says 0 too early).
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Why a check asked for now was not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckNowError {
    /// The part is not configured.
    #[error("part {0:?} is not configured")]
    UnknownPart(String),
    /// The part was checked on request less than [`CHECK_NOW_INTERVAL`] ago.
    #[error("part {part:?} was checked on request less than {} s ago; try again in {} s", CHECK_NOW_INTERVAL.as_secs(), ceil_secs(*retry_after))]
    TooSoon {
        /// The part.
        part: String,
        /// How long until it may be checked on request again.
        retry_after: Duration,
    },
    /// Recording the check failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The monitor's name in leases on the embedded database ([`Monitor::new`]).
pub const EMBEDDED_REPLICA: &str = "embedded";

/// A name for this process in leases: unique per start, readable in logs.
fn default_replica() -> String {
    format!(
        "mediator-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    )
}

/// How long a monitor lease lasts: three polls and the longest check, so a
/// leader that stops polling is replaced after about three missed polls.
pub fn lease_length(part: &PartSettings) -> Duration {
    part.poll_interval * 3 + part.check_timeout
}

/// Check writes tried before giving up when other writers keep moving the
/// part's status in between.
const RECORD_ATTEMPTS: usize = 5;

/// How long a replica's claim to publish a status change lasts.
const PUBLICATION_CLAIM_SECS: i64 = 60;

impl Monitor {
    /// A monitor for `parts` using `probe`, keeping statuses, checks and
    /// changes in `store`. Its replica name is unique per start; one
    /// process owning an embedded database names itself
    /// [`EMBEDDED_REPLICA`] ([`Monitor::with_replica`]), so a restarted
    /// server takes its parts back at once instead of waiting out the lease.
    pub fn new(
        store: Arc<dyn StatusStore>,
        probe: Arc<dyn HealthProbe>,
        parts: Vec<PartSettings>,
    ) -> Self {
        Self {
            store,
            probe,
            parts,
            changes: None,
            replica: default_replica(),
            asked: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `part` now, outside its poll schedule, and records the result
    /// like any poll (it counts toward the circuit's thresholds, so a good
    /// check brings a recovering part closer to up). At most once per
    /// [`CHECK_NOW_INTERVAL`] per part on this replica.
    pub async fn check_now(&self, part: &str) -> Result<CheckRecord, CheckNowError> {
        let settings = self
            .parts
            .iter()
            .find(|p| p.name.as_str() == part)
            .ok_or_else(|| CheckNowError::UnknownPart(part.to_owned()))?;
        {
            let now = Instant::now();
            let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(last) = asked.get(part) {
                let since = now.saturating_duration_since(*last);
                if since < CHECK_NOW_INTERVAL {
                    return Err(CheckNowError::TooSoon {
                        part: part.to_owned(),
                        retry_after: CHECK_NOW_INTERVAL - since,
                    });
                }
            }
            asked.insert(part.to_owned(), now);
        }
        Ok(self.check_once(settings).await?)
    }

    /// Notifies `changes` after every recorded check: topic `status` when the
    /// check changed the part's status, its counters against the thresholds
    /// or its error ([`visible_state`]), topic `check` for a routine check
    /// that changed none of them.
    pub fn with_changes(mut self, changes: crate::changes::Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// This replica's name in the monitor leases.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Names this replica in the monitor leases (default: process id and
    /// start time).
    pub fn with_replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = replica.into();
        self
    }

    /// Takes or renews this replica's lease on `part` at `now`: true when
    /// this replica should poll it. The single step of leadership, which the
    /// poll loop repeats before every check.
    pub async fn lead(&self, part: &PartSettings, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let until = chrono::Duration::from_std(lease_length(part))
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.store
            .lease_monitor(part.name.as_str(), &self.replica, now, until)
            .await
    }

    /// Checks one part now (bounded by its timeout) and records the result.
    #[tracing::instrument(name = "check", skip_all, fields(part = %part.name))]
    pub async fn check_once(&self, part: &PartSettings) -> Result<CheckRecord, StoreError> {
        let at = Utc::now();
        let started = Instant::now();
        let outcome =
            match tokio::time::timeout(part.check_timeout, self.probe.check(part.name.as_str()))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "no answer within {} ms",
                    part.check_timeout.as_millis()
                )),
            };
        let latency_ms = started.elapsed().as_millis() as u64;
        self.record(part, at, outcome.err(), latency_ms).await
    }

    /// Records one check result (`error` is `None` for a good check): the
    /// single step the poll loop repeats, and what tests drive directly.
    pub async fn record(
        &self,
        part: &PartSettings,
        at: DateTime<Utc>,
        error: Option<String>,
        latency_ms: u64,
    ) -> Result<CheckRecord, StoreError> {
        let name = part.name.to_string();
        let ok = error.is_none();
        // Read, observe, write only if nobody wrote in between: another
        // replica that recorded first (maybe the same status change) makes
        // this one observe again on top of it, so a change is written once.
        for _ in 0..RECORD_ATTEMPTS {
            let snap = self.store.load(&name).await?;
            let mut circuit = snap.circuit.clone();
            let before = visible_state(&circuit);
            let change = circuit.observe(ok, at, part.thresholds);
            let visible_change =
                change.is_some() || visible_state(&circuit) != before || error != snap.last_error;
            let write = CheckWrite {
                at,
                ok,
                latency_ms,
                error: error.clone(),
                circuit,
                change,
            };
            match self.store.record(&name, &snap, &write).await? {
                RecordOutcome::Stale => continue,
                RecordOutcome::Recorded { .. } => {
                    if let Some(c) = &self.changes {
                        let topic = if visible_change {
                            crate::changes::Topic::Status
                        } else {
                            crate::changes::Topic::Check
                        };
                        c.notify(topic, Some(&name));
                    }
                    return Ok(CheckRecord {
                        part: name,
                        at,
                        ok,
                        latency_ms,
                        error,
                        circuit: write.circuit,
                        change: write.change,
                    });
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "part {name}: the status moved under {RECORD_ATTEMPTS} consecutive check writes"
        )))
    }

    /// Starts one poll loop per part on `tracker`; each stops when
    /// `shutdown` is cancelled.
    pub fn spawn(self: Arc<Self>, tracker: &TaskTracker, shutdown: CancellationToken) {
        for part in self.parts.clone() {
            let monitor = self.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move { monitor.poll(part, shutdown).await });
        }
    }

    async fn poll(&self, part: PartSettings, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(part.poll_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leading = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            // Only the lease holder polls: replicas sharing the storage
            // record each check once, and take over when the holder stops.
            let lead = match self.lead(&part, Utc::now()).await {
                Ok(lead) => lead,
                Err(e) => {
                    tracing::warn!(part = %part.name, "renewing the monitor lease failed: {e}");
                    false
                }
            };
            if leading != Some(lead) {
                if lead {
                    tracing::info!(part = %part.name, replica = %self.replica, "polling this part");
                } else {
                    tracing::info!(part = %part.name, "another replica polls this part");
                }
                leading = Some(lead);
            }
            if !lead {
                continue;
            }
            // A lease taken while shutting down (another replica just
            // released it) must not lead to one more check: stop first.
            let result = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                r = self.check_once(&part) => r,
            };
            match result {
                Ok(rec) => {
                    if let Some(ch) = rec.change {
                        tracing::info!(part = %rec.part, from = %ch.prev_status, to = %ch.status, "part status changed");
                    }
                }
                Err(e) => tracing::warn!(part = %part.name, "recording a check failed: {e}"),
            }
        }
        if leading == Some(true) {
            // Hand the part over now rather than when the lease runs out.
            let now = Utc::now();
            let ended = now - chrono::Duration::milliseconds(1);
            let released = self
                .store
                .lease_monitor(part.name.as_str(), &self.replica, now, ended)
                .await;
            if let Err(e) = released {
                tracing::warn!(part = %part.name, "releasing the monitor lease failed: {e}");
            }
        }
    }
}

/// What a part's card shows of its circuit: the settled status, the failed
/// checks counted toward the failure threshold while not down, and the good
/// checks counted toward the recovery threshold while down. (The raw
/// counters keep growing on every routine check, e.g. good checks while up;
/// those are not visible changes.)
pub fn visible_state(c: &Circuit) -> (PartState, u32, u32) {
    let down = c.status == PartState::Down;
    (
        c.status,
        if down { 0 } else { c.failures },
        if down { c.successes } else { 0 },
    )
}

/// Publishes pending status changes (oldest first) of `store` as
/// SAAS_STATUS events and marks them published; returns how many were
/// published. A failure leaves them pending for the next call, so every
/// change is published at least once. Claims the pending changes for
/// `owner` (so two replicas do not both publish one change), publishes the
/// claimed ones in order and marks them published.
#[tracing::instrument(name = "publish_status_changes", skip_all)]
pub async fn publish_step_with(
    store: &dyn StatusStore,
    publisher: &dyn crate::events::EventPublisher,
    owner: &str,
) -> Result<usize, crate::events::PublishError> {
    let err = |e: StoreError| crate::events::PublishError(e.to_string());
    let mut pending = store
        .unpublished_changes(crate::events::OUTBOX_BATCH)
        .await
        .map_err(err)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let until = Utc::now() + chrono::Duration::seconds(PUBLICATION_CLAIM_SECS);
    let claimed = store
        .claim_publication(&ids, owner, until)
        .await
        .map_err(err)?;
    pending.retain(|p| claimed.contains(&p.id));
    if pending.is_empty() {
        return Ok(0);
    }
    let events: Vec<_> = pending
        .iter()
        .map(|c| crate::events::saas_status_event(&c.part, &c.change))
        .collect();
    publisher.publish(&events).await?;
    store.mark_changes_published(&claimed).await.map_err(err)?;
    Ok(pending.len())
}

/// Runs [`publish_step_with`] every `every` until `shutdown` (draining
/// backlogs in one go) on `store`, claiming as `owner` (a replica
/// id); with `wake`, also at once when this process notifies a status
/// change (so a billed store's outbox can be read on a slow tick).
pub async fn publish_run_with(
    store: Arc<dyn StatusStore>,
    publisher: Arc<dyn crate::events::EventPublisher>,
    owner: String,
    every: Duration,
    wake: Option<crate::changes::Changes>,
    shutdown: CancellationToken,
) {
    let wake = wake.map(|c| (c.subscribe(), crate::changes::Topic::Status));
    crate::events::run_outbox_woken("status events", every, wake, shutdown, || {
        publish_step_with(store.as_ref(), publisher.as_ref(), &owner)
    })
    .await
}
