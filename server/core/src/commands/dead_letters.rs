//! Dead-letter queue commands in bulk: redrive what a filter matches at a
//! chosen rate, and cancel such a redrive. (One voucher's redrive is
//! [`super::vouchers::redrive`].)

use std::sync::Arc;

use serde_json::{json, Value};

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::dlq_filter::DlqFilter;
use crate::part::PartName;
use crate::recovery::{BulkRedrive, Recovery, BULK_RATE_DEFAULT, BULK_RATE_MAX};

/// Audit action of a bulk redrive.
pub const BULK_REDRIVE: &str = "dlq.bulk_redrive";
/// Audit action of cancelling one.
pub const BULK_CANCEL: &str = "dlq.bulk_redrive.cancel";
/// Audit target of a bulk redrive refused before it had an id.
pub const DLQ_TARGET: &str = "dlq";

/// A bulk redrive as asked: the filter's fields (see [`DlqFilter::parse`])
/// and `rate`, vouchers per second (1 to [`BULK_RATE_MAX`], default
/// [`BULK_RATE_DEFAULT`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRedriveRequest {
    /// Which dead-lettered vouchers.
    pub filter: DlqFilter,
    /// Vouchers started per second, at most.
    pub rate_per_sec: u32,
}

impl BulkRedriveRequest {
    /// The request a JSON object gives (the API's body; the console's form
    /// as strings): each error names its field.
    pub fn parse(body: &Value, parts: &[PartName]) -> Result<Self, CommandError> {
        let filter =
            DlqFilter::parse(body, parts).map_err(|e| CommandError::invalid(e.field, e.reason))?;
        let bad_rate = || {
            CommandError::invalid(
                "rate",
                format!("must be a whole number of vouchers per second, 1 to {BULK_RATE_MAX}"),
            )
        };
        let rate = match body.get("rate") {
            None | Some(Value::Null) => BULK_RATE_DEFAULT as u64,
            Some(Value::String(s)) if s.trim().is_empty() => BULK_RATE_DEFAULT as u64,
            Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| bad_rate())?,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(bad_rate)?,
            Some(_) => return Err(bad_rate()),
        };
        if !(1..=u64::from(BULK_RATE_MAX)).contains(&rate) {
            return Err(bad_rate());
        }
        Ok(BulkRedriveRequest {
            filter,
            rate_per_sec: rate as u32,
        })
    }
}

/// Starts redriving the dead-lettered vouchers a filter matches
/// (operator); one audit entry with the filter, the rate and the count.
#[tracing::instrument(name = "command", skip_all, fields(action = BULK_REDRIVE, caller = %who.name))]
pub async fn bulk_redrive(
    recovery: &Arc<Recovery>,
    audit: &Audit,
    who: &Principal,
    asked: &Value,
    request: Result<BulkRedriveRequest, CommandError>,
) -> Result<BulkRedrive, CommandError> {
    authorize(audit, who, Role::Operator, BULK_REDRIVE, DLQ_TARGET).await?;
    let out = match request {
        Ok(r) => recovery
            .start_bulk_redrive(r.filter, r.rate_per_sec, &who.name)
            .await
            .map_err(CommandError::from),
        Err(e) => Err(e),
    };
    let (target, detail) = match &out {
        Ok(b) => (
            b.id.clone(),
            json!({ "filter": b.filter.to_json(), "rate": b.rate_per_sec, "count": b.total }),
        ),
        Err(_) => (DLQ_TARGET.to_owned(), json!({ "asked": asked })),
    };
    audit
        .log(
            NewAuditEntry::new(who, BULK_REDRIVE)
                .target(target)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}

/// Cancels a running bulk redrive (operator).
#[tracing::instrument(name = "command", skip_all, fields(action = BULK_CANCEL, bulk_redrive = id, caller = %who.name))]
pub async fn cancel_bulk_redrive(
    recovery: &Recovery,
    audit: &Audit,
    who: &Principal,
    id: &str,
) -> Result<BulkRedrive, CommandError> {
    authorize(audit, who, Role::Operator, BULK_CANCEL, id).await?;
    let out = recovery.cancel_bulk_redrive(id).map_err(CommandError::from);
    let detail = match &out {
        Ok(b) => json!({ "done": b.done(), "total": b.total }),
        Err(_) => json!({}),
    };
    audit
        .log(
            NewAuditEntry::new(who, BULK_CANCEL)
                .target(id)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_checked_and_named() {
        let parts = [PartName::parse("voucher").unwrap()];
        let ok = |v: Value| BulkRedriveRequest::parse(&v, &parts).unwrap().rate_per_sec;
        assert_eq!(ok(json!({})), BULK_RATE_DEFAULT);
        assert_eq!(ok(json!({"rate": 20})), 20);
        assert_eq!(ok(json!({"rate": " 7 "})), 7);
        for bad in [
            json!(0),
            json!(501),
            json!(2.5),
            json!(-1),
            json!("fast"),
            json!(true),
        ] {
            let e = BulkRedriveRequest::parse(&json!({ "rate": bad }), &parts).unwrap_err();
            assert_eq!(e.field(), Some("rate"), "{bad}");
        }
        let e = BulkRedriveRequest::parse(&json!({"part": "x"}), &parts).unwrap_err();
        assert_eq!(e.field(), Some("part"));
    }
}
