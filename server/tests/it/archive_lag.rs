//! Recovery when the archive receives events late (as EventBridge's does):
//! the real server, simulated SaaS and embedded EventBridge, with recovery
//! reaching the archive through a wrapper that lets a replay see only the
//! events put at least `LAG` ago.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use mediator_core::recovery::{ArchiveReplays, ReplayError, ReplayInfo, ReplayRequest};
use serde_json::{json, Value};

use crate::common::{eventually, spawn_app_wrapping, voucher, TestApp};

/// How late the wrapped archive receives an event.
const LAG: Duration = Duration::from_secs(2);

/// An archive that holds an event only `lag` after it was put: a replay
/// started now delivers the events of its window older than `lag`.
struct LateArchive {
    inner: Arc<dyn ArchiveReplays>,
    lag: Duration,
}

#[async_trait]
impl ArchiveReplays for LateArchive {
    async fn start_replay(&self, req: &ReplayRequest) -> Result<(), ReplayError> {
        let archived_until = Utc::now() - chrono::Duration::from_std(self.lag).unwrap();
        let mut req = req.clone();
        req.end = req
            .end
            .min(archived_until)
            .max(req.start + chrono::Duration::milliseconds(1));
        self.inner.start_replay(&req).await
    }
    async fn describe_replay(&self, name: &str) -> Result<Option<ReplayInfo>, ReplayError> {
        self.inner.describe_replay(name).await
    }
    async fn cancel_replay(&self, name: &str) -> Result<(), ReplayError> {
        self.inner.cancel_replay(name).await
    }
    async fn count_archived(
        &self,
        archive: &str,
        start: chrono::DateTime<Utc>,
        end: chrono::DateTime<Utc>,
    ) -> Result<i64, ReplayError> {
        self.inner.count_archived(archive, start, end).await
    }
}

/// A server whose archive is `LAG` late and whose voucher part waits
/// `archive_lag` s before replaying; the sweeper runs every `sweep` s.
async fn spawn(archive_lag: f64, sweep: f64) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mediator.toml");
    std::fs::write(
        &config,
        format!("[parts.voucher]\narchive_lag = {archive_lag}\n[parts.member]\n[parts.points]\n"),
    )
    .unwrap();
    let wrap: server::ReplaysWrapper =
        Box::new(|inner| Arc::new(LateArchive { inner, lag: LAG }) as Arc<dyn ArchiveReplays>);
    let app = spawn_app_wrapping(
        |a| {
            a.config = Some(config);
            a.replay_margin = Some(0.2);
            a.sweep_interval = Some(sweep);
        },
        Some(wrap),
    )
    .await;
    (app, dir)
}

/// Holds `early` vouchers, waits past the archive's lag, holds `late`
/// ones (still unarchived when the part comes back) and brings the part up.
async fn outage(app: &TestApp, early: &[&str], late: &[&str]) {
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    for id in early {
        let (code, v) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
    }
    tokio::time::sleep(LAG + Duration::from_millis(500)).await;
    for id in late {
        let (code, v) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
    }
    app.sim_post("/sim/parts/voucher/up").await;
}

async fn status(app: &TestApp, id: &str) -> String {
    let (_, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
    v["status"].as_str().unwrap_or_default().to_owned()
}

async fn all_submitted(app: &TestApp, ids: &[&str]) {
    eventually(30, "every voucher submitted", || async {
        let mut waiting = Vec::new();
        for id in ids {
            let s = status(app, id).await;
            if s != "submitted" {
                waiting.push(format!("{id}: {s}"));
            }
        }
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.join(", "))
        }
    })
    .await;
}

/// Each of `ids` accepted exactly once by the simulated SaaS.
async fn accepted_once(app: &TestApp, ids: &[&str]) {
    let subs = app.submissions().await;
    for id in ids {
        let n: Vec<u64> = subs
            .iter()
            .filter(|s| s["loyalty_request_id"] == *id)
            .map(|s| s["accepted"].as_u64().unwrap())
            .collect();
        assert_eq!(n, [1], "{id} accepted exactly once: {subs:?}");
    }
}

async fn voucher_replays(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get_json("/api/v1/replays").await;
    list["replays"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r["part"] == "voucher")
        .collect()
}

#[tokio::test]
async fn without_waiting_for_the_archive_a_replay_misses_the_late_voucher() {
    // No archive lag configured, and no sweeper within the test.
    let (app, _dir) = spawn(0.0, 3600.0).await;
    outage(&app, &["early-a", "early-b"], &["late-a"]).await;
    all_submitted(&app, &["early-a", "early-b"]).await;
    eventually(20, "the recovery replay completes", || async {
        match voucher_replays(&app).await.first() {
            Some(r) if r["state"] == "COMPLETED" && r["progress"]["processed"] == 2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&app, "late-a").await,
        "retry",
        "archived after the replay started: not replayed"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_recovery_waits_until_its_window_is_archived() {
    let lag = LAG.as_secs_f64() + 0.5;
    let (app, _dir) = spawn(lag, 0.3).await;
    let ids = ["early-a", "early-b", "late-a", "late-b"];
    outage(&app, &ids[..2], &ids[2..]).await;
    all_submitted(&app, &ids).await;
    accepted_once(&app, &ids).await;
    let replays = voucher_replays(&app).await;
    assert_eq!(
        replays.len(),
        1,
        "the recovery replay got them all: {replays:?}"
    );
    let r = &replays[0];
    assert_eq!(
        (r["trigger"].clone(), r["progress"]["processed"].clone()),
        (json!("recovery"), json!(4))
    );
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str().unwrap()).unwrap();
    // The window ends 0.2 s (the margin) after the part came back.
    let waited = (at("created_at") - at("window_end")).num_milliseconds() + 200;
    assert!(
        waited >= (lag * 1000.0) as i64,
        "started {waited} ms after the part came back, not the archive lag: {r}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_replays_what_a_completed_replay_did_not_handle() {
    // No archive lag configured: the recovery replay misses the late
    // vouchers, whose retry events lie inside its completed window; the
    // replays' ledger shows them unhandled, so the sweeper replays them.
    let (app, _dir) = spawn(0.0, 0.3).await;
    let ids = ["early-a", "early-b", "late-a", "late-b"];
    outage(&app, &ids[..2], &ids[2..]).await;
    all_submitted(&app, &ids).await;
    accepted_once(&app, &ids).await;
    let replays = voucher_replays(&app).await;
    assert!(
        replays.iter().any(|r| r["trigger"] == "sweeper"),
        "{replays:?}"
    );
    app.stop().await;
}
