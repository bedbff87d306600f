//! The SDK configuration is AWS's: retries from `AWS_MAX_ATTEMPTS`,
//! `AWS_RETRY_MODE` and the profile, endpoints from
//! `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`, with the mediator's
//! explicit settings (one endpoint for every service, attempts) on top.
//! Each check runs real SDK clients against recording fakes on loopback.

use crate::common;

use aws_backend::{load_config, AwsSettings};
use common::{Call, FakeAws};
use serde_json::{json, Value};

/// Sets environment variables for the length of a check and restores what
/// was there before (each test runs in its own process under nextest).
struct Env(Vec<(&'static str, Option<std::ffi::OsString>)>);

impl Env {
    fn set<V: AsRef<std::ffi::OsStr>>(vars: &[(&'static str, Option<V>)]) -> Env {
        let saved = vars
            .iter()
            .map(|(k, v)| {
                let old = std::env::var_os(k);
                match v {
                    Some(v) => std::env::set_var(k, v),
                    None => std::env::remove_var(k),
                }
                (*k, old)
            })
            .collect();
        Env(saved)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (k, old) in self.0.drain(..) {
            match old {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
}

fn settings() -> AwsSettings {
    AwsSettings {
        region: Some("us-east-1".into()),
        ..AwsSettings::default()
    }
}

/// How many requests one EventBridge call sends to an endpoint that always
/// throttles, with `settings` (endpoint: the fake).
async fn attempts_when_throttled(mut settings: AwsSettings) -> (usize, aws_config::SdkConfig) {
    let fake = FakeAws::start(|_: &str, _: &Value, _: &[Call]| {
        (
            400,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        )
    })
    .await;
    settings.endpoint_url = Some(fake.endpoint.clone());
    let conf = load_config(&settings).await;
    let err = aws_sdk_eventbridge::Client::new(&conf)
        .list_event_buses()
        .send()
        .await
        .expect_err("always throttled");
    assert!(
        aws_backend::sdk_message(&err).contains("ThrottlingException"),
        "{err:?}"
    );
    (fake.calls("ListEventBuses").len(), conf)
}

#[tokio::test]
async fn retries_follow_aws_max_attempts_retry_mode_and_the_profile() {
    use aws_config::retry::RetryMode;
    common::test_env();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let one_attempt = write("one", "[default]\nmax_attempts = 1\n");
    let adaptive = write("adaptive", "[default]\nretry_mode = adaptive\n");
    let no_profile = dir.path().join("none").to_str().unwrap().to_string();
    let mode = |conf: &aws_config::SdkConfig| conf.retry_config().unwrap().mode();

    // Nothing configured: the SDK's standard mode, 3 attempts.
    let _env = Env::set(&[
        ("AWS_CONFIG_FILE", Some(&no_profile)),
        ("AWS_MAX_ATTEMPTS", None),
        ("AWS_RETRY_MODE", None),
    ]);
    let (n, conf) = attempts_when_throttled(settings()).await;
    assert_eq!(n, 3, "the SDK's default");
    assert_eq!(mode(&conf), RetryMode::Standard);

    // The environment.
    let _env2 = Env::set(&[("AWS_MAX_ATTEMPTS", Some("2"))]);
    let (n, _) = attempts_when_throttled(settings()).await;
    assert_eq!(n, 2, "AWS_MAX_ATTEMPTS=2");
    let _env3 = Env::set(&[("AWS_RETRY_MODE", Some("adaptive"))]);
    assert_eq!(mode(&load_config(&settings()).await), RetryMode::Adaptive);
    drop((_env3, _env2));

    // The profile's max_attempts, under the environment's.
    let _env2 = Env::set(&[("AWS_CONFIG_FILE", Some(&one_attempt))]);
    let (n, _) = attempts_when_throttled(settings()).await;
    assert_eq!(n, 1, "the profile's max_attempts = 1");
    let _env3 = Env::set(&[("AWS_MAX_ATTEMPTS", Some("2"))]);
    let (n, _) = attempts_when_throttled(settings()).await;
    assert_eq!(n, 2, "AWS_MAX_ATTEMPTS over the profile");
    // An explicit setting over both.
    let (n, _) = attempts_when_throttled(AwsSettings {
        max_attempts: Some(1),
        ..settings()
    })
    .await;
    assert_eq!(n, 1, "the explicit setting over both");
    drop((_env3, _env2));

    // The profile's retry_mode, kept under an explicit number of attempts.
    let _env2 = Env::set(&[("AWS_CONFIG_FILE", Some(&adaptive))]);
    assert_eq!(mode(&load_config(&settings()).await), RetryMode::Adaptive);
    let conf = load_config(&AwsSettings {
        max_attempts: Some(5),
        ..settings()
    })
    .await;
    assert_eq!(mode(&conf), RetryMode::Adaptive);
    assert_eq!(conf.retry_config().unwrap().max_attempts(), 5);
}

#[test]
fn invalid_retry_variables_are_refused_naming_them() {
    let _env = Env::set(&[("AWS_MAX_ATTEMPTS", Some("0")), ("AWS_RETRY_MODE", None)]);
    let err = aws_backend::check_retry_environment().unwrap_err();
    assert!(err.starts_with("AWS_MAX_ATTEMPTS: "), "{err}");
    let _env = Env::set(&[
        ("AWS_MAX_ATTEMPTS", Some("5")),
        ("AWS_RETRY_MODE", Some("legacy")),
    ]);
    let err = aws_backend::check_retry_environment().unwrap_err();
    assert!(err.starts_with("AWS_RETRY_MODE: "), "{err}");
    let _env = Env::set(&[("AWS_RETRY_MODE", Some("Adaptive"))]);
    aws_backend::check_retry_environment().unwrap();
}

/// A fake answering every operation with an empty success.
async fn fake() -> FakeAws {
    FakeAws::start(|op: &str, _: &Value, _: &[Call]| {
        let body = match op {
            "ListTables" => json!({"TableNames": []}),
            "ListEventBuses" => json!({"EventBuses": []}),
            _ => json!({}),
        };
        (200, body)
    })
    .await
}

/// Sends one call to each service with `conf`.
async fn call_each_service(conf: &aws_config::SdkConfig) {
    aws_sdk_dynamodb::Client::new(conf)
        .list_tables()
        .send()
        .await
        .expect("DynamoDB ListTables");
    aws_sdk_eventbridge::Client::new(conf)
        .list_event_buses()
        .send()
        .await
        .expect("EventBridge ListEventBuses");
    aws_sdk_sqs::Client::new(conf)
        .list_queues()
        .send()
        .await
        .expect("SQS ListQueues");
}

fn ops(fake: &FakeAws) -> Vec<String> {
    fake.calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.op.clone())
        .collect()
}

#[tokio::test]
async fn each_service_uses_its_endpoint_variable_unless_an_endpoint_is_given() {
    common::test_env();
    let (dynamodb, events, sqs, global, explicit) = (
        fake().await,
        fake().await,
        fake().await,
        fake().await,
        fake().await,
    );
    let _env = Env::set(&[
        ("AWS_ENDPOINT_URL", Some(global.endpoint.as_str())),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            Some(dynamodb.endpoint.as_str()),
        ),
        (
            "AWS_ENDPOINT_URL_EVENTBRIDGE",
            Some(events.endpoint.as_str()),
        ),
        ("AWS_ENDPOINT_URL_SQS", Some(sqs.endpoint.as_str())),
    ]);
    call_each_service(&load_config(&settings()).await).await;
    assert_eq!(ops(&dynamodb), ["ListTables"]);
    assert_eq!(ops(&events), ["ListEventBuses"]);
    assert_eq!(ops(&sqs), ["ListQueues"]);
    assert!(ops(&global).is_empty(), "{:?}", ops(&global));

    // A service without its own variable uses AWS_ENDPOINT_URL.
    let _env2 = Env::set(&[("AWS_ENDPOINT_URL_SQS", None::<&str>)]);
    call_each_service(&load_config(&settings()).await).await;
    assert_eq!(ops(&global), ["ListQueues"]);

    // An explicit endpoint (`--endpoint-url`) is every service's.
    let conf = load_config(&AwsSettings {
        endpoint_url: Some(explicit.endpoint.clone()),
        ..settings()
    })
    .await;
    call_each_service(&conf).await;
    assert_eq!(
        ops(&explicit),
        ["ListTables", "ListEventBuses", "ListQueues"]
    );
    assert_eq!(ops(&dynamodb).len(), 2, "not called again");
}
