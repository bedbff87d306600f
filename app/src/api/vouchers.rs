//! Vouchers: submit (with per-field errors), search, one voucher's
//! lifecycle, the dead-letter queue and redrive.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::ApiError;

/// A voucher request as stored in the DataCache (keys only, no payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherView {
    /// The request's id (primary key).
    pub loyalty_request_id: String,
    /// The SaaS part it goes to.
    pub part: String,
    /// received, submitting, retry, submitted, error or dead_lettered.
    pub status: String,
    /// The loyalty reference.
    pub loyalty_reference: String,
    /// The merchant's reference.
    pub merchant_reference: String,
    /// The loyalty order reference.
    pub loyalty_order_reference: String,
    /// Failed SaaS calls so far.
    pub attempts: i64,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Last error (SaaS answer, dead-letter reason).
    pub last_error: Option<String>,
}

/// One step of a voucher's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleStep {
    /// The status it reached.
    pub status: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why, in words.
    pub detail: String,
}

/// A voucher with its lifecycle, oldest step first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherDetail {
    /// The voucher.
    pub voucher: VoucherView,
    /// Its lifecycle.
    pub lifecycle: Vec<LifecycleStep>,
}

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The stored voucher.
    pub voucher: VoucherView,
    /// The id was known already: nothing was submitted again.
    pub duplicate: bool,
}

/// One page of the dead-letter queue, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqPage {
    /// The dead-lettered vouchers; `last_error` holds the reason.
    pub vouchers: Vec<VoucherView>,
    /// Token of the next page, if any.
    pub next_token: Option<String>,
}

/// One page of a voucher search, newest received first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    /// The vouchers whose reference (any of the four) matches.
    pub vouchers: Vec<VoucherView>,
    /// Token of the next (older) page, if any.
    pub next_token: Option<String>,
}

/// The fields of the submit form (also what the JSON API takes, minus the
/// free-form payload object, given here as JSON text).
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

/// Validates, stores and submits a voucher; errors name the field.
#[server(client = crate::api::access::CsrfClient)]
pub async fn submit_voucher(form: VoucherForm) -> Result<Submitted, ApiError> {
    use mediator_core::audit::NewAuditEntry;
    let ctx = super::context()?;
    let target = form.loyalty_request_id.trim().to_owned();
    let who = super::access::require(
        &ctx,
        mediator_core::Role::Operator,
        "voucher.submit",
        &target,
    )
    .await?;
    let out = ssr::submit(&ctx, &form).await;
    let detail = serde_json::json!({ "part": form.part, "duplicate": out.as_ref().ok().map(|s| s.duplicate) });
    ctx.audit
        .log(
            NewAuditEntry::new(&who, "voucher.submit")
                .target(target)
                .detail(detail)
                .result(&out),
        )
        .await;
    out
}

/// Vouchers whose reference (any of the four) is `reference`, newest first;
/// `next_token` continues a previous page.
#[server(client = crate::api::access::CsrfClient)]
pub async fn find_vouchers(
    reference: String,
    next_token: Option<String>,
) -> Result<SearchPage, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::find(&ctx, &reference, next_token.as_deref()).await
}

/// A voucher with its lifecycle.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_voucher(id: String) -> Result<VoucherDetail, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::detail(&ctx, &id).await
}

/// A page of the dead-letter queue.
#[server(client = crate::api::access::CsrfClient)]
pub async fn get_dlq(next_token: Option<String>) -> Result<DlqPage, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::dlq(&ctx, next_token.as_deref()).await
}

/// Moves a dead-lettered voucher back to `retry` and resubmits it now.
#[server(client = crate::api::access::CsrfClient)]
pub async fn redrive_voucher(id: String) -> Result<VoucherDetail, ApiError> {
    use mediator_core::audit::NewAuditEntry;
    let ctx = super::context()?;
    let who =
        super::access::require(&ctx, mediator_core::Role::Operator, "dlq.redrive", &id).await?;
    let out = ssr::redrive(&ctx, &id).await;
    ctx.audit
        .log(
            NewAuditEntry::new(&who, "dlq.redrive")
                .target(id)
                .result(&out),
        )
        .await;
    out
}

#[cfg(feature = "ssr")]
pub use ssr::{detail, dlq, find, submit};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use mediator_core::submit::FlowError;
    use mediator_core::{VoucherRecord, VoucherRef};
    use serde_json::{json, Value};

    use super::{
        DlqPage, LifecycleStep, SearchPage, Submitted, VoucherDetail, VoucherForm, VoucherView,
    };
    use crate::api::replays::recovery_error;
    use crate::api::ssr::{rfc3339, unavailable};
    use crate::api::{ApiError, ConsoleContext, PAGE_SIZE};

    fn view(v: &VoucherRecord) -> VoucherView {
        VoucherView {
            loyalty_request_id: v.keys.loyalty_request_id.clone(),
            part: v.part.clone(),
            status: v.status.as_str().into(),
            loyalty_reference: v.keys.loyalty_reference.clone(),
            merchant_reference: v.keys.merchant_reference.clone(),
            loyalty_order_reference: v.keys.loyalty_order_reference.clone(),
            attempts: v.attempts,
            received_at: rfc3339(v.received_at),
            updated_at: rfc3339(v.updated_at),
            last_error: v.last_error.clone(),
        }
    }

    /// The JSON body the API takes, from the form; the payload text must be
    /// a JSON object (error naming `payload`).
    pub fn form_body(form: &VoucherForm) -> Result<Value, ApiError> {
        let payload: Value = if form.payload.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&form.payload).map_err(|e| ApiError::Invalid {
                field: "payload".into(),
                reason: format!("must be a JSON object ({e})"),
            })?
        };
        if !payload.is_object() {
            return Err(ApiError::Invalid {
                field: "payload".into(),
                reason: "must be a JSON object".into(),
            });
        }
        let text = |s: &str| {
            let s = s.trim();
            if s.is_empty() {
                Value::Null
            } else {
                json!(s)
            }
        };
        Ok(json!({
            "part": text(&form.part),
            "loyalty_request_id": text(&form.loyalty_request_id),
            "loyalty_reference": text(&form.loyalty_reference),
            "merchant_reference": text(&form.merchant_reference),
            "loyalty_order_reference": text(&form.loyalty_order_reference),
            "payload": payload,
        }))
    }

    /// Submits a voucher through the same flow as `POST /api/v1/vouchers`.
    pub async fn submit(ctx: &ConsoleContext, form: &VoucherForm) -> Result<Submitted, ApiError> {
        let body = form_body(form)?;
        let accepted = ctx.flow.accept_json(&body).await.map_err(|e| match e {
            FlowError::Invalid(v) => ApiError::Invalid {
                field: v.field,
                reason: v.reason,
            },
            FlowError::Store(s) => unavailable(s),
        })?;
        Ok(Submitted {
            voucher: view(&accepted.voucher),
            duplicate: accepted.duplicate,
        })
    }

    /// A page of the vouchers whose `loyalty_request_id`,
    /// `loyalty_reference`, `merchant_reference` or `loyalty_order_reference`
    /// is `reference` (exactly), newest first.
    pub async fn find(
        ctx: &ConsoleContext,
        reference: &str,
        next_token: Option<&str>,
    ) -> Result<SearchPage, ApiError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ApiError::Invalid {
                field: "reference".into(),
                reason: "is required".into(),
            });
        }
        let after = parse_token(next_token)?;
        let page = ctx
            .flow
            .cache()
            .find(VoucherRef::Any, reference, after, PAGE_SIZE + 1)
            .await
            .map_err(unavailable)?;
        let more = page.len() > PAGE_SIZE;
        let items: Vec<&VoucherRecord> = page.iter().take(PAGE_SIZE).collect();
        let next_token = match (more, items.last()) {
            (true, Some(last)) => Some(format!(
                "{}.{}",
                last.received_at.timestamp_millis(),
                last.keys.loyalty_request_id
            )),
            _ => None,
        };
        Ok(SearchPage {
            vouchers: items.into_iter().map(view).collect(),
            next_token,
        })
    }

    /// `ms.id` page tokens this console hands out; the error names `next_token`.
    fn parse_token(next_token: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
        next_token
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.split_once('.')
                    .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                    .ok_or_else(|| ApiError::Invalid {
                        field: "next_token".into(),
                        reason: "is not a token this console returned".into(),
                    })
            })
            .transpose()
    }

    /// A voucher and its lifecycle.
    pub async fn detail(ctx: &ConsoleContext, id: &str) -> Result<VoucherDetail, ApiError> {
        let cache = ctx.flow.cache();
        let v = cache
            .get(id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::NotFound(format!("voucher {id:?} not found")))?;
        let lifecycle = cache
            .lifecycle(id)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|e| LifecycleStep {
                status: e.status,
                at: rfc3339(e.at),
                detail: e.detail,
            })
            .collect();
        Ok(VoucherDetail {
            voucher: view(&v),
            lifecycle,
        })
    }

    /// A page of the dead-letter queue (`next_token` from the previous page).
    pub async fn dlq(ctx: &ConsoleContext, next_token: Option<&str>) -> Result<DlqPage, ApiError> {
        let after = parse_token(next_token)?;
        let page = ctx
            .flow
            .cache()
            .dead_lettered(after, PAGE_SIZE + 1)
            .await
            .map_err(unavailable)?;
        let more = page.len() > PAGE_SIZE;
        let items: Vec<&VoucherRecord> = page.iter().take(PAGE_SIZE).collect();
        let next_token = match (more, items.last()) {
            (true, Some(last)) => Some(format!(
                "{}.{}",
                last.updated_at.timestamp_millis(),
                last.keys.loyalty_request_id
            )),
            _ => None,
        };
        Ok(DlqPage {
            vouchers: items.into_iter().map(view).collect(),
            next_token,
        })
    }

    /// Redrives a dead-lettered voucher and returns it with its lifecycle.
    pub async fn redrive(ctx: &ConsoleContext, id: &str) -> Result<VoucherDetail, ApiError> {
        ctx.recovery.redrive(id).await.map_err(recovery_error)?;
        detail(ctx, id).await
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn form_fields_map_to_the_api_body() {
            let form = VoucherForm {
                part: "voucher".into(),
                loyalty_request_id: " id-1 ".into(),
                loyalty_reference: "".into(),
                merchant_reference: "m".into(),
                loyalty_order_reference: "o".into(),
                payload: "".into(),
            };
            let body = form_body(&form).unwrap();
            assert_eq!(body["loyalty_request_id"], "id-1");
            assert_eq!(body["loyalty_reference"], Value::Null);
            assert_eq!(body["payload"], json!({}));
            let bad = VoucherForm {
                payload: "[1]".into(),
                ..form
            };
            assert!(form_body(&bad).unwrap_err().for_field("payload").is_some());
        }
    }
}
