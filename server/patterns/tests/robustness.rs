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

/// Small deterministic PRNG (xorshift64*) for the large generated rule sets below: the
/// property chooses a seed and the sizes, the sets themselves are built from the seed
/// (generating thousands of rules through strategies would make each case slow to
/// generate and pointless to shrink).
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The fields of the generated rules and events, each with a small shared vocabulary, so
/// that many rules share each value (the case the compiled matcher's keys are chosen for).
const FIELDS: [(&str, &[&str]); 9] = [
    ("source", &["aws.s3", "aws.ec2", "aws.iam", "custom"]),
    ("detail-type", &["API Call", "Sign In", "State Change"]),
    ("account", &["111", "222", "333", "444", "555"]),
    (
        "detail.eventName",
        &["Put", "Get", "Delete", "List", "Create", "Run"],
    ),
    (
        "detail.user",
        &["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal"],
    ),
    (
        "detail.bucket",
        &["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"],
    ),
    // ARN-like values sharing long prefixes (rules name prefixes of many lengths).
    (
        "detail.arn",
        &[
            "arn:aws:iam::111:user/ann",
            "arn:aws:iam::111:user/bob",
            "arn:aws:iam::222:user/ann",
            "arn:aws:iam::222:role/ops",
            "arn:aws:s3:::b1",
        ],
    ),
    // Array elements: objects whose `id` and `kind` must come from the same element.
    ("detail.items.id", &["i0", "i1", "i2", "i3"]),
    ("detail.items.kind", &["k0", "k1", "k2"]),
];

fn vocab_value(rng: &mut Rng, field: usize) -> &'static str {
    let v = FIELDS[field].1;
    v[rng.below(v.len())]
}

/// One field's value list, drawn mostly from exact values and sometimes from every other
/// operator (including `exists: false` mixed with values).
fn gen_values(rng: &mut Rng, field: usize) -> String {
    let v = vocab_value(rng, field);
    match rng.below(100) {
        0..=49 => {
            let n = 1 + rng.below(3);
            let vals: Vec<String> = (0..n)
                .map(|_| format!("\"{}\"", vocab_value(rng, field)))
                .collect();
            format!("[{}]", vals.join(","))
        }
        50..=57 => {
            let n = 1 + rng.below(2);
            let prefixes: Vec<String> = (0..n)
                .map(|_| {
                    let v = vocab_value(rng, field);
                    format!(r#"{{"prefix":"{}"}}"#, &v[..1 + rng.below(v.len())])
                })
                .collect();
            format!("[{}]", prefixes.join(","))
        }
        58..=63 => format!(r#"[{{"anything-but":["{v}"]}}]"#),
        64..=68 => r#"[{"exists":true}]"#.to_string(),
        69..=73 => r#"[{"exists":false}]"#.to_string(),
        74..=77 => format!(r#"["{v}",{{"exists":false}}]"#),
        78..=81 => format!(r#"[{{"equals-ignore-case":"{}"}}]"#, v.to_uppercase()),
        82..=84 => format!(r#"[{{"wildcard":"*{}"}}]"#, &v[v.len() - 1..]),
        85..=87 => format!(r#"[{{"suffix":"{}"}}]"#, &v[v.len() - 1..]),
        88..=89 => "[null]".to_string(),
        // Exact numbers, which an event's number matches whatever its spelling.
        90 => format!(
            r#"[{},{{"numeric":["=",{}]}}]"#,
            rng.below(30),
            rng.below(30)
        ),
        _ => {
            let lo = rng.below(20);
            format!(
                r#"[{{"numeric":[">=",{lo},"<",{}]}}]"#,
                lo + 1 + rng.below(10)
            )
        }
    }
}

/// Nest `(dotted path, JSON value)` pairs into a JSON object text.
fn nest(fields: &[(&str, String)]) -> String {
    let mut root = serde_json::Map::new();
    for (path, value) in fields {
        let parts: Vec<&str> = path.split('.').collect();
        let mut obj = &mut root;
        for p in &parts[..parts.len() - 1] {
            obj = obj
                .entry(p.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()))
                .as_object_mut()
                .expect("paths nest");
        }
        obj.insert(
            parts[parts.len() - 1].to_string(),
            serde_json::from_str(value).expect("generated JSON"),
        );
    }
    serde_json::Value::Object(root).to_string()
}

fn gen_branch_fields(rng: &mut Rng, n: usize) -> Vec<(&'static str, String)> {
    let mut fields: Vec<usize> = Vec::new();
    while fields.len() < n {
        let f = rng.below(FIELDS.len());
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    fields
        .into_iter()
        .map(|f| (FIELDS[f].0, gen_values(rng, f)))
        .collect()
}

/// A rule of 1–4 fields, a tenth of them with a `$or` of two alternatives.
fn gen_rule(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4);
    if rng.chance(10) {
        let common = gen_branch_fields(rng, n.min(2));
        let alts: Vec<String> = (0..2)
            .map(|_| {
                let n = 1 + rng.below(2);
                let mut alt = gen_branch_fields(rng, n);
                alt.retain(|(p, _)| !common.iter().any(|(c, _)| c == p));
                nest(&alt)
            })
            .filter(|a| a != "{}")
            .collect();
        let c = nest(&common);
        if alts.len() < 2 {
            return c;
        }
        return format!("{},\"$or\":[{}]}}", &c[..c.len() - 1], alts.join(","));
    }
    nest(&gen_branch_fields(rng, n))
}

/// An event with most of the fields (values from the vocabularies, sometimes in another
/// case, null, a number or an array), and an array of item objects.
fn gen_event(rng: &mut Rng) -> String {
    let mut fields: Vec<(&str, String)> = Vec::new();
    for (f, &(path, _)) in FIELDS.iter().enumerate().take(7) {
        if rng.chance(25) {
            continue;
        }
        let v = vocab_value(rng, f);
        let value = match rng.below(100) {
            0..=69 => format!("\"{v}\""),
            70..=77 => format!("\"{}\"", v.to_uppercase()),
            78..=83 => "null".to_string(),
            84..=88 => rng.below(30).to_string(),
            89..=91 => format!("{}.0e0", rng.below(30)),
            _ => format!("[\"{v}\",\"{}\"]", vocab_value(rng, f)),
        };
        fields.push((path, value));
    }
    let items: Vec<String> = (0..rng.below(4))
        .map(|_| {
            format!(
                r#"{{"id":"{}","kind":"{}"}}"#,
                vocab_value(rng, 7),
                vocab_value(rng, 8)
            )
        })
        .collect();
    if !items.is_empty() || rng.chance(50) {
        fields.push(("detail.items", format!("[{}]", items.join(","))));
    }
    nest(&fields)
}

/// Every rule the compiled matcher reports for each event, and only those, according
/// to single-pattern matching.
fn assert_agrees(m: &Matcher<usize>, rules: &[(usize, EventPattern)], events: &[String]) {
    for e in events {
        let mut want: Vec<usize> = rules
            .iter()
            .filter(|(_, p)| p.matches(e).unwrap())
            .map(|(i, _)| *i)
            .collect();
        want.sort_unstable();
        let mut got = m.matches_for_event(e.as_bytes()).unwrap();
        got.sort_unstable();
        assert_eq!(got, want, "event {e}");
    }
}

/// Cases for the large rule sets: each case builds up to 2,500 rules and checks them one
/// by one, so the long fuzz run (`PROPTEST_CASES`) gets a two-hundredth of its count.
fn large_cases() -> u32 {
    match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        Some(n) => (n / 200).max(16),
        None => 16,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: large_cases(), .. ProptestConfig::default() })]

    /// Large multi-field rule sets sharing values, with rules removed and added back
    /// while the matcher is in use: the compiled matcher agrees with single-pattern
    /// matching rule by rule on every event.
    #[test]
    fn large_multi_field_rule_sets_agree_with_single(
        seed in any::<u64>(),
        n_rules in 1usize..2_500,
        n_events in 1usize..60,
    ) {
        let mut rng = Rng::new(seed);
        let (mut m, rules) = matcher_of(&mut rng, n_rules, gen_rule);
        let events: Vec<String> = (0..n_events).map(|_| gen_event(&mut rng)).collect();
        assert_agrees(&m, &rules, &events);
        // Remove about a third, then add some back under new ids and replace a few.
        let mut kept = Vec::new();
        let mut removed = Vec::new();
        for (i, p) in rules {
            if rng.chance(33) {
                prop_assert!(m.remove_rule(&i));
                removed.push(p);
            } else {
                kept.push((i, p));
            }
        }
        assert_agrees(&m, &kept, &events);
        for (k, p) in removed.into_iter().enumerate() {
            if rng.chance(50) {
                let id = n_rules + k;
                m.add_pattern(id, &p);
                kept.push((id, p));
            }
        }
        for (i, p) in kept.iter_mut() {
            if rng.chance(5) {
                let q = EventPattern::parse(&gen_rule(&mut rng)).unwrap();
                m.add_pattern(*i, &q);
                *p = q;
            }
        }
        prop_assert_eq!(m.len(), kept.len());
        assert_agrees(&m, &kept, &events);
    }
}

/// A rule of 1–4 fields, each with a value list no tuple key takes
/// ([`gen_field_keyed_values`]).
fn gen_field_keyed_rule(rng: &mut Rng) -> String {
    let n = if rng.chance(50) { 1 } else { 2 + rng.below(3) };
    let mut fields: Vec<usize> = Vec::new();
    while fields.len() < n {
        let f = rng.below(FIELDS.len());
        if !fields.contains(&f) {
            fields.push(f);
        }
    }
    let fields: Vec<(&str, String)> = fields
        .into_iter()
        .map(|f| (FIELDS[f].0, gen_field_keyed_values(rng, f)))
        .collect();
    nest(&fields)
}

/// A matcher of `n` rules from `gen` (ids `0..n`), and the rules parsed.
fn matcher_of(
    rng: &mut Rng,
    n: usize,
    mut gen: impl FnMut(&mut Rng) -> String,
) -> (Matcher<usize>, Vec<(usize, EventPattern)>) {
    let mut m = Matcher::new();
    let mut rules = Vec::new();
    for i in 0..n {
        let text = gen(rng);
        let p = EventPattern::parse(&text).unwrap_or_else(|e| panic!("generated rule {text}: {e}"));
        m.add_pattern(i, &p);
        rules.push((i, p));
    }
    (m, rules)
}

/// A value list no tuple key takes (neither exact values nor prefixes) and that needs a
/// value (not `exists: false`): a branch made of such conditions is found through the
/// field index of one of them.
fn gen_field_keyed_values(rng: &mut Rng, field: usize) -> String {
    let v = vocab_value(rng, field);
    match rng.below(6) {
        0 => format!(r#"[{{"anything-but":["{v}"]}}]"#),
        1 => format!(r#"[{{"equals-ignore-case":"{}"}}]"#, v.to_uppercase()),
        2 => format!(r#"[{{"wildcard":"*{}"}}]"#, &v[v.len() - 1..]),
        3 => format!(r#"[{{"suffix":"{}"}}]"#, &v[v.len() - 1..]),
        4 => {
            let lo = rng.below(20);
            format!(
                r#"[{{"numeric":[">=",{lo},"<",{}]}}]"#,
                lo + 1 + rng.below(10)
            )
        }
        _ => r#"[{"exists":true}]"#.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), .. ProptestConfig::default() })]

    /// Rule sets with no tuple key and no branch verified on every event (one-field
    /// rules, and rules of several fields found through one of them, as in the
    /// single-field benchmark rows), with rules removed and added back while in use: the
    /// matcher verifies exactly the branches its field lookups bring, and agrees with
    /// single-pattern matching rule by rule.
    #[test]
    fn field_keyed_rule_sets_agree_with_single(
        seed in any::<u64>(),
        n_rules in 1usize..200,
        n_events in 1usize..60,
    ) {
        let mut rng = Rng::new(seed);
        let (mut m, rules) = matcher_of(&mut rng, n_rules, gen_field_keyed_rule);
        let events: Vec<String> = (0..n_events).map(|_| gen_event(&mut rng)).collect();
        assert_agrees(&m, &rules, &events);
        let mut kept = Vec::new();
        for (i, p) in rules {
            if rng.chance(33) {
                prop_assert!(m.remove_rule(&i));
                if rng.chance(50) {
                    m.add_pattern(n_rules + i, &p);
                    kept.push((n_rules + i, p));
                }
            } else {
                kept.push((i, p));
            }
        }
        assert_agrees(&m, &kept, &events);
    }
}
