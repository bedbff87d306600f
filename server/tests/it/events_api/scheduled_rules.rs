//! Scheduled rules put through aws-sdk-eventbridge fire into an embedded
//! queue when the scheduler's step is driven past their due time, and a
//! fired time does not fire again after a restart.

use super::*;
use bus::Timestamp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_rate_rule_fires_into_a_queue_once_across_a_restart() {
    let app = spawn_app().await;
    let c = &app.client;
    let put = Timestamp::now();
    let arn = c
        .put_rule()
        .name("heartbeat")
        .schedule_expression("rate(1 minute)")
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    let queue = app.bus.queue_arn("heartbeats");
    c.put_targets()
        .rule("heartbeat")
        .targets(Target::builder().id("q").arn(&queue).build().unwrap())
        .send()
        .await
        .unwrap();
    let rule = c.describe_rule().name("heartbeat").send().await.unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 minute)"));

    // A minute and a bit later, by the step's clock (the background
    // scheduler, on the real clock, is not due for a minute).
    let due = Timestamp(put.0 + 61_000);
    assert_eq!(
        app.bus
            .schedule_step(Timestamp(put.0 + 10_000))
            .await
            .unwrap(),
        0
    );
    assert_eq!(app.bus.schedule_step(due).await.unwrap(), 1);
    let data = app.stop().await;

    let app = spawn_app_in(data).await;
    assert_eq!(
        app.bus.schedule_step(due).await.unwrap(),
        0,
        "already fired before the restart"
    );
    let events = drain(&app.bus, "heartbeats", Duration::from_millis(500)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail-type"], "Scheduled Event");
    assert_eq!(events[0]["source"], "aws.events");
    assert_eq!(events[0]["resources"], serde_json::json!([arn]));
    assert_eq!(events[0]["detail"], serde_json::json!({}));
    let time = Timestamp::parse_rfc3339(events[0]["time"].as_str().unwrap()).unwrap();
    assert!(
        time.0 <= due.0 && time.0 > put.0,
        "{time:?} is the scheduled time"
    );

    // Disabled through the API, it does not fire at its next due time.
    app.client
        .disable_rule()
        .name("heartbeat")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.bus
            .schedule_step(Timestamp(put.0 + 200_000))
            .await
            .unwrap(),
        0
    );
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}
