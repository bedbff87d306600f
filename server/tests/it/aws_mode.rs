//! `mediator serve --backend aws` against moto (EventBridge, SQS, DynamoDB
//! as `provision` makes them): a part goes down, vouchers are held as
//! `retry` and their retry events archived by EventBridge; the part comes
//! back, the mediator starts the replay (moto replays the archive at once)
//! and the resubmit queue (SQS) feeds the handler: every voucher is accepted
//! exactly once by the simulated SaaS. The circuit lives in DynamoDB.

use crate::aws_calls;
use crate::common;

use common::{eventually, spawn_app_with, voucher};
use mediator_core::storage::StatusStore;
use mediator_core::{PartName, PartSettings};
use serde_json::Value;

/// moto with the mediator's resources provisioned, and its SDK
/// configuration.
pub(crate) async fn provisioned_moto() -> (aws_backend::moto::Moto, aws_config::SdkConfig) {
    let moto = aws_backend::moto::Moto::start();
    aws_backend::moto::Moto::env();
    let conf = aws_backend::load_config(&aws_backend::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        max_attempts: None,
    })
    .await;
    let parts: Vec<PartSettings> = PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect();
    aws_backend::provision::provision(&conf, &parts, false)
        .await
        .expect("provision");
    (moto, conf)
}

/// `mediator serve --backend aws --endpoint-url <endpoint>` (test defaults).
pub(crate) async fn spawn_on_aws(endpoint: String) -> common::TestApp {
    spawn_on_aws_with(endpoint, None).await
}

/// [`spawn_on_aws`] calling the SaaS at `saas_url` (another replica's
/// simulator) instead of its own.
pub(crate) async fn spawn_on_aws_with(
    endpoint: String,
    saas_url: Option<String>,
) -> common::TestApp {
    // moto archives an event when it accepts it: no archive lag to wait.
    // Every DynamoDB call goes through one serializing proxy (moto does not
    // isolate transactions): 0.1 s polls of three parts by two replicas
    // asked more of it than a loaded machine's moto answers, and the queue
    // behind it grew until a page's reads timed out. The tests' part polls
    // every 0.25 s, the others every second.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mediator.toml");
    let tables: String = mediator_core::part::DEFAULT_PARTS
        .iter()
        .map(|p| {
            let poll = if *p == "voucher" { 0.25 } else { 1.0 };
            format!("[parts.{p}]\narchive_lag = 0\npoll_interval = {poll}\n")
        })
        .collect();
    std::fs::write(&config, tables).unwrap();
    spawn_app_with(|a| {
        a.backend = Some(server::Backend::Aws);
        a.endpoint_url = Some(endpoint);
        a.region = Some("us-east-1".into());
        a.replay_margin = Some(1.0);
        a.saas_url = saas_url;
        a.config = Some(config);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_replay_and_exactly_once_on_aws() {
    let (moto, conf) = provisioned_moto().await;
    // Through the proxy, which gives moto's DynamoDB transactions the
    // isolation DynamoDB has.
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let app = spawn_on_aws(proxy.endpoint.clone()).await;

    app.wait_for_part("up").await;
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let ids: Vec<String> = (0..20).map(|i| format!("aws-{i}")).collect();
    for id in &ids {
        let (code, body) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(code, 202, "{body}");
        assert_eq!(body["status"], "retry", "held while down: {body}");
    }

    app.sim_post("/sim/parts/voucher/up").await;
    eventually(60, "every voucher resubmitted", || async {
        let mut pending = Vec::new();
        for id in &ids {
            let (_, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
            if v["status"] != "submitted" {
                pending.push(format!("{id}: {}", v["status"]));
            }
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(pending.join(", "))
        }
    })
    .await;
    let accepted: Vec<(String, u64)> = app
        .submissions()
        .await
        .iter()
        .map(|s| {
            (
                s["loyalty_request_id"].as_str().unwrap().to_string(),
                s["accepted"].as_u64().unwrap(),
            )
        })
        .collect();
    for id in &ids {
        let n: Vec<u64> = accepted
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(n, [1], "{id} accepted exactly once");
    }
    let (_, replays) = app.get_json("/api/v1/replays").await;
    let replays = replays
        .as_array()
        .or_else(|| replays["replays"].as_array())
        .cloned()
        .unwrap_or_default();
    assert!(
        replays.iter().any(|r| r["part"] == "voucher"
            && r["name"]
                .as_str()
                .unwrap_or("")
                .starts_with("LoyaltyVoucherReplay_")),
        "the replay is recorded: {replays:?}"
    );
    // The history (read from DynamoDB's changes) has the outage as an
    // incident holding the 20 vouchers, recovered by the replay.
    let (code, page) = app.get_json("/api/v1/incidents?part=voucher").await;
    assert_eq!(code, 200, "{page}");
    let incidents = page["incidents"].as_array().cloned().unwrap_or_default();
    assert_eq!(incidents.len(), 1, "{page}");
    assert_eq!(incidents[0]["retries_held"], 20, "{page}");
    assert_eq!(incidents[0]["ongoing"], false, "{page}");
    assert!(
        incidents[0]["replays"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{page}"
    );
    // The circuit was decided in DynamoDB: its status item and the two
    // changes (published as SAAS_STATUS events) are there.
    let dynamo = aws_backend::DynamoStore::from_conf(&conf, aws_backend::tables::Tables::default());
    let snap = dynamo.load("voucher").await.expect("load");
    assert_eq!(snap.circuit.status, mediator_core::PartState::Up);
    let changes: Vec<String> = dynamo
        .changes_after(0, 100)
        .await
        .expect("changes")
        .into_iter()
        .filter(|c| c.part == "voucher")
        .map(|c| c.change.status.to_string())
        .collect();
    assert!(
        changes.ends_with(&["down".to_string(), "up".to_string()]),
        "{changes:?}"
    );
    // The audit log is in DynamoDB too.
    let (code, o) = app
        .post(
            "/api/v1/parts/member/override",
            &serde_json::json!({"mode": "force_closed", "reason": "audit check", "by": "ann"}),
        )
        .await;
    assert_eq!(code, 200, "{o}");
    let audit = mediator_core::storage::audit::AuditStore::newest(&dynamo, None, 10)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "override.set" && e.target.as_deref() == Some("member")),
        "{audit:?}"
    );
    eventually(10, "status changes published", || async {
        match dynamo.unpublished_changes(10).await {
            Ok(u) if u.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    app.stop().await;
}

/// Whether `c` is a periodic sweep of the voucher outbox (a plain Query of
/// an `OB#` partition, every 30 s per replica when it remembers nothing
/// unpublished): per replica and time, not per voucher.
fn outbox_sweep(c: &aws_calls::AwsCall) -> bool {
    c.op == "Query"
        && c.body["KeyConditionExpression"] == "pk = :pk"
        && c.body.get("FilterExpression").is_none()
        && c.body["ExpressionAttributeValues"][":pk"]["S"]
            .as_str()
            .is_some_and(|pk| pk.starts_with("OB#"))
}

/// The calls a voucher causes: events published, and the DataCache's tables
/// (the monitor's checks and leases, the queues' idle long polls and the
/// outbox's periodic sweep are per part or replica and time, not per
/// voucher: printed apart).
fn voucher_calls(calls: &[aws_calls::AwsCall]) -> std::collections::BTreeMap<String, usize> {
    let mut by_op = std::collections::BTreeMap::new();
    let sweeps = calls.iter().filter(|c| outbox_sweep(c)).count();
    if sweeps > 0 {
        eprintln!("(not per voucher: {sweeps} outbox sweep queries)");
    }
    for c in calls.iter().filter(|c| !outbox_sweep(c)) {
        let per_voucher = matches!(
            c.op.as_str(),
            "PutEvents" | "StartReplay" | "DeleteMessageBatch" | "ChangeMessageVisibilityBatch"
        ) || c.resource.contains("mediator-voucher");
        if per_voucher {
            let op = if c.status == 200 {
                c.op.clone()
            } else {
                format!("{} (refused: HTTP {})", c.op, c.status)
            };
            *by_op.entry(op).or_default() += 1;
        }
    }
    by_op
}

/// PutEvents calls answered 200 among `calls`.
fn puts(calls: &[aws_calls::AwsCall]) -> usize {
    calls
        .iter()
        .filter(|c| c.op == "PutEvents" && c.status == 200)
        .count()
}

/// Waits until no PutEvents call has come for a second (at most 60 s): the
/// outbox has published what it held.
async fn publications_settle(proxy: &aws_calls::CountingProxy) {
    let start = std::time::Instant::now();
    let mut last = (puts(&proxy.calls()), std::time::Instant::now());
    while last.1.elapsed() < std::time::Duration::from_secs(1) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the outbox never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = puts(&proxy.calls());
        if now != last.0 {
            last = (now, std::time::Instant::now());
        }
    }
}

/// Cost: AWS requests per voucher on the happy path (part up:
/// accept, submit, publish `submitted`) must stay within 3, under load and
/// at a trickle; the retry path (held, archived, replayed, resubmitted) is
/// measured and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_calls_per_voucher_happy_path_at_most_three() {
    let (moto, _) = provisioned_moto().await;
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let endpoint = proxy.endpoint.clone();
    let app = spawn_on_aws(endpoint).await;
    app.wait_for_part("up").await;
    // The start's status events are out before anything is counted.
    publications_settle(&proxy).await;

    // Happy path: 100 vouchers while the part is up, 10 clients at once
    // (status events then share PutEvents calls, as under load), then 10
    // one by one (a trickle: nothing to share).
    let n = 100;
    let before = proxy.calls().len();
    let posts = (0..10).map(|c| {
        let app = &app;
        async move {
            for i in 0..10 {
                let (code, body) = app
                    .post("/api/v1/vouchers", &voucher(&format!("ok-{c}-{i}")))
                    .await;
                assert_eq!(code, 202, "{body}");
                assert_eq!(body["status"], "submitted", "{body}");
            }
        }
    });
    futures_util::future::join_all(posts).await;
    // Every status event published (the outbox drains every 100 ms; on a
    // loaded machine it takes longer, and a late PutEvents must not be
    // counted as the trickle's).
    publications_settle(&proxy).await;
    let happy = voucher_calls(&proxy.calls()[before..]);
    let total: usize = happy.values().sum();
    eprintln!(
        "happy path, 10 clients: {total} AWS calls for {n} vouchers = {:.2} per voucher: {happy:?}",
        total as f64 / n as f64
    );
    assert!(
        happy.get("PutEvents").copied().unwrap_or(0) > 0,
        "status events are published: {happy:?}"
    );
    assert!(
        total <= 3 * n,
        "at most 3 AWS calls per voucher on the happy path: {happy:?}"
    );
    let before = proxy.calls().len();
    for i in 0..10 {
        let (code, body) = app
            .post("/api/v1/vouchers", &voucher(&format!("trickle-{i}")))
            .await;
        assert_eq!(code, 202, "{body}");
        // A trickle: the next voucher comes once this one's event is out.
        let want = i + 1;
        common::eventually(15, "the voucher's status event published", || {
            let published = puts(&proxy.calls()[before..]);
            async move {
                if published >= want {
                    Ok(())
                } else {
                    Err(format!("{published} PutEvents of {want}"))
                }
            }
        })
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    publications_settle(&proxy).await;
    let trickle = voucher_calls(&proxy.calls()[before..]);
    let total: usize = trickle.values().sum();
    eprintln!(
        "happy path, one voucher at a time: {total} AWS calls for 10 vouchers = {:.2} per voucher: {trickle:?}",
        total as f64 / 10.0
    );
    // Nothing to batch, yet within 3: admit, finish, PutEvents; each
    // published event's outbox delete rides on the next voucher's admit.
    assert_eq!(
        trickle.get("PutEvents").copied(),
        Some(10),
        "one PutEvents per voucher at a trickle: {trickle:?}"
    );
    assert!(
        total <= 3 * 10,
        "at most 3 AWS calls per voucher at a trickle: {trickle:?}"
    );

    // Retry path: held while down, archived, replayed, resubmitted.
    app.sim_post("/sim/parts/voucher/down").await;
    app.wait_for_part("down").await;
    let before = proxy.calls().len();
    let n = 30;
    let ids: Vec<String> = (0..n).map(|i| format!("held-{i}")).collect();
    for id in &ids {
        let (code, body) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(code, 202, "{body}");
    }
    app.sim_post("/sim/parts/voucher/up").await;
    // Watched at the simulator: the test's own reads of the vouchers would
    // be counted as the mediator's.
    eventually(60, "every held voucher accepted by the SaaS", || async {
        let accepted = app
            .submissions()
            .await
            .iter()
            .filter(|s| {
                s["loyalty_request_id"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("held-"))
            })
            .count();
        if accepted == ids.len() {
            Ok(())
        } else {
            Err(format!("{accepted} of {} accepted", ids.len()))
        }
    })
    .await;
    // The SaaS accepted them; their outcomes and events follow.
    publications_settle(&proxy).await;
    let retry = voucher_calls(&proxy.calls()[before..]);
    eventually(60, "every held voucher recorded submitted", || async {
        for id in &ids {
            let (_, v) = app.get_json(&format!("/api/v1/vouchers/{id}")).await;
            if v["status"] != "submitted" {
                return Err(format!("{id}: {v}"));
            }
        }
        Ok(())
    })
    .await;
    let total: usize = retry.values().sum();
    eprintln!(
        "retry path: {total} AWS calls for {n} vouchers = {:.2} per voucher (plus the queues' \
         long polls): {retry:?}",
        total as f64 / n as f64
    );
    assert!(retry.contains_key("StartReplay"), "{retry:?}");
    app.stop().await;
}

/// Two replicas on the same AWS resources and the same SaaS: vouchers
/// posted to either are held while the part is down; when it comes back one
/// replica (the one that claims the change) starts the recovery replay, the
/// resubmit queue is drained by both, and every voucher is accepted exactly
/// once. Both show the same circuit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_recover_an_outage_once() {
    let (moto, _) = provisioned_moto().await;
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let a = spawn_on_aws(proxy.endpoint.clone()).await;
    let b = spawn_on_aws_with(proxy.endpoint.clone(), Some(a.sim.clone())).await;
    a.wait_for_part("up").await;
    b.wait_for_part("up").await;
    a.sim_post("/sim/parts/voucher/down").await;
    a.wait_for_part("down").await;
    b.wait_for_part("down").await;
    let ids: Vec<String> = (0..20).map(|i| format!("two-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        let (code, body) = app.post("/api/v1/vouchers", &voucher(id)).await;
        assert_eq!(code, 202, "{body}");
        assert_eq!(body["status"], "retry", "held while down: {body}");
    }
    a.sim_post("/sim/parts/voucher/up").await;
    eventually(60, "every voucher resubmitted", || async {
        for id in &ids {
            // Either replica answers for every voucher: one DataCache.
            let (_, v) = b.get_json(&format!("/api/v1/vouchers/{id}")).await;
            if v["status"] != "submitted" {
                return Err(format!("{id}: {}", v["status"]));
            }
        }
        Ok(())
    })
    .await;
    let accepted = a.submissions().await;
    for id in &ids {
        let n: Vec<u64> = accepted
            .iter()
            .filter(|s| s["loyalty_request_id"] == id.as_str())
            .map(|s| s["accepted"].as_u64().unwrap())
            .collect();
        assert_eq!(n, [1], "{id} accepted exactly once");
    }
    // The replay records are shared (DynamoDB): both replicas list the same
    // single recovery replay, and the replays' progress, counted by
    // whichever replica drained each event, adds up to every voucher
    // resubmitted once.
    let listing = |app: &'static str, v: Value| -> Vec<Value> {
        v["replays"]
            .as_array()
            .unwrap_or_else(|| panic!("{app}: replays list: {v}"))
            .iter()
            .filter(|r| r["part"] == "voucher")
            .cloned()
            .collect()
    };
    let views = eventually(30, "both replicas count every resubmission", || async {
        let (_, ra) = a.get_json("/api/v1/replays").await;
        let (_, rb) = b.get_json("/api/v1/replays").await;
        let (la, lb) = (listing("a", ra), listing("b", rb));
        let resubmitted: i64 = la
            .iter()
            .map(|r| r["progress"]["resubmitted"].as_i64().unwrap_or(0))
            .sum();
        let names = |l: &[Value]| -> Vec<String> {
            l.iter()
                .map(|r| r["name"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        if names(&la) != names(&lb) {
            return Err(format!("a lists {:?}, b {:?}", names(&la), names(&lb)));
        }
        if resubmitted != ids.len() as i64 {
            return Err(format!("{resubmitted} resubmissions counted: {la:?}"));
        }
        Ok(la)
    })
    .await;
    // Only one replica polls (the lease), yet both report every check: the
    // metrics read the day roll-ups in DynamoDB.
    for (name, app) in [("a", &a), ("b", &b)] {
        let text = app.get("/metrics").await.text().await.unwrap();
        let total = |outcome: &str| -> u64 {
            let key = format!("mediator_checks_total{{part=\"voucher\",outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(key.as_str()))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name}: no {key}in {text}"))
        };
        assert!(
            total("failed") >= 2,
            "{name}: the outage's failed checks: {text}"
        );
        assert!(total("ok") >= 2, "{name}: {text}");
    }
    let recoveries: Vec<&Value> = views
        .iter()
        .filter(|r| r["trigger"] == "recovery")
        .collect();
    assert_eq!(
        recoveries.len(),
        1,
        "one recovery replay for the outage: {views:?}"
    );
    assert!(
        recoveries[0]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("LoyaltyVoucherReplay_")),
        "{views:?}"
    );
    a.stop().await;
    b.stop().await;
}

/// Sign-in is shared on AWS: a user added once with `mediator user add
/// --backend aws` signs in on one replica, and that session (and an API
/// token made on the command line) works on the other; removing the user
/// ends both everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_sessions_and_tokens_are_shared_by_replicas() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let (moto, _) = provisioned_moto().await;
    let proxy = aws_calls::CountingProxy::start(&moto.endpoint).await;
    let endpoint = proxy.endpoint.clone();
    let cli = |args: &[&str], stdin: &str| -> (bool, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediator"))
            .args(args)
            .args([
                "--backend",
                "aws",
                "--endpoint-url",
                &endpoint,
                "--region",
                "us-east-1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mediator runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let local = |endpoint: String| {
        spawn_app_with(move |a| {
            a.backend = Some(server::Backend::Aws);
            a.endpoint_url = Some(endpoint);
            a.region = Some("us-east-1".into());
            a.auth = Some(server::config::AuthMode::Local);
            // Sign-in is the subject: slow polls keep the serialized
            // DynamoDB proxy free for it.
            a.poll_interval = Some(1.0);
        })
    };
    let a = local(proxy.endpoint.clone()).await;
    let b = local(proxy.endpoint.clone()).await;
    let (ok, out) = cli(
        &["user", "add", "ann", "--role", "operator"],
        "correct horse\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &[
            "token", "add", "--user", "ann", "--role", "viewer", "--label", "grafana",
        ],
        "",
    );
    assert!(ok, "{out}");
    let token = out
        .split_whitespace()
        .find(|w| w.starts_with("mdt_"))
        .unwrap_or_else(|| panic!("a token in {out}"))
        .to_owned();

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(a.url("/login"))
        .form(&[
            ("username", "ann"),
            ("password", "correct horse"),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "signed in on a");
    let session = res
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("mediator_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie");
    let status = |app: &common::TestApp, auth: (&'static str, String)| {
        let req = client.get(app.url("/api/v1/parts")).header(auth.0, auth.1);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let cookie = ("cookie", format!("mediator_session={session}"));
    let bearer = ("authorization", format!("Bearer {token}"));
    assert_eq!(status(&b, cookie.clone()).await, 200, "a's session on b");
    assert_eq!(
        status(&b, bearer.clone()).await,
        200,
        "the CLI's token on b"
    );
    assert_eq!(
        status(&a, ("cookie", "mediator_session=forged".into())).await,
        401
    );
    let (ok, out) = cli(&["user", "remove", "ann"], "");
    assert!(ok, "{out}");
    assert_eq!(status(&a, cookie).await, 401, "session ended with its user");
    assert_eq!(status(&b, bearer).await, 401, "token removed with its user");
    a.stop().await;
    b.stop().await;
}
