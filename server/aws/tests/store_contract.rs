//! mediator-core's storage contract suite against DynamoDB (moto), with
//! the tables made by `provision`; two replicas (two SDK clients on the same
//! tables) racing on one status change write it once.

mod common;

use std::sync::Arc;

use aws_backend::provision::provision;
use aws_backend::tables::Tables;
use aws_backend::DynamoStore;
use mediator_core::storage::{contract, StatusStore};
use mediator_core::{PartName, PartSettings};

/// moto with the mediator's resources provisioned, and a store on it.
async fn provisioned(m: &common::Moto) -> DynamoStore {
    let conf = common::moto_config(m).await;
    let parts: Vec<PartSettings> = PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect();
    provision(&conf, &parts, false).await.expect("provision");
    DynamoStore::from_conf(&conf, Tables::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_status_store_passes_the_contract() {
    let m = common::Moto::start();
    let s = provisioned(&m).await;
    contract::check_status(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_override_store_passes_the_contract() {
    let m = common::Moto::start();
    let s = provisioned(&m).await;
    contract::check_overrides(&s, &s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_on_one_status_change_write_it_once() {
    let m = common::Moto::start();
    provisioned(&m).await;
    // Two replicas: each its own SDK configuration and client, through the
    // proxy that gives moto's transactions DynamoDB's isolation.
    let proxy = common::SerialProxy::start(&m.endpoint).await;
    let replica = || async {
        let conf = common::sdk_config(&proxy.endpoint, None).await;
        Arc::new(DynamoStore::from_conf(&conf, Tables::default())) as Arc<dyn StatusStore>
    };
    let (a, b) = (replica().await, replica().await);
    contract::check_status_race(a, b, 20, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_monitor_lease() {
    let m = common::Moto::start();
    provisioned(&m).await;
    let conf = common::moto_config(&m).await;
    let a = DynamoStore::from_conf(&conf, Tables::default());
    let b = DynamoStore::from_conf(&conf, Tables::default());
    contract::check_monitor_lease(&a, &b).await;
}

/// Counts the requests a DynamoDB client transmits, by operation
/// (`X-Amz-Target`), retries included: what is billed.
#[derive(Debug, Default, Clone)]
struct CallCounter(Arc<std::sync::Mutex<Vec<String>>>);

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_string();
        self.0.lock().unwrap().push(op);
        Ok(())
    }
}

impl CallCounter {
    /// The calls since the last `take`, as `Operation×n` sorted by name.
    fn take(&self) -> Vec<String> {
        let calls = std::mem::take(&mut *self.0.lock().unwrap());
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for c in calls {
            *counts.entry(c).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(op, n)| format!("{op}×{n}"))
            .collect()
    }
}

struct NoProbe;

#[async_trait::async_trait]
impl mediator_core::HealthProbe for NoProbe {
    async fn check(&self, _part: &str) -> Result<(), String> {
        Ok(())
    }
}

struct Sink;

#[async_trait::async_trait]
impl mediator_core::EventPublisher for Sink {
    async fn publish(
        &self,
        _events: &[mediator_core::OutgoingEvent],
    ) -> Result<(), mediator_core::PublishError> {
        Ok(())
    }
}

/// DynamoDB calls of the monitor on the happy path, counted on the SDK
/// client (README "Running against a real AWS account" quotes these): a
/// routine check is a GetItem and one TransactWriteItems; a status change
/// adds the sequence read; publishing a change is a Query of the outbox
/// index, a claim and a mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_calls_per_check_and_per_status_change() {
    use chrono::TimeZone;
    let m = common::Moto::start();
    provisioned(&m).await;
    let conf = common::moto_config(&m).await;
    let counter = CallCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&conf)
            .interceptor(counter.clone())
            .build(),
    );
    let store: Arc<dyn StatusStore> = Arc::new(DynamoStore::new(client, Tables::default()));
    let monitor = mediator_core::Monitor::new_with_store(store.clone(), Arc::new(NoProbe), vec![]);
    let part = PartSettings::new(PartName::parse("voucher").unwrap());
    let t0 = chrono::Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);

    monitor.record(&part, at(0), None, 20).await.unwrap();
    assert_eq!(
        counter.take(),
        ["GetItem×2", "TransactWriteItems×1", "UpdateItem×3"],
        "first check: status + sequence reads, the write, and the three roll-ups' latency maximum"
    );
    for s in 1..=10 {
        monitor.record(&part, at(s), None, 20).await.unwrap();
    }
    assert_eq!(
        counter.take(),
        ["GetItem×10", "TransactWriteItems×10"],
        "routine checks: 2 calls each"
    );
    monitor.record(&part, at(11), None, 35).await.unwrap();
    assert_eq!(
        counter.take(),
        ["GetItem×1", "TransactWriteItems×1", "UpdateItem×3"],
        "a new latency maximum raises it in the three buckets"
    );
    let failures = part.thresholds.failure.max(1) as i64;
    for s in 0..failures {
        monitor
            .record(&part, at(12 + s), Some("503".into()), 20)
            .await
            .unwrap();
    }
    assert_eq!(
        counter.take(),
        [
            format!("GetItem×{}", failures + 1),
            format!("TransactWriteItems×{failures}")
        ],
        "failed checks, the last one changing the status: +1 sequence read"
    );
    let published = mediator_core::monitor::publish_step_with(store.as_ref(), &Sink, "replica-a")
        .await
        .unwrap();
    assert_eq!(published, 2, "unknown → up, up → down");
    assert_eq!(
        counter.take(),
        ["Query×1", "UpdateItem×4"],
        "publishing two changes: one outbox query, a claim and a mark each"
    );
}
