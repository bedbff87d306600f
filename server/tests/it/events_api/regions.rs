//! Regions: clients of three regions (aws-sdk-eventbridge and aws-sdk-sqs
//! configured as any application configures them, one endpoint) each see
//! their own region's resources, as on AWS: the same bus name in three
//! regions is three buses with three ARNs, each list shows only its
//! region's, each region has its own `default` bus, events carry their
//! region, and another region's resources survive a restart.

use super::*;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

async fn client_in(endpoint: &str, region: &str) -> Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    Client::new(&conf)
}

async fn sqs_in(endpoint: &str, region: &str) -> aws_sdk_sqs::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&conf)
}

/// `(name, arn)` of every bus `c`'s region lists.
async fn buses(c: &Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = c
        .list_event_buses()
        .send()
        .await
        .unwrap()
        .event_buses()
        .iter()
        .map(|b| {
            (
                b.name().unwrap_or_default().to_owned(),
                b.arn().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_same_bus_name_in_three_regions_is_three_buses() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for r in REGIONS {
        clients.push((r, client_in(&app.endpoint, r).await));
    }
    let mut arns = Vec::new();
    for (region, c) in &clients {
        let arn = c
            .create_event_bus()
            .name("orders")
            .send()
            .await
            .unwrap()
            .event_bus_arn()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            arn,
            format!("arn:aws:events:{region}:000000000000:event-bus/orders")
        );
        arns.push(arn);
        let rule = c
            .put_rule()
            .name(format!("only-{region}"))
            .event_bus_name("orders")
            .event_pattern(r#"{"source":["shop"]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            rule.rule_arn(),
            Some(
                format!("arn:aws:events:{region}:000000000000:rule/orders/only-{region}").as_str()
            )
        );
    }
    arns.dedup();
    assert_eq!(arns.len(), 3, "{arns:?}");
    for (region, c) in &clients {
        // Each region lists its own default bus and its own `orders`; the
        // mediator's bus is in the configured region only.
        let arn = |name: &str| format!("arn:aws:events:{region}:000000000000:event-bus/{name}");
        let mut want = vec![("default".to_owned(), arn("default"))];
        if *region == REGIONS[0] {
            want.push(("loyalty-bus".to_owned(), arn("loyalty-bus")));
        }
        want.push(("orders".to_owned(), arn("orders")));
        assert_eq!(buses(c).await, want);
        let rules: Vec<String> = c
            .list_rules()
            .event_bus_name("orders")
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .filter_map(|r| r.name().map(str::to_owned))
            .collect();
        assert_eq!(rules, [format!("only-{region}")]);
        let described = c.describe_event_bus().name("orders").send().await.unwrap();
        assert_eq!(described.arn(), Some(arn("orders").as_str()));
    }

    // A queue target and an event in one region: the queue is that
    // region's (SQS is regional too), the event says its region.
    let (region, eu) = &clients[1];
    let sqs_eu = sqs_in(&app.endpoint, region).await;
    let url = sqs_eu
        .create_queue()
        .queue_name("inbox")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    eu.put_targets()
        .rule(format!("only-{region}"))
        .event_bus_name("orders")
        .targets(
            Target::builder()
                .id("q")
                .arn(format!("arn:aws:sqs:{region}:000000000000:inbox"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let put = eu
        .put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name("orders")
                .source("shop")
                .detail_type("order")
                .detail("{}")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0, "{put:?}");
    let got = sqs_eu
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(got.messages()[0].body().unwrap()).unwrap();
    assert_eq!(event["region"], *region, "{event}");
    let sqs_us = sqs_in(&app.endpoint, REGIONS[0]).await;
    let listed = sqs_us.list_queues().send().await.unwrap();
    assert!(
        listed.queue_urls().iter().all(|u| !u.ends_with("/inbox")),
        "{listed:?}"
    );

    // Deleting one region's bus leaves the others'.
    let (_, ap) = &clients[2];
    ap.delete_rule()
        .name("only-ap-southeast-2")
        .event_bus_name("orders")
        .send()
        .await
        .unwrap();
    ap.delete_event_bus().name("orders").send().await.unwrap();
    assert_eq!(buses(ap).await.len(), 1);
    assert_eq!(buses(&clients[0].1).await.len(), 3);

    // Another region's resources are kept across a restart.
    let data = app.stop().await;
    let app = spawn_app_in(data).await;
    let eu = client_in(&app.endpoint, REGIONS[1]).await;
    assert_eq!(
        buses(&eu).await,
        [
            (
                "default".to_owned(),
                "arn:aws:events:eu-west-1:000000000000:event-bus/default".to_owned()
            ),
            (
                "orders".to_owned(),
                "arn:aws:events:eu-west-1:000000000000:event-bus/orders".to_owned()
            )
        ]
    );
    app.stop().await;
}

/// The Python interpreter moto runs on (boto3 comes with moto): the
/// shebang of `$MOTO_SERVER`, or of `moto_server` on `PATH`.
fn python_with_boto3() -> std::path::PathBuf {
    let moto = std::env::var_os("MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join("moto_server"))
                .find(|p| p.is_file())
        })
        .expect("moto_server (and its boto3): run `make aws-tools` or set MOTO_SERVER");
    let script = std::fs::read_to_string(&moto).expect("moto_server is a script");
    let shebang = script.lines().next().unwrap_or_default();
    std::path::PathBuf::from(
        shebang
            .strip_prefix("#!")
            .unwrap_or_else(|| panic!("no interpreter in {}", moto.display()))
            .trim(),
    )
}

/// The same with boto3 (botocore's own SigV4 signer): each region creates
/// `orders`, gets its own ARN, and lists only its own buses.
#[tokio::test]
async fn boto3_clients_of_three_regions_see_only_their_region() {
    let app = spawn_app().await;
    let script = r#"
import json, sys, boto3
endpoint, regions = sys.argv[1], sys.argv[2:]
clients = {r: boto3.client("events", region_name=r, endpoint_url=endpoint,
                           aws_access_key_id="test", aws_secret_access_key="test")
           for r in regions}
created = {r: c.create_event_bus(Name="orders")["EventBusArn"] for r, c in clients.items()}
listed = {r: sorted(b["Arn"] for b in c.list_event_buses()["EventBuses"]) for r, c in clients.items()}
print(json.dumps({"created": created, "listed": listed}))
"#;
    let endpoint = app.endpoint.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python_with_boto3())
            .arg("-c")
            .arg(script)
            .arg(&endpoint)
            .args(REGIONS)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for region in REGIONS {
        let arn = |name: &str| format!("arn:aws:events:{region}:000000000000:event-bus/{name}");
        assert_eq!(got["created"][region], arn("orders"), "{got}");
        let mut want = vec![arn("default")];
        if region == REGIONS[0] {
            want.push(arn("loyalty-bus"));
        }
        want.push(arn("orders"));
        assert_eq!(got["listed"][region], serde_json::json!(want), "{got}");
    }
    app.stop().await;
}
