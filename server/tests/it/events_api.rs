//! Drives the embedded EventBridge's wire API with aws-sdk-eventbridge, as an
//! application would against AWS: buses, rules, targets, connections, API
//! destinations, and a whole archive → replay cycle (window, FilterArns, a
//! disabled rule, cancel).

use std::time::{Duration, SystemTime};

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{
    ApiDestinationHttpMethod, ConnectionAuthorizationType,
    CreateConnectionApiKeyAuthRequestParameters, CreateConnectionAuthRequestParameters,
    PutEventsRequestEntry, ReplayDestination, ReplayState, RuleState, Target,
};
use aws_sdk_eventbridge::Client;
use server::{Application, Settings};
use tokio_util::sync::CancellationToken;

mod aws_answers;
mod regions;
mod scheduled_rules;
mod sqs;

struct TestApp {
    client: Client,
    /// `http://ADDR` of the EventBridge (and SQS) listener.
    endpoint: String,
    bus: bus::Bus,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    spawn_app_in(tempfile::tempdir().unwrap()).await
}

/// The application on the data directory `data` (kept by the app).
async fn spawn_app_in(data: tempfile::TempDir) -> TestApp {
    let settings = Settings::resolve(server::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        events_listen: Some("127.0.0.1:0".parse().unwrap()),
        sim_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(data.path().join("data")),
        site_root: Some(data.path().join("site")),
        ..Default::default()
    })
    .unwrap();
    let app = Application::build(settings).await.expect("build");
    let endpoint = format!(
        "http://{}",
        app.events_addr().expect("the embedded bus runs by default")
    );
    let bus = app.bus().expect("embedded").clone();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    TestApp {
        client: sdk_client(&endpoint).await,
        endpoint,
        bus,
        shutdown,
        handle,
        _data: data,
    }
}

impl TestApp {
    /// Stops the application and hands back its data directory.
    async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
        self._data
    }
}

/// A client as any application builds one: region, static credentials, endpoint.
pub async fn sdk_client(endpoint: &str) -> Client {
    crate::common::eventbridge_client(endpoint, "test", "test").await
}

/// Waits (up to 20 s) until replay `name` is COMPLETED; its description.
pub async fn replay_completed(
    c: &Client,
    name: &str,
) -> aws_sdk_eventbridge::operation::describe_replay::DescribeReplayOutput {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.describe_replay().replay_name(name).send().await.unwrap();
        if r.state() == Some(&ReplayState::Completed) {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A replay's destination: the bus `arn`, every rule.
pub fn to_bus(arn: &str) -> ReplayDestination {
    ReplayDestination::builder().arn(arn).build().unwrap()
}

fn secs(ms: i64) -> DateTime {
    DateTime::from_millis(ms)
}

async fn drain(bus: &bus::Bus, queue: &str, patience: Duration) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut out = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let m = bus
            .receive_messages(queue, 100, Duration::from_millis(300))
            .await
            .unwrap();
        for x in &m {
            out.push(serde_json::from_str(&x.body).unwrap());
        }
        bus.delete_messages(queue, m.into_iter().map(|x| x.receipt_handle).collect())
            .await
            .unwrap();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_control_plane_and_errors() {
    let app = spawn_app().await;
    let c = &app.client;

    let r = c
        .test_event_pattern()
        .event_pattern(r#"{"source": ["a"]}"#)
        .event(r#"{"id":"1","account":"1","source":"a","time":"2024-01-01T00:00:00Z","region":"r","detail-type":"d","resources":[],"detail":{}}"#)
        .send()
        .await
        .unwrap();
    assert!(r.result());
    let err = c
        .test_event_pattern()
        .event_pattern(r#"{"source": []}"#)
        .event("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().meta().code(),
        Some("ValidationException")
    );

    let arn = c
        .create_event_bus()
        .name("sdk-bus")
        .send()
        .await
        .unwrap()
        .event_bus_arn
        .unwrap();
    assert_eq!(
        arn,
        "arn:aws:events:us-east-1:000000000000:event-bus/sdk-bus"
    );
    let err = c
        .create_event_bus()
        .name("sdk-bus")
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .is_resource_already_exists_exception());
    let d = c.describe_event_bus().name("sdk-bus").send().await.unwrap();
    assert_eq!(d.arn(), Some(arn.as_str()));
    assert!(d.creation_time().is_some());
    let names: Vec<_> = c
        .list_event_buses()
        .send()
        .await
        .unwrap()
        .event_buses()
        .iter()
        .map(|b| b.name().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["default", "loyalty-bus", "sdk-bus"],
        "the mediator provisions loyalty-bus"
    );

    let rule_arn = c
        .put_rule()
        .name("retry")
        .event_bus_name("sdk-bus")
        .event_pattern(r#"{"detail": {"status": ["retry"]}}"#)
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    assert_eq!(
        rule_arn,
        "arn:aws:events:us-east-1:000000000000:rule/sdk-bus/retry"
    );
    let err = c
        .put_rule()
        .name("bad")
        .event_pattern(r#"{"a": []}"#)
        .send()
        .await
        .unwrap_err();
    let se = err.into_service_error();
    assert!(se.is_invalid_event_pattern_exception(), "{se:?}");
    assert_eq!(
        se.meta().message(),
        Some(
            "Event pattern is not valid. Reason: Empty arrays are not allowed\n at [Source: (String)\"{\"a\": []}\"; line: 1, column: 9]"
        )
    );
    let err = c.describe_rule().name("nope").send().await.unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    c.disable_rule()
        .name("retry")
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_rule()
        .name("retry")
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap();
    assert_eq!(d.state(), Some(&RuleState::Disabled));
    c.enable_rule()
        .name("retry")
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap();
    let rules = c
        .list_rules()
        .event_bus_name("sdk-bus")
        .name_prefix("re")
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 1);

    let t = Target::builder()
        .id("q")
        .arn("arn:aws:sqs:us-east-1:000000000000:retry-q")
        .build()
        .unwrap();
    let put = c
        .put_targets()
        .rule("retry")
        .event_bus_name("sdk-bus")
        .targets(t)
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);
    let listed = c
        .list_targets_by_rule()
        .rule("retry")
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.targets()[0].arn(),
        "arn:aws:sqs:us-east-1:000000000000:retry-q"
    );
    let err = c
        .delete_rule()
        .name("retry")
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().meta().code(),
        Some("ValidationException")
    );

    // PutEvents: per-entry errors and FailedEntryCount.
    let good = PutEventsRequestEntry::builder()
        .source("m")
        .detail_type("t")
        .detail(r#"{"status": "retry"}"#)
        .event_bus_name("sdk-bus")
        .build();
    let bad = PutEventsRequestEntry::builder()
        .source("m")
        .detail_type("t")
        .detail("not json")
        .build();
    let res = c
        .put_events()
        .entries(good)
        .entries(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.failed_entry_count(), 1);
    assert!(res.entries()[0].event_id().is_some());
    assert_eq!(res.entries()[1].error_code(), Some("MalformedDetail"));
    let got = drain(&app.bus, "retry-q", Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["detail"]["status"], "retry");
    let too_many = (0..11).map(|_| {
        PutEventsRequestEntry::builder()
            .source("m")
            .detail_type("t")
            .detail("{}")
            .build()
    });
    let err = c
        .put_events()
        .set_entries(Some(too_many.collect()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().meta().code(),
        Some("ValidationException")
    );

    // Connections and API destinations.
    let conn = c
        .create_connection()
        .name("saas")
        .authorization_type(ConnectionAuthorizationType::ApiKey)
        .auth_parameters(
            CreateConnectionAuthRequestParameters::builder()
                .api_key_auth_parameters(
                    CreateConnectionApiKeyAuthRequestParameters::builder()
                        .api_key_name("x-api-key")
                        .api_key_value("s3cret")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let conn_arn = conn.connection_arn().unwrap().to_string();
    assert!(conn_arn.starts_with("arn:aws:events:us-east-1:000000000000:connection/saas/"));
    let dc = c.describe_connection().name("saas").send().await.unwrap();
    assert_eq!(
        dc.auth_parameters()
            .unwrap()
            .api_key_auth_parameters()
            .unwrap()
            .api_key_name(),
        Some("x-api-key")
    );
    assert_eq!(
        c.list_connections()
            .send()
            .await
            .unwrap()
            .connections()
            .len(),
        1
    );
    let dest = c
        .create_api_destination()
        .name("saas-submit")
        .connection_arn(&conn_arn)
        .invocation_endpoint("https://saas.example/submit")
        .http_method(ApiDestinationHttpMethod::Post)
        .invocation_rate_limit_per_second(10)
        .send()
        .await
        .unwrap();
    assert!(dest
        .api_destination_arn()
        .unwrap()
        .contains(":api-destination/saas-submit/"));
    let dd = c
        .describe_api_destination()
        .name("saas-submit")
        .send()
        .await
        .unwrap();
    assert_eq!(dd.invocation_rate_limit_per_second(), Some(10));
    assert_eq!(
        c.list_api_destinations()
            .send()
            .await
            .unwrap()
            .api_destinations()
            .len(),
        1
    );
    c.delete_api_destination()
        .name("saas-submit")
        .send()
        .await
        .unwrap();
    c.delete_connection().name("saas").send().await.unwrap();
    let err = c
        .describe_connection()
        .name("saas")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_archive_replay_cycle() {
    let app = spawn_app().await;
    let c = &app.client;
    let bus_arn = c
        .create_event_bus()
        .name("sdk-bus")
        .send()
        .await
        .unwrap()
        .event_bus_arn
        .unwrap();
    let archive = c
        .create_archive()
        .archive_name("SdkVoucherArchive")
        .event_source_arn(&bus_arn)
        .event_pattern(r#"{"detail": {"metadata": {"type": ["voucher"], "status": ["retry"]}}}"#)
        .retention_days(10)
        .description("Archive for vouchers to be resubmitted")
        .send()
        .await
        .unwrap();
    let archive_arn = archive.archive_arn().unwrap().to_string();
    assert_eq!(
        archive_arn,
        "arn:aws:events:us-east-1:000000000000:archive/SdkVoucherArchive"
    );

    let mut rule_arns = Vec::new();
    for (name, pattern, enabled, queue) in [
        (
            "resubmit",
            r#"{"detail": {"metadata": {"type": ["voucher"]}}, "replay-name": [{"prefix": "LoyaltyVoucherReplay"}]}"#,
            true,
            "resubmit-q",
        ),
        (
            "audit",
            r#"{"replay-name": [{"exists": true}]}"#,
            true,
            "audit-q",
        ),
        (
            "paused",
            r#"{"detail": {"metadata": {"type": ["voucher"]}}}"#,
            false,
            "paused-q",
        ),
    ] {
        let state = if enabled {
            RuleState::Enabled
        } else {
            RuleState::Disabled
        };
        let arn = c
            .put_rule()
            .name(name)
            .event_bus_name("sdk-bus")
            .event_pattern(pattern)
            .state(state)
            .send()
            .await
            .unwrap()
            .rule_arn
            .unwrap();
        let t = Target::builder()
            .id("q")
            .arn(format!("arn:aws:sqs:us-east-1:000000000000:{queue}"))
            .build()
            .unwrap();
        c.put_targets()
            .rule(name)
            .event_bus_name("sdk-bus")
            .targets(t)
            .send()
            .await
            .unwrap();
        rule_arns.push(arn);
    }
    let names: Vec<_> = c
        .list_rules()
        .event_bus_name("sdk-bus")
        .send()
        .await
        .unwrap()
        .rules()
        .iter()
        .map(|r| r.name().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"Events-Archive-SdkVoucherArchive".to_string()),
        "{names:?}"
    );

    // Outage window: minutes [0, 10) of an hour ago; events at -3, 1, 4, 9, 12 minutes.
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now_ms / 60_000 - 60) * 60_000;
    for (i, min) in [-3i64, 1, 4, 9, 12].into_iter().enumerate() {
        let detail = format!(
            r#"{{"metadata": {{"type": "voucher", "status": "retry"}}, "data": {{"n": {i}}}}}"#
        );
        let e = PutEventsRequestEntry::builder()
            .time(secs(base + min * 60_000 + 1_000))
            .source("service-loyalty-vendor-mediator")
            .detail_type("task-status")
            .detail(detail)
            .event_bus_name("sdk-bus")
            .build();
        assert_eq!(
            c.put_events()
                .entries(e)
                .send()
                .await
                .unwrap()
                .failed_entry_count(),
            0
        );
    }
    let a = c
        .describe_archive()
        .archive_name("SdkVoucherArchive")
        .send()
        .await
        .unwrap();
    assert_eq!(
        a.event_count(),
        5,
        "acknowledged events are archived at once"
    );
    assert!(a.size_bytes() > 0);
    assert_eq!(a.retention_days(), Some(10));
    assert_eq!(
        c.list_archives()
            .event_source_arn(&bus_arn)
            .send()
            .await
            .unwrap()
            .archives()
            .len(),
        1
    );

    let start = secs(base);
    let end = secs(base + 10 * 60_000);
    let dest = ReplayDestination::builder()
        .arn(&bus_arn)
        .filter_arns(&rule_arns[0])
        .filter_arns(&rule_arns[2])
        .build()
        .unwrap();
    let err = c
        .start_replay()
        .replay_name("LoyaltyVoucherReplay_bad")
        .event_source_arn(&archive_arn)
        .event_start_time(end)
        .event_end_time(start)
        .destination(dest.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().meta().code(),
        Some("ValidationException")
    );
    let started = c
        .start_replay()
        .replay_name("LoyaltyVoucherReplay_20240101")
        .event_source_arn(&archive_arn)
        .event_start_time(start)
        .event_end_time(end)
        .destination(dest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(started.state(), Some(&ReplayState::Starting));
    let done = replay_completed(c, "LoyaltyVoucherReplay_20240101").await;
    assert_eq!(
        done.event_last_replayed_time()
            .unwrap()
            .to_millis()
            .unwrap(),
        base + 10 * 60_000
    );
    assert_eq!(done.destination().unwrap().filter_arns().len(), 2);
    let got = drain(&app.bus, "resubmit-q", Duration::from_secs(1)).await;
    let mut ns: Vec<i64> = got
        .iter()
        .map(|e| e["detail"]["data"]["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, [1, 2, 3], "in-window events only: {got:?}");
    assert!(got
        .iter()
        .all(|e| e["replay-name"] == "LoyaltyVoucherReplay_20240101"));
    assert!(
        drain(&app.bus, "audit-q", Duration::from_millis(300))
            .await
            .is_empty(),
        "not in FilterArns"
    );
    assert!(
        drain(&app.bus, "paused-q", Duration::from_millis(300))
            .await
            .is_empty(),
        "disabled rule"
    );
    let a = c
        .describe_archive()
        .archive_name("SdkVoucherArchive")
        .send()
        .await
        .unwrap();
    assert_eq!(a.event_count(), 5, "a replay never re-archives itself");

    let err = c
        .cancel_replay()
        .replay_name("LoyaltyVoucherReplay_20240101")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_illegal_status_exception());

    // Cancel: a replay cancelled right after it starts ends CANCELLED.
    c.start_replay()
        .replay_name("LoyaltyVoucherReplay_cancelled")
        .event_source_arn(&archive_arn)
        .event_start_time(start)
        .event_end_time(end)
        .destination(to_bus(&bus_arn))
        .send()
        .await
        .unwrap();
    let cancelled = c
        .cancel_replay()
        .replay_name("LoyaltyVoucherReplay_cancelled")
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.state(), Some(&ReplayState::Cancelling));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .describe_replay()
            .replay_name("LoyaltyVoucherReplay_cancelled")
            .send()
            .await
            .unwrap();
        if r.state() == Some(&ReplayState::Cancelled) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = c
        .list_replays()
        .name_prefix("LoyaltyVoucherReplay")
        .state(ReplayState::Cancelled)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.replays().len(), 1);
    let listed = c
        .list_replays()
        .event_source_arn(&archive_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.replays().len(), 2);

    // UpdateArchive: a changed pattern takes effect.
    c.update_archive()
        .archive_name("SdkVoucherArchive")
        .event_pattern(r#"{"source": ["other"]}"#)
        .send()
        .await
        .unwrap();
    let e = PutEventsRequestEntry::builder()
        .source("other")
        .detail_type("x")
        .detail("{}")
        .event_bus_name("sdk-bus")
        .build();
    c.put_events().entries(e).send().await.unwrap();
    assert_eq!(
        c.describe_archive()
            .archive_name("SdkVoucherArchive")
            .send()
            .await
            .unwrap()
            .event_count(),
        6
    );
    c.delete_archive()
        .archive_name("SdkVoucherArchive")
        .send()
        .await
        .unwrap();
    let err = c
        .describe_archive()
        .archive_name("SdkVoucherArchive")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}
