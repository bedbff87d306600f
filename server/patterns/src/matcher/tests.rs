use super::check::{read_u16, CHECK_ANY, CHECK_COND, CHECK_NUMS, CHECK_STRS, RANGE_BYTES};
use super::tuple::TUPLE_PREFIX_LENS_MAX;
use super::*;

#[test]
fn add_replace_remove() {
    let mut m: Matcher<&str> = Matcher::new();
    m.add_rule("a", r#"{"x": ["1"]}"#).unwrap();
    m.add_rule("b", r#"{"x": [{"prefix": "1"}]}"#).unwrap();
    assert_eq!(m.len(), 2);
    let mut got = m.matches_for_event(br#"{"x": "1"}"#).unwrap();
    got.sort();
    assert_eq!(got, vec!["a", "b"]);
    m.add_rule("a", r#"{"x": ["2"]}"#).unwrap();
    assert_eq!(m.matches_for_event(br#"{"x": "1"}"#).unwrap(), vec!["b"]);
    assert!(m.remove_rule(&"b"));
    assert!(!m.remove_rule(&"b"));
    assert!(m.matches_for_event(br#"{"x": "1"}"#).unwrap().is_empty());
    assert_eq!(m.matches_for_event(br#"{"x": "2"}"#).unwrap(), vec!["a"]);
    assert!(m.add_rule("c", "{").is_err());
    assert_eq!(m.len(), 1);
}

#[test]
fn always_branches() {
    let mut m: Matcher<u32> = Matcher::new();
    m.add_rule(1, r#"{"x": [{"exists": false}]}"#).unwrap();
    m.add_rule(2, r#"{"y": ["a"]}"#).unwrap();
    assert_eq!(m.matches_for_event(br#"{"y": "a"}"#).unwrap().len(), 2);
    assert_eq!(m.matches_for_event(br#"{"x": "a"}"#).unwrap().len(), 0);
}

/// The fields of each branch's key.
fn key_fields(m: &Matcher<u32>) -> Vec<Vec<&str>> {
    let path = |c: CondId| m.field_paths[m.cond(c).field as usize].as_str();
    m.branches
        .iter()
        .flatten()
        .map(|br| match br.key.expect("keyed") {
            Key::Cond(c) => vec![path(c)],
            Key::Tuple(t) => t.conds().iter().map(|&c| path(c)).collect(),
        })
        .collect()
}

#[test]
fn prefixes_shared_by_many_rules_are_keyed_with_an_exact_value() {
    // Each ARN prefix (an account) is named by 8 rules, each event name by 20 and the
    // source by all: only the prefix together with the event name is selective.
    let mut m: Matcher<u32> = Matcher::new();
    let names = [
        "Put", "Get", "Delete", "List", "Copy", "Head", "Tag", "Lock",
    ];
    for acct in 0..20u32 {
        for (i, name) in names.iter().enumerate() {
            let rule = format!(
                r#"{{"source":["aws.s3"],"detail":{{"eventName":["{name}"],"arn":[{{"prefix":"arn:aws:iam::{acct:012}:user/"}}]}}}}"#
            );
            m.add_rule(acct * 8 + i as u32, &rule).unwrap();
        }
    }
    for (i, fields) in key_fields(&m).into_iter().enumerate() {
        assert!(
            fields.contains(&"detail.eventName") && fields.contains(&"detail.arn"),
            "branch {i}: {fields:?}"
        );
    }
    let event = |acct: u32, name: &str, user: &str| {
        format!(
            r#"{{"source":"aws.s3","detail":{{"eventName":"{name}","arn":"arn:aws:iam::{acct:012}:{user}"}}}}"#
        )
    };
    let got = |m: &Matcher<u32>, e: String| m.matches_for_event(e.as_bytes()).unwrap();
    assert_eq!(got(&m, event(3, "Get", "user/ann")), vec![3 * 8 + 1]);
    assert_eq!(got(&m, event(19, "Lock", "user/")), vec![19 * 8 + 7]);
    assert!(got(&m, event(3, "Get", "role/ops")).is_empty());
    assert!(got(&m, event(3, "Other", "user/ann")).is_empty());
    assert!(got(&m, event(20, "Get", "user/ann")).is_empty());
    // Removing rules leaves the others found.
    for id in 0..80 {
        assert!(m.remove_rule(&id));
    }
    assert!(got(&m, event(3, "Get", "user/ann")).is_empty());
    assert_eq!(got(&m, event(12, "Put", "user/ann")), vec![12 * 8]);
}

#[test]
fn a_tuple_index_hashes_few_prefix_lengths() {
    // Prefixes of 16 different lengths, each shared by many rules: at most
    // TUPLE_PREFIX_LENS_MAX of those lengths key tuples, the other rules are keyed
    // another way, and every rule is still found.
    let mut m: Matcher<u32> = Matcher::new();
    let arn = "arn:aws:iam::123456789012:user/ann";
    let mut rules = Vec::new();
    for len in 10..26usize {
        for k in 0..10u32 {
            let id = rules.len() as u32;
            let rule = format!(
                r#"{{"a":[{{"prefix":"{}"}}],"b":["v{k}"],"c":["w{}"]}}"#,
                &arn[..len],
                id % 3
            );
            m.add_rule(id, &rule).unwrap();
            rules.push((id, len, k));
        }
    }
    for index in &m.tuples {
        for side in &index.sides {
            let lens = side.prefix_lens.as_ref().map_or(0, Vec::len);
            assert!(lens <= TUPLE_PREFIX_LENS_MAX, "{lens} prefix lengths");
        }
    }
    for k in 0..10u32 {
        let e = format!(r#"{{"a":"{arn}","b":"v{k}","c":"w1"}}"#);
        let mut got = m.matches_for_event(e.as_bytes()).unwrap();
        got.sort_unstable();
        let want: Vec<u32> = rules
            .iter()
            .filter(|&&(id, _, kk)| kk == k && id % 3 == 1)
            .map(|&(id, _, _)| id)
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn an_exact_key_of_one_field_is_looked_up_for_each_value() {
    // Each user is named by one rule, the operation by all: the user alone keys each
    // branch, in the tuple table (a tuple of one).
    let mut m: Matcher<u32> = Matcher::new();
    for u in 0..50u32 {
        let rule = format!(r#"{{"user":["u{u}"],"op":["Put"]}}"#);
        m.add_rule(u, &rule).unwrap();
    }
    m.add_rule(50, r#"{"user":[7],"op":["Put"]}"#).unwrap();
    assert!(key_fields(&m).iter().all(|f| f == &["user"]));
    let one = m.tuples.iter().position(|t| t.sides.len() == 1).unwrap() as u32;
    assert!(m.tuple_table.has_index(one));
    assert!(m.fields.iter().all(FieldIndex::is_empty));
    let got = |m: &Matcher<u32>, e: &str| {
        let mut got = m.matches_for_event(e.as_bytes()).unwrap();
        got.sort_unstable();
        got
    };
    assert_eq!(got(&m, r#"{"user":"u7","op":"Put"}"#), vec![7]);
    assert_eq!(got(&m, r#"{"user":7.0,"op":"Put"}"#), vec![50]);
    assert!(got(&m, r#"{"user":"u7","op":"Get"}"#).is_empty());
    assert!(got(&m, r#"{"user":"u70","op":"Put"}"#).is_empty());
    // More values at the field than a tuple of several fields looks up.
    let users: Vec<u32> = (0..400).map(|i| i * 7 % 1000).collect();
    let list: Vec<String> = users.iter().map(|u| format!("\"u{u}\"")).collect();
    let event = format!(r#"{{"user":[{}],"op":"Put"}}"#, list.join(","));
    let mut want: Vec<u32> = users.into_iter().filter(|&u| u < 50).collect();
    want.sort_unstable();
    assert_eq!(got(&m, &event), want);
    for u in 0..=50 {
        assert!(m.remove_rule(&u));
    }
    assert!(!m.tuple_table.has_index(one));
    assert!(got(&m, r#"{"user":"u7","op":"Put"}"#).is_empty());
}

#[test]
fn numeric_and_exists_conditions_are_checked_from_the_tape() {
    let mut m: Matcher<u32> = Matcher::new();
    m.add_rule(
        1,
        r#"{"b":["x"],"n":[{"numeric":[">",10,"<=",20]},{"numeric":["=",30]}]}"#,
    )
    .unwrap();
    m.add_rule(2, r#"{"b":["x"],"e":[{"exists":true}]}"#)
        .unwrap();
    let kinds = |b: usize| {
        let tape = m.hot[b].tape();
        let mut i = 0;
        let mut kinds = Vec::new();
        while i < tape.len() {
            let kind = tape[i + 4];
            kinds.push(kind);
            i += 5 + match kind {
                CHECK_NUMS => 2 + RANGE_BYTES * usize::from(read_u16(tape, i + 5)),
                CHECK_ANY => 0,
                CHECK_COND => 4,
                _ => 2 + usize::from(read_u16(tape, i + 5)),
            };
        }
        kinds
    };
    assert_eq!(kinds(0), [CHECK_NUMS, CHECK_STRS]);
    assert_eq!(kinds(1), [CHECK_ANY, CHECK_STRS]);
    let got = |e: &str| m.matches_for_event(e.as_bytes()).unwrap();
    assert_eq!(got(r#"{"b":"x","n":20}"#), vec![1]);
    assert_eq!(got(r#"{"b":"x","n":[3, 3e1]}"#), vec![1]);
    assert!(got(r#"{"b":"x","n":10}"#).is_empty());
    assert!(got(r#"{"b":"x","n":"15"}"#).is_empty());
    assert_eq!(got(r#"{"b":"x","e":null,"n":15}"#), vec![1, 2]);
    assert!(got(r#"{"b":"y","e":1}"#).is_empty());
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn is_send_sync() {
    assert_send_sync::<Matcher<String>>();
}
