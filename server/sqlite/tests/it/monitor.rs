//! Moved from mediator-core's `monitor` unit tests: they run on SQLite.

use crate::support::{self, publish_step, unpublished_changes};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use mediator_core::monitor::*;
use mediator_core::storage::StatusStore;
use mediator_core::PartName;
use mediator_core::*;
use mediator_sqlite::*;
use std::sync::Mutex;
use std::{sync::Arc, time::Duration};
use store::Database;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

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
        let m = Monitor::new(store, probe.clone(), vec![part.clone()]).with_replica(name);
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
    let m = support::monitor(db.clone(), Arc::new(Scripted(Mutex::new(vec![]))), vec![]);
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
    let hub = mediator_core::Changes::default();
    let mut rx = hub.subscribe();
    let m = support::monitor(db, Arc::new(Scripted(Mutex::new(vec![]))), vec![]).with_changes(hub);
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
    seen: Mutex<Vec<mediator_core::OutgoingEvent>>,
}

#[async_trait]
impl mediator_core::EventPublisher for Recorder {
    async fn publish(
        &self,
        events: &[mediator_core::OutgoingEvent],
    ) -> Result<(), mediator_core::PublishError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(mediator_core::PublishError("bus unavailable".into()));
        }
        self.seen.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

#[tokio::test]
async fn changes_are_published_at_least_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    let m = support::monitor(db.clone(), Arc::new(Scripted(Mutex::new(vec![]))), vec![]);
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
    let m = Arc::new(support::monitor(
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
