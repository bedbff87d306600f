//! The dead-letter queue in bulk: start a redrive of what a filter matches
//! at a rate, follow it live, cancel it.

use leptos::prelude::*;

use super::ApiError;

pub use mediator_wire::{BulkRedrive, BulkRedriveForm, BulkRedriveList};

/// Starts redriving the dead-lettered vouchers the form's filter matches,
/// at its rate; errors name the field.
#[server(client = crate::api::access::CsrfClient)]
pub async fn start_bulk_redrive(form: BulkRedriveForm) -> Result<BulkRedrive, ApiError> {
    use mediator_core::commands::dead_letters::{self, BulkRedriveRequest};
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let body = ssr::form_body(&form);
    let request = BulkRedriveRequest::parse(&body, ctx.flow.parts());
    let b = dead_letters::bulk_redrive(&ctx.recovery, &ctx.audit, &who, &body, request).await?;
    Ok((&b).into())
}

/// The bulk redrives this server runs and ran, newest first.
#[server(client = crate::api::access::CsrfClient)]
pub async fn list_bulk_redrives() -> Result<BulkRedriveList, ApiError> {
    super::access::require_read(mediator_core::Role::Viewer)?;
    let ctx = super::context()?;
    Ok(BulkRedriveList {
        redrives: ctx
            .recovery
            .bulk_redrives()
            .iter()
            .map(Into::into)
            .collect(),
    })
}

/// Cancels a running bulk redrive.
#[server(client = crate::api::access::CsrfClient)]
pub async fn cancel_bulk_redrive(id: String) -> Result<BulkRedrive, ApiError> {
    let ctx = super::context()?;
    let who = super::access::signed_in()?;
    let b = mediator_core::commands::dead_letters::cancel_bulk_redrive(
        &ctx.recovery,
        &ctx.audit,
        &who,
        &id,
    )
    .await?;
    Ok((&b).into())
}

#[cfg(feature = "ssr")]
mod ssr {
    use serde_json::{json, Map, Value};

    use super::BulkRedriveForm;

    /// The JSON API's body from the form: its filter fields (a
    /// `datetime-local` time taken as UTC) and the rate, as typed.
    pub fn form_body(form: &BulkRedriveForm) -> Value {
        let mut o = Map::new();
        for (name, value) in form.filter_fields() {
            o.insert(
                name.into(),
                json!(mediator_wire::bulk_redrives::utc_time(value.trim())),
            );
        }
        o.insert("rate".into(), json!(form.rate.trim()));
        Value::Object(o)
    }
}
