//! Property tests: arbitrary patterns and events never panic, deep nesting gives errors
//! (not stack overflows), huge inputs stay bounded in time, and the compiled matcher
//! agrees with single-pattern matching.

use patterns::{EventPattern, Matcher};
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Arbitrary JSON-ish text built from pattern-language fragments.
fn fragment() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"x\"".to_string()),
        Just("1".to_string()),
        Just("-2.5e3".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("{\"prefix\": \"a\"}".to_string()),
        Just("{\"suffix\": {\"equals-ignore-case\": \"B\"}}".to_string()),
        Just("{\"anything-but\": [\"x\", \"y\"]}".to_string()),
        Just("{\"anything-but\": {\"wildcard\": \"*a*\"}}".to_string()),
        Just("{\"numeric\": [\">\", 0, \"<=\", 5]}".to_string()),
        Just("{\"exists\": false}".to_string()),
        Just("{\"cidr\": \"10.0.0.0/8\"}".to_string()),
        Just("{\"wildcard\": \"a*b\"}".to_string()),
        Just("{\"equals-ignore-case\": \"X\"}".to_string()),
        "[a-z\\[\\]{}\",:0-9 .*\\\\-]{0,12}".prop_map(|s| s),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-c$or]{1,3}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

fn event() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("\"x\"".to_string()),
        Just("\"ab\"".to_string()),
        Just("\"10.1.2.3\"".to_string()),
        Just("3".to_string()),
        Just("0.5".to_string()),
        Just("null".to_string()),
        Just("false".to_string()),
        "\"[a-cA-C*.]{0,5}\"".prop_map(|s| s),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-c.]{1,3}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
    .prop_map(|v| {
        if v.starts_with('{') {
            v
        } else {
            format!("{{\"a\":{v}}}")
        }
    })
}

/// Cases per property: `PROPTEST_CASES` when set (the long fuzz run,
/// `make fuzz`), else `default` (bounded for `make test`).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Any JSON value (objects with short keys, strings with escapes).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-z$-]{0,6}|prefix|numeric|anything-but|exists|wildcard|cidr",
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_patterns_and_events_never_panic(p in json_value(), e in json_value()) {
        let (p, e) = (p.to_string(), e.to_string());
        if let Ok(pat) = EventPattern::parse(&p) {
            let _ = pat.matches(&e);
            let mut m = Matcher::new();
            m.add_pattern(1, &pat);
            let _ = m.matches_for_event(e.as_bytes());
        }
        let _ = patterns::test_event_pattern(&p, &e);
    }

    #[test]
    fn arbitrary_patterns_never_panic(p in fragment()) {
        let _ = EventPattern::parse(&p);
    }

    #[test]
    fn arbitrary_bytes_never_panic(p in ".{0,64}", e in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = EventPattern::parse(&p);
        let mut m = Matcher::new();
        m.add_rule(1, r#"{"a": [{"exists": true}], "b": {"c": [{"prefix": ""}]}}"#).unwrap();
        let _ = m.matches_for_event(&e);
        m.set_strict(true);
        let _ = m.matches_for_event(&e);
    }

    #[test]
    fn compiled_agrees_with_single(p in fragment(), e in event()) {
        if let Ok(pat) = EventPattern::parse(&p) {
            let single = pat.matches(&e);
            let mut m = Matcher::new();
            m.set_strict(true);
            m.add_rule(0, r#"{"a": ["never-matches-this"]}"#).unwrap();
            m.add_pattern(1, &pat);
            let compiled = m.matches_for_event(e.as_bytes()).map(|ids| ids.contains(&1));
            prop_assert_eq!(single.is_ok(), compiled.is_ok());
            if let (Ok(a), Ok(b)) = (single, compiled.clone()) {
                prop_assert_eq!(a, b);
            }
            // Removing the other rule changes nothing for this one.
            m.remove_rule(&0);
            let again = m.matches_for_event(e.as_bytes()).map(|ids| ids.contains(&1));
            prop_assert_eq!(compiled.ok(), again.ok());
        }
    }

    #[test]
    fn many_rules_agree_with_single(ps in prop::collection::vec(fragment(), 1..8), e in event()) {
        let pats: Vec<EventPattern> = ps.iter().filter_map(|p| EventPattern::parse(p).ok()).collect();
        let mut m = Matcher::new();
        m.set_strict(true);
        // A second matcher used on the same thread in between: per-thread scratch state
        // must not leak from one matcher (or one event) to the next.
        let mut other = Matcher::new();
        other.set_strict(true);
        for (i, pat) in pats.iter().enumerate() {
            m.add_pattern(i, pat);
            other.add_pattern(pats.len() - 1 - i, pat);
        }
        let want: Result<Vec<usize>, _> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| p.matches(&e).map(|ok| ok.then_some(i)))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect());
        for _ in 0..2 {
            let got = m.matches_for_event(e.as_bytes()).map(|mut ids| {
                ids.sort_unstable();
                ids
            });
            let got_other = other.matches_for_event(e.as_bytes()).map(|ids| {
                let mut ids: Vec<usize> = ids.into_iter().map(|i| pats.len() - 1 - i).collect();
                ids.sort_unstable();
                ids
            });
            prop_assert_eq!(want.is_ok(), got.is_ok());
            if let (Ok(w), Ok(g)) = (&want, &got) {
                prop_assert_eq!(w, g);
            }
            prop_assert_eq!(got.ok(), got_other.ok());
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [2_000usize, 10_000, 100_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(EventPattern::parse_with_max_length(&arrays, usize::MAX).is_err());
        assert!(EventPattern::parse_with_max_length(&objects, usize::MAX).is_err());
        let p = EventPattern::parse(r#"{"a": [{"exists": true}]}"#).unwrap();
        assert!(p.matches(&format!("{{\"a\": {arrays}}}")).is_err());
        assert!(p.matches(&objects).is_err());
        let mut m = Matcher::new();
        m.add_rule(1, r#"{"a": {"a": [{"exists": true}]}, "z": ["1"]}"#)
            .unwrap();
        assert!(m.matches_for_event(objects.as_bytes()).is_err());
        assert!(m
            .matches_for_event(format!("{{\"b\": {arrays}}}").as_bytes())
            .is_err());
    }
}

#[test]
fn large_inputs_are_fast() {
    let t = Instant::now();
    // 8 MB event with a huge string and a huge array.
    let big = format!(
        "{{\"s\": \"{}\", \"arr\": [{}], \"k\": \"v\"}}",
        "ab".repeat(2_000_000),
        vec!["1"; 1_000_000].join(",")
    );
    let p = EventPattern::parse(r#"{"k": ["v"], "arr": [{"numeric": [">", 0]}]}"#).unwrap();
    assert!(p.matches(&big).unwrap());
    let w = EventPattern::parse(r#"{"s": [{"wildcard": "*a*a*a*a*c"}]}"#).unwrap();
    assert!(!w.matches(&big).unwrap());
    // Huge pattern (with the length limit lifted).
    let values: Vec<String> = (0..100_000).map(|i| format!("\"v{i}\"")).collect();
    let huge = format!("{{\"k\": [{}]}}", values.join(","));
    let hp = EventPattern::parse_with_max_length(&huge, usize::MAX).unwrap();
    assert!(hp.matches(r#"{"k": "v99999"}"#).unwrap());
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn pathological_wildcard_is_rejected_or_linear() {
    assert_eq!(
        EventPattern::parse(r#"{"a": [{"wildcard": "*a*a*a*a*a*a*"}]}"#).unwrap_err().message(),
        "Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character"
    );
    let p = EventPattern::parse(r#"{"a": [{"wildcard": "*a*a*a*a*b"}]}"#).unwrap();
    let e = format!("{{\"a\": \"{}\"}}", "a".repeat(1_000_000));
    let t = Instant::now();
    assert!(!p.matches(&e).unwrap());
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn array_consistency_search_is_bounded() {
    // 4 fields x 300 candidates each from different array elements: the search is capped.
    let p =
        EventPattern::parse(r#"{"a": {"b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"]}}"#).unwrap();
    let mut elems = Vec::new();
    for i in 0..300 {
        let k = ["b", "c", "d", "e"][i % 4];
        elems.push(format!("{{\"{k}\": \"1\"}}"));
    }
    let e = format!("{{\"a\": [{}]}}", elems.join(","));
    let t = Instant::now();
    assert!(!p.matches(&e).unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
}
