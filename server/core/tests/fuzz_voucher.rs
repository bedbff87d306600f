//! Property tests ("fuzzing" on stable Rust) of voucher validation: any JSON
//! body either parses into a voucher that keeps every invariant or is
//! refused naming one of the request's fields, never a panic; a valid body
//! with one field replaced by anything is refused naming that field (or
//! still valid). `PROPTEST_CASES` sets the cases per property (default 512:
//! a few seconds in `make test`; `make fuzz` runs far more).

use mediator_core::voucher::{VoucherRequest, MAX_KEY_LEN, MAX_PAYLOAD_BYTES};
use mediator_core::PartName;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const FIELDS: [&str; 7] = [
    "body",
    "part",
    "loyalty_request_id",
    "loyalty_reference",
    "merchant_reference",
    "loyalty_order_reference",
    "payload",
];

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Strings that probe the edges: empty, blank, control characters,
/// non-ASCII, around the key length limit.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[ \t\n]{0,3}",
        "[a-z]{1,4}[\u{0}-\u{1f}\u{7f}][a-z]{0,4}",
        "[é漢🦀]{1,4}",
        (MAX_KEY_LEN - 2..MAX_KEY_LEN + 3).prop_map(|n| "k".repeat(n)),
        (MAX_KEY_LEN / 4 - 1..MAX_KEY_LEN / 4 + 2).prop_map(|n| "🦀".repeat(n)),
        Just("voucher".to_string()),
        Just("points".to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
        // Payload-sized strings around the limit.
        (MAX_PAYLOAD_BYTES - 16..MAX_PAYLOAD_BYTES + 16).prop_map(|n| Value::String("p".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn valid() -> Value {
    json!({"part": "voucher", "loyalty_request_id": "AbLhmB7wnOsiBFAq6Cicj2acx8iQ",
           "loyalty_reference": "P6IF7YcwQd", "merchant_reference": "xz5CzHM1wZOm",
           "loyalty_order_reference": "M101-S76-OP10-T65", "payload": {"points": 10}})
}

fn parts() -> Vec<PartName> {
    ["voucher", "member", "points"]
        .iter()
        .map(|p| PartName::parse(p).unwrap())
        .collect()
}

/// What must hold of an accepted voucher.
fn check_accepted(v: &VoucherRequest, parts: &[PartName]) -> Result<(), TestCaseError> {
    prop_assert!(parts.contains(v.part()));
    let k = v.keys();
    for key in [
        &k.loyalty_request_id,
        &k.loyalty_reference,
        &k.merchant_reference,
        &k.loyalty_order_reference,
    ] {
        prop_assert!(!key.trim().is_empty());
        prop_assert!(key.len() <= MAX_KEY_LEN);
        prop_assert!(!key.chars().any(char::is_control));
    }
    prop_assert!(Value::Object(v.payload().clone()).to_string().len() <= MAX_PAYLOAD_BYTES);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_valid_voucher_or_a_named_refusal(body in json_value()) {
        let parts = parts();
        match VoucherRequest::parse(&body, &parts) {
            Ok(v) => check_accepted(&v, &parts)?,
            Err(e) => {
                prop_assert!(FIELDS.contains(&e.field.as_str()), "{e}");
                prop_assert!(!e.reason.is_empty());
            }
        }
    }

    #[test]
    fn one_field_replaced_is_refused_naming_that_field(i in 1usize..FIELDS.len(), value in json_value()) {
        let parts = parts();
        let field = FIELDS[i];
        let mut body = valid();
        body[field] = value;
        match VoucherRequest::parse(&body, &parts) {
            Ok(v) => check_accepted(&v, &parts)?,
            Err(e) => prop_assert_eq!(e.field.as_str(), field, "{}", e),
        }
    }

    #[test]
    fn extra_fields_and_any_payload_object_are_bounded(extra in prop::collection::vec((text(), json_value()), 0..6), payload in json_value()) {
        let parts = parts();
        let mut body = valid();
        for (k, v) in extra {
            if !FIELDS.contains(&k.as_str()) {
                body[k.as_str()] = v;
            }
        }
        body["payload"] = json!({ "data": payload });
        match VoucherRequest::parse(&body, &parts) {
            Ok(v) => check_accepted(&v, &parts)?,
            Err(e) => prop_assert_eq!(e.field.as_str(), "payload", "{}", e),
        }
    }
}
