//! Vouchers: submit (with per-field errors), search, the list by part,
//! status, time and attempts, one voucher's lifecycle, the dead-letter
//! queue and redrive.

use leptos::prelude::*;

use super::ApiError;

pub use mediator_wire::{
    DlqPage, DlqVoucher, LifecycleEntry, SubmittedVoucher, Voucher, VoucherDetail, VoucherForm,
    VoucherListQuery, VoucherSearch, VoucherStatus,
};

/// Validates, stores and submits a voucher; errors name the field.
#[server(client = crate::api::access::CsrfClient)]
pub async fn submit_voucher(form: VoucherForm) -> Result<SubmittedVoucher, ApiError> {
    use mediator_core::commands::vouchers::{self, Submission};
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let submission =
        Submission::console(&form.loyalty_request_id, &form.part, ssr::form_body(&form));
    let accepted = vouchers::submit(&ctx.flow, &ctx.audit, &who, submission).await?;
    Ok((&accepted).into())
}

/// Vouchers whose reference (any of the four) is `reference`, newest first;
/// `next_token` continues a previous page.
#[server(client = crate::api::access::CsrfClient)]
pub async fn find_vouchers(
    reference: String,
    next_token: Option<String>,
) -> Result<VoucherSearch, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    ssr::find(&ctx, &reference, next_token.as_deref()).await
}

/// The vouchers `filter` selects (every voucher when `None` or empty),
/// newest received first; `next_token` continues a previous page. A bad
/// filter value is refused naming its parameter. (An `Option`: an empty
/// filter is sent as no field at all, which a plain struct would refuse.)
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_vouchers(
    filter: Option<VoucherListQuery>,
    next_token: Option<String>,
) -> Result<VoucherSearch, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    let filter = filter.unwrap_or_default();
    ssr::list(&ctx, &filter, next_token.as_deref()).await
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
    Ok((&d).into())
}

#[cfg(feature = "ssr")]
pub use ssr::{detail, dlq, find, form_body, list};

#[cfg(feature = "ssr")]
mod ssr {
    //! The plain async functions behind the server functions.

    use mediator_core::commands::vouchers;
    use mediator_core::{CommandError, VoucherRef};
    use serde_json::{json, Value};

    use super::{DlqPage, VoucherDetail, VoucherForm, VoucherListQuery, VoucherSearch};
    use crate::api::ssr::unavailable;
    use crate::api::{ApiError, ConsoleContext, PAGE_SIZE};

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

    /// A page of the vouchers whose `loyalty_request_id`,
    /// `loyalty_reference`, `merchant_reference` or `loyalty_order_reference`
    /// is `reference` (exactly), newest first.
    pub async fn find(
        ctx: &ConsoleContext,
        reference: &str,
        next_token: Option<&str>,
    ) -> Result<VoucherSearch, ApiError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(ApiError::Invalid {
                field: "reference".into(),
                reason: "is required".into(),
            });
        }
        let after = parse_token(next_token)?;
        let mut page = ctx
            .flow
            .cache()
            .find(VoucherRef::Any, reference, after, PAGE_SIZE + 1)
            .await
            .map_err(unavailable)?;
        let more = page.len() > PAGE_SIZE;
        page.truncate(PAGE_SIZE);
        Ok(VoucherSearch::found(&page, more))
    }

    /// A page of the vouchers `filter` selects, newest received first.
    pub async fn list(
        ctx: &ConsoleContext,
        filter: &VoucherListQuery,
        next_token: Option<&str>,
    ) -> Result<VoucherSearch, ApiError> {
        let filter = mediator_core::VoucherFilter::parse(|f| filter.get(f), ctx.flow.parts())
            .map_err(CommandError::from)?;
        let after = parse_token(next_token)?;
        let page = ctx
            .flow
            .cache()
            .list(&filter, after, PAGE_SIZE)
            .await
            .map_err(unavailable)?;
        Ok((&page).into())
    }

    /// `ms.id` page tokens this console hands out; the error names `next_token`.
    fn parse_token(next_token: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
        next_token
            .filter(|t| !t.is_empty())
            .map(|t| {
                mediator_wire::page_token::decode(t).ok_or_else(|| ApiError::Invalid {
                    field: "next_token".into(),
                    reason: "is not a token this console returned".into(),
                })
            })
            .transpose()
    }

    /// A voucher and its lifecycle.
    pub async fn detail(ctx: &ConsoleContext, id: &str) -> Result<VoucherDetail, ApiError> {
        Ok((&vouchers::detail(ctx.flow.cache(), id).await?).into())
    }

    /// A page of the dead-letter queue (`next_token` from the previous page).
    pub async fn dlq(ctx: &ConsoleContext, next_token: Option<&str>) -> Result<DlqPage, ApiError> {
        let after = parse_token(next_token)?;
        let mut page = ctx
            .flow
            .cache()
            .dead_lettered(after, PAGE_SIZE + 1)
            .await
            .map_err(unavailable)?;
        let more = page.len() > PAGE_SIZE;
        page.truncate(PAGE_SIZE);
        Ok(DlqPage::dead_lettered(&page, more))
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
