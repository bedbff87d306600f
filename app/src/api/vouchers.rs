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
    use mediator_core::commands::vouchers::{self, Submission};
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let submission =
        Submission::console(&form.loyalty_request_id, &form.part, ssr::form_body(&form));
    let accepted = vouchers::submit(&ctx.flow, &ctx.audit, &who, submission).await?;
    Ok(ssr::submitted(&accepted))
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
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let d =
        mediator_core::commands::vouchers::redrive(&ctx.flow, &ctx.recovery, &ctx.audit, &who, &id)
            .await?;
    Ok(ssr::detail_view(d))
}

#[cfg(feature = "ssr")]
pub use ssr::{detail, dlq, find, form_body, submitted};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use mediator_core::commands::vouchers::{self, VoucherDetail as Detail};
    use mediator_core::submit::Accepted;
    use mediator_core::{CommandError, VoucherRecord, VoucherRef};
    use serde_json::{json, Value};

    use super::{
        DlqPage, LifecycleStep, SearchPage, Submitted, VoucherDetail, VoucherForm, VoucherView,
    };
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
    pub fn form_body(form: &VoucherForm) -> Result<Value, CommandError> {
        let payload: Value = if form.payload.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&form.payload).map_err(|e| {
                CommandError::invalid("payload", format!("must be a JSON object ({e})"))
            })?
        };
        if !payload.is_object() {
            return Err(CommandError::invalid("payload", "must be a JSON object"));
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

    /// An accepted voucher as the console shows it.
    pub fn submitted(accepted: &Accepted) -> Submitted {
        Submitted {
            voucher: view(&accepted.voucher),
            duplicate: accepted.duplicate,
        }
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
        Ok(detail_view(vouchers::detail(ctx.flow.cache(), id).await?))
    }

    /// A voucher and its lifecycle as the console shows them.
    pub fn detail_view(d: Detail) -> VoucherDetail {
        VoucherDetail {
            voucher: view(&d.voucher),
            lifecycle: d
                .lifecycle
                .into_iter()
                .map(|e| LifecycleStep {
                    status: e.status,
                    at: rfc3339(e.at),
                    detail: e.detail,
                })
                .collect(),
        }
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
            assert!(ApiError::from(form_body(&bad).unwrap_err())
                .for_field("payload")
                .is_some());
        }
    }
}
