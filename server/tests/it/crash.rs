//! Crash safety of the embedded EventBridge: the real `mediator` binary is
//! killed with SIGKILL during ingest and during a replay, then restarted on
//! the same data directory. Every acknowledged event must be archived, and
//! every acknowledged in-window event delivered (to an HTTP API destination
//! served by this test) at least once, none from outside the window.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{
    ApiDestinationHttpMethod, ConnectionAuthorizationType,
    CreateConnectionApiKeyAuthRequestParameters, CreateConnectionAuthRequestParameters,
    PutEventsRequestEntry, ReplayDestination, ReplayState, Target,
};
use aws_sdk_eventbridge::Client;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data: &Path, events_port: u16, slow_replay: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mediator"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--events-listen")
        .arg(format!("127.0.0.1:{events_port}"))
        .arg("--sim-listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data)
        .arg("--site-root")
        .arg(data.join("site"))
        .args(["--auth", "none"])
        // The test's HTTP receiver is on 127.0.0.1.
        .arg("--events-allow-private-destinations")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if slow_replay {
        cmd.env("MEDIATOR_EVENTS_REPLAY_CHUNK", "100")
            .env("MEDIATOR_EVENTS_REPLAY_DELAY_MS", "100");
    }
    cmd.spawn().expect("start mediator")
}

async fn client(port: u16) -> Client {
    let c = crate::common::eventbridge_client(&format!("http://127.0.0.1:{port}"), "test", "test")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while c.list_event_buses().send().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mediator did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c
}

fn kill(child: &mut Child) {
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().unwrap();
}

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

async fn receiver() -> (SocketAddr, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(serde_json::from_str(&body).unwrap());
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_and_replay_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let (recv_addr, received) = receiver().await;

    // --- setup -------------------------------------------------------------
    let mut child = start(&data, port, false);
    let c = client(port).await;
    let bus_arn = "arn:aws:events:us-east-1:000000000000:event-bus/default";
    let archive_arn = c
        .create_archive()
        .archive_name("crash")
        .event_source_arn(bus_arn)
        .event_pattern(r#"{"source": ["crash.test"]}"#)
        .send()
        .await
        .unwrap()
        .archive_arn
        .unwrap();
    let conn = c
        .create_connection()
        .name("recv")
        .authorization_type(ConnectionAuthorizationType::ApiKey)
        .auth_parameters(
            CreateConnectionAuthRequestParameters::builder()
                .api_key_auth_parameters(
                    CreateConnectionApiKeyAuthRequestParameters::builder()
                        .api_key_name("x-key")
                        .api_key_value("v")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dest = c
        .create_api_destination()
        .name("recv")
        .connection_arn(conn.connection_arn().unwrap())
        .invocation_endpoint(format!("http://{recv_addr}/events"))
        .http_method(ApiDestinationHttpMethod::Post)
        .invocation_rate_limit_per_second(5000)
        .send()
        .await
        .unwrap();
    c.put_rule()
        .name("replayed")
        .event_pattern(r#"{"source": ["crash.test"], "replay-name": [{"exists": true}]}"#)
        .send()
        .await
        .unwrap();
    let t = Target::builder()
        .id("http")
        .arn(dest.api_destination_arn().unwrap())
        .build()
        .unwrap();
    c.put_targets()
        .rule("replayed")
        .targets(t)
        .send()
        .await
        .unwrap();

    // --- phase 1: ingest from 8 concurrent writers, SIGKILL mid-stream ---------------
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now_ms / 60_000 - 120) * 60_000;
    let acked: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8i64 {
        let (c, acked) = (c.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for batch in 0i64.. {
                let entries: Vec<_> = (0..10i64)
                    .map(|k| {
                        let i = (batch * 10 + k) * 8 + w;
                        PutEventsRequestEntry::builder()
                            .source("crash.test")
                            .detail_type("t")
                            .detail(format!(r#"{{"i": {i}}}"#))
                            .time(DateTime::from_millis(base + i * 20))
                            .build()
                    })
                    .collect();
                let times: Vec<i64> = (0..10i64)
                    .map(|k| base + ((batch * 10 + k) * 8 + w) * 20)
                    .collect();
                match c.put_events().set_entries(Some(entries)).send().await {
                    Ok(r) => {
                        let mut a = acked.lock().unwrap();
                        for (e, t) in r.entries().iter().zip(times) {
                            a.insert(e.event_id().expect("accepted").to_string(), t);
                        }
                    }
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill(&mut child);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 500,
        "too few events acknowledged before the kill: {}",
        acked.len()
    );

    // --- phase 2: restart, replay half the span slowly, SIGKILL mid-replay --------------
    let mut child = start(&data, port, true);
    let c = client(port).await;
    let archived = c
        .describe_archive()
        .archive_name("crash")
        .send()
        .await
        .unwrap()
        .event_count();
    assert!(
        archived >= acked.len() as i64,
        "archived {archived} < acknowledged {}",
        acked.len()
    );
    let (lo, hi) = (
        acked.values().min().copied().unwrap(),
        acked.values().max().copied().unwrap(),
    );
    let window = (lo + (hi - lo) / 4, lo + 3 * (hi - lo) / 4);
    c.start_replay()
        .replay_name("crash-replay")
        .event_source_arn(&archive_arn)
        .event_start_time(DateTime::from_millis(window.0))
        .event_end_time(DateTime::from_millis(window.1))
        .destination(ReplayDestination::builder().arn(bus_arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = c
            .describe_replay()
            .replay_name("crash-replay")
            .send()
            .await
            .unwrap();
        assert_ne!(
            r.state(),
            Some(&ReplayState::Completed),
            "the replay finished before it could be interrupted"
        );
        if r.state() == Some(&ReplayState::Running) && !received.lock().unwrap().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill(&mut child);
    let before_restart = received.lock().unwrap().len();

    // --- phase 3: restart at full speed; the replay resumes and completes ------------------
    let mut child = start(&data, port, false);
    let c = client(port).await;
    let expected: HashSet<String> = acked
        .iter()
        .filter(|(_, t)| **t >= window.0 && **t < window.1)
        .map(|(id, _)| id.clone())
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = c
            .describe_replay()
            .replay_name("crash-replay")
            .send()
            .await
            .unwrap();
        let seen: HashSet<String> = received
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        if r.state() == Some(&ReplayState::Completed) && expected.is_subset(&seen) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state {:?}, {} of {} in-window events delivered",
            r.state(),
            expected.iter().filter(|id| seen.contains(*id)).count(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received.lock().unwrap().clone();
    for e in &got {
        assert_eq!(e["replay-name"], "crash-replay");
        let t = match acked.get(e["id"].as_str().unwrap()) {
            Some(t) => *t,
            // Committed but never acknowledged (the reply was lost in the kill): the
            // envelope's time has second precision.
            None => chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
                .max(window.0),
        };
        assert!(
            t >= window.0 && t < window.1,
            "event outside the window delivered: {e}"
        );
    }
    println!(
        "acknowledged {}, archived {archived}, in window {}, delivered {} ({} before the replay crash)",
        acked.len(),
        expected.len(),
        got.len(),
        before_restart
    );
    kill(&mut child);

    // Every acknowledged event is in the archive.
    let db = store::Database::open(&data).unwrap();
    let bodies: Vec<Vec<u8>> = db
        .read(|c| {
            c.prepare("SELECT body FROM eb_archive_events")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
        .await
        .unwrap();
    let archived_ids: HashSet<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let missing = acked
        .keys()
        .filter(|id| !archived_ids.contains(*id))
        .count();
    assert_eq!(missing, 0, "acknowledged events missing from the archive");
}
