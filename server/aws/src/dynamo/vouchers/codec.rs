//! Voucher items ⇄ records, lifecycle entries, and update expressions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use mediator_core::datacache::VoucherRecord;
use mediator_core::{VoucherKeys, VoucherRequest, VoucherStatus};
use serde_json::Value;

use crate::dynamo::{get_n, get_s, item_key, ms_time, n, s, Item};

/// Sort key of a voucher item.
pub(super) const VOUCHER_SK: &str = "V";

/// A voucher as last read or written here.
#[derive(Debug, Clone)]
pub(super) struct Known {
    pub(super) rec: VoucherRecord,
    pub(super) ver: i64,
    pub(super) rbase: i64,
    pub(super) lease: Option<i64>,
}

pub(super) fn key(id: &str) -> Item {
    item_key(id, VOUCHER_SK)
}

pub(super) fn status_of(v: &str) -> Option<VoucherStatus> {
    v.parse().ok()
}

pub(super) fn record_of(item: &Item) -> Option<Known> {
    let rec = VoucherRecord {
        part: get_s(item, "part")?,
        keys: VoucherKeys {
            loyalty_request_id: get_s(item, "pk")?,
            loyalty_reference: get_s(item, "lr")?,
            merchant_reference: get_s(item, "mr")?,
            loyalty_order_reference: get_s(item, "lor")?,
        },
        payload: get_s(item, "payload")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(Value::Null),
        status: status_of(&get_s(item, "st")?)?,
        attempts: get_n(item, "attempts").unwrap_or(0),
        received_at: ms_time(get_n(item, "rcv")?)?,
        updated_at: ms_time(get_n(item, "upd")?)?,
        last_error: get_s(item, "err"),
    };
    Some(Known {
        rec,
        ver: get_n(item, "ver").unwrap_or(0),
        rbase: get_n(item, "rbase").unwrap_or(0),
        lease: get_n(item, "lease"),
    })
}

/// One lifecycle entry; `attempt` marks a claim, shown as "attempt k: …"
/// (the k-th claim is attempt k: only claims increment `attempts`).
pub(super) fn hist_entry(
    status: VoucherStatus,
    at: i64,
    detail: &str,
    attempt: bool,
) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("s".to_string(), s(status.as_str())),
        ("t".to_string(), n(at)),
        ("d".to_string(), s(detail)),
        ("a".to_string(), AttributeValue::Bool(attempt)),
    ]))
}

/// `<ms:013>#<id>`: the sort order of the reference and open indexes.
pub(super) fn order(ms: i64, id: &str) -> String {
    format!("{ms:013}#{id}")
}

pub(super) fn is_open(st: VoucherStatus) -> bool {
    !matches!(st, VoucherStatus::Submitted | VoucherStatus::Error)
}

/// An update expression under construction.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) sets: Vec<String>,
    pub(super) removes: Vec<&'static str>,
    pub(super) adds: Vec<&'static str>,
    pub(super) values: Item,
}

impl Expr {
    /// Moves the voucher `id` to `st` at `now`, appending `hist`; `lease` is
    /// the claim's end while submitting.
    pub(super) fn transition(
        id: &str,
        st: VoucherStatus,
        now: i64,
        lease: Option<i64>,
        hist: Vec<AttributeValue>,
    ) -> Self {
        let mut e = Expr::default();
        e.set("st", ":st", s(st.as_str()));
        e.set("upd", ":now", n(now));
        e.sets
            .push("hist = list_append(if_not_exists(hist, :empty), :h)".into());
        e.values.insert(":empty".into(), AttributeValue::L(vec![]));
        e.values.insert(":h".into(), AttributeValue::L(hist));
        if is_open(st) {
            e.set("ps", ":ps", s(st.as_str()));
            e.set("ord", ":ord", s(order(lease.unwrap_or(now), id)));
        } else {
            e.removes.extend(["ps", "ord"]);
        }
        match lease {
            Some(l) => e.set("lease", ":lease", n(l)),
            None => e.removes.push("lease"),
        }
        if st == VoucherStatus::Retry {
            e.sets.push("lretry = :now".into());
        }
        e
    }

    pub(super) fn set(&mut self, attr: &str, placeholder: &str, v: AttributeValue) {
        self.sets.push(format!("{attr} = {placeholder}"));
        self.values.insert(placeholder.into(), v);
    }

    pub(super) fn value(&mut self, placeholder: &str, v: AttributeValue) {
        self.values.insert(placeholder.into(), v);
    }

    pub(super) fn expression(&self) -> String {
        let mut out = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            out.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            out.push_str(&format!(" ADD {}", self.adds.join(", ")));
        }
        out
    }
}

/// A new voucher's item and record, `received` at `at`.
pub(super) fn new_voucher(req: &VoucherRequest, at: i64) -> (Item, VoucherRecord) {
    let keys = req.keys().clone();
    let id = keys.loyalty_request_id.clone();
    let payload = Value::Object(req.payload().clone());
    let mut item = key(&id);
    item.extend([
        ("part".to_string(), s(req.part().to_string())),
        ("lr".to_string(), s(&keys.loyalty_reference)),
        ("mr".to_string(), s(&keys.merchant_reference)),
        ("lor".to_string(), s(&keys.loyalty_order_reference)),
        ("payload".to_string(), s(payload.to_string())),
        ("st".to_string(), s(VoucherStatus::Received.as_str())),
        ("attempts".to_string(), n(0)),
        ("rbase".to_string(), n(0)),
        ("rcv".to_string(), n(at)),
        ("upd".to_string(), n(at)),
        ("rk".to_string(), s(order(at, &id))),
        ("ps".to_string(), s(VoucherStatus::Received.as_str())),
        ("ord".to_string(), s(order(at, &id))),
        ("ver".to_string(), n(1)),
        (
            "hist".to_string(),
            AttributeValue::L(vec![hist_entry(
                VoucherStatus::Received,
                at,
                "stored in the DataCache",
                false,
            )]),
        ),
    ]);
    let rec = VoucherRecord {
        part: req.part().to_string(),
        keys,
        payload,
        status: VoucherStatus::Received,
        attempts: 0,
        received_at: ms_time(at).unwrap_or_default(),
        updated_at: ms_time(at).unwrap_or_default(),
        last_error: None,
    };
    (item, rec)
}
