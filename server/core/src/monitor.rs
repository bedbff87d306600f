//! The status monitor: polls each part's health on its own schedule, runs
//! the result through the part's [`Circuit`], and records everything in one
//! transaction: the check, the roll-ups the timelines read, the circuit, and
//! (on a change) the status-change row that is also the publication outbox.
//!
//! Each part has its own loop, and each check is bounded by the part's
//! timeout, so a slow or hanging part never delays the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::storage::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use store::Database;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::storage::sqlite::SqliteStore;
use crate::storage::{CheckWrite, RecordOutcome, StatusStore};
use crate::{Circuit, PartSettings, PartState, StatusChange};

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
    changes: Option<crate::Changes>,
    /// This process's name in the monitor leases ([`StatusStore::lease_monitor`]).
    replica: String,
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
    /// A monitor for `parts` using `probe`.
    pub fn new(db: Database, probe: Arc<dyn HealthProbe>, parts: Vec<PartSettings>) -> Self {
        Self {
            store: Arc::new(SqliteStore::new(db)),
            probe,
            parts,
            changes: None,
            // One process owns an embedded database: a restarted server
            // takes its parts back at once instead of waiting out the lease.
            replica: EMBEDDED_REPLICA.to_string(),
        }
    }

    /// A monitor keeping statuses, checks and changes in `store` (e.g.
    /// DynamoDB) instead of the embedded database.
    pub fn new_with_store(
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
        }
    }

    /// Notifies `changes` after every recorded check: topic `status` when the
    /// check changed the part's status, its counters against the thresholds
    /// or its error ([`visible_state`]), topic `check` for a routine check
    /// that changed none of them.
    pub fn with_changes(mut self, changes: crate::Changes) -> Self {
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
                            crate::Topic::Status
                        } else {
                            crate::Topic::Check
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

/// Unpublished status changes, oldest first (the outbox the event
/// publisher drains).
pub async fn unpublished_changes(
    db: &Database,
    limit: usize,
) -> Result<Vec<(i64, String, StatusChange)>, StoreError> {
    Ok(SqliteStore::new(db.clone())
        .unpublished_changes(limit)
        .await?
        .into_iter()
        .map(|c| (c.id, c.part, c.change))
        .collect())
}

/// Publishes pending status changes (oldest first) as SAAS_STATUS events and
/// marks them published; returns how many were published. A failure leaves
/// them pending for the next call, so every change is published at least once.
pub async fn publish_step(
    db: &Database,
    publisher: &dyn crate::events::EventPublisher,
) -> Result<usize, crate::events::PublishError> {
    publish_step_with(&SqliteStore::new(db.clone()), publisher, "").await
}

/// [`publish_step`] on any [`StatusStore`]: claims the pending changes for
/// `owner` (so two replicas do not both publish one change), publishes the
/// claimed ones in order and marks them published.
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

/// Runs [`publish_step`] every `every` until `shutdown`, draining backlogs
/// in one go.
pub async fn publish_run(
    db: Database,
    publisher: Arc<dyn crate::events::EventPublisher>,
    every: Duration,
    shutdown: CancellationToken,
) {
    publish_run_with(
        Arc::new(SqliteStore::new(db)),
        publisher,
        String::new(),
        every,
        None,
        shutdown,
    )
    .await
}

/// [`publish_run`] on any [`StatusStore`], claiming as `owner` (a replica
/// id); with `wake`, also at once when this process notifies a status
/// change (so a billed store's outbox can be read on a slow tick).
pub async fn publish_run_with(
    store: Arc<dyn StatusStore>,
    publisher: Arc<dyn crate::events::EventPublisher>,
    owner: String,
    every: Duration,
    wake: Option<crate::Changes>,
    shutdown: CancellationToken,
) {
    let wake = wake.map(|c| (c.subscribe(), crate::Topic::Status));
    crate::events::run_outbox_woken("status events", every, wake, shutdown, || {
        publish_step_with(store.as_ref(), publisher.as_ref(), &owner)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PartName;
    use chrono::TimeZone;
    use std::sync::Mutex;

    struct Scripted(Mutex<Vec<Result<(), String>>>);

    #[async_trait]
    impl HealthProbe for Scripted {
        async fn check(&self, part: &str) -> Result<(), String> {
            if part == "member" {
                // A hanging part.
                std::future::pending::<()>().await;
            }
            self.0.lock().unwrap().pop().unwrap_or(Ok(()))
        }
    }

    fn settings(name: &str) -> PartSettings {
        let mut s = PartSettings::new(PartName::parse(name).unwrap());
        s.check_timeout = Duration::from_millis(50);
        s.poll_interval = Duration::from_millis(20);
        s
    }

    #[tokio::test]
    async fn sqlite_passes_the_storage_contract() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let s = SqliteStore::new(db);
        crate::storage::contract::check_status(&s).await;
        crate::storage::contract::check_overrides(&s, &s).await;
    }

    #[tokio::test]
    async fn sqlite_decides_a_race_between_two_handles_on_one_file() {
        let tmp = tempfile::tempdir().unwrap();
        let a = SqliteStore::new(Database::open(tmp.path()).unwrap());
        let b = SqliteStore::new(Database::open(tmp.path()).unwrap());
        crate::storage::contract::check_status_race(Arc::new(a), Arc::new(b), 20, false).await;
    }

    #[tokio::test]
    async fn sqlite_passes_the_monitor_history_contract() {
        let tmp = tempfile::tempdir().unwrap();
        let s = SqliteStore::new(Database::open(tmp.path()).unwrap());
        crate::storage::contract::check_monitor_history(&s, &s).await;
    }

    #[tokio::test]
    async fn sqlite_gives_each_outage_recovery_to_one_handle() {
        let tmp = tempfile::tempdir().unwrap();
        let a = SqliteStore::new(Database::open(tmp.path()).unwrap());
        let b = SqliteStore::new(Database::open(tmp.path()).unwrap());
        crate::storage::contract::check_change_replay_claims(&a, &b).await;
    }

    #[tokio::test]
    async fn sqlite_grants_the_monitor_lease_to_one_handle_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let a = SqliteStore::new(Database::open(tmp.path()).unwrap());
        let b = SqliteStore::new(Database::open(tmp.path()).unwrap());
        crate::storage::contract::check_monitor_lease(&a, &b).await;
    }

    /// Counts the checks it answers.
    struct Counting(std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl HealthProbe for Counting {
        async fn check(&self, _part: &str) -> Result<(), String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn two_replicas_on_one_store_poll_a_part_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut part = settings("voucher");
        part.check_timeout = Duration::from_secs(1);
        let replica = |name: &str| {
            let probe = Arc::new(Counting(Default::default()));
            let store = Arc::new(SqliteStore::new(Database::open(tmp.path()).unwrap()));
            let m = Monitor::new_with_store(store, probe.clone(), vec![part.clone()])
                .with_replica(name);
            (Arc::new(m), probe)
        };
        let ((a, pa), (b, pb)) = (replica("a"), replica("b"));
        let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
        a.clone().spawn(&tracker, stop.clone());
        b.clone().spawn(&tracker, stop.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
        tracker.close();
        tracker.wait().await;
        let (ca, cb) = (
            pa.0.load(std::sync::atomic::Ordering::SeqCst),
            pb.0.load(std::sync::atomic::Ordering::SeqCst),
        );
        assert!(
            (ca == 0) != (cb == 0),
            "exactly one replica polls the part: a {ca} checks, b {cb}"
        );
        assert!(ca + cb >= 3, "the leader keeps polling: {ca} + {cb}");
        let store = SqliteStore::new(Database::open(tmp.path()).unwrap());
        let now = Utc::now();
        let later = now + chrono::Duration::seconds(10);
        assert!(
            store
                .lease_monitor("voucher", "c", now, later)
                .await
                .unwrap(),
            "the leader released the part when it stopped"
        );
    }

    #[tokio::test]
    async fn records_checks_rollups_and_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let m = Monitor::new(db.clone(), Arc::new(Scripted(Mutex::new(vec![]))), vec![]);
        let p = settings("voucher");
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let r = m.record(&p, t0, None, 12).await.unwrap();
        assert_eq!(r.change.as_ref().unwrap().status, PartState::Up);
        for i in 1..=3 {
            let r = m
                .record(&p, t0 + chrono::Duration::seconds(i), Some("503".into()), 5)
                .await
                .unwrap();
            assert_eq!(r.change.is_some(), i == 3, "down only at the 3rd failure");
        }
        let (checks, failures, max): (i64, i64, i64) = db
            .read(|c| {
                c.query_row(
                    "SELECT checks, failures, latency_ms_max FROM mon_rollups WHERE part='voucher' AND granularity='day'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .await
            .unwrap();
        assert_eq!((checks, failures, max), (4, 3, 12));
        let changes = unpublished_changes(&db, 10).await.unwrap();
        let statuses: Vec<_> = changes.iter().map(|c| c.2.status).collect();
        assert_eq!(statuses, [PartState::Up, PartState::Down]);
        assert_eq!(changes[1].2.prev_change_at, Some(t0));
        let status: String = db
            .read(|c| {
                c.query_row(
                    "SELECT status FROM part_status WHERE part='voucher'",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .unwrap();
        assert_eq!(status, "down");
    }

    #[tokio::test]
    async fn routine_checks_notify_check_and_visible_changes_notify_status() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let hub = crate::Changes::default();
        let mut rx = hub.subscribe();
        let m = Monitor::new(db, Arc::new(Scripted(Mutex::new(vec![]))), vec![]).with_changes(hub);
        let p = settings("voucher");
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (ok, e503, timeout) = (None, Some("503".to_string()), Some("timeout".to_string()));
        let script = [
            (ok.clone(), "status", "unknown → up"),
            (ok.clone(), "check", "up again"),
            (ok.clone(), "check", "good checks while up are not shown"),
            (e503.clone(), "status", "1/3 failed checks"),
            (e503.clone(), "status", "2/3 failed checks"),
            (e503.clone(), "status", "up → down"),
            (e503.clone(), "check", "still down, same error"),
            (timeout.clone(), "status", "another error"),
            (ok.clone(), "status", "1/2 good checks while down"),
            (timeout.clone(), "status", "good checks reset"),
            (
                timeout.clone(),
                "check",
                "failed checks while down are not shown",
            ),
            (ok.clone(), "status", "1/2 good checks"),
            (ok.clone(), "status", "down → up"),
            (ok.clone(), "check", "up again"),
        ];
        for (i, (error, want, why)) in script.into_iter().enumerate() {
            m.record(&p, t0 + chrono::Duration::seconds(i as i64), error, 5)
                .await
                .unwrap();
            let c = rx.try_recv().unwrap();
            assert_eq!(
                (c.topic.as_str(), c.part.as_deref()),
                (want, Some("voucher")),
                "check {i}: {why}"
            );
            assert!(rx.try_recv().is_err(), "one notification per check");
        }
    }

    struct Recorder {
        fail: std::sync::atomic::AtomicBool,
        seen: Mutex<Vec<crate::OutgoingEvent>>,
    }

    #[async_trait]
    impl crate::EventPublisher for Recorder {
        async fn publish(
            &self,
            events: &[crate::OutgoingEvent],
        ) -> Result<(), crate::PublishError> {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(crate::PublishError("bus unavailable".into()));
            }
            self.seen.lock().unwrap().extend_from_slice(events);
            Ok(())
        }
    }

    #[tokio::test]
    async fn changes_are_published_at_least_once_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let m = Monitor::new(db.clone(), Arc::new(Scripted(Mutex::new(vec![]))), vec![]);
        let p = settings("voucher");
        let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        m.record(&p, t0, None, 1).await.unwrap();
        for i in 1..=3 {
            m.record(&p, t0 + chrono::Duration::seconds(i), Some("x".into()), 1)
                .await
                .unwrap();
        }
        let rec = Recorder {
            fail: true.into(),
            seen: Mutex::new(vec![]),
        };
        assert!(publish_step(&db, &rec).await.is_err());
        assert_eq!(
            unpublished_changes(&db, 10).await.unwrap().len(),
            2,
            "kept for retry"
        );
        rec.fail.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(publish_step(&db, &rec).await.unwrap(), 2);
        assert_eq!(publish_step(&db, &rec).await.unwrap(), 0, "published once");
        let seen = rec.seen.lock().unwrap();
        let statuses: Vec<_> = seen
            .iter()
            .map(|e| e.detail["metadata"]["status"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(statuses, ["up", "down"]);
        assert_eq!(seen[1].detail["data"]["prev_status"], "up");
        assert_eq!(seen[1].time, t0 + chrono::Duration::seconds(3));
    }

    #[tokio::test]
    async fn a_hanging_part_fails_by_timeout_and_does_not_block_others() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let parts = vec![settings("voucher"), settings("member")];
        let m = Arc::new(Monitor::new(
            db.clone(),
            Arc::new(Scripted(Mutex::new(vec![]))),
            parts.clone(),
        ));
        let r = m.check_once(&parts[1]).await.unwrap();
        assert!(!r.ok);
        assert!(r.error.unwrap().contains("no answer within 50 ms"));

        let tracker = TaskTracker::new();
        let token = CancellationToken::new();
        m.clone().spawn(&tracker, token.clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(2), tracker.wait())
            .await
            .unwrap();
        let counts: Vec<(String, i64)> = db
            .read(|c| {
                let mut s =
                    c.prepare("SELECT part, count(*) FROM mon_checks GROUP BY part ORDER BY part")?;
                let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect();
                rows
            })
            .await
            .unwrap();
        let voucher = counts.iter().find(|c| c.0 == "voucher").unwrap().1;
        let member = counts
            .iter()
            .find(|c| c.0 == "member")
            .map(|c| c.1)
            .unwrap_or(0);
        assert!(voucher >= 5, "voucher kept its cadence: {voucher} checks");
        assert!(
            member >= 1,
            "member's checks time out and are recorded: {member}"
        );
    }
}
