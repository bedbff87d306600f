//! The backend-neutral contract suite (`bus::contract`) run against the
//! embedded bus, plus embedded-only checks (queues, resume, deliveries).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bus::contract;
use bus::types::*;
use bus::{Bus, BusConfig, Database, QueueConfig, Timestamp};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[path = "contract/aws_answers.rs"]
mod aws_answers;
#[path = "contract/schedules.rs"]
mod schedules;

struct Harness {
    bus: Bus,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    _dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.tracker.close();
    }
}

async fn harness(cfg: BusConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let bus = Bus::open(db, cfg).await.unwrap();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    bus.spawn_workers(&tracker, shutdown.clone());
    Harness {
        bus,
        shutdown,
        tracker,
        _dir: dir,
    }
}

fn fast() -> BusConfig {
    BusConfig {
        replay_poll: Duration::from_millis(50),
        delivery_poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(20),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_buses_and_rules() {
    let h = harness(fast()).await;
    contract::check_buses_and_rules(&h.bus, "c1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_put_events_and_routing() {
    let h = harness(fast()).await;
    contract::check_put_events_and_routing(&h.bus, "c2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_archive_and_replay() {
    let h = harness(fast()).await;
    contract::check_archive_and_replay(&h.bus, "c3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_through_dyn_trait() {
    let h = harness(fast()).await;
    let b: Arc<dyn contract::EventBus> = Arc::new(h.bus.clone());
    contract::check_buses_and_rules(b.as_ref(), "c4").await;
}

#[tokio::test]
async fn queue_visibility_receive_count_and_dead_letter() {
    let h = harness(fast()).await;
    let b = &h.bus;
    b.create_queue(
        "work",
        QueueConfig {
            visibility_timeout: Duration::from_millis(200),
            max_receive_count: Some(2),
            dead_letter_queue: Some("work-dlq".into()),
        },
    )
    .await
    .unwrap();
    b.send_message("work", "hello").await.unwrap();
    let m = b
        .receive_messages("work", 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((m.len(), m[0].receive_count), (1, 1));
    assert!(
        b.receive_messages("work", 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "invisible while in flight"
    );
    let m2 = b
        .receive_messages("work", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(m2[0].receive_count, 2, "visible again after the timeout");
    assert!(
        b.delete_message("work", &m[0].receipt_handle)
            .await
            .is_err(),
        "old receipt is stale"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        b.receive_messages("work", 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "moved to the DLQ after 2 receives"
    );
    let d = b
        .receive_messages(
            "arn:aws:sqs:us-east-1:000000000000:work-dlq",
            10,
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(d[0].body, "hello");
    b.delete_message("work-dlq", &d[0].receipt_handle)
        .await
        .unwrap();
    assert_eq!(b.queue_depth("work-dlq").await.unwrap().visible, 0);
}

async fn archive_with_events(b: &Bus, n: i64, base: i64) -> String {
    b.create_archive(CreateArchiveRequest {
        archive_name: "a".into(),
        event_source_arn: b.bus_arn("default"),
        retention_days: Some(0),
        ..Default::default()
    })
    .await
    .unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|i| PutEventsRequestEntry {
                time: Some(Timestamp(base + i * 1000)),
                source: Some("src".into()),
                detail_type: Some("t".into()),
                detail: Some(format!(r#"{{"i": {i}}}"#)),
                ..Default::default()
            })
            .collect();
        let r = b
            .put_events(PutEventsRequest {
                entries,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(r.failed_entry_count, 0);
    }
    let q = b
        .create_queue("replayed", QueueConfig::default())
        .await
        .unwrap();
    b.put_rule(PutRuleRequest {
        name: "r".into(),
        event_pattern: Some(r#"{"replay-name": [{"exists": true}]}"#.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    b.put_targets(PutTargetsRequest {
        rule: "r".into(),
        targets: vec![Target {
            id: "q".into(),
            arn: q.clone(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    q
}

/// A replay stepped by hand: cursor, slices, and resume after a "restart"
/// (a second Bus on the same database) without duplicates.
#[tokio::test]
async fn replay_steps_advance_in_slices_and_resume_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let base = 1_700_000_000_000 / 60_000 * 60_000;
    let cfg = BusConfig {
        replay_chunk: 50,
        ..Default::default()
    };
    {
        let b = Bus::open(Database::open(dir.path()).unwrap(), cfg.clone())
            .await
            .unwrap();
        archive_with_events(&b, 300, base).await; // 5 minutes of events, 1 per second
        assert_eq!(
            b.count_archive_events("a", Timestamp(base + 60_000), Timestamp(base + 120_000))
                .await
                .unwrap(),
            60
        );
        assert_eq!(
            b.describe_archive("a").await.unwrap().event_count,
            Some(300)
        );
        b.start_replay(StartReplayRequest {
            replay_name: "r1".into(),
            event_source_arn: b.archive_arn("a"),
            event_start_time: Some(Timestamp(base + 30_000)),
            event_end_time: Some(Timestamp(base + 270_000)),
            destination: ReplayDestination {
                arn: b.bus_arn("default"),
                filter_arns: None,
            },
            ..Default::default()
        })
        .await
        .unwrap();
        for _ in 0..2 {
            assert_eq!(
                b.replay_step("r1").await.unwrap(),
                bus::ReplayProgress::Running
            );
        }
        let r = b.describe_replay("r1").await.unwrap();
        assert_eq!(r.state, "RUNNING");
        assert_eq!(
            r.event_last_replayed_time,
            Some(Timestamp(base + 90_000)),
            "100 events from +30s: the slice [30s, 90s) is done"
        );
    }
    let b = Bus::open(Database::open(dir.path()).unwrap(), cfg)
        .await
        .unwrap();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    b.spawn_workers(&tracker, stop.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while b.describe_replay("r1").await.unwrap().state != "COMPLETED" {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = Vec::new();
    loop {
        let m = b
            .receive_messages("replayed", 1000, Duration::ZERO)
            .await
            .unwrap();
        if m.is_empty() {
            break;
        }
        for x in &m {
            let v: serde_json::Value = serde_json::from_str(&x.body).unwrap();
            assert_eq!(v["replay-name"], "r1");
            seen.push(v["detail"]["i"].as_i64().unwrap());
        }
        b.delete_messages(
            "replayed",
            m.into_iter().map(|x| x.receipt_handle).collect(),
        )
        .await
        .unwrap();
    }
    seen.sort();
    assert_eq!(
        seen,
        (30..270).collect::<Vec<_>>(),
        "every in-window event exactly once across the restart"
    );
    assert_eq!(
        b.describe_archive("a").await.unwrap().event_count,
        Some(300),
        "not re-archived"
    );
    stop.cancel();
}

#[tokio::test]
async fn archive_update_delete_and_retention() {
    let h = harness(fast()).await;
    let b = &h.bus;
    let old = Timestamp::now().0 - 3 * 86_400_000;
    archive_with_events(b, 10, old).await;
    b.update_archive(UpdateArchiveRequest {
        archive_name: "a".into(),
        event_pattern: Some(r#"{"source": ["other"]}"#.into()),
        retention_days: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = |src: &str| PutEventsRequestEntry {
        source: Some(src.into()),
        detail_type: Some("t".into()),
        detail: Some("{}".into()),
        ..Default::default()
    };
    b.put_events(PutEventsRequest {
        entries: vec![e("src"), e("other")],
        ..Default::default()
    })
    .await
    .unwrap();
    let a = b.describe_archive("a").await.unwrap();
    assert_eq!(
        a.event_count,
        Some(11),
        "the new pattern is in effect at once"
    );
    assert_eq!(b.retention_step().await.unwrap(), 10);
    assert_eq!(b.describe_archive("a").await.unwrap().event_count, Some(1));
    let rules = b.list_rules(ListRequest::default()).await.unwrap().rules;
    assert!(rules
        .iter()
        .any(|r| r.name == "Events-Archive-a" && r.managed_by.is_some()));
    assert_eq!(
        b.delete_rule("Events-Archive-a", None, false)
            .await
            .unwrap_err()
            .code(),
        "ManagedRuleException"
    );
    b.delete_archive("a").await.unwrap();
    assert_eq!(
        b.describe_archive("a").await.unwrap_err().code(),
        "ResourceNotFoundException"
    );
    assert!(!b
        .list_rules(ListRequest::default())
        .await
        .unwrap()
        .rules
        .iter()
        .any(|r| r.name == "Events-Archive-a"));
}

#[tokio::test]
async fn in_process_consumer_retries_then_dead_letters() {
    let h = harness(fast()).await;
    let b = &h.bus;
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    b.register_consumer("flaky", move |body: String| {
        let c = c2.clone();
        async move {
            assert!(body.contains("\"detail\""));
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                Err("not yet".to_string())
            } else {
                Ok(())
            }
        }
    });
    b.put_rule(PutRuleRequest {
        name: "r".into(),
        event_pattern: Some(r#"{"source": ["s"]}"#.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let targets = vec![
        Target {
            id: "ok".into(),
            arn: b.consumer_arn("flaky"),
            ..Default::default()
        },
        Target {
            id: "never".into(),
            arn: b.consumer_arn("missing"),
            retry_policy: Some(RetryPolicy {
                maximum_retry_attempts: Some(1),
                maximum_event_age_in_seconds: None,
            }),
            dead_letter_config: Some(DeadLetterConfig {
                arn: Some(b.queue_arn("dlq")),
            }),
            ..Default::default()
        },
    ];
    assert_eq!(
        b.put_targets(PutTargetsRequest {
            rule: "r".into(),
            targets,
            ..Default::default()
        })
        .await
        .unwrap()
        .failed_entry_count,
        0
    );
    let e = PutEventsRequestEntry {
        source: Some("s".into()),
        detail_type: Some("t".into()),
        detail: Some("{}".into()),
        ..Default::default()
    };
    b.put_events(PutEventsRequest {
        entries: vec![e],
        ..Default::default()
    })
    .await
    .unwrap();
    let dead = b
        .receive_messages("dlq", 10, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer retried until it succeeded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn http_target_through_api_destination() {
    use axum::routing::post;
    // The receiver is on 127.0.0.1: allowed explicitly.
    let h = harness(BusConfig {
        allow_private_destinations: true,
        ..fast()
    })
    .await;
    let b = &h.bus;
    let hits = Arc::new(std::sync::Mutex::new(Vec::<(Option<String>, String)>::new()));
    let fails = Arc::new(AtomicUsize::new(0));
    let (h2, f2) = (hits.clone(), fails.clone());
    let app = axum::Router::new().route(
        "/hook/{id}",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let (h, f) = (h2.clone(), f2.clone());
            async move {
                if f.fetch_add(1, Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                h.lock().unwrap().push((
                    headers
                        .get("x-api-key")
                        .map(|v| v.to_str().unwrap().to_string()),
                    body,
                ));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let conn = b
        .create_connection(CreateConnectionRequest {
            name: "saas".into(),
            authorization_type: "API_KEY".into(),
            auth_parameters: ConnectionAuthParameters {
                api_key_auth_parameters: Some(ApiKeyAuthParameters {
                    api_key_name: Some("x-api-key".into()),
                    api_key_value: Some("secret".into()),
                }),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(conn.connection_arn.contains(":connection/saas/"));
    let described = b.describe_connection("saas").await.unwrap();
    assert_eq!(
        described
            .auth_parameters
            .unwrap()
            .api_key_auth_parameters
            .unwrap()
            .api_key_value,
        None,
        "secrets never returned"
    );
    let dest = b
        .create_api_destination(CreateApiDestinationRequest {
            name: "hook".into(),
            connection_arn: conn.connection_arn.clone(),
            invocation_endpoint: format!("http://{addr}/hook/*"),
            http_method: "POST".into(),
            invocation_rate_limit_per_second: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    b.put_rule(PutRuleRequest {
        name: "r".into(),
        event_pattern: Some(r#"{"source": ["s"]}"#.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let t = Target {
        id: "http".into(),
        arn: dest.api_destination_arn.clone(),
        http_parameters: Some(HttpParameters {
            path_parameter_values: Some(vec!["42".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    b.put_targets(PutTargetsRequest {
        rule: "r".into(),
        targets: vec![t],
        ..Default::default()
    })
    .await
    .unwrap();
    let e = PutEventsRequestEntry {
        source: Some("s".into()),
        detail_type: Some("t".into()),
        detail: Some(r#"{"k": 1}"#.into()),
        ..Default::default()
    };
    b.put_events(PutEventsRequest {
        entries: vec![e],
        ..Default::default()
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hits.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "HTTP target never reached"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (key, body) = hits.lock().unwrap()[0].clone();
    assert_eq!(key.as_deref(), Some("secret"));
    assert!(
        body.contains(r#""detail":{"k": 1}"#) || body.contains(r#""k": 1"#),
        "{body}"
    );
    assert_eq!(
        fails.load(Ordering::SeqCst),
        2,
        "one 503, then retried once"
    );
}

/// A connection and a rule `r` (source `s`) whose one target calls `dest`
/// with `path` as its path parameter and dead-letters to queue `dlq` at
/// once; returns after the event is put.
async fn put_through_destination(b: &Bus, dest: &str, path: &str) {
    b.put_rule(PutRuleRequest {
        name: "r".into(),
        event_pattern: Some(r#"{"source": ["s"]}"#.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let t = Target {
        id: "http".into(),
        arn: dest.into(),
        http_parameters: Some(HttpParameters {
            path_parameter_values: Some(vec![path.into()]),
            ..Default::default()
        }),
        retry_policy: Some(RetryPolicy {
            maximum_retry_attempts: Some(0),
            ..Default::default()
        }),
        dead_letter_config: Some(DeadLetterConfig {
            arn: Some(b.queue_arn("dlq")),
        }),
        ..Default::default()
    };
    b.put_targets(PutTargetsRequest {
        rule: "r".into(),
        targets: vec![t],
        ..Default::default()
    })
    .await
    .unwrap();
    let e = PutEventsRequestEntry {
        source: Some("s".into()),
        detail_type: Some("t".into()),
        detail: Some("{}".into()),
        ..Default::default()
    };
    b.put_events(PutEventsRequest {
        entries: vec![e],
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn connection(b: &Bus) -> String {
    b.create_connection(CreateConnectionRequest {
        name: "c".into(),
        authorization_type: "API_KEY".into(),
        auth_parameters: ConnectionAuthParameters {
            api_key_auth_parameters: Some(ApiKeyAuthParameters {
                api_key_name: Some("x-api-key".into()),
                api_key_value: Some("secret".into()),
            }),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap()
    .connection_arn
}

/// An API destination `name` on connection `c` to every path of `addr`
/// (POST); its ARN.
async fn destination_to(b: &Bus, name: &str, addr: std::net::SocketAddr) -> String {
    let conn = connection(b).await;
    b.create_api_destination(CreateApiDestinationRequest {
        name: name.into(),
        connection_arn: conn,
        invocation_endpoint: format!("http://{addr}/*"),
        http_method: "POST".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .api_destination_arn
}

/// A local HTTP server counting calls per path; `/moved` redirects to `/landed`.
async fn counting_server() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    let hits = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let h = h.clone();
        async move {
            h.lock().unwrap().push(uri.path().to_string());
            if uri.path() == "/moved" {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [("location", "/landed")],
                )
                    .into_response()
            } else {
                "ok".into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

use axum::response::IntoResponse;

#[tokio::test]
async fn api_destinations_refuse_private_hosts_unless_allowed() {
    let h = harness(fast()).await;
    let b = &h.bus;
    let conn = connection(b).await;
    for endpoint in [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.0.1/",
    ] {
        let err = b
            .create_api_destination(CreateApiDestinationRequest {
                name: "d".into(),
                connection_arn: conn.clone(),
                invocation_endpoint: endpoint.into(),
                http_method: "POST".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ValidationException", "{endpoint}");
        assert!(
            err.message().contains("events_allow_private_destinations"),
            "{endpoint}: {err}"
        );
    }

    // A `*` in the host, filled by the target's path parameter at delivery
    // time, is checked then: the local server is never called.
    let (addr, hits) = counting_server().await;
    let dest = b
        .create_api_destination(CreateApiDestinationRequest {
            name: "wild".into(),
            connection_arn: conn.clone(),
            invocation_endpoint: "http://*/hook".into(),
            http_method: "POST".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    put_through_destination(b, &dest.api_destination_arn, &addr.to_string()).await;
    let m = b
        .receive_messages("dlq", 10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(m.len(), 1, "dead-lettered at once (not retried)");
    assert!(
        hits.lock().unwrap().is_empty(),
        "{:?}",
        hits.lock().unwrap()
    );

    // Allowed explicitly, the same local endpoint is created.
    let open = harness(BusConfig {
        allow_private_destinations: true,
        ..fast()
    })
    .await;
    let conn = connection(&open.bus).await;
    open.bus
        .create_api_destination(CreateApiDestinationRequest {
            name: "d".into(),
            connection_arn: conn,
            invocation_endpoint: format!("http://{addr}/x"),
            http_method: "POST".into(),
            ..Default::default()
        })
        .await
        .expect("allowed by the setting");
}

#[tokio::test]
async fn api_destinations_do_not_follow_redirects() {
    let h = harness(BusConfig {
        allow_private_destinations: true,
        ..fast()
    })
    .await;
    let b = &h.bus;
    let (addr, hits) = counting_server().await;
    let dest = destination_to(b, "moved", addr).await;
    put_through_destination(b, &dest, "moved").await;
    let m = b
        .receive_messages("dlq", 10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(m.len(), 1, "a redirect is a failed call");
    assert_eq!(
        *hits.lock().unwrap(),
        ["/moved"],
        "the redirect is not followed"
    );
}

#[tokio::test]
async fn input_and_input_path_shape_the_payload() {
    let h = harness(fast()).await;
    let b = &h.bus;
    b.put_rule(PutRuleRequest {
        name: "r".into(),
        event_pattern: Some(r#"{"source": ["s"]}"#.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let targets = vec![
        Target {
            id: "path".into(),
            arn: b.queue_arn("by-path"),
            input_path: Some("$.detail.data".into()),
            ..Default::default()
        },
        Target {
            id: "const".into(),
            arn: b.queue_arn("by-input"),
            input: Some(r#"{"fixed": true}"#.into()),
            ..Default::default()
        },
        Target {
            id: "bad".into(),
            arn: b.queue_arn("x"),
            input_path: Some("$.a[0]".into()),
            ..Default::default()
        },
    ];
    let res = b
        .put_targets(PutTargetsRequest {
            rule: "r".into(),
            targets,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(res.failed_entry_count, 1);
    assert_eq!(res.failed_entries[0].target_id, "bad");
    let e = PutEventsRequestEntry {
        source: Some("s".into()),
        detail_type: Some("t".into()),
        detail: Some(r#"{"data": {"k": 1}}"#.into()),
        ..Default::default()
    };
    b.put_events(PutEventsRequest {
        entries: vec![e],
        ..Default::default()
    })
    .await
    .unwrap();
    let m = b
        .receive_messages("by-path", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(m[0].body, r#"{"k":1}"#);
    let m = b
        .receive_messages("by-input", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(m[0].body, r#"{"fixed": true}"#);
}

/// The console's archive browser: the event-time range, and windowed pages
/// ordered by (event time, seq) that chain without gaps or repeats.
#[tokio::test]
async fn archived_events_are_browsed_by_window_in_keyset_pages() {
    let dir = tempfile::tempdir().unwrap();
    let base = 1_700_000_000_000 / 60_000 * 60_000;
    let b = Bus::open(Database::open(dir.path()).unwrap(), BusConfig::default())
        .await
        .unwrap();
    archive_with_events(&b, 30, base).await;
    assert_eq!(
        b.archive_time_range("a").await.unwrap(),
        (Some(Timestamp(base)), Some(Timestamp(base + 29_000)))
    );
    let (start, end) = (
        Some(Timestamp(base + 5_000)),
        Some(Timestamp(base + 25_000)),
    );
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = b.archived_events("a", start, end, after, 7).await.unwrap();
        for (seq, t, body) in &page {
            let e: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(base + e["detail"]["i"].as_i64().unwrap() * 1000, t.0);
            after = Some((t.0, *seq));
        }
        seen.extend(page.iter().map(|(_, t, _)| (t.0 - base) / 1000));
        if page.len() < 7 {
            break;
        }
    }
    assert_eq!(seen, (5..25).collect::<Vec<_>>());
    assert!(b
        .archived_events("missing", None, None, None, 5)
        .await
        .is_err());
}
