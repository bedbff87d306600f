//! The intake against moto: a voucher request put on the bus reaches the
//! submission flow through the intake rule and the `voucher-requests` queue,
//! once; an event that is not a valid request ends in the intake's
//! dead-letter queue, where it stays visible.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_backend::provision::{provision, REQUEST_QUEUE};
use aws_backend::{AwsIntake, IntakeStep, SqsQueues};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use mediator_core::{
    PartName, PartSettings, SaasSubmitter, SubmissionFlow, SubmitOutcome, VoucherStatus,
};
use serde_json::{json, Value};

/// Accepts every submission, counting them.
#[derive(Default)]
struct CountingSaas(AtomicUsize);

#[async_trait]
impl SaasSubmitter for CountingSaas {
    async fn submit(&self, _part: &str, _body: &Value) -> SubmitOutcome {
        self.0.fetch_add(1, Ordering::SeqCst);
        SubmitOutcome::Accepted { status: 200 }
    }
}

/// The Order Processing service's event for voucher `id` (the seed's shape).
fn request(id: &str, loyalty_reference: Option<&str>) -> PutEventsRequestEntry {
    let mut data = json!({"loyalty_request_id": id, "merchant_reference": "m-1",
                          "loyalty_order_reference": "o-1", "payload": {"points": 5}});
    if let Some(r) = loyalty_reference {
        data["loyalty_reference"] = json!(r);
    }
    let detail = json!({"metadata": {"domain": "LEGO-LOYALTY",
                                     "service": "service-loyalty-order-processing",
                                     "category": "task-request", "type": "voucher"},
                        "data": data});
    PutEventsRequestEntry::builder()
        .event_bus_name("loyalty-bus")
        .source("service-loyalty-order-processing")
        .detail_type("voucher-request")
        .detail(detail.to_string())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_requests_reach_the_flow_once_and_invalid_ones_the_dead_letter_queue() {
    let m = common::Moto::start();
    let conf = common::moto_config(&m).await;
    let parts: Vec<PartSettings> = PartName::defaults()
        .into_iter()
        .map(PartSettings::new)
        .collect();
    provision(&conf, &parts, false).await.expect("provision");
    let tmp = tempfile::tempdir().unwrap();
    let saas = Arc::new(CountingSaas::default());
    let flow = SubmissionFlow::new(
        mediator_core::DataCache::new(
            mediator_sqlite::ports(&store::Database::open(tmp.path()).unwrap()).vouchers,
        ),
        saas.clone(),
        PartName::defaults(),
        Duration::from_secs(5),
    );
    let put = aws_sdk_eventbridge::Client::new(&conf)
        .put_events()
        .entries(request("v-sqs-1", Some("l-1")))
        .entries(request("v-invalid", None))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(put.failed_entry_count(), 0);

    let intake = AwsIntake::new(&conf);
    let queues = SqsQueues::new(&conf);
    let dlq = format!("{REQUEST_QUEUE}-dlq");
    let mut total = IntakeStep::default();
    let mut dead = Vec::new();
    for _ in 0..40 {
        let s = intake
            .step(&flow, Duration::from_millis(200))
            .await
            .expect("intake step");
        total.accepted += s.accepted;
        total.invalid += s.invalid;
        total.failed += s.failed;
        if dead.is_empty() {
            dead = queues
                .receive(&dlq, 10, Duration::ZERO)
                .await
                .expect("receive dead letters");
        }
        if total.accepted == 1 && !dead.is_empty() {
            break;
        }
    }
    assert_eq!(
        total.accepted, 1,
        "the valid request accepted once: {total:?}"
    );
    assert_eq!(total.failed, 0, "{total:?}");
    assert!(
        total.invalid >= 1,
        "the invalid request was refused: {total:?}"
    );
    assert_eq!(dead.len(), 1, "the invalid request is in {dlq}");
    let dead_event: Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(
        dead_event["detail"]["data"]["loyalty_request_id"],
        "v-invalid"
    );

    let v = flow
        .cache()
        .get("v-sqs-1")
        .await
        .unwrap()
        .expect("the voucher is in the DataCache");
    assert_eq!(v.status, VoucherStatus::Submitted);
    assert_eq!(saas.0.load(Ordering::SeqCst), 1, "submitted once");
    assert!(flow.cache().get("v-invalid").await.unwrap().is_none());
    let left = intake
        .step(&flow, Duration::ZERO)
        .await
        .expect("intake step");
    assert_eq!(left, IntakeStep::default(), "the intake queue is drained");
}
