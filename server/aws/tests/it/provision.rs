//! `provision` against moto: a dry run plans every resource and writes
//! nothing; the first run creates them; the second finds them unchanged;
//! a changed setting is an update.

use crate::common;

use aws_backend::provision::{provision, Change, Step};
use mediator_core::{PartName, PartSettings};

fn parts(retention: u32) -> Vec<PartSettings> {
    ["voucher", "member", "points"]
        .into_iter()
        .map(|p| PartSettings {
            retention_days: retention,
            ..PartSettings::new(PartName::parse(p).unwrap())
        })
        .collect()
}

fn lines(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| format!("{} {} {}", s.change.as_str(), s.kind, s.name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_is_planned_applied_then_a_no_op() {
    let m = common::Moto::start();
    let conf = common::moto_config(&m).await;

    let plan = provision(&conf, &parts(10), true).await.unwrap();
    let expected = [
        "create event-bus loyalty-bus",
        "create queue voucher-resubmit-dlq",
        "create queue voucher-resubmit",
        "create archive LoyaltyVoucherArchive",
        "create rule LoyaltyVoucherResubmit",
        "create queue member-resubmit-dlq",
        "create queue member-resubmit",
        "create archive LoyaltyMemberArchive",
        "create rule LoyaltyMemberResubmit",
        "create queue points-resubmit-dlq",
        "create queue points-resubmit",
        "create archive LoyaltyPointsArchive",
        "create rule LoyaltyPointsResubmit",
        "create queue voucher-requests-dlq",
        "create queue voucher-requests",
        "create rule VoucherRequests",
        "create table mediator-parts",
        "create table mediator-changes",
        "create table mediator-monitor",
        "create table mediator-vouchers",
        "create table mediator-voucher-events",
        "create table mediator-audit",
        "create table mediator-replays",
        "create table mediator-access",
        "create table mediator-feed",
        "create table mediator-notify",
    ];
    assert_eq!(lines(&plan), expected);
    assert_eq!(
        provision(&conf, &parts(10), true).await.unwrap(),
        plan,
        "a dry run writes nothing"
    );

    let applied = provision(&conf, &parts(10), false).await.unwrap();
    assert_eq!(lines(&applied), expected);
    let again = provision(&conf, &parts(10), false).await.unwrap();
    assert!(
        again.iter().all(|s| s.change == Change::Unchanged),
        "second run: {:#?}",
        again
    );
    assert_eq!(again.len(), expected.len());

    // The tables have their keys, indexes and TTL.
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let t = ddb
        .describe_table()
        .table_name("mediator-changes")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let keys: Vec<(&str, &str)> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let mut indexes: Vec<&str> = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["part_time", "unpub"]);
    let ttl = ddb
        .describe_time_to_live()
        .table_name("mediator-monitor")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("ttl")
    );

    // What was created is wired as the plan says.
    let eb = aws_sdk_eventbridge::Client::new(&conf);
    let t = eb
        .list_targets_by_rule()
        .rule("LoyaltyVoucherResubmit")
        .event_bus_name("loyalty-bus")
        .send()
        .await
        .unwrap();
    assert_eq!(
        t.targets()[0].arn(),
        "arn:aws:sqs:us-east-1:123456789012:voucher-resubmit"
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
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive: serde_json::Value = serde_json::from_str(
        &attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy],
    )
    .unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        "arn:aws:sqs:us-east-1:123456789012:voucher-resubmit-dlq"
    );

    // A changed retention is an update of the three archives only.
    let plan = provision(&conf, &parts(7), true).await.unwrap();
    let changed: Vec<String> = plan
        .iter()
        .filter(|s| s.change != Change::Unchanged)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "update    archive   LoyaltyVoucherArchive (retention)",
            "update    archive   LoyaltyMemberArchive (retention)",
            "update    archive   LoyaltyPointsArchive (retention)",
        ]
    );
    provision(&conf, &parts(7), false).await.unwrap();
    assert!(provision(&conf, &parts(7), true)
        .await
        .unwrap()
        .iter()
        .all(|s| s.change == Change::Unchanged));
}
