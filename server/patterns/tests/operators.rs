//! Hand-written cases for every operator, the product's own patterns, and the
//! single-pattern vs. compiled-matcher agreement.

use patterns::{EventPattern, Matcher};

fn m(pattern: &str, event: &str) -> bool {
    let p = EventPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let single = p.matches(event).unwrap();
    // The compiled matcher with unrelated rules around must agree.
    let mut mm = Matcher::new();
    mm.add_rule(0, r#"{"zzz": ["never"]}"#).unwrap();
    mm.add_pattern(1, &p);
    mm.add_rule(2, r#"{"detail": {"other": [{"prefix": "x"}]}}"#)
        .unwrap();
    let compiled = mm.matches_for_event(event.as_bytes()).unwrap().contains(&1);
    assert_eq!(
        single, compiled,
        "single vs compiled disagree: {pattern} on {event}"
    );
    single
}

fn err(pattern: &str) -> String {
    EventPattern::parse(pattern).unwrap_err().message()
}

#[test]
fn exact_values() {
    assert!(m(r#"{"a": ["x"]}"#, r#"{"a": "x"}"#));
    assert!(!m(r#"{"a": ["x"]}"#, r#"{"a": "X"}"#));
    assert!(m(r#"{"a": [300]}"#, r#"{"a": 300.0}"#));
    assert!(m(r#"{"a": [3e2]}"#, r#"{"a": 300}"#));
    assert!(!m(r#"{"a": [300]}"#, r#"{"a": "300"}"#));
    assert!(!m(r#"{"a": ["300"]}"#, r#"{"a": 300}"#));
    assert!(m(r#"{"a": [true]}"#, r#"{"a": true}"#));
    assert!(!m(r#"{"a": [true]}"#, r#"{"a": "true"}"#));
    assert!(m(r#"{"a": [null]}"#, r#"{"a": null}"#));
    assert!(!m(r#"{"a": [null]}"#, r#"{"b": 1}"#));
    assert!(!m(r#"{"a": [null]}"#, r#"{"a": ""}"#));
    assert!(m(r#"{"a": [""]}"#, r#"{"a": ""}"#));
    assert!(!m(r#"{"a": [""]}"#, r#"{"a": null}"#));
    assert!(m(r#"{"a": ["x", "y"]}"#, r#"{"a": ["q", "y"]}"#));
    assert!(!m(r#"{"A": ["x"]}"#, r#"{"a": "x"}"#));
    assert!(m(r#"{"a": ["x\"y"]}"#, r#"{"a": "x\u0022y"}"#));
    assert!(m(
        r#"{"ip": ["2001:db8::1"]}"#,
        r#"{"ip": "2001:0db8:0:0::1"}"#
    ));
    assert!(m(r#"{"a": {"b": ["x"]}}"#, r#"{"a.b": "x"}"#));
    assert!(!m(r#"{"a": ["x"]}"#, r#"{"a": {"b": "x"}}"#));
}

#[test]
fn prefix_suffix_ignore_case() {
    assert!(m(r#"{"a": [{"prefix": "ab"}]}"#, r#"{"a": "abc"}"#));
    assert!(!m(r#"{"a": [{"prefix": "ab"}]}"#, r#"{"a": "Abc"}"#));
    assert!(!m(r#"{"a": [{"prefix": "1"}]}"#, r#"{"a": 12}"#));
    assert!(m(r#"{"a": [{"prefix": ""}]}"#, r#"{"a": "x"}"#));
    assert!(m(
        r#"{"a": [{"prefix": {"equals-ignore-case": "AB"}}]}"#,
        r#"{"a": "abC"}"#
    ));
    assert!(m(r#"{"a": [{"suffix": ".png"}]}"#, r#"{"a": "x.png"}"#));
    assert!(!m(r#"{"a": [{"suffix": ".png"}]}"#, r#"{"a": "x.PNG"}"#));
    assert!(m(
        r#"{"a": [{"suffix": {"equals-ignore-case": ".png"}}]}"#,
        r#"{"a": "x.PNG"}"#
    ));
    assert!(m(
        r#"{"a": [{"equals-ignore-case": "ÄbC"}]}"#,
        r#"{"a": "äBc"}"#
    ));
    assert!(!m(
        r#"{"a": [{"equals-ignore-case": "abc"}]}"#,
        r#"{"a": "abcd"}"#
    ));
    assert_eq!(
        err(r#"{"a": [{"prefix": {"foo": "x"}}]}"#),
        "Event pattern is not valid. Reason: Unsupported prefix pattern: foo"
    );
    assert_eq!(
        err(r#"{"a": [{"suffix": {"equals-ignore-case": 1}}]}"#),
        "Event pattern is not valid. Reason: equals-ignore-case match pattern must be a string"
    );
}

#[test]
fn anything_but_forms() {
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, r#"{"a": "y"}"#));
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, r#"{"a": "x"}"#));
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, r#"{"b": "y"}"#));
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, r#"{"a": null}"#));
    assert!(m(r#"{"a": [{"anything-but": [1, 2]}]}"#, r#"{"a": 3}"#));
    assert!(!m(r#"{"a": [{"anything-but": [1, 2]}]}"#, r#"{"a": 2.0}"#));
    assert!(m(r#"{"a": [{"anything-but": [1, 2]}]}"#, r#"{"a": "2"}"#));
    assert!(!m(
        r#"{"a": [{"anything-but": {"prefix": "ab"}}]}"#,
        r#"{"a": "abc"}"#
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"prefix": ["ab", "cd"]}}]}"#,
        r#"{"a": "xy"}"#
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"suffix": "z"}}]}"#,
        r#"{"a": "xyz"}"#
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["AB"]}}]}"#,
        r#"{"a": "ab"}"#
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"equals-ignore-case": "AB"}}]}"#,
        r#"{"a": "abc"}"#
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"wildcard": "a*c"}}]}"#,
        r#"{"a": "abbc"}"#
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"wildcard": ["a*c", "x*"]}}]}"#,
        r#"{"a": "bc"}"#
    ));
    assert_eq!(
        err(r#"{"a": [{"anything-but": ["x", 1]}]}"#),
        "Event pattern is not valid. Reason: Inside anything but list, either all values are number or string, mixed type is not supported"
    );
    assert_eq!(
        err(r#"{"a": [{"anything-but": {"exists": true}}]}"#),
        "Event pattern is not valid. Reason: Unsupported anything-but pattern: exists"
    );
    assert_eq!(
        err(r#"{"a": [{"anything-but": {"wildcard": "a**"}}]}"#),
        "Event pattern is not valid. Reason: Consecutive wildcard characters at pos 2"
    );
}

#[test]
fn numeric() {
    assert!(m(
        r#"{"a": [{"numeric": [">", 0, "<=", 5]}]}"#,
        r#"{"a": 5}"#
    ));
    assert!(!m(
        r#"{"a": [{"numeric": [">", 0, "<=", 5]}]}"#,
        r#"{"a": 0}"#
    ));
    assert!(m(
        r#"{"a": [{"numeric": ["=", 3.018e2]}]}"#,
        r#"{"a": 301.8}"#
    ));
    assert!(m(r#"{"a": [{"numeric": ["<", -1]}]}"#, r#"{"a": -1.5}"#));
    assert!(!m(r#"{"a": [{"numeric": [">=", 10]}]}"#, r#"{"a": "11"}"#));
    assert!(!m(r#"{"a": [{"numeric": [">=", 10]}]}"#, r#"{"a": null}"#));
    assert!(m(
        r#"{"a": [{"numeric": [">=", 10]}]}"#,
        r#"{"a": [1, 20]}"#
    ));
    assert_eq!(
        err(r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#),
        "Event pattern is not valid. Reason: Bottom must be less than top"
    );
    assert_eq!(
        err(r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#),
        "Event pattern is not valid. Reason: Too many elements in numeric expression"
    );
    assert_eq!(
        err(r#"{"a": [{"numeric": ["!", 5]}]}"#),
        "Event pattern is not valid. Reason: Unrecognized numeric range operator: !"
    );
    assert_eq!(
        err(r#"{"a": [{"numeric": []}]}"#),
        "Event pattern is not valid. Reason: Invalid member in numeric match: ]"
    );
    assert_eq!(
        err(r#"{"a": [{"numeric": ["=", 1e999]}]}"#),
        "Event pattern is not valid. Reason: Cannot compare number : 1e999"
    );
    // Many ranges on one field use the interval table; results must equal a scan.
    let mut mm = Matcher::new();
    for i in 0..200 {
        mm.add_rule(
            i,
            &format!(r#"{{"a": [{{"numeric": [">=", {i}, "<", {}]}}]}}"#, i + 10),
        )
        .unwrap();
    }
    let mut got = mm.matches_for_event(br#"{"a": 15}"#).unwrap();
    got.sort();
    assert_eq!(got, (6..=15).collect::<Vec<_>>());
}

#[test]
fn exists_cidr_wildcard() {
    assert!(m(r#"{"a": [{"exists": true}]}"#, r#"{"a": null}"#));
    assert!(!m(r#"{"a": [{"exists": true}]}"#, r#"{"a": {"b": 1}}"#));
    assert!(!m(r#"{"a": [{"exists": true}]}"#, r#"{"a": []}"#));
    assert!(m(r#"{"a": [{"exists": false}]}"#, r#"{"b": 1}"#));
    assert!(m(r#"{"a": [{"exists": false}, "x"]}"#, r#"{"a": "x"}"#));
    assert!(!m(r#"{"a": [{"exists": false}, "x"]}"#, r#"{"a": "y"}"#));
    assert!(m(
        r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
        r#"{"ip": "10.0.0.7"}"#
    ));
    assert!(!m(
        r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
        r#"{"ip": "10.0.1.7"}"#
    ));
    assert!(m(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        r#"{"ip": "2001:db8:ffff::1"}"#
    ));
    assert!(m(r#"{"a": [{"wildcard": "*/x/*"}]}"#, r#"{"a": "a/x/b"}"#));
    assert!(!m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, r#"{"a": "axb"}"#));
    assert!(m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, r#"{"a": "a*b"}"#));
    assert!(m(r#"{"a": [{"wildcard": "a\\\\b"}]}"#, r#"{"a": "a\\b"}"#));
    assert_eq!(
        err(r#"{"a": [{"wildcard": "a\\b"}]}"#),
        "Event pattern is not valid. Reason: Invalid escape character at pos 2"
    );
    assert_eq!(
        err(r#"{"a": [{"exists": "yes"}]}"#),
        "Event pattern is not valid. Reason: exists match pattern must be either true or false."
    );
}

#[test]
fn or_and_structure() {
    let p =
        r#"{"source": ["s"], "$or": [{"a": ["1"]}, {"b": {"$or": [{"c": ["2"]}, {"d": ["3"]}]}}]}"#;
    assert!(m(p, r#"{"source": "s", "a": "1"}"#));
    assert!(m(p, r#"{"source": "s", "b": {"d": "3"}}"#));
    assert!(!m(p, r#"{"source": "t", "b": {"d": "3"}}"#));
    assert!(!m(p, r#"{"source": "s", "b": {"d": "4"}}"#));
    assert_eq!(EventPattern::parse(p).unwrap().branch_count(), 3);
    assert_eq!(
        err(r#"{"$or": [{"a": ["1"]}]}"#),
        "Event pattern is not valid. Reason: There must have at least 2 Objects in $or relationship."
    );
    assert_eq!(
        err(r#"{"$or": [{"prefix": ["1"]}, {"b": ["2"]}]}"#),
        "Event pattern is not valid. Reason: prefix is Ruler reserved fieldName which cannot be used inside $or."
    );
    assert_eq!(
        err(r#"{"a": {}}"#),
        "Event pattern is not valid. Reason: Empty objects are not allowed"
    );
    assert_eq!(
        err(r#"{"a": [["x"]]}"#),
        "Event pattern is not valid. Reason: Match value must be String, number, true, false, or null"
    );
    assert_eq!(
        err(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
        "Event pattern is not valid. Reason: Only one key allowed in match expression"
    );
    // Errors come in document order, as AWS's streaming compiler reports them.
    assert_eq!(
        err(r#"{"a": [], "b": 1}"#),
        "Event pattern is not valid. Reason: Empty arrays are not allowed"
    );
    // Duplicate keys: the last one wins.
    assert!(m(r#"{"a": ["x"], "a": ["y"]}"#, r#"{"a": "y"}"#));
    assert!(!m(r#"{"a": ["x"], "a": ["y"]}"#, r#"{"a": "x"}"#));
}

#[test]
fn limits() {
    let long = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(3000));
    let e = EventPattern::parse(&long).unwrap_err();
    assert_eq!(e.code(), "InvalidEventPatternException");
    assert!(EventPattern::parse_with_max_length(&long, patterns::API_MAX_PATTERN_LENGTH).is_ok());
    // $or expansion is bounded.
    let or = r#"{"$or": [{"a": ["1"]}, {"b": ["1"]}, {"c": ["1"]}, {"d": ["1"]}]"#;
    let many = format!("{{{}}}", [&or[1..or.len()]; 6].join(", "));
    assert!(EventPattern::parse(&many).is_err());
}

const ARCHIVE: &str = r#"{"detail":{"metadata":{"domain":["LEGO-LOYALTY"],"service":["service-loyalty-vendor-mediator"],"category":["task-status"],"type":["voucher"],"status":["retry"]}},"replay-name":[{"exists":false}]}"#;
const REPLAY: &str = r#"{"detail":{"metadata":{"domain":["LEGO-LOYALTY"],"service":["service-loyalty-vendor-mediator"],"type":["voucher"],"status":["retry"]}},"replay-name":[{"prefix":"LoyaltyVoucherReplay"}]}"#;

fn status_event(status: &str, replay: Option<&str>) -> String {
    let replay = replay
        .map(|r| format!(r#","replay-name":"{r}""#))
        .unwrap_or_default();
    format!(
        r#"{{"version":"0","id":"e1","detail-type":"task-status","source":"service-loyalty-vendor-mediator","account":"123456789012","time":"2024-05-01T10:00:00Z","region":"eu-west-1","resources":[],"detail":{{"metadata":{{"domain":"LEGO-LOYALTY","service":"service-loyalty-vendor-mediator","category":"task-status","type":"voucher","status":"{status}"}},"data":{{"voucherId":"v-1"}}}}{replay}}}"#
    )
}

#[test]
fn product_archive_and_replay_patterns() {
    let mut mm = Matcher::new();
    mm.add_rule("archive", ARCHIVE).unwrap();
    mm.add_rule("replay", REPLAY).unwrap();
    let got = |e: &str| {
        let mut v = mm.matches_for_event(e.as_bytes()).unwrap();
        v.sort();
        v
    };
    assert_eq!(got(&status_event("retry", None)), vec!["archive"]);
    assert_eq!(
        got(&status_event("retry", Some("LoyaltyVoucherReplay-2024"))),
        vec!["replay"]
    );
    assert_eq!(
        got(&status_event("retry", Some("OtherReplay"))),
        Vec::<&str>::new()
    );
    assert_eq!(got(&status_event("done", None)), Vec::<&str>::new());
    assert!(patterns::test_event_pattern(ARCHIVE, &status_event("retry", None)).unwrap());
    // Category is not part of the replay pattern.
    let e = status_event("retry", Some("LoyaltyVoucherReplay-1"))
        .replace("task-status\",\"type", "x\",\"type");
    assert_eq!(got(&e), vec!["replay"]);
}

#[test]
fn product_saas_status_patterns() {
    // SAAS_STATUS transitions: a "down -> up" trigger and the reverse.
    let up = r#"{"detail-type":["SAAS_STATUS"],"detail":{"previous":["down"],"current":["up"]}}"#;
    let down = r#"{"detail-type":["SAAS_STATUS"],"detail":{"previous":["up"],"current":["down"]}}"#;
    let mut mm = Matcher::new();
    mm.add_rule("up", up).unwrap();
    mm.add_rule("down", down).unwrap();
    let ev = |p: &str, c: &str| {
        format!(
            r#"{{"detail-type":"SAAS_STATUS","source":"vendor-mediator","detail":{{"previous":"{p}","current":"{c}","vendor":"v"}}}}"#
        )
    };
    assert_eq!(
        mm.matches_for_event(ev("down", "up").as_bytes()).unwrap(),
        vec!["up"]
    );
    assert_eq!(
        mm.matches_for_event(ev("up", "down").as_bytes()).unwrap(),
        vec!["down"]
    );
    assert!(mm
        .matches_for_event(ev("up", "up").as_bytes())
        .unwrap()
        .is_empty());
}

#[test]
fn many_rules_scale() {
    let mut mm = Matcher::new();
    for i in 0..10_000 {
        mm.add_rule(
            i,
            &format!(r#"{{"k": ["v{i}"], "p": [{{"prefix": "pre{i}-"}}]}}"#),
        )
        .unwrap();
    }
    assert_eq!(mm.len(), 10_000);
    assert_eq!(
        mm.matches_for_event(br#"{"k": "v77", "p": "pre77-x"}"#)
            .unwrap(),
        vec![77]
    );
    assert!(mm
        .matches_for_event(br#"{"k": "v77", "p": "pre78-x"}"#)
        .unwrap()
        .is_empty());
    for i in 0..10_000 {
        assert!(mm.remove_rule(&i));
    }
    assert!(mm.is_empty());
    assert!(mm
        .matches_for_event(br#"{"k": "v77", "p": "pre77-x"}"#)
        .unwrap()
        .is_empty());
}
