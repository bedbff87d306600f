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

/// Vouchers matching a reference, newest received first.
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
