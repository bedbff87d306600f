//! The console's read-only JSON API, the live-change stream, and the public
//! embeds and badges, against the real server (loopback port 0, private
//! data directory, the simulated SaaS).

use crate::common;

use std::time::{Duration, Instant};

use common::{eventually, spawn_app, spawn_app_with, voucher, TestApp};
use serde_json::{json, Value};

async fn wait_for_part(app: &TestApp, part: &str, want: &str) {
    eventually(10, &format!("{part} never {want}"), || async {
        let (_, body) = app.get_json("/api/v1/parts").await;
        let p = body["parts"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == part).cloned())
            .unwrap_or_default();
        if p["status"] == want {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await
}

/// Reads SSE events (name, data) from a streaming response.
struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim());
                    }
                }
                if data.is_empty() && name == "message" {
                    continue; // keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

#[tokio::test]
async fn a_status_change_reaches_the_event_stream_within_a_second() {
    let app = spawn_app().await;
    wait_for_part(&app, "voucher", "up").await;
    let res = app
        .client
        .get(app.url("/api/v1/stream"))
        .header("origin", "https://portal.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let mut events = Events {
        res,
        buf: String::new(),
    };
    let (name, hello) = events.next(Duration::from_secs(2)).await.expect("hello");
    assert_eq!(name, "hello", "{hello}");

    let t0 = Instant::now();
    app.sim_post("/sim/parts/voucher/down").await;
    // Each `status` change of the part is a cue to read it again: the one
    // after which it reads `down` must come within a second.
    loop {
        let (name, data) = events
            .next(Duration::from_secs(1).saturating_sub(t0.elapsed()))
            .await
            .unwrap_or_else(|| panic!("no status change within 1 s of the outage"));
        assert_eq!(name, "change");
        assert!(data["at"].is_string(), "{data}");
        if data["topic"] == "status" && data["part"] == "voucher" {
            let (_, parts) = app.get_json("/api/v1/parts").await;
            if parts["parts"][0]["status"] == "down" {
                break;
            }
        }
    }
    let elapsed = t0.elapsed();
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    // An override is announced too.
    let (code, _) = app
        .post(
            "/api/v1/parts/points/override",
            &json!({"mode": "force_open", "reason": "test", "by": "t"}),
        )
        .await;
    assert_eq!(code, 200);
    wait_for_topic(&mut events, "override", "points").await;
    // A held voucher, then the recovery replay when the part comes back.
    let (code, v) = app.post("/api/v1/vouchers", &voucher("sse-1")).await;
    assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
    wait_for_topic(&mut events, "voucher", "voucher").await;
    app.sim_post("/sim/parts/voucher/up").await;
    wait_for_topic(&mut events, "replay", "voucher").await;
    drop(events);
    app.stop().await;
}

/// Skips events until a `change` of `topic` for `part` (within 5 s).
async fn wait_for_topic(events: &mut Events, topic: &str, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, d) = events
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no {topic} change for {part}"));
        if d["topic"] == topic && d["part"] == part {
            return;
        }
    }
}

fn today(fmt: &str) -> String {
    chrono::Utc::now().format(fmt).to_string()
}

#[tokio::test]
async fn uptime_timelines_incidents_counters_and_archives() {
    let app = spawn_app().await;
    wait_for_part(&app, "voucher", "up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    wait_for_part(&app, "voucher", "down").await;
    const N: usize = 5;
    for i in 0..N {
        let (code, v) = app
            .post("/api/v1/vouchers", &voucher(&format!("inc-{i}")))
            .await;
        assert_eq!((code, v["status"].clone()), (202, json!("retry")), "{v}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.sim_post("/sim/parts/voucher/up").await;
    wait_for_part(&app, "voucher", "up").await;

    // The incident: the changes, the held vouchers, the replay, the outcome.
    let inc = eventually(20, "incident not resolved", || async {
        let (code, page) = app.get_json("/api/v1/incidents?limit=10").await;
        assert_eq!(code, 200, "{page}");
        let inc = page["incidents"][0].clone();
        if inc["state"] == "resolved" && inc["outcome"]["resubmitted"] == N {
            Ok(inc)
        } else {
            Err(page.to_string())
        }
    })
    .await;
    assert_eq!(inc["part"], "voucher");
    assert_eq!(inc["retries_held"], N);
    assert_eq!(inc["ongoing"], false);
    assert!(inc["duration_secs"].as_i64().unwrap() >= 0);
    let changes: Vec<(&str, &str)> = inc["status_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["prev_status"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(changes, [("up", "down"), ("down", "up")]);
    let replay = &inc["replays"][0];
    assert!(replay["name"]
        .as_str()
        .unwrap()
        .starts_with("LoyaltyVoucherReplay_"));
    assert_eq!(replay["trigger"], "recovery");
    assert_eq!(replay["state"], "COMPLETED");
    assert_eq!(
        inc["outcome"],
        json!({"resubmitted": N, "skipped": 0, "failed": 0, "dead_lettered": 0, "pending": 0})
    );
    let (code, one) = app
        .get_json(&format!("/api/v1/incidents/{}", inc["id"]))
        .await;
    assert_eq!((code, &one), (200, &inc));
    // The vouchers it held: its `vouchers` link lists those received while
    // the part was down, with what became of each (resubmitted: submitted).
    let link = inc["vouchers"].as_str().unwrap();
    let start = inc["start"].as_str().unwrap().replace('+', "%2B");
    assert!(
        link.starts_with(&format!("/api/v1/vouchers?part=voucher&from={start}&to=")),
        "{link}"
    );
    let (code, held) = app.get_json(link).await;
    assert_eq!(code, 200, "{held}");
    let held: Vec<(&str, &str)> = held["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["loyalty_request_id"].as_str().unwrap(),
                v["status"].as_str().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, &str)> = (0..N)
        .rev()
        .map(|i| (format!("inc-{i}"), "submitted"))
        .collect();
    let want: Vec<(&str, &str)> = want.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    assert_eq!(held, want, "newest first");
    // The console's incident shows them, each linking to its trace, and its
    // count links to the filtered list.
    let page = app
        .get(&format!("/incidents?id={}", inc["id"]))
        .await
        .text()
        .await
        .unwrap();
    for i in 0..N {
        assert!(
            page.contains(&format!("href=\"/vouchers?id=inc-{i}\"")),
            "inc-{i} links to its trace"
        );
    }
    assert!(
        page.contains(&format!("/vouchers?part=voucher&amp;from={start}&amp;to=")),
        "the count links to the list"
    );
    let (code, e) = app.get_json("/api/v1/incidents/999999").await;
    assert_eq!(code, 404, "{e}");
    let (code, e) = app.get_json("/api/v1/incidents/abc").await;
    assert_eq!((code, e["field"].as_str()), (422, Some("id")), "{e}");
    let (code, e) = app.get_json("/api/v1/incidents?limit=0").await;
    assert_eq!((code, e["field"].as_str()), (422, Some("limit")), "{e}");
    let (code, e) = app.get_json("/api/v1/incidents?part=nope").await;
    assert_eq!((code, e["field"].as_str()), (404, Some("part")), "{e}");
    let (_, none) = app.get_json("/api/v1/incidents?part=points").await;
    assert_eq!(none["incidents"], json!([]));

    // Uptime: four windows; the outage counts as down, the time before
    // monitoring started as no data.
    let (code, up) = app.get_json("/api/v1/parts/voucher/uptime").await;
    assert_eq!(code, 200, "{up}");
    let windows: Vec<&str> = up["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["24h", "7d", "30d", "90d"]);
    let w = &up["windows"][0];
    assert!(w["no_data_secs"].as_i64().unwrap() > 80_000, "{w}");
    let pct = w["percent"].as_f64().unwrap();
    assert!(pct < 100.0 && pct > 0.0, "{w}");

    // Timelines at three zoom levels, each with the outage.
    let (code, t) = app.get_json("/api/v1/parts/voucher/timeline").await;
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["granularity"], "day");
    assert_eq!(t["bars"].as_array().unwrap().len(), 90);
    assert_eq!(t["bars"][89]["label"], today("%Y-%m-%d"));
    assert_eq!(t["bars"][89]["outages"], 1);
    assert_eq!(t["outages"][0]["id"], inc["id"]);
    assert_eq!(t["outages"][0]["retries_held"], N);
    let (_, t) = app
        .get_json(&format!(
            "/api/v1/parts/voucher/timeline?date={}",
            today("%Y-%m-%d")
        ))
        .await;
    assert_eq!(t["bars"].as_array().unwrap().len(), 24);
    assert_eq!(t["outages"].as_array().unwrap().len(), 1, "{t}");
    let hour = inc["start"].as_str().unwrap()[..13].to_string();
    let (_, t) = app
        .get_json(&format!("/api/v1/parts/voucher/timeline?hour={hour}"))
        .await;
    assert_eq!(t["granularity"], "minute");
    assert_eq!(t["bars"].as_array().unwrap().len(), 60);
    assert_eq!(t["outages"][0]["id"], inc["id"]);
    for (q, field) in [
        ("days=91", "days"),
        ("date=2026-13-01", "date"),
        ("hour=yesterday", "hour"),
        ("days=7&date=2026-11-01", "date"),
    ] {
        let (code, e) = app
            .get_json(&format!("/api/v1/parts/voucher/timeline?{q}"))
            .await;
        assert_eq!((code, e["field"].as_str()), (422, Some(field)), "{q}: {e}");
    }
    let (code, e) = app.get_json("/api/v1/parts/nope/timeline").await;
    assert_eq!((code, e["field"].as_str()), (404, Some("part")), "{e}");

    // Counters for the overview.
    let (code, c) = app.get_json("/api/v1/parts/voucher/counters").await;
    assert_eq!(code, 200, "{c}");
    assert_eq!(
        (
            &c["pending_retries"],
            &c["resubmitted"],
            &c["dead_lettered"]
        ),
        (&json!(0), &json!(N), &json!(0))
    );
    assert_eq!(c["archived"], N);
    assert_eq!(c["latest_replay"]["processed"], N);
    assert_eq!(c["latest_replay"]["state"], "COMPLETED");

    // Archives and their events, paginated.
    let res = app
        .client
        .get(app.url("/api/v1/archives"))
        .header("origin", "https://portal.example.com")
        .send()
        .await
        .unwrap();
    // With --auth none every caller sees everything: `*` would share it
    // with any site's scripts (an origin listed in --cors-origins still may).
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let list: Value = res.json().await.unwrap();
    let voucher_archive = list["archives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "LoyaltyVoucherArchive")
        .cloned()
        .expect("the voucher archive");
    assert_eq!(voucher_archive["part"], "voucher");
    assert_eq!(voucher_archive["event_count"], N);
    assert_eq!(voucher_archive["retention_days"], 10);
    assert!(voucher_archive["size_bytes"].as_i64().unwrap() > 0);
    assert!(voucher_archive["pattern"]
        .as_str()
        .unwrap()
        .contains("retry"));
    assert!(
        voucher_archive["oldest"].as_str().unwrap() <= voucher_archive["newest"].as_str().unwrap()
    );
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = "/api/v1/archives/LoyaltyVoucherArchive/events?limit=2".to_string();
        if let Some(t) = &token {
            path += &format!("&next_token={t}");
        }
        let (code, page) = app.get_json(&path).await;
        assert_eq!(code, 200, "{page}");
        for e in page["events"].as_array().unwrap() {
            seen.push(
                e["event"]["detail"]["data"]["loyalty_request_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        match page["next_token"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..N).map(|i| format!("inc-{i}")).collect::<Vec<_>>());
    let start = inc["start"].as_str().unwrap();
    let (code, page) = app
        .get_json(&format!(
            "/api/v1/archives/LoyaltyVoucherArchive/events?start={}&end=2000-01-01T00:00:00Z",
            start.replace('+', "%2B")
        ))
        .await;
    assert_eq!(
        (code, page["field"].as_str()),
        (422, Some("start")),
        "{page}"
    );
    let (code, e) = app.get_json("/api/v1/archives/Nope/events").await;
    assert_eq!(code, 404, "{e}");
    let (code, e) = app
        .get_json("/api/v1/archives/LoyaltyVoucherArchive/events?next_token=zzz")
        .await;
    assert_eq!(
        (code, e["field"].as_str()),
        (422, Some("next_token")),
        "{e}"
    );
    app.stop().await;
}

/// Every badge path, with the message its SVG must carry for an up part.
const BADGES: [&str; 9] = [
    "/badge/voucher/status",
    "/badge/voucher/uptime/24h",
    "/badge/voucher/uptime/7d",
    "/badge/voucher/uptime/30d",
    "/badge/voucher/uptime/90d",
    "/badge/voucher/circuit",
    "/badge/voucher/backlog",
    "/badge/member/status",
    "/badge/overall",
];

async fn svg(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.get(path).await;
    let code = res.status().as_u16();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml"),
        "{path}"
    );
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=30",
        "{path}"
    );
    let body = res.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("{path}: {e}\n{body}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{path}");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let title = root
        .children()
        .find(|n| n.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or_else(|| panic!("{path}: a <title> for screen readers"))
        .to_owned();
    (code, title)
}

#[tokio::test]
async fn badges_are_valid_svg_and_shields_json() {
    let app = spawn_app().await;
    for part in ["voucher", "member", "points"] {
        wait_for_part(&app, part, "up").await;
    }
    for b in BADGES {
        let (code, title) = svg(&app, &format!("{b}.svg")).await;
        assert_eq!(code, 200, "{b}");
        assert!(!title.is_empty());
        let (code, j) = app.get_json(&format!("{b}.json")).await;
        assert_eq!(code, 200, "{b}: {j}");
        assert_eq!(j["schemaVersion"], 1);
        for k in ["label", "message", "color"] {
            assert!(
                j[k].as_str().is_some_and(|s| !s.is_empty()),
                "{b}: {k} in {j}"
            );
        }
        assert!(
            title.ends_with(j["message"].as_str().unwrap()),
            "{title} / {j}"
        );
    }
    assert_eq!(
        svg(&app, "/badge/voucher/status.svg").await.1,
        "voucher: up"
    );
    assert_eq!(svg(&app, "/badge/overall.svg").await.1, "vendor: all up");
    assert_eq!(
        svg(&app, "/badge/voucher/circuit.svg").await.1,
        "voucher circuit: closed"
    );
    assert_eq!(
        svg(&app, "/badge/voucher/backlog.svg").await.1,
        "voucher backlog: 0 retry"
    );
    let res = app
        .client
        .get(app.url("/badge/voucher/status.json"))
        .header("origin", "https://portal.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");

    // Down, with words: the colour is not the only signal.
    app.sim_post("/sim/parts/voucher/down").await;
    wait_for_part(&app, "voucher", "down").await;
    assert_eq!(
        svg(&app, "/badge/voucher/status.svg").await.1,
        "voucher: down"
    );
    assert_eq!(
        svg(&app, "/badge/overall.svg").await.1,
        "vendor: 1 of 3 down"
    );
    assert_eq!(
        svg(&app, "/badge/voucher/circuit.svg").await.1,
        "voucher circuit: open"
    );
    let (_, j) = app.get_json("/badge/voucher/status.json").await;
    assert_eq!(
        (j["message"].as_str(), j["color"].as_str()),
        (Some("down"), Some("red"))
    );

    // Unknown parts, windows and badges are 404s that still parse.
    for path in [
        "/badge/nope/status.svg",
        "/badge/%3Cscript%3E/status.svg",
        "/badge/voucher/uptime/1y.svg",
        "/badge/voucher/colour.svg",
        "/badge/everything.svg",
    ] {
        let (code, title) = svg(&app, path).await;
        assert_eq!(code, 404, "{path}");
        assert!(title.ends_with("not found"), "{path}: {title}");
    }
    let (code, j) = app.get_json("/badge/nope/uptime/24h.json").await;
    assert_eq!((code, j["isError"].clone()), (404, json!(true)), "{j}");
    app.stop().await;
}

#[tokio::test]
async fn embeds_may_be_framed_only_by_the_allowed_origins() {
    let app = spawn_app_with(|a| {
        a.frame_ancestors = Some("http://127.0.0.1:4001".into());
        a.cors_origins = Some("http://127.0.0.1:4001".into());
    })
    .await;
    wait_for_part(&app, "voucher", "up").await;
    let res = app.get("/embed/status?theme=dark&bg=transparent").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.ends_with("; frame-ancestors 'self' http://127.0.0.1:4001"),
        "{csp}"
    );
    assert!(res.headers().get("x-frame-options").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("data-theme=\"dark\""));
    assert!(html.contains("background:transparent"));
    for part in ["voucher", "member", "points"] {
        assert!(
            html.contains(&format!("href=\"/embed/parts/{part}\"")),
            "{part}"
        );
    }
    assert!(html.contains("Up</span>"), "status in words: {html}");
    assert!(html.contains("/api/v1/stream"), "updates itself");

    let res = app.get("/embed/parts/voucher").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-theme=\"auto\""));
    assert!(html.contains("<h1>voucher status</h1>"));
    assert!(html.contains("Uptime 24h"));
    assert_eq!(
        html.matches(" min down\"></span>").count() + html.matches("no data\"></span>").count(),
        90,
        "90 daily bars, each titled"
    );
    assert!(html.contains("role=\"img\" aria-label=\"Minutes down per day, last 90 days\""));

    // The console and everything else: never framed.
    for path in ["/", "/api/v1/parts", "/healthz"] {
        let res = app.get(path).await;
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.ends_with("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(res.headers()["x-frame-options"], "DENY", "{path}");
    }
    // CORS follows --cors-origins.
    for (origin, allowed) in [
        ("http://127.0.0.1:4001", true),
        ("http://127.0.0.1:4002", false),
    ] {
        let res = app
            .client
            .get(app.url("/api/v1/parts/voucher/uptime"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers().get("access-control-allow-origin").is_some(),
            allowed,
            "{origin}"
        );
    }

    for (q, field) in [
        ("theme=pink", "theme"),
        ("bg=red;}body{", "bg"),
        ("bg=%23zzz", "bg"),
    ] {
        let res = app.get(&format!("/embed/status?{q}")).await;
        assert_eq!(res.status(), 422, "{q}");
        assert!(
            res.text().await.unwrap().starts_with(&format!("{field}:")),
            "{q}"
        );
    }
    assert_eq!(app.get("/embed/parts/nope").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn bad_frame_ancestors_and_cors_origins_are_refused_naming_the_setting() {
    for (fa, cors, field) in [
        (
            Some("https://portal.example.com/path"),
            None,
            "frame_ancestors",
        ),
        (Some("'unsafe-inline'"), None, "frame_ancestors"),
        (None, Some("portal.example.com"), "cors_origins"),
    ] {
        let args = server::config::ServeArgs {
            frame_ancestors: fa.map(String::from),
            cors_origins: cors.map(String::from),
            ..Default::default()
        };
        let e = server::Settings::resolve(args).unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
}

#[tokio::test]
async fn an_event_stream_outlives_the_request_timeout_and_ends_at_shutdown() {
    let app = spawn_app_with(|a| {
        a.request_timeout = Some(1);
        // A submission must fit well inside the request's limit.
        a.submit_timeout = Some(0.5);
    })
    .await;
    let res = app.get("/api/v1/stream").await;
    assert_eq!(res.status(), 200);
    let mut events = Events {
        res,
        buf: String::new(),
    };
    assert_eq!(
        events.next(Duration::from_secs(2)).await.unwrap().0,
        "hello"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, _) = app
        .post(
            "/api/v1/parts/member/override",
            &json!({"mode": "disabled", "reason": "late", "by": "t"}),
        )
        .await;
    assert_eq!(code, 200);
    wait_for_topic(&mut events, "override", "member").await;
    // Shutdown is not held up by the open stream (stop() bounds it).
    app.stop().await;
    // …and the stream has ended (what was buffered is read, then EOF).
    let ended = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = events.res.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the event stream is still open after shutdown"
    );
}

/// The checks' response time over HTTP: p50 and p95 per bar of the
/// timeline's ranges and over the range, read back from the roll-ups'
/// histograms after the simulated SaaS slows a part down; the overview
/// carries the last hour per minute; bad ranges name their field.
#[tokio::test]
async fn response_time_per_bar_and_over_the_last_hour() {
    let app = spawn_app().await;
    wait_for_part(&app, "member", "up").await;
    let res = app
        .client
        .post(format!("{}/sim/parts/member/latency", app.sim))
        .json(&json!({"ms": 40}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    // Checks every 0.1 s, each now ≥ 40 ms: the current minute's median
    // soon is one of them (40–47 ms is one bin: estimates stay in 40–49).
    let series = eventually(30, "member's median never reached 40 ms", || async {
        let now = chrono::Utc::now();
        let (hour, minute) = (now.format("%Y-%m-%dT%H"), now.format("%H:%M").to_string());
        let (code, l) = app
            .get_json(&format!("/api/v1/parts/member/latency?hour={hour}"))
            .await;
        assert_eq!(code, 200, "{l}");
        let now = l["points"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["label"] == minute.as_str()).cloned())
            .unwrap_or_default();
        match now["p50_ms"].as_u64() {
            Some(ms) if ms >= 40 => Ok(l),
            _ => Err(now.to_string()),
        }
    })
    .await;
    assert_eq!(series["part"], "member");
    assert_eq!(series["granularity"], "minute");
    assert_eq!(series["points"].as_array().unwrap().len(), 60);
    let slow: Vec<&Value> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["p50_ms"].as_u64().is_some_and(|ms| ms >= 40))
        .collect();
    for p in &slow {
        let (p50, p95) = (p["p50_ms"].as_u64().unwrap(), p["p95_ms"].as_u64().unwrap());
        assert!(p50 < 100 && p95 >= p50 && p95 < 1_000, "{p}");
        assert!(p["checks"].as_u64().unwrap() > 0, "{p}");
    }
    let checks: u64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["checks"].as_u64().unwrap())
        .sum();
    assert_eq!(series["checks"].as_u64(), Some(checks), "{series}");
    assert!(series["p95_ms"].as_u64().unwrap() >= 40, "{series}");

    // The other ranges: days (default 90) and the hours of a day.
    let (code, days) = app.get_json("/api/v1/parts/member/latency").await;
    assert_eq!(code, 200, "{days}");
    assert_eq!(days["granularity"], "day");
    assert_eq!(days["points"].as_array().unwrap().len(), 90);
    assert_eq!(days["points"][89]["label"], today("%Y-%m-%d"));
    assert!(days["points"][89]["checks"].as_u64().unwrap() >= checks);
    assert_eq!(days["points"][0]["p50_ms"], Value::Null, "no checks then");
    let (_, day) = app
        .get_json(&format!(
            "/api/v1/parts/member/latency?date={}",
            today("%Y-%m-%d")
        ))
        .await;
    assert_eq!(day["granularity"], "hour");
    assert_eq!(day["points"].as_array().unwrap().len(), 24);
    for (q, field) in [
        ("days=0", "days"),
        ("date=2026-02-30", "date"),
        ("hour=noon", "hour"),
        ("days=7&hour=2026-11-01T10", "hour"),
    ] {
        let (code, e) = app
            .get_json(&format!("/api/v1/parts/member/latency?{q}"))
            .await;
        assert_eq!((code, e["field"].as_str()), (422, Some(field)), "{q}: {e}");
    }
    let (code, e) = app.get_json("/api/v1/parts/nope/latency").await;
    assert_eq!((code, e["field"].as_str()), (404, Some("part")), "{e}");

    // The overview: the last hour per minute, the current minute last.
    let (_, overview) = app.get_json("/api/v1/parts").await;
    let member = overview["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "member")
        .unwrap();
    let recent = &member["recent_latency"];
    let minutes = recent["p50_ms_per_minute"].as_array().unwrap();
    assert_eq!(minutes.len(), 60, "{recent}");
    assert!(minutes.last().unwrap().as_u64().is_some(), "{recent}");
    assert!(recent["p95_ms"].as_u64().unwrap() >= 40, "{recent}");
}
