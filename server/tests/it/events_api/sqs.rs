//! The embedded queues through SQS's JSON protocol, driven with
//! aws-sdk-sqs on the EventBridge listener: a rule's queue target read with
//! ReceiveMessage, an archive replayed into a queue, and SQS's own answers
//! (attributes, batches, visibility, redrive, purge, errors).

use super::*;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    QueueAttributeName, SendMessageBatchRequestEntry,
};

/// An SQS client as an application builds one, pointed at the listener.
async fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&conf)
}

async fn queue_attribute(sqs: &aws_sdk_sqs::Client, url: &str, name: QueueAttributeName) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&name))
        .cloned()
        .unwrap_or_else(|| panic!("{name:?} missing"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_reads_what_a_rule_delivers() {
    let app = spawn_app().await;
    let sqs = sqs_client(&app.endpoint).await;
    let url = sqs
        .create_queue()
        .queue_name("orders")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    assert_eq!(url, format!("{}/000000000000/orders", app.endpoint));
    let arn = queue_attribute(&sqs, &url, QueueAttributeName::QueueArn).await;
    assert_eq!(arn, "arn:aws:sqs:us-east-1:000000000000:orders");

    let c = &app.client;
    c.put_rule()
        .name("orders")
        .event_pattern(r#"{"source": ["shop"]}"#)
        .send()
        .await
        .unwrap();
    c.put_targets()
        .rule("orders")
        .targets(Target::builder().id("q").arn(&arn).build().unwrap())
        .send()
        .await
        .unwrap();
    let id = c
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .source("shop")
                .detail_type("order-placed")
                .detail(r#"{"order": 7}"#)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .entries()[0]
        .event_id()
        .unwrap()
        .to_string();

    let got = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let event: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["detail"], serde_json::json!({"order": 7}));
    let attrs = m.attributes().unwrap();
    assert_eq!(
        attrs
            .get(&MessageSystemAttributeName::ApproximateReceiveCount)
            .map(String::as_str),
        Some("1")
    );
    assert!(attrs.contains_key(&MessageSystemAttributeName::SentTimestamp));
    assert_eq!(m.md5_of_body().map(str::len), Some(32));
    // In flight until deleted.
    assert_eq!(
        queue_attribute(
            &sqs,
            &url,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible
        )
        .await,
        "1"
    );
    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        queue_attribute(
            &sqs,
            &url,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible
        )
        .await,
        "0"
    );
    // An empty short poll answers no message list at all.
    let none = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(none.messages().is_empty());

    let rules = c
        .list_rule_names_by_target()
        .target_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rule_names(), ["orders"]);
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_receives_an_archive_replay() {
    let app = spawn_app().await;
    let sqs = sqs_client(&app.endpoint).await;
    let url = sqs
        .create_queue()
        .queue_name("replayed")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let c = &app.client;
    c.create_archive()
        .archive_name("all-of-it")
        .event_source_arn("arn:aws:events:us-east-1:000000000000:event-bus/default")
        .send()
        .await
        .unwrap();
    c.put_rule()
        .name("replays-only")
        .event_pattern(r#"{"replay-name": [{"exists": true}]}"#)
        .send()
        .await
        .unwrap();
    c.put_targets()
        .rule("replays-only")
        .targets(
            Target::builder()
                .id("q")
                .arn("arn:aws:sqs:us-east-1:000000000000:replayed")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for n in 0..3 {
        c.put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .time(secs(now_ms - 120_000 + n * 1000))
                    .source("shop")
                    .detail_type("order-placed")
                    .detail(format!(r#"{{"n": {n}}}"#))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // Live events do not reach the replay rule.
    let live = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(live.messages().is_empty());
    c.start_replay()
        .replay_name("back-again")
        .event_source_arn("arn:aws:events:us-east-1:000000000000:archive/all-of-it")
        .event_start_time(secs(now_ms - 600_000))
        .event_end_time(secs(now_ms))
        .destination(
            ReplayDestination::builder()
                .arn("arn:aws:events:us-east-1:000000000000:event-bus/default")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mut bodies = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while bodies.len() < 3 && tokio::time::Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            bodies.push(serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    for (n, b) in bodies.iter().enumerate() {
        assert_eq!(b["replay-name"], "back-again");
        assert_eq!(b["detail"]["n"], n);
    }
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_answers_as_sqs_does() {
    let app = spawn_app().await;
    let sqs = sqs_client(&app.endpoint).await;

    // Unknown queues: SQS's QueueDoesNotExist.
    let err = sqs
        .get_queue_url()
        .queue_name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_does_not_exist(),
        "{err:?}"
    );
    let (_, message) = crate::common::service_error(err);
    assert_eq!(message, "The specified queue does not exist.");
    let err = sqs
        .send_message()
        .queue_url(format!("{}/000000000000/nope", app.endpoint))
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_does_not_exist(),
        "{err:?}"
    );

    // Attributes as given, SQS's defaults otherwise; the same CreateQueue
    // again is fine, other attributes are QueueAlreadyExists.
    let dlq = sqs
        .create_queue()
        .queue_name("work-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let redrive = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:work-dlq","maxReceiveCount":2}"#;
    let create = || {
        sqs.create_queue()
            .queue_name("work")
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
    };
    let url = create().send().await.unwrap().queue_url.unwrap();
    assert_eq!(create().send().await.unwrap().queue_url.unwrap(), url);
    let err = sqs
        .create_queue()
        .queue_name("work")
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_queue_name_exists(),
        "{err:?}"
    );
    assert_eq!(
        crate::common::service_error(err).1,
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout"
    );
    let all = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()
        .clone();
    let get = |n: QueueAttributeName| all.get(&n).cloned().unwrap_or_default();
    assert_eq!(get(QueueAttributeName::VisibilityTimeout), "1");
    assert_eq!(get(QueueAttributeName::DelaySeconds), "0");
    assert_eq!(get(QueueAttributeName::MaximumMessageSize), "1048576");
    assert_eq!(get(QueueAttributeName::MessageRetentionPeriod), "345600");
    let policy: serde_json::Value =
        serde_json::from_str(&get(QueueAttributeName::RedrivePolicy)).unwrap();
    assert_eq!(
        policy,
        serde_json::json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:work-dlq", "maxReceiveCount": 2})
    );

    // Listing by prefix, paged.
    let first = sqs
        .list_queues()
        .queue_name_prefix("work")
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.queue_urls(), std::slice::from_ref(&url));
    let rest = sqs
        .list_queues()
        .queue_name_prefix("work")
        .max_results(1)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.queue_urls(), std::slice::from_ref(&dlq));
    assert_eq!(rest.next_token(), None);

    // A batch with message attributes, one bad entry refused alone.
    let attr = MessageAttributeValue::builder()
        .data_type("String")
        .string_value("foobar")
        .build()
        .unwrap();
    let sent = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("message-1")
                .message_attributes("MyAttribute", attr)
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b")
                .message_body("message-2")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("c")
                .message_body("late")
                .delay_seconds(901)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sent.successful().len(), 2);
    // SQS's digests, as recorded against SQS for these very messages.
    assert_eq!(
        sent.successful()[0].md5_of_message_body(),
        "3d6b824fd8c1520e9a047d21fee6fb1f"
    );
    assert_eq!(
        sent.successful()[0].md5_of_message_attributes(),
        Some("adb59cd4678ea5a855436b949cd07ab6")
    );
    assert_eq!(sent.failed().len(), 1);
    assert_eq!(sent.failed()[0].id(), "c");
    assert!(sent.failed()[0].sender_fault());

    // Received with the attributes asked for; visibility changed; after
    // two receives a message goes to the dead-letter queue.
    let got = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 2);
    let first = &got.messages()[0];
    assert_eq!(first.body(), Some("message-1"));
    assert_eq!(
        first.message_attributes().unwrap()["MyAttribute"].string_value(),
        Some("foobar")
    );
    assert_eq!(
        first.md5_of_message_attributes(),
        Some("adb59cd4678ea5a855436b949cd07ab6")
    );
    assert!(got.messages()[1].message_attributes().is_none());
    // Keep the second in flight for a minute; the first comes back after 1 s.
    sqs.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(got.messages()[1].receipt_handle().unwrap())
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    let again = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(5)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap();
    assert_eq!(again.messages().len(), 1);
    assert_eq!(again.messages()[0].body(), Some("message-1"));
    assert_eq!(
        again.messages()[0].attributes().unwrap()
            [&MessageSystemAttributeName::ApproximateReceiveCount],
        "2"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let third = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(
        third.messages().is_empty(),
        "moved to the dead-letter queue"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dlq)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages().len(), 1);
    assert_eq!(dead.messages()[0].body(), Some("message-1"));

    // A move task sends it back to the queue it came from.
    sqs.change_message_visibility()
        .queue_url(&dlq)
        .receipt_handle(dead.messages()[0].receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:work-dlq";
    let err = sqs
        .start_message_move_task()
        .source_arn("arn:aws:sqs:us-east-1:000000000000:work")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err).1,
        "Source queue must be configured as a Dead Letter Queue."
    );
    sqs.start_message_move_task()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap();
    let tasks = sqs
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .send()
        .await
        .unwrap();
    let task = &tasks.results()[0];
    assert_eq!(task.status(), Some("COMPLETED"));
    assert_eq!(task.approximate_number_of_messages_moved(), 1);
    let back = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert_eq!(back.messages().len(), 1);
    assert_eq!(back.messages()[0].body(), Some("message-1"));

    let done = sqs
        .delete_message_batch()
        .queue_url(&url)
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("x")
                .receipt_handle(back.messages()[0].receipt_handle().unwrap())
                .build()
                .unwrap(),
        )
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("y")
                .receipt_handle("garbage")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.successful().len(), 1);
    assert_eq!(done.failed()[0].code(), "ReceiptHandleIsInvalid");

    // Parameters out of range, a second purge within a minute.
    let err = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(11)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err).1,
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
    );
    let err = sqs
        .create_queue()
        .queue_name("fifo")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        crate::common::service_error(err).1,
        "Unknown Attribute ContentBasedDeduplication."
    );
    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    let err = sqs.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_purge_queue_in_progress(),
        "{err:?}"
    );
    assert_eq!(
        queue_attribute(&sqs, &url, QueueAttributeName::ApproximateNumberOfMessages).await,
        "0"
    );
    app.shutdown.cancel();
    app.handle.await.unwrap().unwrap();
}
