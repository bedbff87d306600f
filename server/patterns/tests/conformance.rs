//! Data-driven conformance suite: every LocalStack/AWS-recorded case in
//! `tests/data/localstack` (INDEX.json: expected MATCH / NO_MATCH / EXCEPTION with the
//! exact AWS message) through `test_event_pattern`, plus the other recorded AWS
//! responses of the snapshot file.

use patterns::{test_event_pattern, EventPattern, TestEventPatternError};
use serde_json::Value;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/localstack")
}

fn templates_dir() -> PathBuf {
    data_dir().join("tests/aws/services/events/event_pattern_templates")
}

/// Turn the JSON5-ish templates (line comments, trailing commas) into strict JSON.
fn json5_to_json(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i] as char;
        if in_str {
            out.push(c);
            if c == '\\' && i + 1 < b.len() {
                out.push(b[i + 1] as char);
                i += 2;
                continue;
            }
            if c == '"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
        } else if c == '/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c == ',' {
            let mut j = i + 1;
            while j < b.len() && (b[j] as char).is_whitespace() {
                j += 1;
            }
            if j < b.len() && (b[j] == b']' || b[j] == b'}') {
                i += 1;
                continue;
            }
            out.push(c);
        } else {
            out.push(c);
        }
        i += 1;
    }
    // Only ASCII is handled byte-wise above; re-decode to be safe with UTF-8 content.
    String::from_utf8(out.chars().map(|c| c as u8).collect()).expect("utf-8")
}

/// Python's `json.dumps` layout (", " and ": " separators), which LocalStack sends.
fn dumps(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), dumps(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(dumps).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Match,
    NoMatch,
    Exception(String),
}

fn run(pattern: &str, event: &str) -> Outcome {
    match test_event_pattern(pattern, event) {
        Ok(true) => Outcome::Match,
        Ok(false) => Outcome::NoMatch,
        Err(e) => Outcome::Exception(format!("{}: {}", e.code(), e.message())),
    }
}

#[test]
fn localstack_recorded_cases() {
    let index: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("INDEX.json")).unwrap())
            .unwrap();
    assert_eq!(index.len(), 155);
    let mut failures = Vec::new();
    for case in &index {
        let name = case["name"].as_str().unwrap();
        let raw = std::fs::read_to_string(templates_dir().join(format!("{name}.json5"))).unwrap();
        let template: Value = serde_json::from_str(&json5_to_json(&raw))
            .unwrap_or_else(|e| panic!("{name}: template does not parse: {e}"));
        let event = dumps(&template["Event"]);
        let pattern = dumps(&template["EventPattern"]);
        let expected = match case["expected"].as_str().unwrap() {
            "MATCH" => Outcome::Match,
            "NO_MATCH" => Outcome::NoMatch,
            "EXCEPTION" => Outcome::Exception(format!(
                "InvalidEventPatternException: {}",
                case["aws_error_message"].as_str().unwrap()
            )),
            other => panic!("unknown expectation {other}"),
        };
        let got = run(&pattern, &event);
        if got != expected {
            failures.push(format!(
                "case {name}\n  pattern:  {pattern}\n  event:    {event}\n  expected: {expected:?}\n  got:      {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} conformance cases failed:\n{}",
        failures.len(),
        index.len(),
        failures.join("\n")
    );
}

/// The snapshot's other recorded AWS responses.
#[test]
fn localstack_snapshot_extras() {
    let event = r#"{"id": "1", "source": "test-source", "detail-type": "test-detail-type", "account": "123456789012", "region": "us-east-2", "time": "2022-07-13T13:48:01Z", "detail": {"test": "test"}}"#;
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(
            data_dir().join("tests/aws/services/events/test_events_patterns.snapshot.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // test_invalid_json_event_pattern: AWS's raw Message, location suffix included.
    for pattern in [
        "this is valid json but not a dict",
        "{'bad': 'quotation'}",
        "{\"not\": closed mark\"",
        "[\"not\", \"a\", \"dict\", \"but valid json\"]",
    ] {
        let key = format!(
            "tests/aws/services/events/test_events_patterns.py::TestEventPattern::test_invalid_json_event_pattern[{pattern}]"
        );
        let recorded = &snapshot[&key]["recorded-content"]["invalid-pattern"]["Error"];
        let Err(TestEventPatternError::InvalidEventPattern(e)) = test_event_pattern(pattern, event)
        else {
            panic!("{pattern}: expected InvalidEventPatternException");
        };
        assert_eq!(recorded["Code"].as_str().unwrap(), e.code(), "{pattern}");
        assert_eq!(
            recorded["Message"].as_str().unwrap(),
            e.raw_message(),
            "{pattern}"
        );
    }
    // test_plain_string_payload / test_array_event_payload / test_invalid_event_payload.
    let pattern = r#"{"body": {"test2": [{"numeric": [">", 100]}]}}"#;
    for bad_event in [
        "plain string",
        r#"["plain string"]"#,
        r#"{"testEvent": "value"}"#,
    ] {
        let e = test_event_pattern(pattern, bad_event).unwrap_err();
        assert_eq!(
            (e.code(), e.message().as_str()),
            ("ValidationException", "Parameter Event is not valid.")
        );
    }
    // The raw message of a validation error carries Jackson's location, as AWS's does.
    let e = EventPattern::parse("{\"int\": 42}").unwrap_err();
    assert_eq!(
        e.raw_message(),
        "Event pattern is not valid. Reason: \"int\" must be an object or an array\n at [Source: (String)\"{\"int\": 42}\"; line: 1, column: 11]"
    );
    // test_event_pattern_source
    let ev = r#"{"id": "1", "source": "order", "detail-type": "Test", "account": "111111111111", "region": "us-east-1", "time": "2024-01-01T00:00:00Z"}"#;
    assert_eq!(
        test_event_pattern(r#"{"source": ["order"], "detail-type": ["Test"]}"#, ev),
        Ok(true)
    );
    assert_eq!(
        test_event_pattern(r#"{"source": ["shipment"], "detail-type": ["Test"]}"#, ev),
        Ok(false)
    );
    // test_event_pattern_with_multi_key: duplicate keys, the last one wins.
    let dir = templates_dir();
    let ev = std::fs::read_to_string(dir.join("complex_multi_key_event.json")).unwrap();
    let pat = std::fs::read_to_string(dir.join("complex_multi_key_event_pattern.json")).unwrap();
    assert_eq!(test_event_pattern(&pat, &ev), Ok(true));
    // test_event_pattern_with_escape_characters
    let ev = r#"{"id": "1", "source": "test-source", "detail-type": "test-detail-type", "account": "123456789012", "region": "us-east-2", "time": "2022-07-13T13:48:01Z", "detail": {"escape_star": "*", "escape_backslash": "\\"}}"#;
    assert_eq!(
        test_event_pattern(
            r#"{"detail": {"escape_star": ["*"], "escape_backslash": ["\\"]}}"#,
            ev
        ),
        Ok(true)
    );
    // test_event_with_large_and_complex_payload
    let big = std::fs::read_to_string(
        data_dir().join("tests/aws/services/events/test_payloads/large_complex_payload.json"),
    )
    .unwrap();
    assert_eq!(
        test_event_pattern(r#"{"detail-type": ["cmd.documents.generate"]}"#, &big),
        Ok(true)
    );
    assert_eq!(
        test_event_pattern(
            r#"{"detail": {"payload.nested.another-level.deep": {"inside-list": [{"prefix": "q-test"}]}}}"#,
            &big
        ),
        Ok(true)
    );
}

/// TestRuleWithPattern::test_put_event_with_content_base_rule_in_pattern (AWS delivered it).
#[test]
fn localstack_content_based_rule() {
    let pattern = r#"{
        "source": [{"exists": true}],
        "detail-type": [{"prefix": "core.app"}],
        "detail": {
            "description": ["this-is-event-details"], "amount": [200], "salary": [2000, 4000],
            "env": ["dev", "prod"], "user": ["user1", "user2", "user3"],
            "admins": ["skyli", {"prefix": "hey"}, {"prefix": "ad"}],
            "test1": [{"anything-but": 200}], "test2": [{"anything-but": "test2"}],
            "test3": [{"anything-but": ["test3", "test33"]}], "test4": [{"anything-but": {"prefix": "test4"}}],
            "ip": [{"cidr": "10.102.1.0/24"}],
            "num-test1": [{"numeric": ["<", 200]}], "num-test2": [{"numeric": ["<=", 200]}],
            "num-test3": [{"numeric": [">", 200]}], "num-test4": [{"numeric": [">=", 200]}],
            "num-test5": [{"numeric": [">=", 200, "<=", 500]}], "num-test6": [{"numeric": [">", 200, "<", 500]}],
            "num-test7": [{"numeric": [">=", 200, "<", 500]}]
        }
    }"#;
    let event = r#"{"version": "0", "id": "x", "detail-type": "core.app.backend", "source": "core.update-account-command",
        "account": "1", "time": "t", "region": "r", "resources": [],
        "detail": {"description": "this-is-event-details", "amount": 200, "salary": 2000, "env": "prod",
        "user": "user3", "admins": "admin", "test1": 300, "test2": "test22", "test3": "test333",
        "test4": "this test4", "ip": "10.102.1.100", "num-test1": 100, "num-test2": 200, "num-test3": 300,
        "num-test4": 200, "num-test5": 500, "num-test6": 300, "num-test7": 300}}"#;
    assert_eq!(test_event_pattern(pattern, event), Ok(true));
    // anything-but: null matches, the excluded value does not (test_put_events_with_rule_pattern_anything_but).
    let p = EventPattern::parse(r#"{"detail": {"command": [{"anything-but": ["no-message"]}]}}"#)
        .unwrap();
    assert!(p
        .matches(r#"{"detail": {"command": "display-message"}}"#)
        .unwrap());
    assert!(p.matches(r#"{"detail": {"command": null}}"#).unwrap());
    assert!(!p
        .matches(r#"{"detail": {"command": "no-message"}}"#)
        .unwrap());
}
