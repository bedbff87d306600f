//! Scheduled rules fire on the scheduler's clock: each step is driven with
//! a time of the test's choosing, no worker runs beside it.

use super::*;

/// A bus without workers on `dir` (reopened on the same files: a restart).
async fn open_on(dir: &std::path::Path) -> Bus {
    Bus::open(Database::open(dir).unwrap(), BusConfig::default())
        .await
        .unwrap()
}

async fn scheduled_rule(bus: &Bus, name: &str, expr: &str, queue: &str) {
    bus.put_rule(PutRuleRequest {
        name: name.into(),
        schedule_expression: Some(expr.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let r = bus
        .put_targets(PutTargetsRequest {
            rule: name.into(),
            targets: vec![Target {
                id: "q".into(),
                arn: bus.queue_arn(queue),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.failed_entry_count, 0);
}

async fn received(bus: &Bus, queue: &str) -> Vec<serde_json::Value> {
    let got = bus
        .receive_messages(queue, 100, Duration::ZERO)
        .await
        .unwrap();
    bus.delete_messages(
        queue,
        got.iter().map(|m| m.receipt_handle.clone()).collect(),
    )
    .await
    .unwrap();
    got.iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

fn at(ms: i64) -> Timestamp {
    Timestamp(ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_rule_fires_once_per_due_time_with_the_scheduled_event() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open_on(dir.path()).await;
    let before = Timestamp::now().0;
    scheduled_rule(&bus, "every-minute", "rate(1 minute)", "ticks").await;
    let after = Timestamp::now().0;

    assert_eq!(
        bus.schedule_step(at(before + 30_000)).await.unwrap(),
        0,
        "not due yet"
    );
    assert!(received(&bus, "ticks").await.is_empty());
    assert_eq!(bus.schedule_step(at(after + 60_000)).await.unwrap(), 1);
    assert_eq!(
        bus.schedule_step(at(after + 60_000)).await.unwrap(),
        0,
        "fired once"
    );
    let events = received(&bus, "ticks").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["version"], "0");
    assert_eq!(e["detail-type"], "Scheduled Event");
    assert_eq!(e["source"], "aws.events");
    assert_eq!(e["account"], "000000000000");
    assert_eq!(e["region"], "us-east-1");
    assert_eq!(
        e["resources"],
        serde_json::json!(["arn:aws:events:us-east-1:000000000000:rule/every-minute"])
    );
    assert_eq!(e["detail"], serde_json::json!({}));
    assert!(uuid::Uuid::parse_str(e["id"].as_str().unwrap()).is_ok());
    // `time` is the scheduled time (a minute after the rule was put), not
    // the time the step ran.
    let time = Timestamp::parse_rfc3339(e["time"].as_str().unwrap())
        .unwrap()
        .0;
    assert!(
        (before + 60_000) / 1000 * 1000 <= time && time <= after + 60_000,
        "time {time} not a minute after {before}..{after}"
    );

    // The next period fires once more; a step long after fires the missed
    // time once, not once per missed period.
    assert_eq!(bus.schedule_step(at(after + 120_000)).await.unwrap(), 1);
    assert_eq!(bus.schedule_step(at(after + 600_000)).await.unwrap(), 1);
    assert_eq!(bus.schedule_step(at(after + 600_000)).await.unwrap(), 0);
    assert_eq!(received(&bus, "ticks").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fired_schedule_does_not_fire_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open_on(dir.path()).await;
    scheduled_rule(&bus, "every-minute", "rate(1 minute)", "ticks").await;
    let due = Timestamp::now().0 + 61_000;
    assert_eq!(bus.schedule_step(at(due)).await.unwrap(), 1);
    drop(bus);

    let bus = open_on(dir.path()).await;
    assert_eq!(
        bus.schedule_step(at(due)).await.unwrap(),
        0,
        "the next fire time was stored with the firing"
    );
    assert_eq!(received(&bus, "ticks").await.len(), 1);
    assert_eq!(bus.schedule_step(at(due + 60_000)).await.unwrap(), 1);
    assert_eq!(received(&bus, "ticks").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_rules_do_not_fire_and_count_again_from_enabling() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open_on(dir.path()).await;
    scheduled_rule(&bus, "paused", "rate(5 minutes)", "paused-q").await;
    bus.set_rule_state("paused", None, false).await.unwrap();
    let later = Timestamp::now().0 + 3_600_000;
    assert_eq!(bus.schedule_step(at(later)).await.unwrap(), 0);
    assert!(received(&bus, "paused-q").await.is_empty());

    bus.set_rule_state("paused", None, true).await.unwrap();
    let enabled = Timestamp::now().0;
    assert_eq!(
        bus.schedule_step(at(enabled + 60_000)).await.unwrap(),
        0,
        "five minutes from enabling, not from the first put"
    );
    assert_eq!(bus.schedule_step(at(enabled + 301_000)).await.unwrap(), 1);
    // Putting the rule again unchanged keeps its phase (ten minutes from
    // enabling, not five from this put).
    bus.put_rule(PutRuleRequest {
        name: "paused".into(),
        schedule_expression: Some("rate(5 minutes)".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(bus.schedule_step(at(enabled + 450_000)).await.unwrap(), 0);
    assert_eq!(bus.schedule_step(at(enabled + 601_000)).await.unwrap(), 1);
    assert_eq!(received(&bus, "paused-q").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_rule_fires_at_the_minutes_it_names_with_its_targets_input() {
    let dir = tempfile::tempdir().unwrap();
    let bus = open_on(dir.path()).await;
    bus.put_rule(PutRuleRequest {
        name: "noon".into(),
        schedule_expression: Some("cron(0 12 * * ? *)".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    bus.put_targets(PutTargetsRequest {
        rule: "noon".into(),
        targets: vec![
            Target {
                id: "whole".into(),
                arn: bus.queue_arn("noon-q"),
                ..Default::default()
            },
            Target {
                id: "fixed".into(),
                arn: bus.queue_arn("noon-input"),
                input: Some(r#"{"job":"report"}"#.into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let next_noon = {
        let today = now.date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc();
        if today > now {
            today
        } else {
            today + chrono::Duration::days(1)
        }
    };
    let noon_ms = next_noon.timestamp_millis();
    assert_eq!(bus.schedule_step(at(noon_ms - 1)).await.unwrap(), 0);
    assert_eq!(bus.schedule_step(at(noon_ms)).await.unwrap(), 1);
    let events = received(&bus, "noon-q").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["time"],
        next_noon.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert_eq!(
        received(&bus, "noon-input").await,
        [serde_json::json!({"job": "report"})]
    );
}
