//! The submission flow and archive-and-replay recovery end to end: the real
//! server (port 0 for every listener, private data directory), the real
//! simulated SaaS and the embedded EventBridge, over HTTP.

use crate::common;

use common::{eventually, spawn_app, spawn_app_with, voucher, TestApp};
use serde_json::{json, Value};

async fn voucher_status(app: &TestApp, id: &str) -> String {
    let (code, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
    assert_eq!(code, 200, "{v}");
    v["status"].as_str().unwrap().to_owned()
}

async fn wait_for_replay(app: &TestApp, name: &str, processed: i64) -> Value {
    eventually(20, &format!("replay {name} did not complete"), || async {
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
async fn invalid_vouchers_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            {
                let mut v = voucher("a");
                v.as_object_mut().unwrap().remove("loyalty_request_id");
                v
            },
            "loyalty_request_id",
        ),
        (
            {
                let mut v = voucher("a");
                v["part"] = json!("nope");
                v
            },
            "part",
        ),
        (
            {
                let mut v = voucher("a");
                v["merchant_reference"] = json!("");
                v
            },
            "merchant_reference",
        ),
        (
            {
                let mut v = voucher("a");
                v["payload"] = json!("x");
                v
            },
            "payload",
        ),
    ];
    for (body, field) in cases {
        let (code, err) = app.post("/api/v1/vouchers", &body).await;
        assert_eq!(code, 422, "{err}");
        assert_eq!(err["field"], field, "{err}");
        assert!(err["error"].as_str().unwrap().starts_with(field), "{err}");
    }
    let res = app
        .client
        .post(format!("http://{}/api/v1/vouchers", app.addr))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["field"], "body", "{err}");
    assert_eq!(app.get_json("/api/v1/vouchers/none").await.0, 404);
    assert_eq!(app.get_json("/api/v1/replays/none").await.0, 404);
    let (code, err) = app
        .post("/api/v1/replays", &json!({"part": "voucher"}))
        .await;
    assert_eq!(
        (code, err["field"].clone()),
        (422, json!("start")),
        "no replay yet: {err}"
    );
    assert!(app.submissions().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn vouchers_are_submitted_once_from_the_api_and_the_bus() {
    let app = spawn_app().await;
    app.wait_for_part("up").await;
    let (code, v) = app.post("/api/v1/vouchers", &voucher("v-1")).await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["status"], "submitted", "{v}");
    assert_eq!(v["duplicate"], false);
    // The answer is the stored voucher (it is not read back on this path).
    let (_, stored) = app.get_json("/api/v1/vouchers/v-1").await;
    for field in [
        "status",
        "attempts",
        "received_at",
        "updated_at",
        "last_error",
        "part",
    ] {
        assert_eq!(v[field], stored[field], "{field}: {v} vs {stored}");
    }
    // A duplicate is answered with the existing status and not submitted again.
    let (code, v) = app.post("/api/v1/vouchers", &voucher("v-1")).await;
    assert_eq!(
        (code, v["status"].clone(), v["duplicate"].clone()),
        (200, json!("submitted"), json!(true))
    );
    let (_, v) = app.get_json("/api/v1/vouchers/v-1").await;
    let life: Vec<_> = v["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(
        life,
        [json!("received"), json!("submitting"), json!("submitted")],
        "{v}"
    );

    // The Order Processing service's event on the bus goes through the same flow.
    let mut data = voucher("v-bus");
    data.as_object_mut().unwrap().remove("part");
    let detail = json!({"metadata": {"domain": "LEGO-LOYALTY", "service": "service-loyalty-order-processing",
                                     "category": "task-request", "type": "voucher"},
                        "data": data});
    let res = app
        .eventbridge(
            "PutEvents",
            json!({"Entries": [{"EventBusName": "loyalty-bus", "Source": "service-loyalty-order-processing",
                                "DetailType": "voucher-request", "Detail": detail.to_string()}]}),
        )
        .await;
    assert_eq!(res["FailedEntryCount"], 0);
    eventually(10, "bus voucher not submitted", || async {
        let (code, v) = app.get_json("/api/v1/vouchers/v-bus").await;
        if code == 200 && v["status"] == "submitted" {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;

    let subs = app.submissions().await;
    assert_eq!(
        subs,
        [
            json!({"part": "voucher", "loyalty_request_id": "v-1", "accepted": 1, "deduplicated": 0}),
            json!({"part": "voucher", "loyalty_request_id": "v-bus", "accepted": 1, "deduplicated": 0})
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_saas_client_error_is_final() {
    let app = spawn_app().await;
    app.wait_for_part("up").await;
    let mut body = voucher("bad-1");
    body["payload"]["sim_response_status"] = json!(422);
    let (code, v) = app.post("/api/v1/vouchers", &body).await;
    assert_eq!(code, 202);
    assert_eq!(v["status"], "error", "{v}");
    assert!(
        v["last_error"].as_str().unwrap().contains("HTTP 422"),
        "{v}"
    );
    // Posting it again does not retry it.
    let (_, v) = app.post("/api/v1/vouchers", &body).await;
    assert_eq!(
        (v["status"].clone(), v["attempts"].clone()),
        (json!("error"), json!(1))
    );
    assert!(app.submissions().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_outage_is_replayed_and_every_voucher_submitted_exactly_once() {
    let app = spawn_app().await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;

    const N: usize = 50;
    let ids: Vec<String> = (0..N).map(|i| format!("held-{i:02}")).collect();
    for chunk in ids.chunks(10) {
        let bodies: Vec<Value> = chunk.iter().map(|id| voucher(id)).collect();
        let posts = bodies.iter().map(|b| app.post("/api/v1/vouchers", b));
        for (code, v) in futures_join(posts).await {
            assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
        }
    }
    // Every retry event reached the part's archive.
    eventually(10, "retry events not archived", || async {
        let a = app
            .eventbridge(
                "DescribeArchive",
                json!({"ArchiveName": "LoyaltyVoucherArchive"}),
            )
            .await;
        if a["EventCount"] == N {
            Ok(())
        } else {
            Err(a.to_string())
        }
    })
    .await;
    assert!(app.submissions().await.is_empty());

    // The part comes back: a replay starts by itself and resubmits everything.
    app.sim_post("/sim/parts/voucher/up").await;
    let name = eventually(10, "no recovery replay", || async {
        let (_, list) = app.get_json("/api/v1/replays").await;
        match list["replays"].as_array().and_then(|r| r.first()) {
            Some(r) => Ok(r["name"].as_str().unwrap().to_owned()),
            None => Err(list.to_string()),
        }
    })
    .await;
    assert!(
        name.starts_with("LoyaltyVoucherReplay_")
            && name.len() == "LoyaltyVoucherReplay_".len() + 14,
        "{name}"
    );
    let r = wait_for_replay(&app, &name, N as i64).await;
    assert_eq!(
        (&r["trigger"], &r["by"]),
        (&json!("recovery"), &json!("recovery"))
    );
    assert_eq!(
        r["progress"],
        json!({"expected": N, "processed": N, "resubmitted": N, "skipped": 0, "failed": 0}),
        "{r}"
    );
    assert!(
        r["event_last_replayed_time"].is_string(),
        "the replay's cursor: {r}"
    );
    for id in &ids {
        assert_eq!(voucher_status(&app, id).await, "submitted", "{id}");
    }
    let subs = app.submissions().await;
    assert_eq!(subs.len(), N);
    assert!(
        subs.iter()
            .all(|s| s["accepted"] == 1 && s["deduplicated"] == 0),
        "exactly once: {subs:?}"
    );
    let (_, v) = app.get_json("/api/v1/vouchers/held-00").await;
    let life: Vec<_> = v["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(
        life,
        [
            json!("received"),
            json!("retry"),
            json!("submitting"),
            json!("submitted")
        ]
    );
    assert!(
        v["lifecycle"][2]["detail"]
            .as_str()
            .unwrap()
            .contains(&name),
        "{v}"
    );

    // Replaying the same window again resubmits nothing: every event is
    // skipped. `by` names who started it (a non-empty string).
    for bad in [json!(7), json!(" ")] {
        let (code, err) = app
            .post("/api/v1/replays", &json!({"part": "voucher", "by": bad}))
            .await;
        assert_eq!((code, err["field"].as_str()), (422, Some("by")), "{err}");
    }
    let (code, again) = app
        .post(
            "/api/v1/replays",
            &json!({"part": "voucher", "by": "alice"}),
        )
        .await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(
        (&again["trigger"], &again["by"]),
        (&json!("manual"), &json!("alice"))
    );
    let again_name = again["name"].as_str().unwrap().to_owned();
    assert_ne!(again_name, name);
    assert_eq!(
        (again["window_start"].clone(), again["window_end"].clone()),
        (r["window_start"].clone(), r["window_end"].clone())
    );
    let r2 = wait_for_replay(&app, &again_name, N as i64).await;
    assert_eq!(
        r2["progress"],
        json!({"expected": N, "processed": N, "resubmitted": 0, "skipped": N, "failed": 0}),
        "{r2}"
    );
    let subs = app.submissions().await;
    assert_eq!(subs.len(), N);
    assert!(
        subs.iter()
            .all(|s| s["accepted"] == 1 && s["deduplicated"] == 0),
        "still exactly once: {subs:?}"
    );
    let (_, list) = app.get_json("/api/v1/replays").await;
    assert_eq!(list["replays"].as_array().unwrap().len(), 2);
    assert_eq!(list["replays"][0]["by"], "alice", "{list}");

    // Without `by`, the JSON API records `api`.
    let (code, third) = app
        .post("/api/v1/replays", &json!({"part": "voucher"}))
        .await;
    assert_eq!((code, &third["by"]), (202, &json!("api")), "{third}");
    app.stop().await;
}

/// Holds `n` vouchers (`{prefix}-NN`) while the part is down and waits until
/// their retry events are archived.
async fn hold_vouchers(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:02}")).collect();
    for chunk in ids.chunks(10) {
        let bodies: Vec<Value> = chunk.iter().map(|id| voucher(id)).collect();
        for (code, v) in futures_join(bodies.iter().map(|b| app.post("/api/v1/vouchers", b))).await
        {
            assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
        }
    }
    eventually(10, "retry events not archived", || async {
        let a = app
            .eventbridge(
                "DescribeArchive",
                json!({"ArchiveName": "LoyaltyVoucherArchive"}),
            )
            .await;
        if a["EventCount"].as_u64() >= Some(n as u64) {
            Ok(())
        } else {
            Err(a.to_string())
        }
    })
    .await;
    ids
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn replays_are_one_at_a_time_validated_cancellable_and_previewed() {
    // Slow replays down (one event per chunk, 20 events: 6 s) so one is
    // still running when the next request arrives, even on a loaded machine;
    // each test runs in its own process (nextest).
    std::env::set_var("MEDIATOR_EVENTS_REPLAY_CHUNK", "1");
    std::env::set_var("MEDIATOR_EVENTS_REPLAY_DELAY_MS", "300");
    let app = spawn_app_with(|a| {
        a.replay_margin = Some(1.0);
        a.sweep_interval = Some(0.2);
    })
    .await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    const N: usize = 20;
    let ids = hold_vouchers(&app, "slow", N).await;
    let now = chrono::Utc::now();
    let (start, end) = (rfc3339(now - chrono::Duration::hours(1)), rfc3339(now));
    let preview = |part: &'static str, s: String, e: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(format!("http://{}/api/v1/replays/preview", app.addr))
                .query(&[("part", part), ("start", &s), ("end", &e)])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (code, p) = preview("voucher", start.clone(), end.clone()).await;
    assert_eq!(
        (code, p),
        (
            200,
            json!({"archived": N, "pending": N, "archive_event_count": N})
        ),
        "everything archived and pending (the embedded bus counts the window)"
    );
    let (code, p) = preview("member", start.clone(), end.clone()).await;
    assert_eq!(
        (code, p),
        (
            200,
            json!({"archived": 0, "pending": 0, "archive_event_count": 0})
        )
    );

    // Bad windows are refused naming the field, for preview and start alike.
    let future = rfc3339(now + chrono::Duration::hours(1));
    let long_ago = rfc3339(now - chrono::Duration::days(11));
    let bad = [
        (end.clone(), start.clone(), "start"),
        (start.clone(), start.clone(), "start"),
        ("yesterday".to_owned(), end.clone(), "start"),
        (start.clone(), "soon".to_owned(), "end"),
        (long_ago, end.clone(), "start"),
        (start.clone(), future, "end"),
    ];
    for (s, e, field) in &bad {
        let (code, err) = preview("voucher", s.clone(), e.clone()).await;
        assert_eq!(
            (code, err["field"].as_str()),
            (422, Some(*field)),
            "{s}..{e}: {err}"
        );
        let (code, err) = app
            .post(
                "/api/v1/replays",
                &json!({"part": "voucher", "start": s, "end": e}),
            )
            .await;
        assert_eq!(
            (code, err["field"].as_str()),
            (422, Some(*field)),
            "{s}..{e}: {err}"
        );
    }
    let (code, err) = preview("nope", start.clone(), end.clone()).await;
    assert_eq!((code, err["field"].as_str()), (422, Some("part")), "{err}");

    // The part comes back: the recovery replay runs (slowly); a second
    // replay of the part is refused while it is active.
    app.sim_post("/sim/parts/voucher/up").await;
    let name = eventually(10, "no running recovery replay", || async {
        let (_, list) = app.get_json("/api/v1/replays").await;
        match list["replays"].as_array().and_then(|r| r.first()) {
            Some(r) if r["state"] == "RUNNING" || r["state"] == "STARTING" => {
                Ok(r["name"].as_str().unwrap().to_owned())
            }
            _ => Err(list.to_string()),
        }
    })
    .await;
    let (code, err) = app
        .post("/api/v1/replays", &json!({"part": "voucher"}))
        .await;
    assert_eq!((code, err["field"].as_str()), (409, Some("part")), "{err}");
    assert!(err["error"].as_str().unwrap().contains(&name), "{err}");
    let (code, err) = app
        .post(
            "/api/v1/replays",
            &json!({"part": "voucher", "start": start, "end": end}),
        )
        .await;
    assert_eq!(code, 409, "{err}");

    // Cancel it; cancelling again is a conflict, an unknown replay 404.
    let (code, r) = app
        .post(&format!("/api/v1/replays/{name}/cancel"), &json!({}))
        .await;
    assert_eq!(code, 202, "{r}");
    eventually(10, "replay not cancelled", || async {
        let (_, r) = app.get_json(&format!("/api/v1/replays/{name}")).await;
        if r["state"] == "CANCELLED" {
            Ok(())
        } else {
            Err(r.to_string())
        }
    })
    .await;
    let (code, err) = app
        .post(&format!("/api/v1/replays/{name}/cancel"), &json!({}))
        .await;
    assert_eq!(code, 409, "{err}");
    let (code, _) = app
        .post(
            "/api/v1/replays/LoyaltyVoucherReplay_20000101000000/cancel",
            &json!({}),
        )
        .await;
    assert_eq!(code, 404);

    // What the cancelled replay left behind, the sweeper picks up: every
    // voucher ends up submitted exactly once.
    eventually(20, "vouchers not all submitted", || async {
        for id in &ids {
            let s = voucher_status(&app, id).await;
            if s != "submitted" {
                return Err(format!("{id}: {s}"));
            }
        }
        Ok(())
    })
    .await;
    let subs = app.submissions().await;
    assert_eq!(subs.len(), N, "{subs:?}");
    assert!(
        subs.iter()
            .all(|s| s["accepted"] == 1 && s["deduplicated"] == 0),
        "exactly once: {subs:?}"
    );
    let (_, list) = app.get_json("/api/v1/replays").await;
    assert!(
        list["replays"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "sweeper"),
        "{list}"
    );
    let (code, p) = preview("voucher", start, rfc3339(chrono::Utc::now())).await;
    assert_eq!(
        (code, p),
        (
            200,
            json!({"archived": N, "pending": 0, "archive_event_count": N})
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sweeper_resubmits_a_voucher_held_after_the_recovery_window() {
    let app = spawn_app_with(|a| {
        a.replay_margin = Some(0.2);
        a.sweep_interval = Some(0.2);
    })
    .await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let ids = hold_vouchers(&app, "outage", 3).await;
    app.sim_post("/sim/parts/voucher/up").await;
    let first = eventually(10, "no recovery replay", || async {
        let (_, list) = app.get_json("/api/v1/replays").await;
        match list["replays"].as_array().and_then(|r| r.first()) {
            Some(r) => Ok(r.clone()),
            None => Err(list.to_string()),
        }
    })
    .await;
    assert_eq!(first["trigger"], "recovery", "{first}");
    let name = first["name"].as_str().unwrap().to_owned();
    wait_for_replay(&app, &name, 3).await;
    for id in &ids {
        assert_eq!(voucher_status(&app, id).await, "submitted");
    }
    // A voucher held after the recovery window (a 5xx while the part is up,
    // never replayed by any recovery).
    let window_end: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(first["window_end"].clone()).unwrap();
    eventually(5, "clock past the recovery window", || async {
        if chrono::Utc::now() > window_end {
            Ok(())
        } else {
            Err(window_end.to_string())
        }
    })
    .await;
    let res = app
        .client
        .post(format!("{}/sim/parts/voucher/error-rate", app.sim))
        .json(&json!({"rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let (code, v) = app.post("/api/v1/vouchers", &voucher("late-1")).await;
    assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
    let res = app
        .client
        .post(format!("{}/sim/parts/voucher/error-rate", app.sim))
        .json(&json!({"rate": 0.0}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    eventually(10, "late voucher not resubmitted", || async {
        let s = voucher_status(&app, "late-1").await;
        if s == "submitted" {
            Ok(())
        } else {
            Err(s)
        }
    })
    .await;
    let (_, list) = app.get_json("/api/v1/replays").await;
    let sweeps: Vec<&Value> = list["replays"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "sweeper")
        .collect();
    assert!(!sweeps.is_empty(), "{list}");
    let subs = app.submissions().await;
    assert_eq!(subs.len(), 4, "{subs:?}");
    assert!(
        subs.iter()
            .all(|s| s["accepted"] == 1 && s["deduplicated"] == 0),
        "exactly once: {subs:?}"
    );
    app.stop().await;
}

async fn set_error_rate(app: &TestApp, rate: f64) {
    let res = app
        .client
        .post(format!("{}/sim/parts/voucher/error-rate", app.sim))
        .json(&json!({ "rate": rate }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
}

#[tokio::test]
async fn failing_vouchers_are_dead_lettered_listed_and_redriven_once() {
    let app = spawn_app_with(|a| a.max_attempts = Some(1)).await;
    app.wait_for_part("up").await;
    set_error_rate(&app, 1.0).await;
    for id in ["dlq-a", "dlq-b", "dlq-c"] {
        let (code, v) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(
            (code, v["status"].clone()),
            (202, json!("dead_lettered")),
            "{v}"
        );
    }
    set_error_rate(&app, 0.0).await;

    let (code, page) = app.get_json("/api/v1/dlq?limit=2").await;
    assert_eq!(code, 200, "{page}");
    let ids = |p: &Value| -> Vec<String> {
        p["vouchers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["loyalty_request_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = ids(&page);
    assert_eq!(first.len(), 2, "{page}");
    let v0 = &page["vouchers"][0];
    assert!(
        v0["reason"]
            .as_str()
            .unwrap()
            .contains("gave up after 1 failed attempts"),
        "{v0}"
    );
    assert!(v0["dead_lettered_at"].is_string(), "{v0}");
    let token = page["next_token"].as_str().expect("a next page").to_owned();
    let res = app
        .client
        .get(format!("http://{}/api/v1/dlq", app.addr))
        .query(&[("limit", "2"), ("next_token", token.as_str())])
        .send()
        .await
        .unwrap();
    let page2: Value = res.json().await.unwrap();
    let second = ids(&page2);
    assert_eq!(second.len(), 1, "{page2}");
    assert!(page2.get("next_token").is_none(), "{page2}");
    let mut all: Vec<String> = first.into_iter().chain(second).collect();
    all.sort();
    assert_eq!(all, ["dlq-a", "dlq-b", "dlq-c"]);
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("next_token=zz", "next_token"),
    ] {
        let (code, err) = app.get_json(&format!("/api/v1/dlq?{q}")).await;
        assert_eq!(
            (code, err["field"].as_str()),
            (422, Some(field)),
            "{q}: {err}"
        );
    }

    // Redrive one: back to retry, resubmitted now, accepted once.
    let (code, v) = app.post("/api/v1/dlq/dlq-b/redrive", &json!({})).await;
    assert_eq!(
        (code, v["status"].clone()),
        (200, json!("submitted")),
        "{v}"
    );
    let life: Vec<_> = v["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].clone())
        .collect();
    assert_eq!(
        life,
        [
            json!("received"),
            json!("submitting"),
            json!("retry"),
            json!("dead_lettered"),
            json!("retry"),
            json!("submitting"),
            json!("submitted")
        ],
        "{v}"
    );
    let (code, err) = app.post("/api/v1/dlq/dlq-b/redrive", &json!({})).await;
    assert_eq!(code, 409, "{err}");
    let (code, _) = app.post("/api/v1/dlq/nope/redrive", &json!({})).await;
    assert_eq!(code, 404);
    let (_, page) = app.get_json("/api/v1/dlq").await;
    assert_eq!(ids(&page), ["dlq-a", "dlq-c"], "{page}");
    assert_eq!(
        app.submissions().await,
        [
            json!({"part": "voucher", "loyalty_request_id": "dlq-b", "accepted": 1, "deduplicated": 0})
        ]
    );
    app.stop().await;
}

/// Awaits every future of `it` concurrently, in order.
async fn futures_join<F: std::future::Future>(it: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut handles = Vec::new();
    for f in it {
        handles.push(f);
    }
    let mut out = Vec::with_capacity(handles.len());
    // Pin each future and poll them together.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("ready")));
    out
}

#[tokio::test]
async fn a_part_table_sets_the_archive_thresholds_and_replay_margin_used() {
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        "[parts.voucher]\narchive_name = \"VoucherKeep\"\nretention_days = 2\n\
         replay_margin = 0.5\nfailure_threshold = 1\nrecovery_threshold = 1\n\
         check_timeout = 1\n[parts.member]\n",
    )
    .unwrap();
    let path = cfg.path().to_path_buf();
    let app = spawn_app_with(|a| a.config = Some(path)).await;
    app.wait_for_part("up").await;

    // Provisioned under the part's own name and retention; the overview says so.
    let a = app
        .eventbridge("DescribeArchive", json!({"ArchiveName": "VoucherKeep"}))
        .await;
    assert_eq!(a["RetentionDays"], 2, "{a}");
    let (_, parts) = app.get_json("/api/v1/parts").await;
    let names: Vec<&str> = parts["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["voucher", "member"], "the tables list the parts");
    let v = &parts["parts"][0];
    assert_eq!(
        (
            &v["archive"],
            &v["failure_threshold"],
            &v["recovery_threshold"]
        ),
        (&json!("VoucherKeep"), &json!(1), &json!(1)),
        "{v}"
    );
    assert_eq!(parts["parts"][1]["archive"], "LoyaltyMemberArchive");

    // An outage is replayed from that archive with the part's 0.5 s margin.
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let (code, held) = app.post("/api/v1/vouchers", &voucher("kept-1")).await;
    assert_eq!((code, held["status"].clone()), (202, json!("retry")));
    eventually(10, "retry event archived", || async {
        let a = app
            .eventbridge("DescribeArchive", json!({"ArchiveName": "VoucherKeep"}))
            .await;
        if a["EventCount"] == 1 {
            Ok(())
        } else {
            Err(a.to_string())
        }
    })
    .await;
    app.sim_post("/sim/parts/voucher/up").await;
    let r = eventually(10, "no recovery replay", || async {
        let (_, list) = app.get_json("/api/v1/replays").await;
        match list["replays"].as_array().and_then(|r| r.first()) {
            Some(r) => Ok(r.clone()),
            None => Err(list.to_string()),
        }
    })
    .await;
    let name = r["name"].as_str().unwrap();
    assert!(name.starts_with("VoucherKeepReplay_"), "{name}");
    assert_eq!(r["archive"], "VoucherKeep");
    let start = chrono::DateTime::parse_from_rfc3339(r["window_start"].as_str().unwrap()).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(r["window_end"].as_str().unwrap()).unwrap();
    let received =
        chrono::DateTime::parse_from_rfc3339(held["updated_at"].as_str().unwrap()).unwrap();
    assert!(start < received && received < end, "{r}");
    assert!(
        (end - start) < chrono::Duration::seconds(20),
        "a 0.5 s margin, not the 60 s default: {r}"
    );
    wait_for_replay(&app, name, 1).await;
    assert_eq!(voucher_status(&app, "kept-1").await, "submitted");
    let subs = app.submissions().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["accepted"], 1);
    assert_eq!(subs[0]["deduplicated"], 0, "the mediator resent it");
    app.stop().await;
}
