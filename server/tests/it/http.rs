//! Starts the real server on a free loopback port with a private data
//! directory and talks to it over HTTP.

use crate::common;

use std::time::Duration;

use common::{spawn_app, spawn_app_with, TestApp};
use server::{Application, Settings};

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert!(app.data_dir.join("mediator.db").exists());
    app.stop().await;
}

/// Every answer carries a request id: the caller's (a proxy's) when given,
/// a new one otherwise, so a user's report can be matched to the log.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/v1/parts", "/", "/no-such-page"] {
        let res = app.get(path).await;
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "{path}: {id}");
        let res = app
            .client
            .get(app.url(path))
            .header("x-request-id", "proxy-42")
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], "proxy-42", "{path}");
    }
    app.stop().await;
}

/// The access line of a request names the caller that sign-in resolved.
/// The log is captured by a process-wide subscriber, which only a test
/// alone in its process may install (nextest runs each test so; under a
/// shared `cargo test` process the check is skipped, saying so).
#[tokio::test]
async fn the_access_line_names_the_caller() {
    let logs = mediator_core::testing::CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.writer())
        .with_max_level(tracing::Level::INFO)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("skipped: another subscriber is installed in this process");
        return;
    }
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/replays"))
        .header("x-request-id", "who-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
    let served = logs
        .json_lines()
        .into_iter()
        .find(|l| l["span"]["request_id"] == "who-1" && l["fields"]["message"] == "served")
        .unwrap_or_else(|| panic!("no served line for who-1 in {}", logs.text()));
    assert_eq!(served["span"]["route"], "/api/v1/replays");
    assert_eq!(served["span"]["user"], "anonymous", "{served}");
    assert_eq!(served["fields"]["status"], 200);
}

#[tokio::test]
async fn overview_is_server_rendered_with_every_part() {
    let app = spawn_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    for part in ["voucher", "member", "points"] {
        assert!(
            html.contains(&format!("data-part=\"{part}\"")),
            "missing card for {part}"
        );
    }
    assert!(
        html.matches("data-status=\"").count() >= 3,
        "every card carries its status"
    );
    assert!(html.contains("LoyaltyVoucherArchive"));
    for link in ["/timeline", "/replays", "/archives", "/vouchers"] {
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "nav link {link}"
        );
    }
    // The hydration bundle is referenced.
    assert!(html.contains("/pkg/mediator.js"), "hydration script tag");
    app.stop().await;
}

#[tokio::test]
async fn every_page_renders() {
    let app = spawn_app().await;
    for (path, heading) in [
        ("/timeline", "Timeline"),
        ("/replays", "Replays"),
        ("/archives", "Archives"),
        ("/vouchers", "Vouchers"),
        ("/notifications", "Notifications"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{path} heading"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_path_is_a_404_page() {
    let app = spawn_app().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(
        html.contains("href=\"/\""),
        "the 404 page keeps the navigation"
    );
    app.stop().await;
}

#[tokio::test]
async fn static_assets_have_cache_headers() {
    let app = spawn_app().await;
    let res = app.get("/favicon.svg").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=86400");
    let res = app.get("/pkg/mediator.css").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(app.get("/pkg/missing.js").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn configured_parts_are_listed_in_order() {
    let app = spawn_app_with(|a| a.parts = Some(vec!["points".into(), "gift-card".into()])).await;
    let body: serde_json::Value = app.get("/api/v1/parts").await.json().await.unwrap();
    let names: Vec<_> = body["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["points", "gift-card"]);
    let status = body["parts"][1]["status"].as_str().unwrap();
    assert!(["unknown", "up"].contains(&status), "{status}");
    assert_eq!(body["parts"][1]["archive"], "LoyaltyGiftCardArchive");
    app.stop().await;
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    app.stop().await;
}

#[tokio::test]
async fn unwritable_data_dir_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let settings = Settings::resolve(server::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(file.join("data")),
        ..Default::default()
    })
    .unwrap();
    let err = Application::build(settings).await.err().expect("must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("not-a-dir/data"), "{msg}");
}

async fn part_status(app: &TestApp, part: &str) -> serde_json::Value {
    let body: serde_json::Value = app.get("/api/v1/parts").await.json().await.unwrap();
    body["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == part)
        .cloned()
        .unwrap()
}

async fn wait_for_status(app: &TestApp, part: &str, want: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let p = part_status(app, part).await;
        if p["status"] == want {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{part} never became {want}: {p}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn monitor_follows_the_simulated_saas() {
    let app = spawn_app().await;
    let sim = format!("http://{}", app.sim_addr);
    // Keep every SAAS_STATUS event the mediator publishes, to count them.
    app.eventbridge(
        "CreateArchive",
        serde_json::json!({
            "ArchiveName": "status-history",
            "EventSourceArn": "arn:aws:events:us-east-1:000000000000:event-bus/loyalty-bus",
            "EventPattern": r#"{"detail":{"metadata":{"type":["SAAS_STATUS"]},"data":{"part":["voucher"]}}}"#
        }),
    )
    .await;
    for part in ["voucher", "member", "points"] {
        wait_for_status(&app, part, "up").await;
    }
    app.client
        .post(format!("{sim}/sim/parts/voucher/down"))
        .send()
        .await
        .unwrap();
    let down = wait_for_status(&app, "voucher", "down").await;
    assert!(down["failures"].as_u64().unwrap() >= 3, "{down}");
    assert_eq!(down["last_error"], "HTTP 503");
    assert!(down["since"].is_string());
    // The other parts are unaffected.
    assert_eq!(part_status(&app, "points").await["status"], "up");

    app.client
        .post(format!("{sim}/sim/parts/voucher/up"))
        .send()
        .await
        .unwrap();
    let up = wait_for_status(&app, "voucher", "up").await;
    assert_eq!(up["failures"], 0);
    assert!(up["last_error"].is_null());

    let changes: i64 = store::Database::open(&app.data_dir)
        .unwrap()
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM mon_status_changes WHERE part = 'voucher'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(changes, 3, "unknown→up, up→down, down→up");

    // The provisioned archives exist with the seed's pattern…
    let archives = app.eventbridge("ListArchives", serde_json::json!({})).await;
    let names: Vec<&str> = archives["Archives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ArchiveName"].as_str().unwrap())
        .collect();
    for a in [
        "LoyaltyVoucherArchive",
        "LoyaltyMemberArchive",
        "LoyaltyPointsArchive",
    ] {
        assert!(names.contains(&a), "{a} in {names:?}");
    }
    let voucher = app
        .eventbridge(
            "DescribeArchive",
            serde_json::json!({"ArchiveName": "LoyaltyVoucherArchive"}),
        )
        .await;
    assert!(voucher["EventPattern"].as_str().unwrap().contains("retry"));
    // …and the changes reached the bus as SAAS_STATUS events (the first
    // unknown→up may precede the test's archive; down and up may not).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let a = app
            .eventbridge(
                "DescribeArchive",
                serde_json::json!({"ArchiveName": "status-history"}),
            )
            .await;
        let n = a["EventCount"].as_i64().unwrap();
        if n >= 2 {
            assert!(n <= 3, "each change published once: {n}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SAAS_STATUS events: {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

async fn post_json(app: &TestApp, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let res = app
        .client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = res.status().as_u16();
    (code, res.json().await.unwrap())
}

fn voucher_body(id: &str) -> serde_json::Value {
    serde_json::json!({"part": "voucher", "loyalty_request_id": id,
        "loyalty_reference": "r", "merchant_reference": "m",
        "loyalty_order_reference": "o", "payload": {"points": 1}})
}

/// The overview is cached between changes (SSR latency under
/// load) but never served stale after one: with readers hammering the page
/// and the JSON overview, the first read after each change shows it.
#[tokio::test]
async fn the_cached_overview_shows_each_change_on_the_next_read() {
    let app = spawn_app().await;
    wait_for_status(&app, "voucher", "up").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for path in ["/", "/api/v1/parts", "/", "/api/v1/parts"] {
        let (client, url, stop) = (app.client.clone(), app.url(path), stop.clone());
        readers.spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200, "{url}");
                res.bytes().await.unwrap();
                n += 1;
            }
            n
        });
    }
    let submitted = part_status(&app, "voucher").await["vouchers"]["submitted"]
        .as_u64()
        .unwrap();
    for i in 1..=5 {
        let (code, v) = post_json(&app, "/api/v1/vouchers", voucher_body(&format!("c-{i}"))).await;
        assert_eq!(
            (code, v["status"].as_str()),
            (202, Some("submitted")),
            "{v}"
        );
        let p = part_status(&app, "voucher").await;
        assert_eq!(
            p["vouchers"]["submitted"],
            submitted + i,
            "voucher {i}: {p}"
        );
    }
    // A manual override, on the server-rendered page at once.
    let path = "/api/v1/parts/voucher/override";
    let reason = "forced open: cache check";
    for round in 0..3 {
        let (code, o) = post_json(
            &app,
            path,
            serde_json::json!({"mode": "force_open", "reason": "cache check", "by": "ann"}),
        )
        .await;
        assert_eq!(code, 200, "{o}");
        let page = app.get("/").await.text().await.unwrap();
        assert!(
            page.contains(reason),
            "round {round}: the override is on the page"
        );
        let (code, o) = post_json(&app, path, serde_json::json!({"mode": "none"})).await;
        assert_eq!(code, 200, "{o}");
        let page = app.get("/").await.text().await.unwrap();
        assert!(
            !page.contains(reason),
            "round {round}: the cleared override is gone"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    while let Some(n) = readers.join_next().await {
        reads += n.unwrap();
    }
    assert!(reads > 0, "the readers read the overview meanwhile");
    app.stop().await;
}

#[tokio::test]
async fn vouchers_are_found_by_any_reference_newest_first() {
    let app = spawn_app().await;
    let with = |id: &str, lr: &str, mr: &str, or: &str| {
        serde_json::json!({"part": "voucher", "loyalty_request_id": id,
            "loyalty_reference": lr, "merchant_reference": mr,
            "loyalty_order_reference": or, "payload": {"points": 1}})
    };
    for body in [
        with("s-1", "LR-7", "M-1", "O-1"),
        with("s-2", "LR-7", "M-2", "O-2"),
        with("s-3", "LR-3", "M-3", "LR-7"),
    ] {
        let (code, v) = post_json(&app, "/api/v1/vouchers", body).await;
        assert!(code == 202 || code == 200, "{v}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["vouchers"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|x| x["loyalty_request_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (code, v) = app.get_json("/api/v1/vouchers?ref=LR-7").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(ids(&v), ["s-3", "s-2", "s-1"], "newest first: {v}");
    assert_eq!(v["vouchers"][0]["loyalty_order_reference"], "LR-7");
    assert!(v.get("next_token").is_none(), "{v}");
    for (q, want) in [
        ("loyalty_reference=LR-7", vec!["s-2", "s-1"]),
        ("merchant_reference=M-2", vec!["s-2"]),
        ("loyalty_order_reference=LR-7", vec!["s-3"]),
        ("loyalty_request_id=s-1", vec!["s-1"]),
        ("ref=nothing", vec![]),
    ] {
        let (code, v) = app.get_json(&format!("/api/v1/vouchers?{q}")).await;
        assert_eq!(
            (code, ids(&v)),
            (200, want.iter().map(|s| s.to_string()).collect()),
            "{q}: {v}"
        );
    }
    // Pages: a full page carries the token of the next one.
    let (_, p1) = app.get_json("/api/v1/vouchers?ref=LR-7&limit=2").await;
    assert_eq!(ids(&p1), ["s-3", "s-2"]);
    let token = p1["next_token"].as_str().unwrap();
    let (_, p2) = app
        .get_json(&format!(
            "/api/v1/vouchers?ref=LR-7&limit=2&next_token={token}"
        ))
        .await;
    assert_eq!(ids(&p2), ["s-1"], "{p2}");
    // Errors name the field.
    for (q, field) in [
        ("ref=", "ref"),
        ("ref=a&merchant_reference=b", "merchant_reference"),
        ("ref=a&limit=101", "limit"),
        ("ref=a&limit=0", "limit"),
        ("ref=a&next_token=bad", "next_token"),
    ] {
        let (code, e) = app.get_json(&format!("/api/v1/vouchers?{q}")).await;
        assert_eq!((code, e["field"].as_str()), (422, Some(field)), "{q}: {e}");
    }
    app.stop().await;
}

/// Without a reference, `GET /api/v1/vouchers` lists by part, status,
/// receive time and attempts, newest first, in keyset pages that a voucher
/// stored meanwhile does not shift; bad filter values name their parameter.
#[tokio::test]
async fn vouchers_are_listed_by_part_status_time_and_attempts() {
    let app = spawn_app().await;
    wait_for_status(&app, "voucher", "up").await;
    let (code, o) = post_json(
        &app,
        "/api/v1/parts/member/override",
        serde_json::json!({"mode": "force_open", "reason": "vendor maintenance", "by": "ann"}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    let post = |part: &'static str, id: &'static str| {
        let app = &app;
        async move {
            let body = serde_json::json!({"part": part, "loyalty_request_id": id,
                "loyalty_reference": "l", "merchant_reference": "m",
                "loyalty_order_reference": "o", "payload": {"points": 1}});
            let (code, v) = post_json(app, "/api/v1/vouchers", body).await;
            assert_eq!(code, 202, "{v}");
            tokio::time::sleep(Duration::from_millis(5)).await;
            v
        }
    };
    let mut received = Vec::new();
    for (part, id) in [
        ("voucher", "f-1"),
        ("member", "f-2"),
        ("voucher", "f-3"),
        ("member", "f-4"),
        ("voucher", "f-5"),
    ] {
        received.push(
            post(part, id).await["received_at"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["vouchers"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|x| x["loyalty_request_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |q: String| {
        let app = &app;
        async move {
            let (code, v) = app.get_json(&format!("/api/v1/vouchers?{q}")).await;
            assert_eq!(code, 200, "{q}: {v}");
            v
        }
    };
    // The member vouchers are held (0 calls), the others submitted (1).
    let enc = |t: &str| t.replace('+', "%2B");
    for (q, want) in [
        ("".to_string(), vec!["f-5", "f-4", "f-3", "f-2", "f-1"]),
        ("part=member".into(), vec!["f-4", "f-2"]),
        (
            "part=voucher&status=submitted".into(),
            vec!["f-5", "f-3", "f-1"],
        ),
        ("status=retry,dead_lettered".into(), vec!["f-4", "f-2"]),
        ("part=member&status=submitted".into(), vec![]),
        ("min_attempts=1".into(), vec!["f-5", "f-3", "f-1"]),
        (
            "part=&status=&min_attempts=".into(),
            vec!["f-5", "f-4", "f-3", "f-2", "f-1"],
        ),
        (
            format!("from={}", enc(&received[2])),
            vec!["f-5", "f-4", "f-3"],
        ),
        (format!("to={}", enc(&received[2])), vec!["f-2", "f-1"]),
        (
            format!(
                "part=voucher&status=submitted&min_attempts=1&from={}&to={}",
                enc(&received[0]),
                enc(&received[4])
            ),
            vec!["f-3", "f-1"],
        ),
    ] {
        assert_eq!(ids(&list(q.clone()).await), want, "{q}");
    }
    let one = list("part=member".into()).await;
    assert_eq!(one["vouchers"][0]["status"], "retry", "{one}");
    assert_eq!(one["vouchers"][0]["attempts"], 0, "{one}");
    assert!(one.get("next_token").is_none(), "the last page: {one}");

    // Pages: a voucher stored between them does not shift the next page.
    let p1 = list("part=voucher&limit=2".into()).await;
    assert_eq!(ids(&p1), ["f-5", "f-3"]);
    let token = p1["next_token"].as_str().expect("more follow").to_owned();
    post("voucher", "f-6").await;
    let p2 = list(format!("part=voucher&limit=2&next_token={token}")).await;
    assert_eq!(ids(&p2), ["f-1"], "{p2}");
    assert!(p2.get("next_token").is_none(), "{p2}");
    assert_eq!(
        ids(&list("part=voucher&limit=2".into()).await),
        ["f-6", "f-5"]
    );

    // Bad filter values: 422 naming the parameter and the reason.
    for (q, field, reason) in [
        (
            "part=nope",
            "part",
            "\"nope\" is not a configured part (voucher, member, points)",
        ),
        (
            "status=retry,done",
            "status",
            "\"done\" is not a voucher status",
        ),
        ("from=yesterday", "from", "must be an RFC 3339 time"),
        ("to=2026-02-30T00:00:00Z", "to", "must be an RFC 3339 time"),
        (
            "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            "to",
            "must be after from",
        ),
        (
            "min_attempts=-1",
            "min_attempts",
            "must be a whole number, 0 or more",
        ),
        (
            "min_attempts=many",
            "min_attempts",
            "must be a whole number, 0 or more",
        ),
        (
            "ref=f-1&part=voucher",
            "part",
            "filters list vouchers without a reference",
        ),
        (
            "part=voucher&limit=0",
            "limit",
            "must be an integer between 1 and 100",
        ),
        (
            "status=retry&next_token=junk",
            "next_token",
            "is not a token this API returned",
        ),
    ] {
        let (code, e) = app.get_json(&format!("/api/v1/vouchers?{q}")).await;
        assert_eq!((code, e["field"].as_str()), (422, Some(field)), "{q}: {e}");
        let error = e["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("{field}: {reason}")),
            "{q}: {error}"
        );
    }

    // The OpenAPI document describes the filter on the handler that serves it.
    let (code, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(code, 200);
    let params: Vec<&str> = doc["paths"]["/api/v1/vouchers"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "part",
        "status",
        "from",
        "to",
        "min_attempts",
        "limit",
        "next_token",
    ] {
        assert!(params.contains(&p), "{p} documented: {params:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn circuit_overrides_route_the_submission_flow() {
    let app = spawn_app().await;
    wait_for_status(&app, "voucher", "up").await;
    let p = part_status(&app, "voucher").await;
    assert!(p["override"].is_null(), "{p}");
    assert_eq!(p["circuit"], "closed");

    // Validation names the field.
    let path = "/api/v1/parts/voucher/override";
    let (code, e) = post_json(&app, path, serde_json::json!({"mode": "force_open"})).await;
    assert_eq!((code, e["field"].as_str()), (422, Some("reason")), "{e}");
    let (code, e) = post_json(
        &app,
        path,
        serde_json::json!({"mode": "ajar", "reason": "x"}),
    )
    .await;
    assert_eq!((code, e["field"].as_str()), (422, Some("mode")), "{e}");
    let (code, e) = post_json(
        &app,
        "/api/v1/parts/nope/override",
        serde_json::json!({"mode": "none"}),
    )
    .await;
    assert_eq!((code, e["field"].as_str()), (404, Some("part")), "{e}");

    // Forced open while the simulator is up: the voucher is held.
    let (code, o) = post_json(
        &app,
        path,
        serde_json::json!({"mode": "force_open", "reason": "vendor maintenance", "by": "ann"}),
    )
    .await;
    assert_eq!(code, 200, "{o}");
    assert_eq!(o["circuit"], "open");
    assert_eq!(o["override"]["mode"], "force_open");
    let p = part_status(&app, "voucher").await;
    assert_eq!(p["status"], "up", "checks still decide the status: {p}");
    assert_eq!(p["circuit"], "open");
    assert_eq!(p["override"]["reason"], "vendor maintenance");
    assert_eq!(p["override"]["by"], "ann");
    assert!(p["override"]["at"].is_string());
    assert_eq!(part_status(&app, "points").await["circuit"], "closed");
    let (code, v) = post_json(&app, "/api/v1/vouchers", voucher_body("held-1")).await;
    assert_eq!((code, v["status"].as_str()), (202, Some("retry")), "{v}");

    // Cleared: submission resumes.
    let (code, o) = post_json(&app, path, serde_json::json!({"mode": "none"})).await;
    assert_eq!(code, 200, "{o}");
    assert!(o["override"].is_null());
    assert_eq!(o["circuit"], "closed");
    assert!(part_status(&app, "voucher").await["override"].is_null());
    let (code, v) = post_json(&app, "/api/v1/vouchers", voucher_body("sent-1")).await;
    assert_eq!(
        (code, v["status"].as_str()),
        (202, Some("submitted")),
        "{v}"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_exposed_per_part() {
    let app = spawn_app().await;
    wait_for_status(&app, "voucher", "up").await;
    let (code, _) = post_json(
        &app,
        "/api/v1/parts/points/override",
        serde_json::json!({"mode": "force_open", "reason": "test"}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = post_json(&app, "/api/v1/vouchers", voucher_body("m-1")).await;
    assert_eq!(code, 202);
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = res.text().await.unwrap();
    for line in [
        "# TYPE mediator_part_up gauge",
        "mediator_part_up{part=\"voucher\"} 1",
        "mediator_circuit_open{part=\"voucher\"} 0",
        "mediator_circuit_open{part=\"points\"} 1",
        "# TYPE mediator_checks_total counter",
        "mediator_vouchers{part=\"voucher\",status=\"submitted\"} 1",
        "mediator_vouchers{part=\"member\",status=\"retry\"} 0",
        "mediator_replays_active{part=\"voucher\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    for part in ["voucher", "member", "points"] {
        for outcome in ["ok", "failed"] {
            let prefix = format!("mediator_checks_total{{part=\"{part}\",outcome=\"{outcome}\"}} ");
            assert!(text.lines().any(|l| l.starts_with(&prefix)), "{prefix}");
        }
    }
    let ok: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("mediator_checks_total{part=\"voucher\",outcome=\"ok\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ok >= 1, "{text}");
    app.stop().await;
}

#[tokio::test]
async fn demo_traffic_reaches_every_part_through_the_flow() {
    let app = spawn_app_with(|a| a.demo_rate = Some(30.0)).await;
    let ledger = common::eventually(15, "demo vouchers on every part", || async {
        let subs = app.submissions().await;
        let parts: std::collections::HashSet<_> = subs
            .iter()
            .filter(|s| {
                s["loyalty_request_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("demo-")
            })
            .map(|s| s["part"].as_str().unwrap().to_owned())
            .collect();
        if parts.len() == 3 {
            Ok(subs)
        } else {
            Err(format!("{parts:?}"))
        }
    })
    .await;
    // Each is a voucher of the DataCache, submitted once, with its lifecycle.
    for s in ledger.iter().take(6) {
        assert_eq!(s["accepted"], 1, "{s}");
        assert_eq!(s["deduplicated"], 0, "sent twice: {s}");
        let id = s["loyalty_request_id"].as_str().unwrap();
        let (code, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["status"], "submitted", "{v}");
        assert_eq!(v["part"], s["part"]);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_part_is_checked_now_on_request_and_not_again_within_seconds() {
    let app = common::spawn_app().await;
    app.sim_post("/sim/parts/member/down").await;
    let (code, body) = app
        .post("/api/v1/parts/member/check", &serde_json::json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["part"], "member");
    assert_eq!(body["ok"], false, "the simulator has the part down: {body}");
    assert!(body["error"].is_string(), "{body}");

    let res = app
        .client
        .post(app.url("/api/v1/parts/member/check"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["field"], "part", "{body}");

    let (code, body) = app
        .post("/api/v1/parts/loyalty/check", &serde_json::json!({}))
        .await;
    assert_eq!(
        (code, body["field"].as_str()),
        (404, Some("part")),
        "{body}"
    );
}
