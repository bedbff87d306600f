//! `AwsRecovery`: what StartReplay sends and how DescribeReplay/CancelReplay
//! answers map (on a recording fake, since moto ignores the window and
//! `FilterArns` and never reports RUNNING or `EventLastReplayedTime`), and
//! the resubmit queues and archive view against moto.

use crate::common;

use std::time::Duration;

use aws_backend::{provision::provision, AwsRecovery, Location};
use chrono::{DateTime, Utc};
use common::FakeAws;
use mediator_core::archives::{ArchiveBrowser, ArchiveError};
use mediator_core::{
    ArchiveReplays, Lane, PartName, PartSettings, ReplayError, ReplayRequest, ResubmitQueue,
};
use serde_json::json;

fn location() -> Location {
    Location {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        bus_name: "loyalty-bus".into(),
    }
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap()
}

#[tokio::test]
async fn start_replay_sends_window_bus_and_filter_arns_and_describe_maps_progress() {
    let fake = FakeAws::start(|op, body, _| match op {
        "StartReplay" => (
            200,
            json!({"ReplayArn": "arn:aws:events:us-east-1:123456789012:replay/x", "State": "STARTING"}),
        ),
        "DescribeReplay" if body["ReplayName"] == "missing" => (
            400,
            json!({"__type": "ResourceNotFoundException", "message": "Replay missing does not exist."}),
        ),
        "DescribeReplay" => (
            200,
            json!({"ReplayName": body["ReplayName"], "State": "RUNNING",
                   "EventLastReplayedTime": 1_800_000_300, "ReplayStartTime": 1_800_001_000}),
        ),
        "CancelReplay" if body["ReplayName"] == "done" => (
            400,
            json!({"__type": "IllegalStatusException", "message": "Replay done is not in a state that can be cancelled."}),
        ),
        "CancelReplay" => (
            400,
            json!({"__type": "ResourceNotFoundException", "message": "Replay nope does not exist."}),
        ),
        other => panic!("unexpected {other}"),
    })
    .await;
    let conf = common::sdk_config(&fake.endpoint, Some(1)).await;
    let rec = AwsRecovery::new(&conf, location());
    let req = ReplayRequest {
        name: "LoyaltyVoucherReplay_20270115080000".into(),
        part: PartName::parse("voucher").unwrap(),
        archive: "LoyaltyVoucherArchive".into(),
        start: at(1_800_000_000),
        end: at(1_800_000_600),
    };
    rec.start_replay(&req).await.unwrap();
    let sent = &fake.calls("StartReplay")[0];
    assert_eq!(sent["ReplayName"], "LoyaltyVoucherReplay_20270115080000");
    assert_eq!(
        sent["EventSourceArn"],
        "arn:aws:events:us-east-1:123456789012:archive/LoyaltyVoucherArchive"
    );
    assert_eq!(sent["EventStartTime"].as_f64(), Some(1_800_000_000.0));
    assert_eq!(sent["EventEndTime"].as_f64(), Some(1_800_000_600.0));
    assert_eq!(
        sent["Destination"],
        json!({
            "Arn": "arn:aws:events:us-east-1:123456789012:event-bus/loyalty-bus",
            "FilterArns": ["arn:aws:events:us-east-1:123456789012:rule/loyalty-bus/LoyaltyVoucherResubmit"]
        })
    );

    let info = rec.describe_replay(&req.name).await.unwrap().unwrap();
    assert_eq!(info.state, "RUNNING");
    assert_eq!(info.event_last_replayed_time, Some(at(1_800_000_300)));
    assert_eq!(info.replay_start_time, Some(at(1_800_001_000)));
    assert_eq!(rec.describe_replay("missing").await.unwrap(), None);
    assert!(matches!(
        rec.cancel_replay("done").await,
        Err(ReplayError::Finished(m)) if m.starts_with("IllegalStatusException: ")
    ));
    assert!(matches!(
        rec.cancel_replay("nope").await,
        Err(ReplayError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmit_queue_long_polls_extends_and_batch_deletes_on_moto() {
    let m = common::Moto::start();
    let conf = common::moto_config(&m).await;
    let voucher = PartName::parse("voucher").unwrap();
    let parts = [PartSettings::new(voucher.clone())];
    provision(&conf, &parts, false).await.unwrap();
    let loc = Location::discover(&aws_sdk_eventbridge::Client::new(&conf), "loyalty-bus")
        .await
        .unwrap();
    let rec = AwsRecovery::new(&conf, loc);

    // Long poll: an empty queue answers after about WaitTimeSeconds.
    let t = std::time::Instant::now();
    let got = rec
        .receive(&voucher, Lane::Resubmit, 10, Duration::from_millis(900))
        .await
        .unwrap();
    assert!(got.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = sqs
        .get_queue_url()
        .queue_name("voucher-resubmit")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    for i in 0..12 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!(r#"{{"n": {i}}}"#))
            .send()
            .await
            .unwrap();
    }
    let mut receipts = Vec::new();
    let mut bodies = Vec::new();
    while receipts.len() < 12 {
        let got = rec
            .receive(&voucher, Lane::Resubmit, 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!got.is_empty(), "messages went missing: {bodies:?}");
        assert!(got.len() <= 10);
        for g in got {
            bodies.push(g.body);
            receipts.push(g.receipt);
        }
    }
    assert!(
        rec.receive(&voucher, Lane::Resubmit, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "in flight: invisible for the queue's 120 s"
    );
    // ChangeMessageVisibilityBatch takes effect: 0 s makes them visible again…
    rec.extend_visibility(&voucher, Lane::Resubmit, &receipts, Duration::ZERO)
        .await
        .unwrap();
    let mut receipts = Vec::new();
    while receipts.len() < 12 {
        let got = rec
            .receive(&voucher, Lane::Resubmit, 10, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!got.is_empty(), "visible again after a 0 s extension");
        receipts.extend(got.into_iter().map(|g| g.receipt));
    }
    // …and an extension keeps them in flight.
    rec.extend_visibility(
        &voucher,
        Lane::Resubmit,
        &receipts,
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    assert!(rec
        .receive(&voucher, Lane::Resubmit, 10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());
    rec.delete_many(&voucher, Lane::Resubmit, receipts)
        .await
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    let n = |k: aws_sdk_sqs::types::QueueAttributeName| attrs[&k].parse::<i64>().unwrap();
    assert_eq!(
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        0,
        "all 12 deleted in batches"
    );
    assert!(rec
        .receive(&voucher, Lane::DeadLetter, 10, Duration::ZERO)
        .await
        .unwrap()
        .is_empty());

    // The archive view: what EventBridge reports, and a clear refusal to list events.
    let archives = rec.archives().await.unwrap();
    assert_eq!(archives.len(), 1);
    assert_eq!(archives[0].name, "LoyaltyVoucherArchive");
    assert_eq!(archives[0].retention_days, 10);
    assert_eq!(archives[0].oldest, None);
    match rec
        .archive_events("LoyaltyVoucherArchive", None, None, None, 10)
        .await
    {
        Err(ArchiveError::Unsupported(m)) => {
            assert!(m.contains("cannot list the events of an archive"), "{m}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(
        rec.count_archived("LoyaltyVoucherArchive", at(0), at(1))
            .await,
        Ok(0)
    );
    assert!(matches!(
        rec.count_archived("Missing", at(0), at(1)).await,
        Err(ReplayError::Rejected(_))
    ));
}
