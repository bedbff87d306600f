//! Vouchers: the requests the mediator forwards to the SaaS, validated at
//! the edge ([`VoucherRequest::parse`]) so an invalid one cannot exist, and
//! their submission status.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use crate::part::PartName;

/// Longest accepted key (ids and references), in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// Largest accepted payload, serialised, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The four keys that identify a voucher; a status event carries only these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoucherKeys {
    /// Unique id of the request (the seed's task token); the DataCache key.
    pub loyalty_request_id: String,
    /// The loyalty programme's reference.
    pub loyalty_reference: String,
    /// The merchant's reference.
    pub merchant_reference: String,
    /// The order's reference.
    pub loyalty_order_reference: String,
}

/// A validated voucher request.
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherRequest {
    part: PartName,
    keys: VoucherKeys,
    payload: Map<String, Value>,
}

/// Why a voucher request was refused: the offending field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct VoucherError {
    /// The field at fault (`body` when the whole body is).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl VoucherError {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

fn key(body: &Map<String, Value>, field: &str) -> Result<String, VoucherError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(VoucherError::new(field, "is required")),
        Some(Value::String(s)) => {
            if s.trim().is_empty() {
                Err(VoucherError::new(field, "must not be empty"))
            } else if s.len() > MAX_KEY_LEN {
                Err(VoucherError::new(
                    field,
                    format!("must be at most {MAX_KEY_LEN} bytes"),
                ))
            } else if s.chars().any(char::is_control) {
                Err(VoucherError::new(
                    field,
                    "must not contain control characters",
                ))
            } else {
                Ok(s.clone())
            }
        }
        Some(_) => Err(VoucherError::new(field, "must be a string")),
    }
}

impl VoucherRequest {
    /// Validates a request body `{"part", "loyalty_request_id",
    /// "loyalty_reference", "merchant_reference", "loyalty_order_reference",
    /// "payload": {…}}` against the configured `parts`. Fields are checked in
    /// that order; the first fault is reported.
    pub fn parse(body: &Value, parts: &[PartName]) -> Result<Self, VoucherError> {
        let Some(obj) = body.as_object() else {
            return Err(VoucherError::new("body", "must be a JSON object"));
        };
        let part_text = key(obj, "part")?;
        let part = PartName::parse(&part_text).map_err(|e| VoucherError::new("part", e.reason))?;
        if !parts.contains(&part) {
            return Err(VoucherError::new(
                "part",
                format!("unknown part {part_text:?}"),
            ));
        }
        let keys = VoucherKeys {
            loyalty_request_id: key(obj, "loyalty_request_id")?,
            loyalty_reference: key(obj, "loyalty_reference")?,
            merchant_reference: key(obj, "merchant_reference")?,
            loyalty_order_reference: key(obj, "loyalty_order_reference")?,
        };
        let payload = match obj.get("payload") {
            None | Some(Value::Null) => return Err(VoucherError::new("payload", "is required")),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(VoucherError::new("payload", "must be a JSON object")),
        };
        if Value::Object(payload.clone()).to_string().len() > MAX_PAYLOAD_BYTES {
            return Err(VoucherError::new(
                "payload",
                format!("must be at most {MAX_PAYLOAD_BYTES} bytes"),
            ));
        }
        Ok(Self {
            part,
            keys,
            payload,
        })
    }

    /// The part it is submitted to.
    pub fn part(&self) -> &PartName {
        &self.part
    }

    /// Its keys.
    pub fn keys(&self) -> &VoucherKeys {
        &self.keys
    }

    /// Its payload.
    pub fn payload(&self) -> &Map<String, Value> {
        &self.payload
    }
}

/// The JSON sent to the SaaS: the keys and the payload.
pub fn submission_body(keys: &VoucherKeys, payload: &Value) -> Value {
    json!({
        "loyalty_request_id": keys.loyalty_request_id,
        "loyalty_reference": keys.loyalty_reference,
        "merchant_reference": keys.merchant_reference,
        "loyalty_order_reference": keys.loyalty_order_reference,
        "payload": payload,
    })
}

/// Where a voucher is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    /// Stored in the DataCache, not yet decided.
    Received,
    /// Claimed by a handler that is calling the SaaS (a lease).
    Submitting,
    /// Held back (circuit open, or a 5xx/timeout); a replay will resubmit it.
    Retry,
    /// Accepted by the SaaS. Final.
    Submitted,
    /// Refused by the SaaS (4xx); never retried. Final.
    Error,
    /// Gave up after repeated failed deliveries. Final.
    DeadLettered,
}

impl VoucherStatus {
    /// Name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Submitting => "submitting",
            Self::Retry => "retry",
            Self::Submitted => "submitted",
            Self::Error => "error",
            Self::DeadLettered => "dead_lettered",
        }
    }

    /// Whether the voucher is done with (nothing will submit it again).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Submitted | Self::Error | Self::DeadLettered)
    }
}

impl fmt::Display for VoucherStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VoucherStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "received" => Self::Received,
            "submitting" => Self::Submitting,
            "retry" => Self::Retry,
            "submitted" => Self::Submitted,
            "error" => Self::Error,
            "dead_lettered" => Self::DeadLettered,
            other => return Err(format!("unknown voucher status {other:?}")),
        })
    }
}

// What the DataCache stores and answers (see [`crate::datacache`]).

/// A voucher as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherRecord {
    /// Its part.
    pub part: String,
    /// Its keys.
    pub keys: VoucherKeys,
    /// Its payload.
    pub payload: Value,
    /// Its status.
    pub status: VoucherStatus,
    /// SaaS calls started so far.
    pub attempts: i64,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

/// One step of a voucher's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleEntry {
    /// The status entered.
    pub status: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words.
    pub detail: String,
}

/// Which reference a voucher search matches ([`DataCache::find`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherRef {
    /// Any of the four.
    Any,
    /// `loyalty_request_id` (the voucher's id).
    LoyaltyRequestId,
    /// `loyalty_reference`.
    LoyaltyReference,
    /// `merchant_reference`.
    MerchantReference,
    /// `loyalty_order_reference`.
    LoyaltyOrderReference,
}

impl VoucherRef {
    /// The four references, by their field name.
    pub const FIELDS: [(&'static str, VoucherRef); 4] = [
        ("loyalty_request_id", VoucherRef::LoyaltyRequestId),
        ("loyalty_reference", VoucherRef::LoyaltyReference),
        ("merchant_reference", VoucherRef::MerchantReference),
        ("loyalty_order_reference", VoucherRef::LoyaltyOrderReference),
    ];
}

/// Where a voucher search page ends: the last voucher's receive time (ms)
/// and id; the next page starts strictly after it (older).
pub type FindCursor = (i64, String);

/// The largest page [`DataCache::find`] returns.
pub const FIND_LIMIT_MAX: usize = 100;

/// What [`DataCache::hold_if_open`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The part is down: the voucher is now `retry` and its event is in the outbox.
    Held,
    /// The part is not down: go ahead and submit.
    CircuitClosed,
    /// The voucher is in a state that cannot be held (or does not exist).
    NotHoldable(Option<VoucherStatus>),
}

/// What [`DataCache::claim`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller owns the submission until the lease ends; `token` must be
    /// given back to [`DataCache::finish`].
    Claimed {
        /// The claim token (the attempt number).
        token: i64,
        /// The voucher.
        voucher: Box<VoucherRecord>,
    },
    /// Someone else holds it, or it is final.
    Busy(VoucherStatus),
    /// No such voucher.
    NotFound,
}

/// What [`DataCache::redrive`] did with a voucher it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redriven {
    /// This call moved it from `dead_lettered` back to `retry`: the caller
    /// may send it through the flow (one redrive of a voucher wins).
    Moved,
    /// It was not dead-lettered (its status): left untouched, so a
    /// concurrent redrive of the same voucher does not submit it again.
    NotDeadLettered(VoucherStatus),
}

/// A status event waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEvent {
    /// Outbox row id.
    pub id: i64,
    /// The voucher's part (the event's `type`).
    pub part: String,
    /// The voucher's keys (the event's `data`).
    pub keys: VoucherKeys,
    /// retry, submitted, error or dead_lettered.
    pub status: VoucherStatus,
    /// The event's time.
    pub at: DateTime<Utc>,
}

/// What [`DataCache::hold_or_claim_many`] did with one voucher.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The part is down: the voucher is now `retry` and its event is in the outbox.
    Held,
    /// Claimed for one SaaS call (see [`Claim::Claimed`]).
    Claimed {
        /// The claim token, for [`DataCache::finish_many`].
        token: i64,
        /// The voucher.
        voucher: Box<VoucherRecord>,
    },
    /// Left alone: final, claimed by someone else (its status) or unknown (`None`).
    Skipped(Option<VoucherStatus>),
}

/// The outcome of one claimed SaaS call, for [`DataCache::finish_many`].
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// The voucher.
    pub id: String,
    /// Its part (as claimed: a voucher never changes part).
    pub part: String,
    /// Its claim token.
    pub token: i64,
    /// submitted, error or retry.
    pub status: VoucherStatus,
    /// Why, in words.
    pub detail: String,
}

/// A stored time (milliseconds since the epoch; out of range reads as the epoch).
pub fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<PartName> {
        PartName::defaults()
    }

    fn good() -> Value {
        json!({"part": "voucher", "loyalty_request_id": "AbLh", "loyalty_reference": "P6IF",
               "merchant_reference": "xz5C", "loyalty_order_reference": "M101", "payload": {"n": 1}})
    }

    #[test]
    fn accepts_a_good_request() {
        let v = VoucherRequest::parse(&good(), &parts()).unwrap();
        assert_eq!(v.part().as_str(), "voucher");
        assert_eq!(v.keys().loyalty_request_id, "AbLh");
        assert_eq!(v.payload()["n"], 1);
    }

    #[test]
    fn errors_name_the_field() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|v| v["part"] = json!("nope")),
                "part",
                "unknown part \"nope\"",
            ),
            (
                Box::new(|v| v["part"] = json!("Bad")),
                "part",
                "must start with a lowercase letter",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("part");
                }),
                "part",
                "is required",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("loyalty_request_id");
                }),
                "loyalty_request_id",
                "is required",
            ),
            (
                Box::new(|v| v["loyalty_request_id"] = json!(" ")),
                "loyalty_request_id",
                "must not be empty",
            ),
            (
                Box::new(|v| v["merchant_reference"] = json!(5)),
                "merchant_reference",
                "must be a string",
            ),
            (
                Box::new(|v| v["loyalty_reference"] = json!("a\nb")),
                "loyalty_reference",
                "must not contain control characters",
            ),
            (
                Box::new(|v| v["loyalty_order_reference"] = json!("x".repeat(300))),
                "loyalty_order_reference",
                "must be at most 256 bytes",
            ),
            (
                Box::new(|v| v["payload"] = json!([1])),
                "payload",
                "must be a JSON object",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("payload");
                }),
                "payload",
                "is required",
            ),
        ];
        for (edit, field, reason) in cases {
            let mut v = good();
            edit(&mut v);
            let e = VoucherRequest::parse(&v, &parts()).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.reason.as_str()),
                (field, reason),
                "{v}"
            );
        }
        let e = VoucherRequest::parse(&json!([]), &parts()).unwrap_err();
        assert_eq!(e.field, "body");
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            VoucherStatus::Received,
            VoucherStatus::Submitting,
            VoucherStatus::Retry,
            VoucherStatus::Submitted,
            VoucherStatus::Error,
            VoucherStatus::DeadLettered,
        ] {
            assert_eq!(s.as_str().parse::<VoucherStatus>().unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert!(VoucherStatus::Error.is_final() && !VoucherStatus::Retry.is_final());
    }
}
