//! Which dead-lettered vouchers a bulk redrive or an export takes: a part,
//! a text in the dead-letter reason, and time ranges on when the voucher
//! was received and when it was dead-lettered (each `since <= t < until`,
//! as the audit export's).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::part::PartName;
use crate::voucher::VoucherRecord;

/// The filter's fields, by their names in the JSON API (query or body).
pub const FIELDS: [&str; 6] = [
    "part",
    "reason_contains",
    "received_since",
    "received_until",
    "dead_lettered_since",
    "dead_lettered_until",
];

/// A filter on the dead-letter queue; every field given must match (none:
/// every dead-lettered voucher).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// The voucher's part.
    pub part: Option<PartName>,
    /// Text the dead-letter reason contains (case-insensitive).
    pub reason_contains: Option<String>,
    /// Received at or after.
    pub received_since: Option<DateTime<Utc>>,
    /// Received before.
    pub received_until: Option<DateTime<Utc>>,
    /// Dead-lettered at or after.
    pub dead_lettered_since: Option<DateTime<Utc>>,
    /// Dead-lettered before.
    pub dead_lettered_until: Option<DateTime<Utc>>,
}

/// A field of the filter at fault, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FilterError {
    /// The field, as named in the request.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn bad(field: &'static str, reason: impl Into<String>) -> FilterError {
    FilterError {
        field,
        reason: reason.into(),
    }
}

impl DlqFilter {
    /// The filter a JSON object gives (a body, or a query's parameters as
    /// strings): each field a string or absent (an empty string counts as
    /// absent, as an empty form field does), times in RFC 3339, `part` one
    /// of `parts`. Other members are not the filter's and are ignored.
    pub fn parse(obj: &Value, parts: &[PartName]) -> Result<Self, FilterError> {
        let Some(obj) = obj.as_object() else {
            return Err(bad("body", "must be a JSON object"));
        };
        let text = |f: &'static str| -> Result<Option<String>, FilterError> {
            match obj.get(f) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(bad(f, "must be a string")),
            }
        };
        let time = |f: &'static str| -> Result<Option<DateTime<Utc>>, FilterError> {
            text(f)?
                .map(|s| {
                    DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| {
                            bad(
                                f,
                                format!(
                                    "{s:?} is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)"
                                ),
                            )
                        })
                })
                .transpose()
        };
        let part = text("part")?
            .map(|p| {
                parts
                    .iter()
                    .find(|k| k.as_str() == p)
                    .cloned()
                    .ok_or_else(|| {
                        let known: Vec<&str> = parts.iter().map(PartName::as_str).collect();
                        bad(
                            "part",
                            format!("unknown part {p:?} (one of {})", known.join(", ")),
                        )
                    })
            })
            .transpose()?;
        let reason_contains = text("reason_contains")?;
        if reason_contains
            .as_ref()
            .is_some_and(|r| r.chars().count() > 200)
        {
            return Err(bad("reason_contains", "must be at most 200 characters"));
        }
        let f = DlqFilter {
            part,
            reason_contains,
            received_since: time("received_since")?,
            received_until: time("received_until")?,
            dead_lettered_since: time("dead_lettered_since")?,
            dead_lettered_until: time("dead_lettered_until")?,
        };
        if let (Some(s), Some(u)) = (f.received_since, f.received_until) {
            if s >= u {
                return Err(bad("received_until", "must be after received_since"));
            }
        }
        if let (Some(s), Some(u)) = (f.dead_lettered_since, f.dead_lettered_until) {
            if s >= u {
                return Err(bad(
                    "dead_lettered_until",
                    "must be after dead_lettered_since",
                ));
            }
        }
        Ok(f)
    }

    /// Whether a dead-lettered voucher matches (its `updated_at` is when it
    /// was dead-lettered, its `last_error` the reason).
    pub fn matches(&self, v: &VoucherRecord) -> bool {
        let within =
            |t: DateTime<Utc>, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| {
                since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)
            };
        self.part.as_ref().is_none_or(|p| p.as_str() == v.part)
            && self.reason_contains.as_ref().is_none_or(|r| {
                v.last_error
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().contains(&r.to_lowercase()))
            })
            && within(v.received_at, self.received_since, self.received_until)
            && within(
                v.updated_at,
                self.dead_lettered_since,
                self.dead_lettered_until,
            )
    }

    /// The fields given, as the API names them (for the audit log and the
    /// answers): `{}` for the whole queue.
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        let time =
            |t: &DateTime<Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
        if let Some(p) = &self.part {
            o.insert("part".into(), json!(p.as_str()));
        }
        if let Some(r) = &self.reason_contains {
            o.insert("reason_contains".into(), json!(r));
        }
        for (name, t) in [
            ("received_since", &self.received_since),
            ("received_until", &self.received_until),
            ("dead_lettered_since", &self.dead_lettered_since),
            ("dead_lettered_until", &self.dead_lettered_until),
        ] {
            if let Some(t) = t {
                o.insert(name.into(), time(t));
            }
        }
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parts() -> Vec<PartName> {
        ["voucher", "member"]
            .iter()
            .map(|p| PartName::parse(p).unwrap())
            .collect()
    }

    fn record(part: &str, received: i64, dead: i64, reason: &str) -> VoucherRecord {
        VoucherRecord {
            part: part.into(),
            keys: crate::voucher::VoucherKeys {
                loyalty_request_id: "x".into(),
                loyalty_reference: "l".into(),
                merchant_reference: "m".into(),
                loyalty_order_reference: "o".into(),
            },
            payload: json!({}),
            status: crate::voucher::VoucherStatus::DeadLettered,
            attempts: 3,
            received_at: Utc.timestamp_opt(received, 0).unwrap(),
            updated_at: Utc.timestamp_opt(dead, 0).unwrap(),
            last_error: Some(reason.into()),
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        for (body, field) in [
            (json!({"part": "nope"}), "part"),
            (json!({"part": 3}), "part"),
            (json!({"received_since": "yesterday"}), "received_since"),
            (
                json!({"dead_lettered_until": "2026-13-01T00:00:00Z"}),
                "dead_lettered_until",
            ),
            (
                json!({"received_since": "2026-01-02T00:00:00Z", "received_until": "2026-01-01T00:00:00Z"}),
                "received_until",
            ),
            (
                json!({"dead_lettered_since": "2026-01-01T00:00:00Z", "dead_lettered_until": "2026-01-01T00:00:00Z"}),
                "dead_lettered_until",
            ),
            (
                json!({"reason_contains": "x".repeat(201)}),
                "reason_contains",
            ),
            (json!([1]), "body"),
        ] {
            let e = DlqFilter::parse(&body, &parts()).unwrap_err();
            assert_eq!(e.field, field, "{body}: {e}");
        }
        let e = DlqFilter::parse(&json!({"part": "nope"}), &parts()).unwrap_err();
        assert_eq!(e.reason, "unknown part \"nope\" (one of voucher, member)");
    }

    #[test]
    fn every_given_field_must_match() {
        let f = DlqFilter::parse(
            &json!({"part": "voucher", "reason_contains": "SaaS 503",
                    "received_since": "1970-01-01T00:00:10Z", "received_until": "1970-01-01T00:00:20Z",
                    "dead_lettered_since": "1970-01-01T00:00:30Z", "dead_lettered_until": "", "format": "csv"}),
            &parts(),
        )
        .unwrap();
        assert_eq!(f.dead_lettered_until, None, "empty is absent");
        assert!(f.matches(&record("voucher", 10, 30, "gave up; last: saas 503")));
        assert!(!f.matches(&record("member", 10, 30, "saas 503")), "part");
        assert!(!f.matches(&record("voucher", 10, 30, "timeout")), "reason");
        assert!(
            !f.matches(&record("voucher", 20, 30, "saas 503")),
            "received until is exclusive"
        );
        assert!(
            !f.matches(&record("voucher", 9, 30, "saas 503")),
            "received since"
        );
        assert!(
            !f.matches(&record("voucher", 10, 29, "saas 503")),
            "dead-lettered since"
        );
        assert!(DlqFilter::default().matches(&record("member", 0, 0, "")));
        assert_eq!(
            f.to_json(),
            json!({"part": "voucher", "reason_contains": "SaaS 503",
                   "received_since": "1970-01-01T00:00:10Z", "received_until": "1970-01-01T00:00:20Z",
                   "dead_lettered_since": "1970-01-01T00:00:30Z"})
        );
    }
}
