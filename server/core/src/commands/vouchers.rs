//! Voucher commands: submitting a voucher, redriving a dead-lettered one.

use serde_json::{json, Value};

use super::{authorize, CommandError};
use crate::access::{Principal, Role};
use crate::audit::{Audit, NewAuditEntry};
use crate::datacache::{DataCache, LifecycleEntry, VoucherRecord};
use crate::recovery::Recovery;
use crate::submit::{Accepted, SubmissionFlow};

/// Audit action of a submission.
pub const SUBMIT: &str = "voucher.submit";
/// Audit target of the JSON API's submissions.
pub const API_TARGET: &str = "api";
/// Audit action of a redrive.
pub const REDRIVE: &str = "dlq.redrive";

/// A voucher to submit: the request body (as `POST /api/v1/vouchers`
/// takes it) and how the submission is audited.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The body, or why the shell could not build it.
    pub body: Result<Value, CommandError>,
    /// The audit target.
    target: String,
    /// The part as given, when each submission is audited.
    audited_part: Option<String>,
}

impl Submission {
    /// A submission through the JSON API: machine traffic, so only a
    /// refused role is audited (target `api`), not each voucher.
    pub fn api(body: Result<Value, CommandError>) -> Self {
        Submission {
            body,
            target: API_TARGET.into(),
            audited_part: None,
        }
    }

    /// A person's submission from the console: audited each time, with the
    /// request id as target and the part and whether it was a duplicate.
    pub fn console(
        loyalty_request_id: &str,
        part: &str,
        body: Result<Value, CommandError>,
    ) -> Self {
        Submission {
            body,
            target: loyalty_request_id.trim().to_owned(),
            audited_part: Some(part.to_owned()),
        }
    }
}

/// The role check of [`submit`] through the JSON API alone: for a body the
/// API cannot read, which is refused only after the role (as [`submit`]
/// refuses an invalid voucher).
pub async fn authorize_api_submission(audit: &Audit, who: &Principal) -> Result<(), CommandError> {
    authorize(audit, who, Role::Operator, SUBMIT, API_TARGET).await
}

/// Submits a voucher (operator): validates, stores and runs it through
/// the submission flow.
#[tracing::instrument(name = "command", skip_all, fields(action = SUBMIT, caller = %who.name))]
pub async fn submit(
    flow: &SubmissionFlow,
    audit: &Audit,
    who: &Principal,
    submission: Submission,
) -> Result<Accepted, CommandError> {
    authorize(audit, who, Role::Operator, SUBMIT, &submission.target).await?;
    let out = match submission.body {
        Ok(body) => flow.accept_json(&body).await.map_err(CommandError::from),
        Err(e) => Err(e),
    };
    if let Some(part) = submission.audited_part {
        let duplicate = out.as_ref().ok().map(|a| a.duplicate);
        audit
            .log(
                NewAuditEntry::new(who, SUBMIT)
                    .target(submission.target)
                    .detail(json!({ "part": part, "duplicate": duplicate }))
                    .result(&out),
            )
            .await;
    }
    out
}

/// A voucher with its lifecycle, oldest step first.
#[derive(Debug, Clone, PartialEq)]
pub struct VoucherDetail {
    /// The voucher.
    pub voucher: VoucherRecord,
    /// Its lifecycle.
    pub lifecycle: Vec<LifecycleEntry>,
}

/// Reads a voucher and its lifecycle (404 when unknown).
pub async fn detail(cache: &DataCache, id: &str) -> Result<VoucherDetail, CommandError> {
    let voucher = cache
        .get(id)
        .await
        .map_err(CommandError::unavailable)?
        .ok_or_else(|| CommandError::not_found(format!("voucher {id:?} not found")))?;
    let lifecycle = cache
        .lifecycle(id)
        .await
        .map_err(CommandError::unavailable)?;
    Ok(VoucherDetail { voucher, lifecycle })
}

/// Redrives a dead-lettered voucher (operator): back to `retry` and
/// resubmitted now; answers the voucher as it is afterwards.
#[tracing::instrument(name = "command", skip_all, fields(action = REDRIVE, voucher = id, caller = %who.name))]
pub async fn redrive(
    flow: &SubmissionFlow,
    recovery: &Recovery,
    audit: &Audit,
    who: &Principal,
    id: &str,
) -> Result<VoucherDetail, CommandError> {
    authorize(audit, who, Role::Operator, REDRIVE, id).await?;
    let out = match recovery.redrive(id).await {
        Ok(_) => detail(flow.cache(), id).await,
        Err(e) => Err(e.into()),
    };
    audit
        .log(NewAuditEntry::new(who, REDRIVE).target(id).result(&out))
        .await;
    out
}
