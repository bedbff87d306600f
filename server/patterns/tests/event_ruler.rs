//! event-ruler data: array consistency (GenericMachineTest#nestedArraysTest expectations,
//! see tests/data/event-ruler/EXPECTED.md) and the correctness cases as smoke tests.

use patterns::{EventPattern, Matcher};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/event-ruler/src/test")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join("data").join(name)).unwrap()
}

#[test]
fn array_consistency_matches_event_ruler() {
    let mut m = Matcher::new();
    for r in ["arrayRule1", "arrayRule2", "arrayRule3"] {
        m.add_rule(r, &read(&format!("{r}.json"))).unwrap();
    }
    let expected: [(&str, &[&str]); 4] = [
        ("arrayEvent1", &["arrayRule1", "arrayRule2"]),
        ("arrayEvent2", &[]),
        ("arrayEvent3", &[]),
        ("arrayEvent4", &["arrayRule3"]),
    ];
    for (event, want) in expected {
        let mut got = m
            .matches_for_event(read(&format!("{event}.json")).as_bytes())
            .unwrap();
        got.sort();
        assert_eq!(got, want, "{event}: expected {want:?}, got {got:?}");
    }
}

#[test]
fn big_event() {
    let p = EventPattern::parse_with_max_length(&read("bigEventRule.json"), usize::MAX).unwrap();
    // BigEventTest: the rule matches the big event.
    assert!(p.matches(&read("bigEvent.json")).unwrap());
}

#[test]
fn or_relationship_rule_files() {
    for f in [
        "orRelationshipRules.json",
        "normalRulesWithOrWording.json",
        "wrongOrRelationshipRules.json",
    ] {
        // Files hold one rule per line or a JSON array; every one must parse or fail cleanly.
        let text = read(f);
        for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
            let _ = EventPattern::parse_with_max_length(line, usize::MAX);
        }
    }
}

/// The 51 correctness cases have no recorded result; they must not panic, and the ones
/// whose answer follows directly from the documented semantics are asserted.
#[test]
fn correctness_cases() {
    let cases: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir().join("resources/correctness-cases.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cases.len(), 51);
    let mut results = Vec::new();
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        let rule = c["rule"].to_string();
        let event = c["event"].to_string();
        let r = EventPattern::parse_with_max_length(&rule, usize::MAX).map(|p| p.matches(&event));
        results.push((name.to_string(), format!("{r:?}")));
    }
    // Expected from the case names (split = values from different array elements, etc.).
    let no_match = [
        "flat: 2-field exists, one missing",
        "flat: exact mismatch",
        "objarray: split",
        "objarray: 3-field, split 3 ways",
        "objarray: exact split",
        "objarray: prefix split",
        "primarray: no match",
        "nested: inner split",
        "nested: outer split",
        "nested2: split leaf",
        "mixed: array+scalar fail",
        "exists-false: present",
        "empty object",
        "empty array",
        "primarray: large + scalar, no match",
        "primarray: empty prim array",
        "mixed: obj-array split + prim-array",
        "suffix match split",
    ];
    for (name, r) in &results {
        let want = if no_match.contains(&name.as_str()) {
            "Ok(Ok(false))"
        } else {
            "Ok(Ok(true))"
        };
        assert_eq!(r, want, "correctness case {name}");
    }
    if std::env::var("PRINT_CASES").is_ok() {
        for (n, r) in &results {
            println!("{n}: {r}");
        }
    }
}
