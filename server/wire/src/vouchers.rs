//! Vouchers: the request the API takes, a stored voucher, its lifecycle,
//! searches and the dead-letter queue.

use serde::{Deserialize, Serialize};

/// A voucher request (the Order Processing service's event data), as
/// `POST /api/v1/vouchers` takes it. The handler reads the body as JSON and
/// names the first field at fault; this type documents the shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherRequestBody))]
pub struct VoucherRequest {
    /// One of the configured parts, e.g. `voucher`.
    pub part: String,
    /// The voucher's id; a known id is a duplicate and is not submitted again.
    pub loyalty_request_id: String,
    /// Loyalty reference.
    pub loyalty_reference: String,
    /// Merchant reference.
    pub merchant_reference: String,
    /// Loyalty order reference.
    pub loyalty_order_reference: String,
    /// What the SaaS receives besides the keys (any JSON object).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

/// Where a voucher is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherStatusDoc))]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    /// Stored, not yet decided.
    Received,
    /// Being sent to the SaaS under a claim.
    Submitting,
    /// Held back (circuit open, 5xx or timeout): a replay will resubmit it.
    Retry,
    /// Accepted by the SaaS (final).
    Submitted,
    /// Refused by the SaaS with a 4xx, never retried (final).
    Error,
    /// Given up on after repeated failures; can be redriven.
    DeadLettered,
}

impl VoucherStatus {
    /// The status as the API writes it (`dead_lettered`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Received => "received",
            VoucherStatus::Submitting => "submitting",
            VoucherStatus::Retry => "retry",
            VoucherStatus::Submitted => "submitted",
            VoucherStatus::Error => "error",
            VoucherStatus::DeadLettered => "dead_lettered",
        }
    }
}

impl std::fmt::Display for VoucherStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored voucher (keys only, no payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherBody))]
pub struct Voucher {
    /// The voucher's id.
    pub loyalty_request_id: String,
    /// Its part.
    pub part: String,
    /// Its status.
    pub status: VoucherStatus,
    /// Loyalty reference.
    pub loyalty_reference: String,
    /// Merchant reference.
    pub merchant_reference: String,
    /// Loyalty order reference.
    pub loyalty_order_reference: String,
    /// SaaS calls made so far.
    pub attempts: i64,
    /// When it was first received (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub received_at: String,
    /// When its status last changed (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// The last failure (SaaS answer, dead-letter reason), if any.
    pub last_error: Option<String>,
}

/// One step of a voucher's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LifecycleEntryBody))]
pub struct LifecycleEntry {
    /// The status entered.
    pub status: String,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// Why, in words.
    pub detail: String,
}

/// The answer to a submission: the stored voucher and `duplicate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SubmittedVoucherBody))]
pub struct SubmittedVoucher {
    /// The voucher after the flow ran.
    #[serde(flatten)]
    pub voucher: Voucher,
    /// The id was known already (200, nothing submitted again).
    pub duplicate: bool,
}

/// A voucher with its lifecycle, oldest step first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherDetailBody))]
pub struct VoucherDetail {
    /// The voucher.
    #[serde(flatten)]
    pub voucher: Voucher,
    /// Every status it went through, oldest first.
    pub lifecycle: Vec<LifecycleEntry>,
}

/// The filter of a voucher list without a reference, as query parameters
/// (the console's `/vouchers?…` and `GET /api/v1/vouchers?…` take the same
/// ones): each as given, blank or absent meaning any. The server reads them
/// (and names the one at fault); the console builds its links with
/// [`VoucherListQuery::to_query`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherListQuery {
    /// A configured part.
    pub part: Option<String>,
    /// One or more statuses, comma-separated (`retry,dead_lettered`).
    pub status: Option<String>,
    /// Received at or after (RFC 3339).
    pub from: Option<String>,
    /// Received before (RFC 3339).
    pub to: Option<String>,
    /// At least this many SaaS calls made.
    pub min_attempts: Option<String>,
}

impl VoucherListQuery {
    /// The parameters' names, in the order [`VoucherListQuery::to_query`] writes them.
    pub const FIELDS: [&'static str; 5] = ["part", "status", "from", "to", "min_attempts"];

    /// Reads the parameters from `get` (a URL's query); blanks are dropped.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let v = |f: &str| get(f).filter(|v| !v.trim().is_empty());
        Self {
            part: v("part"),
            status: v("status"),
            from: v("from"),
            to: v("to"),
            min_attempts: v("min_attempts"),
        }
    }

    /// The value of parameter `field`, if given.
    pub fn get(&self, field: &str) -> Option<&str> {
        match field {
            "part" => self.part.as_deref(),
            "status" => self.status.as_deref(),
            "from" => self.from.as_deref(),
            "to" => self.to.as_deref(),
            "min_attempts" => self.min_attempts.as_deref(),
            _ => None,
        }
    }

    /// Whether no parameter is given (the list of every voucher).
    pub fn is_empty(&self) -> bool {
        Self::FIELDS.iter().all(|f| self.get(f).is_none())
    }

    /// `part=…&status=…` with the parameters given, percent-encoded: append
    /// to `/vouchers?` (the console's list) or `/api/v1/vouchers?`.
    pub fn to_query(&self) -> String {
        Self::FIELDS
            .iter()
            .filter_map(|f| {
                self.get(f)
                    .map(|v| format!("{f}={}", crate::query::encode(v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Vouchers matching a reference or a filter, newest received first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = VoucherSearchBody))]
pub struct VoucherSearch {
    /// The matches (without lifecycle).
    pub vouchers: Vec<Voucher>,
    /// Present when the page is full: pass as `next_token` for older matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// A dead-lettered voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DlqVoucherBody))]
pub struct DlqVoucher {
    /// The voucher.
    #[serde(flatten)]
    pub voucher: Voucher,
    /// Why it was dead-lettered.
    pub reason: Option<String>,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub dead_lettered_at: String,
}

/// One page of the dead-letter queue, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DlqPageBody))]
pub struct DlqPage {
    /// The vouchers.
    pub vouchers: Vec<DlqVoucher>,
    /// Pass as `next_token` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The console's submit form (the JSON API's body, the free-form payload
/// object given as JSON text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherForm {
    /// The part.
    pub part: String,
    /// The request id.
    pub loyalty_request_id: String,
    /// The loyalty reference.
    pub loyalty_reference: String,
    /// The merchant's reference.
    pub merchant_reference: String,
    /// The loyalty order reference.
    pub loyalty_order_reference: String,
    /// The payload, a JSON object (empty: `{}`).
    pub payload: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_query_round_trips_through_its_link() {
        let q = VoucherListQuery {
            part: Some("voucher".into()),
            status: Some("retry,dead_lettered".into()),
            to: Some("2026-12-07T02:00:00+01:00".into()),
            ..Default::default()
        };
        assert_eq!(
            q.to_query(),
            "part=voucher&status=retry,dead_lettered&to=2026-12-07T02:00:00%2B01:00"
        );
        let params = [
            ("part", "voucher"),
            ("status", "retry,dead_lettered"),
            ("from", " "),
        ];
        let read = VoucherListQuery::from_params(|f| {
            params
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(read.from, None, "blank is absent");
        assert_eq!(read.status.as_deref(), Some("retry,dead_lettered"));
        assert!(!read.is_empty());
        assert!(VoucherListQuery::default().is_empty());
        assert_eq!(VoucherListQuery::default().to_query(), "");
    }
}
