//! Property tests ("fuzzing" on stable Rust) of the EventBridge wire API over
//! real HTTP on loopback: arbitrary PutEvents and TestEventPattern bodies
//! (raw bytes, any JSON, and entries with every field missing, mistyped or
//! odd) never crash the server and never get a 5xx: each answer is either a
//! 200 with one result per entry or a 4xx in AWS's error shape
//! (`{"__type": "…Exception", "message"}`). `PROPTEST_CASES` sets the cases
//! per property (default 256: seconds in `make test`; `make fuzz` runs more).

use crate::common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,10}",
        Just("loyalty-bus".to_string()),
        Just("default".to_string()),
        Just("arn:aws:events:us-east-1:000000000000:event-bus/loyalty-bus".to_string()),
        Just("{\"metadata\":{\"type\":\"voucher\",\"status\":\"retry\"}}".to_string()),
        Just("[1,2".to_string()),
        (250..300usize).prop_map(|n| "s".repeat(n)),
        (262_000..262_200usize).prop_map(|n| "d".repeat(n)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[A-Za-z]{0,12}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// One PutEvents entry: each field absent, well-formed or anything.
fn entry() -> impl Strategy<Value = Value> {
    let field = |good: Value| {
        prop_oneof![
            1 => Just(None),
            12 => Just(Some(good)),
            1 => json_value().prop_map(Some),
        ]
    };
    (
        field(json!("loyalty-bus")),
        field(json!("mediator")),
        field(json!("task-status")),
        field(json!(
            "{\"metadata\":{\"type\":\"voucher\",\"status\":\"retry\"}}"
        )),
        field(json!(1_790_000_000)),
        field(json!(["arn:aws:sqs:us-east-1:000000000000:q"])),
    )
        .prop_map(|(bus, source, dt, detail, time, resources)| {
            let mut e = Map::new();
            for (k, v) in [
                ("EventBusName", bus),
                ("Source", source),
                ("DetailType", dt),
                ("Detail", detail),
                ("Time", time),
                ("Resources", resources),
            ] {
                if let Some(v) = v {
                    e.insert(k.into(), v);
                }
            }
            Value::Object(e)
        })
}

/// A body as bytes, and the number of entries when it is a PutEvents list.
fn put_events_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Found by this test: arrays were read as the request's fields.
        1 => Just(b"[[[]]]".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        6 => prop::collection::vec(entry(), 0..13)
            .prop_map(|es| json!({ "Entries": es }).to_string().into_bytes()),
    ]
}

fn test_pattern_body() -> impl Strategy<Value = Vec<u8>> {
    // Mostly valid patterns against well-formed events with any detail, so
    // matching itself is exercised, not only the validation.
    let valid = (
        prop_oneof![
            Just(json!({"detail": {"a": [{"prefix": "x"}]}})),
            Just(json!({"detail": {"a": [{"numeric": [">", 0]}], "b": [{"exists": false}]}})),
            Just(json!({"source": ["mediator"], "detail": {"$or": [{"a": [1]}, {"b": [{"anything-but": "x"}]}]}})),
            Just(json!({"detail": {"a": [{"wildcard": "*x*"}, {"equals-ignore-case": "X"}]}})),
        ],
        json_value(),
    )
        .prop_map(|(p, detail)| {
            let event = json!({"id": "1", "account": "000000000000", "source": "mediator",
                "time": "2026-11-26T12:00:00Z", "region": "us-east-1", "resources": [],
                "detail-type": "t", "detail": detail});
            json!({"EventPattern": p.to_string(), "Event": event.to_string()})
                .to_string()
                .into_bytes()
        });
    prop_oneof![1 => any_pattern_body(), 2 => valid]
}

fn any_pattern_body() -> impl Strategy<Value = Vec<u8>> {
    (json_value(), json_value(), any::<bool>()).prop_map(|(p, e, as_text)| {
        let (p, e) = if as_text {
            (json!(p.to_string()), json!(e.to_string()))
        } else {
            (p, e)
        };
        json!({ "EventPattern": p, "Event": e })
            .to_string()
            .into_bytes()
    })
}

/// Sends `body` as `op`; checks the answer's shape; returns the status.
async fn send(client: &reqwest::Client, url: &str, op: &str, body: Vec<u8>) -> Result<u16, String> {
    let sent: Option<Value> = serde_json::from_slice(&body).ok();
    let res = client
        .post(url)
        .header("x-amz-target", format!("AWSEvents.{op}"))
        .header("content-type", "application/x-amz-json-1.1")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = res.status().as_u16();
    let text = res.text().await.map_err(|e| e.to_string())?;
    let j: Value =
        serde_json::from_str(&text).map_err(|_| format!("{status}: not JSON: {text}"))?;
    match status {
        200 => {
            if op == "PutEvents" {
                let want = sent
                    .as_ref()
                    .and_then(|s| s["Entries"].as_array())
                    .map(Vec::len);
                let got = j["Entries"].as_array().map(Vec::len);
                if want != got {
                    return Err(format!(
                        "200 with {got:?} results for {want:?} entries: {j}"
                    ));
                }
            }
            Ok(200)
        }
        400..=499 => {
            let code = j["__type"].as_str().unwrap_or_default();
            let message = j["message"].as_str().unwrap_or_default();
            if !code.ends_with("Exception") || message.is_empty() {
                return Err(format!("{status} not in AWS's error shape: {j}"));
            }
            Ok(status)
        }
        _ => Err(format!("{status}: {j}")),
    }
}

fn run(op: &'static str, strategy: impl Strategy<Value = Vec<u8>>, default_cases: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(common::spawn_app());
    let url = format!("http://{}/", app.events_addr);
    let client = app.client.clone();
    let mut runner = TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    });
    let tally = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u64>::new());
    let result = runner.run(&strategy, |body| {
        match rt.block_on(send(&client, &url, op, body)) {
            Ok(status) => {
                *tally.borrow_mut().entry(status).or_default() += 1;
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(e)),
        }
    });
    // The server is still up and answering.
    let (code, _) = rt.block_on(app.get_json("/api/v1/parts"));
    eprintln!("{op}: inputs by answer status: {:?}", tally.borrow());
    rt.block_on(app.stop());
    result.unwrap();
    assert_eq!(code, 200);
}

#[test]
fn put_events_bodies_get_results_or_aws_errors_never_a_crash() {
    run("PutEvents", put_events_body(), 256);
}

#[test]
fn test_event_pattern_bodies_get_answers_or_aws_errors_never_a_crash() {
    run("TestEventPattern", test_pattern_body(), 256);
}
