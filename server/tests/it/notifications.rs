//! Outbound notifications over real HTTP: receivers on loopback started by
//! the test, the real server told through its configuration file. The
//! webhook's Standard Webhooks signature is checked with an HMAC-SHA256
//! written here from RFC 2104 (not the server's); Slack's and PagerDuty's
//! bodies by their shapes; a receiver failing first gets the same
//! `webhook-id` again after the back-off; a restart delivers what was
//! queued, once; each channel's filter is honoured.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{eventually, spawn_app_with, TestApp};

/// The webhook secret of these tests and its key's bytes.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn secret_key() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap()
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    at: Instant,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A receiver on loopback: records every request and answers each path's
/// scripted statuses in turn (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
    /// Answered to every request while set.
    always: Arc<Mutex<Option<u16>>>,
}

impl Receiver {
    async fn start() -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/{name}", post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, addr)
    }

    fn script(&self, name: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(format!("/{name}"), statuses.iter().copied().collect());
    }

    fn got(&self, name: &str) -> Vec<Got> {
        let path = format!("/{name}");
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(
    State(r): State<Receiver>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = format!("/{name}");
    let status = match *r.always.lock().unwrap() {
        Some(s) => s,
        None => r
            .script
            .lock()
            .unwrap()
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(200),
    };
    r.got.lock().unwrap().push(Got {
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        answered: status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// HMAC-SHA256 (RFC 2104), written here so the server's signature is
/// checked by an implementation of its own.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Checks a webhook request as a Standard Webhooks receiver does.
fn verify_webhook(g: &Got) {
    let id = &g.headers["webhook-id"];
    let ts = &g.headers["webhook-timestamp"];
    let sig = &g.headers["webhook-signature"];
    let now = chrono::Utc::now().timestamp();
    let ts_n: i64 = ts.parse().unwrap();
    assert!(
        (now - ts_n).abs() < 300,
        "timestamp {ts} is not now ({now})"
    );
    let mac = hmac_sha256(&secret_key(), format!("{id}.{ts}.{}", g.body).as_bytes());
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    );
    assert!(
        sig.split(' ').any(|s| s == want),
        "signature {sig} is not {want}"
    );
    // Tampering with the body breaks it.
    let forged = hmac_sha256(&secret_key(), format!("{id}.{ts}.{} ", g.body).as_bytes());
    assert_ne!(
        want,
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(forged)
        )
    );
}

/// A configuration file naming the receiver's channels.
fn config(dir: &Path, receiver: SocketAddr, extra: &str) -> std::path::PathBuf {
    let path = dir.join("mediator.toml");
    let text = format!(
        r#"
[parts.voucher]
failure_threshold = 1
recovery_threshold = 1

[notify]
retry_base = 0.3
retry_max = 2
max_attempts = 5
send_timeout = 2
poll_interval = 0.1
{extra}
"#
    )
    .replace("{R}", &format!("http://{receiver}"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn start(config: &Path, data_dir: Option<&Path>) -> TestApp {
    let config = config.to_owned();
    let data_dir = data_dir.map(Path::to_owned);
    spawn_app_with(move |a| {
        a.config = Some(config);
        a.parts = Some(vec!["voucher".into(), "member".into()]);
        if let Some(d) = data_dir {
            a.data_dir = Some(d);
        }
    })
    .await
}

/// The delivery log as `GET /api/v1/notifications` lists it.
async fn deliveries(app: &TestApp) -> Vec<Value> {
    let (code, body) = app.get_json("/api/v1/notifications?limit=200").await;
    assert_eq!(code, 200, "{body}");
    body["deliveries"].as_array().cloned().unwrap_or_default()
}

async fn wait_for_requests(r: &Receiver, name: &str, n: usize) -> Vec<Got> {
    eventually(20, &format!("{n} requests to /{name}"), || async {
        let got = r.got(name);
        if got.len() >= n {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await
}

#[tokio::test]
async fn a_part_going_down_and_up_is_told_to_each_channel_in_its_shape() {
    let (r, addr) = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        addr,
        &format!(
            r#"
[notify.channels.ops]
type = "webhook"
url = "{{R}}/hook"
secret = "{SECRET}"
kinds = ["part_down", "part_up"]

[notify.channels.chat]
type = "slack"
url = "{{R}}/slack"
parts = ["voucher"]
kinds = ["part_down", "part_up"]

[notify.channels.replays]
type = "slack"
url = "{{R}}/replays"
kinds = ["replay_completed", "replay_failed"]

[notify.channels.pager]
type = "pagerduty"
url = "{{R}}/pd"
routing_key = "R0UT1NGKEY"
source = "mediator-test"
kinds = ["part_down", "part_up"]

[notify.channels.members]
type = "slack"
url = "{{R}}/members"
parts = ["member"]

[notify.channels.recoveries]
type = "slack"
url = "{{R}}/ups"
kinds = ["part_up"]
"#
        ),
    );
    let app = start(&cfg, None).await;
    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    app.sim_post("/sim/parts/voucher/up").await;
    app.wait_for_part("up").await;

    // The webhook: signed, down then up, each under its own stable id.
    let hooks = wait_for_requests(&r, "hook", 2).await;
    for h in &hooks {
        verify_webhook(h);
        assert_eq!(h.headers["content-type"], "application/json");
    }
    let (down, up) = (hooks[0].json(), hooks[1].json());
    assert_eq!(down["type"], "mediator.part_down", "{down}");
    assert_eq!(down["data"]["part"], "voucher");
    assert_eq!(down["data"]["kind"], "part_down");
    assert_eq!(up["type"], "mediator.part_up", "{up}");
    assert_eq!(hooks[0].headers["webhook-id"], down["data"]["event_id"]);
    assert!(hooks[0].headers["webhook-id"].starts_with("status-"));
    assert_ne!(
        hooks[0].headers["webhook-id"],
        hooks[1].headers["webhook-id"]
    );

    // Slack: a text (and blocks) per notification.
    let slack = wait_for_requests(&r, "slack", 2).await;
    let texts: Vec<String> = slack
        .iter()
        .map(|g| g.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(texts[0].contains("Part voucher is down"), "{texts:?}");
    assert!(texts[1].contains("Part voucher is up again"), "{texts:?}");
    assert!(slack[0].json()["blocks"].is_array());

    // PagerDuty: trigger on down, resolve on up, one dedup_key.
    let pd = wait_for_requests(&r, "pd", 2).await;
    let (trigger, resolve) = (pd[0].json(), pd[1].json());
    assert_eq!(trigger["routing_key"], "R0UT1NGKEY");
    assert_eq!(trigger["event_action"], "trigger", "{trigger}");
    assert_eq!(resolve["event_action"], "resolve", "{resolve}");
    assert_eq!(trigger["dedup_key"], resolve["dedup_key"]);
    assert_eq!(trigger["dedup_key"], "mediator/part/voucher");
    assert_eq!(trigger["payload"]["source"], "mediator-test");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(trigger["payload"]["summary"]
        .as_str()
        .unwrap()
        .contains("voucher is down"));

    // Filters: the member-only channel heard nothing, the up-only one only
    // the recovery.
    let ups = wait_for_requests(&r, "ups", 1).await;
    assert!(ups[0].json()["text"].as_str().unwrap().contains("up again"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.got("ups").len(), 1);
    assert!(r.got("members").is_empty(), "{:?}", r.got("members"));

    // The recovery replay that followed, told when it completed.
    let replays = wait_for_requests(&r, "replays", 1).await;
    let text = replays[0].json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains("of part voucher completed"), "{text}");

    // The log: one delivery per (event, channel), each delivered once.
    let log = eventually(10, "every delivery delivered", || async {
        let log = deliveries(&app).await;
        if log.len() == 8 && log.iter().all(|d| d["status"] == "delivered") {
            Ok(log)
        } else {
            Err(format!("{log:#?}"))
        }
    })
    .await;
    let delivered: Vec<&Value> = log.iter().collect();
    assert!(delivered.iter().all(|d| d["attempts"] == 1));
    assert_eq!(r.got("hook").len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_first_gets_the_same_id_again_after_the_back_off() {
    let (r, addr) = Receiver::start().await;
    r.script("hook", &[500]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        addr,
        &format!(
            "[notify.channels.ops]\ntype = \"webhook\"\nurl = \"{{R}}/hook\"\nsecret = \"{SECRET}\"\n"
        ),
    );
    let app = start(&cfg, None).await;
    let (code, body) = app
        .post("/api/v1/notifications/ops/test", &Value::Null)
        .await;
    assert_eq!(code, 202, "{body}");
    let event = body["event_id"].as_str().unwrap().to_owned();
    let got = wait_for_requests(&r, "hook", 2).await;
    assert_eq!(got[0].answered, 500);
    assert_eq!(got[1].answered, 200);
    assert_eq!(got[0].headers["webhook-id"], event);
    assert_eq!(got[1].headers["webhook-id"], event);
    assert_eq!(got[0].body, got[1].body, "the same message is sent again");
    verify_webhook(&got[1]);
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(250), "back-off {waited:?}");
    let log = eventually(10, "the test delivered", || async {
        let log = deliveries(&app).await;
        match log.iter().find(|d| d["event_id"] == event.as_str()) {
            Some(d) if d["status"] == "delivered" => Ok(d.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(log["attempts"], 2, "{log}");
    assert_eq!(log["kind"], "test");
    assert_eq!(log["channel"], "ops");
    assert_eq!(log["last_error"], "HTTP 500");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.got("hook").len(), 2, "delivered once, never again");

    // The console's page, rendered on the server with its data.
    let html = app.get("/notifications").await.text().await.unwrap();
    assert!(html.contains("data-channel=\"ops\""), "{html}");
    assert!(
        html.contains(&format!("data-event=\"{event}\" data-status=\"delivered\"")),
        "{html}"
    );

    // Counted in /metrics by channel, kind and outcome.
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "mediator_notification_deliveries_total{channel=\"ops\",kind=\"test\",outcome=\"retried\"} 1",
        "mediator_notification_deliveries_total{channel=\"ops\",kind=\"test\",outcome=\"delivered\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // Audited; an unknown channel is 404 naming it.
    let (code, body) = app
        .post("/api/v1/notifications/nope/test", &Value::Null)
        .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["field"], "channel");
    let (_, audit) = app.get_json("/api/v1/audit?format=json").await;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "notify.test" && e["target"] == "ops" && e["outcome"] == "ok"),
        "{audit}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_restart_delivers_what_was_queued_and_nothing_twice() {
    let (r, addr) = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = config(
        dir.path(),
        addr,
        &format!(
            "[notify.channels.ops]\ntype = \"webhook\"\nurl = \"{{R}}/hook\"\nsecret = \"{SECRET}\"\n"
        ),
    );
    let app = start(&cfg, Some(&data)).await;
    // One delivered before the restart…
    let (code, first) = app
        .post("/api/v1/notifications/ops/test", &Value::Null)
        .await;
    assert_eq!(code, 202, "{first}");
    wait_for_requests(&r, "hook", 1).await;
    // …and one the receiver refuses until after it.
    *r.always.lock().unwrap() = Some(503);
    let (_, second) = app
        .post("/api/v1/notifications/ops/test", &Value::Null)
        .await;
    let second = second["event_id"].as_str().unwrap().to_owned();
    wait_for_requests(&r, "hook", 2).await;
    app.stop().await;
    let refused = r.got("hook").len();

    *r.always.lock().unwrap() = None;
    let app = start(&cfg, Some(&data)).await;
    let log = eventually(
        20,
        "the queued test delivered after the restart",
        || async {
            let log = deliveries(&app).await;
            match log.iter().find(|d| d["event_id"] == second.as_str()) {
                Some(d) if d["status"] == "delivered" => Ok(d.clone()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    assert!(log["attempts"].as_i64().unwrap() >= 2, "{log}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = r.got("hook");
    let ok: Vec<&str> = got
        .iter()
        .filter(|g| g.answered == 200)
        .map(|g| g.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(
        ok,
        [first["event_id"].as_str().unwrap(), second.as_str()],
        "each delivered once"
    );
    assert_eq!(got.len(), refused + 1, "{got:#?}");
    app.stop().await;
}

/// On AWS (moto): two replicas share the DynamoDB outbox. A part going
/// down is queued once and delivered once — one request per event id to
/// the receiver, though both replicas read the status changes and both
/// dispatch — and a test sent through either replica is delivered once;
/// both list the same delivery log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_aws_deliver_each_notification_once() {
    let (r, addr) = Receiver::start().await;
    let (moto, _) = crate::aws_mode::provisioned_moto().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mediator.toml");
    let tables: String = mediator_core::part::DEFAULT_PARTS
        .iter()
        .map(|p| format!("[parts.{p}]\narchive_lag = 0\n"))
        .collect();
    std::fs::write(
        &config,
        format!(
            "{tables}\n[notify]\nretry_base = 0.3\nsend_timeout = 2\npoll_interval = 0.1\n\n\
             [notify.channels.ops]\ntype = \"webhook\"\nurl = \"http://{addr}/hook\"\n\
             secret = \"{SECRET}\"\nparts = [\"voucher\"]\nkinds = [\"part_down\", \"part_up\"]\n"
        ),
    )
    .unwrap();
    let replica = |saas_url: Option<String>| {
        let (endpoint, config) = (moto.endpoint.clone(), config.clone());
        spawn_app_with(move |a| {
            a.backend = Some(server::Backend::Aws);
            a.endpoint_url = Some(endpoint);
            a.region = Some("us-east-1".into());
            a.replay_margin = Some(1.0);
            a.saas_url = saas_url;
            a.config = Some(config);
        })
    };
    let a = replica(None).await;
    let b = replica(Some(a.sim.clone())).await;
    a.wait_for_part("up").await;
    b.wait_for_part("up").await;
    a.sim_post("/sim/parts/voucher/down").await;
    a.wait_for_part("down").await;
    b.wait_for_part("down").await;
    wait_for_requests(&r, "hook", 1).await;
    for app in [&a, &b] {
        let (code, body) = app
            .post("/api/v1/notifications/ops/test", &Value::Null)
            .await;
        assert_eq!(code, 202, "{body}");
    }
    wait_for_requests(&r, "hook", 3).await;
    // Both replicas had time to read the change and dispatch again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hooks: Vec<Got> = r.got("hook");
    let mut kinds: Vec<String> = hooks
        .iter()
        .map(|h| h.json()["data"]["kind"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["part_down", "test", "test"], "each once: {hooks:?}");
    for h in &hooks {
        verify_webhook(h);
    }
    let mut ids: Vec<(String, String)> = hooks
        .iter()
        .map(|h| (h.headers["webhook-id"].clone(), "delivered".to_string()))
        .collect();
    ids.sort();
    for app in [&a, &b] {
        let log = eventually(10, "every delivery delivered", || async {
            let mut seen: Vec<(String, String)> = deliveries(app)
                .await
                .iter()
                .map(|d| {
                    (
                        d["event_id"].as_str().unwrap().to_owned(),
                        d["status"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            seen.sort();
            if seen == ids {
                Ok(seen)
            } else {
                Err(format!("{seen:?}"))
            }
        })
        .await;
        assert_eq!(log.len(), 3, "one shared log");
    }
}
