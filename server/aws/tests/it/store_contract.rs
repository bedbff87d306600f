//! mediator-core's storage contract suite against DynamoDB (moto), with
//! the tables made by `provision`; two replicas (two SDK clients on the same
//! tables) racing on one status change write it once.

use crate::common;

use std::sync::Arc;

use aws_backend::provision::provision;
use aws_backend::tables::Tables;
use aws_backend::DynamoStore;
use mediator_core::storage::{StatusStore, VoucherStore};
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

/// The contract suite on moto, every check: two replicas, each its own
/// SDK client, both through the proxy that gives moto's transactions
/// DynamoDB's isolation (moto's threaded server does not isolate
/// TransactWriteItems; the replicas still read and decide concurrently).
mod on_moto {
    use super::*;
    use mediator_core::testing::Replicas;

    async fn replicas(_check: &'static str) -> Replicas {
        let m = common::Moto::start();
        provisioned(&m).await;
        let proxy = common::aws_calls::CountingProxy::start(&m.endpoint).await;
        let replica = || async {
            let conf = common::sdk_config(&proxy.endpoint, None).await;
            Arc::new(DynamoStore::from_conf(&conf, Tables::default()))
        };
        let (a, b) = (replica().await, replica().await);
        Replicas {
            a: DynamoStore::ports(&a),
            b: DynamoStore::ports(&b),
            exclusive_claims: true,
            status_race_rounds: 20,
            claim_race_rounds: 20,
            keep: Box::new((m, proxy)),
        }
    }

    mediator_core::store_contract!(replicas);
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
    let monitor = mediator_core::Monitor::new(store.clone(), Arc::new(NoProbe), vec![]);
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

/// Answers 200, or 503 while `down` is set.
struct Saas {
    down: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl mediator_core::SaasSubmitter for Saas {
    async fn submit(&self, _part: &str, _body: &serde_json::Value) -> mediator_core::SubmitOutcome {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            mediator_core::SubmitOutcome::Unavailable {
                reason: "HTTP 503".into(),
            }
        } else {
            mediator_core::SubmitOutcome::Accepted { status: 200 }
        }
    }
}

/// The voucher outbox items in the table (every `OB#` partition).
async fn outbox_items(client: &aws_sdk_dynamodb::Client) -> usize {
    let mut found = 0;
    for shard in 0..4 {
        let page = client
            .query()
            .table_name(Tables::default().voucher_events)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("OB#{shard}")),
            )
            .send()
            .await
            .unwrap();
        found += page.items().len();
    }
    found
}

/// DynamoDB calls per voucher through the real submission flow on a
/// DataCache over DynamoDB (README quotes these): the happy path (admit →
/// claim → SaaS → finish, then the status event's publication, whose outbox
/// delete rides on the next voucher's transaction), a batch of ten, the
/// hold while the part is down, a failed call, the resubmission after
/// recovery, and the owed deletes flushed at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_calls_per_voucher() {
    use mediator_core::datacache::DataCache;
    use mediator_core::submit::publish_status_step;
    use std::sync::atomic::Ordering;
    let m = common::Moto::start();
    provisioned(&m).await;
    let conf = common::moto_config(&m).await;
    let counter = CallCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&conf)
            .interceptor(counter.clone())
            .build(),
    );
    let store = Arc::new(DynamoStore::new(client, Tables::default()));
    let uncounted = aws_sdk_dynamodb::Client::new(&conf);
    let monitor = mediator_core::Monitor::new(store.clone(), Arc::new(NoProbe), vec![]);
    let part = PartSettings::new(PartName::parse("voucher").unwrap());
    let saas = Arc::new(Saas { down: false.into() });
    let flow = mediator_core::SubmissionFlow::new(
        DataCache::new(store.clone() as Arc<dyn VoucherStore>),
        saas.clone(),
        PartName::defaults(),
        std::time::Duration::from_secs(5),
    );
    let req = |id: &str| {
        mediator_core::VoucherRequest::parse(
            &serde_json::json!({"part": "voucher", "loyalty_request_id": id,
                "loyalty_reference": "l", "merchant_reference": "m",
                "loyalty_order_reference": "o", "payload": {}}),
            &PartName::defaults(),
        )
        .unwrap()
    };
    let now = chrono::Utc::now;
    let mut report = Vec::new();
    let mut step = |what: &str, calls: Vec<String>| {
        report.push(format!("{what}: {}", calls.join(" ")));
        calls
    };
    monitor.record(&part, now(), None, 20).await.unwrap();
    counter.take();

    // The first voucher also reads the part's circuit once.
    let a = flow.accept(&req("warm")).await.unwrap();
    assert_eq!(a.voucher.status, mediator_core::VoucherStatus::Submitted);
    assert_eq!(
        step("first voucher", counter.take()),
        ["GetItem×1", "TransactWriteItems×2"]
    );
    publish_status_step(flow.cache(), &Sink).await.unwrap();
    counter.take();

    // Happy path, one voucher at a time (k = 1).
    let a = flow.accept(&req("h1")).await.unwrap();
    assert_eq!(a.voucher.status, mediator_core::VoucherStatus::Submitted);
    assert_eq!(
        step("happy path: accept", counter.take()),
        ["TransactWriteItems×2"],
        "admit (store + circuit check + claim), finish (+ outbox); nothing read back"
    );
    assert_eq!(publish_status_step(flow.cache(), &Sink).await.unwrap(), 1);
    assert_eq!(
        step("happy path: publish", counter.take()),
        Vec::<String>::new(),
        "the outbox event is remembered: no query; its delete is owed"
    );
    assert_eq!(outbox_items(&uncounted).await, 1, "h1's, published");
    // A trickle: the next voucher's admit carries the owed delete.
    for i in 0..3 {
        flow.accept(&req(&format!("t{i}"))).await.unwrap();
        assert_eq!(publish_status_step(flow.cache(), &Sink).await.unwrap(), 1);
    }
    assert_eq!(
        step("trickle ×3: accept, publish", counter.take()),
        ["TransactWriteItems×6"],
        "2 calls per voucher (+ 1 PutEvents): the deletes ride on the admits"
    );
    assert_eq!(outbox_items(&uncounted).await, 1, "only t2's is left");
    // Ten vouchers, published together (k = 10).
    for i in 0..10 {
        flow.accept(&req(&format!("k{i}"))).await.unwrap();
    }
    assert_eq!(
        step("happy path ×10: accept", counter.take()),
        ["TransactWriteItems×20"]
    );
    assert_eq!(publish_status_step(flow.cache(), &Sink).await.unwrap(), 10);
    assert_eq!(
        step("happy path ×10: publish", counter.take()),
        Vec::<String>::new()
    );
    assert_eq!(outbox_items(&uncounted).await, 10);

    // The part goes down (recorded by the monitor on the same tables).
    let failures = part.thresholds.failure.max(1);
    for _ in 0..failures {
        monitor
            .record(&part, now(), Some("503".into()), 20)
            .await
            .unwrap();
    }
    counter.take();
    saas.down.store(true, Ordering::SeqCst);
    // The first voucher after the change finds this replica's circuit
    // stale: its claim is cancelled and it is decided again on fresh reads.
    let a = flow.accept(&req("d0")).await.unwrap();
    assert_eq!(a.voucher.status, mediator_core::VoucherStatus::Retry);
    assert_eq!(
        step("hold, stale circuit", counter.take()),
        ["GetItem×1", "TransactWriteItems×2"],
        "a cancelled admit, the circuit read again, the hold (answered as written: no get)"
    );
    let a = flow.accept(&req("d1")).await.unwrap();
    assert_eq!(a.voucher.status, mediator_core::VoucherStatus::Retry);
    assert_eq!(
        step("hold: accept", counter.take()),
        ["TransactWriteItems×1"],
        "admit as held (+ circuit check, outbox, ledger), answered as written"
    );
    assert_eq!(publish_status_step(flow.cache(), &Sink).await.unwrap(), 2);
    assert_eq!(
        step("hold: publish 2", counter.take()),
        Vec::<String>::new()
    );
    assert_eq!(outbox_items(&uncounted).await, 2, "published, delete owed");
    // Recovery asks whether retry events are still unpublished: the ones
    // this replica owes a delete for leave the outbox first.
    assert!(!flow
        .cache()
        .retry_events_pending("voucher", now() + chrono::Duration::seconds(1))
        .await
        .unwrap());
    assert_eq!(
        step("recovery: retry events pending?", counter.take()),
        ["BatchWriteItem×1", "Query×4"]
    );
    assert_eq!(outbox_items(&uncounted).await, 0);

    // Back up: the resubmission handler processes a batch (the SaaS still
    // fails for the first round: a failed call).
    monitor.record(&part, now(), None, 20).await.unwrap();
    for _ in 1..part.thresholds.recovery.max(1) {
        monitor.record(&part, now(), None, 20).await.unwrap();
    }
    counter.take();
    let items: Vec<(String, String)> = ["d0", "d1"]
        .iter()
        .map(|i| (i.to_string(), "replayed".into()))
        .collect();
    let out = flow.process_many(items.clone(), 4).await.unwrap();
    assert_eq!(out, [Some(mediator_core::VoucherStatus::Retry); 2]);
    assert_eq!(
        step("resubmit 2, SaaS fails", counter.take()),
        ["GetItem×2", "TransactWriteItems×5"],
        "d0: a cancelled hold (stale circuit), fresh reads, claim; \
         d1: claim; two finishes (+ outbox, ledger)"
    );
    saas.down.store(false, Ordering::SeqCst);
    let out = flow.process_many(items, 4).await.unwrap();
    assert_eq!(out, [Some(mediator_core::VoucherStatus::Submitted); 2]);
    assert_eq!(
        step("resubmit 2, SaaS accepts", counter.take()),
        ["TransactWriteItems×4"],
        "two claims, two finishes"
    );
    assert_eq!(publish_status_step(flow.cache(), &Sink).await.unwrap(), 4);
    assert_eq!(step("publish 4", counter.take()), Vec::<String>::new());
    assert_eq!(outbox_items(&uncounted).await, 4, "published, delete owed");
    // Shutdown: the deletes still owed go in one BatchWriteItem (the next
    // admit carried the 4, `last`'s is owed).
    flow.accept(&req("last")).await.unwrap();
    publish_status_step(flow.cache(), &Sink).await.unwrap();
    counter.take();
    assert_eq!(outbox_items(&uncounted).await, 1);
    store.flush_published().await.unwrap();
    assert_eq!(
        step("shutdown: owed deletes", counter.take()),
        ["BatchWriteItem×1"]
    );
    assert_eq!(outbox_items(&uncounted).await, 0);
    store.flush_published().await.unwrap();
    assert!(counter.take().is_empty(), "nothing owed: no call");
    for line in &report {
        eprintln!("{line}");
    }
}

/// The console's overview reads `counts()` up to twice a second: the final
/// statuses come from one Scan reused for a while, kept exact for this
/// replica's own transitions, while the open ones are read every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voucher_counts_do_not_scan_the_table_at_every_read() {
    use mediator_core::datacache::Finish;
    use mediator_core::storage::Admitted;
    use mediator_core::{VoucherRequest, VoucherStatus};

    let m = common::Moto::start();
    provisioned(&m).await;
    let proxy = common::aws_calls::CountingProxy::start(&m.endpoint).await;
    let conf = common::sdk_config(&proxy.endpoint, None).await;
    let a = DynamoStore::from_conf(&conf, Tables::default());
    let now = chrono::Utc::now();
    let lease = std::time::Duration::from_secs(30);
    let mut tokens = Vec::new();
    for i in 0..6 {
        let req = VoucherRequest::parse(
            &serde_json::json!({"part": "voucher", "loyalty_request_id": format!("c{i}"),
                "loyalty_reference": "r", "merchant_reference": "m",
                "loyalty_order_reference": "o", "payload": {}}),
            &PartName::defaults(),
        )
        .expect("valid");
        let Admitted::Claimed { token, .. } =
            a.admit(&req, now, lease, "flow".into()).await.unwrap()
        else {
            panic!("no circuit yet: claimed")
        };
        tokens.push((format!("c{i}"), token));
    }
    let finish = |range: std::ops::Range<usize>, status: VoucherStatus| {
        range
            .map(|i| Finish {
                id: tokens[i].0.clone(),
                part: "voucher".into(),
                token: tokens[i].1,
                status,
                detail: "test".into(),
            })
            .collect::<Vec<_>>()
    };
    a.finish_many(finish(0..3, VoucherStatus::Submitted), 5, now)
        .await
        .unwrap();
    a.finish_many(finish(3..5, VoucherStatus::Error), 5, now)
        .await
        .unwrap();
    let scans = || proxy.calls().iter().filter(|c| c.op == "Scan").count();
    let count = |counts: &[(String, String, u64)], st: &str| -> u64 {
        counts
            .iter()
            .filter(|(p, s, _)| p == "voucher" && s == st)
            .map(|(_, _, n)| *n)
            .sum()
    };
    let c = a.counts().await.unwrap();
    assert_eq!(
        (
            count(&c, "submitted"),
            count(&c, "error"),
            count(&c, "submitting")
        ),
        (3, 2, 1)
    );
    assert_eq!(scans(), 1);
    // This replica's own transition is counted without another Scan.
    a.finish_many(finish(5..6, VoucherStatus::Submitted), 5, now)
        .await
        .unwrap();
    for _ in 0..5 {
        let c = a.counts().await.unwrap();
        assert_eq!(
            (
                count(&c, "submitted"),
                count(&c, "error"),
                count(&c, "submitting")
            ),
            (4, 2, 0)
        );
    }
    assert_eq!(scans(), 1, "one Scan for six reads");
    // Another replica scans once for itself and sees the same.
    let b = DynamoStore::from_conf(&conf, Tables::default());
    let c = b.counts().await.unwrap();
    assert_eq!((count(&c, "submitted"), count(&c, "error")), (4, 2));
    assert_eq!(scans(), 2);
}
