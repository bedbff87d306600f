//! The submission flow and archive-and-replay recovery end to end: the real
//! server (port 0 for every listener, private data directory), the real
//! simulated SaaS and the embedded EventBridge, over HTTP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::{Application, Settings};
use tokio_util::sync::CancellationToken;

struct TestApp {
    addr: SocketAddr,
    events_addr: SocketAddr,
    sim: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

impl TestApp {
    async fn eventbridge(&self, op: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("http://{}/", self.events_addr))
            .header("x-amz-target", format!("AWSEvents.{op}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{op}");
        res.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn sim_post(&self, path: &str) {
        let res = self
            .client
            .post(format!("{}{path}", self.sim))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}");
    }

    async fn submissions(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/sim/submissions", self.sim))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.handle)
            .await
            .expect("server must stop after cancel")
            .expect("join")
            .expect("server result");
    }
}

async fn spawn_app() -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let site = data.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    let settings = Settings::resolve(server::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        events_listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_listen: Some("127.0.0.1:0".parse().unwrap()),
        poll_interval: Some(0.1),
        data_dir: Some(data.path().join("data")),
        site_root: Some(site),
        submit_timeout: Some(2.0),
        resubmit_rate: Some(1000.0),
        resubmit_concurrency: Some(8),
        ..Default::default()
    })
    .unwrap();
    let app = Application::build(settings).await.expect("build");
    let addr = app.local_addr();
    let events_addr = app.events_addr();
    let sim = format!("http://{}", app.sim_addr().expect("simulator"));
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        addr,
        events_addr,
        sim,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        shutdown,
        handle,
        _data: data,
    }
}

fn voucher(id: &str) -> Value {
    json!({"part": "voucher", "loyalty_request_id": id, "loyalty_reference": format!("ref-{id}"),
           "merchant_reference": "m-1", "loyalty_order_reference": "M101-S76-OP10-T65",
           "payload": {"points": 10}})
}

/// Polls `check` until it returns `Some`, failing after `secs`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "{what}: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_for_part(app: &TestApp, want: &str) {
    eventually(10, &format!("voucher part never {want}"), || async {
        let (_, body) = app.get("/api/v1/parts").await;
        let p = body["parts"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "voucher").cloned())
            .unwrap_or_default();
        if p["status"] == want {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await
}

async fn voucher_status(app: &TestApp, id: &str) -> String {
    let (code, v) = app.get(&format!("/api/v1/vouchers/{id}")).await;
    assert_eq!(code, 200, "{v}");
    v["status"].as_str().unwrap().to_owned()
}

async fn wait_for_replay(app: &TestApp, name: &str, processed: i64) -> Value {
    eventually(20, &format!("replay {name} did not complete"), || async {
        let (_, r) = app.get(&format!("/api/v1/replays/{name}")).await;
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
    assert_eq!(app.get("/api/v1/vouchers/none").await.0, 404);
    assert_eq!(app.get("/api/v1/replays/none").await.0, 404);
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
    wait_for_part(&app, "up").await;
    let (code, v) = app.post("/api/v1/vouchers", &voucher("v-1")).await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["status"], "submitted", "{v}");
    assert_eq!(v["duplicate"], false);
    // A duplicate is answered with the existing status and not submitted again.
    let (code, v) = app.post("/api/v1/vouchers", &voucher("v-1")).await;
    assert_eq!(
        (code, v["status"].clone(), v["duplicate"].clone()),
        (200, json!("submitted"), json!(true))
    );
    let (_, v) = app.get("/api/v1/vouchers/v-1").await;
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
        let (code, v) = app.get("/api/v1/vouchers/v-bus").await;
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
            json!({"part": "voucher", "loyalty_request_id": "v-1", "accepted": 1}),
            json!({"part": "voucher", "loyalty_request_id": "v-bus", "accepted": 1})
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_saas_client_error_is_final() {
    let app = spawn_app().await;
    wait_for_part(&app, "up").await;
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
    wait_for_part(&app, "up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    wait_for_part(&app, "down").await;

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
        let (_, list) = app.get("/api/v1/replays").await;
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
    assert_eq!(r["trigger"], "recovery");
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
        subs.iter().all(|s| s["accepted"] == 1),
        "exactly once: {subs:?}"
    );
    let (_, v) = app.get("/api/v1/vouchers/held-00").await;
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

    // Replaying the same window again resubmits nothing: every event is skipped.
    let (code, again) = app
        .post("/api/v1/replays", &json!({"part": "voucher"}))
        .await;
    assert_eq!(code, 202, "{again}");
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
        subs.iter().all(|s| s["accepted"] == 1),
        "still exactly once: {subs:?}"
    );
    let (_, list) = app.get("/api/v1/replays").await;
    assert_eq!(list["replays"].as_array().unwrap().len(), 2);
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
