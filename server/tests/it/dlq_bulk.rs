//! The dead-letter queue in bulk over loopback HTTP: a bulk redrive's
//! filter, pace, progress, cancellation and exactly-once resubmission; the
//! CSV and NDJSON export; and the status event of a voucher given up on.

use crate::common::{eventually, spawn_app_with, voucher, TestApp};

use std::time::{Duration, Instant};

use serde_json::{json, Value};

async fn set_error_rate(app: &TestApp, part: &str, rate: f64) {
    let res = app
        .client
        .post(format!("{}/sim/parts/{part}/error-rate", app.sim))
        .json(&json!({ "rate": rate }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
}

fn voucher_of(part: &str, id: &str) -> Value {
    let mut v = voucher(id);
    v["part"] = json!(part);
    v
}

/// `n` vouchers of `part` that the SaaS refuses with a 5xx, dead-lettered
/// at their first failure (`--max-attempts 1`).
async fn dead_letter(app: &TestApp, part: &str, prefix: &str, n: usize) {
    set_error_rate(app, part, 1.0).await;
    let posts = (0..n).map(|i| async move {
        let (code, v) = app
            .post(
                "/api/v1/vouchers",
                &voucher_of(part, &format!("{prefix}-{i}")),
            )
            .await;
        assert_eq!(
            (code, v["status"].clone()),
            (202, json!("dead_lettered")),
            "{v}"
        );
    });
    futures_util::future::join_all(posts).await;
    set_error_rate(app, part, 0.0).await;
}

/// Waits until every part is up (a voucher of a part not up is held, not
/// dead-lettered).
async fn all_up(app: &TestApp) {
    eventually(20, "every part up", || async {
        let (_, body) = app.get_json("/api/v1/parts").await;
        let parts = body["parts"].as_array().cloned().unwrap_or_default();
        if !parts.is_empty() && parts.iter().all(|p| p["status"] == "up") {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await
}

async fn dlq_ids(app: &TestApp) -> Vec<String> {
    let (code, page) = app.get_json("/api/v1/dlq?limit=1000").await;
    assert_eq!(code, 200, "{page}");
    page["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["loyalty_request_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits for a bulk redrive to end; returns it and whether a poll saw it
/// part-way (0 < done < total).
async fn follow(app: &TestApp, id: &str) -> (Value, bool) {
    let partway = std::cell::Cell::new(false);
    let end = eventually(60, "the bulk redrive ends", || async {
        let (code, b) = app.get_json(&format!("/api/v1/dlq/redrives/{id}")).await;
        assert_eq!(code, 200, "{b}");
        let (done, total) = (b["done"].as_u64().unwrap(), b["total"].as_u64().unwrap());
        if done > 0 && done < total {
            partway.set(true);
        }
        match b["state"].as_str() {
            Some("completed" | "cancelled") => Ok(b),
            _ => Err(format!("{b}")),
        }
    })
    .await;
    (end, partway.get())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_redrive_checks_its_filter_keeps_its_rate_and_sends_each_voucher_once() {
    let app = spawn_app_with(|a| a.max_attempts = Some(1)).await;
    all_up(&app).await;
    dead_letter(&app, "voucher", "bulk", 40).await;
    dead_letter(&app, "member", "other", 3).await;
    assert_eq!(dlq_ids(&app).await.len(), 43);

    // A bad field is refused before anything starts, naming the field.
    for (body, field) in [
        (json!({"part": "nope"}), "part"),
        (json!({"rate": 0}), "rate"),
        (json!({"rate": 501}), "rate"),
        (json!({"rate": "fast"}), "rate"),
        (json!({"reason_contains": 5}), "reason_contains"),
        (json!({"received_since": "yesterday"}), "received_since"),
        (
            json!({"dead_lettered_since": "2026-01-02T00:00:00Z", "dead_lettered_until": "2026-01-01T00:00:00Z"}),
            "dead_lettered_until",
        ),
    ] {
        let (code, err) = app.post("/api/v1/dlq/redrives", &body).await;
        assert_eq!(
            (code, err["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
        assert!(
            err["error"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{field}: ")),
            "{err}"
        );
    }
    assert_eq!(dlq_ids(&app).await.len(), 43, "nothing redriven");

    // 40 vouchers at 20 a second: about two seconds, progress visible on
    // the way.
    let started = Instant::now();
    let (code, slow) = app
        .post(
            "/api/v1/dlq/redrives",
            &json!({"part": "voucher", "reason_contains": "GAVE UP", "rate": 20}),
        )
        .await;
    assert_eq!(code, 202, "{slow}");
    assert_eq!(
        (
            slow["total"].clone(),
            slow["state"].clone(),
            slow["rate"].clone()
        ),
        (json!(40), json!("running"), json!(20)),
        "{slow}"
    );
    assert_eq!(
        slow["filter"],
        json!({"part": "voucher", "reason_contains": "GAVE UP"})
    );
    let slow_id = slow["id"].as_str().unwrap().to_owned();
    let (slow_end, partway) = follow(&app, &slow_id).await;
    let took = started.elapsed();
    eprintln!(
        "40 vouchers at 20/s took {:.2} s: {slow_end}",
        took.as_secs_f64()
    );
    assert!(
        took >= Duration::from_millis(1500),
        "the rate is kept: 40 at 20/s took {took:?}"
    );
    assert!(partway, "progress was visible part-way");
    assert_eq!(
        (
            slow_end["state"].clone(),
            slow_end["done"].clone(),
            slow_end["redriven"].clone(),
            slow_end["submitted"].clone()
        ),
        (json!("completed"), json!(40), json!(40), json!(40)),
        "{slow_end}"
    );
    assert_eq!(dlq_ids(&app).await.len(), 3, "the member vouchers stay");

    // Two redrives of the whole queue at once, at full speed: each voucher
    // is redriven by one of them and submitted once.
    dead_letter(&app, "voucher", "again", 30).await;
    let whole = json!({"rate": 500});
    let (a, b) = tokio::join!(
        app.post("/api/v1/dlq/redrives", &whole),
        app.post("/api/v1/dlq/redrives", &whole)
    );
    assert_eq!((a.0, b.0), (202, 202), "{a:?} {b:?}");
    let (a_end, _) = follow(&app, a.1["id"].as_str().unwrap()).await;
    let (b_end, _) = follow(&app, b.1["id"].as_str().unwrap()).await;
    for e in [&a_end, &b_end] {
        assert_eq!(e["state"], "completed", "{e}");
        assert_eq!(e["done"], e["total"], "{e}");
        assert_eq!(e["failed"], 0, "{e}");
    }
    assert_eq!(
        a_end["redriven"].as_u64().unwrap() + b_end["redriven"].as_u64().unwrap(),
        33,
        "each voucher redriven by one of the two: {a_end} {b_end}"
    );
    assert!(dlq_ids(&app).await.is_empty());
    let subs = app.submissions().await;
    assert_eq!(subs.len(), 73, "{subs:?}");
    assert!(
        subs.iter()
            .all(|s| s["accepted"] == 1 && s["deduplicated"] == 0),
        "exactly once: {subs:?}"
    );

    // Listed newest first; one audit entry per bulk redrive, with the
    // filter, the rate and the count.
    let (_, list) = app.get_json("/api/v1/dlq/redrives").await;
    let ids: Vec<&str> = list["redrives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    assert_eq!(ids[2], slow_id.as_str(), "newest first");
    let (_, audit) = app.get_json("/api/v1/audit").await;
    let bulk: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "dlq.bulk_redrive" && e["outcome"] == "ok")
        .collect();
    assert_eq!(bulk.len(), 3, "{audit}");
    assert_eq!(bulk[0]["target"], slow_id.as_str());
    assert_eq!(
        bulk[0]["detail"],
        json!({"filter": {"part": "voucher", "reason_contains": "GAVE UP"}, "rate": 20, "count": 40})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_bulk_redrive_leaves_the_rest_dead_lettered() {
    let app = spawn_app_with(|a| a.max_attempts = Some(1)).await;
    all_up(&app).await;
    dead_letter(&app, "voucher", "slow", 20).await;
    let (code, b) = app.post("/api/v1/dlq/redrives", &json!({"rate": 4})).await;
    assert_eq!(code, 202, "{b}");
    let id = b["id"].as_str().unwrap().to_owned();
    eventually(20, "two vouchers redriven", || async {
        let (_, b) = app.get_json(&format!("/api/v1/dlq/redrives/{id}")).await;
        if b["done"].as_u64().unwrap() >= 2 {
            Ok(())
        } else {
            Err(format!("{b}"))
        }
    })
    .await;
    let (code, c) = app
        .post(&format!("/api/v1/dlq/redrives/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(code, 202, "{c}");
    assert!(
        matches!(c["state"].as_str(), Some("cancelling" | "cancelled")),
        "{c}"
    );
    let (end, _) = follow(&app, &id).await;
    assert_eq!(end["state"], "cancelled", "{end}");
    let redriven = end["redriven"].as_u64().unwrap();
    assert!((2..20).contains(&redriven), "{end}");
    assert_eq!(dlq_ids(&app).await.len() as u64, 20 - redriven);
    assert_eq!(app.submissions().await.len() as u64, redriven);

    let (code, err) = app
        .post(&format!("/api/v1/dlq/redrives/{id}/cancel"), &json!({}))
        .await;
    assert_eq!((code, err["field"].as_str()), (409, Some("id")), "{err}");
    let (code, _) = app
        .post("/api/v1/dlq/redrives/nope/cancel", &json!({}))
        .await;
    assert_eq!(code, 404);
    let (code, _) = app.get_json("/api/v1/dlq/redrives/nope").await;
    assert_eq!(code, 404);
    let (_, audit) = app.get_json("/api/v1/audit").await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "dlq.bulk_redrive.cancel"
                && e["target"] == id.as_str()
                && e["outcome"] == "ok"),
        "{audit}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_queue_exports_as_csv_and_ndjson() {
    let app = spawn_app_with(|a| a.max_attempts = Some(1)).await;
    all_up(&app).await;
    dead_letter(&app, "voucher", "exp", 3).await;
    dead_letter(&app, "member", "mem", 2).await;

    let res = app.get("/api/v1/dlq/export?format=csv").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"dlq-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.split_terminator("\r\n").collect();
    assert_eq!(
        lines[0],
        "loyalty_request_id,part,loyalty_reference,merchant_reference,loyalty_order_reference,attempts,received_at,dead_lettered_at,reason,status"
    );
    assert_eq!(lines.len(), 6, "{csv}");
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        first[1..6],
        [
            "voucher",
            &format!("ref-{}", first[0]),
            "m-1",
            "M101-S76-OP10-T65",
            "1"
        ],
        "{csv}"
    );
    assert_eq!(first[9], "dead_lettered");

    // Compressed for a client that asks (as browsers do), to its end.
    let res = app
        .client
        .get(app.url("/api/v1/dlq/export?format=csv"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert!(!res.bytes().await.expect("the whole body").is_empty());

    let res = app
        .get("/api/v1/dlq/export?format=ndjson&part=member&reason_contains=gave%20up")
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let body = res.text().await.unwrap();
    let rows: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = rows
        .iter()
        .map(|r| r["loyalty_request_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["mem-0", "mem-1"], "{body}");
    assert!(rows
        .iter()
        .all(|r| r["part"] == "member" && r["dead_lettered_at"].is_string()));
    let res = app
        .get("/api/v1/dlq/export?format=csv&reason_contains=no%20such%20reason")
        .await;
    assert_eq!(
        res.text().await.unwrap().lines().count(),
        1,
        "the header only"
    );

    for (q, field) in [
        ("", "format"),
        ("format=xml", "format"),
        ("format=csv&part=nope", "part"),
        ("format=csv&received_until=soon", "received_until"),
    ] {
        let (code, err) = app.get_json(&format!("/api/v1/dlq/export?{q}")).await;
        assert_eq!(
            (code, err["field"].as_str()),
            (422, Some(field)),
            "{q}: {err}"
        );
    }
    app.stop().await;
}

async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&conf)
}

/// A voucher given up on is published on the bus as a key-only
/// `dead_lettered` status event, which a consumer's rule receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_voucher_emits_its_status_event() {
    let app = spawn_app_with(|a| a.max_attempts = Some(1)).await;
    all_up(&app).await;
    let sqs = sqs_client(&format!("http://{}", app.events_addr)).await;
    let url = sqs
        .create_queue()
        .queue_name("gave-up")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let pattern = json!({"detail": {"metadata": {"status": ["dead_lettered"]}}});
    app.eventbridge(
        "PutRule",
        json!({"Name": "gave-up", "EventBusName": "loyalty-bus", "EventPattern": pattern.to_string()}),
    )
    .await;
    app.eventbridge(
        "PutTargets",
        json!({"Rule": "gave-up", "EventBusName": "loyalty-bus",
               "Targets": [{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:gave-up"}]}),
    )
    .await;
    dead_letter(&app, "voucher", "gone", 1).await;

    let event: Value = eventually(15, "the dead_lettered event arrives", || async {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        match out.messages().first().and_then(|m| m.body()) {
            Some(b) => Ok(serde_json::from_str::<Value>(b).unwrap()),
            None => Err("no message yet".to_string()),
        }
    })
    .await;
    assert_eq!(
        event["detail"],
        json!({
            "metadata": {"domain": "LEGO-LOYALTY", "service": "service-loyalty-vendor-mediator",
                         "category": "task-status", "type": "voucher", "status": "dead_lettered"},
            "data": {"loyalty_request_id": "gone-0", "loyalty_reference": "ref-gone-0",
                     "merchant_reference": "m-1", "loyalty_order_reference": "M101-S76-OP10-T65"}
        }),
        "{event}"
    );
    app.stop().await;
}
