//! `AwsEvents` against a recording fake EventBridge on loopback: batching
//! boundaries (entry count and size), partial failures retried entry by
//! entry, permanent refusals, and the SDK's retries of throttled calls.

use crate::common;

use std::time::Duration;

use aws_backend::{entry_size, AwsEvents, PublishSettings, MAX_BATCH_BYTES};
use common::{Call, FakeAws};
use mediator_core::events::{EventPublisher, OutgoingEvent};
use serde_json::{json, Value};

fn event(tag: &str, pad: usize) -> OutgoingEvent {
    OutgoingEvent {
        source: "service-loyalty-vendor-mediator".into(),
        detail_type: "task-status".into(),
        detail: json!({ "tag": tag, "pad": "x".repeat(pad) }),
        time: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    }
}

/// Accepts every entry except those whose detail tag is refused by `refuse`
/// (given the tag and how many earlier PutEvents calls carried it).
fn put_events_fake(
    refuse: impl Fn(&str, usize) -> Option<&'static str> + Send + Sync + 'static,
) -> impl Fn(&str, &Value, &[Call]) -> (u16, Value) + Send + Sync + 'static {
    move |op, body, earlier| {
        assert_eq!(op, "PutEvents");
        let mut failed = 0;
        let entries: Vec<Value> = body["Entries"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let detail: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
                let tag = detail["tag"].as_str().unwrap().to_string();
                let seen = earlier
                    .iter()
                    .filter(|c| {
                        c.body
                            .to_string()
                            .contains(&format!(r#"\"tag\":\"{tag}\""#))
                    })
                    .count();
                match refuse(&tag, seen) {
                    Some(code) => {
                        failed += 1;
                        json!({"ErrorCode": code, "ErrorMessage": format!("refused {tag}")})
                    }
                    None => json!({"EventId": format!("id-{i}")}),
                }
            })
            .collect();
        (200, json!({"FailedEntryCount": failed, "Entries": entries}))
    }
}

async fn publisher(fake: &FakeAws, settings: PublishSettings, attempts: Option<u32>) -> AwsEvents {
    let conf = common::sdk_config(&fake.endpoint, attempts).await;
    AwsEvents::new(
        aws_sdk_eventbridge::Client::new(&conf),
        "loyalty-bus",
        settings,
    )
}

fn fast() -> PublishSettings {
    PublishSettings {
        entry_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn tags(call: &Value) -> Vec<String> {
    call["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let d: Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
            d["tag"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn batches_at_ten_entries_and_256_kb_in_order() {
    let fake = FakeAws::start(put_events_fake(|_, _| None)).await;
    let p = publisher(&fake, fast(), None).await;
    let small: Vec<_> = (0..25).map(|i| event(&format!("s{i}"), 10)).collect();
    p.publish(&small).await.unwrap();
    let calls = fake.calls("PutEvents");
    let sizes: Vec<usize> = calls.iter().map(|c| tags(c).len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let all: Vec<String> = calls.iter().flat_map(tags).collect();
    assert_eq!(all, (0..25).map(|i| format!("s{i}")).collect::<Vec<_>>());
    let first = &calls[0]["Entries"][0];
    assert_eq!(first["EventBusName"], "loyalty-bus");
    assert_eq!(first["Source"], "service-loyalty-vendor-mediator");
    assert_eq!(first["DetailType"], "task-status");
    assert_eq!(first["Time"].as_f64(), Some(1_800_000_000.0));

    // Entries of 100 KB: two fit in 256 KB, a third does not; an entry of
    // exactly 256 KB travels alone.
    let fake = FakeAws::start(put_events_fake(|_, _| None)).await;
    let p = publisher(&fake, fast(), None).await;
    let overhead = entry_size(&event("b0", 0));
    let mut big: Vec<_> = (0..5)
        .map(|i| event(&format!("b{i}"), 100 * 1024))
        .collect();
    big.push(event("b5", MAX_BATCH_BYTES - overhead));
    assert_eq!(entry_size(&big[5]), MAX_BATCH_BYTES);
    p.publish(&big).await.unwrap();
    let sizes: Vec<usize> = fake
        .calls("PutEvents")
        .iter()
        .map(|c| tags(c).len())
        .collect();
    assert_eq!(sizes, [2, 2, 1, 1]);
    for c in fake.calls("PutEvents") {
        let bytes: usize = c["Entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                14 + e["Source"].as_str().unwrap().len()
                    + e["DetailType"].as_str().unwrap().len()
                    + e["Detail"].as_str().unwrap().len()
            })
            .sum();
        assert!(bytes <= MAX_BATCH_BYTES, "{bytes} bytes in one call");
    }
    let err = p
        .publish(&[event("huge", MAX_BATCH_BYTES)])
        .await
        .unwrap_err();
    assert!(
        err.0.contains("entry 0") && err.0.contains("more than PutEvents"),
        "{err}"
    );
}

#[tokio::test]
async fn only_the_refused_entries_are_sent_again() {
    // e2 and e7 are throttled on their first try only.
    let fake = FakeAws::start(put_events_fake(|tag, seen| {
        (matches!(tag, "e2" | "e7") && seen == 0).then_some("ThrottlingException")
    }))
    .await;
    let p = publisher(&fake, fast(), None).await;
    let events: Vec<_> = (0..12).map(|i| event(&format!("e{i}"), 10)).collect();
    p.publish(&events).await.unwrap();
    let calls: Vec<Vec<String>> = fake.calls("PutEvents").iter().map(tags).collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0].len(), 10);
    assert_eq!(calls[1], ["e2", "e7"], "only the refused entries, in order");
    assert_eq!(calls[2], ["e10", "e11"]);
}

#[tokio::test]
async fn entries_refused_on_every_attempt_are_named_in_the_error() {
    let fake = FakeAws::start(put_events_fake(|tag, _| {
        (tag == "e4").then_some("InternalFailure")
    }))
    .await;
    let p = publisher(&fake, fast(), None).await;
    let events: Vec<_> = (0..6).map(|i| event(&format!("e{i}"), 10)).collect();
    let err = p.publish(&events).await.unwrap_err();
    let calls: Vec<Vec<String>> = fake.calls("PutEvents").iter().map(tags).collect();
    assert_eq!(calls.len(), 3, "bounded by entry_attempts: {calls:?}");
    assert_eq!(calls[1], ["e4"]);
    assert_eq!(calls[2], ["e4"]);
    assert!(
        err.0
            .starts_with("1 of 6 entries refused after 3 attempt(s): entry 4 (task-status"),
        "{err}"
    );
    assert!(err.0.contains("InternalFailure refused e4"), "{err}");

    // A refusal no retry can fix stops at once.
    let fake = FakeAws::start(put_events_fake(|tag, _| {
        (tag == "e1").then_some("MalformedDetail")
    }))
    .await;
    let p = publisher(&fake, fast(), None).await;
    let err = p.publish(&events).await.unwrap_err();
    assert_eq!(fake.calls("PutEvents").len(), 1);
    assert!(
        err.0.contains("entry 1 ") && err.0.contains("MalformedDetail"),
        "{err}"
    );
}

#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk_up_to_max_attempts() {
    let throttle_twice = |_: &str, _: &Value, earlier: &[Call]| {
        if earlier.len() < 2 {
            (
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
            )
        } else {
            (
                200,
                json!({"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}),
            )
        }
    };
    let fake = FakeAws::start(throttle_twice).await;
    let p = publisher(&fake, fast(), Some(3)).await;
    p.publish(&[event("t", 1)]).await.unwrap();
    assert_eq!(
        fake.calls("PutEvents").len(),
        3,
        "two throttled calls retried"
    );

    let fake = FakeAws::start(throttle_twice).await;
    let p = publisher(&fake, fast(), Some(2)).await;
    let err = p.publish(&[event("t", 1)]).await.unwrap_err();
    assert_eq!(fake.calls("PutEvents").len(), 2);
    assert!(err.0.contains("ThrottlingException"), "{err}");
}

/// Against moto, with the provisioned resources: 25 retry events go out in
/// three calls and all land in the part's archive; a replay of them reaches
/// the resubmit queue carrying `replay-name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_retry_events_are_archived_and_replayed_on_moto() {
    use mediator_core::{ArchiveReplays, Lane, PartName, PartSettings, ResubmitQueue};
    let m = common::Moto::start();
    let conf = common::moto_config(&m).await;
    let voucher = PartName::parse("voucher").unwrap();
    let part = PartSettings::new(voucher.clone());
    aws_backend::provision::provision(&conf, std::slice::from_ref(&part), false)
        .await
        .unwrap();
    let base = chrono::Utc::now() - chrono::Duration::minutes(30);
    let events: Vec<_> = (0..25)
        .map(|i| {
            mediator_core::events::voucher_status_event(
                "voucher",
                mediator_core::VoucherStatus::Retry,
                &mediator_core::VoucherKeys {
                    loyalty_request_id: format!("r{i}"),
                    loyalty_reference: "l".into(),
                    merchant_reference: "m".into(),
                    loyalty_order_reference: "o".into(),
                },
                base + chrono::Duration::seconds(i),
            )
        })
        .collect();
    let p = AwsEvents::new(
        aws_sdk_eventbridge::Client::new(&conf),
        "loyalty-bus",
        PublishSettings::default(),
    );
    p.publish(&events).await.unwrap();
    let loc =
        aws_backend::Location::discover(&aws_sdk_eventbridge::Client::new(&conf), "loyalty-bus")
            .await
            .unwrap();
    let rec = aws_backend::AwsRecovery::new(&conf, loc);
    assert_eq!(
        rec.count_archived(&part.archive_name, base, chrono::Utc::now())
            .await
            .unwrap(),
        25
    );
    let req = mediator_core::ReplayRequest {
        name: mediator_core::events::replay_name(&part.archive_name, chrono::Utc::now()),
        part: voucher.clone(),
        archive: part.archive_name.clone(),
        start: base - chrono::Duration::minutes(1),
        end: chrono::Utc::now(),
    };
    rec.start_replay(&req).await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < 25 {
        let got = rec
            .receive(&voucher, Lane::Resubmit, 10, Duration::from_secs(2))
            .await
            .unwrap();
        assert!(!got.is_empty(), "replayed events missing: {ids:?}");
        for g in &got {
            let v: Value = serde_json::from_str(&g.body).unwrap();
            assert_eq!(v["replay-name"], req.name.as_str());
            ids.push(
                v["detail"]["data"]["loyalty_request_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        rec.delete_many(
            &voucher,
            Lane::Resubmit,
            got.into_iter().map(|g| g.receipt).collect(),
        )
        .await
        .unwrap();
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}
