//! [`VoucherFilter`]: which vouchers a list shows without a reference — by
//! part, status, receive time and attempts — read from query parameters
//! with an error naming the parameter at fault.
//!
//! Lists are newest received first by `(received, loyalty_request_id)`
//! and paged after a [`FindCursor`], like the search by reference.

use chrono::{DateTime, Utc};

use crate::part::PartName;
use crate::voucher::{VoucherRecord, VoucherStatus};

/// The most vouchers a store's list reads at once: the largest page
/// ([`FIND_LIMIT_MAX`](crate::voucher::FIND_LIMIT_MAX)) and one more, which
/// tells whether another page follows.
pub const LIST_FETCH_MAX: usize = crate::voucher::FIND_LIMIT_MAX + 1;

/// The query parameters of a filter, in the order the API documents them.
pub const FILTER_FIELDS: [&str; 5] = ["part", "status", "from", "to", "min_attempts"];

/// Every status, in lifecycle order (what `status` may name).
pub const STATUSES: [VoucherStatus; 6] = [
    VoucherStatus::Received,
    VoucherStatus::Submitting,
    VoucherStatus::Retry,
    VoucherStatus::Submitted,
    VoucherStatus::Error,
    VoucherStatus::DeadLettered,
];

/// Which vouchers a list holds; every condition given must hold (an empty
/// filter lists every voucher).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoucherFilter {
    /// Only this part's.
    pub part: Option<String>,
    /// Only vouchers in one of these statuses (empty: any status).
    pub statuses: Vec<VoucherStatus>,
    /// Received at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Received before this time (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// With at least this many SaaS calls made.
    pub min_attempts: Option<i64>,
}

/// A filter parameter refused: the parameter and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FilterError {
    /// The query parameter at fault.
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> FilterError {
    FilterError {
        field,
        reason: reason.into(),
    }
}

impl VoucherFilter {
    /// The filter the query parameters `get` gives (blank values count as
    /// absent): `part` (one of `parts`), `status` (one or more statuses,
    /// comma-separated), `from` and `to` (RFC 3339, `from` before `to`),
    /// `min_attempts` (a whole number ≥ 0).
    pub fn parse<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
        parts: &[PartName],
    ) -> Result<Self, FilterError> {
        let value = |f: &str| get(f).map(str::trim).filter(|v| !v.is_empty());
        let part = value("part")
            .map(|p| {
                if parts.iter().any(|n| n.as_str() == p) {
                    Ok(p.to_owned())
                } else {
                    let known: Vec<&str> = parts.iter().map(PartName::as_str).collect();
                    Err(refuse(
                        "part",
                        format!("{p:?} is not a configured part ({})", known.join(", ")),
                    ))
                }
            })
            .transpose()?;
        let mut statuses = Vec::new();
        for s in value("status").into_iter().flat_map(|v| v.split(',')) {
            let s = s.trim();
            let status = s.parse::<VoucherStatus>().map_err(|_| {
                let known: Vec<&str> = STATUSES.iter().map(|s| s.as_str()).collect();
                refuse(
                    "status",
                    format!("{s:?} is not a voucher status ({})", known.join(", ")),
                )
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        let time = |f: &'static str| {
            value(f)
                .map(|v| {
                    DateTime::parse_from_rfc3339(v)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| refuse(f, "must be an RFC 3339 time"))
                })
                .transpose()
        };
        let (from, to) = (time("from")?, time("to")?);
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(refuse("to", "must be after from"));
            }
        }
        let min_attempts = value("min_attempts")
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| refuse("min_attempts", "must be a whole number, 0 or more"))
            })
            .transpose()?;
        Ok(Self {
            part,
            statuses,
            from,
            to,
            min_attempts,
        })
    }

    /// Whether the voucher passes every condition.
    pub fn matches(&self, v: &VoucherRecord) -> bool {
        self.part.as_ref().is_none_or(|p| *p == v.part)
            && (self.statuses.is_empty() || self.statuses.contains(&v.status))
            && self.from.is_none_or(|f| v.received_at >= f)
            && self.to.is_none_or(|t| v.received_at < t)
            && self.min_attempts.is_none_or(|n| v.attempts >= n)
    }

    /// The statuses to list: those named, else every one.
    pub fn statuses_or_all(&self) -> Vec<VoucherStatus> {
        if self.statuses.is_empty() {
            STATUSES.to_vec()
        } else {
            self.statuses.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<VoucherFilter, FilterError> {
        let q: HashMap<&str, &str> = pairs.iter().copied().collect();
        VoucherFilter::parse(|k| q.get(k).copied(), &PartName::defaults())
    }

    #[test]
    fn every_parameter_is_read_and_blanks_are_absent() {
        let f = parse(&[
            ("part", "member"),
            ("status", "retry, dead_lettered,retry"),
            ("from", "2026-12-01T10:00:00+01:00"),
            ("to", "2026-12-01T10:00:00Z"),
            ("min_attempts", "2"),
        ])
        .unwrap();
        assert_eq!(f.part.as_deref(), Some("member"));
        assert_eq!(
            f.statuses,
            [VoucherStatus::Retry, VoucherStatus::DeadLettered]
        );
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-12-01T09:00:00+00:00");
        assert_eq!(f.min_attempts, Some(2));
        assert_eq!(
            parse(&[("part", " "), ("status", ""), ("min_attempts", "")]).unwrap(),
            VoucherFilter::default()
        );
        assert_eq!(VoucherFilter::default().statuses_or_all(), STATUSES);
    }

    #[test]
    fn bad_values_name_their_parameter_and_the_reason() {
        let field = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err();
        let e = field(&[("part", "nope")]);
        assert_eq!(e.field, "part");
        assert!(e.reason.contains("voucher, member, points"), "{e}");
        let e = field(&[("status", "retry,done")]);
        assert_eq!(e.field, "status");
        assert!(
            e.reason.starts_with("\"done\" is not a voucher status"),
            "{e}"
        );
        assert_eq!(field(&[("from", "yesterday")]).field, "from");
        assert_eq!(field(&[("to", "2026-13-01")]).field, "to");
        let e = field(&[
            ("from", "2026-12-01T10:00:00Z"),
            ("to", "2026-12-01T10:00:00Z"),
        ]);
        assert_eq!(e.to_string(), "to: must be after from");
        for bad in ["-1", "two", "1.5"] {
            assert_eq!(field(&[("min_attempts", bad)]).field, "min_attempts");
        }
    }
}
