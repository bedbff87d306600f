//! Faults at the SaaS and in the data directory, over real HTTP on
//! loopback: a part that hangs or answers slowly never stalls the other
//! parts' polling, the console or the API; a data directory that cannot be
//! written stops the start with a clear error.

use crate::common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// `mediator_checks_total` of `part` (ok and failed) from `/metrics`.
async fn checks(app: &common::TestApp, part: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("mediator_checks_total{{part=\"{part}\"");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn part<'a>(parts: &'a Value, name: &str) -> &'a Value {
    parts["parts"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_slow_saas_never_stalls_the_poller_or_the_console() {
    let app = common::spawn_app().await;
    common::eventually(10, "every part checked", || async {
        let (_, j) = app.get_json("/api/v1/parts").await;
        let all = ["voucher", "member", "points"]
            .iter()
            .all(|p| part(&j, p)["last_check_at"].is_string());
        if all {
            Ok(())
        } else {
            Err(j.to_string())
        }
    })
    .await;
    // member hangs (never answers), points answers after 800 ms.
    let client = &app.client;
    for (path, body) in [
        ("/sim/parts/member/hang", json!({"hang": true})),
        ("/sim/parts/points/latency", json!({"ms": 800})),
    ] {
        let res = client
            .post(format!("{}{path}", app.sim))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}");
    }
    // A voucher for the hung part is held within its submit timeout (2 s).
    let t = Instant::now();
    let mut v = common::voucher("hang-1");
    v["part"] = json!("member");
    let (code, j) = app.post("/api/v1/vouchers", &v).await;
    assert_eq!((code, j["status"].clone()), (202, json!("retry")), "{j}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    // For 3 s: voucher keeps being checked (its last check moves on), the
    // hung part goes down on its check timeouts, and the overview page and
    // JSON answer fast every time.
    let voucher_before = checks(&app, "voucher").await;
    let points_before = checks(&app, "points").await;
    let (mut worst_page, mut worst_json) = (Duration::ZERO, Duration::ZERO);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let t = Instant::now();
        let page = app.get("/").await;
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("part-card"));
        worst_page = worst_page.max(t.elapsed());
        let t = Instant::now();
        let (code, j) = app.get_json("/api/v1/parts").await;
        assert_eq!(code, 200);
        worst_json = worst_json.max(t.elapsed());
        assert!(part(&j, "voucher")["last_check_at"].is_string());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, after) = app.get_json("/api/v1/parts").await;
    let voucher_checks = checks(&app, "voucher").await - voucher_before;
    let points_checks = checks(&app, "points").await - points_before;
    eprintln!(
        "worst overview page {worst_page:?}, worst JSON {worst_json:?}, \
         in about 3 s: {voucher_checks} voucher checks, {points_checks} points checks"
    );
    assert!(
        worst_page < Duration::from_millis(1500),
        "page {worst_page:?}"
    );
    assert!(
        worst_json < Duration::from_millis(1000),
        "json {worst_json:?}"
    );
    // Every 0.1 s: about 30 in 3 s; at least 10 even on a loaded machine.
    assert!(
        voucher_checks >= 10,
        "voucher kept being polled: {voucher_checks}"
    );
    assert_eq!(part(&after, "voucher")["status"], "up", "{after}");
    assert_ne!(part(&after, "member")["status"], "up", "{after}");
    // points answers after 800 ms, past its check timeout: its checks keep
    // coming (failed), on their own schedule.
    assert!(
        points_checks >= 3,
        "points kept being checked: {points_checks}"
    );
    app.stop().await;
}

#[test]
fn a_data_directory_that_cannot_be_written_stops_the_start_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where the directory should be: not writable as a
    // directory for any user (root included, unlike chmod).
    let blocked = tmp.path().join("data");
    std::fs::write(&blocked, "not a directory").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mediator"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--events-listen", "127.0.0.1:0"])
        .args(["--sim-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&blocked)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&blocked).unwrap(),
        "not a directory",
        "nothing written"
    );
}
