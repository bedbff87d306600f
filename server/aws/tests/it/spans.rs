//! Each AWS SDK call runs in a debug-level `aws` span naming its service,
//! its operation and its table, bus or queue (`src/trace.rs`): captured
//! here with a JSON subscriber that writes each span as it closes.

use crate::common;

use std::time::Duration;

use aws_backend::provision::provision;
use aws_backend::tables::Tables;
use aws_backend::{AwsRecovery, DynamoStore, Location};
use mediator_core::storage::StatusStore;
use mediator_core::testing::CapturedLogs;
use mediator_core::{Lane, PartName, PartSettings, ResubmitQueue};
use serde_json::Value;
use tracing_subscriber::fmt::format::FmtSpan;

/// The `aws` spans `logs` holds, as the subscriber closed them.
fn aws_spans(logs: &CapturedLogs) -> Vec<Value> {
    logs.json_lines()
        .into_iter()
        .filter(|l| l["span"]["name"] == "aws")
        .map(|l| l["span"].clone())
        .collect()
}

/// Whether `spans` has one of `service`'s `operation` on `field` = `value`.
fn has(spans: &[Value], service: &str, operation: &str, field: &str, value: &str) -> bool {
    spans.iter().any(|s| {
        s["service"] == service && s["operation"] == operation && s[field].as_str() == Some(value)
    })
}

#[tokio::test]
async fn each_aws_call_runs_in_a_span_naming_its_operation_and_resource() {
    let m = common::Moto::start();
    let conf = common::moto_config(&m).await;
    let voucher = PartName::parse("voucher").unwrap();
    provision(&conf, &[PartSettings::new(voucher.clone())], false)
        .await
        .expect("provision");
    let store = DynamoStore::from_conf(&conf, Tables::default());

    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_events(FmtSpan::CLOSE)
        .with_env_filter("aws_backend=debug")
        .with_writer(logs.writer())
        .finish();
    let queue_url = {
        let _guard = tracing::subscriber::set_default(subscriber);
        store.load("voucher").await.expect("load the circuit");
        let events = aws_sdk_eventbridge::Client::new(&conf);
        let location = Location::discover(&events, "loyalty-bus")
            .await
            .expect("the default bus");
        let recovery = AwsRecovery::new(&conf, location);
        recovery
            .receive(&voucher, Lane::Resubmit, 1, Duration::ZERO)
            .await
            .expect("receive");
        aws_sdk_sqs::Client::new(&conf)
            .get_queue_url()
            .queue_name(mediator_core::events::resubmit_queue(&voucher))
            .send()
            .await
            .expect("the resubmit queue")
            .queue_url()
            .unwrap_or_default()
            .to_owned()
    };

    let spans = aws_spans(&logs);
    let tables = Tables::default();
    assert!(
        has(&spans, "dynamodb", "GetItem", "table", &tables.parts),
        "no GetItem span on {}: {spans:#?}",
        tables.parts
    );
    assert!(
        has(&spans, "eventbridge", "DescribeEventBus", "bus", "default"),
        "{spans:#?}"
    );
    assert!(
        has(&spans, "sqs", "ReceiveMessage", "queue", &queue_url),
        "no ReceiveMessage span on {queue_url}: {spans:#?}"
    );

    // At debug level: a subscriber at `info` records none of them.
    let quiet = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_events(FmtSpan::CLOSE)
        .with_env_filter("aws_backend=info")
        .with_writer(quiet.writer())
        .finish();
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        store.load("voucher").await.expect("load the circuit");
    }
    assert_eq!(aws_spans(&quiet), Vec::<Value>::new());
}
