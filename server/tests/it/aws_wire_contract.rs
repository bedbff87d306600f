//! The AWS adapter (`aws_backend`) against the embedded EventBridge's wire
//! API (`mediator serve --events-listen`), which must behave like AWS: the
//! whole bus contract suite at full fidelity through `AwsBus` (the checks
//! moto cannot honour — replay window, `FilterArns`, `RUNNING` and
//! `EventLastReplayedTime`, disabled rules — run here), and `AwsRecovery`'s
//! replays over a provisioned bus.
//!
//! The wire API has no SQS, so the contract's two test-queue operations go
//! to the embedded bus's own queues, which rules reach by the same
//! `arn:aws:sqs:…` ARNs; every EventBridge operation goes over HTTP through
//! the AWS SDK.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_backend::{AwsBus, AwsRecovery, AwsSettings, Location};
use bus::contract::{self, EventBus};
use bus::types::*;
use bus::{Bus, BusConfig, BusResult, Database};
use mediator_core::{ArchiveReplays, PartName, PartSettings, ReplayRequest};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

struct Wire {
    aws: AwsBus,
    local: Bus,
    conf: aws_config::SdkConfig,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn wire() -> Wire {
    let dir = tempfile::tempdir().unwrap();
    let local = Bus::open(
        Database::open(dir.path()).unwrap(),
        BusConfig {
            replay_poll: Duration::from_millis(50),
            delivery_poll: Duration::from_millis(50),
            retry_base: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let stop = CancellationToken::new();
    local.spawn_workers(&TaskTracker::new(), stop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let router = server::events_api::router(local.clone());
    let s2 = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(s2.cancelled_owned())
            .await
    });
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let conf = aws_backend::load_config(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        max_attempts: None,
    })
    .await;
    Wire {
        aws: AwsBus::connect(&conf).await.expect("wire API answers"),
        local,
        conf,
        stop,
        _dir: dir,
    }
}

#[async_trait]
impl EventBus for Wire {
    fn account(&self) -> String {
        self.aws.account()
    }
    fn region(&self) -> String {
        self.aws.region()
    }
    async fn put_events(&self, req: PutEventsRequest) -> BusResult<PutEventsResponse> {
        self.aws.put_events(req).await
    }
    async fn create_event_bus(
        &self,
        req: CreateEventBusRequest,
    ) -> BusResult<CreateEventBusResponse> {
        self.aws.create_event_bus(req).await
    }
    async fn describe_event_bus(&self, name: Option<&str>) -> BusResult<bus::types::EventBus> {
        self.aws.describe_event_bus(name).await
    }
    async fn delete_event_bus(&self, name: &str) -> BusResult<()> {
        self.aws.delete_event_bus(name).await
    }
    async fn put_rule(&self, req: PutRuleRequest) -> BusResult<PutRuleResponse> {
        self.aws.put_rule(req).await
    }
    async fn describe_rule(&self, name: &str, bus: Option<&str>) -> BusResult<Rule> {
        self.aws.describe_rule(name, bus).await
    }
    async fn set_rule_state(&self, name: &str, bus: Option<&str>, enabled: bool) -> BusResult<()> {
        self.aws.set_rule_state(name, bus, enabled).await
    }
    async fn delete_rule(&self, name: &str, bus: Option<&str>, force: bool) -> BusResult<()> {
        self.aws.delete_rule(name, bus, force).await
    }
    async fn put_targets(&self, req: PutTargetsRequest) -> BusResult<TargetsResponse> {
        self.aws.put_targets(req).await
    }
    async fn remove_targets(&self, req: RemoveTargetsRequest) -> BusResult<TargetsResponse> {
        self.aws.remove_targets(req).await
    }
    async fn create_archive(&self, req: CreateArchiveRequest) -> BusResult<Archive> {
        self.aws.create_archive(req).await
    }
    async fn describe_archive(&self, name: &str) -> BusResult<Archive> {
        self.aws.describe_archive(name).await
    }
    async fn delete_archive(&self, name: &str) -> BusResult<()> {
        self.aws.delete_archive(name).await
    }
    async fn start_replay(&self, req: StartReplayRequest) -> BusResult<Replay> {
        self.aws.start_replay(req).await
    }
    async fn describe_replay(&self, name: &str) -> BusResult<Replay> {
        self.aws.describe_replay(name).await
    }
    async fn list_replays(&self, req: ListRequest) -> BusResult<ListReplaysResponse> {
        self.aws.list_replays(req).await
    }
    async fn cancel_replay(&self, name: &str) -> BusResult<Replay> {
        self.aws.cancel_replay(name).await
    }
    async fn create_test_queue(&self, name: &str) -> BusResult<String> {
        EventBus::create_test_queue(&self.local, name).await
    }
    async fn drain_test_queue(
        &self,
        queue_arn: &str,
        max: usize,
        wait: Duration,
    ) -> BusResult<Vec<String>> {
        EventBus::drain_test_queue(&self.local, queue_arn, max, wait).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_buses_and_rules() {
    let w = wire().await;
    contract::check_buses_and_rules(&w, "w1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_put_events_and_routing() {
    let w = wire().await;
    contract::check_put_events_and_routing(&w, "w2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_archive_and_replay() {
    let w = wire().await;
    let b: Arc<dyn EventBus> = Arc::new(w);
    contract::check_archive_and_replay(b.as_ref(), "w3").await;
}

/// `AwsRecovery` starts a replay of exactly the window, delivered only to
/// the part's resubmit rule, and reports RUNNING/COMPLETED with
/// `EventLastReplayedTime` from DescribeReplay; a second start of the
/// same name is `AlreadyExists`; cancelling a finished replay is `Finished`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_recovery_replays_a_window_to_the_resubmit_rule_only() {
    let w = wire().await;
    let voucher = PartName::parse("voucher").unwrap();
    let part = PartSettings::new(voucher.clone());
    server::backend::provision(&w.local, std::slice::from_ref(&part))
        .await
        .unwrap();
    let base = (chrono::Utc::now().timestamp() / 60 - 30) * 60;
    let keys = |i: i64| mediator_core::voucher::VoucherKeys {
        loyalty_request_id: format!("r{i}"),
        loyalty_reference: "l".into(),
        merchant_reference: "m".into(),
        loyalty_order_reference: "o".into(),
    };
    let events: Vec<_> = (0..10)
        .map(|i| {
            mediator_core::events::voucher_status_event(
                "voucher",
                mediator_core::voucher::VoucherStatus::Retry,
                &keys(i),
                chrono::DateTime::from_timestamp(base + i * 60, 0).unwrap(),
            )
        })
        .collect();
    let publisher = aws_backend::AwsEvents::new(
        aws_sdk_eventbridge::Client::new(&w.conf),
        mediator_core::events::BUS_NAME,
        Default::default(),
    );
    mediator_core::events::EventPublisher::publish(&publisher, &events)
        .await
        .unwrap();
    let location = Location::discover(
        &aws_sdk_eventbridge::Client::new(&w.conf),
        mediator_core::events::BUS_NAME,
    )
    .await
    .unwrap();
    assert_eq!(location.account, "000000000000");
    let rec = AwsRecovery::new(&w.conf, location);
    let req = ReplayRequest {
        name: mediator_core::events::replay_name(&part.archive_name, chrono::Utc::now()),
        part: voucher.clone(),
        archive: part.archive_name.clone(),
        start: chrono::DateTime::from_timestamp(base + 3 * 60, 0).unwrap(),
        end: chrono::DateTime::from_timestamp(base + 6 * 60, 0).unwrap(),
    };
    rec.start_replay(&req).await.unwrap();
    assert!(matches!(
        rec.start_replay(&req).await,
        Err(mediator_core::ReplayError::AlreadyExists(_))
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let info = loop {
        let info = rec.describe_replay(&req.name).await.unwrap().unwrap();
        if info.state == "COMPLETED" {
            break info;
        }
        assert!(tokio::time::Instant::now() < deadline, "{info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(info.event_last_replayed_time, Some(req.end));
    assert!(info.replay_end_time.is_some());
    assert_eq!(rec.describe_replay("nope").await.unwrap(), None);
    assert!(matches!(
        rec.cancel_replay(&req.name).await,
        Err(mediator_core::ReplayError::Finished(_))
    ));
    let queue = mediator_core::events::resubmit_queue(&voucher);
    let mut ids = Vec::new();
    loop {
        let m = w
            .local
            .receive_messages(&queue, 100, Duration::from_millis(500))
            .await
            .unwrap();
        if m.is_empty() {
            break;
        }
        for x in &m {
            let v: serde_json::Value = serde_json::from_str(&x.body).unwrap();
            assert_eq!(v["replay-name"], req.name.as_str());
            ids.push(
                v["detail"]["data"]["loyalty_request_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        w.local
            .delete_messages(&queue, m.into_iter().map(|x| x.receipt_handle).collect())
            .await
            .unwrap();
    }
    ids.sort();
    assert_eq!(ids, ["r3", "r4", "r5"], "exactly the window [3, 6) minutes");
    assert_eq!(
        rec.count_archived(&part.archive_name, req.start, req.end)
            .await
            .unwrap(),
        10,
        "AWS-reported count: the whole archive"
    );
}
