//! Readiness on the AWS backend: `/readyz` answers for what a replica
//! needs — its DynamoDB tables, the bus, the archives and queues, reached
//! with its credentials — not for the local database, and names what
//! failed.

use crate::aws_mode::{provisioned_moto, spawn_on_aws};
use crate::common::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_names_the_missing_table_or_bus() {
    let (moto, conf) = provisioned_moto().await;
    let app = spawn_on_aws(moto.endpoint.clone()).await;
    let ready = |app: &crate::common::TestApp| {
        let url = app.url("/readyz");
        let client = app.client.clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            let code = res.status().as_u16();
            (code, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (code, body) = ready(&app).await;
    assert_eq!((code, &body["status"]), (200, &"ready".into()), "{body}");

    // A table goes away: not ready, naming it and AWS's reason.
    aws_sdk_dynamodb::Client::new(&conf)
        .delete_table()
        .table_name("mediator-audit")
        .send()
        .await
        .expect("DeleteTable");
    let body = eventually(10, "not ready without the audit table", || async {
        match ready(&app).await {
            (503, body) => Ok(body),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await;
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(
        body["reason"], "dynamodb table mediator-audit: ResourceNotFoundException",
        "{body}"
    );
    assert_eq!(body["failed"].as_array().map(Vec::len), Some(1), "{body}");

    // The bus goes away too (moto lets a bus with rules go; AWS wants its
    // rules removed first): both named, the table first.
    let events = aws_sdk_eventbridge::Client::new(&conf);
    events
        .delete_event_bus()
        .name("loyalty-bus")
        .send()
        .await
        .expect("DeleteEventBus");
    let body = eventually(10, "the bus named too", || async {
        let (code, body) = ready(&app).await;
        let failed: Vec<String> = body["failed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["dependency"].as_str().unwrap_or_default().to_string())
            .collect();
        if code == 503 && failed.contains(&"event bus loyalty-bus".to_string()) {
            Ok(body)
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await;
    assert_eq!(
        body["failed"][0]["dependency"], "dynamodb table mediator-audit",
        "{body}"
    );
    assert_eq!(
        body["failed"][1]["dependency"], "event bus loyalty-bus",
        "{body}"
    );
    assert_eq!(
        body["failed"][1]["reason"], "ResourceNotFoundException",
        "{body}"
    );
    app.stop().await;
}
