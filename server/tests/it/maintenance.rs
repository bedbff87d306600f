//! Maintenance windows over real HTTP: scheduling (validated, 409 on
//! overlap), the hold (vouchers held as `retry` while checks go on, shown
//! on the overview and the embeds), ending early, and the replay that
//! follows — the held vouchers submitted exactly once; also for a window
//! that ended while the server was down.

use crate::common;

use chrono::{Duration, Utc};
use common::{eventually, spawn_app_with, voucher, TestApp};
use serde_json::{json, Value};

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn delete(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let res = app
        .client
        .delete(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

async fn part(app: &TestApp, name: &str) -> Value {
    let (_, body) = app.get_json("/api/v1/parts").await;
    body["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap()
}

async fn voucher_of(app: &TestApp, id: &str) -> Value {
    let (code, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
    assert_eq!(code, 200, "{v}");
    v
}

/// Waits until the window `id` of `part` is replayed and its replay
/// completed; returns the replay.
async fn replayed(app: &TestApp, part: &str, id: &str, processed: usize) -> Value {
    let name = eventually(20, "the window was not replayed", || async {
        let (_, list) = app
            .get_json(&format!("/api/v1/parts/{part}/maintenance"))
            .await;
        let w = list["windows"]
            .as_array()
            .and_then(|ws| ws.iter().find(|w| w["id"] == id).cloned())
            .unwrap_or_default();
        match w["replay"].as_str() {
            Some(r) if w["state"] == "replayed" => Ok(r.to_owned()),
            _ => Err(w.to_string()),
        }
    })
    .await;
    eventually(20, "the window's replay did not complete", || async {
        let (_, r) = app.get_json(&format!("/api/v1/replays/{name}")).await;
        if r["state"] == "COMPLETED" && r["progress"]["processed"] == processed {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    })
    .await
}

#[tokio::test]
async fn a_window_holds_the_circuit_then_is_replayed_once() {
    let app = spawn_app_with(|a| {
        a.replay_margin = Some(0.2);
        // Only the window's replay may resubmit the held vouchers.
        a.sweep_interval = Some(600.0);
    })
    .await;
    app.wait_for_part("up").await;
    let path = "/api/v1/parts/voucher/maintenance";
    let now = Utc::now();
    let end = rfc3339(now + Duration::minutes(30));

    // Bad requests name the field.
    let bad = [
        (json!({"end": end}), 422, "reason"),
        (json!({"reason": "upgrade"}), 422, "end"),
        (json!({"end": "soon", "reason": "upgrade"}), 422, "end"),
        (
            json!({"start": rfc3339(now + Duration::hours(1)), "end": end, "reason": "upgrade"}),
            422,
            "end",
        ),
        (
            json!({"start": rfc3339(now - Duration::hours(1)), "end": end, "reason": "upgrade"}),
            422,
            "start",
        ),
        (
            json!({"end": rfc3339(now + Duration::days(8)), "reason": "upgrade"}),
            422,
            "end",
        ),
        (
            json!({"end": end, "reason": "x".repeat(501)}),
            422,
            "reason",
        ),
    ];
    for (body, code, field) in bad {
        let (c, err) = app.post(path, &body).await;
        assert_eq!(
            (c, err["field"].as_str()),
            (code, Some(field)),
            "{body}: {err}"
        );
    }
    let (c, err) = app
        .post(
            "/api/v1/parts/nope/maintenance",
            &json!({"end": end, "reason": "r"}),
        )
        .await;
    assert_eq!((c, err["field"].as_str()), (404, Some("part")), "{err}");

    // Scheduled from now: active at once, the circuit open.
    let (c, w) = app
        .post(
            path,
            &json!({"end": end, "reason": "vendor upgrade", "by": "olga"}),
        )
        .await;
    assert_eq!(c, 201, "{w}");
    assert_eq!(
        (&w["state"], &w["by"], &w["reason"]),
        (&json!("active"), &json!("olga"), &json!("vendor upgrade"))
    );
    let id = w["id"].as_str().unwrap().to_owned();
    let (c, err) = app
        .post(
            path,
            &json!({"start": rfc3339(now + Duration::minutes(10)), "end": rfc3339(now + Duration::hours(1)), "reason": "again"}),
        )
        .await;
    assert_eq!((c, err["field"].as_str()), (409, Some("start")), "{err}");
    assert!(err["error"].as_str().unwrap().contains(&id), "{err}");

    let p = part(&app, "voucher").await;
    assert_eq!(
        (&p["circuit"], &p["maintenance"]["id"]),
        (&json!("open"), &json!(id)),
        "{p}"
    );
    assert_eq!(part(&app, "member").await["maintenance"], Value::Null);

    // Vouchers are held as `retry`; another part's are submitted.
    let ids = ["mw-a", "mw-b", "mw-c"];
    for v in ids {
        let (c, body) = app.post("/api/v1/vouchers", &voucher(v)).await;
        assert_eq!((c, &body["status"]), (202, &json!("retry")), "{body}");
        assert_eq!(
            body["last_error"],
            "circuit open: part voucher is in maintenance"
        );
    }
    let mut member = voucher("mw-member");
    member["part"] = json!("member");
    let (_, body) = app.post("/api/v1/vouchers", &member).await;
    assert_eq!(body["status"], "submitted", "{body}");

    // Checks keep running and being recorded during the window.
    let before = p["last_check_at"].as_str().unwrap_or_default().to_owned();
    eventually(10, "no check recorded during the window", || async {
        let p = part(&app, "voucher").await;
        match p["last_check_at"].as_str() {
            Some(t) if t > before.as_str() && p["status"] == "up" => Ok(()),
            _ => Err(p.to_string()),
        }
    })
    .await;

    // The embeds say so.
    let page = app.get("/embed/parts/voucher").await.text().await.unwrap();
    assert!(
        page.contains("Maintenance") && page.contains("vendor upgrade"),
        "{page}"
    );
    let (_, badge) = app.get_json("/badge/voucher/status.json").await;
    assert_eq!(badge["message"], "maintenance", "{badge}");
    let (_, badge) = app.get_json("/badge/member/status.json").await;
    assert_eq!(badge["message"], "up", "{badge}");
    assert!(app
        .submissions()
        .await
        .iter()
        .all(|s| s["part"] != "voucher"));

    // Ended early (a reason is required): the circuit follows the checks
    // again and the window is replayed once.
    let item = format!("{path}/{id}");
    let (c, err) = delete(&app, &item, &json!({})).await;
    assert_eq!((c, err["field"].as_str()), (422, Some("reason")), "{err}");
    let (c, w) = delete(&app, &item, &json!({"reason": "done early"})).await;
    assert_eq!(c, 200, "{w}");
    assert_eq!(w["end_reason"], "done early");
    assert!(
        matches!(w["state"].as_str(), Some("ended" | "replayed")),
        "{w}"
    );
    let (c, err) = delete(&app, &item, &json!({"reason": "again"})).await;
    assert_eq!((c, err["field"].as_str()), (409, Some("id")), "{err}");
    let (c, _) = delete(
        &app,
        &format!("{path}/mw-0-voucher"),
        &json!({"reason": "r"}),
    )
    .await;
    assert_eq!(c, 404);
    assert_eq!(part(&app, "voucher").await["circuit"], "closed");

    let r = replayed(&app, "voucher", &id, ids.len()).await;
    assert_eq!(r["trigger"], "maintenance", "{r}");
    for v in ids {
        assert_eq!(voucher_of(&app, v).await["status"], "submitted");
    }
    let subs = app.submissions().await;
    for v in ids {
        let s: Vec<&Value> = subs
            .iter()
            .filter(|s| s["loyalty_request_id"] == v)
            .collect();
        assert_eq!(s.len(), 1, "{subs:?}");
        assert_eq!(
            (&s[0]["accepted"], &s[0]["deduplicated"]),
            (&json!(1), &json!(0))
        );
    }
    // One replay for the window.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (_, list) = app.get_json("/api/v1/replays").await;
    let maint: Vec<&Value> = list["replays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "maintenance")
        .collect();
    assert_eq!(maint.len(), 1, "{list}");
    app.stop().await;
}

#[tokio::test]
async fn a_window_that_ended_while_the_server_was_down_is_replayed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tweak = |data: std::path::PathBuf| {
        move |a: &mut server::config::ServeArgs| {
            a.data_dir = Some(data);
            a.replay_margin = Some(0.2);
            a.sweep_interval = Some(600.0);
        }
    };
    let app = spawn_app_with(tweak(data.clone())).await;
    app.wait_for_part("up").await;
    let end = Utc::now() + Duration::seconds(4);
    let (c, w) = app
        .post(
            "/api/v1/parts/voucher/maintenance",
            &json!({"end": rfc3339(end), "reason": "short"}),
        )
        .await;
    assert_eq!(c, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    for v in ["late-a", "late-b"] {
        let (_, body) = app.post("/api/v1/vouchers", &voucher(v)).await;
        assert_eq!(body["status"], "retry", "{body}");
    }
    app.stop().await;
    let wait = (end - Utc::now()).num_milliseconds().max(0) as u64 + 500;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;

    let app = spawn_app_with(tweak(data)).await;
    replayed(&app, "voucher", &id, 2).await;
    for v in ["late-a", "late-b"] {
        assert_eq!(voucher_of(&app, v).await["status"], "submitted");
    }
    let subs = app.submissions().await;
    assert_eq!(
        subs.iter()
            .filter(|s| s["part"] == "voucher" && s["accepted"] == 1)
            .count(),
        2,
        "{subs:?}"
    );
    app.stop().await;
}
